"""The store's clock ratchet and consumption counters (format §12.4, §12.5; issue 9).

Time is injected everywhere (``now=``): every boundary is tested at its
second, without sleeping. Clock: a clock set back two hours is refused, one
hour is tolerated, expiry is judged at the later of the clock and the
ratchet, an imported document raises the ratchet, a document issued "in the
future" is refused, a refused operation changes nothing, an edited head
fails closed. Counters: limit plus overage, 4 processes x 2,500 consumptions
give exactly 10,000, a restored log or head is detected, an edited record
fails closed, and SIGKILL at random moments (100 trials) loses or
duplicates nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from factory import T0, UnsafeFactory, default_terms

import licverify
import licverify.format as F
from licverify import ClockRolledBackError, LimitReachedError, LocalStore, StoreError

FACTORY = UnsafeFactory()
HOUR = 3600


def when(seconds: int) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, timezone.utc)


def installed(tmp: Path, *, counters: dict[str, tuple[int, int]] | None = None,
              expires: int = 365 * 86400, grace: int = 0, name: str = "s") -> LocalStore:  # fmt: skip
    """A store with a license (issued at T0) imported at T0."""
    terms = default_terms(
        type="consumption" if counters else "time-limited", expires=T0 + expires,
        grace_seconds=grace,
        counters={k: F.Counter(limit, over) for k, (limit, over) in (counters or {}).items()},
    )  # fmt: skip
    store = LocalStore(tmp / name)
    store.import_license(FACTORY.license(terms), trusted_roots=FACTORY.roots,
                         product="acme-cad", now=when(0))  # fmt: skip
    return store


def check(store: LocalStore, seconds: int) -> licverify.License:
    return store.check(trusted_roots=FACTORY.roots, product="acme-cad", now=when(seconds),
                       fingerprint={})  # fmt: skip


def files(store: LocalStore) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(store.path).iterdir() if p.name != ".lock"}


# --- the clock ----------------------------------------------------------------------------------


def test_a_clock_set_back_two_hours_is_refused_one_hour_is_tolerated(tmp_path: Path) -> None:
    store = installed(tmp_path)
    check(store, 86400)  # the ratchet follows the clock to a day later
    with pytest.raises(ClockRolledBackError, match="set back"):
        check(store, 86400 - 2 * HOUR)
    with pytest.raises(ClockRolledBackError):
        check(store, 86400 - HOUR - 1)  # one second past the tolerance
    assert check(store, 86400 - HOUR).status.value == "valid"  # exactly the tolerance
    strict = LocalStore(store.path, clock_tolerance=timedelta(0))
    with pytest.raises(ClockRolledBackError):
        check(strict, 86400 - 1)


def test_expiry_is_judged_at_the_later_of_clock_and_ratchet(tmp_path: Path) -> None:
    store = installed(tmp_path, expires=10 * 86400)
    expiry = 10 * 86400
    assert check(store, expiry - 1).status.value == "valid"  # the last valid second
    with pytest.raises(licverify.ExpiredError):
        check(store, expiry + 10 * 60)  # the ratchet moves to 10 minutes past expiry
    with pytest.raises(licverify.ExpiredError):
        check(store, expiry - 20 * 60)  # 30 minutes back: tolerated, judged at the ratchet


def test_grace_is_judged_at_the_ratchet_too(tmp_path: Path) -> None:
    store = installed(tmp_path, expires=10 * 86400, grace=86400)
    end = 11 * 86400
    assert check(store, end - 1).status.value == "grace"
    with pytest.raises(licverify.ExpiredError):
        check(store, end + 600)
    with pytest.raises(licverify.ExpiredError):
        check(store, end - 1800)


def test_a_small_step_does_not_move_the_ratchet(tmp_path: Path) -> None:
    """Checks write only when the clock passed the ratchet by RATCHET_STEP (600 s)."""
    store = installed(tmp_path)
    before = files(store)
    check(store, 599)
    assert files(store) == before
    check(store, 600)
    assert files(store) != before


def test_an_imported_document_raises_the_ratchet(tmp_path: Path) -> None:
    store = installed(tmp_path)
    later = FACTORY.license(default_terms(version=2, issued_at=T0 + 5 * HOUR))
    with pytest.raises(ClockRolledBackError, match="issue time"):
        store.import_license(later, trusted_roots=FACTORY.roots, product="acme-cad",
                             now=when(5 * HOUR - HOUR - 1))  # fmt: skip
    store.import_license(later, trusted_roots=FACTORY.roots, product="acme-cad",
                         now=when(4 * HOUR))  # fmt: skip
    assert check(store, 4 * HOUR).version == 2  # one hour behind the issue time: tolerated
    with pytest.raises(ClockRolledBackError):
        check(store, 4 * HOUR - 1)


def test_a_refused_operation_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    store = installed(tmp_path)
    check(store, 86400)
    before = files(store)
    again = FACTORY.license(default_terms(version=2))
    with pytest.raises(ClockRolledBackError):
        store.import_license(again, trusted_roots=FACTORY.roots, product="acme-cad",
                             now=when(86400 - 3 * HOUR))  # fmt: skip
    with pytest.raises(ClockRolledBackError):
        check(store, 0)
    assert files(store) == before


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "other-store"])
def test_an_edited_or_foreign_head_fails_closed(tmp_path: Path, damage: str) -> None:
    store = installed(tmp_path)
    check(store, 86400)
    head = Path(store.path) / "state.bin"
    data = head.read_bytes()
    if damage == "flip":
        head.write_bytes(data[:5] + bytes([data[5] ^ 1]) + data[6:])  # the ratchet, rewound
    elif damage == "truncate":
        head.write_bytes(data[:-1])
    elif damage == "empty":
        head.write_bytes(b"")
    else:  # a head from another store: another key
        other = installed(tmp_path, name="other")
        check(other, 86400)
        head.write_bytes((Path(other.path) / "state.bin").read_bytes())
    with pytest.raises(StoreError, match="state.bin"):
        check(store, 86400)


def test_the_tolerance_must_be_a_timedelta() -> None:
    with pytest.raises(ValueError):
        LocalStore("x", clock_tolerance=3600)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        LocalStore("x", clock_tolerance=timedelta(seconds=-1))


# --- counters -----------------------------------------------------------------------------------


def test_consume_up_to_limit_and_overage(tmp_path: Path) -> None:
    store = installed(tmp_path, counters={"exports": (10, 2), "pages": (5, 0)})
    lic = check(store, 60)
    assert store.remaining("exports", license=lic) == 12
    assert store.consume("exports", 3, license=lic, now=when(70)) == 9
    assert store.consume("exports", 9, license=lic, now=when(80)) == 0
    with pytest.raises(LimitReachedError, match="0 of 12"):
        store.consume("exports", license=lic, now=when(90))
    assert store.consume("pages", license=lic, now=when(90)) == 4  # counters are apart
    with pytest.raises(LimitReachedError, match="no counter"):
        store.consume("prints", license=lic, now=when(90))
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError):
            store.consume("pages", bad, license=lic, now=when(90))  # type: ignore[arg-type]
    assert store.remaining("exports", license=lic) == 0


def test_a_consumption_with_the_clock_set_back_is_refused(tmp_path: Path) -> None:
    store = installed(tmp_path, counters={"exports": (10, 0)})
    lic = check(store, 60)
    store.consume("exports", license=lic, now=when(86400))
    before = files(store)
    with pytest.raises(ClockRolledBackError):
        store.consume("exports", license=lic, now=when(86400 - 2 * HOUR))
    assert files(store) == before and store.remaining("exports", license=lic) == 9


def test_a_restored_older_log_or_head_is_detected(tmp_path: Path) -> None:
    store = installed(tmp_path, counters={"exports": (100, 0)})
    lic = check(store, 60)
    for i in range(3):
        store.consume("exports", license=lic, now=when(100 + i))
    log, head = Path(store.path) / "counters.log", Path(store.path) / "state.bin"
    old_log, old_head = log.read_bytes(), head.read_bytes()
    store.consume("exports", 2, license=lic, now=when(200))
    store.consume("exports", 2, license=lic, now=when(201))
    new_head = head.read_bytes()
    log.write_bytes(old_log)  # the log restored from an older copy
    with pytest.raises(StoreError, match="older copy"):
        store.remaining("exports", license=lic)
    with pytest.raises(StoreError, match="older copy"):
        store.consume("exports", license=lic, now=when(300))
    log.write_bytes(old_log + b"")  # and the head too: both restored, nothing to see
    head.write_bytes(old_head)
    assert store.remaining("exports", license=lic) == 97
    head.write_bytes(old_head)  # only the head restored: the log is the record, it only adds
    log.write_bytes(old_log + _two_more(store, lic))
    assert store.remaining("exports", license=lic) == 95
    assert new_head  # (the head the restored copies replaced)


def _two_more(store: LocalStore, lic: licverify.License) -> bytes:
    """Two records consumed on a copy of ``store``: the log's new bytes."""
    copy = Path(store.path).with_name("copy")
    shutil.copytree(store.path, copy)
    other = LocalStore(copy)
    log = copy / "counters.log"
    size = log.stat().st_size
    other.consume("exports", license=lic, now=when(400))
    other.consume("exports", license=lic, now=when(401))
    return log.read_bytes()[size:]


def test_an_edited_record_fails_closed(tmp_path: Path) -> None:
    store = installed(tmp_path, counters={"exports": (100, 0)})
    lic = check(store, 60)
    store.consume("exports", 5, license=lic, now=when(100))
    log = Path(store.path) / "counters.log"
    data = bytearray(log.read_bytes())
    data[-40] ^= 1  # the running total's last byte
    log.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged or was edited"):
        store.consume("exports", license=lic, now=when(110))


def test_a_crash_between_the_log_and_the_head_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = installed(tmp_path, counters={"exports": (100, 0)})
    lic = check(store, 60)
    store.consume("exports", 5, license=lic, now=when(100))
    from licverify._store import state

    def crash(*args: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(state, "save_head", crash)
    with pytest.raises(OSError):
        store.consume("exports", 7, license=lic, now=when(110))
    monkeypatch.undo()
    assert store.remaining("exports", license=lic) == 88  # the committed record counts
    assert store.consume("exports", license=lic, now=when(120)) == 87


def _consumer(path: str, document: bytes, count: int, start: object) -> None:
    store = LocalStore(path)
    lic = store.check(trusted_roots=FACTORY.roots, product="acme-cad", now=when(60),
                      fingerprint={})  # fmt: skip
    start.wait()  # type: ignore[attr-defined]
    for i in range(count):
        store.consume("exports", license=lic, now=when(100 + i))


def test_four_processes_consuming_at_once_count_exactly(tmp_path: Path) -> None:
    store = installed(tmp_path, counters={"exports": (10_000, 0)})
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(4)
    workers = [
        ctx.Process(target=_consumer, args=(store.path, b"", 2500, start), daemon=True)
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    lic = check(store, 60)
    assert store.remaining("exports", license=lic) == 0
    assert (Path(store.path) / "counters.log").stat().st_size == 10_000 * 240
    with pytest.raises(LimitReachedError):
        store.consume("exports", license=lic, now=when(20_000))


def test_sigkill_at_random_moments_loses_or_duplicates_nothing(tmp_path: Path) -> None:
    """100 trials: a child consumes one unit at a time and reports each success on a pipe;
    it is killed after a random delay. Every reported unit is counted; at most the one in
    flight (committed, never reported) more; the log and its head agree afterwards."""
    store = installed(tmp_path, counters={"exports": (1_000_000, 0)})
    lic = check(store, 60)
    rng = random.Random(9)
    confirmed = 0
    for trial in range(100):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: consume until killed
            os.close(read)
            child = LocalStore(store.path)
            for i in range(10_000):
                child.consume("exports", license=lic, now=when(1000 + trial))
                os.write(write, b"x")
            os._exit(0)
        os.close(write)
        time.sleep(rng.uniform(0, 0.01))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        confirmed += len(_drain(read))
        used = 1_000_000 - store.remaining("exports", license=lic)
        assert confirmed <= used <= confirmed + 1, trial
        confirmed = used  # the one in flight, if committed, counts from now on


def _drain(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)
