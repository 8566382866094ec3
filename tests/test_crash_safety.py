"""Crash safety: SIGKILL at random moments of single ledger operations (issue 8, "Tests").

Assigning a user, renewing a license, activating and deactivating a device each
run in a forked child that is killed with SIGKILL after a random delay (a seeded
RNG: every run kills at the same moments), at least 100 times per operation and
engine. After each kill the ledger verifies (``licsign.verify_ledger``) and the
operation happened entirely or not at all; none done before is lost, none twice.

The child signals once its workspace and ledger connection are open, so the
delay (uniform over what an uninterrupted operation takes from there) falls on
the operation itself. One workspace serves all the trials of a test: each trial
works on a fresh user, version, machine or seat prepared in the parent. No
connection crosses a fork: the parent closes its workspace before each one.
Bulk issuance has its own such test (test_bulk.py).
"""

from __future__ import annotations

import os
import random
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from harness import NOW, PW, Vendor

import licsign
from licsign import Workspace
from licverify import verify_request

#: Several seconds each (on PostgreSQL most of all); still part of ``make test``.
pytestmark = pytest.mark.slow

TRIALS = 100
#: Uninterrupted runs before the trials: they measure how long the operation takes.
CALIBRATION = 3


@dataclass
class Tally:
    """How the trials ended: killed before the commit (not done), killed after it (done),
    or finished before the kill came (done)."""

    before: int = 0
    after: int = 0
    finished: int = 0

    def count(self, done: bool, killed: bool) -> None:
        if not killed:
            assert done, "an operation that finished left nothing in the ledger"
            self.finished += 1
        elif done:
            self.after += 1
        else:
            self.before += 1


def _child(
    ws_args: tuple[str, str | None], operation: Callable[[Workspace, int], None], i: int
) -> int:
    """Fork a child that opens the workspace and its ledger, says so, and runs
    ``operation(ws, i)``; return its pid once it has said so. It exits 0 if the operation
    returned, 1 otherwise (the traceback on stderr)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.close(read)
            ws = Workspace(*ws_args)
            ws.ledger.chain_head()  # the connection is open
            os.write(write, b".")
            operation(ws, i)
            status = 0
        except BaseException:  # noqa: BLE001 - the child reports a failure by its exit status
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(write)
    try:
        os.read(read, 1)  # the child is ready (or died: b"")
    finally:
        os.close(read)
    return pid


def _killed_trials(
    vendor: Vendor,
    seed: int,
    operation: Callable[[Workspace, int], None],
    check: Callable[[Workspace, int], bool],
    trials: int = TRIALS,
) -> Tally:
    """Run ``operation(ws, i)`` for i in 0..CALIBRATION+trials-1, each in a forked child; the
    first CALIBRATION uninterrupted (they time it), the others SIGKILLed after a delay drawn
    uniformly from [0, that time]. After each: the ledger verifies, and ``check(ws, i)`` (which
    asserts all or nothing) says whether operation ``i`` happened."""
    args = (vendor.home, vendor.ledger_url)
    vendor.close()  # no connection may cross a fork
    rng, tally, span = random.Random(seed), Tally(), 0.0
    for i in range(CALIBRATION + trials):
        calibrating = i < CALIBRATION
        pid = _child(args, operation, i)
        start = time.perf_counter()
        if calibrating:
            _, status = os.waitpid(pid, 0)
            span = max(span, time.perf_counter() - start)
        else:
            delay = rng.uniform(0, span)
            time.sleep(delay)
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status)
        assert killed or os.waitstatus_to_exitcode(status) == 0, f"trial {i}: the child failed"
        ws = Workspace(*args)
        try:
            result = licsign.verify_ledger(ws)
            assert result.ok, (i, [str(p) for p in result.problems])
            done = check(ws, i)
        finally:
            ws.close()
        if not calibrating:
            tally.count(done, killed)
    print(f"span {span * 1000:.1f} ms: {tally.before} killed before the commit, "
          f"{tally.after} after it, {tally.finished} finished")  # fmt: skip
    # some trials were killed before the commit, some after it (or let finish)
    assert tally.before > 0 and tally.after + tally.finished > 0, tally
    return tally


# --- user assignment ------------------------------------------------------------------------------


def test_an_assignment_killed_at_any_moment_leaves_the_user_with_one_code_or_no_user(
    vendor: Vendor,
) -> None:
    lic = vendor.issue("perpetual", max_devices_per_user=1).id
    vendor.assign(lic, "first@example.com")  # the user-code key exists from now on
    assigned = ["first@example.com"]

    def assign(ws: Workspace, i: int) -> None:
        licsign.assign_user(ws, lic, f"user{i}@example.com", now=NOW)

    def check(ws: Workspace, i: int) -> bool:
        ledger = ws.ledger
        user = ledger.license_user(lic, f"user{i}@example.com")
        codes = ledger.codes_of(lic)
        if user is not None:
            mine = [c for c in codes if c.user_id == user.id]
            assert len(mine) == 1 and mine[0].ended_at is None, mine  # exactly one unused code
            assigned.append(user.email)
        # nothing lost, nothing twice: every user assigned so far, each with one code
        users = ledger.license_users(lic)
        assert [u.email for u in users] == assigned
        assert sorted(c.user_id for c in codes) == sorted(u.id for u in users)
        return user is not None

    _killed_trials(vendor, 81, assign, check)


# --- renewal --------------------------------------------------------------------------------------


def test_a_renewal_killed_at_any_moment_leaves_the_old_version_or_the_new_one(
    vendor: Vendor,
) -> None:
    lic = vendor.issue(expires=NOW + timedelta(days=30))
    first = lic.terms.expires
    assert first is not None
    latest = [(1, first)]  # (version, expiry) of the newest version

    def renew(ws: Workspace, i: int) -> None:
        expires = NOW + timedelta(days=31 + i)  # later than every earlier trial's
        licsign.renew_license(ws, lic.id, lambda: PW, now=NOW, expires=expires)

    def check(ws: Workspace, i: int) -> bool:
        versions = ws.ledger.license_versions(lic.id)
        number, expiry = latest[-1]
        # no gap, exactly one active version: the newest; all the others superseded
        assert [v for v, _, _ in versions] == list(range(1, len(versions) + 1)), versions
        assert [s for _, _, s in versions] == ["superseded"] * (len(versions) - 1) + ["active"]
        assert len(versions) in (number, number + 1), (versions, number)
        newest = ws.ledger.license(lic.id)
        done = newest.version == number + 1
        if done:
            expiry = int((NOW + timedelta(days=31 + i)).timestamp())
            latest.append((newest.version, expiry))
        assert newest.expires == expiry
        return done

    _killed_trials(vendor, 82, renew, check)


# --- activation -----------------------------------------------------------------------------------


def _requests(vendor: Vendor, lic: licsign.IssuedLicense, count: int, tmp: Path) -> list[bytes]:
    requests = []
    for i in range(count):
        machine = vendor.machine(f"m{i}", path=tmp / "machines" / f"m{i}")
        machine.import_license(lic)
        requests.append(machine.request())
    return requests


def test_an_activation_killed_at_any_moment_takes_the_seat_once_or_not_at_all(
    vendor: Vendor, tmp_path: Path
) -> None:
    lic = vendor.issue("perpetual", max_devices=CALIBRATION + TRIALS)
    requests = _requests(vendor, lic, CALIBRATION + TRIALS, tmp_path)
    responses = tmp_path / "responses"
    responses.mkdir()
    nonces = [verify_request(r).nonce for r in requests]
    seats: list[str] = []

    def activate(ws: Workspace, i: int) -> None:
        granted = licsign.activate(ws, requests[i], lambda: PW, now=NOW)
        # what the command line does with it: write it whole, or not at all
        temp = responses / f".{i}.tmp"
        with open(temp, "wb") as out:
            out.write(granted.response)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, responses / f"{i}.response")

    def check(ws: Workspace, i: int) -> bool:
        activations = ws.ledger.activations_of(lic.id)
        mine = [a for a in activations if a.request_nonce == nonces[i]]
        assert len(mine) <= 1, mine  # a seat once at most
        response = responses / f"{i}.response"
        if mine:
            assert mine[0].ended_at is None
            seats.append(mine[0].id)
        else:
            assert not response.exists()  # no response without its seat
        assert [a.id for a in activations] == seats  # nothing lost, nothing twice
        assert _events(ws, "activation.created") == len(seats)
        return bool(mine)

    _killed_trials(vendor, 83, activate, check)


def _events(ws: Workspace, kind: str) -> int:
    return sum(1 for e in ws.ledger.events() if e.kind == kind)


# --- deactivation ---------------------------------------------------------------------------------


def test_a_deactivation_killed_at_any_moment_records_the_receipt_and_frees_the_seat_together(
    vendor: Vendor, tmp_path: Path
) -> None:
    count = CALIBRATION + TRIALS
    lic = vendor.issue("perpetual", max_devices=count)
    answers = licsign.activate_many(
        vendor.ws, _requests(vendor, lic, count, tmp_path), lambda: PW, now=NOW
    )
    receipts = []
    for i, answer in enumerate(answers):
        assert answer.granted is not None, answer
        machine = vendor.machine(f"m{i}", path=tmp_path / "machines" / f"m{i}")
        machine.install(answer.granted.response)
        receipts.append((answer.granted.activation_id, machine.deactivate()))
    freed: list[str] = []

    def deactivate(ws: Workspace, i: int) -> None:
        licsign.deactivate(ws, receipts[i][1], now=NOW)

    def check(ws: Workspace, i: int) -> bool:
        activation_id = receipts[i][0]
        seat = ws.ledger.activation(activation_id)
        assert seat is not None
        recorded = [r for r in ws.ledger.receipts() if r.activation_id == activation_id]
        assert len(recorded) <= 1, recorded
        # the receipt recorded and the seat freed together, or neither
        assert bool(recorded) == (seat.ended_at is not None), (recorded, seat)
        if recorded:
            assert seat.end_reason == "deactivated"
            freed.append(activation_id)
        # nothing lost, nothing twice
        assert sorted(r.activation_id for r in ws.ledger.receipts()) == sorted(freed)
        assert ws.ledger.transfers_used(lic.id) == len(freed)
        open_seats = {a.id for a in ws.ledger.activations_of(lic.id) if a.ended_at is None}
        assert open_seats == {a for a, _ in receipts} - set(freed)
        return bool(recorded)

    _killed_trials(vendor, 84, deactivate, check)
