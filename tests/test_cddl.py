"""Generated documents match the normative CDDL in schemas/ (docs/format.md §2–§8).

The validator is pycddl 0.6.4 (cddl-rs 0.9.5). Its gaps shape both the
schemas and these tests; each is worked around, never silently trusted:

* ``.cbor`` inside an array is mis-applied, so the envelope's protected
  header and payload are validated separately against their own rules;
* control operators cannot constrain map keys, so the schemas write keys as
  ``tstr`` and name a key rule (``feature-name``, ``extension-name``...)
  that each key is validated against here, one by one;
* maps nested in arrays, ``{}``, and maps whose members are all optional are
  checked loosely (unknown keys can pass), so negative cases below only use
  defects the validator is known to catch, and each negative case is also
  refused by licverify, proving schema and code agree on it.

A rule other than a file's first is validated by prepending
``test-root = <rule>`` to the file's text.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path
from typing import Any

import cbor2
import pycddl
import pytest
from factory import T0, UnsafeFactory, default_terms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licverify import LicenseError, format_fingerprint, machine_fingerprint, parse_fingerprint
from licverify import format as F
from licverify._cbor import decode_canonical, encode_canonical
from licverify._certificate import decode_certificate_payload
from licverify._cose import parse_unverified
from licverify._license import _KNOWN_TERMS, DEVICE_MATCH_WORDS, MAX_COUNT
from licverify._time import MAX_TIMESTAMP

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
DAY = 86400


@cache
def schema(name: str, rule: str | None = None) -> pycddl.Schema:
    text = (SCHEMAS / f"{name}.cddl").read_text(encoding="utf-8")
    return pycddl.Schema(text if rule is None else f"test-root = {rule}\n{text}")


def valid(name: str, data: bytes, rule: str | None = None) -> None:
    schema(name, rule).validate_cbor(data)


def invalid(name: str, data: bytes, rule: str | None = None) -> None:
    with pytest.raises(pycddl.ValidationError):
        schema(name, rule).validate_cbor(data)


def text_ok(name: str, rule: str, value: str) -> bool:
    try:
        schema(name, rule).validate_cbor(cbor2.dumps(value))
    except pycddl.ValidationError:
        return False
    return True


# --- checking one document part by part -------------------------------------------------------


def check_envelope(document: bytes, unprotected_rule: str) -> tuple[dict[Any, Any], bytes]:
    """Validate a whole document, its protected header and its unprotected header."""
    valid("envelope", document)
    sign1 = cbor2.loads(document)
    assert sign1.tag == 18
    protected, unprotected, payload, _ = sign1.value
    valid("envelope", protected, "protected-header")
    valid("envelope", cbor2.dumps(unprotected), unprotected_rule)
    valid("envelope", cbor2.dumps(unprotected), "unprotected-header")
    if unprotected_rule == "certificate-unprotected":
        assert unprotected == {}  # pycddl accepts any map for `{}`; check it here
    return unprotected, payload


def check_certificate(document: bytes) -> dict[Any, Any]:
    _, payload = check_envelope(document, "certificate-unprotected")
    assert cbor2.loads(cbor2.loads(document).value[0])[3] == F.ISSUING_CERTIFICATE.content_type
    valid("issuing-key-certificate", payload)
    claims = cbor2.loads(payload)
    for product in claims[-65537].get("products", []):
        valid("issuing-key-certificate", cbor2.dumps(product), "id")
    return claims


def check_license(document: bytes) -> dict[Any, Any]:
    unprotected, payload = check_envelope(document, "license-unprotected")
    assert cbor2.loads(cbor2.loads(document).value[0])[3] == F.LICENSE.content_type
    check_certificate(unprotected[13])
    valid("license", payload)
    claims = cbor2.loads(payload)
    check_license_keys(claims)
    return claims


def check_license_keys(claims: dict[Any, Any]) -> None:
    """The constraints the schema states for map keys and the cti bytes."""
    valid("license", cbor2.dumps(claims[7].decode("ascii")), "id")
    terms = claims[-65537]
    for name in terms:
        if name not in _KNOWN_TERMS:
            assert text_ok("license", "extension-name", name), name
    for name in terms.get("features", {}):
        assert text_ok("license", "feature-name", name), name
    for name in terms.get("counters", {}):
        assert text_ok("license", "counter-name", name), name
    for name in terms.get("metadata", {}):
        assert text_ok("license", "short-text", name), name
    for device in terms.get("devices", []):
        valid("fingerprint", cbor2.dumps(device), "licensed-device")
        for name in device:
            assert text_ok("license", "component-name", name), name


# --- every license type and every optional term ------------------------------------------------

DEVICE_A = {"machine-id": b"\x01" * 16, "hostname": b"\x02" * 16, "mac": b"\x03" * 16}
DEVICE_B = {"machine-id": b"\x04" * 32, "cpu": b"\x05" * 64}

CASES: dict[str, dict[str, Any]] = {
    "perpetual": {"type": "perpetual", "expires": None, "grace_seconds": 0},
    "time-limited": {},
    "subscription": {"type": "subscription", "not_before": T0 + DAY, "expires": T0 + 31 * DAY},
    "trial": {
        "type": "trial",
        "issuer": None,
        "not_before": None,
        "expires": T0 + 30 * DAY,
        "grace_seconds": 0,
    },
    "consumption": {
        "type": "consumption",
        "expires": None,
        "grace_seconds": 0,
        "counters": {"api-calls": F.Counter(1000), "render:minutes": F.Counter(500, 50)},
    },
    "floating": {"type": "floating", "lease_seconds": 3600, "limits": F.Limits(max_users=10)},
    "features-every-value-type": {
        "features": {
            "flag": None,
            "on": True,
            "off": False,
            "zero": 0,
            "negative": -1,
            "max": 2**63 - 1,
            "min": -(2**63),
            "empty": "",
            "text": "pro",
            "long": "x" * 256,
            "unicode": "é" * 256,
            "a.b_c-d:e/f": 1,
        }
    },
    "gate-max-version": {"max_version": "2.4.1"},
    "gate-maintenance-end": {"maintenance_end": T0 + 365 * DAY},
    "gate-both": {"max_version": "10.0.0.1", "maintenance_end": T0},
    "limits-all": {
        "limits": F.Limits(
            max_devices=0, max_users=5, max_devices_per_user=2, max_transfers=MAX_COUNT
        )
    },
    "no-limits-no-features": {"limits": F.Limits(), "features": {}},
    "users": {"allowed_users": ("alice", "bob@example.com", "Zoë Müller", "u" * 256)},
    "devices": {"allowed_devices": (DEVICE_A, DEVICE_B)},
    "device-match-most": {"allowed_devices": (DEVICE_A,), "device_match": "most"},
    "device-match-count": {"allowed_devices": (DEVICE_A, DEVICE_B), "device_match": 2},
    "activation-required": {"activation_required": True},
    "counter-overage": {"counters": {"seats": F.Counter(0, 2**63 - 1)}},
    "metadata": {
        "metadata": {
            "order": "PO-1234",
            "seats": 5,
            "note": None,
            "paid": True,
            "Kundennummer (intern)": "K-1",
        }
    },
    "extensions": {
        "extensions": {
            "x-null": None,
            "x-true": True,
            "x-int": -5,
            "x-text": "t",
            "x-": "",
            "x-Ünïcode key": 2**40,
        }
    },
    "everything": {
        "type": "floating",
        "lease_seconds": 60,
        "not_before": T0 - DAY,
        "grace_seconds": 10 * 366 * DAY,
        "features": {"export": None},
        "max_version": "1",
        "maintenance_end": 0,
        "limits": F.Limits(1, 2, 3, 4),
        "allowed_users": ("u",),
        "allowed_devices": (DEVICE_A,),
        "device_match": 1,
        "activation_required": True,
        "counters": {"c": F.Counter(1, 1)},
        "metadata": {"m": "v"},
        "extensions": {"x-e": False},
    },
    "upper-bounds": {
        "id": "L" + "1" * 63,
        "version": MAX_COUNT,
        "customer": "c" * 64,
        "product": "acme-cad",
        "issuer": "i" * 256,
        "expires": MAX_TIMESTAMP - 10 * 366 * DAY,
        "grace_seconds": 10 * 366 * DAY,
        "features": {f"f{i}": i for i in range(256)},
        "counters": {f"c{i}": F.Counter(2**63 - 1) for i in range(64)},
        "allowed_users": tuple(f"user{i}" for i in range(1000)),
        "allowed_devices": ({f"k{i}": b"\x07" * 64 for i in range(64)},),
        "device_match": 64,
        "metadata": {f"m{i}": "v" * 8 for i in range(256)},
    },
}


@pytest.fixture(scope="module")
def factory() -> UnsafeFactory:
    return UnsafeFactory()


@pytest.mark.parametrize("case", list(CASES))
def test_license_matches_schema(factory: UnsafeFactory, case: str) -> None:
    document = factory.license(default_terms(**CASES[case]))
    claims = check_license(document)
    assert F.decode_license_payload(cbor2.loads(document).value[2]) == default_terms(**CASES[case])
    assert claims[-65537]["v"] == 1


def test_cases_cover_every_type_and_term(factory: UnsafeFactory) -> None:
    """The cases above exercise every license type and every term name the schema lists."""
    payloads = [F.encode_license_payload(default_terms(**c)) for c in CASES.values()]
    terms = [cbor2.loads(p)[-65537] for p in payloads]
    assert {t["type"] for t in terms} == set(F.LICENSE_TYPES)
    assert set().union(*terms) >= _KNOWN_TERMS
    assert {type(v) for t in terms for v in t.get("features", {}).values()} == {
        type(None),
        bool,
        int,
        str,
    }
    assert {t.get("device_match", "all") for t in terms} >= {*DEVICE_MATCH_WORDS, 1, 2, 64}
    assert {len(c) for t in terms for c in t.get("counters", {}).values()} == {1, 2}
    claims = [cbor2.loads(p) for p in payloads]
    assert {frozenset(c) for c in claims} >= {
        frozenset({1, 2, 3, 4, 5, 6, 7, -65537}),  # all claims
        frozenset({2, 3, 4, 6, 7, -65537}),  # no iss, no nbf
        frozenset({1, 2, 3, 5, 6, 7, -65537}),  # no exp
    }


@pytest.mark.parametrize("products", [None, ("acme-cad",), ("acme-cad", "acme-cam", "p" * 64)])
def test_certificate_matches_schema(products: tuple[str, ...] | None) -> None:
    factory = UnsafeFactory(products=products)
    claims = check_certificate(factory.certificate())
    assert ("products" in claims[-65537]) == (products is not None)
    check_license(factory.license())


def test_certificate_with_a_one_second_window() -> None:
    check_certificate(UnsafeFactory(not_before=T0, not_after=T0 + 1).certificate())


def test_signature_covers_the_sig_structure(factory: UnsafeFactory) -> None:
    """The signed bytes are the schema's sig-structure over the parts as received (format §4.4)."""
    document = factory.license()
    protected, _, payload, signature = cbor2.loads(document).value
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    valid("envelope", to_be_signed, "sig-structure")
    assert parse_unverified(document).to_be_signed == to_be_signed
    factory.issuing.verify_key.verify(to_be_signed, signature)


def test_armored_document_carries_the_same_bytes(factory: UnsafeFactory) -> None:
    document = factory.license()
    binary, kind = F.dearmor(F.armor(document, F.LICENSE))
    assert binary == document and kind is F.LICENSE
    check_license(binary)


@given(
    features=st.dictionaries(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}", fullmatch=True),
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=256),
        max_size=8,
    ),
    metadata=st.dictionaries(
        st.text(min_size=1, max_size=256),
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=40),
        max_size=4,
    ),
    extensions=st.dictionaries(
        st.text(max_size=20).map(lambda s: "x-" + s),
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=256),
        max_size=3,
    ),
    users=st.lists(st.text(min_size=1, max_size=256), max_size=4, unique=True),
    version=st.integers(1, MAX_COUNT),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_terms_match_schema(
    features: dict[str, Any],
    metadata: dict[str, Any],
    extensions: dict[str, Any],
    users: list[str],
    version: int,
) -> None:
    terms = default_terms(features=features, metadata=metadata, extensions=extensions,
                          allowed_users=tuple(users), version=version)  # fmt: skip
    payload = F.encode_license_payload(terms)
    valid("license", payload)
    check_license_keys(cbor2.loads(payload))


# --- fingerprints and reserved kinds ------------------------------------------------------------


def test_fingerprint_text_form_matches_schema() -> None:
    fingerprint = machine_fingerprint("acme-cad", machine_id="0123456789abcdef")
    text = format_fingerprint(fingerprint)
    assert text.startswith("fp1.")
    body = text[4:]
    assert "=" not in body
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    valid("fingerprint", raw)
    valid("fingerprint", raw, "licensed-device")
    for name in fingerprint:
        assert text_ok("fingerprint", "component-name", name), name
    assert dict(parse_fingerprint(text)) == dict(fingerprint)
    assert decode_canonical(raw, "fingerprint") == dict(fingerprint)


def test_kinds_match_envelope_and_reserved_schemas() -> None:
    """Implemented kinds are in envelope.cddl; every other kind is reserved (format §2)."""
    for kind in F.KINDS:
        in_envelope = text_ok("envelope", "document-content-type", kind.content_type)
        reserved = text_ok("reserved", "reserved-content-type", kind.content_type)
        assert (in_envelope, reserved) == (kind.implemented, not kind.implemented), kind
        label_reserved = text_ok("reserved", "reserved-armor-label", kind.armor_label)
        assert label_reserved == (not kind.implemented), kind
    assert not text_ok("reserved", "reserved-content-type", "application/vnd.licsign.other+cbor")


# --- the schema's lists and bounds are the code's ------------------------------------------------


def _members(rule: str) -> set[str]:
    text = (SCHEMAS / "license.cddl").read_text(encoding="utf-8")
    block = re.search(rf"^{rule} = \{{(.*?)^\}}", text, re.MULTILINE | re.DOTALL)
    assert block is not None
    return set(re.findall(r'"([a-z_]+)":', block.group(1)))


def test_schema_term_names_are_the_codes() -> None:
    assert _members("license-terms") == set(_KNOWN_TERMS)
    assert _members("limits") == set(F.LIMIT_NAMES)
    for name in F.LICENSE_TYPES:
        assert text_ok("license", "license-type", name)


@pytest.mark.parametrize(
    "rule, good, bad",
    [
        ("numeric-date", [0, MAX_TIMESTAMP], [-1, MAX_TIMESTAMP + 1, "2026-01-01"]),
        ("uint32", [0, MAX_COUNT], [-1, MAX_COUNT + 1]),
        ("int64", [-(2**63), 2**63 - 1], [-(2**63) - 1, 2**63]),
        ("device-match", ["most", 1, 64], ["all", "any", 0, 65, True]),
        ("license-type", list(F.LICENSE_TYPES), ["lifetime", "Perpetual", ""]),
        ("id", ["a", "A-1.b_c", "z" * 64], ["", "-a", ".a", "a b", "z" * 65, "é"]),
        ("feature-name", ["a", "a:b/c", "z" * 64], ["", "/a", "a b", "z" * 65]),
        ("short-text", ["a", "é" * 256, "\U0001f600" * 256, "line\nbreak"], ["", "x" * 1025]),
        ("scalar-text", ["", "x" * 1024], ["x" * 1025]),
        (
            "version-text",
            ["1", "2.4.1", "1.2.3.4", "123456789"],
            ["", "1.2.3.4.5", "v1", "1.", "1234567890"],
        ),
        ("extension-name", ["x-", "x-a", "x-é b"], ["y-a", "X-a", "ax-", ""]),
        (
            "scalar",
            [None, True, False, 0, -1, 2**63 - 1, "", "é" * 256],
            [[1], {}, b"", 2**63, -(2**63) - 1, "x" * 1025],
        ),
        ("license-id", [b"a", b"a" * 64], [b"", b"a" * 65]),
        ("component-digest", [b"d" * 16, b"d" * 64], [b"d" * 15, b"d" * 65]),
    ],
)
def test_rule_bounds(rule: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        valid("license", cbor2.dumps(value), rule)
    for value in bad:
        invalid("license", cbor2.dumps(value), rule)


def test_grace_and_version_bounds_match_the_code() -> None:
    base = cbor2.loads(F.encode_license_payload(default_terms()))
    for term, good, bad in [("grace", [1, 10 * 366 * DAY], [0, 10 * 366 * DAY + 1]),
                            ("version", [1, MAX_COUNT], [0, MAX_COUNT + 1])]:  # fmt: skip
        for value, ok in [(v, True) for v in good] + [(v, False) for v in bad]:
            claims = {**base, -65537: {**base[-65537], term: value}}
            payload = encode_canonical(claims)
            if ok:
                valid("license", payload)
                F.decode_license_payload(payload)
            else:
                invalid("license", payload)
                with pytest.raises(LicenseError):
                    F.decode_license_payload(payload)


# --- the schema refuses what the verifier refuses ----------------------------------------------


def _license_claims(**overrides: Any) -> dict[Any, Any]:
    return cbor2.loads(F.encode_license_payload(default_terms(**overrides)))


def _with_terms(claims: dict[Any, Any], **changes: Any) -> dict[Any, Any]:
    terms = dict(claims[-65537], **changes)
    return {**claims, -65537: {k: v for k, v in terms.items() if v is not _DROP}}


_DROP = object()
_FLOATING = {"type": "floating", "lease_seconds": 3600}
_CONSUMPTION = {
    "type": "consumption",
    "expires": None,
    "grace_seconds": 0,
    "counters": {"c": F.Counter(5)},
}
_DEVICES = {"allowed_devices": (DEVICE_A,)}


def _drop_claim(claims: dict[Any, Any], key: int) -> dict[Any, Any]:
    return {k: v for k, v in claims.items() if k != key}


BAD_LICENSES: dict[str, Any] = {
    "unknown type string": lambda: _with_terms(_license_claims(), type="lifetime"),
    "feature value is a list": lambda: _with_terms(_license_claims(), features={"seats": [1, 2]}),
    "feature value is a map": lambda: _with_terms(_license_claims(), features={"seats": {"n": 1}}),
    "feature value is bytes": lambda: _with_terms(_license_claims(), features={"seats": b"5"}),
    "feature value beyond int64": lambda: _with_terms(_license_claims(), features={"n": 2**63}),
    "feature text over 1024 bytes": lambda: _with_terms(
        _license_claims(), features={"t": "x" * 1025}
    ),
    "features empty": lambda: _with_terms(_license_claims(), features={}),
    "missing iat": lambda: _drop_claim(_license_claims(), 6),
    "missing sub": lambda: _drop_claim(_license_claims(), 2),
    "missing cti": lambda: _drop_claim(_license_claims(), 7),
    "missing terms": lambda: _drop_claim(_license_claims(), -65537),
    "unknown claim 8": lambda: {**_license_claims(), 8: 1},
    "iat negative": lambda: {**_license_claims(), 6: -1},
    "exp after year 9999": lambda: {**_license_claims(grace_seconds=0), 4: MAX_TIMESTAMP + 1},
    "cti is text": lambda: {**_license_claims(), 7: "L-1"},
    "cti too long": lambda: {**_license_claims(), 7: b"L" * 65},
    "iss empty": lambda: {**_license_claims(), 1: ""},
    "format version 2": lambda: _with_terms(_license_claims(), v=2),
    "format version missing": lambda: _with_terms(_license_claims(), v=_DROP),
    "version missing": lambda: _with_terms(_license_claims(), version=_DROP),
    "type missing": lambda: _with_terms(_license_claims(), type=_DROP),
    "grace is text": lambda: _with_terms(_license_claims(), grace="14d"),
    "gate empty": lambda: _with_terms(_license_claims(), gate={}),
    "gate max_version not a version": lambda: _with_terms(
        _license_claims(), gate={"max_version": "v2"}
    ),
    "limit negative": lambda: _with_terms(_license_claims(), limits={"devices": -1}),
    "limit above 2^32-1": lambda: _with_terms(_license_claims(), limits={"users": 2**32}),
    "limit unknown beside a known one": lambda: _with_terms(
        _license_claims(), limits={"devices": 1, "seats": 2}
    ),
    "users empty": lambda: _with_terms(_license_claims(), users=[]),
    "user empty text": lambda: _with_terms(_license_claims(), users=[""]),
    "device digest of 15 bytes": lambda: _with_terms(
        _license_claims(**_DEVICES), devices=[{"machine-id": b"x" * 15}]
    ),
    "device digest is text": lambda: _with_terms(
        _license_claims(**_DEVICES), devices=[{"machine-id": "x" * 16}]
    ),
    "device_match zero": lambda: _with_terms(_license_claims(**_DEVICES), device_match=0),
    "device_match unknown word": lambda: _with_terms(
        _license_claims(**_DEVICES), device_match="any"
    ),
    "activation_required is 1": lambda: _with_terms(_license_claims(), activation_required=1),
    "counter without limit": lambda: _with_terms(
        _license_claims(**_CONSUMPTION), counters={"c": {"overage": 5}}
    ),
    "counter limit negative": lambda: _with_terms(
        _license_claims(**_CONSUMPTION), counters={"c": {"limit": -1}}
    ),
    "counter unknown member": lambda: _with_terms(
        _license_claims(**_CONSUMPTION), counters={"c": {"limit": 1, "reset": 2}}
    ),
    "lease of 59 seconds": lambda: _with_terms(_license_claims(**_FLOATING), lease=59),
    # A term holding its default value must be left out (one encoding per terms).
    "grace of 0": lambda: _with_terms(_license_claims(), grace=0),
    "activation_required false": lambda: _with_terms(_license_claims(), activation_required=False),
    "device_match all": lambda: _with_terms(_license_claims(**_DEVICES), device_match="all"),
    "counter overage 0": lambda: _with_terms(
        _license_claims(**_CONSUMPTION), counters={"c": {"limit": 1, "overage": 0}}
    ),
    "lease above a year": lambda: _with_terms(_license_claims(**_FLOATING), lease=366 * DAY + 1),
    "metadata value is a map": lambda: _with_terms(_license_claims(), metadata={"a": {}}),
    "extension value is a list": lambda: _with_terms(_license_claims(), **{"x-a": [1]}),
}


@pytest.mark.parametrize("case", list(BAD_LICENSES))
def test_schema_and_verifier_refuse_bad_license_payload(case: str) -> None:
    payload = encode_canonical(BAD_LICENSES[case]())
    invalid("license", payload)
    with pytest.raises(LicenseError):
        F.decode_license_payload(payload)


@pytest.mark.parametrize(
    "rule, name",
    [
        ("extension-name", "seats"),  # an unknown term without the x- prefix
        ("feature-name", "-export"),
        ("feature-name", "export step"),
        ("counter-name", "c" * 65),
        ("short-text", ""),  # a metadata key
        ("id", "L 1"),  # a cti that decodes to an invalid id
    ],
)
def test_key_rules_refuse_what_the_verifier_refuses(rule: str, name: str) -> None:
    assert not text_ok("license", rule, name)
    claims = _license_claims(**_CONSUMPTION)
    bad = {
        "extension-name": lambda: _with_terms(claims, **{name: 1}),
        "feature-name": lambda: _with_terms(claims, features={name: None}),
        "counter-name": lambda: _with_terms(claims, counters={name: {"limit": 1}}),
        "short-text": lambda: _with_terms(claims, metadata={name: 1}),
        "id": lambda: {**claims, 7: name.encode()},
    }[rule]()
    with pytest.raises(LicenseError):
        F.decode_license_payload(encode_canonical(bad))


def _certificate_claims(changes: dict[Any, Any]) -> dict[Any, Any]:
    claims = cbor2.loads(F.encode_certificate_payload(UnsafeFactory().certificate_info))
    return {k: v for k, v in {**claims, **changes}.items() if v is not _DROP}


def _key(changes: dict[int, Any]) -> dict[Any, Any]:
    """Certificate claims whose COSE_Key has ``changes`` applied."""
    key = {**_certificate_claims({})[8][1], **changes}
    return _certificate_claims({8: {1: {k: v for k, v in key.items() if v is not _DROP}}})


BAD_CERTIFICATES: dict[str, Any] = {
    "missing cnf": lambda: _certificate_claims({8: _DROP}),
    "missing exp": lambda: _certificate_claims({4: _DROP}),
    "unknown claim 1": lambda: _certificate_claims({1: "root"}),
    "iat is text": lambda: _certificate_claims({6: "2026-09-21"}),
    "crv X25519": lambda: _key({-1: 4}),
    "alg ES256": lambda: _key({3: -7}),
    "kty EC2": lambda: _key({1: 2}),
    "key of 31 bytes": lambda: _key({-2: b"\x01" * 31}),
    "key as text": lambda: _key({-2: "k" * 32}),
    "key without alg": lambda: _key({3: _DROP}),
    "format version 2": lambda: _certificate_claims({-65537: {"v": 2}}),
    "products empty": lambda: _certificate_claims({-65537: {"v": 1, "products": []}}),
    "product id invalid": lambda: _certificate_claims({-65537: {"v": 1, "products": ["a b"]}}),
    "unknown certificate term": lambda: _certificate_claims({-65537: {"v": 1, "usage": "x"}}),
}


@pytest.mark.parametrize("case", list(BAD_CERTIFICATES))
def test_schema_and_verifier_refuse_bad_certificate_payload(case: str) -> None:
    payload = encode_canonical(BAD_CERTIFICATES[case]())
    invalid("issuing-key-certificate", payload)
    with pytest.raises(LicenseError):
        decode_certificate_payload(payload)


def _protected(header: dict[int, Any]) -> bytes:
    return encode_canonical(header)


_CT = F.LICENSE.content_type
_KID = b"\x00" * 16

BAD_PROTECTED: dict[str, dict[int, Any]] = {
    "alg ES256": {1: -7, 3: _CT, 4: _KID},
    "alg missing": {3: _CT, 4: _KID},
    "content type unknown": {1: -8, 3: "application/cwt", 4: _KID},
    "content type reserved": {1: -8, 3: "application/vnd.licsign.revocation-list+cbor", 4: _KID},
    "content type as integer": {1: -8, 3: 61, 4: _KID},
    "kid of 15 bytes": {1: -8, 3: _CT, 4: _KID[:15]},
    "kid as an integer": {1: -8, 3: _CT, 4: 16},
    "kid missing": {1: -8, 3: _CT},
    "crit present": {1: -8, 2: [1], 3: _CT, 4: _KID},
    "unknown label 5": {1: -8, 3: _CT, 4: _KID, 5: b"iv"},
}


@pytest.mark.parametrize("case", list(BAD_PROTECTED))
def test_schema_refuses_bad_protected_header(factory: UnsafeFactory, case: str) -> None:
    protected = _protected(BAD_PROTECTED[case])
    invalid("envelope", protected, "protected-header")
    if case != "content type reserved":  # well-formed, refused later as the wrong kind
        document = (
            b"\xd2\x84"
            + cbor2.dumps(protected)
            + b"\xa0"
            + cbor2.dumps(b"{}")
            + cbor2.dumps(b"s" * 64)
        )
        with pytest.raises(LicenseError):
            parse_unverified(document)


BAD_ENVELOPES: dict[str, Any] = {
    "tag 17 (COSE_Mac0)": lambda p, u, y, s: cbor2.CBORTag(17, [p, u, y, s]),
    "no tag": lambda p, u, y, s: [p, u, y, s],
    "five elements": lambda p, u, y, s: cbor2.CBORTag(18, [p, u, y, s, b""]),
    "detached payload": lambda p, u, y, s: cbor2.CBORTag(18, [p, u, None, s]),
    "signature of 63 bytes": lambda p, u, y, s: cbor2.CBORTag(18, [p, u, y, s[:63]]),
    "protected header as a map": lambda p, u, y, s: cbor2.CBORTag(18, [cbor2.loads(p), u, y, s]),
    "signature as text": lambda p, u, y, s: cbor2.CBORTag(18, [p, u, y, "s" * 64]),
}


@pytest.mark.parametrize("case", list(BAD_ENVELOPES))
def test_schema_and_verifier_refuse_bad_envelope(factory: UnsafeFactory, case: str) -> None:
    document = cbor2.dumps(BAD_ENVELOPES[case](*cbor2.loads(factory.license()).value))
    invalid("envelope", document)
    with pytest.raises(LicenseError):
        parse_unverified(document)


@pytest.mark.parametrize(
    "rule, header",
    [
        ("license-unprotected", {13: b"not a document"}),
        ("license-unprotected", {13: "text"}),
        ("unprotected-header", {13: b"\x00", 1: -8}),
        ("license-unprotected", {}),
    ],
)
def test_schema_refuses_bad_unprotected_header(rule: str, header: dict[int, Any]) -> None:
    invalid("envelope", cbor2.dumps(header), rule)
