"""The clock ratchet and the consumption counters (docs/format.md §12.4, §12.5).

Three files in the state directory:

- ``counters.log``: every consumption, one fixed-size record each (license
  id, counter, delta, running total, time, sequence number), each carrying
  an HMAC-SHA-256 over the record and the previous record's HMAC: a chain.
  Appending a record and its fsync is the commit point of a consumption.
- ``state.bin``: the head: the store's "not earlier than" time (the clock
  ratchet), the log's length and last HMAC, and the running total of every
  counter, under an HMAC of its own. A log older than the head (restored
  from a copy) or a head older than the log by more than the one record a
  crash can leave is refused (``StoreError``).
- ``state.key``: the 32-byte key of those HMACs, made once. It lies beside
  the files it protects, so it stops edits by hand and files copied from
  another store, not an owner who reads it (docs/security.md).

Everything here runs under the store's lock, except ``effective_time``,
which only reads.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import NamedTuple

from licverify._errors import ClockRolledBackError, LimitReachedError, StoreError
from licverify._fingerprint import _hmac_sha256
from licverify._store.files import COUNTER_LOG, STATE_HEAD, STATE_KEY, StoreFiles
from licverify._time import iso

#: How far the clock may go back before it counts as set back (daylight saving, drift).
DEFAULT_TOLERANCE = 3600
#: The ratchet follows the clock in steps of this much, so a check rarely writes.
RATCHET_STEP = 600
_KEY_SIZE = 32
_MAC_SIZE = 32
_NAME_SIZE = 64
_HEAD_MAGIC = b"LSST\x01"
_REF_SIZE = 16
# seq, time, license id, counter, delta, total, reference (a refill's id, else zeros),
# previous MAC; then the record's MAC.
_RECORD = struct.Struct(f">QQ{_NAME_SIZE}s{_NAME_SIZE}sqQ{_REF_SIZE}s{_MAC_SIZE}s")
RECORD_SIZE = _RECORD.size + _MAC_SIZE
_ZERO = bytes(_MAC_SIZE)


class Head:
    """What ``state.bin`` holds: the ratchet, the log's count and last HMAC, the number of the
    last usage report, and per (license id, counter) the units consumed and refilled."""

    __slots__ = ("extra", "last", "not_before", "reports", "resets", "seq", "totals")

    def __init__(self, not_before: int = 0, seq: int = 0, last: bytes = _ZERO) -> None:
        self.not_before, self.seq, self.last, self.reports = not_before, seq, last, 0
        self.totals: dict[tuple[str, str], int] = {}
        self.extra: dict[tuple[str, str], int] = {}
        #: The ids of the clock resets applied here (format §14.3), oldest first.
        self.resets: list[bytes] = []

    def left(self, license_id: str, counter: str, ceiling: int) -> int:
        """Units of ``counter`` left under ``ceiling`` (limit + overage), refills added."""
        key = (license_id, counter)
        return ceiling + self.extra.get(key, 0) - self.totals.get(key, 0)


def store_key(files: StoreFiles, random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
    """The HMAC key, made on first use (under the lock)."""
    key = files._read(STATE_KEY)
    if key is None:
        key = random_bytes(_KEY_SIZE)
        files._write(STATE_KEY, key)
    if len(key) != _KEY_SIZE:
        raise StoreError(f"{files._file(STATE_KEY)} is damaged")
    return key


def load_head(files: StoreFiles, key: bytes | None, data: bytes | None = None) -> Head:
    """The head (``data``, else read), checked against its HMAC; an empty head if none yet."""
    data = files._read(STATE_HEAD) if data is None else data
    if data is None:
        return Head()
    body, mac = data[:-_MAC_SIZE], data[-_MAC_SIZE:]
    # A plain comparison: the key lies beside the file (module docstring), so timing tells
    # nothing its reader could not compute.
    if key is None or _mac(key, body) != mac:
        raise StoreError(f"{files._file(STATE_HEAD)} is damaged or was edited")
    try:
        return _decode_head(body)
    except (struct.error, UnicodeDecodeError, ValueError):
        raise StoreError(f"{files._file(STATE_HEAD)} is damaged") from None


def save_head(files: StoreFiles, key: bytes, head: Head) -> None:
    """Write the head with its HMAC (atomically)."""
    body = _encode_head(head)
    files._write(STATE_HEAD, body + _mac(key, body))


def _encode_head(head: Head) -> bytes:
    parts = [_HEAD_MAGIC, struct.pack(">QQQ", head.not_before, head.seq, head.reports), head.last]
    counters = sorted(set(head.totals) | set(head.extra))
    parts.append(struct.pack(">H", len(counters)))
    for license_id, name in counters:
        amounts = head.totals.get((license_id, name), 0), head.extra.get((license_id, name), 0)
        parts += [_short(license_id), _short(name), struct.pack(">QQ", *amounts)]
    parts += [struct.pack(">H", len(head.resets)), *head.resets]
    return b"".join(parts)


def _decode_head(body: bytes) -> Head:
    if body[: len(_HEAD_MAGIC)] != _HEAD_MAGIC:
        raise ValueError("not a state head")
    pos = len(_HEAD_MAGIC)
    not_before, seq, reports = struct.unpack_from(">QQQ", body, pos)
    pos += 24
    head = Head(not_before, seq, body[pos : pos + _MAC_SIZE])
    head.reports = reports
    pos += _MAC_SIZE
    (count,) = struct.unpack_from(">H", body, pos)
    pos += 2
    for _ in range(count):
        license_id, pos = _read_short(body, pos)
        name, pos = _read_short(body, pos)
        total, extra = struct.unpack_from(">QQ", body, pos)
        head.totals[(license_id, name)], head.extra[(license_id, name)] = total, extra
        pos += 16
    (count,) = struct.unpack_from(">H", body, pos)
    pos += 2
    head.resets = [body[pos + i * _REF_SIZE : pos + (i + 1) * _REF_SIZE] for i in range(count)]
    pos += count * _REF_SIZE
    if pos != len(body) or len(head.last) != _MAC_SIZE:
        raise ValueError("trailing bytes")
    return head


def _short(text: str) -> bytes:
    raw = text.encode("utf-8")
    return bytes([len(raw)]) + raw


def _read_short(body: bytes, pos: int) -> tuple[str, int]:
    size = body[pos]
    return body[pos + 1 : pos + 1 + size].decode("utf-8"), pos + 1 + size


def _mac(key: bytes, data: bytes) -> bytes:
    # libsodium's SHA-256, not hashlib: the check path does not load OpenSSL (issue 9).
    return _hmac_sha256(key, data)


# --- the log ------------------------------------------------------------------------------------


class Record(NamedTuple):
    """One consumption as the log holds it."""

    seq: int
    at: int
    license_id: str
    counter: str
    delta: int
    total: int
    ref: bytes
    previous: bytes
    mac: bytes


def _encode_record(key: bytes, r: Record) -> tuple[bytes, bytes]:
    body = _RECORD.pack(r.seq, r.at, _pad(r.license_id), _pad(r.counter), r.delta, r.total,
                        r.ref, r.previous)  # fmt: skip
    mac = _mac(key, body)
    return body + mac, mac


def _decode_record(key: bytes, raw: bytes) -> Record | None:
    """The record in ``raw``, or None if its HMAC does not verify."""
    body, mac = raw[:-_MAC_SIZE], raw[-_MAC_SIZE:]
    if len(raw) != RECORD_SIZE or _mac(key, body) != mac:
        return None
    seq, at, license_id, counter, delta, total, ref, previous = _RECORD.unpack(body)
    return Record(seq, at, _unpad(license_id), _unpad(counter), delta, total, ref, previous, mac)


def _pad(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > _NAME_SIZE:
        raise ValueError(f"{text[:20]!r}... is longer than {_NAME_SIZE} bytes")
    return raw.ljust(_NAME_SIZE, b"\0")


def _unpad(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("utf-8", "replace")


def reconcile(files: StoreFiles, key: bytes, head: Head) -> bool:
    """Bring the head level with the log; True if it moved (write it under the lock).

    Records beyond the head (a process killed between a commit and the head's
    write, or a head restored from a copy) are taken into it, each checked
    against the chain: the log is the record of what was consumed, so it can
    only add. A log with fewer records than the head (restored from an older
    copy), or whose record at the head is not the one the head names, is
    refused.
    """
    count = files._log_size(COUNTER_LOG) // RECORD_SIZE
    if count < head.seq:
        raise StoreError(_disagree(files, f"it holds {count} records, the head says {head.seq}"
                                   ": restored from an older copy?"))  # fmt: skip
    if head.seq and _record_at(files, key, head.seq).mac != head.last:
        raise StoreError(_disagree(files, f"record {head.seq} is not the one the head names"))
    start = head.seq
    for seq in range(start + 1, count + 1):
        record = _record_at(files, key, seq)
        if record.previous != head.last:
            raise StoreError(_disagree(files, f"record {seq} does not follow the one before"))
        _apply(head, record)
    return count > start


def _record_at(files: StoreFiles, key: bytes, seq: int) -> Record:
    raw = files._log_read(COUNTER_LOG, (seq - 1) * RECORD_SIZE, RECORD_SIZE)
    record = _decode_record(key, raw)
    if record is None or record.seq != seq:
        raise StoreError(_disagree(files, f"record {seq} is damaged or was edited"))
    return record


def _disagree(files: StoreFiles, why: str) -> str:
    return f"the counter log {files._file(COUNTER_LOG)} does not match its head: {why}"


def _apply(head: Head, record: Record) -> None:
    head.seq, head.last = record.seq, record.mac
    key = (record.license_id, record.counter)
    if record.delta < 0:  # a refill: units added to the ceiling
        head.extra[key] = head.extra.get(key, 0) - record.delta
    head.totals[key] = record.total
    head.not_before = max(head.not_before, record.at)


def consume(
    files: StoreFiles, key: bytes, head: Head, at: int, entry: tuple[str, str, int, int]
) -> int:
    """Append one consumption (license id, counter, amount, limit + overage); return what is
    left. The head is written after the log (under the lock).

    Raises:
        LimitReachedError: the amount would pass limit + overage; nothing is written.
    """
    license_id, counter, amount, ceiling = entry
    left = head.left(license_id, counter, ceiling)
    if amount > left:
        total = ceiling + head.extra.get((license_id, counter), 0)
        raise LimitReachedError(
            f"counter {counter!r} has {left} of {total} units left; {amount} asked for"
        )
    used = head.totals.get((license_id, counter), 0)
    _append(files, key, head, Record(head.seq + 1, at, license_id, counter, amount,
                                     used + amount, bytes(_REF_SIZE), head.last, b""))  # fmt: skip
    return left - amount


def _append(files: StoreFiles, key: bytes, head: Head, record: Record) -> None:
    """Commit ``record`` (append and fsync), then write the head."""
    data, mac = _encode_record(key, record)
    files._log_append(COUNTER_LOG, data, head.seq * RECORD_SIZE)
    _apply(head, record._replace(mac=mac))
    save_head(files, key, head)


def refill(
    files: StoreFiles, key: bytes, head: Head, at: int, entry: tuple[str, str, int, bytes]
) -> None:
    """Add a refill's units (license id, counter, amount, refill id) once (under the lock).

    Raises:
        StoreError: this refill was applied here already.
    """
    license_id, counter, amount, ref = entry
    earlier = _find_ref(files, key, head.seq, ref)
    if earlier is not None:
        raise StoreError(f"this refill was applied here already ({iso(earlier.at)})")
    used = head.totals.get((license_id, counter), 0)
    _append(files, key, head, Record(head.seq + 1, at, license_id, counter, -amount, used, ref,
                                     head.last, b""))  # fmt: skip


def _find_ref(files: StoreFiles, key: bytes, count: int, ref: bytes) -> Record | None:
    """The record carrying ``ref`` among the first ``count``, or None (reads the whole log)."""
    batch = 512
    for first in range(0, count, batch):
        raw = files._log_read(COUNTER_LOG, first * RECORD_SIZE, batch * RECORD_SIZE)
        for i in range(0, len(raw) - RECORD_SIZE + 1, RECORD_SIZE):
            record = _decode_record(key, raw[i : i + RECORD_SIZE])
            if record is not None and record.ref == ref:
                return record
    return None


# --- the clock ----------------------------------------------------------------------------------


def reset_clock(files: StoreFiles, at: int, tolerance: int, reset: tuple[bytes, int]) -> None:
    """Set the ratchet to a clock reset's signing time (reset id, time), once (under the lock).

    Raises:
        StoreError: this reset was applied here already.
        ClockRolledBackError: the clock is behind the reset's signing time.
    """
    reset_id, issued = reset
    key = store_key(files)
    head = load_head(files, key)
    reconcile(files, key, head)
    if reset_id in head.resets:
        raise StoreError("this clock reset was applied here already")
    if at < issued - tolerance:
        raise ClockRolledBackError(
            f"this machine's clock ({iso(at)}) is behind the reset's time ({iso(issued)}): "
            "set the clock right, then import it again"
        )
    head.resets.append(reset_id)
    head.not_before = issued
    save_head(files, key, head)


def check_clock(head: Head, at: int, tolerance: int) -> int:
    """The time to judge by: the later of ``at`` and the ratchet.

    Raises:
        ClockRolledBackError: ``at`` is more than ``tolerance`` before the ratchet.
    """
    if at < head.not_before - tolerance:
        raise ClockRolledBackError(
            f"this machine's clock ({iso(at)}) is behind a time this store has seen "
            f"({iso(head.not_before)}): it was set back; set it right, or ask your vendor "
            "for a clock reset"
        )
    return max(at, head.not_before)


def effective_time(files: StoreFiles, at: int, tolerance: int) -> tuple[int, bool]:
    """The time to judge a check by, and whether the ratchet should follow the clock.

    Reads only: the head as it is (a store without one has no ratchet yet).
    """
    data = files._read(STATE_HEAD)
    if data is None:
        return at, True
    head = load_head(files, files._read(STATE_KEY), data)
    return check_clock(head, at, tolerance), at >= head.not_before + RATCHET_STEP


def guard(files: StoreFiles, at: int, tolerance: int, issued: int | None = None) -> None:
    """Under the lock, before an operation changes anything: refuse a clock set back, or
    behind a document's issue time ``issued`` by more than ``tolerance``.

    Raises:
        ClockRolledBackError: as said.
        StoreError: the head is damaged.
    """
    check_clock(load_head(files, files._read(STATE_KEY)), at, tolerance)
    if issued is not None and issued > at + tolerance:
        raise ClockRolledBackError(
            f"this machine's clock ({iso(at)}) is behind the document's issue time "
            f"({iso(issued)}): set the clock right, then try again"
        )


def observe(files: StoreFiles, at: int, issued: int | None = None) -> None:
    """Under the lock, once an operation succeeded: raise the ratchet to ``at`` and to a
    document's issue time ``issued``, and write the head (only if it moved)."""
    key = store_key(files)
    head = load_head(files, key)
    moved = reconcile(files, key, head)
    later = max(head.not_before, at, issued or 0)
    if moved or later != head.not_before:
        head.not_before = later
        save_head(files, key, head)
