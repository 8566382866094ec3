"""python-cwt verifies our activation documents (DESIGN §2: any COSE library can).

The response is checked the way a third party would: the issuing-key
certificate travels in the response's unprotected header (kcwt, label 13);
cwt verifies it with the root public key, the issuing public key is read out
of the certificate's cnf claim, and cwt verifies the response with it.
Requests and receipts are self-signed: cwt verifies them with the device
public key their payload carries. In each case the payload cwt hands back is
the payload licverify decoded.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import cbor2
import cwt
import pytest
from cwt import COSE, COSEKey
from cwt.cose_key_interface import COSEKeyInterface
from factory import T0
from harness import NOW, PRODUCT, Vendor

import licverify
from licverify import LicenseError
from licverify import format as F

CNF, EXP, IAT, CTI, TERMS = 8, 4, 6, 7, -65537
FINGERPRINT = licverify.machine_fingerprint(PRODUCT, machine_id="interop-machine")


def cose_key(public_key: bytes, kid: bytes | None = None) -> COSEKeyInterface:
    """An Ed25519 verification key for cwt (kty OKP, crv Ed25519, alg EdDSA) with its kid."""
    return COSEKey.new({1: 1, -1: 6, -2: public_key, 3: -8, 2: kid or F.key_id(public_key)})


def unverified_parts(doc: bytes) -> tuple[dict[int, Any], dict[int, Any], bytes]:
    tag = cbor2.loads(doc)
    assert isinstance(tag, cbor2.CBORTag) and tag.tag == 18
    protected, unprotected, payload, _signature = tag.value
    return cbor2.loads(protected), unprotected, payload


class Documents:
    """A real exchange: license, request, response, receipt (binary) and the root key."""

    def __init__(self, vendor: Vendor) -> None:
        self.license = vendor.issue("floating", lease=timedelta(hours=2), max_users=2, when=NOW)
        self.root = vendor.roots[0]
        machine = vendor.machine("interop", fingerprint=FINGERPRINT)
        machine.import_license(self.license, NOW)
        code = vendor.assign(self.license, "alice", when=NOW)  # a user-based license: a code
        request = machine.request(NOW, user="alice", label="interop host", code=code)
        granted = vendor.activate(request, NOW + timedelta(seconds=5))
        machine.install(granted.response, NOW + timedelta(seconds=6))
        receipt = machine.deactivate(NOW + timedelta(seconds=7))
        self.request = F.dearmor(request)[0]
        self.response = F.dearmor(granted.response)[0]
        self.receipt = F.dearmor(receipt)[0]
        self.activation_id = granted.activation_id


@pytest.fixture
def docs(vendor: Vendor) -> Documents:
    return Documents(vendor)


def cwt_verify_response(doc: bytes, root_public: bytes) -> tuple[dict[int, Any], bytes, bytes]:
    """With cwt only: certificate with the root, then the response with the certified key.

    Returns (response protected header, response payload, issuing public key).
    """
    ctx = COSE.new()
    _, unprotected, _ = unverified_parts(doc)
    assert isinstance(unprotected[13], cbor2.CBORTag)  # COSE_Messages, as registered
    cert_payload = ctx.decode(unprotected[13], cose_key(root_public))
    issuing_public = cbor2.loads(cert_payload)[CNF][1][-2]
    protected, _unprotected, payload = ctx.decode_with_headers(doc, cose_key(issuing_public))
    return protected, payload, issuing_public


def test_cwt_verifies_a_real_activation_response(docs: Documents) -> None:
    protected, payload, issuing_public = cwt_verify_response(docs.response, docs.root)
    response = licverify.verify_response(docs.response, trusted_roots=[docs.root])

    assert protected == {1: -8, 3: F.ACTIVATION_RESPONSE.content_type, 4: F.key_id(issuing_public)}
    assert payload == F.parse_unverified(docs.response).payload  # the same signed bytes
    assert F.encode_response_payload(response) == payload
    claims = cbor2.loads(payload)
    assert set(claims) == {EXP, IAT, CTI, TERMS}
    assert claims[CTI] == docs.activation_id.encode("ascii") == response.activation_id.encode()
    assert claims[IAT] == response.issued_at == T0 + 5
    assert claims[EXP] == response.lease_expires == T0 + 5 + 2 * 3600
    terms = claims[TERMS]
    assert terms == {
        "v": 2,
        "license": docs.license.id,
        "license_digest": F.license_digest(docs.license.document),
        "nonce": response.nonce,
        "device_key": response.device_key,
        "fingerprint": dict(FINGERPRINT),
        "user": "alice",
    }
    # The response's certificate is the workspace's issuing certificate, the license's too.
    # kcwt holds the certificate's COSE_Sign1 itself (RFC 9528 §3.5.3.1; format §4.3).
    kcwt = unverified_parts(docs.response)[1][13]
    assert isinstance(kcwt, cbor2.CBORTag) and kcwt.tag == 18
    assert F.parse_unverified(docs.response).certificate in docs.response
    assert cbor2.dumps(kcwt) == F.parse_unverified(docs.license.document).certificate
    assert (
        licverify.verify_license(
            docs.license.document,
            trusted_roots=[docs.root],
            product=PRODUCT,
            now=NOW,
            fingerprint=FINGERPRINT,
            activation=docs.response,
            device_key=response.device_key,
        ).certificate.public_key
        == issuing_public
    )


@pytest.mark.parametrize("which", ["request", "receipt"])
def test_cwt_verifies_requests_and_receipts_with_their_device_key(
    docs: Documents, which: str
) -> None:
    doc = getattr(docs, which)
    kind = F.ACTIVATION_REQUEST if which == "request" else F.DEACTIVATION_RECEIPT
    protected, unprotected, unverified_payload = unverified_parts(doc)
    device_key = cbor2.loads(unverified_payload)[TERMS]["device_key"]
    got_protected, got_unprotected, payload = COSE.new().decode_with_headers(
        doc, cose_key(device_key)
    )

    assert got_protected == protected == {1: -8, 3: kind.content_type, 4: F.key_id(device_key)}
    assert got_unprotected == unprotected == {}
    assert payload == F.parse_unverified(doc).payload
    claims = cbor2.loads(payload)
    if which == "request":
        request = licverify.verify_request(doc)
        assert request.device_key == device_key
        assert claims == {
            IAT: request.created_at,
            CTI: request.nonce,
            TERMS: {
                "v": 2,
                "license": request.license_id,
                "license_digest": request.license_digest,
                "product": PRODUCT,
                "device_key": device_key,
                "fingerprint": dict(request.fingerprint),
                "label": "interop host",
                "user": "alice",
                "code": request.code,
            },
        }
        response = licverify.verify_response(docs.response, trusted_roots=[docs.root])
        assert response.nonce == request.nonce and response.device_key == device_key
    else:
        receipt = licverify.verify_receipt(doc)
        assert receipt.device_key == device_key and receipt.activation_id == docs.activation_id
        assert claims == {
            IAT: receipt.created_at,
            CTI: receipt.nonce,
            TERMS: {
                "v": 2,
                "license": receipt.license_id,
                "license_digest": receipt.license_digest,
                "activation": docs.activation_id,
                "device_key": device_key,
            },
        }
        assert receipt.created_at == T0 + 7


@pytest.mark.parametrize("where", ["payload", "protected", "signature", "certificate"])
def test_tampered_response_fails_in_cwt_and_licverify(docs: Documents, where: str) -> None:
    doc = bytearray(docs.response)
    certificate = F.parse_unverified(docs.response).certificate
    assert certificate is not None
    offset = {
        "payload": docs.response.index(docs.activation_id.encode()) + 3,
        "protected": docs.response.index(F.ACTIVATION_RESPONSE.content_type.encode()) + 5,
        "signature": len(doc) - 10,
        "certificate": docs.response.index(certificate) + len(certificate) - 10,
    }[where]
    doc[offset] ^= 0x01
    tampered = bytes(doc)
    _, _, issuing_public = cwt_verify_response(docs.response, docs.root)
    with pytest.raises(cwt.VerifyError):
        if where == "certificate":  # the third party's first step is the certificate
            COSE.new().decode(unverified_parts(tampered)[1][13], cose_key(docs.root))
        else:
            COSE.new().decode(tampered, cose_key(issuing_public))
    with pytest.raises(LicenseError):
        licverify.verify_response(tampered, trusted_roots=[docs.root])


def test_edited_request_fails_in_cwt_and_licverify(docs: Documents) -> None:
    doc = bytearray(docs.request)
    doc[docs.request.index(b"interop host") + 2] ^= 0x01
    device_key = cbor2.loads(unverified_parts(docs.request)[2])[TERMS]["device_key"]
    with pytest.raises(cwt.VerifyError):
        COSE.new().decode(bytes(doc), cose_key(device_key))
    with pytest.raises(licverify.BadSignatureError):
        licverify.verify_request(bytes(doc))


def test_response_under_another_root_fails_in_cwt(docs: Documents) -> None:
    from factory import OTHER_ROOT, public

    _, unprotected, _ = unverified_parts(docs.response)
    impostor = cose_key(public(OTHER_ROOT), kid=F.key_id(docs.root))
    with pytest.raises(cwt.VerifyError):
        COSE.new().decode(unprotected[13], impostor)
    with pytest.raises(licverify.UntrustedKeyError):
        licverify.verify_response(docs.response, trusted_roots=[public(OTHER_ROOT)])
