"""Mutate and re-sign: one defect per case, each refused with a specific error (STYLE §12).

Every document here carries a *valid* signature by the key the verifier
expects (unless the defect is the key), so each case proves that the
verifier refuses the defect itself, not a broken signature.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import cbor2
import pytest
from factory import (
    ISSUING,
    OTHER_ISSUING,
    OTHER_ROOT,
    ROOT,
    T0,
    F,
    UnsafeFactory,
    default_terms,
    public,
    sign1_raw,
    signer,
)
from nacl.bindings import crypto_core_ed25519_is_valid_point, crypto_sign_open
from nacl.exceptions import BadSignatureError as NaclBadSignatureError

import licverify
from licverify import (
    BadSignatureError,
    LicenseError,
    MalformedError,
    NotActivatedError,
    UnsupportedError,
    UntrustedKeyError,
    WrongKindError,
)
from licverify._keys import _SMALL_ORDER, check_public_key
from licverify._license import MAX_TIMESTAMP, LicenseTerms, check_consistency
from licverify._verify import verify_license_for_import

DAY = 86400
PRODUCT = "acme-cad"
FACTORY = UnsafeFactory()
NOW = datetime.fromtimestamp(T0, timezone.utc)
KID_ISSUING = F.key_id(public(ISSUING))
KID_ROOT = F.key_id(public(ROOT))
LICENSE_CT = F.LICENSE.content_type
CERT = FACTORY.certificate()
CERT_PAYLOAD = F.encode_certificate_payload(FACTORY.certificate_info)
PAYLOAD = F.encode_license_payload(default_terms())
BASE = cbor2.loads(PAYLOAD)
TERMS = -65537
DROP = object()
KIND = {k.name: k for k in F.KINDS}


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    size = next(s for s in (1, 2, 4, 8) if n < 1 << (8 * s))
    return bytes([major << 5 | {1: 24, 2: 25, 4: 26, 8: 27}[size]]) + n.to_bytes(size, "big")


def cbor(value: Any) -> bytes:
    """Deterministic CBOR (RFC 8949 §4.2.1, keys in bytewise order), written independently of cbor2.

    Floats (only used to build defective payloads) are delegated to cbor2.
    """
    if value is None or value is False or value is True:
        return {None: b"\xf6", False: b"\xf4", True: b"\xf5"}[value]
    if type(value) is int:
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if type(value) is bytes:
        return _head(2, len(value)) + value
    if type(value) is str:
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if type(value) in (list, tuple):
        return _head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        pairs = sorted((cbor(k), cbor(v)) for k, v in value.items())
        return _head(5, len(pairs)) + b"".join(k + v for k, v in pairs)
    return cbor2.dumps(value, canonical=True)


def verify(doc: bytes) -> licverify.License:
    return licverify.verify_license(doc, trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)


def verify_cert(doc: bytes) -> licverify.IssuingCertificate:
    return licverify.verify_certificate(doc, trusted_roots=FACTORY.roots, now=NOW)


def assert_refused(doc: bytes, expected: type[LicenseError], check: Any = verify) -> LicenseError:
    """``check(doc)`` raises exactly ``expected`` (not a subclass, not InternalError)."""
    with pytest.raises(LicenseError) as info:
        check(doc)
    assert type(info.value) is expected, f"{type(info.value).__name__}: {info.value}"
    assert info.value.code == expected.code
    return info.value


# --- envelope shape (hand-assembled with sign1_raw) ----------------------------------------------


def protected(**fields: Any) -> bytes:
    """Canonical protected header; keyword ``alg``/``ct``/``kid`` replace or (DROP) remove a field."""
    header: dict[Any, Any] = {1: -8, 3: LICENSE_CT, 4: KID_ISSUING}
    for name, label in (("alg", 1), ("ct", 3), ("kid", 4)):
        if name in fields:
            value = fields.pop(name)
            if value is DROP:
                del header[label]
            else:
                header[label] = value
    header.update(fields.pop("extra", {}))
    assert not fields
    return cbor(header)


#: kcwt (label 13) holding the certificate's COSE_Sign1 itself, as RFC 9528 registers it.
WITH_CERT = b"\xa1\x0d" + CERT


def raw(
    prot: bytes | None = None,
    unprot: bytes = WITH_CERT,
    payload: bytes = PAYLOAD,
    key: Any = ISSUING,
) -> bytes:
    return sign1_raw(protected() if prot is None else prot, unprot, payload, key)


def assemble(*parts: bytes, tag: bytes = b"\xd2\x84") -> bytes:
    """A COSE_Sign1 from already-encoded parts, unsigned (for signature-shape defects)."""
    return tag + b"".join(parts)


SIGNATURE = FACTORY.license()[-64:]


def test_hand_assembled_document_equals_the_factory_one() -> None:
    # The raw builders differ from a valid document only by the defect each case injects.
    assert cbor(BASE) == PAYLOAD == F.encode_canonical(BASE)
    assert cbor(cbor2.loads(CERT_PAYLOAD)) == CERT_PAYLOAD
    assert raw() == FACTORY.license()
    assert (
        assemble(cbor(protected()), WITH_CERT, cbor(PAYLOAD), cbor(SIGNATURE)) == FACTORY.license()
    )
    assert verify(raw()).id == "L-TEST-0000-0001"


SHAPE_CASES = [
    # algorithm
    pytest.param(raw(protected(alg=-7)), UnsupportedError, id="alg-ES256(-7)"),
    pytest.param(raw(protected(alg=-19)), UnsupportedError, id="alg-Ed25519(-19)"),
    pytest.param(raw(protected(alg=-37)), UnsupportedError, id="alg-PS256(-37)"),
    pytest.param(raw(protected(alg=0)), UnsupportedError, id="alg-0"),
    pytest.param(raw(protected(alg=8)), UnsupportedError, id="alg-positive-8"),
    pytest.param(raw(protected(alg="EdDSA")), MalformedError, id="alg-as-text"),
    pytest.param(raw(protected(alg=DROP)), MalformedError, id="alg-missing"),
    pytest.param(raw(b"\xa3\x01\x38\x07\x03" + cbor(LICENSE_CT) + b"\x04" + cbor(KID_ISSUING)), MalformedError, id="alg-non-minimal"),
    # critical headers and unknown parameters
    pytest.param(raw(protected(extra={2: [1]})), UnsupportedError, id="crit-present"),
    pytest.param(raw(protected(extra={2: []})), UnsupportedError, id="crit-empty-list"),
    pytest.param(raw(protected(extra={5: b"\x00" * 12})), MalformedError, id="protected-iv"),
    pytest.param(raw(protected(extra={13: CERT})), MalformedError, id="certificate-in-protected"),
    pytest.param(raw(protected(extra={33: b"\x00"})), MalformedError, id="protected-x5chain"),
    pytest.param(raw(protected(extra={-1: 1})), MalformedError, id="protected-negative-label"),
    pytest.param(raw(protected(extra={"alg": -8})), MalformedError, id="protected-text-label"),
    # content type / kind
    pytest.param(raw(protected(ct="application/cbor")), UnsupportedError, id="content-type-unknown"),
    pytest.param(raw(protected(ct=LICENSE_CT.replace("+cbor", "+json"))), UnsupportedError, id="content-type-json"),
    pytest.param(raw(protected(ct=LICENSE_CT.upper())), UnsupportedError, id="content-type-uppercase"),
    pytest.param(raw(protected(ct="")), UnsupportedError, id="content-type-empty"),
    pytest.param(raw(protected(ct=61)), MalformedError, id="content-type-as-integer"),
    pytest.param(raw(protected(ct=DROP)), MalformedError, id="content-type-missing"),
    pytest.param(raw(b"\xa3\x01\x27\x03\x62\xff\xfe\x04" + cbor(KID_ISSUING)), MalformedError, id="content-type-not-utf8"),
    pytest.param(raw(protected(ct="application/vnd.licsign.activation-response+cbor")), WrongKindError, id="activation-response-passed-as-license"),
    # key id
    pytest.param(raw(protected(kid=KID_ISSUING[:15])), MalformedError, id="kid-15-bytes"),
    pytest.param(raw(protected(kid=KID_ISSUING + b"\x00")), MalformedError, id="kid-17-bytes"),
    pytest.param(raw(protected(kid=public(ISSUING))), MalformedError, id="kid-32-bytes-full-key"),
    pytest.param(raw(protected(kid=b"")), MalformedError, id="kid-empty"),
    pytest.param(raw(protected(kid=KID_ISSUING.hex())), MalformedError, id="kid-as-text"),
    pytest.param(raw(protected(kid=DROP)), MalformedError, id="kid-missing"),
    # protected header encoding
    pytest.param(raw(b"\xa3\x03" + cbor(LICENSE_CT) + b"\x01\x27\x04" + cbor(KID_ISSUING)), MalformedError, id="protected-unsorted"),
    pytest.param(raw(b"\xa4\x01\x27\x01\x27\x03" + cbor(LICENSE_CT) + b"\x04" + cbor(KID_ISSUING)), MalformedError, id="protected-duplicate-alg"),
    pytest.param(raw(b"\xb8\x03" + protected()[1:]), MalformedError, id="protected-non-minimal-map-head"),
    pytest.param(raw(b"\xbf" + protected()[1:] + b"\xff"), MalformedError, id="protected-indefinite-map"),
    pytest.param(raw(protected() + b"\x00"), MalformedError, id="protected-trailing-byte"),
    pytest.param(raw(b""), MalformedError, id="protected-empty-bstr"),
    pytest.param(raw(b"\xa0"), MalformedError, id="protected-empty-map"),
    pytest.param(raw(cbor([1, -8])), MalformedError, id="protected-array"),
    # unprotected header
    pytest.param(raw(unprot=b"\xa2\x04" + cbor(KID_ISSUING) + b"\x0d" + CERT), MalformedError, id="unprotected-extra-kid"),
    pytest.param(raw(unprot=b"\xa1\x04" + cbor(KID_ISSUING)), MalformedError, id="unprotected-other-label-kid"),
    pytest.param(raw(unprot=b"\xa1\x01\x27"), MalformedError, id="unprotected-alg"),
    pytest.param(raw(unprot=b"\xa1\x18\x21" + CERT), MalformedError, id="unprotected-x5chain-label"),
    pytest.param(raw(unprot=b"\xa1\x0d\x81" + CERT), MalformedError, id="unprotected-certificate-in-array"),
    pytest.param(raw(unprot=b"\xa1\x18\x0d" + CERT), MalformedError, id="unprotected-label-non-minimal"),
    pytest.param(raw(unprot=b"\xbf\x0d" + CERT + b"\xff"), MalformedError, id="unprotected-indefinite"),
    # the certificate embedded in kcwt (format §4.3): its COSE_Sign1 itself, walked strictly
    pytest.param(raw(unprot=b"\xa1\x0d" + cbor(CERT)), UnsupportedError, id="kcwt-wrapped-in-bstr-format-v1"),
    pytest.param(raw(unprot=b"\xa1\x0d" + CERT[1:]), MalformedError, id="kcwt-untagged"),
    pytest.param(raw(unprot=b"\xa1\x0d\xd8\x12" + CERT[1:]), MalformedError, id="kcwt-tag-18-non-minimal"),
    pytest.param(raw(unprot=b"\xa1\x0d\xd1" + CERT[1:]), MalformedError, id="kcwt-tag-17"),
    pytest.param(raw(unprot=b"\xa1\x0d\xd2\x83" + CERT[2:]), MalformedError, id="kcwt-array-of-3"),
    pytest.param(raw(unprot=b"\xa1\x0d\xd2\x9f" + CERT[2:] + b"\xff"), MalformedError, id="kcwt-indefinite-array"),
    pytest.param(raw(unprot=b"\xa1\x0d" + CERT[:-66] + b"\x58\x3f" + CERT[-63:]), MalformedError, id="kcwt-signature-63-bytes"),
    pytest.param(raw(unprot=b"\xa1\x0d" + CERT[:-66] + b"\x58\x41" + CERT[-64:] + b"\x00"), MalformedError, id="kcwt-signature-65-bytes"),
    pytest.param(raw(unprot=b"\xa1\x0d" + CERT[:-1]), MalformedError, id="kcwt-truncated"),
    pytest.param(raw(unprot=b"\xa1\x0d\xf6"), MalformedError, id="kcwt-null"),
    pytest.param(raw(unprot=b"\xa1\x0d\xa0"), MalformedError, id="kcwt-empty-map"),
    pytest.param(raw(unprot=b"\x40"), MalformedError, id="unprotected-not-a-map"),
    pytest.param(raw(unprot=b"\xa0"), UntrustedKeyError, id="license-without-certificate"),
    # payload and signature items
    pytest.param(assemble(cbor(protected()), WITH_CERT, b"\xf6", cbor(SIGNATURE)), MalformedError, id="payload-detached-nil"),
    pytest.param(assemble(cbor(protected()), WITH_CERT, cbor("text"), cbor(SIGNATURE)), MalformedError, id="payload-text"),
    pytest.param(assemble(cbor(protected()), WITH_CERT, cbor(PAYLOAD), cbor(SIGNATURE[:63])), MalformedError, id="signature-63-bytes"),
    pytest.param(assemble(cbor(protected()), WITH_CERT, cbor(PAYLOAD), cbor(SIGNATURE + b"\x00")), MalformedError, id="signature-65-bytes"),
    pytest.param(assemble(cbor(protected()), WITH_CERT, cbor(PAYLOAD), cbor(b"")), MalformedError, id="signature-empty"),
    pytest.param(assemble(cbor(protected()), WITH_CERT, cbor(PAYLOAD), b"\xf6"), MalformedError, id="signature-nil"),
    pytest.param(assemble(cbor(protected()), WITH_CERT, cbor(PAYLOAD), b"\x58\x40" + SIGNATURE[:0] + b"\x00" * 64), BadSignatureError, id="signature-zeros"),
    # outer structure
    pytest.param(FACTORY.license()[1:], MalformedError, id="untagged"),
    pytest.param(b"\xd8\x12" + FACTORY.license()[1:], MalformedError, id="tag-18-non-minimal"),
    pytest.param(b"\xd8\x62" + FACTORY.license()[1:], MalformedError, id="tag-98-cose-sign"),
    pytest.param(b"\xd1" + FACTORY.license()[1:], MalformedError, id="tag-17-cose-mac0"),
    pytest.param(b"\xd9\xd9\xf7" + FACTORY.license(), MalformedError, id="self-described-cbor-prefix"),
    pytest.param(b"\xd2\x83" + FACTORY.license()[2:], MalformedError, id="array-of-3"),
    pytest.param(b"\xd2\x85" + FACTORY.license()[2:] + b"\xf6", MalformedError, id="array-of-5"),
    pytest.param(b"\xd2\x9f" + FACTORY.license()[2:] + b"\xff", MalformedError, id="indefinite-array"),
    pytest.param(b"\xd2\x84\x5f" + cbor(protected()) + b"\xff" + FACTORY.license()[2 + len(cbor(protected())):], MalformedError, id="protected-indefinite-bstr"),
]  # fmt: skip


@pytest.mark.parametrize("doc, expected", SHAPE_CASES)
def test_shape_defect(doc: bytes, expected: type[LicenseError]) -> None:
    assert_refused(doc, expected)


# --- kinds and trust chain -----------------------------------------------------------------------

CERT_WITH_CERT = F.encode_sign1(F.ISSUING_CERTIFICATE, KID_ROOT, CERT_PAYLOAD, signer(ROOT), CERT)

TRUST_CASES = [
    pytest.param(CERT, WrongKindError, id="certificate-passed-as-license"),
    # A license's unprotected header is not empty, so it cannot even be embedded (format §4.3).
    pytest.param(FACTORY.license(certificate=FACTORY.license()), MalformedError, id="license-embedded-as-certificate"),
    pytest.param(FACTORY.license(certificate=FACTORY.license(certificate=None)), WrongKindError, id="bare-license-embedded-as-certificate"),
    pytest.param(FACTORY.license(certificate=FACTORY.certificate(kind=F.LICENSE)), WrongKindError, id="certificate-with-license-content-type"),
    pytest.param(FACTORY.license(kind=KIND["activation-response"]), WrongKindError, id="activation-response-as-license"),
    pytest.param(FACTORY.license(kind=KIND["revocation-list"]), WrongKindError, id="revocation-list-as-license"),
    pytest.param(FACTORY.license(certificate=None), UntrustedKeyError, id="license-without-certificate"),
    pytest.param(FACTORY.license(certificate=CERT_WITH_CERT), MalformedError, id="certificate-embeds-certificate"),
    pytest.param(FACTORY.license(kid=KID_ROOT, sign_with=ROOT), UntrustedKeyError, id="signed-by-root-directly"),
    pytest.param(FACTORY.license(kid=KID_ROOT, sign_with=ROOT, certificate=None), UntrustedKeyError, id="signed-by-root-without-certificate"),
    pytest.param(FACTORY.license(sign_with=ROOT), BadSignatureError, id="signed-by-root-under-issuing-kid"),
    pytest.param(FACTORY.license(sign_with=OTHER_ISSUING), BadSignatureError, id="signed-by-other-issuing-key"),
    pytest.param(UnsafeFactory(root=OTHER_ROOT).license(), UntrustedKeyError, id="certificate-from-untrusted-root"),
    pytest.param(FACTORY.license(certificate=FACTORY.certificate(sign_with=OTHER_ROOT)), BadSignatureError, id="certificate-forged-under-trusted-root-kid"),
    pytest.param(FACTORY.license(certificate=FACTORY.certificate(kid=KID_ISSUING, sign_with=ISSUING)), UntrustedKeyError, id="certificate-self-signed-by-issuing-key"),
    pytest.param(UnsafeFactory(issuing=OTHER_ISSUING).license(sign_with=ISSUING, kid=KID_ISSUING), UntrustedKeyError, id="certificate-names-another-key"),
    pytest.param(FACTORY.license()[:-64] + CERT[-64:], BadSignatureError, id="license-with-certificate-signature"),
    pytest.param(FACTORY.license(certificate=CERT[:-64] + FACTORY.license()[-64:]), BadSignatureError, id="certificate-with-license-signature"),
]  # fmt: skip


@pytest.mark.parametrize("doc, expected", TRUST_CASES)
def test_kind_and_trust_defect(doc: bytes, expected: type[LicenseError]) -> None:
    assert_refused(doc, expected)


def test_certificate_defects_through_verify_certificate() -> None:
    assert_refused(FACTORY.license(), WrongKindError, verify_cert)
    assert_refused(CERT_WITH_CERT, MalformedError, verify_cert)
    assert_refused(FACTORY.certificate(sign_with=OTHER_ROOT), BadSignatureError, verify_cert)
    assert_refused(UnsafeFactory(root=OTHER_ROOT).certificate(), UntrustedKeyError, verify_cert)
    assert_refused(CERT + b"\x00", MalformedError, verify_cert)


# --- small-order and non-canonical public keys ---------------------------------------------------

#: The 8 points of small order on edwards25519, canonically encoded (order 1, 2, 4, 4, 8, 8, 8, 8).
SMALL_ORDER_POINTS = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity (0, 1)
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # (0, -1)
    "0000000000000000000000000000000000000000000000000000000000000000",  # (+i, 0)
    "0000000000000000000000000000000000000000000000000000000000000080",  # (-i, 0)
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
]

_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode_point(encoded: bytes) -> tuple[int, int] | None:
    """RFC 8032 §5.1.3 point decoding (independent of libsodium), or None if not a point."""
    value = int.from_bytes(encoded, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else (0, y)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = _D * x1 * x2 * y1 * y2 % _P
    return (
        (x1 * y2 + x2 * y1) * pow(1 + t, _P - 2, _P) % _P,
        (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P,
    )


def test_small_order_points_are_what_they_claim() -> None:
    points = {_decode_point(bytes.fromhex(h)) for h in SMALL_ORDER_POINTS}
    assert None not in points and len(points) == 8
    for point in points:
        p8 = point
        for _ in range(3):
            p8 = _add(p8, p8)
        assert p8 == (0, 1)  # 8·P is the identity


def test_small_order_blocklist_matches_libsodium() -> None:
    for encoded in (bytes.fromhex(h) for h in SMALL_ORDER_POINTS):
        assert encoded in _SMALL_ORDER
        assert crypto_core_ed25519_is_valid_point(encoded) is False
    for encoded in _SMALL_ORDER:
        assert crypto_core_ed25519_is_valid_point(encoded) is False
        with pytest.raises(UntrustedKeyError):
            check_public_key(encoded)
    # Entries beyond the 8 canonical points are x = 0 with the sign bit set (non-canonical).
    extra = _SMALL_ORDER - {bytes.fromhex(h) for h in SMALL_ORDER_POINTS}
    for encoded in extra:
        assert encoded[31] & 0x80 and _decode_point(encoded) is None
    assert crypto_core_ed25519_is_valid_point(public(ISSUING)) is True
    assert check_public_key(public(ISSUING)) == public(ISSUING)


NON_CANONICAL_KEYS = [
    pytest.param(_P.to_bytes(32, "little"), id="y=p"),
    pytest.param((_P + 1).to_bytes(32, "little"), id="y=p+1"),
    pytest.param((_P + 3).to_bytes(32, "little"), id="y=p+3(point-y=3)"),
    pytest.param(((1 << 255) - 1).to_bytes(32, "little"), id="y=2^255-1"),
    pytest.param(((1 << 256) - 1).to_bytes(32, "little"), id="all-ones"),
]


def _certificate_for_key(key: bytes) -> bytes:
    claims = cbor2.loads(CERT_PAYLOAD)
    claims[8][1][-2] = key
    return FACTORY.certificate(payload=cbor(claims))


BAD_KEYS = [
    pytest.param(bytes.fromhex(h), id=f"small-order-{i}") for i, h in enumerate(SMALL_ORDER_POINTS)
]


@pytest.mark.parametrize("key", BAD_KEYS + NON_CANONICAL_KEYS)
def test_unusable_issuing_key_in_certificate(key: bytes) -> None:
    assert crypto_core_ed25519_is_valid_point(key) is False
    cert = _certificate_for_key(key)
    assert_refused(cert, UntrustedKeyError, verify_cert)
    # A license naming that key (with any signature) is refused at the certificate.
    assert_refused(FACTORY.license(certificate=cert, kid=F.key_id(key)), UntrustedKeyError)
    with pytest.raises(ValueError):
        licverify.TrustedRoots([key])


def test_identity_key_forgery_is_refused() -> None:
    # R = identity, S = 0 "verifies" any message under the identity key in lenient libraries.
    identity = bytes.fromhex(SMALL_ORDER_POINTS[0])
    forged_signature = identity + bytes(32)
    with pytest.raises(NaclBadSignatureError):
        crypto_sign_open(forged_signature + b"any message", identity)
    prot = cbor(protected(kid=F.key_id(identity)))
    doc = assemble(
        prot,
        b"\xa1\x0d" + _certificate_for_key(identity),
        cbor(PAYLOAD),
        cbor(forged_signature),
    )
    assert_refused(doc, UntrustedKeyError)


def test_key_off_the_curve_is_refused() -> None:
    off_curve = (7).to_bytes(32, "little")  # y = 7 has no x on edwards25519
    assert _decode_point(off_curve) is None
    cert = _certificate_for_key(off_curve)
    with pytest.raises(LicenseError):
        verify(FACTORY.license(certificate=cert, kid=F.key_id(off_curve)))


# --- payload encoding (canonical CBOR) -----------------------------------------------------------


def with_claims(claims: dict[Any, Any] | None = None, terms: dict[Any, Any] | None = None) -> bytes:
    """The default payload with claims/terms replaced (DROP removes one), canonically encoded."""
    c = copy.deepcopy(BASE)
    for key, value in (claims or {}).items():
        if value is DROP:
            c.pop(key, None)
        else:
            c[key] = value
    for key, value in (terms or {}).items():
        if value is DROP:
            c[TERMS].pop(key, None)
        else:
            c[TERMS][key] = value
    return cbor(c)


def encode_pairs(pairs: list[tuple[Any, bytes]], head: bytes | None = None) -> bytes:
    """A map from (key, already-encoded value) pairs in the given order, with a given head."""
    if head is None:
        head = bytes([0xA0 + len(pairs)]) if len(pairs) < 24 else b"\xb8" + bytes([len(pairs)])
    return head + b"".join(cbor(k) + v for k, v in pairs)


def claims_with(raw_values: dict[Any, bytes], order: list[Any] | None = None, head: bytes | None = None,
                extra: list[tuple[Any, bytes]] = ()) -> bytes:  # fmt: skip
    """The default claims map, with some values given as raw encoded bytes."""
    keys = order if order is not None else list(BASE)
    pairs = [(k, raw_values.get(k, cbor(BASE[k]))) for k in keys] + list(extra)
    return encode_pairs(pairs, head)


def terms_with(raw_values: dict[str, bytes], order: list[str] | None = None, head: bytes | None = None,
               extra: list[tuple[str, bytes]] = ()) -> bytes:  # fmt: skip
    terms = BASE[TERMS]
    keys = order if order is not None else list(terms)
    return encode_pairs([(k, raw_values.get(k, cbor(terms[k]))) for k in keys] + list(extra), head)


IAT_RAW = cbor(BASE[6])
assert PAYLOAD.count(b"\x67version\x01") == 1 and PAYLOAD.count(b"\x6ctime-limited") == 1
assert claims_with({}) == PAYLOAD and claims_with({TERMS: terms_with({})}) == PAYLOAD

ENCODING_CASES = [
    pytest.param(claims_with({}, order=list(reversed(list(BASE)))), id="claims-unsorted"),
    pytest.param(claims_with({}, order=[1, 2, 3, 4, 5, 7, 6, TERMS]), id="claims-two-keys-swapped"),
    pytest.param(claims_with({TERMS: terms_with({}, order=sorted(BASE[TERMS]))}), id="terms-sorted-alphabetically"),
    pytest.param(PAYLOAD.replace(b"\x67version\x01", b"\x67version\x18\x01"), id="non-minimal-int-0x1801"),
    pytest.param(claims_with({6: b"\x1b" + BASE[6].to_bytes(8, "big")}), id="non-minimal-int-8-bytes"),
    pytest.param(PAYLOAD.replace(b"\x6ctime-limited", b"\x78\x0ctime-limited"), id="non-minimal-text-length"),
    pytest.param(b"\xb8\x08" + PAYLOAD[1:], id="non-minimal-map-head"),
    pytest.param(claims_with({}, head=b"\xa9", extra=[(7, cbor(BASE[7]))]), id="duplicate-claim-same-value"),
    pytest.param(claims_with({}, order=[1, 2, 3, 4, 5, 6, 7, 7, TERMS], head=b"\xa9"), id="duplicate-claim-adjacent"),
    pytest.param(claims_with({}, head=b"\xa9", extra=[(6, cbor(BASE[6] + 1))]), id="duplicate-claim-other-value"),
    pytest.param(claims_with({TERMS: terms_with({}, head=bytes([0xA0 + len(BASE[TERMS]) + 1]),
                                                extra=[("v", b"\x01")])}), id="duplicate-term"),
    pytest.param(b"\xbf" + PAYLOAD[1:] + b"\xff", id="indefinite-length-map"),
    pytest.param(claims_with({TERMS: b"\xbf" + cbor(BASE[TERMS])[1:] + b"\xff"}), id="indefinite-length-terms"),
    pytest.param(PAYLOAD.replace(b"\x6ctime-limited", b"\x7f\x64time\x68-limited\xff"), id="indefinite-length-text"),
    pytest.param(claims_with({7: b"\x5f\x48" + BASE[7][:8] + b"\x48" + BASE[7][8:] + b"\xff"}), id="indefinite-length-bytes"),
    pytest.param(PAYLOAD + b"\x00", id="trailing-byte"),
    pytest.param(PAYLOAD + PAYLOAD, id="trailing-second-map"),
    pytest.param(with_claims({6: float(BASE[6])}), id="float-issued-at"),
    pytest.param(claims_with({6: b"\xfb" + __import__("struct").pack(">d", BASE[6])}), id="float64-issued-at"),
    pytest.param(with_claims(terms={"version": 1.0}), id="float-version"),
    pytest.param(with_claims(terms={"grace": 1209600.0}), id="float-grace"),
    pytest.param(with_claims(terms={"limits": {"devices": 3.0}}), id="float-limit"),
    pytest.param(with_claims(terms={"features": {"seats": 5.0}}), id="float-feature-value"),
    pytest.param(claims_with({6: b"\xc1" + IAT_RAW}), id="tag-1-epoch-datetime"),
    pytest.param(claims_with({4: b"\xc0" + cbor("2027-09-21T14:13:20Z")}), id="tag-0-datetime-string"),
    pytest.param(claims_with({6: b"\xc2\x44" + BASE[6].to_bytes(4, "big")}), id="tag-2-bignum-issued-at"),
    pytest.param(PAYLOAD.replace(b"\x67version\x01", b"\x67version\xc2\x41\x01"), id="tag-2-bignum-version"),
    pytest.param(claims_with({TERMS: terms_with({"features": b"\xa2\x65seats\xc3\x41\x04\x66export\xf6"})}), id="tag-3-negative-bignum"),
    pytest.param(claims_with({TERMS: terms_with({"features": b"\xa2\x61a\xd8\x1c\x66shared\x61b\xd8\x1d\x00"})}), id="tag-28-29-shared-reference"),
    pytest.param(claims_with({2: b"\xd8\x1c" + cbor("globex")}), id="tag-28-shareable-alone"),
    pytest.param(claims_with({TERMS: terms_with({"features": b"\xa1\x61a\xd8\x1c\x81\xd8\x1d\x00"})}), id="tag-28-29-cycle"),
    pytest.param(claims_with({7: b"\xd8\x18" + cbor(BASE[7])}), id="tag-24-embedded-cbor"),
    pytest.param(claims_with({2: b"\xd9\x10\x92" + cbor("globex")}), id="tag-4242-unknown"),
    pytest.param(b"\xd9\xd9\xf7" + PAYLOAD, id="tag-55799-self-described"),
    pytest.param(claims_with({4: b"\xd8\x64" + cbor(21082)}), id="tag-100-epoch-days"),
    pytest.param(claims_with({TERMS: terms_with({"features": b"\xa2\x65seats\xf7\x66export\xf6"})}), id="simple-undefined"),
    pytest.param(claims_with({TERMS: terms_with({"features": b"\xa2\x65seats\xf0\x66export\xf6"})}), id="simple-value-16"),
    pytest.param(claims_with({TERMS: terms_with({"features": b"\xa2\x65seats\xf9\x45\x00\x66export\xf6"})}), id="half-float"),
    pytest.param(claims_with({2: b"\x66glob\xffx"}), id="text-not-utf8"),
    pytest.param(with_claims(terms={"metadata": {"deep": [[[[[[[[1]]]]]]]]}}), id="nesting-too-deep"),
    pytest.param(cbor([BASE[k] for k in BASE]), id="payload-is-an-array"),
    pytest.param(b"", id="payload-empty"),
    pytest.param(cbor(PAYLOAD), id="payload-wrapped-in-bstr"),
    pytest.param(PAYLOAD[:-1], id="payload-truncated"),
]  # fmt: skip


@pytest.mark.parametrize("payload", ENCODING_CASES)
def test_payload_not_canonical(payload: bytes) -> None:
    assert_refused(FACTORY.license(payload=payload), MalformedError)


def test_payload_encoding_cases_decode_to_plausible_values() -> None:
    # Guard the guards: the non-canonical forms that cbor2 accepts decode to the *valid* claims,
    # so refusing them is the canonical-encoding check at work, not a type check.
    lenient = [
        PAYLOAD.replace(b"\x67version\x01", b"\x67version\x18\x01"),
        b"\xbf" + PAYLOAD[1:] + b"\xff",
        PAYLOAD + b"\x00",
        claims_with({}, order=list(reversed(list(BASE)))),
        claims_with({}, head=b"\xa9", extra=[(7, cbor(BASE[7]))]),
        claims_with({6: b"\xc2\x44" + BASE[6].to_bytes(4, "big")}),
        claims_with(
            {TERMS: terms_with({"features": b"\xa2\x61a\xd8\x1c\x66shared\x61b\xd8\x1d\x00"})}
        ),
    ]
    for payload in lenient:
        decoded = cbor2.loads(payload)
        assert isinstance(decoded, dict) and decoded[6] == BASE[6]
        with pytest.raises(LicenseError) as info:
            F.decode_license_payload(payload)
        assert type(info.value) is MalformedError


# --- claims and terms the verifier does not know -------------------------------------------------

UNKNOWN_CASES = [
    pytest.param(with_claims({8: {1: {1: 1}}}), UnsupportedError, id="unknown-claim-cnf-8"),
    pytest.param(with_claims({0: 1}), UnsupportedError, id="unknown-claim-0"),
    pytest.param(with_claims({-65538: 1}), UnsupportedError, id="unknown-claim-private"),
    pytest.param(with_claims({"iss": "x"}), UnsupportedError, id="unknown-claim-text-key"),
    pytest.param(with_claims(terms={"seats": 5}), UnsupportedError, id="unknown-critical-term"),
    pytest.param(with_claims(terms={"X-upper": 1}), UnsupportedError, id="unknown-critical-term-X-uppercase"),
    pytest.param(with_claims(terms={"xfoo": 1}), UnsupportedError, id="unknown-critical-term-no-dash"),
    pytest.param(with_claims(terms={"v": 1}), UnsupportedError, id="format-version-1-previous"),
    pytest.param(with_claims(terms={"v": 3}), UnsupportedError, id="format-version-3"),
    pytest.param(with_claims(terms={"v": 0}), UnsupportedError, id="format-version-0"),
    pytest.param(with_claims(terms={"v": -1}), UnsupportedError, id="format-version-negative"),
    pytest.param(with_claims(terms={"v": DROP}), MalformedError, id="format-version-missing"),
    pytest.param(with_claims(terms={"v": "1"}), MalformedError, id="format-version-text"),
    pytest.param(with_claims(terms={"v": True}), MalformedError, id="format-version-true"),
    pytest.param(with_claims(terms={"v": 1.0}), MalformedError, id="format-version-float"),
    pytest.param(with_claims({TERMS: DROP}), MalformedError, id="terms-missing"),
    pytest.param(with_claims({TERMS: [1]}), MalformedError, id="terms-not-a-map"),
    pytest.param(with_claims(terms={1: 2}), MalformedError, id="term-name-not-text"),
    pytest.param(with_claims(terms={"x-list": [1]}), MalformedError, id="extension-list-value"),
    pytest.param(with_claims(terms={"x-map": {"a": 1}}), MalformedError, id="extension-map-value"),
    pytest.param(with_claims(terms={"x-bytes": b"\x00"}), MalformedError, id="extension-bytes-value"),
    pytest.param(with_claims(terms={"gate": {"min_version": "1.0"}}), UnsupportedError, id="unknown-gate"),
    pytest.param(with_claims(terms={"limits": {"seats": 3}}), UnsupportedError, id="unknown-limit"),
]  # fmt: skip


@pytest.mark.parametrize("payload, expected", UNKNOWN_CASES)
def test_unknown_or_unsupported(payload: bytes, expected: type[LicenseError]) -> None:
    assert_refused(FACTORY.license(payload=payload), expected)


def test_x_extensions_are_accepted() -> None:
    payload = with_claims(terms={"x-tenant": "t1", "x-": 1, "x-null": None, "x-flag": False})
    got = verify(FACTORY.license(payload=payload))
    assert dict(got.extensions) == {"x-tenant": "t1", "x-": 1, "x-null": None, "x-flag": False}


# --- consistency (format §7.2) -------------------------------------------------------------------

NO_EXPIRY = {4: DROP}
CONSISTENCY_CASES = [
    pytest.param({}, {"type": "perpetual", "grace": DROP}, "perpetual license cannot expire", id="perpetual-with-expiry"),
    pytest.param(NO_EXPIRY, {"grace": DROP}, "time-limited license needs an expiry", id="time-limited-without-expiry"),
    pytest.param(NO_EXPIRY, {"type": "subscription", "grace": DROP}, "subscription license needs an expiry", id="subscription-without-expiry"),
    pytest.param(NO_EXPIRY, {"type": "trial", "grace": DROP}, "trial license needs an expiry", id="trial-without-expiry"),
    pytest.param({4: T0}, {}, "expiry is not after", id="expiry-equals-not-before"),
    pytest.param({4: T0 - 1}, {}, "expiry is not after", id="expiry-before-not-before"),
    pytest.param({4: T0 + 100, 5: T0 + 100}, {}, "expiry is not after", id="expiry-equals-later-not-before"),
    pytest.param({4: T0, 5: DROP}, {}, "expiry is not after", id="expiry-equals-issued-at"),
    pytest.param(NO_EXPIRY, {"type": "perpetual"}, "grace period needs an expiry", id="grace-without-expiry"),
    pytest.param({4: MAX_TIMESTAMP - 10}, {"grace": 11}, "beyond the year 9999", id="grace-beyond-9999"),
    pytest.param({}, {"type": "floating"}, "lease duration is required", id="floating-without-lease"),
    pytest.param({}, {"lease": 3600}, "lease duration is required", id="lease-on-time-limited"),
    pytest.param(NO_EXPIRY, {"type": "consumption", "grace": DROP}, "consumption license needs at least one counter", id="consumption-without-counters"),
    pytest.param({}, {"devices": [{"a": b"\x01" * 16, "b": b"\x02" * 16}], "device_match": 3}, "more components", id="device-match-above-components"),
    pytest.param({}, {"devices": [{"a": b"\x01" * 16, "b": b"\x02" * 16, "c": b"\x03" * 16}, {"a": b"\x04" * 16}], "device_match": 2}, "more components", id="device-match-above-smallest-device"),
]  # fmt: skip


@pytest.mark.parametrize("claims, terms, message", CONSISTENCY_CASES)
def test_inconsistent_terms(claims: dict[Any, Any], terms: dict[str, Any], message: str) -> None:
    error = assert_refused(FACTORY.license(payload=with_claims(claims, terms)), MalformedError)
    assert message in str(error)


def _terms_object(**overrides: Any) -> LicenseTerms:
    return default_terms(**overrides)


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param(
            {"type": "perpetual", "grace_seconds": 0}, "cannot expire", id="perpetual-with-expiry"
        ),
        pytest.param(
            {"expires": None, "grace_seconds": 0},
            "needs an expiry",
            id="time-limited-without-expiry",
        ),
        pytest.param({"expires": T0}, "not after", id="expiry-equals-start"),
        pytest.param(
            {"type": "perpetual", "expires": None},
            "grace period needs an expiry",
            id="grace-without-expiry",
        ),
        pytest.param(
            {"expires": MAX_TIMESTAMP, "grace_seconds": 1}, "9999", id="grace-beyond-9999"
        ),
        pytest.param({"type": "floating"}, "lease", id="floating-without-lease"),
        pytest.param({"lease_seconds": 60}, "lease", id="lease-on-time-limited"),
        pytest.param(
            {"type": "consumption", "expires": None, "grace_seconds": 0},
            "counter",
            id="consumption-without-counters",
        ),
        pytest.param(
            {"allowed_devices": ({"a": b"\x01" * 16},), "device_match": 2},
            "more components",
            id="device-match-too-high",
        ),
    ],
)
def test_check_consistency_directly(overrides: dict[str, Any], message: str) -> None:
    terms = _terms_object(**overrides)
    with pytest.raises(MalformedError, match=message):
        check_consistency(terms)
    with pytest.raises(MalformedError):
        F.encode_license_payload(terms)  # the issuer cannot produce it either


# --- types and bounds of every term --------------------------------------------------------------

M = MalformedError
TYPE_CASES = [
    # claims
    ({7: DROP}, {}, M, "cti-missing"),
    ({7: "L-TEST-0000-0001"}, {}, M, "cti-text-not-bytes"),
    ({7: b"L-\xff"}, {}, M, "cti-not-ascii"),
    ({7: b""}, {}, M, "cti-empty"),
    ({7: b"L TEST"}, {}, M, "cti-space"),
    ({7: b"-L"}, {}, M, "cti-leading-dash"),
    ({7: b"L" * 65}, {}, M, "cti-65-chars"),
    ({7: b"L-1\n"}, {}, M, "cti-trailing-newline"),
    ({3: "acme-cad\n"}, {}, M, "aud-trailing-newline"),
    ({}, {"gate": {"max_version": "2.4\n"}}, M, "max-version-trailing-newline"),
    ({}, {"gate": {"max_version": "٣.٤"}}, M, "max-version-arabic-indic-digits"),
    ({}, {"gate": {"max_version": "1."}}, M, "max-version-trailing-dot"),
    ({}, {"features": {"exporté": None}}, M, "feature-name-non-ascii"),
    ({1: 5}, {}, M, "iss-integer"),
    ({1: ""}, {}, M, "iss-empty"),
    ({1: "i" * 257}, {}, M, "iss-257-chars"),
    ({2: DROP}, {}, M, "sub-missing"),
    ({2: "glob ex"}, {}, M, "sub-space"),
    ({2: 7}, {}, M, "sub-integer"),
    ({3: DROP}, {}, M, "aud-missing"),
    ({3: "acme/cad"}, {}, M, "aud-slash"),
    ({3: "a" * 65}, {}, M, "aud-65-chars"),
    ({6: DROP}, {}, M, "iat-missing"),
    ({6: -1}, {}, M, "iat-negative"),
    ({6: MAX_TIMESTAMP + 1}, {}, M, "iat-after-9999"),
    ({6: True}, {}, M, "iat-boolean"),
    ({6: "2026-09-21"}, {}, M, "iat-text"),
    ({5: "now"}, {}, M, "nbf-text"),
    ({5: -1}, {}, M, "nbf-negative"),
    ({4: MAX_TIMESTAMP + 1}, {"grace": DROP}, M, "exp-after-9999"),
    ({4: None}, {}, M, "exp-null"),
    # type
    ({}, {"type": DROP}, M, "type-missing"),
    ({}, {"type": "lifetime"}, M, "type-unknown"),
    ({}, {"type": 1}, M, "type-integer"),
    # version
    ({}, {"version": DROP}, M, "version-missing"),
    ({}, {"version": 0}, M, "version-0"),
    ({}, {"version": 2**32}, M, "version-2^32"),
    ({}, {"version": True}, M, "version-boolean"),
    ({}, {"version": "1"}, M, "version-text"),
    # features
    ({}, {"features": ["export"]}, M, "features-list"),
    ({}, {"features": {}}, M, "features-empty"),
    ({}, {"features": {f"f{i}": None for i in range(257)}}, M, "features-257"),
    ({}, {"features": {"bad name": None}}, M, "feature-name-space"),
    ({}, {"features": {"": None}}, M, "feature-name-empty"),
    ({}, {"features": {"f" * 65: None}}, M, "feature-name-65-chars"),
    ({}, {"features": {"-f": None}}, M, "feature-name-leading-dash"),
    ({}, {"features": {1: None}}, M, "feature-name-integer"),
    ({}, {"features": {"f": [1]}}, M, "feature-value-list"),
    ({}, {"features": {"f": {"a": 1}}}, M, "feature-value-map"),
    ({}, {"features": {"f": b"\x00"}}, M, "feature-value-bytes"),
    ({}, {"features": {"f": 2**63}}, M, "feature-value-2^63"),
    ({}, {"features": {"f": -(2**63) - 1}}, M, "feature-value-below-int64"),
    ({}, {"features": {"f": "t" * 257}}, M, "feature-value-257-chars"),
    # gate
    ({}, {"gate": "2.0"}, M, "gate-text"),
    ({}, {"gate": {}}, M, "gate-empty"),
    ({}, {"gate": {"max_version": "1", "maintenance_end": T0, "x": 1}}, M, "gate-3-entries"),
    ({}, {"gate": {"max_version": "2.x"}}, M, "max-version-letters"),
    ({}, {"gate": {"max_version": "1.2.3.4.5"}}, M, "max-version-5-parts"),
    ({}, {"gate": {"max_version": "1234567890"}}, M, "max-version-10-digits"),
    ({}, {"gate": {"max_version": 2}}, M, "max-version-integer"),
    ({}, {"gate": {"max_version": ""}}, M, "max-version-empty"),
    ({}, {"gate": {"maintenance_end": "2027"}}, M, "maintenance-end-text"),
    ({}, {"gate": {"maintenance_end": -1}}, M, "maintenance-end-negative"),
    # limits
    ({}, {"limits": [3]}, M, "limits-list"),
    ({}, {"limits": {}}, M, "limits-empty"),
    (
        {},
        {"limits": {"devices": 1, "users": 1, "devices_per_user": 1, "transfers": 1, "x": 1}},
        M,
        "limits-5-entries",
    ),
    ({}, {"limits": {"devices": -1}}, M, "limit-negative"),
    ({}, {"limits": {"devices": 2**32}}, M, "limit-2^32"),
    ({}, {"limits": {"users": True}}, M, "limit-boolean"),
    ({}, {"limits": {"transfers": "3"}}, M, "limit-text"),
    # users
    ({}, {"users": "alice"}, M, "users-text"),
    ({}, {"users": []}, M, "users-empty"),
    ({}, {"users": ["alice", "alice"]}, M, "users-repeat"),
    ({}, {"users": [5]}, M, "user-integer"),
    ({}, {"users": [""]}, M, "user-empty"),
    ({}, {"users": ["u" * 257]}, M, "user-257-chars"),
    ({}, {"users": [f"u{i}" for i in range(1001)]}, M, "users-1001"),
    # devices
    ({}, {"devices": {"a": b"\x01" * 16}}, M, "devices-map"),
    ({}, {"devices": []}, M, "devices-empty"),
    ({}, {"devices": [b"\x01" * 16]}, M, "device-bytes"),
    ({}, {"devices": [{}]}, M, "device-empty"),
    ({}, {"devices": [{"a": b"\x01" * 15}]}, M, "component-15-bytes"),
    ({}, {"devices": [{"a": b"\x01" * 65}]}, M, "component-65-bytes"),
    ({}, {"devices": [{"a": "01" * 16}]}, M, "component-text"),
    ({}, {"devices": [{"a b": b"\x01" * 16}]}, M, "component-name-space"),
    ({}, {"devices": [{f"c{i}": b"\x01" * 16 for i in range(65)}]}, M, "device-65-components"),
    ({}, {"devices": [{"a": b"\x01" * 16}] * 1001}, M, "devices-1001"),
    ({}, {"devices": [{"a": b"\x01" * 16}], "device_match": "any"}, M, "device-match-any"),
    ({}, {"devices": [{"a": b"\x01" * 16}], "device_match": 0}, M, "device-match-0"),
    ({}, {"devices": [{"a": b"\x01" * 16}], "device_match": 65}, M, "device-match-65"),
    ({}, {"devices": [{"a": b"\x01" * 16}], "device_match": True}, M, "device-match-true"),
    ({}, {"devices": [{"a": b"\x01" * 16}], "device_match": 1.0}, M, "device-match-float"),
    ({}, {"device_match": "most"}, M, "device-match-without-devices-or-activation"),
    # activation
    ({}, {"activation_required": 1}, M, "activation-required-integer"),
    ({}, {"activation_required": "yes"}, M, "activation-required-text"),
    ({}, {"activation_required": None}, M, "activation-required-null"),
    # counters
    ({}, {"counters": [1]}, M, "counters-list"),
    ({}, {"counters": {}}, M, "counters-empty"),
    ({}, {"counters": {f"c{i}": {"limit": 1} for i in range(65)}}, M, "counters-65"),
    ({}, {"counters": {"bad name": {"limit": 1}}}, M, "counter-name-space"),
    ({}, {"counters": {"c": 5}}, M, "counter-not-a-map"),
    ({}, {"counters": {"c": {}}}, M, "counter-empty"),
    ({}, {"counters": {"c": {"overage": 1}}}, M, "counter-without-limit"),
    ({}, {"counters": {"c": {"limit": 1, "period": 2}}}, M, "counter-extra-key"),
    ({}, {"counters": {"c": {"limit": 1, "overage": 1, "x": 1}}}, M, "counter-3-keys"),
    ({}, {"counters": {"c": {"limit": -1}}}, M, "counter-limit-negative"),
    ({}, {"counters": {"c": {"limit": 2**63}}}, M, "counter-limit-2^63"),
    ({}, {"counters": {"c": {"limit": False}}}, M, "counter-limit-boolean"),
    ({}, {"counters": {"c": {"limit": 1, "overage": -1}}}, M, "counter-overage-negative"),
    ({}, {"counters": {"c": {"limit": 1, "overage": "5"}}}, M, "counter-overage-text"),
    # metadata
    ({}, {"metadata": ["po"]}, M, "metadata-list"),
    ({}, {"metadata": {}}, M, "metadata-empty"),
    ({}, {"metadata": {f"k{i}": 1 for i in range(257)}}, M, "metadata-257-entries"),
    ({}, {"metadata": {"": 1}}, M, "metadata-key-empty"),
    ({}, {"metadata": {1: 1}}, M, "metadata-key-integer"),
    ({}, {"metadata": {"k" * 257: 1}}, M, "metadata-key-257-chars"),
    ({}, {"metadata": {"k": [1]}}, M, "metadata-value-list"),
    ({}, {"metadata": {"k": 0.5}}, M, "metadata-value-float"),
    ({}, {"metadata": {f"k{i}": "v" * 250 for i in range(17)}}, M, "metadata-over-4096-bytes"),
    # grace and lease
    ({}, {"grace": -1}, M, "grace-negative"),
    ({}, {"grace": 10 * 366 * DAY + 1}, M, "grace-over-10-years"),
    ({}, {"grace": True}, M, "grace-boolean"),
    ({}, {"grace": "14d"}, M, "grace-text"),
    ({}, {"type": "floating", "lease": 59}, M, "lease-59-seconds"),
    ({}, {"type": "floating", "lease": 366 * DAY + 1}, M, "lease-over-366-days"),
    # Defaults are left out: one signed encoding per set of terms.
    ({}, {"grace": 0}, M, "explicit-default-grace-0"),
    ({}, {"activation_required": False}, M, "explicit-default-activation-false"),
    ({}, {"counters": {"api": {"limit": 5, "overage": 0}}}, M, "explicit-default-overage-0"),
    ({}, {"devices": [{"machine-id": b"\x01" * 16}], "device_match": "all"}, M, "explicit-default-device-match-all"),
    ({}, {"type": "floating", "lease": "1h"}, M, "lease-text"),
    ({}, {"type": "floating", "lease": None}, M, "lease-null"),
]


@pytest.mark.parametrize(
    "claims, terms, expected",
    [pytest.param(c, t, e, id=i) for c, t, e, i in TYPE_CASES],
)
def test_type_or_bound_error(
    claims: dict[Any, Any], terms: dict[str, Any], expected: type[LicenseError]
) -> None:
    payload = with_claims(claims, terms)
    with pytest.raises(LicenseError) as info:
        F.decode_license_payload(payload)
    assert type(info.value) is expected, info.value
    assert_refused(FACTORY.license(payload=payload), expected)


#: Each optional claim or term of a license set to CBOR null, on terms that are otherwise valid
#: without it (so the null itself is refused, not a consistency rule).
NULL_LICENSE_CASES = [
    pytest.param({1: None}, {}, "issuer", id="iss-null"),
    pytest.param({5: None}, {}, "not-before", id="nbf-null"),
    pytest.param({4: None}, {"type": "perpetual", "grace": DROP}, "expires", id="exp-null"),
    pytest.param({}, {"lease": None}, "lease", id="lease-null"),
    pytest.param({}, {"refresh": None, "activation_required": True}, "refresh", id="refresh-null"),
    pytest.param({}, {"grace": None}, "grace", id="grace-null"),
    pytest.param({}, {"features": None}, "features", id="features-null"),
    pytest.param({}, {"gate": None}, "gate", id="gate-null"),
    pytest.param({}, {"gate": {"max_version": None}}, "maximum version", id="gate-max-version-null"),
    pytest.param({}, {"gate": {"maintenance_end": None}}, "maintenance end", id="gate-maintenance-end-null"),
    pytest.param({}, {"limits": None, "activation_required": True}, "limits", id="limits-null"),
    pytest.param({}, {"limits": {"devices": None}, "activation_required": True}, "limit devices", id="limit-null"),
    pytest.param({}, {"users": None, "activation_required": True}, "users", id="users-null"),
    pytest.param({}, {"devices": None}, "devices", id="devices-null"),
    pytest.param({}, {"device_match": None, "activation_required": True}, "device_match", id="device-match-null"),
    pytest.param({}, {"activation_required": None}, "activation_required", id="activation-required-null"),
    pytest.param({}, {"counters": None}, "counters", id="counters-null"),
    pytest.param({}, {"counters": {"c": {"limit": 1, "overage": None}}}, "overage", id="overage-null"),
    pytest.param({}, {"metadata": None}, "metadata", id="metadata-null"),
]  # fmt: skip


@pytest.mark.parametrize("claims, terms, field", NULL_LICENSE_CASES)
def test_null_is_not_a_second_way_to_say_absent(
    claims: dict[Any, Any], terms: dict[str, Any], field: str
) -> None:
    """Regression (issue 6): a signed license with exp, iss, nbf or lease set to null verified.

    The CDDL says these are absent or a value; the format promises one encoding per set of terms.
    """
    error = assert_refused(FACTORY.license(payload=with_claims(claims, terms)), MalformedError)
    assert field in str(error), error  # refused for the null itself, not another rule


NULL_CERTIFICATE_CASES = [
    pytest.param(lambda c: c[TERMS].update({"products": None}), id="products-null"),
    pytest.param(lambda c: c.update({5: None}), id="nbf-null"),
    pytest.param(lambda c: c.update({4: None}), id="exp-null"),
    pytest.param(lambda c: c.update({6: None}), id="iat-null"),
]


@pytest.mark.parametrize("change", NULL_CERTIFICATE_CASES)
def test_null_in_a_certificate_is_refused(change: Any) -> None:
    assert_refused(cert_with(change), MalformedError, verify_cert)


ACTIVATION = {"activation_required": True}
ACCEPTED_BOUNDS = [
    pytest.param({}, {"features": {f"f{i}": None for i in range(256)}}, id="256-features"),
    pytest.param({}, {"features": {"f" * 64: "t" * 256, "g": 2**63 - 1, "h": -(2**63)}}, id="feature-extremes"),
    pytest.param({}, {"counters": {f"c{i}": {"limit": 2**63 - 1, "overage": 2**63 - 1} for i in range(64)}}, id="64-counters-max"),
    pytest.param({}, {"users": [f"u{i}" for i in range(1000)], **ACTIVATION}, id="1000-users"),
    pytest.param({}, {"users": ["u" * 256], **ACTIVATION}, id="user-256-chars"),
    pytest.param({}, {"limits": {"devices": 2**32 - 1, "users": 0, "devices_per_user": 0, "transfers": 0}, **ACTIVATION}, id="limit-extremes"),
    pytest.param({}, {"version": 2**32 - 1}, id="version-max"),
    pytest.param({}, {"grace": 10 * 366 * DAY}, id="grace-10-years"),
    pytest.param({}, {"type": "floating", "lease": 60, **ACTIVATION}, id="lease-60-seconds"),
    pytest.param({}, {"type": "floating", "lease": 366 * DAY, **ACTIVATION}, id="lease-366-days"),
    pytest.param({}, {"refresh": 3600, **ACTIVATION}, id="refresh-1-hour"),
    pytest.param({}, {"refresh": 10 * 366 * DAY, **ACTIVATION}, id="refresh-10-years"),
    pytest.param({7: b"L" * 64}, {}, id="cti-64-chars"),
    pytest.param({1: "i" * 256}, {}, id="iss-256-chars"),
    pytest.param({}, {"gate": {"max_version": "123456789.1.2.3", "maintenance_end": 0}}, id="gate-extremes"),
    pytest.param({}, {"devices": [{f"c{i}": b"\x01" * 64 for i in range(64)}], "device_match": 64}, id="device-64-components"),
    pytest.param({}, {"metadata": {f"k{i}": "v" * 250 for i in range(15)}}, id="metadata-under-4096-bytes"),
]  # fmt: skip


@pytest.mark.parametrize("claims, terms", ACCEPTED_BOUNDS)
def test_bounds_are_inclusive(claims: dict[Any, Any], terms: dict[str, Any]) -> None:
    payload = with_claims(claims, terms)
    decoded = F.decode_license_payload(payload)
    assert F.encode_license_payload(decoded) == payload
    fingerprint = dict(decoded.allowed_devices[0]) if decoded.allowed_devices else None
    doc = FACTORY.license(payload=payload)
    if decoded.activation_required:  # every stage before the activation passes
        assert verify_for_import(doc, fingerprint).id == decoded.id
        assert_refused(doc, NotActivatedError)
    else:
        assert verify_with(doc, fingerprint).id == decoded.id


def verify_for_import(doc: bytes, fingerprint: Any) -> licverify.License:
    return verify_license_for_import(doc, trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW,
                                     fingerprint=fingerprint)  # fmt: skip


def verify_with(doc: bytes, fingerprint: Any) -> licverify.License:
    return licverify.verify_license(doc, trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW,
                                    fingerprint=fingerprint)  # fmt: skip


def test_far_future_times_are_accepted() -> None:
    payload = with_claims(
        {4: DROP, 5: DROP, 6: MAX_TIMESTAMP}, {"type": "perpetual", "grace": DROP}
    )
    assert F.decode_license_payload(payload).issued_at == MAX_TIMESTAMP


# --- certificate payload defects -----------------------------------------------------------------

CERT_BASE = cbor2.loads(CERT_PAYLOAD)


def cert_with(change: Any) -> bytes:
    claims = copy.deepcopy(CERT_BASE)
    change(claims)
    return FACTORY.certificate(payload=cbor(claims))


CERT_CASES = [
    pytest.param(cert_with(lambda c: c.update({7: b"id"})), UnsupportedError, id="unknown-claim"),
    pytest.param(cert_with(lambda c: c.pop(8)), MalformedError, id="cnf-missing"),
    pytest.param(cert_with(lambda c: c.update({8: {3: c[8][1]}})), MalformedError, id="cnf-kid-instead-of-key"),
    pytest.param(cert_with(lambda c: c[8][1].update({1: 2})), UnsupportedError, id="kty-ec2"),
    pytest.param(cert_with(lambda c: c[8][1].update({-1: 7})), UnsupportedError, id="crv-ed448"),
    pytest.param(cert_with(lambda c: c[8][1].update({3: -7})), UnsupportedError, id="key-alg-es256"),
    pytest.param(cert_with(lambda c: c[8][1].update({1: True})), UnsupportedError, id="kty-true"),
    pytest.param(cert_with(lambda c: c[8][1].update({-1: 6.0})), MalformedError, id="crv-float"),
    pytest.param(cert_with(lambda c: c[8][1].update({2: b"kid"})), MalformedError, id="key-extra-parameter"),
    pytest.param(cert_with(lambda c: c[8][1].pop(3)), MalformedError, id="key-alg-missing"),
    pytest.param(cert_with(lambda c: c[8][1].update({-2: public(ISSUING)[:31]})), UntrustedKeyError, id="key-31-bytes"),
    pytest.param(cert_with(lambda c: c[8][1].update({-2: public(ISSUING).hex()})), UntrustedKeyError, id="key-as-text"),
    pytest.param(cert_with(lambda c: c[TERMS].update({"v": 1})), UnsupportedError, id="format-version-1-previous"),
    pytest.param(cert_with(lambda c: c[TERMS].update({"v": 3})), UnsupportedError, id="format-version-3"),
    pytest.param(cert_with(lambda c: c[TERMS].update({"v": True})), UnsupportedError, id="format-version-true"),
    pytest.param(cert_with(lambda c: c.pop(TERMS)), UnsupportedError, id="terms-missing"),
    pytest.param(cert_with(lambda c: c[TERMS].update({"roles": ["x"]})), UnsupportedError, id="unknown-term"),
    pytest.param(cert_with(lambda c: c[TERMS].update({"products": []})), MalformedError, id="products-empty"),
    pytest.param(cert_with(lambda c: c[TERMS].update({"products": "acme-cad"})), MalformedError, id="products-text"),
    pytest.param(cert_with(lambda c: c[TERMS].update({"products": ["acme cad"]})), MalformedError, id="product-id-invalid"),
    pytest.param(cert_with(lambda c: c[TERMS].update({"products": [f"p{i}" for i in range(1001)]})), MalformedError, id="products-1001"),
    pytest.param(cert_with(lambda c: c.update({4: c[5] - 1})), MalformedError, id="expires-before-start"),
    pytest.param(cert_with(lambda c: c.update({5: float(c[5])})), MalformedError, id="nbf-float"),
    pytest.param(cert_with(lambda c: c.pop(6)), MalformedError, id="iat-missing"),
    pytest.param(cert_with(lambda c: c.update({4: MAX_TIMESTAMP + 1})), MalformedError, id="exp-after-9999"),
    pytest.param(FACTORY.certificate(payload=CERT_PAYLOAD + b"\x00"), MalformedError, id="trailing-byte"),
    pytest.param(FACTORY.certificate(payload=b"\xbf" + CERT_PAYLOAD[1:] + b"\xff"), MalformedError, id="indefinite-map"),
    pytest.param(FACTORY.certificate(payload=cbor([1])), MalformedError, id="payload-array"),
]  # fmt: skip


@pytest.mark.parametrize("cert, expected", CERT_CASES)
def test_certificate_payload_defect(cert: bytes, expected: type[LicenseError]) -> None:
    assert_refused(cert, expected, verify_cert)
    assert_refused(FACTORY.license(certificate=cert), expected)


# --- framing: trailing, truncated, oversize, empty -----------------------------------------------


@pytest.mark.parametrize(
    "suffix",
    [b"\x00", b"\xf6", b"\n", FACTORY.license()],
    ids=["zero", "null", "newline", "second-document"],
)
def test_trailing_bytes_after_document(suffix: bytes) -> None:
    assert_refused(FACTORY.license() + suffix, MalformedError)
    assert_refused(CERT + suffix, MalformedError, verify_cert)


@pytest.mark.parametrize(
    "doc, check", [(FACTORY.license(), verify), (CERT, verify_cert)], ids=["license", "certificate"]
)
def test_every_truncation_is_malformed(doc: bytes, check: Any) -> None:
    wrong = []
    for n in range(len(doc)):
        try:
            check(doc[:n])
        except LicenseError as exc:
            if type(exc) is not MalformedError:
                wrong.append((n, exc))
        else:
            wrong.append((n, "accepted"))
    assert not wrong


def test_every_truncation_of_armor_is_refused() -> None:
    armored = F.armor(FACTORY.license(), F.LICENSE)
    lines = armored.split(b"\n")
    for n in range(1, len(lines) - 1):
        with pytest.raises(MalformedError):
            verify(b"\n".join(lines[:n]))


def _license_of_size(target: int) -> bytes:
    """A valid license exactly ``target`` bytes long, padded with allowed users."""
    base = len(FACTORY.license())
    users = [f"user-{i:04d}-".ljust(200, "x") for i in range((target - base - 300) // 202)]

    def build() -> bytes:
        return FACTORY.license(default_terms(allowed_users=tuple(users), activation_required=True))

    deficit = target - len(build())
    i = 0
    while deficit > 0:
        add = min(deficit, 55)
        users[i] += "y" * add
        deficit -= add
        i += 1
    doc = build()
    assert len(doc) == target
    return doc


def test_size_limit_is_64_kib() -> None:
    limit = 64 * 1024
    assert limit == F.MAX_DOCUMENT_SIZE
    largest = _license_of_size(limit)
    assert len(verify_for_import(largest, None).allowed_users) > 300
    assert verify_for_import(F.armor(largest, F.LICENSE), None).document == largest
    too_large = _license_of_size(limit + 1)
    assert "larger" in str(assert_refused(too_large, MalformedError))
    assert_refused(F.armor(too_large, F.LICENSE), MalformedError)


@pytest.mark.parametrize(
    "size", [64 * 1024 + 1, 128 * 1024 + 1, 4 * 1024 * 1024], ids=["64KiB+1", "128KiB+1", "4MiB"]
)
def test_oversize_input(size: int) -> None:
    binary = (b"\xd2\x84" + b"\x00" * size)[:size]
    assert "larger" in str(assert_refused(binary, MalformedError))
    armored = (
        b"-----BEGIN LICSIGN LICENSE-----\n" + b"A" * size + b"\n-----END LICSIGN LICENSE-----\n"
    )
    assert_refused(armored, MalformedError)
    assert_refused(binary, MalformedError, verify_cert)


@pytest.mark.parametrize(
    "doc",
    [b"", b" ", b"\n\n", b"\x00", b"\xd2", b"\xd2\x84",
     b"-----BEGIN LICSIGN LICENSE-----\n-----END LICSIGN LICENSE-----\n",
     b"-----BEGIN LICSIGN LICENSE-----\n\n-----END LICSIGN LICENSE-----\n"],
    ids=["empty", "space", "newlines", "zero", "tag-only", "tag-and-array-head", "armor-no-body", "armor-empty-body"],
)  # fmt: skip
def test_empty_input(doc: bytes) -> None:
    assert_refused(doc, MalformedError)
    assert_refused(doc, MalformedError, verify_cert)
