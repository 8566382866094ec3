"""Generated documents match the normative CDDL in schemas/ (docs/format.md §2–§8, §11).

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

* ``.regexp`` is searched, not matched against the whole text, whereas
  RFC 8610 §3.8.3 uses XSD regular expressions, which are implicitly
  anchored (``^`` and ``$`` are ordinary characters there). The schemas
  follow the RFC and carry no anchors; ``schema()`` below anchors each
  pattern (``^(?:…)$``) when it hands the text to pycddl.

A rule other than a file's first is validated by prepending
``test-root = <rule>`` to the file's text.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import cbor2
import pycddl
import pytest
from factory import T0, UnsafeFactory, default_terms, key_from_seed, public, signer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licverify import (
    BadSignatureError,
    LicenseError,
    MalformedError,
    UntrustedKeyError,
    format_fingerprint,
    machine_fingerprint,
    parse_fingerprint,
    verify_receipt,
    verify_request,
    verify_response,
)
from licverify import format as F
from licverify._activation import (
    _RECEIPT_CLAIMS,
    _RECEIPT_TERMS,
    _REQUEST_CLAIMS,
    _REQUEST_TERMS,
    _RESPONSE_CLAIMS,
    _RESPONSE_TERMS,
    ActivationRequest,
    ActivationResponse,
    DeactivationReceipt,
    decode_receipt_payload,
    decode_request_payload,
    decode_response_payload,
    encode_receipt_payload,
    encode_request_payload,
    encode_response_payload,
)
from licverify._cbor import decode_canonical, encode_canonical
from licverify._certificate import decode_certificate_payload
from licverify._cose import parse_unverified
from licverify._license import _KNOWN_TERMS, DEVICE_MATCH_WORDS, MAX_COUNT
from licverify._time import MAX_TIMESTAMP

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
DAY = 86400


#: A CDDL text string holding a .regexp pattern (RFC 8610 §3.1: JSON-style escapes).
_REGEXP = re.compile(r'\.regexp "((?:[^"\\]|\\.)*)"')


def anchor_for_pycddl(text: str) -> str:
    """The schema text with each .regexp pattern anchored, for a validator that searches.

    RFC 8610 patterns match the whole text (XSD); cddl-rs finds them anywhere in it.
    Wrapping each in ``^(?:…)$`` makes cddl-rs answer as the RFC does.
    """
    return _REGEXP.sub(lambda m: f'.regexp "^(?:{m.group(1)})$"', text)


@cache
def schema(name: str, rule: str | None = None) -> pycddl.Schema:
    text = anchor_for_pycddl((SCHEMAS / f"{name}.cddl").read_text(encoding="utf-8"))
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


#: Unprotected-header rules that are `{}` in envelope.cddl.
EMPTY_UNPROTECTED = (
    "certificate-unprotected", "request-unprotected", "receipt-unprotected", "rollover-unprotected",
)  # fmt: skip


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
    if unprotected_rule in EMPTY_UNPROTECTED:
        assert unprotected == {}  # pycddl accepts any map for `{}`; check it here
    if 13 in unprotected:
        # kcwt holds the certificate's COSE_Sign1 itself (format §4.3), whose own
        # unprotected header is `{}` (checked here, as pycddl accepts any map).
        embedded = unprotected[13]
        assert isinstance(embedded, cbor2.CBORTag) and embedded.tag == 18
        valid("envelope", cbor2.dumps(embedded), "embedded-certificate")
        assert embedded.value[1] == {}
    for link in unprotected.get(-65537, []):
        # Root rollovers (format §6.5): embedded like the certificate, each checked whole.
        valid("envelope", cbor2.dumps(link), "embedded-rollover")
        assert link.value[1] == {}
        check_rollover(cbor2.dumps(link))
    return unprotected, payload


def check_rollover(document: bytes) -> dict[Any, Any]:
    _, payload = check_envelope(document, "rollover-unprotected")
    assert cbor2.loads(cbor2.loads(document).value[0])[3] == F.ROOT_ROLLOVER.content_type
    valid("root-rollover", payload)
    return cbor2.loads(payload)


def embedded_certificate(document: bytes) -> bytes:
    """The certificate in kcwt, as the exact bytes of the document (not a re-encoding)."""
    certificate = parse_unverified(document).certificate
    assert certificate is not None and certificate in document
    return certificate


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
    check_certificate(embedded_certificate(document))
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
    "floating": {
        "type": "floating",
        "lease_seconds": 3600,
        "limits": F.Limits(max_users=10),
        "activation_required": True,
    },
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
        ),
        "activation_required": True,
    },
    "no-limits-no-features": {"limits": F.Limits(), "features": {}},
    "users": {
        "allowed_users": ("alice", "bob@example.com", "Zoë Müller", "u" * 256),
        "activation_required": True,
    },
    "refresh": {"refresh_seconds": 30 * DAY, "activation_required": True},
    "refresh-bounds-low": {"refresh_seconds": 3600, "activation_required": True,
                           "limits": F.Limits(max_devices=1)},
    "refresh-bounds-high": {"refresh_seconds": 10 * 366 * DAY, "activation_required": True},
    "at-expiry-maintain": {"at_expiry": "maintain"},
    "expires-after-activation": {
        "type": "trial",
        "expires": None,
        "expires_after_activation_seconds": 30 * DAY,
        "activation_required": True,
        "at_expiry": "maintain",
    },
    "expires-after-activation-bounds-low": {
        "expires": None,
        "grace_seconds": 0,
        "expires_after_activation_seconds": 3600,
        "activation_required": True,
    },
    "expires-after-activation-bounds-high": {
        "type": "subscription",
        "expires": None,
        "expires_after_activation_seconds": 10 * 366 * DAY,
        "activation_required": True,
    },
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
        "refresh_seconds": 7 * DAY,
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
        "activation_required": True,
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
    assert claims[-65537]["v"] == 2


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


def test_root_rollovers_match_the_schema() -> None:
    """A rollover on its own, and a license carrying one and four of them (format §6.5)."""
    roots = [key_from_seed(f"cddl-root-{i}") for i in range(5)]
    links = tuple(
        F.encode_sign1(
            F.ROOT_ROLLOVER,
            F.key_id(public(old)),
            F.encode_rollover_payload(F.RootRollover(public(new), F.key_id(public(old)), T0)),
            signer(old),
        )
        for old, new in pairwise(roots)
    )
    assert set(check_rollover(links[0])) == {6, 8, -65537}
    for chain in (links[:1], links):
        factory = UnsafeFactory(root=roots[len(chain)])
        document = F.encode_sign1(
            F.LICENSE, F.key_id(public(factory.issuing)),
            F.encode_license_payload(default_terms()), signer(factory.issuing),
            factory.certificate(), chain,
        )  # fmt: skip
        check_license(document)
        assert F.parse_unverified(document).rollovers == chain
    claims = cbor2.loads(F.parse_unverified(links[0]).payload)
    invalid("root-rollover", cbor2.dumps({**claims, 4: T0}))
    invalid("root-rollover", cbor2.dumps({**claims, -65537: {"v": 2, "products": ["a"]}}))


def test_usage_reports_and_refills_match_the_schema() -> None:
    """Format §14: a report with and without counters, and a refill; defects refused."""
    from licverify._usage import CounterRefill, UsageReport, encode_refill_payload
    from licverify._usage import encode_usage_payload

    common = dict(issued_at=T0, license_id="L-TEST-0000-0001", product="acme-cad",
                  device_key=public(key_from_seed("device")))  # fmt: skip
    for totals, refilled in (({}, {}), ({"exports": 3, "pages": 0}, {"exports": 5})):
        report = UsageReport(**common, seq=2, records=4, head=b"\x01" * 32, totals=totals,
                             refilled=refilled, clock=T0)  # fmt: skip
        valid("usage", encode_usage_payload(report), "usage-report-claims")
    refill = CounterRefill(**common, refill_id=b"\x02" * 16, activation_id="A-1",
                           counter="exports", amount=7)  # fmt: skip
    payload = encode_refill_payload(refill)
    valid("usage", payload, "refill-claims")
    claims = cbor2.loads(payload)
    claims[-65537]["add"] = {"exports": 1, "pages": 1}
    invalid("usage", cbor2.dumps(claims), "refill-claims")
    claims[-65537]["add"] = {"exports": 0}
    invalid("usage", cbor2.dumps(claims), "refill-claims")


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
                          allowed_users=tuple(users), version=version,
                          activation_required=bool(users))  # fmt: skip
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


def test_every_kind_is_in_the_envelope_schema() -> None:
    """Every kind of format version 2 is implemented and named in envelope.cddl (format §2);
    no other content type is."""
    for kind in F.KINDS:
        assert kind.implemented, kind
        assert text_ok("envelope", "document-content-type", kind.content_type), kind
    assert not text_ok("envelope", "document-content-type", "application/vnd.licsign.other+cbor")


# --- the schema's lists and bounds are the code's ------------------------------------------------


def _block(rule: str, name: str) -> str:
    text = (SCHEMAS / f"{name}.cddl").read_text(encoding="utf-8")
    block = re.search(rf"^{rule} = \{{(.*?)^\}}", text, re.MULTILINE | re.DOTALL)
    assert block is not None, rule
    return block.group(1)


def _members(rule: str, name: str = "license") -> set[str]:
    """The text member names of map rule ``rule``."""
    return set(re.findall(r'"([a-z_]+)":', _block(rule, name)))


def _claim_keys(rule: str, name: str) -> set[int]:
    """The integer keys of claims map ``rule``, resolving `iat => ...` through `iat = 6`."""
    text = (SCHEMAS / f"{name}.cddl").read_text(encoding="utf-8")
    labels = {m[0]: int(m[1]) for m in re.findall(r"^([a-z-]+) = (-?\d+)$", text, re.MULTILINE)}
    return {labels[member] for member in re.findall(r"([a-z-]+) =>", _block(rule, name))}


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
_FLOATING = {"type": "floating", "lease_seconds": 3600, "activation_required": True}
_CONSUMPTION = {
    "type": "consumption",
    "expires": None,
    "grace_seconds": 0,
    "counters": {"c": F.Counter(5)},
}
_DEVICES = {"allowed_devices": (DEVICE_A,)}
_REFRESH = {"refresh_seconds": 86400, "activation_required": True}
_AFTER_ACTIVATION = {
    "expires": None,
    "expires_after_activation_seconds": 30 * DAY,
    "activation_required": True,
}


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
    "format version 1": lambda: _with_terms(_license_claims(), v=1),
    "format version 3": lambda: _with_terms(_license_claims(), v=3),
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
    "refresh below an hour": lambda: _with_terms(_license_claims(**_REFRESH), refresh=3599),
    "refresh above ten years": lambda: _with_terms(
        _license_claims(**_REFRESH), refresh=10 * 366 * DAY + 1
    ),
    "refresh is text": lambda: _with_terms(_license_claims(**_REFRESH), refresh="30d"),
    # Null is never a second way to say "absent" (format §3.1).
    "iss null": lambda: {**_license_claims(), 1: None},
    "nbf null": lambda: {**_license_claims(), 5: None},
    "exp null": lambda: {**_license_claims(type="perpetual", expires=None, grace_seconds=0), 4: None},
    "lease null": lambda: _with_terms(_license_claims(), lease=None),
    "refresh null": lambda: _with_terms(_license_claims(**_REFRESH), refresh=None),
    "limits null": lambda: _with_terms(_license_claims(**_REFRESH), limits=None),
    "metadata value is a map": lambda: _with_terms(_license_claims(), metadata={"a": {}}),
    "extension value is a list": lambda: _with_terms(_license_claims(), **{"x-a": [1]}),
    "at_expiry restrict (the default)": lambda: _with_terms(
        _license_claims(), at_expiry="restrict"
    ),
    "at_expiry unknown": lambda: _with_terms(_license_claims(), at_expiry="extend"),
    "at_expiry null": lambda: _with_terms(_license_claims(), at_expiry=None),
    "at_expiry true": lambda: _with_terms(_license_claims(), at_expiry=True),
    "expires_after_activation below an hour": lambda: _with_terms(
        _license_claims(**_AFTER_ACTIVATION), expires_after_activation=3599
    ),
    "expires_after_activation above ten years": lambda: _with_terms(
        _license_claims(**_AFTER_ACTIVATION), expires_after_activation=10 * 366 * DAY + 1
    ),
    "expires_after_activation is text": lambda: _with_terms(
        _license_claims(**_AFTER_ACTIVATION), expires_after_activation="30d"
    ),
    "expires_after_activation null": lambda: _with_terms(
        _license_claims(**_AFTER_ACTIVATION), expires_after_activation=None
    ),
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
    "format version 1": lambda: _certificate_claims({-65537: {"v": 1}}),
    "format version 3": lambda: _certificate_claims({-65537: {"v": 3}}),
    "products empty": lambda: _certificate_claims({-65537: {"v": 2, "products": []}}),
    "products null": lambda: _certificate_claims({-65537: {"v": 2, "products": None}}),
    "product id invalid": lambda: _certificate_claims({-65537: {"v": 2, "products": ["a b"]}}),
    "unknown certificate term": lambda: _certificate_claims({-65537: {"v": 2, "usage": "x"}}),
    "nbf null": lambda: _certificate_claims({5: None}),
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
    "content type of no kind": {1: -8, 3: "application/vnd.licsign.other+cbor", 4: _KID},
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
    if True:  # the verifier refuses each of them too
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
        ("license-unprotected", {13: UnsafeFactory().certificate()}),  # format version 1's bstr
        ("license-unprotected", {13: cbor2.loads(UnsafeFactory().certificate()).value}),  # untagged
        ("license-unprotected", {13: cbor2.CBORTag(17, cbor2.loads(UnsafeFactory().certificate()).value)}),
        ("license-unprotected", {13: "text"}),
        ("unprotected-header", {13: b"\x00", 1: -8}),
        ("license-unprotected", {}),
        ("license-unprotected", {13: cbor2.loads(UnsafeFactory().certificate()), -65537: []}),
        ("license-unprotected", {13: cbor2.loads(UnsafeFactory().certificate()),
                                 -65537: [cbor2.loads(UnsafeFactory().certificate())] * 5}),
    ],
)
def test_schema_refuses_bad_unprotected_header(rule: str, header: dict[int, Any]) -> None:
    invalid("envelope", cbor2.dumps(header), rule)


# --- activation documents (format §11) ----------------------------------------------------------
#
# Built with the real encoders and signed like the store and the issuer sign them:
# requests and receipts by the device key they carry (kid = its key id, no
# certificate), responses by an issuing key whose certificate rides in kcwt.

DEVICE = key_from_seed("device")
OTHER_DEVICE = key_from_seed("other-device")
FP = {"machine-id": b"\x01" * 16, "hostname": b"\x02" * 32, "mac": b"\x03" * 64}
FP_MAX = {f"c{i}:x/y_{i}.z-" + "n" * 40: bytes([i]) * 64 for i in range(64)}
LICENSE_DOCUMENT = UnsafeFactory().license()
#: Certifies the issuing key for every possible iat, so any response time verifies.
WIDE = UnsafeFactory(not_before=0, not_after=MAX_TIMESTAMP)


def request_of(**changes: Any) -> ActivationRequest:
    fields: dict[str, Any] = dict(
        code=None, created_at=T0, device_key=public(DEVICE), fingerprint=FP, label="laptop",
        license_digest=F.license_digest(LICENSE_DOCUMENT), license_id="L-TEST-0000-0001",
        nonce=b"\x0a" * 16, product="acme-cad", user=None,
    )  # fmt: skip
    return ActivationRequest(**{**fields, **changes})


def response_of(**changes: Any) -> ActivationResponse:
    fields: dict[str, Any] = dict(
        activation_id="A-0001", device_key=public(DEVICE), fingerprint=FP, issued_at=T0,
        lease_expires=None, license_digest=F.license_digest(LICENSE_DOCUMENT),
        license_id="L-TEST-0000-0001", nonce=b"\x0a" * 16, user=None,
    )  # fmt: skip
    return ActivationResponse(**{**fields, **changes})


def receipt_of(**changes: Any) -> DeactivationReceipt:
    fields: dict[str, Any] = dict(
        activation_id="A-0001", created_at=T0 + DAY, device_key=public(DEVICE),
        license_digest=F.license_digest(LICENSE_DOCUMENT), license_id="L-TEST-0000-0001",
        nonce=b"\x0b" * 16,
    )  # fmt: skip
    return DeactivationReceipt(**{**fields, **changes})


def device_signed(kind: F.Kind, payload: bytes, key: Any = DEVICE, **extra: Any) -> bytes:
    """Sign as the store does: kid = key id of the device key, empty unprotected header."""
    return F.encode_sign1(kind, F.key_id(public(key)), payload, signer(key), **extra)


def issuing_signed(payload: bytes, factory: UnsafeFactory = WIDE, **extra: Any) -> bytes:
    """Sign as the issuer does a license: issuing key, its certificate in kcwt."""
    certificate = extra.pop("certificate", factory.certificate())
    return F.encode_sign1(F.ACTIVATION_RESPONSE, F.key_id(public(factory.issuing)), payload,
                          signer(factory.issuing), certificate, **extra)  # fmt: skip


def check_activation_keys(name: str, claims: dict[Any, Any]) -> None:
    """What the schema states for map keys (fingerprint component names)."""
    for component in claims[-65537].get("fingerprint", {}):
        assert text_ok(name, "component-name", component), component


def check_device_signed(document: bytes, kind: F.Kind, name: str) -> dict[Any, Any]:
    """A request or receipt: envelope, content type, kid naming its own device key, payload."""
    unprotected_rule = {F.ACTIVATION_REQUEST: "request-unprotected",
                        F.DEACTIVATION_RECEIPT: "receipt-unprotected"}[kind]  # fmt: skip
    _, payload = check_envelope(document, unprotected_rule)
    protected = cbor2.loads(cbor2.loads(document).value[0])
    assert protected[3] == kind.content_type
    valid(name, payload)
    claims: dict[Any, Any] = cbor2.loads(payload)
    assert protected[4] == F.key_id(claims[-65537]["device_key"])  # self-signed (format §11)
    check_activation_keys(name, claims)
    return claims


def check_response(document: bytes) -> dict[Any, Any]:
    unprotected, payload = check_envelope(document, "response-unprotected")
    assert cbor2.loads(cbor2.loads(document).value[0])[3] == F.ACTIVATION_RESPONSE.content_type
    check_certificate(embedded_certificate(document))
    valid("activation-response", payload)
    claims: dict[Any, Any] = cbor2.loads(payload)
    valid("activation-response", cbor2.dumps(claims[7].decode("ascii")), "id")
    check_activation_keys("activation-response", claims)
    return claims


REQUEST_CASES: dict[str, dict[str, Any]] = {
    "minimal": {},
    "user": {"user": "alice@example.com"},
    "code": {"code": "ACT-1234-5678"},
    "lease": {"lease": 3 * 86400},
    "lease-bounds": {"lease": 60},
    "user-and-code": {"user": "Zoë Müller", "code": "c", "label": "Zoë's laptop \U0001f4bb"},
    "lower-bounds": {
        "created_at": 0,
        "fingerprint": {"m": b"\x00" * 16},
        "label": "x",
        "license_id": "L",
        "product": "p",
    },
    "upper-bounds": {
        "created_at": MAX_TIMESTAMP,
        "fingerprint": FP_MAX,
        "label": "é" * 256,
        "user": "\U0001f600" * 256,
        "code": "c" * 256,
        "license_id": "L" + "1" * 63,
        "product": "p" * 64,
        "nonce": b"\xff" * 16,
    },
}

RESPONSE_CASES: dict[str, dict[str, Any]] = {
    "minimal": {},
    "lease": {"lease_expires": T0 + 3600},
    "lease-one-second": {"lease_expires": T0 + 1},
    "user": {"user": "alice@example.com"},
    "user-and-lease": {"user": "\U0001f600" * 256, "lease_expires": T0 + 30 * DAY},
    "license-expires": {"license_expires": T0 + 30 * DAY},
    "counters": {"counters": {"exports": 50, "pages": 2**63 - 1}},
    "license-expires-before-iat": {"license_expires": 0},  # a maintained license, re-activated
    "lower-bounds": {
        "issued_at": 0,
        "activation_id": "A",
        "license_id": "L",
        "fingerprint": {"m": b"\x00" * 16},
    },
    "upper-bounds": {
        "issued_at": MAX_TIMESTAMP - 1,
        "lease_expires": MAX_TIMESTAMP,
        "activation_id": "A" + "b._-" * 15 + "zzz",
        "license_id": "L" + "1" * 63,
        "fingerprint": FP_MAX,
        "user": "u" * 256,
        "license_expires": MAX_TIMESTAMP,
    },
}

RECEIPT_CASES: dict[str, dict[str, Any]] = {
    "typical": {},
    "lower-bounds": {"created_at": 0, "activation_id": "A", "license_id": "L"},
    "upper-bounds": {
        "created_at": MAX_TIMESTAMP,
        "activation_id": "A" * 64,
        "license_id": "L" * 64,
        "nonce": b"\xff" * 16,
        "license_digest": b"\xff" * 32,
    },
}


@pytest.mark.parametrize("case", list(REQUEST_CASES))
def test_activation_request_matches_schema(case: str) -> None:
    request = request_of(**REQUEST_CASES[case])
    document = device_signed(F.ACTIVATION_REQUEST, encode_request_payload(request))
    claims = check_device_signed(document, F.ACTIVATION_REQUEST, "activation-request")
    assert set(claims) == _REQUEST_CLAIMS
    assert ("user" in claims[-65537], "code" in claims[-65537]) == (
        request.user is not None, request.code is not None)  # fmt: skip
    assert verify_request(document) == request
    assert verify_request(F.armor(document, F.ACTIVATION_REQUEST)) == request


@pytest.mark.parametrize("case", list(RESPONSE_CASES))
def test_activation_response_matches_schema(case: str) -> None:
    response = response_of(**RESPONSE_CASES[case])
    document = issuing_signed(encode_response_payload(response))
    claims = check_response(document)
    assert (4 in claims) == (response.lease_expires is not None)
    assert ("user" in claims[-65537]) == (response.user is not None)
    assert verify_response(document, trusted_roots=WIDE.roots) == response
    armored = F.armor(document, F.ACTIVATION_RESPONSE)
    assert verify_response(armored, trusted_roots=WIDE.roots) == response


@pytest.mark.parametrize("case", list(RECEIPT_CASES))
def test_deactivation_receipt_matches_schema(case: str) -> None:
    receipt = receipt_of(**RECEIPT_CASES[case])
    document = device_signed(F.DEACTIVATION_RECEIPT, encode_receipt_payload(receipt))
    claims = check_device_signed(document, F.DEACTIVATION_RECEIPT, "deactivation-receipt")
    assert set(claims) == _RECEIPT_CLAIMS and set(claims[-65537]) == _RECEIPT_TERMS
    assert verify_receipt(document) == receipt
    assert verify_receipt(F.armor(document, F.DEACTIVATION_RECEIPT)) == receipt


def test_activation_cases_cover_every_claim_and_term() -> None:
    """The cases above exercise every claim and term of the three payloads."""
    groups: list[tuple[Any, Any, dict[str, dict[str, Any]], frozenset[int], frozenset[str]]] = [
        (encode_request_payload, request_of, REQUEST_CASES, _REQUEST_CLAIMS, _REQUEST_TERMS),
        (encode_response_payload, response_of, RESPONSE_CASES, _RESPONSE_CLAIMS, _RESPONSE_TERMS),
        (encode_receipt_payload, receipt_of, RECEIPT_CASES, _RECEIPT_CLAIMS, _RECEIPT_TERMS),
    ]
    for encode, make, cases, claims, terms in groups:
        payloads = [cbor2.loads(encode(make(**case))) for case in cases.values()]
        assert set().union(*payloads) == claims
        assert set().union(*(p[-65537] for p in payloads)) == terms


@pytest.mark.parametrize(
    "name, rule, claims, terms",
    [
        ("activation-request", "activation-request-claims", _REQUEST_CLAIMS, None),
        ("activation-request", "request-terms", None, _REQUEST_TERMS),
        ("activation-response", "activation-response-claims", _RESPONSE_CLAIMS, None),
        ("activation-response", "response-terms", None, _RESPONSE_TERMS),
        ("deactivation-receipt", "deactivation-receipt-claims", _RECEIPT_CLAIMS, None),
        ("deactivation-receipt", "receipt-terms", None, _RECEIPT_TERMS),
    ],
)
def test_activation_schema_members_are_the_codes(
    name: str, rule: str, claims: frozenset[int] | None, terms: frozenset[str] | None
) -> None:
    if claims is not None:
        assert _claim_keys(rule, name) == set(claims)
    if terms is not None:
        assert _members(rule, name) == set(terms)


def test_response_echoes_a_real_request_and_receipt_names_it() -> None:
    """One exchange end to end: request → response → receipt, each valid against its schema."""
    request = request_of(user="alice", code="ACT-1")
    check_device_signed(device_signed(F.ACTIVATION_REQUEST, encode_request_payload(request)),
                        F.ACTIVATION_REQUEST, "activation-request")  # fmt: skip
    response = response_of(nonce=request.nonce, device_key=request.device_key,
                           fingerprint=request.fingerprint, user=request.user,
                           lease_expires=T0 + 7 * DAY)  # fmt: skip
    response_doc = issuing_signed(encode_response_payload(response), UnsafeFactory())
    claims = check_response(response_doc)
    assert claims[-65537]["nonce"] == cbor2.loads(encode_request_payload(request))[7]
    receipt = receipt_of(activation_id=claims[7].decode("ascii"))
    receipt_claims = check_device_signed(
        device_signed(F.DEACTIVATION_RECEIPT, encode_receipt_payload(receipt)),
        F.DEACTIVATION_RECEIPT, "deactivation-receipt",
    )  # fmt: skip
    assert receipt_claims[-65537]["activation"].encode("ascii") == claims[7]


@given(
    label=st.text(min_size=1, max_size=256),
    user=st.none() | st.text(min_size=1, max_size=256),
    code=st.none() | st.text(min_size=1, max_size=256),
    fingerprint=st.dictionaries(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}", fullmatch=True),
        st.binary(min_size=16, max_size=64),
        min_size=1,
        max_size=6,
    ),
    lease=st.none() | st.integers(T0 + 1, MAX_TIMESTAMP),
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_activation_payloads_match_schema(
    label: str, user: str | None, code: str | None, fingerprint: dict[str, bytes], lease: int | None
) -> None:
    request = encode_request_payload(
        request_of(label=label, user=user, code=code, fingerprint=fingerprint)
    )
    valid("activation-request", request)
    check_activation_keys("activation-request", cbor2.loads(request))
    response = encode_response_payload(
        response_of(user=user, fingerprint=fingerprint, lease_expires=lease)
    )
    valid("activation-response", response)
    check_activation_keys("activation-response", cbor2.loads(response))


# --- the activation schemas refuse what the verifier refuses -------------------------------------


def _changed(payload: bytes, claims: dict[int, Any] | None = None, **terms: Any) -> dict[Any, Any]:
    """The claims of ``payload`` with claims and terms replaced (``_DROP`` removes one)."""
    base = cbor2.loads(payload)
    changed = {**base, -65537: {**base[-65537], **terms}, **(claims or {})}
    if isinstance(changed.get(-65537), dict):
        changed[-65537] = {k: v for k, v in changed[-65537].items() if v is not _DROP}
    return {k: v for k, v in changed.items() if v is not _DROP}


_REQUEST = encode_request_payload(request_of(user="alice", code="ACT-1"))
_RESPONSE = encode_response_payload(response_of(user="alice", lease_expires=T0 + DAY))
_RECEIPT = encode_receipt_payload(receipt_of())


def _request(claims: dict[int, Any] | None = None, /, **terms: Any) -> Any:
    return lambda: _changed(_REQUEST, claims, **terms)


def _response(claims: dict[int, Any] | None = None, /, **terms: Any) -> Any:
    return lambda: _changed(_RESPONSE, claims, **terms)


def _receipt(claims: dict[int, Any] | None = None, /, **terms: Any) -> Any:
    return lambda: _changed(_RECEIPT, claims, **terms)


_FP65 = {f"c{i}": b"\x01" * 16 for i in range(65)}

BAD_REQUESTS: dict[str, Any] = {
    "missing iat": _request({6: _DROP}),
    "missing cti": _request({7: _DROP}),
    "missing terms": _request({-65537: _DROP}),
    "terms not a map": _request({-65537: [1]}),
    "unknown claim exp": _request({4: T0 + DAY}),
    "unknown claim sub": _request({2: "globex"}),
    "iat negative": _request({6: -1}),
    "iat after year 9999": _request({6: MAX_TIMESTAMP + 1}),
    "iat is text": _request({6: "2026-09-21"}),
    "iat is true": _request({6: True}),
    "nonce of 15 bytes": _request({7: b"n" * 15}),
    "nonce of 17 bytes": _request({7: b"n" * 17}),
    "nonce is text": _request({7: "n" * 16}),
    "format version 1": _request(v=1),
    "format version 3": _request(v=3),
    "format version missing": _request(v=_DROP),
    "format version true": _request(v=True),
    "license missing": _request(license=_DROP),
    "license id with a space": _request(license="L 1"),
    "license id of 65 characters": _request(license="L" * 65),
    "license id as bytes": _request(license=b"L-1"),
    "license_digest missing": _request(license_digest=_DROP),
    "license_digest of 31 bytes": _request(license_digest=b"d" * 31),
    "license_digest as text": _request(license_digest="d" * 32),
    "product missing": _request(product=_DROP),
    "product invalid": _request(product="acme cad"),
    "device_key missing": _request(device_key=_DROP),
    "device_key of 31 bytes": _request(device_key=public(DEVICE)[:31]),
    "device_key of 33 bytes": _request(device_key=public(DEVICE) + b"\x00"),
    "device_key as text": _request(device_key="k" * 32),
    "fingerprint missing": _request(fingerprint=_DROP),
    "fingerprint empty": _request(fingerprint={}),
    "fingerprint as a list": _request(fingerprint=[FP]),
    "fingerprint digest of 15 bytes": _request(fingerprint={"m": b"d" * 15}),
    "fingerprint digest of 65 bytes": _request(fingerprint={"m": b"d" * 65}),
    "fingerprint digest as text": _request(fingerprint={"m": "d" * 16}),
    "fingerprint of 65 components": _request(fingerprint=_FP65),
    "label missing": _request(label=_DROP),
    "label empty": _request(label=""),
    "label over 1024 bytes": _request(label="x" * 1025),
    "label is an integer": _request(label=1),
    "user empty": _request(user=""),
    "user null": _request(user=None),
    "user is a list": _request(user=["alice"]),
    "code empty": _request(code=""),
    "code null": _request(code=None),
    "code is an integer": _request(code=1234),
    "unknown term": _request(seats=1),
    "extension term": _request(**{"x-note": "hi"}),  # no x- terms outside licenses
    "a response's term": _request(nonce=b"n" * 16),
}

BAD_RESPONSES: dict[str, Any] = {
    "missing iat": _response({6: _DROP}),
    "missing cti": _response({7: _DROP}),
    "missing terms": _response({-65537: _DROP}),
    "unknown claim nbf": _response({5: T0}),
    "unknown claim aud": _response({3: "acme-cad"}),
    "iat negative": _response({6: -1}),
    "iat is text": _response({6: "now"}),
    "lease after year 9999": _response({4: MAX_TIMESTAMP + 1}),
    "lease negative": _response({4: -1}),
    "lease is text": _response({4: "2026-10-01"}),
    "lease is true": _response({4: True}),
    "cti is text": _response({7: "A-0001"}),
    "cti empty": _response({7: b""}),
    "cti of 65 bytes": _response({7: b"A" * 65}),
    "format version 1": _response(v=1),
    "format version 3": _response(v=3),
    "format version missing": _response(v=_DROP),
    "license missing": _response(license=_DROP),
    "license id invalid": _response(license="-L"),
    "license_digest missing": _response(license_digest=_DROP),
    "license_digest of 33 bytes": _response(license_digest=b"d" * 33),
    "nonce missing": _response(nonce=_DROP),
    "nonce of 15 bytes": _response(nonce=b"n" * 15),
    "nonce as text": _response(nonce="n" * 16),
    "device_key missing": _response(device_key=_DROP),
    "device_key of 31 bytes": _response(device_key=b"k" * 31),
    "fingerprint missing": _response(fingerprint=_DROP),
    "fingerprint empty": _response(fingerprint={}),
    "fingerprint digest of 15 bytes": _response(fingerprint={"m": b"d" * 15}),
    "fingerprint of 65 components": _response(fingerprint=_FP65),
    "user empty": _response(user=""),
    "user null": _response(user=None),
    "user over 1024 bytes": _response(user="u" * 1025),
    "product term": _response(product="acme-cad"),  # a response names no product
    "label term": _response(label="laptop"),
    "extension term": _response(**{"x-note": "hi"}),
}

BAD_RECEIPTS: dict[str, Any] = {
    "missing iat": _receipt({6: _DROP}),
    "missing cti": _receipt({7: _DROP}),
    "missing terms": _receipt({-65537: _DROP}),
    "unknown claim exp": _receipt({4: T0 + DAY}),
    "iat negative": _receipt({6: -1}),
    "nonce of 15 bytes": _receipt({7: b"n" * 15}),
    "nonce as text": _receipt({7: "n" * 16}),
    "format version 1": _receipt(v=1),
    "format version 3": _receipt(v=3),
    "format version missing": _receipt(v=_DROP),
    "license missing": _receipt(license=_DROP),
    "license id invalid": _receipt(license="L/1"),
    "license_digest of 31 bytes": _receipt(license_digest=b"d" * 31),
    "license_digest missing": _receipt(license_digest=_DROP),
    "activation missing": _receipt(activation=_DROP),
    "activation as bytes": _receipt(activation=b"A-0001"),  # text here, bytes in a response cti
    "activation id invalid": _receipt(activation="A 1"),
    "activation id of 65 characters": _receipt(activation="A" * 65),
    "device_key missing": _receipt(device_key=_DROP),
    "device_key of 33 bytes": _receipt(device_key=b"k" * 33),
    "a request's term": _receipt(fingerprint=FP),
    "extension term": _receipt(**{"x-note": "hi"}),
}

_DECODERS = {
    "activation-request": decode_request_payload,
    "activation-response": decode_response_payload,
    "deactivation-receipt": decode_receipt_payload,
}


@pytest.mark.parametrize(
    "name, case",
    [("activation-request", c) for c in BAD_REQUESTS]
    + [("activation-response", c) for c in BAD_RESPONSES]
    + [("deactivation-receipt", c) for c in BAD_RECEIPTS],
)
def test_schema_and_verifier_refuse_bad_activation_payload(name: str, case: str) -> None:
    bad = {"activation-request": BAD_REQUESTS, "activation-response": BAD_RESPONSES,
           "deactivation-receipt": BAD_RECEIPTS}[name][case]()  # fmt: skip
    payload = cbor2.dumps(bad, canonical=True)  # bad values can be beyond encode_canonical
    invalid(name, payload)
    with pytest.raises(LicenseError):
        _DECODERS[name](payload)


@pytest.mark.parametrize(
    "name, rule, value, bad",
    [
        # Map keys and cti bytes: the schema names the rule; the test checks it.
        ("activation-request", "component-name", "-mac", _request(fingerprint={"-mac": b"d" * 16})),
        ("activation-response", "component-name", "a b", _response(fingerprint={"a b": b"d" * 16})),
        ("activation-response", "id", "A 1", _response({7: b"A 1"})),
        ("activation-response", "id", "-A", _response({7: b"-A"})),
    ],
)
def test_activation_key_rules_refuse_what_the_verifier_refuses(
    name: str, rule: str, value: str, bad: Any
) -> None:
    assert not text_ok(name, rule, value)
    with pytest.raises(LicenseError):
        _DECODERS[name](cbor2.dumps(bad(), canonical=True))


@pytest.mark.parametrize(
    "name, case, bad",
    [
        # Cross-field and key checks CDDL cannot state (format §11): the code refuses them.
        ("activation-response", "lease equal to iat", _response({4: T0})),
        ("activation-response", "lease before iat", _response({4: T0 - 1})),
        ("activation-response", "cti not ASCII", _response({7: "Aé".encode()})),
        ("activation-request", "small-order device key", _request(device_key=b"\x00" * 32)),
        ("activation-response", "small-order device key", _response(device_key=b"\x01" + b"\x00" * 31)),
        ("deactivation-receipt", "non-canonical device key", _receipt(device_key=b"\xff" * 31 + b"\x7f")),
    ],
)  # fmt: skip
def test_verifier_refuses_what_the_schema_cannot_state(name: str, case: str, bad: Any) -> None:
    payload = cbor2.dumps(bad(), canonical=True)
    valid(name, payload)  # the schema's comments and format §11 state these bounds
    with pytest.raises(LicenseError):
        _DECODERS[name](payload)


def test_response_with_null_lease_is_refused() -> None:
    """A null exp is not a second encoding of "no lease" (regression)."""
    payload = encode_canonical(_changed(_RESPONSE, {4: None}))
    invalid("activation-response", payload)
    with pytest.raises(LicenseError):
        decode_response_payload(payload)


# --- activation envelopes: who signs, what the unprotected header carries -----------------------


def test_device_signed_document_carrying_a_certificate_is_refused() -> None:
    """`{}` in pycddl accepts any map, so check_envelope asserts emptiness itself (as here)."""
    for kind, payload, verify in [
        (F.ACTIVATION_REQUEST, _REQUEST, verify_request),
        (F.DEACTIVATION_RECEIPT, _RECEIPT, verify_receipt),
    ]:
        document = device_signed(kind, payload, certificate=WIDE.certificate())
        rule = "request-unprotected" if kind is F.ACTIVATION_REQUEST else "receipt-unprotected"
        with pytest.raises(AssertionError):
            check_envelope(document, rule)
        with pytest.raises(MalformedError):
            verify(document)


def test_response_without_a_certificate_is_refused() -> None:
    document = issuing_signed(_RESPONSE, certificate=None)
    invalid("envelope", cbor2.dumps(cbor2.loads(document).value[1]), "response-unprotected")
    with pytest.raises(UntrustedKeyError):
        verify_response(document, trusted_roots=WIDE.roots)


def test_device_signed_document_names_its_own_key() -> None:
    """The envelope schema cannot tie kid to the payload's device key; the verifier does."""
    for kind, payload, verify in [
        (F.ACTIVATION_REQUEST, _REQUEST, verify_request),
        (F.DEACTIVATION_RECEIPT, _RECEIPT, verify_receipt),
    ]:
        other = device_signed(kind, payload, OTHER_DEVICE)  # kid and signature of another key
        valid("envelope", other)
        assert cbor2.loads(cbor2.loads(other).value[0])[4] != F.key_id(public(DEVICE))
        with pytest.raises(UntrustedKeyError):
            verify(other)
        forged = F.encode_sign1(kind, F.key_id(public(DEVICE)), payload, signer(OTHER_DEVICE))
        valid("envelope", forged)
        with pytest.raises(BadSignatureError):
            verify(forged)


@pytest.mark.parametrize(
    "header",
    [{}, {13: b"not a document"}, {13: "text"}, {1: -8}, {13: UnsafeFactory().certificate()}],
)
def test_schema_refuses_bad_response_unprotected_header(header: dict[int, Any]) -> None:
    invalid("envelope", cbor2.dumps(header), "response-unprotected")


# --- kcwt as registered, and RFC 8610 patterns (issue 6) ----------------------------------------


def test_kcwt_holds_the_certificate_itself(factory: UnsafeFactory) -> None:
    """Regression: kcwt is COSE_Messages (RFC 9528 §3.5.3.1), not a byte string holding one."""
    document = factory.license()
    unprotected = cbor2.loads(document).value[1]
    assert set(unprotected) == {13}
    embedded = unprotected[13]
    assert isinstance(embedded, cbor2.CBORTag) and embedded.tag == 18
    assert embedded.value[1] == {}
    assert document.count(factory.certificate()) == 1  # embedded as is, not wrapped
    assert embedded_certificate(document) == factory.certificate()
    valid("envelope", cbor2.dumps(unprotected), "license-unprotected")
    valid("envelope", cbor2.dumps(embedded), "embedded-certificate")
    # Format version 1's layout, the certificate in a byte string, no longer matches the schema.
    invalid("envelope", cbor2.dumps({13: factory.certificate()}), "license-unprotected")


def test_schema_patterns_follow_rfc_8610() -> None:
    """Regression: `.regexp` patterns are XSD (RFC 8610 §3.8.3), so they carry no ^ or $ anchors."""
    found = []
    for path in sorted(SCHEMAS.glob("*.cddl")):
        code = "\n".join(line.split(";", 1)[0] for line in path.read_text("utf-8").splitlines())
        for pattern in _REGEXP.findall(code):
            found.append(pattern)
            assert "^" not in pattern and "$" not in pattern, f"{path.name}: {pattern}"
    assert len(found) >= 10  # id, feature-name, component-name, version-text, extension-name...


def test_harness_anchors_patterns_for_pycddl() -> None:
    """pycddl searches; the harness anchors, so whole-text matching is what the tests check."""
    raw = (SCHEMAS / "license.cddl").read_text("utf-8")
    searching = pycddl.Schema(f"test-root = id\n{raw}")
    searching.validate_cbor(cbor2.dumps("a b"))  # "a" is found inside: pycddl alone accepts it
    assert not text_ok("license", "id", "a b")  # anchored, as RFC 8610 reads the pattern
    assert anchor_for_pycddl('x = tstr .regexp "a\\.b"') == 'x = tstr .regexp "^(?:a\\.b)$"'
    for value in ("-a", "a\n", "x" * 65):
        assert not text_ok("license", "id", value)
    assert text_ok("license", "extension-name", "x-line\nbreak")
    assert not text_ok("license", "extension-name", "ax-")
