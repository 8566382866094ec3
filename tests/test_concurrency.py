"""Seat limits under real concurrency: OS processes racing on one ledger (DESIGN §4),
on SQLite and on PostgreSQL (each test runs on both engines).

Every process opens its own ``Workspace`` (its own database connection) and calls
``licsign.activate`` at the same moment, released together by a
``multiprocessing.Barrier``. The processes are forked after the parent lowered
the Argon2id floor (``unsafe_fast_kdf``), so they inherit the cheap KDF and
open the issuing key in milliseconds.

What must hold: the ledger records exactly ``max_devices`` open activations;
exactly that many processes get a response, and each response installs on the
store that made the request; every other process gets ``Refused`` naming the
limit; nothing else happens (no "database is locked", no other exception).
"""

from __future__ import annotations

import multiprocessing
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from harness import PW, Machine, Vendor

import licverify
from licsign import IssuedLicense, RefusedError, Workspace, activate

MAX_DEVICES = 5
RACERS = 16
#: Generous: forking, importing nothing new, and a cheap KDF take well under a second each.
BARRIER_TIMEOUT = 60
JOIN_TIMEOUT = 90


def licensed(
    tmp_path: Path, kdf: dict[str, int], now: datetime, max_devices: int, ledger_url: str | None
) -> tuple[Vendor, IssuedLicense]:
    """The harness vendor at ``now`` (its ledger on SQLite or PostgreSQL) and one
    activation-required license; the workspace closed (no connection may cross the fork;
    the ledger reads still work)."""
    with Vendor.create(tmp_path, kdf, now=now, ledger_url=ledger_url) as vendor:
        issued = vendor.issue("perpetual", max_devices=max_devices, when=now - timedelta(seconds=30))
    return vendor, issued


def machine(vendor: Vendor, issued: IssuedLicense, name: str) -> Machine:
    """A customer machine (harness.Machine) with the license imported."""
    m = vendor.machine(name)
    m.import_license(issued)
    return m


def _racer(index: int, vendor: tuple[str, str | None], request: bytes, now: datetime, barrier: Any,
           results: Any) -> None:  # fmt: skip
    """Child process: wait for the others, then activate once; report what happened."""
    try:
        ws = Workspace(*vendor)
        try:
            assert ws.ledger is not None  # connect (open the ledger) before the start line
            barrier.wait(BARRIER_TIMEOUT)
            granted = activate(ws, request, lambda: PW, now=now)
            results.put((index, "granted", granted.response, granted.activation_id, granted.reused))
        finally:
            ws.close()
    except RefusedError as exc:
        results.put((index, "refused", str(exc), None, None))
    except BaseException as exc:  # noqa: BLE001 - every other outcome is the failure we look for
        results.put((index, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", None, None))


def race(vendor: Vendor, requests: list[bytes]) -> dict[int, tuple[str, Any, Any, Any]]:
    """Fork one process per request, release them together, collect every outcome."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(requests))
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_racer, args=(i, (vendor.home, vendor.ledger_url), req, vendor.now, barrier, results), daemon=True)
        for i, req in enumerate(requests)
    ]
    for p in processes:
        p.start()
    outcomes: dict[int, tuple[str, Any, Any, Any]] = {}
    try:
        for _ in processes:
            index, kind, a, b, c = results.get(timeout=JOIN_TIMEOUT)
            outcomes[index] = (kind, a, b, c)
    finally:
        for p in processes:
            p.join(JOIN_TIMEOUT)
            if p.is_alive():  # pragma: no cover - only on a hang
                p.kill()
                p.join()
    assert [p.exitcode for p in processes] == [0] * len(processes)
    assert sorted(outcomes) == list(range(len(requests)))
    return outcomes


@pytest.fixture
def start() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def test_sixteen_machines_race_for_five_seats(
    unsafe_fast_kdf: dict[str, int], tmp_path: Path, start: datetime, shared_ledger: str | None
) -> None:
    vendor, issued = licensed(tmp_path, unsafe_fast_kdf, start, MAX_DEVICES, shared_ledger)
    machines = [machine(vendor, issued, f"machine-{i}") for i in range(RACERS)]
    requests = [m.request(label=f"host-{i:02d}") for i, m in enumerate(machines)]  # sequentially, in the parent

    outcomes = race(vendor, requests)

    errors = {i: o[1] for i, o in outcomes.items() if o[0] == "error"}
    assert errors == {}, "\n".join(errors.values())
    granted = {i: o for i, o in outcomes.items() if o[0] == "granted"}
    refused = {i: o[1] for i, o in outcomes.items() if o[0] == "refused"}
    assert len(granted) == MAX_DEVICES
    assert len(refused) == RACERS - MAX_DEVICES
    for message in refused.values():
        assert "database is locked" not in message and "deadlock" not in message
        assert f"is activated on {MAX_DEVICES} of {MAX_DEVICES} devices" in message, message
        assert issued.id in message

    # The ledger agrees: five open activations, five distinct devices, no extra rows at all.
    assert vendor.open_seats() == MAX_DEVICES
    rows = [(a["id"], a["device_id"]) for a in vendor.activations()]
    assert len(rows) == MAX_DEVICES
    assert {act for act, _ in rows} == {o[2] for o in granted.values()}
    assert vendor.event_count("activation.created") == MAX_DEVICES
    assert all(o[3] is False for o in granted.values())

    # Each response installs on the store that made its request, and only there.
    for i, (_, response, activation_id, _) in granted.items():
        lic = machines[i].install(response)
        assert lic.activation is not None and lic.activation.activation_id == activation_id
        assert machines[i].check().id == issued.id
    loser = next(iter(refused))
    winner_response = next(iter(granted.values()))[1]
    with pytest.raises(licverify.LicenseError):
        machines[loser].install(winner_response)
    with pytest.raises(licverify.NotActivatedError):
        machines[loser].check()


def test_one_device_sending_its_request_four_times_at_once_takes_one_seat(
    unsafe_fast_kdf: dict[str, int], tmp_path: Path, start: datetime, shared_ledger: str | None
) -> None:
    vendor, issued = licensed(tmp_path, unsafe_fast_kdf, start, MAX_DEVICES, shared_ledger)
    one = machine(vendor, issued, "the-one-machine")
    request = one.request(label="host")

    outcomes = race(vendor, [request] * 4)

    errors = {i: o[1] for i, o in outcomes.items() if o[0] == "error"}
    assert errors == {}, "\n".join(errors.values())
    assert all(o[0] == "granted" for o in outcomes.values()), outcomes
    # One seat: the first grant creates it, the other three renew the same activation.
    assert len({o[2] for o in outcomes.values()}) == 1
    assert sorted(o[3] for o in outcomes.values()) == [False, True, True, True]
    assert vendor.open_seats() == 1
    assert len(vendor.activations()) == 1
    assert vendor.event_count("activation.created") == 1
    assert vendor.event_count("activation.renewed") == 3
    # Every one of the four responses answers the same request and installs here.
    for _, response, activation_id, _ in outcomes.values():
        assert one.install(response).activation.activation_id == activation_id  # type: ignore[union-attr]


def test_four_copies_of_one_request_race_with_other_machines_for_the_last_seat(
    unsafe_fast_kdf: dict[str, int], tmp_path: Path, start: datetime, shared_ledger: str | None
) -> None:
    """Duplicates of one device must not consume the seats other devices compete for."""
    vendor, issued = licensed(tmp_path, unsafe_fast_kdf, start, 2, shared_ledger)
    machines = [machine(vendor, issued, f"m-{i}") for i in range(5)]
    repeated = machines[0].request(label="repeated")
    others = [m.request(label=f"host-{i}") for i, m in enumerate(machines[1:], 1)]

    outcomes = race(vendor, [repeated] * 4 + others)

    errors = {i: o[1] for i, o in outcomes.items() if o[0] == "error"}
    assert errors == {}, "\n".join(errors.values())
    assert vendor.open_seats() == 2
    devices = {a["device_id"] for a in vendor.activations()}
    assert len(devices) == 2
    granted = [o for o in outcomes.values() if o[0] == "granted"]
    refused = [o for o in outcomes.values() if o[0] == "refused"]
    assert all("is activated on 2 of 2 devices" in o[1] for o in refused)
    # Whoever got a seat: the repeated device's copies are all granted or all refused.
    repeated_kinds = {outcomes[i][0] for i in range(4)}
    assert len(repeated_kinds) == 1
    assert len({o[2] for o in granted}) == 2
    assert len(granted) == (4 + 1 if repeated_kinds == {"granted"} else 2)
    ws = Workspace(vendor.home, vendor.ledger_url)
    try:  # the racing writers kept the hash chain whole
        assert ws.ledger.verify_events() == vendor.event_count()
    finally:
        ws.close()
