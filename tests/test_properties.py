"""Bounded property tests (STYLE §13): hostile input raises only LicenseError; terms round-trip;
the encoder's map order is RFC 8949 §4.2.1 bytewise order; the strict decoder accepts exactly
the deterministic encodings."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any

import cbor2
import pytest
from factory import ISSUING, T0, F, UnsafeFactory, public
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import licverify
from licverify import Counter, InternalError, LicenseError, Limits, MalformedError
from licverify._cbor import MAX_DEPTH, decode_canonical
from licverify._license import EXPIRING_TYPES, LICENSE_TYPES, MAX_TIMESTAMP, LicenseTerms
from licverify._verify import verify_license_for_import

FACTORY = UnsafeFactory()
WIDE = UnsafeFactory(
    not_before=0, not_after=MAX_TIMESTAMP
)  # any issue time is inside the key window
NOW = datetime.fromtimestamp(T0, timezone.utc)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=100, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip


def refuses_cleanly(document: bytes) -> None:
    """Verification fails with a LicenseError that is not InternalError (no surprise inside)."""
    with pytest.raises(LicenseError) as info:
        licverify.verify_license(document, trusted_roots=FACTORY.roots, product="acme-cad", now=NOW)
    assert not isinstance(info.value, InternalError), repr(info.value.__cause__)
    with pytest.raises(LicenseError) as info:
        licverify.verify_certificate(document, trusted_roots=FACTORY.roots, now=NOW)
    assert not isinstance(info.value, InternalError), repr(info.value.__cause__)


# --- hostile bytes -------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=1024))
def test_random_bytes_raise_only_license_error(data: bytes) -> None:
    refuses_cleanly(data)


@FUZZ
@given(st.binary(max_size=1024))
def test_random_bytes_after_sign1_head_raise_only_license_error(tail: bytes) -> None:
    refuses_cleanly(b"\xd2\x84" + tail)


SAMPLE = FACTORY.license()
PROTECTED_ITEM = SAMPLE[2 : 2 + 1 + 1 + SAMPLE[3]]  # bstr head (0x58 len) + protected map


@FUZZ
@given(st.binary(max_size=1024))
def test_random_bytes_after_valid_protected_header_raise_only_license_error(tail: bytes) -> None:
    assert PROTECTED_ITEM[:1] == b"\x58"
    refuses_cleanly(b"\xd2\x84" + PROTECTED_ITEM + tail)


@FUZZ
@given(st.integers(0, len(SAMPLE) - 1), st.binary(min_size=1, max_size=64))
def test_random_splices_into_a_license_raise_only_license_error(pos: int, junk: bytes) -> None:
    mutant = SAMPLE[:pos] + junk + SAMPLE[pos + len(junk) :]
    assume(mutant != SAMPLE)
    refuses_cleanly(mutant)


LABELS = [k.armor_label for k in F.KINDS] + ["LICSIGN LICENCE", "PUBLIC KEY", ""]


@FUZZ
@given(st.sampled_from(LABELS), st.text(max_size=600))
def test_armored_random_text_raises_only_license_error(label: str, body: str) -> None:
    text = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"
    refuses_cleanly(text.encode("utf-8"))


@FUZZ
@given(st.sampled_from(LABELS), st.binary(max_size=700), st.booleans())
def test_armored_random_binary_raises_only_license_error(
    label: str, data: bytes, with_head: bool
) -> None:
    body = base64.b64encode((b"\xd2\x84" if with_head else b"") + data)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    text = b"\n".join(
        [f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode()]
    )
    refuses_cleanly(text)


@FUZZ
@given(st.binary(max_size=512))
def test_random_payload_bytes_raise_only_license_error(payload: bytes) -> None:
    # Signed by the trusted issuing key: the payload decoder is the only defence left.
    with pytest.raises(LicenseError) as info:
        F.decode_license_payload(payload)
    assert not isinstance(info.value, InternalError)
    refuses_cleanly(FACTORY.license(payload=payload))


# --- an independent RFC 8949 §4.2.1 encoder ------------------------------------------------------


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    size = next(s for s in (1, 2, 4, 8) if n < 1 << (8 * s))
    return bytes([major << 5 | {1: 24, 2: 25, 4: 26, 8: 27}[size]]) + n.to_bytes(size, "big")


def det(value: Any) -> bytes:
    """Deterministic CBOR: preferred heads, definite lengths, map keys sorted bytewise (§4.2.1)."""
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
        return _head(4, len(value)) + b"".join(det(v) for v in value)
    if isinstance(value, dict):
        pairs = sorted((det(k), det(v)) for k, v in value.items())
        return _head(5, len(pairs)) + b"".join(k + v for k, v in pairs)
    raise TypeError(type(value))


def maps_in(value: Any) -> list[dict[Any, Any]]:
    if isinstance(value, dict):
        return [value] + [m for v in value.values() for m in maps_in(v)]
    if isinstance(value, list):
        return [m for v in value for m in maps_in(v)]
    return []


def assert_bytewise_order(encoded: bytes) -> None:
    """Every map in ``encoded`` lists its keys in bytewise order of their encodings."""
    value = cbor2.loads(encoded)  # cbor2 keeps the order keys had on the wire
    for mapping in maps_in(value):
        keys = [det(k) for k in mapping]
        assert keys == sorted(keys) and len(set(keys)) == len(keys), list(mapping)
    assert det(value) == encoded


# --- strategies for valid terms ------------------------------------------------------------------

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# Built from alphabets rather than st.from_regex, which is several times slower to draw.
IDS = st.builds(str.__add__, st.sampled_from(ALNUM), st.text(ALNUM + "._-", max_size=63))
NAMES = st.builds(str.__add__, st.sampled_from(ALNUM), st.text(ALNUM + "._:/-", max_size=63))
VERSIONS = st.lists(st.integers(0, 999_999_999), min_size=1, max_size=4).map(
    lambda p: ".".join(map(str, p))
)
TEXT = st.text(min_size=1, max_size=256)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=256)
SMALL_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=48)
COUNTS = st.none() | st.integers(0, 2**32 - 1)
DIGESTS = st.binary(min_size=16, max_size=64)
BIG = 2**63 - 1


@st.composite
def valid_terms(draw: Any) -> LicenseTerms:
    license_type = draw(st.sampled_from(LICENSE_TYPES))
    issued_at = draw(st.integers(0, MAX_TIMESTAMP - 1))  # the key window (below) ends exclusively at MAX_TIMESTAMP
    not_before = draw(st.none() | st.integers(0, MAX_TIMESTAMP - 1))
    start = issued_at if not_before is None else not_before
    expires = None
    if start < MAX_TIMESTAMP and (license_type in EXPIRING_TYPES or (
            license_type != "perpetual" and draw(st.booleans()))):  # fmt: skip
        expires = draw(st.integers(start + 1, MAX_TIMESTAMP))
    if expires is None and license_type in EXPIRING_TYPES:
        license_type = "perpetual"  # start is at the end of time: nothing can expire after it
    grace = 0
    if expires is not None:
        grace = draw(st.integers(0, min(10 * 366 * 86400, MAX_TIMESTAMP - expires)))
    devices = draw(st.lists(st.dictionaries(NAMES, DIGESTS, min_size=1, max_size=4), max_size=3))
    device_match: str | int = "all"
    if devices:
        device_match = draw(
            st.sampled_from(["all", "most"]) | st.integers(1, min(len(d) for d in devices))
        )
    counters = draw(st.dictionaries(NAMES, st.builds(Counter, st.integers(0, BIG), st.integers(0, BIG)),
                                    min_size=1 if license_type == "consumption" else 0, max_size=4))  # fmt: skip
    limits = draw(st.builds(Limits, COUNTS, COUNTS, COUNTS, COUNTS))
    users = tuple(draw(st.lists(TEXT, unique=True, max_size=5)))
    refresh = draw(st.none() | st.integers(3600, 10 * 366 * 86400))
    # Format §7.2: these are enforced only through the activation exchange.
    needs_activation = (
        limits != Limits() or bool(users) or license_type == "floating" or refresh is not None
    )
    return LicenseTerms(
        id=draw(IDS),
        version=draw(st.integers(1, 2**32 - 1)),
        issuer=draw(st.none() | TEXT),
        customer=draw(IDS),
        product=draw(IDS),
        type=license_type,
        issued_at=issued_at,
        not_before=not_before,
        expires=expires,
        grace_seconds=grace,
        features=draw(st.dictionaries(NAMES, SCALARS, max_size=6)),
        max_version=draw(st.none() | VERSIONS),
        maintenance_end=draw(st.none() | st.integers(0, MAX_TIMESTAMP)),
        limits=limits,
        allowed_users=users,
        allowed_devices=tuple(devices),
        device_match=device_match,
        activation_required=needs_activation or draw(st.booleans()),
        counters=counters,
        lease_seconds=draw(st.integers(60, 366 * 86400)) if license_type == "floating" else None,
        refresh_seconds=refresh,
        metadata=draw(st.dictionaries(st.text(min_size=1, max_size=32), SMALL_SCALARS, max_size=4)),
        extensions=draw(
            st.dictionaries(st.text(max_size=16).map(lambda s: "x-" + s), SCALARS, max_size=3)
        ),
    )


# --- round trips ---------------------------------------------------------------------------------


@ROUND_TRIP
@given(valid_terms())
def test_decode_encode_round_trip(terms: LicenseTerms) -> None:
    payload = F.encode_license_payload(terms)
    decoded = F.decode_license_payload(payload)
    assert decoded == terms
    assert F.encode_license_payload(decoded) == payload


@ROUND_TRIP
@given(valid_terms())
def test_sign_verify_round_trip(terms: LicenseTerms) -> None:
    doc = WIDE.license(terms)
    start = terms.issued_at if terms.not_before is None else terms.not_before
    fingerprint = terms.allowed_devices[0] if terms.allowed_devices else None
    if terms.activation_required:
        with pytest.raises(licverify.NotActivatedError):
            licverify.verify_license(doc, trusted_roots=WIDE.roots, product=terms.product,
                                     now=datetime.fromtimestamp(start, timezone.utc),
                                     fingerprint=fingerprint)  # fmt: skip
    got = verify_license_for_import(  # every stage but the activation
        doc, trusted_roots=WIDE.roots, product=terms.product,
        now=datetime.fromtimestamp(start, timezone.utc), fingerprint=fingerprint,
    )  # fmt: skip
    assert got.terms == terms
    assert got.status is licverify.Status.VALID
    assert got.id == terms.id and got.customer == terms.customer and got.version == terms.version
    assert int(got.issued_at.timestamp()) == terms.issued_at
    assert got.expires is None or int(got.expires.timestamp()) == terms.expires
    assert got.grace.total_seconds() == terms.grace_seconds
    assert dict(got.features) == dict(terms.features)
    assert dict(got.counters) == dict(terms.counters)
    assert dict(got.metadata) == dict(terms.metadata) and dict(got.extensions) == dict(
        terms.extensions
    )
    assert got.document == doc and got.certificate.public_key == public(ISSUING)


@ROUND_TRIP
@given(valid_terms())
def test_payload_maps_are_in_bytewise_order(terms: LicenseTerms) -> None:
    # cbor2's canonical=True sorts length-first (RFC 8949 §4.2.3); the format needs §4.2.1.
    payload = F.encode_license_payload(terms)
    assert_bytewise_order(payload)
    assert det(cbor2.loads(payload)) == payload == F.encode_canonical(cbor2.loads(payload))


def test_certificate_payload_maps_are_in_bytewise_order() -> None:
    for factory in (FACTORY, UnsafeFactory(products=("b", "a", "acme-cad"))):
        assert_bytewise_order(F.encode_certificate_payload(factory.certificate_info))


def test_length_first_and_bytewise_disagree_outside_the_format_key_ranges() -> None:
    # Why the format keeps each map's keys all-text or all-integer in small ranges (format §3.2).
    for mixed in ({24: 0, -1: 0}, {"a": 0, -65537: 0}, {256: 0, 23: 0, -25: 0}):
        length_first = cbor2.dumps(mixed, canonical=True)
        assert length_first != det(mixed)
        with pytest.raises(MalformedError):
            decode_canonical(length_first, "test")
        assert decode_canonical(det(mixed), "test") == mixed


# --- the strict decoder accepts exactly the deterministic encodings -----------------------------

KEYS = st.integers(-(2**64), 2**64 - 1) | st.text(max_size=8)
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)


def nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    return 0


DECODER = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@DECODER
@given(VALUES)
def test_strict_decoder_accepts_deterministic_encoding(value: Any) -> None:
    encoded = det(value)
    if nesting(value) > MAX_DEPTH:
        with pytest.raises(MalformedError):
            decode_canonical(encoded, "test")
    else:
        assert decode_canonical(encoded, "test") == value


@DECODER
@given(VALUES, st.booleans())
def test_strict_decoder_refuses_other_encodings(value: Any, canonical: bool) -> None:
    encoded = cbor2.dumps(value, canonical=canonical)  # length-first or insertion order
    if encoded == det(value) and nesting(value) <= MAX_DEPTH:
        assert decode_canonical(encoded, "test") == value
    else:
        with pytest.raises(MalformedError):
            decode_canonical(encoded, "test")


@DECODER
@given(VALUES, st.data())
def test_strict_decoder_never_accepts_a_non_deterministic_mutant(value: Any, data: Any) -> None:
    encoded = bytearray(det(value))
    pos = data.draw(st.integers(0, len(encoded) - 1))
    encoded[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(encoded)))
    mutant = bytes(encoded[:cut]) + data.draw(st.binary(max_size=3))
    try:
        decoded = decode_canonical(mutant, "test")
    except MalformedError:
        return
    assert det(decoded) == mutant  # accepted only if it is the one encoding of what it decodes to


# --- inspect and verify agree (issue 6: "same verdict everywhere") -------------------------------


def verdicts(document: bytes) -> tuple[str, str]:
    """(inspect_document's verdict, verify_license's outcome) for the same document and inputs."""
    report = licverify.inspect_document(document, trusted_roots=FACTORY.roots, product="acme-cad",
                                        now=NOW)  # fmt: skip
    try:
        licverify.verify_license(document, trusted_roots=FACTORY.roots, product="acme-cad", now=NOW)
    except LicenseError as exc:
        return report.verdict, exc.code
    return report.verdict, "valid"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(SAMPLE) - 1), st.integers(1, 255), st.booleans())
def test_inspect_and_verify_give_the_same_code(pos: int, delta: int, armored: bool) -> None:
    """Regression: a tampered license was bad-signature for verify and malformed for inspect."""
    mutant = bytearray(SAMPLE)
    mutant[pos] = (mutant[pos] + delta) % 256
    document = F.armor(bytes(mutant), F.LICENSE) if armored else bytes(mutant)
    inspected, verified = verdicts(document)
    assert inspected == verified


def test_inspect_and_verify_agree_on_a_tampered_payload() -> None:
    envelope = F.parse_unverified(SAMPLE)
    start = SAMPLE.index(envelope.payload)
    for offset in (0, 1, 5, len(envelope.payload) // 2, len(envelope.payload) - 1):
        binary = bytearray(SAMPLE)
        binary[start + offset] ^= 0x01  # offset 0 breaks the map head: a strict decode fails
        armored = F.armor(bytes(binary), F.LICENSE)  # as a tampered demo file
        assert verdicts(armored) == ("bad-signature", "bad-signature"), offset
    assert verdicts(SAMPLE) == ("valid", "valid")
