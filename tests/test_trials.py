"""Issue 9, trials: a machine takes one trial per product, on SQLite and on PostgreSQL.

A machine is the ``machine-id`` component of its request's fingerprint
(salted per product). Whatever trial license, customer or device key asks
next, and whether the first trial's seat was freed or not, the ledger
refuses a second trial of that product to that machine, naming the first;
renewing the same seat is not a second trial. docs/security.md, "Trials:
once per machine".
"""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path
from typing import Any

import pytest
from harness import (
    CUSTOMER,
    OTHER_PRODUCT,
    PRODUCT,
    PW,
    Machine,
    Site,
    Vendor,
    at,
    error_line,
)

import licsign
from licsign import IssuedLicense, IssueRequest, RefusedError, Workspace, activate
from licsign._ledger import TrialRecord
from licverify import LocalStore, machine_fingerprint
from licverify._fingerprint import MACHINE_ID
from licverify._time import iso

REFUSED = "this machine already had a trial of product " + PRODUCT


def trial(vendor: Vendor, customer: str = CUSTOMER, **terms: Any) -> IssuedLicense:
    """A trial license (30 days by default) that requires activation."""
    request = IssueRequest(PRODUCT, customer, "trial", activation_required=True, **terms)
    return licsign.issue_license(vendor.ws, request, lambda: PW, now=at(-60))


def same_machine(vendor: Vendor, first: Machine, name: str) -> Machine:
    """Another store (a reinstall: a new device key) on the machine ``first`` runs on."""
    return vendor.machine(name, fingerprint=first.fp)


def trials(vendor: Vendor) -> list[dict[str, Any]]:
    return vendor.ledger_dump()["trials"]


def refused(machine: Machine, lic: IssuedLicense | None, when: Any = None) -> str:
    """What the vendor says to this machine's request, which must be refused; nothing is kept."""
    if lic is not None:
        machine.import_license(lic, when)
    before = machine.vendor.ledger_dump()
    with pytest.raises(RefusedError) as info:
        machine.vendor.activate(machine.request(when), when)
    assert machine.vendor.ledger_dump() == before
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_machine_takes_one_trial_and_renews_its_seat(vendor: Vendor) -> None:
    lic = trial(vendor)
    m = vendor.machine("m")
    first = m.activate(lic)
    again = m.activate(when=at(3600))  # the same device on the same license: its seat renewed
    assert (again.reused, again.activation_id) == (True, first.activation_id)
    assert m.check(at(3600)).id == lic.id
    machine = m.fp[MACHINE_ID].hex()
    assert trials(vendor) == [{
        "product_id": PRODUCT, "machine": machine, "license_id": lic.id,
        "activation_id": first.activation_id, "device_id": first.device_id,
        "taken_at": int(vendor.now.timestamp()),
    }]  # fmt: skip
    assert vendor.event_kinds(lic.id).count("trial.taken") == 1
    assert vendor.ws.ledger.trials_of(lic.id) == [TrialRecord(**trials(vendor)[0])]


def test_a_second_trial_on_the_same_machine_is_refused(vendor: Vendor) -> None:
    first_lic, second_lic = trial(vendor), trial(vendor)
    licsign.add_customer(vendor.ws, "initech", name="Initech", now=at(-60))
    other_customer = trial(vendor, "initech")
    m = vendor.machine("m")
    m.activate(first_lic)
    taken = f"license {first_lic.id}, activated {iso(int(vendor.now.timestamp()))}"
    # Another device key on the same machine (the store wiped, the program reinstalled)...
    for name, lic in (("same-license", first_lic), ("other-license", second_lic),
                      ("other-customer", other_customer)):  # fmt: skip
        line = refused(same_machine(vendor, m, name), lic, at(60))
        assert line.startswith(REFUSED) and taken in line, line
    assert len(trials(vendor)) == 1
    assert vendor.open_seats(second_lic.id) == vendor.open_seats(other_customer.id) == 0


def test_freeing_the_trial_seat_does_not_give_the_machine_another_trial(vendor: Vendor) -> None:
    lic, other = trial(vendor, max_transfers=5), trial(vendor)
    m = vendor.machine("m")
    m.activate(lic)
    licsign.deactivate(vendor.ws, m.deactivate(at(10)), now=at(11))
    assert vendor.open_seats(lic.id) == 0
    assert lic.id in refused(m, None, at(20))  # the same license, the store's new device key
    assert lic.id in refused(m, other, at(30))  # another trial license
    # A vendor reset frees the seat of a device that still has its key: it asks again, in vain.
    n, n_lic = vendor.machine("n"), trial(vendor)
    n.activate(n_lic)
    (device,) = [a["device_id"] for a in vendor.activations(n_lic.id)]
    licsign.reset_device(vendor.ws, n_lic.id, device, now=at(60))
    with pytest.raises(RefusedError, match=f"{REFUSED}: license {n_lic.id}, activated "):
        vendor.activate(n.request(at(70)), at(70))
    assert vendor.open_seats(n_lic.id) == 0 and len(trials(vendor)) == 2
    assert vendor.event_count("trial.taken") == 2


def test_other_machines_and_other_products_take_their_own_trial(vendor: Vendor) -> None:
    lic, other = trial(vendor), trial(vendor)
    a, b, c = (vendor.machine(name) for name in ("a", "b", "c"))
    a.activate(lic)
    b.activate(lic)  # one trial license, several machines: each takes its own trial
    c.activate(other)
    assert {t["machine"] for t in trials(vendor)} == {x.fp[MACHINE_ID].hex() for x in (a, b, c)}
    # The same machine (same raw machine id) under another product: its digest differs.
    request = IssueRequest(OTHER_PRODUCT, CUSTOMER, "trial", activation_required=True)
    cam = licsign.issue_license(vendor.ws, request, lambda: PW, now=at(-60))
    fp = machine_fingerprint(OTHER_PRODUCT, machine_id="machine-id-a")
    store = LocalStore(str(Path(vendor.tmp) / "machines" / "a-cam"))
    store.import_license(cam.armored, trusted_roots=vendor.roots, product=OTHER_PRODUCT,
                         now=vendor.now, fingerprint=fp)  # fmt: skip
    vendor.activate(store.request(now=vendor.now, fingerprint=fp, label="host-a"))
    assert fp[MACHINE_ID] != a.fp[MACHINE_ID]
    assert sorted((t["product_id"], t["license_id"]) for t in trials(vendor)) == sorted(
        [(PRODUCT, lic.id), (PRODUCT, lic.id), (PRODUCT, other.id), (OTHER_PRODUCT, cam.id)]
    )


@pytest.mark.parametrize("kind", ["subscription", "perpetual", "time-limited"])
def test_licenses_of_other_types_are_not_trials(vendor: Vendor, kind: str) -> None:
    had_trial = vendor.machine("m")
    had_trial.activate(trial(vendor))
    lic = vendor.issue(kind, max_transfers=5)
    bought = same_machine(vendor, had_trial, "m-bought")
    bought.activate(lic, at(10))  # a machine that had its trial buys the product
    licsign.deactivate(vendor.ws, bought.deactivate(at(20)), now=at(21))
    bought.activate(when=at(30))  # and moves or re-takes its seat as often as it likes
    fresh = vendor.machine("fresh")
    fresh.activate(lic, at(40))
    # A paid license does not use up the machine's trial.
    same_machine(vendor, fresh, "fresh-trial").activate(trial(vendor), at(50))
    assert vendor.open_seats(lic.id) == 2 and len(trials(vendor)) == 2
    assert vendor.event_count("trial.taken") == 2


# --- four processes, one machine, four trial licenses -------------------------------------------


def _racer(index: int, where: tuple[str, str | None], request: bytes, now: Any, barrier: Any,
           results: Any) -> None:  # fmt: skip
    """Child process: open its own workspace, wait for the others, then activate once."""
    try:
        ws = Workspace(*where)
        try:
            assert ws.ledger is not None  # connect before the start line
            barrier.wait(60)
            results.put((index, "granted", activate(ws, request, lambda: PW, now=now).license_id))
        finally:
            ws.close()
    except RefusedError as exc:
        results.put((index, "refused", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - any other outcome is the failure looked for
        results.put((index, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def race(vendor: Vendor, requests: list[bytes]) -> list[tuple[int, str, str]]:
    """Fork one process per request, release them together; every outcome."""
    vendor.close()  # no connection may cross the fork
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(len(requests)), ctx.Queue()
    where = (vendor.home, vendor.ledger_url)
    processes = [
        ctx.Process(target=_racer, args=(i, where, r, vendor.now, barrier, results), daemon=True)
        for i, r in enumerate(requests)
    ]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=90) for _ in processes]
    for p in processes:
        p.join(90)
    assert [p.exitcode for p in processes] == [0] * len(requests)
    return outcomes


def test_four_processes_racing_for_trials_of_one_machine_get_one(vendor: Vendor) -> None:
    licenses = [trial(vendor) for _ in range(4)]
    machines = [
        vendor.machine(f"install-{i}", fingerprint=vendor.machine("m").fp) for i in range(4)
    ]
    requests = []
    for m, lic in zip(machines, licenses, strict=True):
        m.import_license(lic)
        requests.append(m.request())
    outcomes = race(vendor, requests)
    errors = [detail for _, kind, detail in outcomes if kind == "error"]
    assert errors == [], "\n".join(errors)
    granted = [detail for _, kind, detail in outcomes if kind == "granted"]
    lines = [detail for _, kind, detail in outcomes if kind == "refused"]
    assert len(granted) == 1 and len(lines) == 3
    assert all(line.startswith(f"{REFUSED}: license {granted[0]}, ") for line in lines), lines
    (row,) = trials(vendor)
    assert row["license_id"] == granted[0]
    assert vendor.open_seats() == 1 and vendor.event_count("trial.taken") == 1


# --- the ledger's history replays the trials -----------------------------------------------------


def test_ledger_verify_replays_trials_and_names_a_row_no_event_made(vendor: Vendor) -> None:
    m = vendor.machine("m")
    m.activate(trial(vendor))
    refused(same_machine(vendor, m, "again"), trial(vendor), at(10))
    check = licsign.verify_ledger(vendor.ws)
    assert check.ok, check.problems
    assert check.rows["trials"] == 1 and "trials" not in check.unchecked_tables
    # A desk that writes a trial without its event (to deny a machine its trial, say).
    forged = TrialRecord(PRODUCT, "00" * 16, "L-FAKE-FAKE-FAKE", "A-FAKE", "ab" * 16, 1)
    with vendor.ws.ledger.transaction():
        vendor.ws.ledger.add_trial(forged)
    check = licsign.verify_ledger(vendor.ws)
    assert not check.ok
    assert [str(p) for p in check.problems] == [
        f"trials row product_id='{PRODUCT}', machine='{'00' * 16}' has no event that made it"
    ]


# --- the command line ----------------------------------------------------------------------------


def test_the_command_line_refuses_a_second_trial_in_one_line(site: Site) -> None:
    first_id = site.issue_with("t1.lic", "--type", "trial", "--require-activation")["id"]
    second_id = site.issue_with("t2.lic", "--type", "trial", "--require-activation")["id"]
    a = site.machine("a")
    a.ok("import", str(site.tmp / "t1.lic"))
    a.ok("request", "-o", str(a.path("request.txt")))
    site.vendor_ok("activate", str(a.path("request.txt")), "-o", str(a.path("response.txt")))
    a.ok("install", str(a.path("response.txt")))
    reinstalled = site.machine("a-again")
    reinstalled.machine_id = a.machine_id  # the same machine, a new state directory
    reinstalled.ok("import", str(site.tmp / "t2.lic"))
    reinstalled.ok("request", "-o", str(reinstalled.path("request.txt")))
    ledger = site.ledger()
    result = site.licsign(
        "activate", str(reinstalled.path("request.txt")), "-o", str(reinstalled.path("r.txt"))
    )
    line = error_line(result, "licsign", 1)
    assert f"already had a trial of product {PRODUCT}: license {first_id}, activated " in line
    assert "Traceback" not in result.err and second_id not in line
    assert site.ledger() == ledger and not reinstalled.path("r.txt").exists()
    assert site.vendor_ok("ledger", "verify").out
