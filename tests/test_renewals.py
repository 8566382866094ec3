"""Renew, amend, transfer: a license's next version (issue 8, docs/adr/0019-renewals.md).

On both ledger engines. Library level (``vendor``): the new version in the
ledger and its events, seats carrying over without a transfer, the store
refusing an older version once it saw a newer one, and ``ledger verify``
passing after each. Command line (``site``): each command's output, its
``--json`` and its one-line refusals.
"""

from __future__ import annotations

import json
import os

import pytest
from harness import CUSTOMER, PRODUCT, PW, Site, Vendor, at, error_line_after_progress

import licsign
import licverify
from licsign import InvalidInputError, RefusedError
from licverify.cliutil import parse_duration

OTHER = "initech"
YEAR = parse_duration("1y")


def never_asked() -> bytes:
    raise AssertionError("the passphrase was asked for although the request is refused")


def verified(vendor: Vendor) -> None:
    check = licsign.verify_ledger(vendor.ws)
    assert check.ok, [str(p) for p in check.problems]


def versions(vendor: Vendor, license_id: str) -> dict[int, str]:
    """version -> status, from the ledger's rows."""
    rows = vendor.ledger_dump()["licenses"]
    return {int(r["version"]): r["status"] for r in rows if r["id"] == license_id}


# --- renew ---------------------------------------------------------------------------------------


def test_renew_issues_the_next_version_and_supersedes_the_old(vendor: Vendor) -> None:
    lic = vendor.issue(expires=at(30 * 86400), max_devices=2)
    renewed = licsign.renew_license(vendor.ws, lic.id, lambda: PW, now=at(60), extend=YEAR)
    assert (renewed.id, renewed.version, renewed.previous_version) == (lic.id, 2, 1)
    assert renewed.license.terms.expires == int(at(30 * 86400).timestamp()) + 365 * 86400
    # the start of validity and every other term stay as they were
    assert renewed.license.terms.not_before == lic.terms.not_before
    assert renewed.license.terms.limits == lic.terms.limits
    assert versions(vendor, lic.id) == {1: "superseded", 2: "active"}
    assert vendor.license_record(lic.id)["version"] == 2
    assert [s.id for s in licsign.licenses(vendor.ws, now=at(60))] == [lic.id]
    assert vendor.event_kinds(lic.id)[-1] == "license.renewed"
    assert renewed.to_json()["supersedes"] == 1
    # the verifier accepts it as version 2 of the same license
    verified(vendor)
    again = licsign.renew_license(
        vendor.ws, lic.id, lambda: PW, now=at(120), expires=at(3 * 365 * 86400)
    )
    assert again.version == 3
    assert versions(vendor, lic.id) == {1: "superseded", 2: "superseded", 3: "active"}
    verified(vendor)


def test_renew_refusals(vendor: Vendor) -> None:
    lic = vendor.issue(expires=at(30 * 86400))
    perpetual = vendor.issue("perpetual")
    with pytest.raises(RefusedError, match="never expires"):
        licsign.renew_license(vendor.ws, perpetual.id, never_asked, now=at(1), extend=YEAR)
    with pytest.raises(RefusedError, match="a renewal must end later"):
        licsign.renew_license(vendor.ws, lic.id, never_asked, now=at(1), expires=at(86400))
    with pytest.raises(InvalidInputError, match="either"):
        licsign.renew_license(vendor.ws, lic.id, never_asked, now=at(1))
    with pytest.raises(licsign.NotFoundError):
        licsign.renew_license(vendor.ws, "L-0000-0000-0000", never_asked, now=at(1), extend=YEAR)
    assert versions(vendor, lic.id) == {1: "active"}
    verified(vendor)


# --- the machine: import of the next version, the seat carries over ------------------------------


def test_a_renewal_keeps_the_seat_without_a_transfer(vendor: Vendor) -> None:
    lic = vendor.issue(expires=at(30 * 86400), max_devices=1, max_transfers=0)
    machine = vendor.machine("m1")
    first = machine.activate(lic)
    renewed = licsign.renew_license(vendor.ws, lic.id, lambda: PW, now=at(60), extend=YEAR)
    # importing version 2 replaces version 1 without deactivating: the activation stays
    machine.import_license(renewed.license, at(120))
    assert machine.store.installed_license() == renewed.license.document
    assert machine.store.installed_activation() is not None
    # the old activation names version 1: the application is told to ask again
    with pytest.raises(licverify.NotActivatedError, match="renewed license installed"):
        machine.check(at(130))
    # a new request for version 2 is a renewal of the same seat: no new seat, no transfer
    granted = vendor.activate(machine.request(at(140)), at(140))
    assert granted.reused and granted.activation_id == first.activation_id
    machine.install(granted.response, at(150))
    lic2 = machine.check(at(160))
    assert lic2.version == 2 and lic2.activation is not None
    assert vendor.open_seats(lic.id) == 1
    assert vendor.ws.ledger.transfers_used(lic.id) == 0
    # a request naming version 1's document is refused now
    other = vendor.machine("m2")
    other.import_license(lic)
    with pytest.raises(RefusedError, match="install the current license file"):
        vendor.activate(other.request(at(170)), at(170))
    verified(vendor)


def test_the_store_refuses_an_older_version_after_a_newer_one(vendor: Vendor) -> None:
    lic = vendor.issue(expires=at(30 * 86400), activation_required=False)
    renewed = licsign.renew_license(vendor.ws, lic.id, lambda: PW, now=at(60), extend=YEAR)
    machine = vendor.machine("m1")
    machine.import_license(lic, at(65))
    machine.import_license(renewed.license, at(70))
    before = machine.snapshot()
    with pytest.raises(licverify.StoreError, match="older than version 2"):
        machine.import_license(lic, at(80))
    assert machine.snapshot() == before
    # another license installed meanwhile: version 2 of the first is still remembered
    other = vendor.issue(expires=at(30 * 86400), activation_required=False)
    machine.import_license(other, at(90))
    assert json.loads(machine.snapshot()["versions.json"][0])["highest"] == {
        lic.id: 2, other.id: 1,
    }  # fmt: skip
    with pytest.raises(licverify.StoreError, match="older than version 2"):
        machine.import_license(lic, at(100))


def test_a_damaged_versions_file_is_a_store_error(vendor: Vendor) -> None:
    lic = vendor.issue(expires=at(30 * 86400), activation_required=False)
    machine = vendor.machine("m1")
    machine.import_license(lic, at(10))
    with open(os.path.join(machine.path, "versions.json"), "w") as f:
        f.write('{"highest": {"x": "2"}, "replaced": []}')
    renewed = licsign.renew_license(vendor.ws, lic.id, lambda: PW, now=at(60), extend=YEAR)
    with pytest.raises(licverify.StoreError, match=r"versions\.json is damaged"):
        machine.import_license(renewed.license, at(70))


def test_the_installed_license_is_the_floor_before_anything_is_replaced(
    vendor: Vendor,
) -> None:
    lic = vendor.issue(expires=at(30 * 86400))
    renewed = licsign.renew_license(vendor.ws, lic.id, lambda: PW, now=at(60), extend=YEAR)
    machine = vendor.machine("m1")
    machine.import_license(renewed.license, at(70))
    machine.import_license(renewed.license, at(75))  # the same bytes: nothing written
    assert not os.path.exists(os.path.join(machine.path, "versions.json"))
    with pytest.raises(licverify.StoreError, match="older than version 2"):
        machine.import_license(lic, at(80))


def test_an_unactivated_machine_takes_the_renewal_as_any_import(vendor: Vendor) -> None:
    lic = vendor.issue(expires=at(30 * 86400), activation_required=False)
    machine = vendor.machine("m1")
    machine.import_license(lic, at(10))
    renewed = licsign.renew_license(vendor.ws, lic.id, lambda: PW, now=at(60), extend=YEAR)
    machine.import_license(renewed.license, at(70))
    assert machine.check(at(80)).version == 2


# --- amend ---------------------------------------------------------------------------------------


def test_amend_changes_limits_and_features(vendor: Vendor) -> None:
    vendor.ws.ledger.add_product(int(at(0).timestamp()), "suite", "Suite", ["export", "render"])
    lic = vendor.issue(expires=at(30 * 86400), max_devices=1, product="suite",
                       features={"export": None})  # fmt: skip
    amended = licsign.amend_license(
        vendor.ws, lic.id, lambda: PW, now=at(60), max_devices=3,
        features={"render": 4}, remove_features=["export"],
    )  # fmt: skip
    assert amended.version == 2 and amended.action == "amended"
    assert amended.license.terms.limits.max_devices == 3
    assert dict(amended.license.terms.features) == {"render": 4}
    assert amended.license.terms.expires == lic.terms.expires
    event = json.loads(vendor.events(lic.id)[-1]["data"])
    assert event["changed"] == ["features", "limits"]
    with pytest.raises(InvalidInputError, match="nothing to amend"):
        licsign.amend_license(vendor.ws, lic.id, never_asked, now=at(70), max_devices=3)
    with pytest.raises(InvalidInputError, match="no feature"):
        licsign.amend_license(vendor.ws, lic.id, never_asked, now=at(70), remove_features=["x"])
    verified(vendor)


def test_amend_may_not_lower_a_limit_below_the_seats_held(vendor: Vendor) -> None:
    lic = vendor.issue(expires=at(30 * 86400), max_devices=3)
    vendor.machine("m1").activate(lic, at(10))
    vendor.machine("m2").activate(lic, at(20))
    with pytest.raises(RefusedError, match="activated on 2 devices, more than the 1"):
        licsign.amend_license(vendor.ws, lic.id, never_asked, now=at(60), max_devices=1)
    assert versions(vendor, lic.id) == {1: "active"}
    amended = licsign.amend_license(vendor.ws, lic.id, lambda: PW, now=at(70), max_devices=2)
    # both seats carry over: each machine imports version 2 and renews its seat
    for name in ("m1", "m2"):
        machine = vendor.machine(name)
        machine.import_license(amended.license, at(80))
        granted = vendor.activate(machine.request(at(90)), at(90))
        assert granted.reused
        machine.install(granted.response, at(95))
        assert machine.check(at(100)).limits.max_devices == 2
    assert vendor.open_seats(lic.id) == 2
    verified(vendor)


# --- transfer ------------------------------------------------------------------------------------


def test_transfer_moves_the_license_to_another_customer(vendor: Vendor) -> None:
    licsign.add_customer(vendor.ws, OTHER, name="Initech", now=at(0))
    lic = vendor.issue(expires=at(30 * 86400), max_devices=2)
    moved = licsign.transfer_license(vendor.ws, lic.id, lambda: PW, to=OTHER, now=at(60))
    assert (moved.version, moved.license.terms.customer, moved.previous_customer) == (
        2, OTHER, CUSTOMER,
    )  # fmt: skip
    assert moved.seats_freed == ()
    assert vendor.license_record(lic.id)["customer_id"] == OTHER
    # the old holder's version is superseded and revoked in the same unit of work
    assert versions(vendor, lic.id) == {1: "revoked", 2: "active"}
    assert moved.versions_revoked == (1,)
    assert moved.to_json()["from_customer"] == CUSTOMER
    with pytest.raises(RefusedError, match="already belongs"):
        licsign.transfer_license(vendor.ws, lic.id, never_asked, to=OTHER, now=at(70))
    with pytest.raises(licsign.NotFoundError):
        licsign.transfer_license(vendor.ws, lic.id, never_asked, to="nobody", now=at(70))
    verified(vendor)


def test_transfer_leaves_nothing_to_the_old_holder(vendor: Vendor) -> None:
    """Earlier versions revoked (once each), the old holder's users and shares removed and
    their codes dead, and a machine of the old holder refused once a list reaches it."""
    licsign.add_customer(vendor.ws, OTHER, name="Initech", now=at(0))
    lic = vendor.issue(expires=at(30 * 86400), max_devices=3, max_users=2)
    code = vendor.assign(lic, "ann@globex.example", at(5))
    licsign.share_license(vendor.ws, lic.id, "bob@globex.example", now=at(6))
    old_machine = vendor.machine("old")
    old_machine.activate(lic, at(10), user="ann@globex.example", code=code)
    renewed = licsign.renew_license(vendor.ws, lic.id, lambda: PW, now=at(20),
                                    expires=at(60 * 86400))  # fmt: skip
    licsign.revoke_license(vendor.ws, lic.id, version=1, now=at(25))
    moved = licsign.transfer_license(
        vendor.ws, lic.id, lambda: PW, to=OTHER, now=at(70), force=True
    )
    assert renewed.version == 2 and moved.version == 3
    assert moved.versions_revoked == (2,)  # version 1 was revoked already
    assert moved.users_removed == ("ann@globex.example",)
    assert versions(vendor, lic.id) == {1: "revoked", 2: "revoked", 3: "active"}
    assert licsign.license_users(vendor.ws, lic.id, now=at(70)) == []
    assert licsign.license_shares(vendor.ws, lic.id, now=at(70)) == []
    # the old holder's user cannot come back with a fresh request on the new version
    stranger = vendor.machine("again")
    stranger.import_license(moved.license, at(80))
    with pytest.raises(RefusedError, match="not assigned|no user"):
        vendor.activate(stranger.request(at(80), user="ann@globex.example", code=code), at(80))
    armored, listed = licsign.export_revocations(vendor.ws, lambda: PW, now=at(90))
    assert listed.licenses == {lic.id: frozenset({1, 2})}
    old_machine.store.import_revocations(armored, trusted_roots=vendor.roots,
                                         product=PRODUCT, now=at(95))  # fmt: skip
    with pytest.raises(licverify.RevokedError):
        old_machine.check(at(96))
    verified(vendor)


def test_transfer_with_seats_held_is_refused_unless_forced(vendor: Vendor) -> None:
    licsign.add_customer(vendor.ws, OTHER, name="Initech", now=at(0))
    lic = vendor.issue(expires=at(30 * 86400), max_devices=2, max_transfers=0)
    granted = vendor.machine("m1").activate(lic, at(10))
    with pytest.raises(RefusedError, match=r"activated on 1 device.*host-m1.*--force"):
        licsign.transfer_license(vendor.ws, lic.id, never_asked, to=OTHER, now=at(60))
    assert versions(vendor, lic.id) == {1: "active"}
    moved = licsign.transfer_license(
        vendor.ws, lic.id, lambda: PW, to=OTHER, now=at(70), force=True
    )
    assert moved.seats_freed == (granted.activation_id,)
    assert vendor.open_seats(lic.id) == 0
    ended = vendor.activations(lic.id)[0]
    assert ended["end_reason"] == "reset" and not ended["counts_transfer"]
    transferred = [e for e in vendor.events(lic.id) if e["kind"] == "license.transferred"]
    event = json.loads(transferred[-1]["data"])
    assert event["activations"] == [granted.activation_id] and event["forced"] is True
    # the new holder's machine takes a seat of version 2
    newcomer = vendor.machine("n1")
    newcomer.activate(moved.license, at(80))
    assert newcomer.check(at(90)).customer == OTHER
    verified(vendor)


# --- the command line ----------------------------------------------------------------------------


def test_cli_renew_amend_transfer(site: Site) -> None:
    lic = site.issue_with("a.lic", "--type", "subscription", "--duration", "30d",
                          "--max-devices", "2")["id"]  # fmt: skip
    out = site.vendor_ok("renew", lic, "--extend", "1y", "-o", str(site.tmp / "a2.lic"), "--json")
    data = json.loads(out.out)
    assert data["action"] == "renewed" and data["supersedes"] == 1
    assert data["license"]["version"] == 2
    amended = site.vendor_ok("amend", lic, "--max-devices", "5", "-o", str(site.tmp / "a3.lic"))
    text = amended.out
    assert f"License {lic} amended: version 3 supersedes version 2" in text
    refused = site.licsign("amend", lic, "--max-devices", "5", "-o", str(site.tmp / "a4.lic"))
    assert "nothing to amend" in error_line_after_progress(refused, "licsign", 2)
    site.vendor_ok("customer", "add", OTHER, "--name", "Initech")
    moved = site.vendor_ok("transfer", lic, "--to", OTHER, "-o", str(site.tmp / "b.lic"), "--json")
    assert json.loads(moved.out)["from_customer"] == CUSTOMER
    assert (site.tmp / "b.lic").read_bytes().startswith(b"-----BEGIN LICSIGN LICENSE-----")
    # the machine: version 4 installed, then version 1 refused
    machine = site.machine("m1")
    machine.ok("import", str(site.tmp / "b.lic"))
    old = machine("import", str(site.tmp / "a.lic"))
    assert old.code == 1 and "older than version 4" in old.out + old.err
    usage = site.licsign("renew", lic, "-o", str(site.tmp / "x.lic"))
    assert usage.code == 2 and "exactly one of --extend and --expires" in usage.err
    assert site.vendor_ok("ledger", "verify").code == 0


def test_cli_transfer_with_seats_needs_force(site: Site) -> None:
    lic = site.issue("a.lic", "--max-devices", "2")
    machine = site.machine("m1")
    machine.ok("import", str(site.tmp / "a.lic"))
    machine.ok("request", "-o", str(machine.path("req")))
    site.vendor_ok("activate", str(machine.path("req")), "-o", str(machine.path("resp")))
    machine.ok("install", str(machine.path("resp")))
    site.vendor_ok("customer", "add", OTHER, "--name", "Initech")
    refused = site.licsign("transfer", lic, "--to", OTHER, "-o", str(site.tmp / "b.lic"))
    assert "--force" in error_line_after_progress(refused, "licsign", 1)
    done = site.vendor_ok("transfer", lic, "--to", OTHER, "--force", "-o", str(site.tmp / "b.lic"))
    assert "Freed 1 seat(s)" in done.out + done.err
    assert site.vendor_ok("ledger", "verify").code == 0


def test_cli_status_after_a_renewal_says_to_request_again(site: Site) -> None:
    lic = site.issue_with("a.lic", "--type", "subscription", "--duration", "30d",
                          "--require-activation")["id"]  # fmt: skip
    machine = site.machine("m1")
    machine.ok("import", str(site.tmp / "a.lic"))
    machine.ok("request", "-o", str(machine.path("req")))
    site.vendor_ok("activate", str(machine.path("req")), "-o", str(machine.path("resp")))
    machine.ok("install", str(machine.path("resp")))
    site.vendor_ok("renew", lic, "--extend", "1y", "-o", str(site.tmp / "a2.lic"))
    machine.ok("import", str(site.tmp / "a2.lic"))
    status = machine("status")
    assert status.code != 0 and "renewed license installed" in status.out + status.err
    machine.ok("request", "-o", str(machine.path("req2")))
    site.vendor_ok("activate", str(machine.path("req2")), "-o", str(machine.path("resp2")))
    machine.ok("install", str(machine.path("resp2")))
    machine.ok("status")
    assert len(site.vendor.open_activations(lic)) == 1


def test_the_cli_writes_nothing_when_refused(site: Site) -> None:
    lic = site.issue("a.lic")
    before = site.ledger()
    refused = site.licsign("renew", lic, "--extend", "1y", "-o", str(site.tmp / "a2.lic"))
    assert "never expires" in error_line_after_progress(refused, "licsign", 1)
    assert site.ledger() == before and not (site.tmp / "a2.lic").exists()
