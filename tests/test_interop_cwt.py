"""An independent COSE implementation (python-cwt) agrees with licverify about our documents.

DESIGN §2: a standard envelope means any COSE library can verify a license
given the root public key. cwt parses the COSE_Sign1, checks the Ed25519
signatures and hands back the payload bytes; we compare them with what
licverify decoded from the same bytes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cbor2
import cwt
import pytest
from cwt import COSE, COSEKey
from factory import (
    ISSUING,
    OTHER_ISSUING,
    ROOT,
    T0,
    F,
    UnsafeFactory,
    activated_terms,
    default_terms,
    public,
)

import licverify
from licverify import BadSignatureError, Counter, Limits
from licverify._verify import verify_license_for_import

NOW = datetime.fromtimestamp(T0, timezone.utc)
CWT_KEY = 8  # cnf claim (RFC 8747)
TERMS = -65537


def cose_key(public_key: bytes, *, kid: bytes | None = None) -> COSEKey:
    """An Ed25519 verification key for cwt: kty OKP, crv Ed25519, alg EdDSA.

    cwt picks keys by kid, so the key carries the kid the document names
    (by default the key's own id).
    """
    return COSEKey.new({1: 1, -1: 6, -2: public_key, 3: -8, 2: kid or F.key_id(public_key)})


def cwt_verify_chain(license_doc: bytes, root_public: bytes) -> tuple[dict, dict, bytes, dict]:
    """With cwt only: verify the embedded certificate with the root, then the license with its key.

    Returns (license protected header, license unprotected header, license payload, certificate claims).
    """
    ctx = COSE.new()
    # The certificate travels in the license's unprotected header as kcwt (label 13), whose
    # value IANA registers as COSE_Messages (RFC 9528 §3.5.3.1): the certificate's tagged
    # COSE_Sign1 itself. cwt takes that decoded CBORTag as it is, no re-encoding by us.
    _, unprotected, _ = _headers_unverified(license_doc)
    certificate = unprotected[13]
    assert isinstance(certificate, cbor2.CBORTag) and certificate.tag == 18
    cert_payload = ctx.decode(certificate, cose_key(root_public))
    cert_claims = cbor2.loads(cert_payload)
    issuing_public = cert_claims[CWT_KEY][1][-2]
    protected, unprotected, payload = ctx.decode_with_headers(license_doc, cose_key(issuing_public))
    return protected, unprotected, payload, cert_claims


def _headers_unverified(doc: bytes) -> tuple[dict, dict, bytes]:
    tag = cbor2.loads(doc)
    assert isinstance(tag, cbor2.CBORTag) and tag.tag == 18
    protected, unprotected, payload, _signature = tag.value
    return cbor2.loads(protected), unprotected, payload


@pytest.mark.parametrize(
    "terms",
    [
        pytest.param(default_terms(), id="time-limited"),
        pytest.param(default_terms(type="perpetual", expires=None, grace_seconds=0, issuer=None), id="perpetual"),
        pytest.param(default_terms(
            type="floating", lease_seconds=900, max_version="5.0", limits=Limits(1, 2, 3, 4),
            allowed_users=("alice",), allowed_devices=({"cpu": b"\x01" * 16},), device_match=1,
            activation_required=True, refresh_seconds=86400,
            counters={"renders": Counter(10, 2)}, metadata={"po": "PO-9"}, extensions={"x-a": 1},
        ), id="every-term"),
    ],
)  # fmt: skip
def test_cwt_verifies_factory_license(terms: F.LicenseTerms) -> None:
    factory = UnsafeFactory(products=("acme-cad",))
    doc = factory.license(terms)
    protected, unprotected, payload, cert_claims = cwt_verify_chain(doc, public(ROOT))

    assert protected == {1: -8, 3: F.LICENSE.content_type, 4: F.key_id(public(ISSUING))}
    assert set(unprotected) == {13} and cbor2.dumps(unprotected[13]) == factory.certificate()
    assert F.parse_unverified(doc).certificate == factory.certificate()  # exact bytes, embedded
    assert cert_claims[CWT_KEY][1] == {1: 1, 3: -8, -1: 6, -2: public(ISSUING)}

    fingerprint = terms.allowed_devices[0] if terms.allowed_devices else None
    verified = verify_license_for_import(doc, trusted_roots=factory.roots, product="acme-cad",
                                         now=NOW, fingerprint=fingerprint)  # fmt: skip
    envelope = F.parse_unverified(doc)
    assert payload == envelope.payload  # the same signed bytes
    assert F.decode_license_payload(payload) == verified.terms == terms
    claims = cbor2.loads(payload)
    assert claims[3] == verified.product and claims[6] == int(verified.issued_at.timestamp())
    assert claims[7] == verified.id.encode()

    embedded = F.parse_unverified(doc).certificate
    assert cbor2.loads(F.parse_unverified(embedded).payload) == cert_claims
    assert (
        licverify.verify_certificate(embedded, trusted_roots=factory.roots, now=NOW)
        == verified.certificate
    )
    assert (
        cert_claims[5] == verified.certificate.not_before
        and cert_claims[4] == verified.certificate.not_after
    )
    assert cert_claims[TERMS] == {"v": 2, "products": ["acme-cad"]}


def test_cwt_finds_the_certificate_in_kcwt_as_registered() -> None:
    """Regression (issue 6): header 13 holds the certificate's COSE_Sign1, not a byte string.

    With cwt alone: the value of label 13 is a COSE message (tag 18) that verifies under the
    root key; the key in its cnf claim then verifies the license.
    """
    factory = UnsafeFactory()
    doc = factory.license(activated_terms())
    ctx = COSE.new()
    _, unprotected, _ = _headers_unverified(doc)
    kcwt = unprotected[13]
    assert isinstance(kcwt, cbor2.CBORTag) and kcwt.tag == 18 and len(kcwt.value) == 4
    cert_claims = cbor2.loads(ctx.decode(kcwt, cose_key(public(ROOT))))
    issuing_public = cert_claims[CWT_KEY][1][-2]
    assert issuing_public == public(ISSUING)
    payload = ctx.decode(doc, cose_key(issuing_public))
    assert payload == F.parse_unverified(doc).payload
    with pytest.raises(cwt.VerifyError):
        ctx.decode(kcwt, cose_key(public(OTHER_ISSUING), kid=F.key_id(public(ROOT))))


def test_cwt_signs_the_same_bytes_licverify_accepts() -> None:
    # The other direction: cwt builds and signs the envelope; it is byte-identical to ours.
    factory = UnsafeFactory()
    payload = F.encode_license_payload(default_terms())
    signing_key = COSEKey.new({1: 1, -1: 6, -2: public(ISSUING), -4: bytes(ISSUING), 3: -8})
    ctx = COSE.new(alg_auto_inclusion=False, kid_auto_inclusion=False)
    doc = ctx.encode_and_sign(
        payload, signing_key,
        protected={1: -8, 3: F.LICENSE.content_type, 4: F.key_id(public(ISSUING))},
        unprotected={13: cbor2.loads(factory.certificate())},  # COSE_Messages: the COSE_Sign1
    )  # fmt: skip
    assert doc == factory.license()
    assert (
        licverify.verify_license(
            doc, trusted_roots=factory.roots, product="acme-cad", now=NOW
        ).terms
        == default_terms()
    )


@pytest.mark.parametrize("where", ["payload", "protected", "signature"])
def test_tampered_license_fails_in_cwt_and_licverify(where: str) -> None:
    factory = UnsafeFactory()
    doc = bytearray(factory.license())
    envelope = F.parse_unverified(bytes(doc))
    offset = {
        "payload": bytes(doc).index(envelope.payload) + 20,
        "protected": bytes(doc).index(F.LICENSE.content_type.encode()) + 5,
        "signature": len(doc) - 10,
    }[where]
    doc[offset] ^= 0x01
    tampered = bytes(doc)
    with pytest.raises(cwt.VerifyError):
        COSE.new().decode(tampered, cose_key(public(ISSUING)))
    with pytest.raises(licverify.LicenseError):
        licverify.verify_license(tampered, trusted_roots=factory.roots, product="acme-cad", now=NOW)


def test_license_signed_by_other_key_fails_in_cwt_and_licverify() -> None:
    factory = UnsafeFactory()
    forged = factory.license(sign_with=OTHER_ISSUING)
    with pytest.raises(cwt.VerifyError):
        COSE.new().decode(forged, cose_key(public(ISSUING)))
    with pytest.raises(BadSignatureError):
        licverify.verify_license(forged, trusted_roots=factory.roots, product="acme-cad", now=NOW)


def test_certificate_fails_in_cwt_with_wrong_root() -> None:
    factory = UnsafeFactory()
    assert COSE.new().decode(
        factory.certificate(), cose_key(public(ROOT))
    ) == F.encode_certificate_payload(factory.certificate_info)
    impostor = cose_key(public(OTHER_ISSUING), kid=F.key_id(public(ROOT)))
    with pytest.raises(cwt.VerifyError):
        COSE.new().decode(factory.certificate(), impostor)


# --- the real issuer path ------------------------------------------------------------------------


def test_cwt_verifies_license_issued_by_licsign(tmp_path, unsafe_fast_kdf) -> None:  # type: ignore[no-untyped-def]
    import licsign
    from licsign import IssueRequest, init_workspace, issue_license

    passphrase = b"correct horse battery staple"
    ws = init_workspace(
        str(tmp_path / "ws"), passphrase, now=NOW, vendor="Acme Inc.", kdf=unsafe_fast_kdf
    )
    try:
        ws.ledger.add_product(T0, "acme-cad", "Acme CAD", ["export", "render"])
        ws.ledger.add_customer(T0, "globex", "Globex Corp.", "it@globex.example")
        issued = issue_license(
            ws,
            IssueRequest(
                "acme-cad",
                "globex",
                "subscription",
                duration=timedelta(days=30),
                grace=timedelta(days=7),
                features={"export": None, "render": 4},
                metadata={"po": "PO-77"},
            ),
            lambda: passphrase,
            now=NOW + timedelta(minutes=5),
        )
        # Export the trust root the way `licsign key export-public` does, and load it back.
        pem = F.public_key_pem(ws.root_public_key()).encode()
        (root_public,) = licverify.load_public_keys(pem)
        assert root_public == ws.root_public_key()
        assert isinstance(issued, licsign.IssuedLicense)
    finally:
        ws.close()

    protected, _unprotected, payload, cert_claims = cwt_verify_chain(issued.document, root_public)
    assert protected[1] == -8 and protected[3] == F.LICENSE.content_type
    assert protected[4] == F.key_id(cert_claims[CWT_KEY][1][-2])

    verified = {}
    for form in (issued.document, issued.armored):
        verified[form] = licverify.verify_license(form, trusted_roots=[root_public], product="acme-cad",
                                                  now=NOW + timedelta(days=1))  # fmt: skip
    got = verified[issued.document]
    assert got == verified[issued.armored]
    assert payload == F.parse_unverified(issued.document).payload
    assert F.decode_license_payload(payload) == got.terms
    assert got.id == issued.id and got.issuer == "Acme Inc." and got.type == "subscription"
    assert dict(got.features) == {"export": None, "render": 4}
    assert got.expires == NOW + timedelta(minutes=5, days=30)
    assert got.certificate.public_key == cert_claims[CWT_KEY][1][-2]
    assert got.certificate.root_key_id == F.key_id(root_public)

    tampered = bytearray(issued.document)
    tampered[tampered.index(b"PO-77")] ^= 0x20
    with pytest.raises(cwt.VerifyError):
        COSE.new().decode(bytes(tampered), cose_key(got.certificate.public_key))
    with pytest.raises(BadSignatureError):
        licverify.verify_license(
            bytes(tampered), trusted_roots=[root_public], product="acme-cad", now=NOW
        )
