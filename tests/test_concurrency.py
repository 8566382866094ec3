"""Seat limits under real concurrency: OS processes racing on one ledger (DESIGN §4).

Every process opens its own ``Workspace`` (its own SQLite connection) and calls
``licsign._activation.activate`` at the same moment, released together by a
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
import os
import sqlite3
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import licverify
from licsign import IssueRequest, Workspace, init_workspace, issue_license
from licsign._activation import Refused, activate

PRODUCT = "acme-cad"
PASSPHRASE = b"concurrency passphrase"
MAX_DEVICES = 5
RACERS = 16
#: Generous: forking, importing nothing new, and a cheap KDF take well under a second each.
BARRIER_TIMEOUT = 60
JOIN_TIMEOUT = 90


class Vendor:
    """A workspace with one product, one customer and one activation-required license."""

    def __init__(self, home: Path, now: datetime, max_devices: int) -> None:
        self.home, self.now = home, now
        ws = init_workspace(str(home), PASSPHRASE, now=now - timedelta(minutes=1), vendor="Acme Inc.")
        try:
            at = int((now - timedelta(minutes=1)).timestamp())
            ws.ledger.add_product(at, PRODUCT, "Acme CAD", [])
            ws.ledger.add_customer(at, "globex", "Globex Corp", None)
            issued = issue_license(
                ws,
                IssueRequest(PRODUCT, "globex", "perpetual", max_devices=max_devices, activation_required=True),
                lambda: PASSPHRASE,
                now=now - timedelta(seconds=30),
            )
            self.root = ws.root_public_key()
        finally:
            ws.close()  # no connection may cross the fork
        self.license_id, self.document = issued.id, issued.armored

    def open_seats(self) -> int:
        db = sqlite3.connect(self.home / "ledger.sqlite3")
        try:
            return int(db.execute("SELECT COUNT(*) FROM activations WHERE ended_at IS NULL").fetchone()[0])
        finally:
            db.close()

    def all_activations(self) -> list[tuple[str, str]]:
        db = sqlite3.connect(self.home / "ledger.sqlite3")
        try:
            return [(r[0], r[1]) for r in db.execute("SELECT id, device_id FROM activations")]
        finally:
            db.close()

    def events(self, kind: str) -> int:
        db = sqlite3.connect(self.home / "ledger.sqlite3")
        try:
            return int(db.execute("SELECT COUNT(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0])
        finally:
            db.close()


class Machine:
    """One customer machine: its own store directory and machine id."""

    def __init__(self, path: Path, machine_id: str, vendor: Vendor) -> None:
        self.store = licverify.LocalStore(str(path))
        self.fingerprint = licverify.machine_fingerprint(PRODUCT, machine_id=machine_id)
        self.vendor = vendor
        self.store.import_license(vendor.document, trusted_roots=[vendor.root], product=PRODUCT,
                                  now=vendor.now, fingerprint=self.fingerprint)  # fmt: skip

    def request(self, label: str) -> bytes:
        return self.store.request(now=self.vendor.now, fingerprint=self.fingerprint, label=label)

    def install(self, response: bytes) -> licverify.License:
        return self.store.install(response, trusted_roots=[self.vendor.root], product=PRODUCT,
                                  now=self.vendor.now, fingerprint=self.fingerprint)  # fmt: skip

    def check(self) -> licverify.License:
        return self.store.check(trusted_roots=[self.vendor.root], product=PRODUCT, now=self.vendor.now,
                                fingerprint=self.fingerprint)  # fmt: skip


def _racer(index: int, home: str, request: bytes, now: datetime, barrier: Any, results: Any) -> None:
    """Child process: wait for the others, then activate once; report what happened."""
    try:
        ws = Workspace(home)
        try:
            assert ws.ledger.connection is not None  # connect before the start line
            barrier.wait(BARRIER_TIMEOUT)
            granted = activate(ws, request, lambda: PASSPHRASE, now=now)
            results.put((index, "granted", granted.response, granted.activation_id, granted.reused))
        finally:
            ws.close()
    except Refused as exc:
        results.put((index, "refused", str(exc), None, None))
    except BaseException as exc:  # noqa: BLE001 - every other outcome is the failure we look for
        results.put((index, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", None, None))


def race(vendor: Vendor, requests: list[bytes]) -> dict[int, tuple[str, Any, Any, Any]]:
    """Fork one process per request, release them together, collect every outcome."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(requests))
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_racer, args=(i, str(vendor.home), req, vendor.now, barrier, results), daemon=True)
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


def test_sixteen_machines_race_for_five_seats(unsafe_fast_kdf: dict[str, int], tmp_path: Path, start: datetime) -> None:
    vendor = Vendor(tmp_path / "ws", start, MAX_DEVICES)
    machines = [Machine(tmp_path / f"store-{i}", f"machine-{i}", vendor) for i in range(RACERS)]
    requests = [m.request(f"host-{i:02d}") for i, m in enumerate(machines)]  # sequentially, in the parent

    outcomes = race(vendor, requests)

    errors = {i: o[1] for i, o in outcomes.items() if o[0] == "error"}
    assert errors == {}, "\n".join(errors.values())
    granted = {i: o for i, o in outcomes.items() if o[0] == "granted"}
    refused = {i: o[1] for i, o in outcomes.items() if o[0] == "refused"}
    assert len(granted) == MAX_DEVICES
    assert len(refused) == RACERS - MAX_DEVICES
    for message in refused.values():
        assert "database is locked" not in message
        assert f"is activated on {MAX_DEVICES} of {MAX_DEVICES} devices" in message, message
        assert vendor.license_id in message

    # The ledger agrees: five open activations, five distinct devices, no extra rows at all.
    assert vendor.open_seats() == MAX_DEVICES
    rows = vendor.all_activations()
    assert len(rows) == MAX_DEVICES
    assert {act for act, _ in rows} == {o[2] for o in granted.values()}
    assert vendor.events("activation.created") == MAX_DEVICES
    assert all(o[3] is False for o in granted.values())

    # Each response installs on the store that made its request, and only there.
    for i, (_, response, activation_id, _) in granted.items():
        lic = machines[i].install(response)
        assert lic.activation is not None and lic.activation.activation_id == activation_id
        assert machines[i].check().id == vendor.license_id
    loser = next(iter(refused))
    winner_response = next(iter(granted.values()))[1]
    with pytest.raises(licverify.LicenseError):
        machines[loser].install(winner_response)
    with pytest.raises(licverify.NotActivated):
        machines[loser].check()


def test_one_device_sending_its_request_four_times_at_once_takes_one_seat(
    unsafe_fast_kdf: dict[str, int], tmp_path: Path, start: datetime
) -> None:
    vendor = Vendor(tmp_path / "ws", start, MAX_DEVICES)
    machine = Machine(tmp_path / "store", "the-one-machine", vendor)
    request = machine.request("host")

    outcomes = race(vendor, [request] * 4)

    errors = {i: o[1] for i, o in outcomes.items() if o[0] == "error"}
    assert errors == {}, "\n".join(errors.values())
    assert all(o[0] == "granted" for o in outcomes.values()), outcomes
    # One seat: the first grant creates it, the other three renew the same activation.
    assert len({o[2] for o in outcomes.values()}) == 1
    assert sorted(o[3] for o in outcomes.values()) == [False, True, True, True]
    assert vendor.open_seats() == 1
    assert len(vendor.all_activations()) == 1
    assert vendor.events("activation.created") == 1
    assert vendor.events("activation.renewed") == 3
    # Every one of the four responses answers the same request and installs here.
    for _, response, activation_id, _ in outcomes.values():
        assert machine.install(response).activation.activation_id == activation_id  # type: ignore[union-attr]


def test_four_copies_of_one_request_race_with_other_machines_for_the_last_seat(
    unsafe_fast_kdf: dict[str, int], tmp_path: Path, start: datetime
) -> None:
    """Duplicates of one device must not consume the seats other devices compete for."""
    vendor = Vendor(tmp_path / "ws", start, 2)
    machines = [Machine(tmp_path / f"store-{i}", f"m-{i}", vendor) for i in range(5)]
    repeated = machines[0].request("repeated")
    others = [m.request(f"host-{i}") for i, m in enumerate(machines[1:], 1)]

    outcomes = race(vendor, [repeated] * 4 + others)

    errors = {i: o[1] for i, o in outcomes.items() if o[0] == "error"}
    assert errors == {}, "\n".join(errors.values())
    assert vendor.open_seats() == 2
    devices = {device for _, device in vendor.all_activations()}
    assert len(devices) == 2
    granted = [o for o in outcomes.values() if o[0] == "granted"]
    refused = [o for o in outcomes.values() if o[0] == "refused"]
    assert all("is activated on 2 of 2 devices" in o[1] for o in refused)
    # Whoever got a seat: the repeated device's copies are all granted or all refused.
    repeated_kinds = {outcomes[i][0] for i in range(4)}
    assert len(repeated_kinds) == 1
    assert len({o[2] for o in granted}) == 2
    assert len(granted) == (4 + 1 if repeated_kinds == {"granted"} else 2)
    assert os.path.exists(vendor.home / "ledger.sqlite3")
