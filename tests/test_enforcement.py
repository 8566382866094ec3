"""Every signed term binds (issue 6): the attacks that used to work, each refused now.

Vendor side: a real workspace and ledger; customer side: one LocalStore per
simulated machine (harness.Vendor and harness.Machine; the ``vendor``
fixture). Times are injected.
Each test names the attack it closes.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from typing import Any

import pytest
from factory import T0
from harness import PRODUCT, PW, Machine, Vendor, at

from licsign import IssueRequest, RefusedError, devices, issue_license, reset_device
from licsign import deactivate as vendor_deactivate
from licverify import (
    NotActivatedError,
    Status,
    WrongMachineError,
    machine_fingerprint,
    verify_response,
)
from licverify._time import iso

HOUR, DAY = 3600, 86400


def copy_of(machine: Machine, name: str) -> Machine:
    """Another machine holding a byte-for-byte copy of ``machine``'s state directory."""
    clone = machine.vendor.machine(name)
    shutil.copytree(machine.path, clone.path)
    return clone


# --- 1. one seat, one machine -----------------------------------------------------------------


def test_four_machines_copying_one_activated_store_only_the_first_is_licensed(
    vendor: Vendor,
) -> None:
    lic = vendor.issue(max_devices=1)
    first = vendor.machine("first")
    granted = first.activate(lic)
    events = vendor.event_count()
    copies = [copy_of(first, f"copy-{i}") for i in range(3)]
    for copy in copies:
        request = copy.request(at(60))  # signed by the copied device key, with its own fingerprint
        with pytest.raises(RefusedError, match="was activated on another machine"):
            vendor.activate(request, at(61))
        with pytest.raises(WrongMachineError):
            copy.check(at(62))
    assert first.check(at(62)).activation.activation_id == granted.activation_id  # type: ignore[union-attr]
    assert vendor.open_seats(lic.id) == 1
    assert vendor.event_count() == events  # refusals record nothing
    licensed = []
    for machine in [first, *copies]:
        try:
            machine.check(at(100))
            licensed.append(machine.name)
        except WrongMachineError:
            pass
    assert licensed == ["first"]


def test_renewal_from_the_same_machine_keeps_working(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=1)
    m1 = vendor.machine("m1")
    granted = m1.activate(lic)
    renewed = vendor.activate(m1.request(at(10)), at(11))
    assert renewed.reused and renewed.activation_id == granted.activation_id
    m1.install(renewed.response, at(12))
    assert m1.check(at(13)).status is Status.VALID


def test_refusal_says_what_to_do(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=2)
    m1 = vendor.machine("m1")
    granted = m1.activate(lic)
    with pytest.raises(RefusedError) as caught:
        vendor.activate(copy_of(m1, "m2").request(at(5)), at(5))
    message = str(caught.value)
    assert "\n" not in message
    assert "deactivate it there" in message
    assert f"licsign device reset {lic.id} {granted.device_id[:12]}" in message
    assert "counts as a transfer" in message


@pytest.mark.parametrize(("changed", "ok"), [(1, True), (2, False)])
def test_renewal_compares_with_the_first_fingerprint_under_device_match(
    vendor: Vendor, changed: int, ok: bool
) -> None:
    base = {"machine-id": b"\x01" * 16, "disk": b"\x02" * 16, "mac": b"\x03" * 16, "cpu": b"\x04" * 16}
    lic = vendor.issue(max_devices=1, device_match="most")
    m1 = vendor.machine("m1", fingerprint=base)
    m1.activate(lic)
    later = dict(base)
    for name in ["disk", "mac"][:changed]:
        later[name] = b"\xee" * 16  # a replaced disk, then a replaced NIC as well
    request = m1.request(at(10), fingerprint=later)
    if ok:
        assert vendor.activate(request, at(10)).reused
    else:
        with pytest.raises(RefusedError, match="was activated on another machine"):
            vendor.activate(request, at(10))


def test_after_a_reset_the_copied_key_takes_a_seat_as_a_transfer(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=1, max_transfers=1)
    m1 = vendor.machine("m1")
    granted = m1.activate(lic)
    m2 = copy_of(m1, "m2")
    info = reset_device(vendor.ws, lic.id, granted.device_id[:8], now=at(20))
    assert info.transfer is True and info.transfers_used == 1
    assert info.works_offline_until is None  # no --refresh: nothing stops the old machine
    again = vendor.activate(m2.request(at(30)), at(30))
    assert not again.reused and again.activation_id != granted.activation_id
    m2.install(again.response, at(31))
    assert m2.check(at(32)).activation is not None
    assert vendor.ws.ledger.transfers_used(lic.id) == 1


# --- 2. the client does not choose its fingerprint --------------------------------------------


def _real(name: str) -> dict[str, bytes]:
    return dict(machine_fingerprint(PRODUCT, machine_id=f"machine-id-{name}"))


@pytest.mark.parametrize(
    ("components", "why"),
    [
        (["cpu"], "missing: machine-id"),
        (["cpu", "hostname", "mac"], "missing: machine-id"),
        (["machine-id"], "needs at least 2"),
    ],
)
def test_thin_fingerprints_are_refused(vendor: Vendor, components: list[str], why: str) -> None:
    lic = vendor.issue(max_devices=5)
    full = {**_real("m1"), "mac": b"\x05" * 16}
    m1 = vendor.machine("m1", fingerprint={k: full[k] for k in components})
    m1.import_license(lic)
    with pytest.raises(RefusedError, match=why):
        vendor.activate(m1.request(at(1)), at(1))
    assert vendor.open_seats(lic.id) == 0


def test_container_with_injected_machine_id_is_granted(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=1)
    container = vendor.machine("container", fingerprint=_real("injected-by-the-host"))
    assert "machine-id" in container.fp and len(container.fp) >= 2
    assert container.activate(lic).activation_id


def test_product_policy_can_be_stricter(vendor: Vendor) -> None:
    vendor.ws.ledger.set_product_policy(T0, PRODUCT, 3, ["disk"])
    lic = vendor.issue(max_devices=5)
    fp = {"machine-id": b"\x01" * 16, "cpu": b"\x02" * 16, "hostname": b"\x03" * 16}
    m1 = vendor.machine("m1", fingerprint=fp)
    m1.import_license(lic)
    with pytest.raises(RefusedError, match=r"needs at least 3 including disk, machine-id \(missing: disk\)"):
        vendor.activate(m1.request(at(1)), at(1))
    m2 = vendor.machine("m2", fingerprint={**fp, "disk": b"\x04" * 16})
    assert m2.activate(lic).activation_id
    product = vendor.product_record(PRODUCT)
    assert product["min_components"] == 3
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


# --- 3. limits imply activation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "reason"),
    [
        ({"max_devices": 2}, "max devices"),
        ({"max_users": 2}, "max users"),
        ({"max_devices_per_user": 1}, "max devices per user"),
        ({"max_transfers": 3}, "max transfers"),
        ({"users": ["ann@example.com"]}, "allowed users"),
        ({"type": "floating"}, "floating lease"),
        ({"refresh": timedelta(days=30)}, "refresh"),
    ],
)
def test_limits_imply_activation(vendor: Vendor, terms: dict[str, Any], reason: str) -> None:
    terms = dict(terms)  # the parameter is shared by both engines' runs
    license_type = terms.pop("type", "perpetual")
    request = IssueRequest(PRODUCT, "globex", license_type, **terms)
    issued = issue_license(vendor.ws, request, lambda: PW, now=at(0))
    assert issued.terms.activation_required is True
    assert reason in issued.activation_implied_by
    m1 = vendor.machine("m1")
    m1.import_license(issued)
    with pytest.raises(NotActivatedError):
        m1.check(at(1))


def test_devices_listed_at_issue_work_without_an_exchange(vendor: Vendor) -> None:
    fp = _real("m1")
    request = IssueRequest(PRODUCT, "globex", "perpetual", devices=[fp])
    issued = issue_license(vendor.ws, request, lambda: PW, now=at(0))
    assert issued.terms.activation_required is False and issued.activation_implied_by == ()
    m1 = vendor.machine("m1", fingerprint=fp)
    m1.import_license(issued)
    assert m1.check(at(1)).status is Status.VALID


# --- 4. floating seats come back --------------------------------------------------------------


def test_a_floating_seat_comes_back_by_itself_after_its_lease(vendor: Vendor) -> None:
    lic = vendor.issue("floating", lease=timedelta(hours=1), max_devices=1)
    m1, m2 = vendor.machine("m1"), vendor.machine("m2")
    first = m1.activate(lic, at(0))
    m2.import_license(lic, at(0))
    with pytest.raises(RefusedError, match="activated on 1 of 1 devices"):
        vendor.activate(m2.request(at(HOUR - 1)), at(HOUR - 1))
    granted = vendor.activate(m2.request(at(HOUR)), at(HOUR))  # m1's lease ended: its seat is free
    m2.install(granted.response, at(HOUR))
    assert m2.check(at(HOUR + 1)).activation is not None
    # m1 comes back: its lease ended and the seat is taken, so it must wait like anyone else.
    with pytest.raises(RefusedError, match="activated on 1 of 1 devices"):
        vendor.activate(m1.request(at(HOUR + 10)), at(HOUR + 10))
    statuses = {d.device_id: d.status for d in devices(vendor.ws, lic.id, now=at(HOUR + 10))}
    assert statuses == {first.device_id: "lease-ended", granted.device_id: "active"}
    # After m2's lease ends, m1 gets the seat back: the same activation, renewed.
    again = vendor.activate(m1.request(at(2 * HOUR)), at(2 * HOUR))
    assert again.reused and again.activation_id == first.activation_id
    assert vendor.ws.ledger.transfers_used(lic.id) == 0


def test_returning_a_lease_frees_the_seat_and_is_not_a_transfer(vendor: Vendor) -> None:
    lic = vendor.issue("floating", lease=timedelta(hours=8), max_devices=1, max_transfers=0)
    m1, m2 = vendor.machine("m1"), vendor.machine("m2")
    m1.activate(lic, at(0))
    for i in range(3):  # returned and taken again, more often than max_transfers allows
        receipt = m1.deactivate(at(10 + i * 100))
        result = vendor_deactivate(vendor.ws, receipt, now=at(11 + i * 100))
        assert result.transfer is False and result.transfers_used == 0
        if i < 2:
            m1.activate(None, at(20 + i * 100))
    m2.activate(lic, at(400))
    assert m2.check(at(401)).activation is not None
    assert vendor.ws.ledger.transfers_used(lic.id) == 0


# --- 5. activations that must be refreshed ----------------------------------------------------


def test_refresh_expires_responses_and_renewal_keeps_the_seat(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=1, refresh=timedelta(days=30))
    assert lic.terms.refresh_seconds == 30 * DAY
    m1 = vendor.machine("m1")
    granted = m1.activate(lic, at(0))
    assert verify_response(granted.response, trusted_roots=vendor.roots).lease_expires == T0 + 30 * DAY
    assert m1.check(at(30 * DAY - 1)).status is Status.VALID
    with pytest.raises(NotActivatedError, match="refreshed"):
        m1.check(at(30 * DAY))
    # refreshed once due (a machine's clock never goes back past its store's ratchet)
    renewed = vendor.activate(m1.request(at(30 * DAY)), at(30 * DAY))
    assert renewed.reused and renewed.expires == T0 + 60 * DAY
    m1.install(renewed.response, at(30 * DAY))
    assert m1.check(at(60 * DAY - 1)).activation is not None
    assert vendor.ws.ledger.transfers_used(lic.id) == 0


def test_a_reset_machine_stops_at_its_refresh_date_and_must_take_a_seat_again(
    vendor: Vendor,
) -> None:
    lic = vendor.issue(max_devices=1, refresh=timedelta(days=7))
    m1, m2 = vendor.machine("m1"), vendor.machine("m2")
    granted = m1.activate(lic, at(0))
    info = reset_device(vendor.ws, lic.id, granted.device_id[:6], now=at(DAY))
    assert iso(info.works_offline_until) == "2026-09-28T14:13:20Z"  # T0 + 7 days
    m2.activate(lic, at(DAY))
    assert m1.check(at(7 * DAY - 1)).activation is not None  # offline, nothing reaches it sooner
    with pytest.raises(NotActivatedError):
        m1.check(at(7 * DAY))
    with pytest.raises(RefusedError, match="activated on 1 of 1 devices"):
        vendor.activate(m1.request(at(7 * DAY)), at(7 * DAY))


# --- 7. user identity -------------------------------------------------------------------------


def test_users_compare_by_normalized_email(vendor: Vendor) -> None:
    lic = vendor.issue(users=["Ann@Example.com"], max_devices=2)
    assert lic.terms.allowed_users == ("ann@example.com",)
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    code = vendor.assign(lic, "Ann@Example.com")  # a user-based license: assigned, with a code
    granted = vendor.activate(m1.request(at(1), user="  ANN@example.COM ", code=code), at(1))
    assert vendor.open_activations(lic.id)[0]["user"] == "ann@example.com"
    assert verify_response(granted.response, trusted_roots=vendor.roots).user == "ann@example.com"


@pytest.mark.parametrize("invisible", ["\u200b", "\u202e", "\u00ad", "\u2060"])
def test_users_with_invisible_characters_are_refused(vendor: Vendor, invisible: str) -> None:
    lic = vendor.issue(users=["ann@example.com"], max_devices=2)
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    with pytest.raises(RefusedError, match="user is not acceptable"):
        vendor.activate(m1.request(at(1), user=f"ann{invisible}@example.com"), at(1))
    assert vendor.open_seats(lic.id) == 0


def test_max_users_counts_one_person_once_whatever_the_case(vendor: Vendor) -> None:
    lic = vendor.issue(max_users=1, max_devices=3)
    m1, m2 = vendor.machine("m1"), vendor.machine("m2")
    m1.import_license(lic)
    m2.import_license(lic)
    first = vendor.assign(lic, "bob@example.com")
    vendor.activate(m1.request(at(1), user="bob@example.com", code=first), at(1))
    code = vendor.new_code(lic, "BOB@example.com")
    assert vendor.activate(m2.request(at(2), user="Bob@Example.com", code=code), at(2)).activation_id


# --- review: tolerant device_match, padded and hybrid fingerprints ------------------------------

A_FP = {"machine-id": b"\x0a" * 16, "hostname": b"\x0b" * 16, "cpu": b"\x0c" * 16}


@pytest.mark.parametrize("policy", [1, 2, "most"])
def test_a_copy_with_the_same_hostname_and_cpu_is_still_another_machine(
    vendor: Vendor, policy: str | int
) -> None:
    # device_match tolerates replaced parts; hostnames are easy to set and CPU models shared.
    lic = vendor.issue(max_devices=1, device_match=policy)
    first = vendor.machine("first", fingerprint=A_FP)
    first.activate(lic)
    copy = copy_of(first, "copy")
    copy.fp = {**A_FP, "machine-id": b"\x0d" * 16}
    with pytest.raises(WrongMachineError, match="machine-id"):
        copy.check(at(5))  # the copied response
    with pytest.raises(RefusedError, match="was activated on another machine"):
        vendor.activate(copy.request(at(6)), at(6))


def test_a_hybrid_request_gets_a_response_that_only_works_on_the_first_machine(
    vendor: Vendor,
) -> None:
    # The copy claims the first machine's machine-id and hostname, and its own CPU and NIC.
    lic = vendor.issue(max_devices=1, device_match=2)
    first = vendor.machine("first", fingerprint=A_FP)
    first.activate(lic)
    copy = copy_of(first, "copy")
    copy.fp = {"machine-id": b"\x0d" * 16, "hostname": b"\x0b" * 16, "cpu": b"\x0e" * 16}
    claimed = {**A_FP, "cpu": b"\x0e" * 16, "mac": b"\x0f" * 16}
    granted = vendor.activate(copy.request(at(6), fingerprint=claimed), at(6))
    assert granted.reused  # indistinguishable from the first machine after a CPU swap
    with pytest.raises(WrongMachineError):  # the response names the first machine's machine-id
        copy.install(granted.response, at(7))


def test_made_up_component_names_do_not_count(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=5, device_match=1)
    m1 = vendor.machine("m1", fingerprint={"machine-id": b"\x01" * 16, "zz-made-up": b"\x02" * 16})
    m1.import_license(lic)
    with pytest.raises(RefusedError, match=r"has 1 known component\(s\) \(machine-id\)"):
        vendor.activate(m1.request(at(1)), at(1))


def test_a_stricter_policy_applies_to_new_seats_not_renewals(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=2)
    m1 = vendor.machine("m1", fingerprint=A_FP)
    m1.activate(lic)
    vendor.ws.ledger.set_product_policy(T0 + 1, PRODUCT, 4, ["disk"])
    assert vendor.activate(m1.request(at(10)), at(10)).reused
    m2 = vendor.machine("m2", fingerprint={**A_FP, "machine-id": b"\x02" * 16})
    m2.import_license(lic)
    with pytest.raises(RefusedError, match="missing: disk"):
        vendor.activate(m2.request(at(11)), at(11))


def test_after_its_lease_ended_a_device_may_come_back_for_another_user(vendor: Vendor) -> None:
    lic = vendor.issue("floating", lease=timedelta(hours=1), max_devices=1, max_users=2)
    m1 = vendor.machine("m1")
    m1.activate(lic, at(0), user="ann@example.com", code=vendor.assign(lic, "ann@example.com"))
    bob = vendor.assign(lic, "bob@example.com")
    with pytest.raises(RefusedError, match="holds a seat for user ann@example.com"):
        vendor.activate(m1.request(at(10), user="bob@example.com", code=bob), at(10))
    granted = vendor.activate(m1.request(at(HOUR), user="bob@example.com", code=bob), at(HOUR))
    assert granted.reused
    assert vendor.open_activations(lic.id)[0]["user"] == "bob@example.com"


@pytest.mark.parametrize("period", [timedelta(minutes=30), timedelta(days=4000)])
def test_refresh_out_of_bounds_is_refused_in_the_options_units(
    vendor: Vendor, period: timedelta
) -> None:
    from licsign import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"--refresh must be from 1h to 10y"):
        vendor.issue(max_devices=1, refresh=period)
