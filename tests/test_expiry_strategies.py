"""Grace and expiry (issue 9): the boundaries of exp and grace, what a license does at
expiry (``at_expiry``), expiry counted from the first activation
(``expires_after_activation``), and the version gate's boundaries.

Time is always injected (``now=``, ``when=``, ``--at``); nothing sleeps. Tests that
involve the issuer run on both ledger engines (the ``vendor`` and ``site`` fixtures).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import cbor2
import pytest
from factory import ISSUING, T0, F, UnsafeFactory, default_terms, key_from_seed, public, signer
from harness import NOW, PRODUCT, Site, Vendor

import licverify
from licsign import InvalidInputError, RefusedError
from licverify import (
    ExpiredError,
    MalformedError,
    NotActivatedError,
    Status,
    UnsupportedError,
    VersionNotAllowedError,
)
from licverify._verify import verify_license_for_import

DAY = 86400
FACTORY = UnsafeFactory()
DEVICE_KEY = public(key_from_seed("expiry-device"))
FINGERPRINT = {"machine-id": b"\x01" * 16, "hostname": b"\x02" * 16}


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def verify(doc: bytes, when: int, **kwargs: Any) -> licverify.License:
    return licverify.verify_license(
        doc, trusted_roots=FACTORY.roots, product=PRODUCT, now=at(when), **kwargs
    )


def resigned(terms: F.LicenseTerms, **changes: Any) -> bytes:
    """``terms`` signed with ``changes`` applied to the encoded terms map (None drops one)."""
    claims = cbor2.loads(F.encode_license_payload(terms))
    claims[-65537].update(changes)
    claims[-65537] = {k: v for k, v in claims[-65537].items() if v is not None}
    return FACTORY.license(payload=F.encode_canonical(claims))


# --- 1. the boundaries of exp and grace -------------------------------------------------------

EXP = T0 + 30 * DAY
GRACE = 14 * DAY


@pytest.mark.parametrize("at_expiry", ["restrict", "maintain"])
def test_expiry_and_grace_boundaries(at_expiry: str) -> None:
    doc = FACTORY.license(default_terms(expires=EXP, grace_seconds=GRACE, at_expiry=at_expiry))
    last_valid = verify(doc, EXP - 1)
    assert (last_valid.status, last_valid.grace_days_left) == (Status.VALID, None)
    first_grace = verify(doc, EXP)
    assert (first_grace.status, first_grace.grace_days_left) == (Status.GRACE, 14)
    last_grace = verify(doc, EXP + GRACE - 1)
    assert (last_grace.status, last_grace.grace_days_left) == (Status.GRACE, 1)
    if at_expiry == "restrict":
        with pytest.raises(ExpiredError, match="grace ended"):
            verify(doc, EXP + GRACE)
        return
    for when in (EXP + GRACE, EXP + 10 * 365 * DAY):
        kept = verify(doc, when)
        assert (kept.status, kept.grace_days_left) == (Status.MAINTAINED, None)
        assert kept.to_json()["status"] == "maintained"
        assert kept.to_json()["at_expiry"] == "maintain"


def test_without_grace_the_expiry_second_is_expired() -> None:
    doc = FACTORY.license(default_terms(expires=EXP, grace_seconds=0))
    assert verify(doc, EXP - 1).status is Status.VALID
    with pytest.raises(ExpiredError):
        verify(doc, EXP)
    kept = FACTORY.license(default_terms(expires=EXP, grace_seconds=0, at_expiry="maintain"))
    assert verify(kept, EXP).status is Status.MAINTAINED


def test_not_before_is_judged_before_the_expiry_strategy() -> None:
    doc = FACTORY.license(
        default_terms(not_before=T0 + DAY, expires=T0 + 2 * DAY, at_expiry="maintain")
    )
    with pytest.raises(licverify.NotYetValidError):
        verify(doc, T0)


# --- 2. at_expiry: its encoding ---------------------------------------------------------------


def test_restrict_is_the_default_and_never_written() -> None:
    encoded = cbor2.loads(F.encode_license_payload(default_terms()))[-65537]
    assert "at_expiry" not in encoded and "expires_after_activation" not in encoded
    assert F.decode_license_payload(F.encode_license_payload(default_terms())).at_expiry == (
        "restrict"
    )
    kept = cbor2.loads(F.encode_license_payload(default_terms(at_expiry="maintain")))[-65537]
    assert kept["at_expiry"] == "maintain"


@pytest.mark.parametrize(
    "value, error, message",
    [
        ("restrict", MalformedError, "default and must be left out"),
        ("extend", UnsupportedError, "unknown at_expiry strategy"),
        (True, MalformedError, "at_expiry must be text"),
        ("", UnsupportedError, "unknown at_expiry strategy"),
    ],
)
def test_at_expiry_values_refused(value: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        verify(resigned(default_terms(), at_expiry=value), T0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"type": "perpetual", "expires": None, "grace_seconds": 0, "at_expiry": "maintain"},
         "at_expiry needs an expiry"),
        ({"expires_after_activation_seconds": 30 * DAY, "activation_required": True},
         "not both"),
        ({"expires": None, "grace_seconds": 0, "expires_after_activation_seconds": 30 * DAY},
         "expires_after_activation needs activation_required"),
        ({"type": "perpetual", "expires": None, "grace_seconds": 0,
          "expires_after_activation_seconds": 30 * DAY, "activation_required": True},
         "perpetual license cannot expire"),
        ({"expires": None, "expires_after_activation_seconds": 3599, "activation_required": True},
         "expires_after_activation must be an integer from 3600"),
    ],
)  # fmt: skip
def test_inconsistent_expiry_terms_are_malformed(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        F.encode_license_payload(default_terms(**overrides))


def test_grace_and_maintain_allowed_with_an_expiry_after_activation() -> None:
    terms = default_terms(type="trial", expires=None, grace_seconds=GRACE, at_expiry="maintain",
                          expires_after_activation_seconds=30 * DAY, activation_required=True)  # fmt: skip
    assert F.decode_license_payload(F.encode_license_payload(terms)) == terms
    data = F.terms_to_json(terms)
    assert data["expires"] is None and data["expires_after_activation_seconds"] == 30 * DAY


# --- 3. expires_after_activation at the verifier ----------------------------------------------

TERM = 30 * DAY


def response_for(doc: bytes, license_expires: int | None, issued_at: int = T0) -> bytes:
    """An activation response for ``doc`` on DEVICE_KEY fixing ``license_expires``."""
    response = F.ActivationResponse(
        activation_id="A-EXPIRY-1", device_key=DEVICE_KEY, fingerprint=FINGERPRINT,
        issued_at=issued_at, lease_expires=None, license_digest=F.license_digest(doc),
        license_id=F.decode_license_payload(F.parse_unverified(doc).payload).id,
        nonce=b"\x0b" * 16, user=None, license_expires=license_expires,
    )  # fmt: skip
    return F.encode_sign1(F.ACTIVATION_RESPONSE, F.key_id(public(ISSUING)),
                          F.encode_response_payload(response), signer(ISSUING),
                          FACTORY.certificate())  # fmt: skip


def after_activation(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {"type": "trial", "expires": None, "grace_seconds": 0,
                              "activation_required": True, "expires_after_activation_seconds": TERM}  # fmt: skip
    return FACTORY.license(default_terms(**{**fields, **overrides}))


def verify_activated(doc: bytes, response: bytes, when: int) -> licverify.License:
    return verify(doc, when, fingerprint=FINGERPRINT, activation=response, device_key=DEVICE_KEY)


@pytest.mark.parametrize("at_expiry", ["restrict", "maintain"])
def test_the_activation_fixes_the_expiry(at_expiry: str) -> None:
    doc = after_activation(grace_seconds=GRACE, at_expiry=at_expiry)
    ends = T0 + TERM
    response = response_for(doc, ends)
    valid = verify_activated(doc, response, ends - 1)
    assert valid.status is Status.VALID and valid.effective_expires == at(ends)
    assert valid.expires is None and valid.expires_after_activation == timedelta(days=30)
    assert valid.to_json()["activation"]["license_expires"] == at(ends).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    grace = verify_activated(doc, response, ends)
    assert (grace.status, grace.grace_days_left) == (Status.GRACE, 14)
    assert verify_activated(doc, response, ends + GRACE - 1).grace_days_left == 1
    if at_expiry == "restrict":
        with pytest.raises(ExpiredError, match="grace ended"):
            verify_activated(doc, response, ends + GRACE)
    else:
        assert verify_activated(doc, response, ends + GRACE).status is Status.MAINTAINED


def test_an_activation_must_fix_the_expiry_and_no_later_than_its_term() -> None:
    doc = after_activation()
    with pytest.raises(NotActivatedError, match="does not fix the license's expiry"):
        verify_activated(doc, response_for(doc, None), T0)
    with pytest.raises(NotActivatedError, match="later than the license's term"):
        verify_activated(doc, response_for(doc, T0 + TERM + 1, issued_at=T0), T0)
    # An earlier first activation: the response (issued now) fixes an earlier end.
    earlier = verify_activated(doc, response_for(doc, T0 + DAY, issued_at=T0), T0)
    assert earlier.effective_expires == at(T0 + DAY)
    fixed = FACTORY.license(default_terms(activation_required=True))
    with pytest.raises(NotActivatedError, match="counts none from activation"):
        verify_activated(fixed, response_for(fixed, T0 + DAY), T0)


def test_without_an_activation_it_is_not_activated_but_imports() -> None:
    doc = after_activation()
    with pytest.raises(NotActivatedError):
        verify(doc, T0)
    imported = verify_license_for_import(
        doc, trusted_roots=FACTORY.roots, product=PRODUCT, now=at(T0 + 400 * DAY)
    )
    assert imported.status is Status.VALID and imported.effective_expires is None


def test_response_license_expires_round_trips() -> None:
    doc = after_activation()
    response = licverify.verify_response(response_for(doc, 5), trusted_roots=FACTORY.roots)
    assert response.license_expires == 5  # before iat: a maintained license re-activated late
    claims = cbor2.loads(F.parse_unverified(response_for(doc, None)).payload)
    assert "license_expires" not in claims[-65537]


# --- 4. the version gate's boundaries ---------------------------------------------------------

MAINTENANCE_END = T0 - 10 * DAY


@pytest.mark.parametrize(
    "version, allowed",
    [("4.2", True), ("4.2.0", True), ("4.2.0.0", True), ("4.1.9", True), ("4.2.0.1", False),
     ("4.2.1", False), ("4.3", False), ("5", False)],
)  # fmt: skip
def test_max_version_is_inclusive(version: str, allowed: bool) -> None:
    doc = FACTORY.license(default_terms(max_version="4.2"))
    verifier = licverify.Verifier(trusted_roots=FACTORY.roots, product=PRODUCT, app_version=version)
    if allowed:
        assert verifier.verify_license(doc, now=at(T0)).status is Status.VALID
        assert verify(doc, T0, app_version=version).status is Status.VALID
        return
    with pytest.raises(VersionNotAllowedError, match=r"newer than the licensed 4\.2"):
        verifier.verify_license(doc, now=at(T0))
    with pytest.raises(VersionNotAllowedError):
        verify(doc, T0, app_version=version)


@pytest.mark.parametrize(
    "release, allowed",
    [(MAINTENANCE_END - DAY, True), (MAINTENANCE_END, True), (MAINTENANCE_END + 1, False),
     (MAINTENANCE_END + DAY, False)],
)  # fmt: skip
def test_maintenance_end_is_inclusive(release: int, allowed: bool) -> None:
    """format §7.1: an application released *after* maintenance_end is refused."""
    doc = FACTORY.license(default_terms(maintenance_end=MAINTENANCE_END))
    verifier = licverify.Verifier(trusted_roots=FACTORY.roots, product=PRODUCT,
                                  app_release=at(release))  # fmt: skip
    if allowed:
        assert verifier.verify_license(doc, now=at(T0)).status is Status.VALID
        assert verify(doc, T0, app_release_date=at(release)).status is Status.VALID
        return
    with pytest.raises(VersionNotAllowedError, match="came after maintenance ended"):
        verifier.verify_license(doc, now=at(T0))
    with pytest.raises(VersionNotAllowedError):
        verify(doc, T0, app_release_date=at(release))


# --- the issuer (both ledger engines) -----------------------------------------------------------


def payload_terms(issued: Any) -> dict[str, Any]:
    return dict(cbor2.loads(F.parse_unverified(issued.document).payload)[-65537])


def test_issue_at_expiry(vendor: Vendor) -> None:
    plain = vendor.issue("subscription", activation_required=False)
    assert "at_expiry" not in payload_terms(plain) and plain.terms.at_expiry == "restrict"
    kept = vendor.issue("subscription", activation_required=False, at_expiry="maintain",
                        duration=timedelta(days=30), grace=timedelta(days=7))  # fmt: skip
    assert payload_terms(kept)["at_expiry"] == "maintain"
    assert kept.to_json()["at_expiry"] == "maintain"
    lic = licverify.verify_license(kept.armored, trusted_roots=vendor.roots, product=PRODUCT,
                                   now=NOW + timedelta(days=400))  # fmt: skip
    assert lic.status is Status.MAINTAINED
    with pytest.raises(InvalidInputError, match="--at-expiry") as info:
        vendor.issue("perpetual", at_expiry="maintain")
    assert info.value.field == "at_expiry"  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError) as info:
        vendor.issue("subscription", at_expiry="later")
    assert info.value.field == "at_expiry"  # type: ignore[attr-defined]


def test_issue_expires_after_activation(vendor: Vendor) -> None:
    trial = vendor.issue("trial", activation_required=False,
                         expires_after_activation=timedelta(days=30))  # fmt: skip
    assert trial.terms.expires is None and trial.terms.activation_required
    assert trial.terms.expires_after_activation_seconds == 30 * DAY
    assert payload_terms(trial)["expires_after_activation"] == 30 * DAY
    assert "expiry after activation" in trial.activation_implied_by
    for conflicting in ({"duration": timedelta(days=30)}, {"expires": NOW + timedelta(days=9)}):
        with pytest.raises(InvalidInputError) as info:
            vendor.issue("trial", expires_after_activation=timedelta(days=30), **conflicting)
        assert info.value.field == "expires_after_activation"  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError) as info:
        vendor.issue("trial", expires_after_activation=timedelta(minutes=59))
    assert info.value.field == "expires_after_activation"  # type: ignore[attr-defined]


def test_the_first_activation_fixes_the_expiry(vendor: Vendor) -> None:
    """Counted from the license's first activation on any device: neither a renewal nor a
    second device extends it; past it the vendor refuses and the verifier says expired."""
    lic = vendor.issue("subscription", expires_after_activation=timedelta(days=30),
                       max_devices=2, duration=None)  # fmt: skip
    first = NOW + timedelta(days=5)
    ends = int(first.timestamp()) + 30 * DAY
    one, two = vendor.machine("one"), vendor.machine("two")
    assert one.activate(lic, when=first).expires is None  # no lease nor refresh
    assert one.check(first).effective_expires == at(ends)
    renewal = vendor.activate(one.request(first + timedelta(days=10)), first + timedelta(days=10))
    again = licverify.verify_response(renewal.response, trusted_roots=vendor.roots)
    assert again.license_expires == ends
    two.activate(lic, when=first + timedelta(days=20))
    assert two.check(first + timedelta(days=20)).effective_expires == at(ends)
    assert one.check(at(ends - 1)).status is Status.VALID
    with pytest.raises(ExpiredError):
        one.check(at(ends))
    with pytest.raises(RefusedError, match="expired on"):
        vendor.activate(one.request(at(ends)), at(ends))
    # the vendor's details page judges it at the date the first activation fixed
    from licsign import license_details

    before = license_details(vendor.ws, lic.id, now=at(ends - 1))
    assert before.status == "active" and before.lifecycle is not None
    assert before.lifecycle.to_json()["expires"] == licverify_iso(ends)
    assert license_details(vendor.ws, lic.id, now=at(ends)).status == "expired"


def licverify_iso(seconds: int) -> str:
    from licverify._time import iso

    return str(iso(seconds))


def test_a_trial_counts_from_each_machines_trial(vendor: Vendor) -> None:
    lic = vendor.issue("trial", expires_after_activation=timedelta(days=30), at_expiry="maintain")
    one, two = vendor.machine("one"), vendor.machine("two")
    one.activate(lic, when=NOW)
    later = NOW + timedelta(days=10)
    two.activate(lic, when=later)
    trials = {t["machine"]: t["taken_at"] for t in vendor.ledger_dump()["trials"]}
    assert sorted(trials.values()) == [int(NOW.timestamp()), int(later.timestamp())]
    assert one.check(NOW).effective_expires == NOW + timedelta(days=30)
    assert two.check(later).effective_expires == later + timedelta(days=30)
    # Maintained: past the end the vendor still answers (a production line keeps running).
    past = NOW + timedelta(days=45)
    assert one.check(past).status is Status.MAINTAINED
    granted = vendor.activate(one.request(past), past)
    assert licverify.verify_response(granted.response, trusted_roots=vendor.roots).license_expires \
        == int(NOW.timestamp()) + 30 * DAY  # fmt: skip


# --- the command lines (both ledger engines) ------------------------------------------------------


def _date(days: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%d")


def test_cli_maintain_is_flagged_and_exits_zero(site: Site) -> None:
    terms = site.issue_with("kept.lic", "--type", "subscription", "--duration", "30d",
                            "--at-expiry", "maintain")  # fmt: skip
    assert terms["at_expiry"] == "maintain"
    result = site.check("kept.lic", "--at", _date(60))
    assert result.code == 0, result
    assert result.out.startswith("VALID (MAINTAINED: expired ")
    assert "At expiry:" in result.out and "Warning: license expired on" in result.err
    as_json = json.loads(site.check("kept.lic", "--at", _date(60), "--json").out)
    assert as_json["status"] == "maintained" and as_json["at_expiry"] == "maintain"
    site.issue_with("plain.lic", "--type", "subscription", "--duration", "30d")
    refused = site.check("plain.lic", "--at", _date(60))
    assert refused.code == 1 and refused.out.startswith("NOT VALID: expired: ")
    assert site.check("plain.lic", "--at", _date(10)).out.startswith("VALID\n")


def test_cli_expires_after_activation(site: Site) -> None:
    terms = site.issue_with("trial.lic", "--type", "trial", "--expires-after-activation", "30d")
    assert terms["expires"] is None and terms["activation_required"] is True
    assert terms["expires_after_activation_seconds"] == 30 * DAY
    shown = site.vendor_ok("show", terms["id"]).out
    assert "Expires:     30d after first activation" in shown
    assert "At expiry:   restrict" in shown
    refused = site.check("trial.lic")
    assert refused.code == 1 and refused.out.startswith("NOT VALID: not-activated: ")
    both = site.licsign("issue", "--product", PRODUCT, "--customer", "globex", "--type", "trial",
                        "--duration", "10d", "--expires-after-activation", "30d",
                        "-o", str(site.tmp / "both.lic"))  # fmt: skip
    assert both.code == 2 and "--expires-after-activation" in both.err


def _activate_on(site: Site, name: str, license_file: str) -> Any:
    """Import, request, grant and install ``license_file`` on a new CLI machine."""
    machine = site.machine(name)
    machine.ok("import", str(site.tmp / license_file))
    request, response = machine.path("request.txt"), machine.path("response.txt")
    machine.ok("request", "-o", str(request), "--label", f"host-{name}")
    site.vendor_ok("activate", str(request), "-o", str(response))
    machine.ok("install", str(response))
    return machine


@pytest.mark.parametrize("at_expiry", ["restrict", "maintain"])
def test_cli_status_after_activation(site: Site, at_expiry: str) -> None:
    site.issue_with("trial.lic", "--type", "trial", "--expires-after-activation", "30d",
                    "--at-expiry", at_expiry)  # fmt: skip
    machine = _activate_on(site, "a", "trial.lic")
    fixed = datetime.now(timezone.utc) + timedelta(days=30)
    valid = machine.ok("status", "--at", _date(10))
    assert valid.out.startswith("VALID\n")
    assert f"Expires:     {fixed:%Y-%m-%d}" in valid.out and "30 days after first activation" in valid.out
    late = machine("status", "--at", _date(60))
    if at_expiry == "restrict":
        assert late.code == 1 and late.out.startswith("NOT VALID: expired: ")
        return
    assert late.code == 0 and late.out.startswith(f"VALID (MAINTAINED: expired {fixed:%Y-%m-%d}")
    assert json.loads(machine.ok("status", "--at", _date(61), "--json").out)["status"] == "maintained"


def test_a_maintained_license_keeps_renewing_its_seat_past_expiry(vendor: Vendor) -> None:
    """A production line is never stopped: past exp + grace the vendor still renews a
    maintained license's activation (refresh), and refuses a restricted one's."""
    from harness import at as when

    day = 86400
    kept = vendor.issue(expires=when(10 * day), max_devices=1, refresh=timedelta(days=7),
                        at_expiry="maintain")  # fmt: skip
    stopped = vendor.issue(expires=when(10 * day), max_devices=1, refresh=timedelta(days=7))
    for lic, name in ((kept, "kept"), (stopped, "stopped")):
        vendor.machine(name).activate(lic, when(0))
    late = when(20 * day)
    renewed = vendor.activate(vendor.machine("kept").request(late), late)
    assert renewed.reused
    with pytest.raises(RefusedError, match="expired"):
        vendor.activate(vendor.machine("stopped").request(late), late)
