"""verify_license and verify_certificate on well-formed documents: what comes back, and every verdict.

Documents come from tests/factory.py (deterministic keys, T0 as "now"). The
defect catalogue (one broken field per case) is in test_rejections.py.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
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
    key_from_seed,
    public,
    signer,
)

import licverify
from licverify import (
    BadSignatureError,
    ClockRolledBackError,
    Counter,
    ExpiredError,
    InternalError,
    License,
    LicenseError,
    LimitReachedError,
    Limits,
    MalformedError,
    NotActivatedError,
    NotYetValidError,
    RevokedError,
    Status,
    StoreError,
    TrustedRoots,
    UnsupportedError,
    UntrustedKeyError,
    VersionNotAllowedError,
    WrongKindError,
    WrongMachineError,
    WrongProductError,
    fingerprint_matches,
)

DAY = 86400
PRODUCT = "acme-cad"
FACTORY = UnsafeFactory()


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


#: Public data attributes of License (slots or properties), excluding methods and ``terms``.
LICENSE_ATTRIBUTES = sorted(
    name for name in dir(License)
    if not name.startswith("_") and name != "terms" and not callable(getattr(License, name))
)  # fmt: skip


def verify(doc: bytes, *, when: float = T0, f: UnsafeFactory = FACTORY, product: str = PRODUCT,
           **kwargs: Any) -> License:  # fmt: skip
    return licverify.verify_license(
        doc, trusted_roots=f.roots, product=product, now=at(when), **kwargs
    )


def lic(**overrides: Any) -> bytes:
    return FACTORY.license(default_terms(**overrides))


DEVICE_KEY = public(key_from_seed("verify-device"))


def response_for(doc: bytes, fingerprint: Any, *, expires: int | None = None,
                 issued_at: int = T0 - 60) -> bytes:  # fmt: skip
    """An activation response for ``doc`` on DEVICE_KEY, signed by FACTORY's issuing key."""
    doc, _ = F.dearmor(doc)
    response = F.ActivationResponse(
        activation_id="A-VERIFY-1", device_key=DEVICE_KEY, fingerprint=fingerprint,
        issued_at=issued_at, lease_expires=expires, license_digest=F.license_digest(doc),
        license_id=F.decode_license_payload(F.parse_unverified(doc).payload).id,
        nonce=b"\x0a" * 16, user=None,
    )  # fmt: skip
    return F.encode_sign1(F.ACTIVATION_RESPONSE, F.key_id(public(ISSUING)),
                          F.encode_response_payload(response), signer(ISSUING),
                          FACTORY.certificate())  # fmt: skip


def verify_activated(doc: bytes, fingerprint: Any, *, expires: int | None = None,
                     when: float = T0, **kwargs: Any) -> License:  # fmt: skip
    """verify_license with an activation response for ``doc`` installed on this machine."""
    activation = response_for(doc, fingerprint, expires=expires)
    return verify(doc, when=when, fingerprint=fingerprint, activation=activation,
                  device_key=DEVICE_KEY, **kwargs)  # fmt: skip


# --- round trip of every term --------------------------------------------------------------------

DEVICE_A = {
    "cpu": b"\xa1" * 16,
    "hostname": b"\xa2" * 20,
    "mac": b"\xa3" * 32,
    "machine-id": b"\xa4" * 64,
}
DEVICE_B = {"cpu": b"\xb1" * 16, "machine-id": b"\xb4" * 16}

FULL_TERMS = default_terms(
    id="L-FULL.TERMS_round-trip",
    version=7,
    issuer="Acme Inc. — EMEA",
    customer="globex.eu",
    product=PRODUCT,
    type="floating",
    issued_at=T0 - 100,
    not_before=T0 - 50,
    expires=T0 + 30 * DAY,
    grace_seconds=3 * DAY,
    features={"export": None, "seats": 5, "beta": True, "legacy": False, "offset": -3,
              "tier": "gold", "ns:sub/feature.v2": "ü" * 256, "big": 2**63 - 1, "small": -(2**63)},
    max_version="4.2",
    maintenance_end=T0 + 400 * DAY,
    limits=Limits(max_devices=1, max_users=2, max_devices_per_user=3, max_transfers=4),
    allowed_users=("alice@example.com", "bob", "Zoë"),
    allowed_devices=(DEVICE_A, DEVICE_B),
    device_match=2,
    activation_required=True,
    counters={"api-calls": Counter(1000, 50), "exports": Counter(10), "zero": Counter(0)},
    lease_seconds=3600,
    refresh_seconds=7 * DAY,
    metadata={"po": "PO-1234", "note": "naïve café", "n": 42, "flag": True, "empty": None},
    extensions={"x-tenant": "t1", "x-n": -5, "x-on": True, "x-none": None},
    at_expiry="maintain",
)  # fmt: skip


def test_round_trip_of_every_term() -> None:
    doc = FACTORY.license(FULL_TERMS)
    activation = response_for(doc, DEVICE_A, expires=T0 + 3600)
    got = verify(doc, fingerprint=DEVICE_A, app_version="4.2", app_release_date=at(T0),
                 activation=activation, device_key=DEVICE_KEY)  # fmt: skip
    expected: dict[str, Any] = {
        "id": "L-FULL.TERMS_round-trip",
        "version": 7,
        "issuer": "Acme Inc. — EMEA",
        "customer": "globex.eu",
        "product": PRODUCT,
        "type": "floating",
        "issued_at": at(T0 - 100),
        "not_before": at(T0 - 50),
        "expires": at(T0 + 30 * DAY),
        "grace": timedelta(days=3),
        "features": FULL_TERMS.features,
        "max_version": "4.2",
        "maintenance_end": at(T0 + 400 * DAY),
        "limits": Limits(1, 2, 3, 4),
        "allowed_users": ("alice@example.com", "bob", "Zoë"),
        "allowed_devices": (DEVICE_A, DEVICE_B),
        "device_match": 2,
        "activation_required": True,
        "counters": {
            "api-calls": Counter(1000, 50),
            "exports": Counter(10, 0),
            "zero": Counter(0, 0),
        },
        "lease": timedelta(hours=1),
        "refresh": timedelta(days=7),
        "metadata": FULL_TERMS.metadata,
        "extensions": FULL_TERMS.extensions,
        "at_expiry": "maintain",
        "expires_after_activation": None,
        "effective_expires": at(T0 + 30 * DAY),
        "status": Status.VALID,
        "grace_days_left": None,
        "certificate": FACTORY.certificate_info,
        "activation": licverify.verify_response(activation, trusted_roots=FACTORY.roots),
        "digest": hashlib.sha256(doc).hexdigest(),
        "document": doc,
    }
    # Every public attribute is covered: a new slot must be added here too.
    assert set(expected) == set(LICENSE_ATTRIBUTES)
    for name, value in expected.items():
        assert getattr(got, name) == value, name
    assert got.terms == FULL_TERMS
    assert got.certificate.root_key_id == F.key_id(public(ROOT))
    assert got.certificate.key_id == F.key_id(public(ISSUING))
    assert all(t.tzinfo is not None for t in (got.issued_at, got.not_before, got.expires))
    assert got.has_feature("export") and got.has_feature("seats") and not got.has_feature("Export")


def test_activation_required_round_trips_through_the_payload() -> None:
    terms = default_terms(activation_required=True)
    assert F.decode_license_payload(F.encode_license_payload(terms)) == terms


def test_minimal_license_has_empty_defaults() -> None:
    terms = default_terms(
        type="perpetual", issuer=None, not_before=None, expires=None, grace_seconds=0,
        features={}, limits=Limits(),
    )  # fmt: skip
    got = verify(FACTORY.license(terms))
    assert (got.issuer, got.not_before, got.expires, got.lease) == (None, None, None, None)
    assert got.grace == timedelta(0)
    assert dict(got.features) == {} and dict(got.counters) == {} and dict(got.metadata) == {}
    assert got.limits == Limits(None, None, None, None)
    assert (got.allowed_users, got.allowed_devices, got.device_match) == ((), (), "all")
    assert (got.max_version, got.maintenance_end) == (None, None)
    assert got.status is Status.VALID and got.grace_days_left is None


def test_to_json_names_the_verdict_and_key() -> None:
    got = verify(lic())
    data = got.to_json()
    assert data["status"] == "valid" and data["grace_days_left"] is None
    assert data["id"] == got.id and data["key_id"] == F.key_id(public(ISSUING)).hex()
    assert data["digest"] == got.digest and data["expires"] == "2027-09-21T14:13:20Z"


# --- a valid license of each type ----------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"type": "perpetual", "expires": None, "grace_seconds": 0}, id="perpetual"),
        pytest.param({"type": "time-limited"}, id="time-limited"),
        pytest.param({"type": "subscription", "expires": T0 + 31 * DAY, "grace_seconds": 7 * DAY}, id="subscription"),
        pytest.param({"type": "trial", "expires": T0 + 30 * DAY, "grace_seconds": 0, "features": {"trial": True}}, id="trial"),
        pytest.param({"type": "consumption", "expires": None, "grace_seconds": 0,
                          "counters": {"renders": Counter(500, 25), "exports": Counter(0)}}, id="consumption"),
        pytest.param({"type": "floating", "lease_seconds": 15 * 60, "activation_required": True}, id="floating-with-expiry"),
        pytest.param({"type": "floating", "expires": None, "grace_seconds": 0, "lease_seconds": 60,
                      "activation_required": True}, id="floating-perpetual"),
    ],
)  # fmt: skip
def test_valid_license_of_each_type(overrides: dict[str, Any]) -> None:
    terms = default_terms(**overrides)
    doc = FACTORY.license(terms)
    got = verify(doc) if not terms.activation_required else verify_activated(doc, FOUR, expires=T0 + 60)
    assert got.type == terms.type
    assert got.status is Status.VALID
    assert got.terms == terms
    assert got.lease == (
        None if terms.lease_seconds is None else timedelta(seconds=terms.lease_seconds)
    )
    assert dict(got.counters) == dict(terms.counters)
    if terms.type == "consumption":
        assert got.counters["renders"] == Counter(limit=500, overage=25)
        assert got.counters["exports"].overage == 0


def test_perpetual_license_is_valid_far_in_the_future() -> None:
    doc = lic(type="perpetual", expires=None, grace_seconds=0)
    assert verify(doc, when=253402300799).status is Status.VALID


# --- time: not-before, expiry, grace -------------------------------------------------------------

EXPIRES = T0 + 365 * DAY
GRACE_END = EXPIRES + 14 * DAY


@pytest.mark.parametrize(
    "when, status, days_left",
    [
        pytest.param(T0, Status.VALID, None, id="start"),
        pytest.param(EXPIRES - 1, Status.VALID, None, id="one-second-before-expiry"),
        pytest.param(EXPIRES, Status.GRACE, 14, id="exactly-at-expiry"),
        pytest.param(EXPIRES + 1, Status.GRACE, 14, id="one-second-into-grace"),
        pytest.param(EXPIRES + DAY, Status.GRACE, 13, id="one-day-into-grace"),
        pytest.param(GRACE_END - DAY - 1, Status.GRACE, 2, id="a-day-and-a-second-left"),
        pytest.param(GRACE_END - DAY, Status.GRACE, 1, id="exactly-one-day-left"),
        pytest.param(GRACE_END - 1, Status.GRACE, 1, id="one-second-before-end-of-grace"),
    ],
)
def test_status_and_grace_days_left(when: int, status: Status, days_left: int | None) -> None:
    got = verify(lic(), when=when)
    assert got.status is status
    assert got.grace_days_left == days_left


@pytest.mark.parametrize("when", [GRACE_END, GRACE_END + 1, GRACE_END + 10 * 365 * DAY], ids=["exactly-at-end-of-grace", "after", "long-after"])  # fmt: skip
def test_expired_at_end_of_grace(when: int) -> None:
    with pytest.raises(ExpiredError) as info:
        verify(lic(), when=when)
    assert info.value.code == "expired"
    assert "grace ended" in str(info.value)


def test_without_grace_expiry_is_immediate() -> None:
    doc = lic(grace_seconds=0)
    assert verify(doc, when=EXPIRES - 1).status is Status.VALID
    with pytest.raises(ExpiredError):
        verify(doc, when=EXPIRES)


def test_sub_second_times_round_down() -> None:
    doc = lic(grace_seconds=0)
    assert verify(doc, when=EXPIRES - 0.001).status is Status.VALID
    with pytest.raises(ExpiredError):
        verify(doc, when=EXPIRES + 0.999)


def test_not_before_boundary() -> None:
    doc = lic(not_before=T0 + 3600)
    with pytest.raises(NotYetValidError) as info:
        verify(doc, when=T0 + 3599)
    assert info.value.code == "not-yet-valid"
    with pytest.raises(NotYetValidError):
        verify(doc, when=T0 + 3599.999)
    assert verify(doc, when=T0 + 3600).status is Status.VALID


def test_without_not_before_issue_time_does_not_gate() -> None:
    # Only nbf gates the start; a clock slightly behind the issuer still works.
    assert verify(lic(not_before=None), when=T0 - 3600).status is Status.VALID


def test_time_zone_of_now_does_not_matter() -> None:
    doc = lic(not_before=T0 + 3600)
    plus_two = timezone(timedelta(hours=2))
    with pytest.raises(NotYetValidError):
        licverify.verify_license(doc, trusted_roots=FACTORY.roots, product=PRODUCT,
                                 now=datetime.fromtimestamp(T0 + 3599, plus_two))  # fmt: skip
    got = licverify.verify_license(doc, trusted_roots=FACTORY.roots, product=PRODUCT,
                                   now=datetime.fromtimestamp(T0 + 3600, plus_two))  # fmt: skip
    assert got.status is Status.VALID


# --- product and trust chain ---------------------------------------------------------------------


def test_wrong_product() -> None:
    with pytest.raises(WrongProductError) as info:
        verify(lic(), product="acme-viewer")
    assert info.value.code == "wrong-product"
    with pytest.raises(WrongProductError):
        verify(lic(), product="ACME-CAD")


def test_issuing_key_not_allowed_for_product() -> None:
    restricted = UnsafeFactory(products=("acme-viewer", "acme-cam"))
    with pytest.raises(WrongProductError) as info:
        verify(restricted.license(), f=restricted)
    assert "may not sign" in str(info.value)
    allowed = UnsafeFactory(products=("acme-viewer", PRODUCT))
    got = verify(allowed.license(), f=allowed)
    assert got.certificate.products == ("acme-viewer", PRODUCT)


@pytest.mark.parametrize(
    "issued_at, ok",
    [
        pytest.param(T0 - 1, False, id="one-second-before-key-window"),
        pytest.param(T0, True, id="at-key-not-before"),
        pytest.param(T0 + 999, True, id="last-second-of-key-window"),
        pytest.param(T0 + 1000, False, id="at-key-not-after-exclusive"),
    ],
)
def test_license_issued_outside_certificate_window(issued_at: int, ok: bool) -> None:
    f = UnsafeFactory(not_before=T0, not_after=T0 + 1000)
    doc = f.license(default_terms(issued_at=issued_at, not_before=None))
    if ok:
        assert verify(doc, f=f, when=T0 + 2000).issued_at == at(issued_at)
    else:
        with pytest.raises(UntrustedKeyError) as info:
            verify(doc, f=f, when=T0 + 2000)
        assert "outside its issuing key's validity" in str(info.value)


def test_license_outlives_its_issuing_key() -> None:
    # The key window bounds when a license may be issued, not how long it lasts.
    f = UnsafeFactory(not_before=T0 - 10, not_after=T0 + 10)
    assert verify(f.license(), f=f, when=T0 + 300 * DAY).status is Status.VALID


def test_untrusted_root() -> None:
    with pytest.raises(UntrustedKeyError) as info:
        licverify.verify_license(
            lic(), trusted_roots=[public(OTHER_ROOT)], product=PRODUCT, now=at(T0)
        )
    assert info.value.code == "untrusted-key"


def test_any_of_several_trusted_roots() -> None:
    roots = TrustedRoots([public(OTHER_ROOT), public(ROOT)])
    assert len(roots) == 2 and set(roots.keys) == {public(OTHER_ROOT), public(ROOT)}
    other = UnsafeFactory(root=OTHER_ROOT, issuing=OTHER_ISSUING)
    for f in (FACTORY, other):
        got = licverify.verify_license(
            f.license(), trusted_roots=roots, product=PRODUCT, now=at(T0)
        )
        assert got.certificate.root_key_id == F.key_id(f.roots[0])


def test_kid_does_not_match_certificate() -> None:
    doc = FACTORY.license(kid=F.key_id(public(OTHER_ISSUING)))
    with pytest.raises(UntrustedKeyError) as info:
        verify(doc)
    assert "does not name" in str(info.value)


def test_kid_matches_but_another_key_signed() -> None:
    with pytest.raises(BadSignatureError) as info:
        verify(FACTORY.license(sign_with=OTHER_ISSUING))
    assert info.value.code == "bad-signature"


# --- version gate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "app_version, ok",
    [
        ("2.4", True), ("2.4.0", True), ("2.4.0.0", True), ("2.3.99", True), ("1", True), ("0.0.0.1", True),
        ("2.4.1", False), ("2.4.0.1", False), ("2.5", False), ("3", False), ("10.0", False), ("2.40", False),
    ],
)  # fmt: skip
def test_max_version_gate(app_version: str, ok: bool) -> None:
    doc = lic(max_version="2.4")
    if ok:
        assert verify(doc, app_version=app_version).max_version == "2.4"
    else:
        with pytest.raises(VersionNotAllowedError) as info:
            verify(doc, app_version=app_version)
        assert info.value.code == "version-not-allowed"


def test_version_gate_numeric_not_lexical() -> None:
    doc = lic(max_version="10.0")
    assert verify(doc, app_version="9.99").max_version == "10.0"
    with pytest.raises(VersionNotAllowedError):
        verify(doc, app_version="10.0.1")


def test_version_gate_needs_an_app_version() -> None:
    assert verify(lic(max_version="1.0")).max_version == "1.0"


def test_maintenance_end_vs_release_date() -> None:
    end = T0 + 100 * DAY
    doc = lic(maintenance_end=end)
    assert verify(doc, app_release_date=at(end)).maintenance_end == at(end)
    assert verify(doc, app_release_date=at(end - 1)).status is Status.VALID
    assert verify(doc).status is Status.VALID  # no release date given: not checked
    with pytest.raises(VersionNotAllowedError):
        verify(doc, app_release_date=at(end + 1))


def test_both_gates_apply() -> None:
    doc = lic(max_version="3.0", maintenance_end=T0)
    assert verify(doc, app_version="3.0", app_release_date=at(T0)).status is Status.VALID
    with pytest.raises(VersionNotAllowedError):
        verify(doc, app_version="3.0", app_release_date=at(T0 + 1))
    with pytest.raises(VersionNotAllowedError):
        verify(doc, app_version="3.1", app_release_date=at(T0))


@pytest.mark.parametrize("bad", ["2.x", "", "v2", "1.2.3.4.5", "1234567890", " 1.0", "1..0"])
def test_malformed_app_version_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        verify(lic(max_version="2.0"), app_version=bad)


@pytest.mark.parametrize(
    "bad",
    ["３", "٣.٤", "2.٤", "１.0", "2.4\n", "²"],
    ids=["fullwidth", "arabic-indic", "mixed", "fullwidth-part", "trailing-newline", "superscript"],
)
def test_app_version_digits_are_ascii(bad: str) -> None:
    # The format's version text is [0-9] only (schemas/license.cddl version-text); the argument
    # check must not be laxer than the payload check (int("３") == 3 would compare "fine").
    with pytest.raises(ValueError):
        verify(lic(max_version="3.4"), app_version=bad)


def test_app_version_must_be_text() -> None:
    with pytest.raises(TypeError):
        verify(lic(), app_version=2.4)  # type: ignore[arg-type]


# --- device binding ------------------------------------------------------------------------------

FOUR = {
    "cpu": b"\x01" * 16,
    "hostname": b"\x02" * 16,
    "mac": b"\x03" * 16,
    "machine-id": b"\x04" * 16,
}


def matching(n: int, listed: dict[str, bytes] = FOUR) -> dict[str, bytes]:
    """A fingerprint where exactly the first ``n`` listed components match (the rest differ)."""
    names = sorted(listed)
    return {name: listed[name] if i < n else b"\xee" * 16 for i, name in enumerate(names)}


@pytest.mark.parametrize(
    "policy, matched, ok",
    [
        pytest.param(3, 2, False, id="k3-with-2"),
        pytest.param(3, 3, True, id="k3-with-3"),
        pytest.param(3, 4, True, id="k3-with-4"),
        pytest.param(1, 0, False, id="k1-with-0"),
        pytest.param(1, 1, True, id="k1-with-1"),
        pytest.param(4, 3, False, id="k4-with-3"),
        pytest.param(4, 4, True, id="k4-with-4"),
        pytest.param("most", 2, False, id="most-2-of-4"),
        pytest.param("most", 3, True, id="most-3-of-4"),
        pytest.param("all", 3, False, id="all-3-of-4"),
        pytest.param("all", 4, True, id="all-4-of-4"),
    ],
)
def test_device_binding_threshold(policy: str | int, matched: int, ok: bool) -> None:
    doc = lic(allowed_devices=(FOUR,), device_match=policy)
    fp = matching(matched)
    assert fingerprint_matches(FOUR, fp, policy) is ok
    if ok:
        assert verify(doc, fingerprint=fp).device_match == policy
    else:
        with pytest.raises(WrongMachineError) as info:
            verify(doc, fingerprint=fp)
        assert info.value.code == "wrong-machine"


def test_most_with_an_odd_number_of_components() -> None:
    three = {"a": b"\x01" * 16, "b": b"\x02" * 16, "c": b"\x03" * 16}
    doc = lic(allowed_devices=(three,), device_match="most")
    with pytest.raises(WrongMachineError):
        verify(doc, fingerprint=matching(1, three))
    assert verify(doc, fingerprint=matching(2, three)).status is Status.VALID


def test_missing_components_do_not_match() -> None:
    doc = lic(allowed_devices=(FOUR,), device_match=2)
    only_one = {"cpu": FOUR["cpu"]}
    with pytest.raises(WrongMachineError):
        verify(doc, fingerprint=only_one)
    # Extra components on this machine are ignored.
    assert verify(doc, fingerprint={**matching(2), "extra": b"\x09" * 16}).status is Status.VALID


def test_any_listed_device_may_match() -> None:
    other = {"cpu": b"\x05" * 16, "machine-id": b"\x06" * 16}
    doc = lic(allowed_devices=(FOUR, other))
    assert verify(doc, fingerprint=other).status is Status.VALID
    assert verify(doc, fingerprint=FOUR).status is Status.VALID
    with pytest.raises(WrongMachineError):
        verify(doc, fingerprint={**other, "cpu": b"\x07" * 16})


def test_missing_fingerprint_is_wrong_machine() -> None:
    with pytest.raises(WrongMachineError) as info:
        verify(lic(allowed_devices=(FOUR,)))
    assert "no machine fingerprint" in str(info.value)


@pytest.mark.parametrize(
    "bad",
    [licverify.format_fingerprint(FOUR), [("cpu", FOUR["cpu"])], 5, b"\x01" * 16],
    ids=["fingerprint-text-form", "list-of-pairs", "int", "bytes"],
)
@pytest.mark.parametrize("bound", [True, False], ids=["bound", "unbound"])
def test_fingerprint_of_wrong_type_is_type_error(bad: object, bound: bool) -> None:
    # STYLE §6: a wrong argument type is a TypeError, not InternalError (and not silently ignored).
    # Passing the text form instead of parse_fingerprint(text) is the likely mistake.
    doc = lic(allowed_devices=(FOUR,)) if bound else lic()
    with pytest.raises(TypeError):
        verify(doc, fingerprint=bad)


def test_unbound_license_ignores_fingerprint() -> None:
    assert verify(lic(), fingerprint={"cpu": b"\x00" * 16}).status is Status.VALID


def test_real_machine_fingerprint_binds() -> None:
    fp = licverify.machine_fingerprint(PRODUCT, machine_id="host-1234")
    doc = lic(allowed_devices=(dict(fp),))
    assert verify(doc, fingerprint=fp).status is Status.VALID
    text = licverify.format_fingerprint(fp)
    assert licverify.parse_fingerprint(text) == fp
    other = licverify.machine_fingerprint(PRODUCT, machine_id="host-9999")
    assert other["machine-id"] != fp["machine-id"]
    assert (
        licverify.machine_fingerprint("other-product", machine_id="host-1234")["machine-id"]
        != fp["machine-id"]
    )
    with pytest.raises(WrongMachineError):
        verify(doc, fingerprint=other)


# --- activation ----------------------------------------------------------------------------------


def test_activation_required_is_not_activated() -> None:
    with pytest.raises(NotActivatedError) as info:
        verify(lic(activation_required=True))
    assert info.value.code == "not-activated"


REFRESHED = {"activation_required": True, "refresh_seconds": 30 * DAY}
FLOATING = {"type": "floating", "lease_seconds": 3600, "activation_required": True}


@pytest.mark.parametrize("terms", [REFRESHED, FLOATING], ids=["refresh", "floating"])
def test_activation_without_expiry_is_refused_when_the_license_needs_one(
    terms: dict[str, Any],
) -> None:
    """Regression (issue 6): a response without exp kept a refresh or lease license forever."""
    doc = lic(**terms)
    with pytest.raises(NotActivatedError) as info:
        verify_activated(doc, FOUR, expires=None)
    assert str(info.value) == "the activation has no expiry but the license requires one"


def test_refresh_is_due_at_the_responses_expiry() -> None:
    doc = lic(**REFRESHED)
    due = T0 + 30 * DAY
    got = verify_activated(doc, FOUR, expires=due, when=due - 1)
    assert got.refresh == timedelta(days=30)
    assert got.activation is not None and got.activation.lease_expires == due
    for when in (due, due + 1):
        with pytest.raises(NotActivatedError) as info:
            verify_activated(doc, FOUR, expires=due, when=when)
        assert str(info.value) == (
            "the activation had to be refreshed by 2026-10-21T14:13:20Z; make a new request "
            "(licverify request) and send it to your vendor"
        )


def test_floating_lease_end_keeps_its_message() -> None:
    doc = lic(**FLOATING)
    assert verify_activated(doc, FOUR, expires=T0 + 3600, when=T0 + 3599).refresh is None
    with pytest.raises(NotActivatedError, match="the lease ended .*; ask for a new one"):
        verify_activated(doc, FOUR, expires=T0 + 3600, when=T0 + 3600)


def test_activation_expiry_is_honoured_without_refresh_or_lease() -> None:
    """A response may carry an expiry the license does not ask for; it still ends the activation."""
    doc = lic(activation_required=True)
    assert verify_activated(doc, FOUR, expires=None).refresh is None
    with pytest.raises(NotActivatedError, match="had to be refreshed"):
        verify_activated(doc, FOUR, expires=T0 + 10, when=T0 + 10)


def test_refresh_term_round_trips_and_is_bounded() -> None:
    for seconds in (3600, 10 * 366 * DAY):
        terms = default_terms(activation_required=True, refresh_seconds=seconds)
        assert F.decode_license_payload(F.encode_license_payload(terms)) == terms
        assert F.terms_to_json(terms)["refresh_seconds"] == seconds
    for seconds in (3599, 10 * 366 * DAY + 1, 0):
        with pytest.raises(MalformedError, match="refresh must be an integer from 3600 to 316224000"):
            F.encode_license_payload(
                default_terms(activation_required=True, refresh_seconds=seconds)
            )
    assert F.terms_to_json(default_terms())["refresh_seconds"] is None
    assert verify(lic()).refresh is None


ENFORCED_ONLY_BY_ACTIVATION = {
    "max_devices": {"limits": Limits(max_devices=2)},
    "max_users": {"limits": Limits(max_users=2)},
    "max_devices_per_user": {"limits": Limits(max_devices_per_user=1)},
    "max_transfers": {"limits": Limits(max_transfers=0)},
    "users": {"allowed_users": ("alice",)},
    "floating": {"type": "floating", "lease_seconds": 3600},
    "refresh": {"refresh_seconds": 86400},
}


@pytest.mark.parametrize("case", list(ENFORCED_ONLY_BY_ACTIVATION))
def test_terms_only_activation_enforces_need_activation_required(case: str) -> None:
    """Regression (issue 6): a seat limit without activation verified on any number of machines."""
    overrides = ENFORCED_ONLY_BY_ACTIVATION[case]
    with pytest.raises(MalformedError) as info:
        F.encode_license_payload(default_terms(**overrides))
    assert str(info.value) == (
        "license terms: seat limits, allowed users, leases and refresh need activation_required"
    )
    payload = F.encode_license_payload(default_terms(activation_required=True, **overrides))
    assert F.decode_license_payload(payload).activation_required  # valid with it
    # The same terms signed without activation_required are refused by the verifier.
    claims = cbor2.loads(payload)
    del claims[-65537]["activation_required"]
    with pytest.raises(MalformedError, match="need activation_required"):
        verify(FACTORY.license(payload=F.encode_canonical(claims)))


def test_devices_listed_at_issue_time_need_no_activation() -> None:
    got = verify(lic(allowed_devices=(FOUR,), device_match="most"), fingerprint=FOUR)
    assert not got.activation_required and got.allowed_devices == (FOUR,)


def test_checks_run_in_order() -> None:
    # Wrong product is reported before time, time before machine, machine before activation.
    doc = lic(allowed_devices=(FOUR,), activation_required=True)
    with pytest.raises(WrongProductError):
        verify(doc, product="other", when=GRACE_END + 1)
    with pytest.raises(ExpiredError):
        verify(doc, when=GRACE_END + 1)
    with pytest.raises(WrongMachineError):
        verify(doc)
    with pytest.raises(NotActivatedError):
        verify(doc, fingerprint=FOUR)


# --- argument errors are programmer errors, not LicenseError ------------------------------------


def test_naive_datetime_is_value_error() -> None:
    with pytest.raises(ValueError):
        licverify.verify_license(lic(), trusted_roots=FACTORY.roots, product=PRODUCT,
                                 now=datetime(2026, 9, 21, 14, 13, 20))  # fmt: skip
    with pytest.raises(ValueError):
        verify(lic(), app_release_date=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        licverify.verify_certificate(FACTORY.certificate(), trusted_roots=FACTORY.roots,
                                     now=datetime(2026, 9, 21))  # fmt: skip


def test_now_must_be_a_datetime() -> None:
    with pytest.raises(TypeError):
        licverify.verify_license(lic(), trusted_roots=FACTORY.roots, product=PRODUCT, now=T0)  # type: ignore[arg-type]


@pytest.mark.parametrize("document", [lic().hex(), None, 12, [1, 2], F.armor(lic(), F.LICENSE).decode()],
                         ids=["hex-str", "None", "int", "list", "armored-str"])  # fmt: skip
def test_non_bytes_is_type_error(document: object) -> None:
    with pytest.raises(TypeError):
        licverify.verify_license(document, trusted_roots=FACTORY.roots, product=PRODUCT, now=at(T0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        licverify.verify_certificate(document, trusted_roots=FACTORY.roots, now=at(T0))  # type: ignore[arg-type]


def test_bytes_like_inputs_are_accepted() -> None:
    doc = lic()
    expected = verify(doc)
    assert verify(bytearray(doc)) == expected  # type: ignore[arg-type]
    assert verify(memoryview(doc)) == expected  # type: ignore[arg-type]


def test_empty_trusted_roots_is_value_error() -> None:
    for empty in ([], (), set(), iter([])):
        with pytest.raises(ValueError):
            licverify.verify_license(lic(), trusted_roots=empty, product=PRODUCT, now=at(T0))
    with pytest.raises(ValueError):
        licverify.verify_certificate(FACTORY.certificate(), trusted_roots=[], now=at(T0))
    with pytest.raises(ValueError):
        TrustedRoots([])


def test_trusted_roots_reject_bad_keys() -> None:
    with pytest.raises(TypeError):
        TrustedRoots(public(ROOT))  # one key instead of a list
    with pytest.raises(TypeError):
        TrustedRoots(["ab" * 32])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        TrustedRoots([public(ROOT)[:31]])
    with pytest.raises(ValueError):
        TrustedRoots([bytes(32)])  # a small-order point


@pytest.mark.parametrize(
    "product, exc", [("", ValueError), (None, TypeError), (b"acme-cad", TypeError)]
)
def test_product_argument(product: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        licverify.verify_license(lic(), trusted_roots=FACTORY.roots, product=product, now=at(T0))  # type: ignore[arg-type]


# --- error codes ---------------------------------------------------------------------------------

CODE_TABLE = {
    LicenseError: "license-error",
    MalformedError: "malformed",
    WrongKindError: "wrong-kind",
    UnsupportedError: "unsupported",
    UntrustedKeyError: "untrusted-key",
    BadSignatureError: "bad-signature",
    NotYetValidError: "not-yet-valid",
    ExpiredError: "expired",
    WrongProductError: "wrong-product",
    WrongMachineError: "wrong-machine",
    NotActivatedError: "not-activated",
    RevokedError: "revoked",
    ClockRolledBackError: "clock-rolled-back",
    LimitReachedError: "limit-reached",
    VersionNotAllowedError: "version-not-allowed",
    InternalError: "internal-error",
    StoreError: "store-error",
}


def test_error_code_table_is_stable() -> None:
    exported = {
        getattr(licverify, name)
        for name in licverify.__all__
        if isinstance(getattr(licverify, name), type)
        and issubclass(getattr(licverify, name), LicenseError)
    }
    assert exported == set(CODE_TABLE)
    assert {cls: cls.code for cls in CODE_TABLE} == CODE_TABLE
    assert len(set(CODE_TABLE.values())) == len(CODE_TABLE)
    from licverify._errors import ERROR_CODES

    for code, cls in ERROR_CODES.items():
        assert CODE_TABLE[cls] == code
    for cls, code in CODE_TABLE.items():
        err = cls("a message for people")
        assert err.code == code and err.message == str(err) == "a message for people"
        assert isinstance(err, LicenseError)
    assert issubclass(WrongKindError, MalformedError)


# --- immutability --------------------------------------------------------------------------------


def test_license_is_immutable() -> None:
    got = verify_activated(FACTORY.license(FULL_TERMS), DEVICE_A, expires=T0 + 3600)
    for name in LICENSE_ATTRIBUTES + ["terms", "new_attribute", "_terms"]:
        with pytest.raises(AttributeError):
            setattr(got, name, None)
    with pytest.raises(AttributeError):
        del got.id
    mappings = [got.features, got.counters, got.metadata, got.extensions, *got.allowed_devices]
    for mapping in mappings:
        assert isinstance(mapping, MappingProxyType)
        with pytest.raises(TypeError):
            mapping["new"] = 1  # type: ignore[index]
    assert isinstance(got.allowed_users, tuple) and isinstance(got.allowed_devices, tuple)
    for value in (got.limits, got.certificate, got.counters["exports"], got.terms):
        with pytest.raises(AttributeError):
            value.limit = 5  # type: ignore[misc, union-attr]
    assert isinstance(got.document, bytes)
    again = verify_activated(FACTORY.license(FULL_TERMS), DEVICE_A, expires=T0 + 3600)
    assert hash(got) == hash(again)


# --- armor ---------------------------------------------------------------------------------------


def test_armored_and_binary_give_the_same_license() -> None:
    doc = FACTORY.license(FULL_TERMS)
    armored = F.armor(doc, F.LICENSE)
    assert armored.startswith(b"-----BEGIN LICSIGN LICENSE-----\n")
    assert armored.endswith(b"\n-----END LICSIGN LICENSE-----\n")
    binary_result = verify_activated(doc, DEVICE_A, expires=T0 + 3600)
    variants = [
        armored,
        armored.replace(b"\n", b"\r\n"),
        b"\n\n  " + armored + b"  \n\n",
        armored.rstrip(b"\n"),
    ]
    for variant in variants:
        got = verify_activated(variant, DEVICE_A, expires=T0 + 3600)
        assert got == binary_result
        assert got.document == doc and got.digest == hashlib.sha256(doc).hexdigest()
    assert F.dearmor(armored) == (doc, F.LICENSE)
    assert F.dearmor(doc) == (doc, None)


@pytest.mark.parametrize("kind", [k for k in F.KINDS if k is not F.LICENSE], ids=lambda k: k.name)
def test_armor_label_mismatch_is_malformed(kind: F.Kind) -> None:
    with pytest.raises(MalformedError) as info:
        verify(F.armor(lic(), kind))
    assert type(info.value) is MalformedError
    assert "armor says" in str(info.value)


def test_armored_certificate_is_wrong_kind_for_verify_license() -> None:
    with pytest.raises(WrongKindError):
        verify(F.armor(FACTORY.certificate(), F.ISSUING_CERTIFICATE))


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda a: a.replace(b"BEGIN LICSIGN LICENSE", b"BEGIN LICSIGN LICENCE"), id="unknown-label"),
        pytest.param(lambda a: a.replace(b"END LICSIGN LICENSE", b"END LICSIGN LICENCE"), id="end-label-differs"),
        pytest.param(lambda a: a.rsplit(b"-----END", 1)[0], id="no-end-line"),
        pytest.param(lambda a: b"\n".join(a.split(b"\n")[:2]), id="two-lines"),
        pytest.param(lambda a: a.replace(b"-----BEGIN LICSIGN LICENSE-----", b"-----BEGIN LICSIGN LICENSE----"), id="damaged-begin"),
        pytest.param(lambda a: a[:40] + b"!" + a[41:], id="bad-base64-char"),
        pytest.param(lambda a: a.replace(b"\n-----END", b"=\n-----END"), id="extra-padding"),
        pytest.param(lambda a: a + a, id="two-blocks"),
        pytest.param(lambda a: a + b"trailing text\n", id="text-after-end"),
        pytest.param(lambda a: b"-----BEGIN \xff\xfe-----\n" + a.split(b"\n", 1)[1], id="non-ascii-label"),
        pytest.param(lambda a: a.replace(b"-----BEGIN LICSIGN LICENSE-----\n", b"-----BEGIN LICSIGN LICENSE-----\n-----BEGIN\n"), id="nested-begin"),
    ],
)  # fmt: skip
def test_damaged_armor_is_malformed(mutate: Any) -> None:
    with pytest.raises(MalformedError):
        verify(mutate(F.armor(lic(), F.LICENSE)))


def test_non_canonical_base64_tail_is_malformed() -> None:
    # Find a document whose base64 ends in padding, then set the unused low bits of the last char.
    doc = next(d for d in (lic(id="L-" + "P" * n) for n in range(1, 4)) if len(d) % 3)
    armored = F.armor(doc, F.LICENSE)
    body = b"".join(armored.split(b"\n")[1:-2])
    assert body.endswith(b"=")
    last = body.rstrip(b"=")[-1:]
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sibling = bytes([alphabet[alphabet.index(last) + 1]])
    pos = armored.rindex(last + b"=")
    mutated = armored[:pos] + sibling + armored[pos + 1 :]
    import base64

    assert base64.b64decode(b"".join(mutated.split(b"\n")[1:-2])) == doc  # same bytes, other text
    with pytest.raises(MalformedError) as info:
        verify(mutated)
    assert "non-canonical base64" in str(info.value)


# --- verify_certificate --------------------------------------------------------------------------


def test_verify_certificate_round_trip_and_window() -> None:
    cert = FACTORY.certificate()
    info = FACTORY.certificate_info
    roots = FACTORY.roots
    for doc in (cert, F.armor(cert, F.ISSUING_CERTIFICATE)):
        assert licverify.verify_certificate(doc, trusted_roots=roots, now=at(T0)) == info
    assert licverify.verify_certificate(cert, trusted_roots=roots, now=at(info.not_before)) == info
    assert licverify.verify_certificate(cert, trusted_roots=roots, now=at(info.not_after - 1)) == info
    with pytest.raises(NotYetValidError):
        licverify.verify_certificate(cert, trusted_roots=roots, now=at(info.not_before - 1))
    with pytest.raises(ExpiredError):  # not_after is exclusive, like a CWT exp
        licverify.verify_certificate(cert, trusted_roots=roots, now=at(info.not_after))
    assert info.allows_product("anything") and info.covers(T0)
    assert info.to_json()["root_key_id"] == F.key_id(public(ROOT)).hex()


def test_verify_certificate_with_products() -> None:
    f = UnsafeFactory(products=("acme-cad", "acme-cam"))
    got = licverify.verify_certificate(f.certificate(), trusted_roots=f.roots, now=at(T0))
    assert got.products == ("acme-cad", "acme-cam")
    assert got.allows_product("acme-cam") and not got.allows_product("acme-viewer")


def test_verify_certificate_rejects_a_license() -> None:
    with pytest.raises(WrongKindError):
        licverify.verify_certificate(lic(), trusted_roots=FACTORY.roots, now=at(T0))
    with pytest.raises(MalformedError) as info:
        licverify.verify_certificate(
            F.armor(FACTORY.certificate(), F.LICENSE), trusted_roots=FACTORY.roots, now=at(T0)
        )
    assert type(info.value) is MalformedError


def test_verify_certificate_untrusted_root() -> None:
    with pytest.raises(UntrustedKeyError):
        licverify.verify_certificate(
            FACTORY.certificate(), trusted_roots=[public(OTHER_ROOT)], now=at(T0)
        )


def test_error_code_table_is_complete() -> None:
    from licverify._errors import ERROR_CODES

    assert sorted(ERROR_CODES) == sorted(
        ["license-error", "malformed", "wrong-kind", "unsupported", "untrusted-key", "bad-signature",
         "not-yet-valid", "expired", "wrong-product", "wrong-machine", "not-activated", "revoked",
         "version-not-allowed", "internal-error", "store-error", "clock-rolled-back",
         "limit-reached"]
    )  # fmt: skip
    assert all(cls.code == code for code, cls in ERROR_CODES.items())
