"""The hash-chained, append-only history every change of the ledger writes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from licsign._ledger.engine import LedgerError
from licsign._ledger.records import EventRecord
from licsign._ledger.unit import UnitOfWork

GENESIS = b"\x00" * 32


class Events(UnitOfWork):
    """Mixed into ``Ledger``: append and read events, verify the chain (and ``_in_chunks``,
    the other mixins' lookup of many ids)."""

    def _in_chunks(
        self, sql: str, ids: Sequence[str], args: Sequence[Any] = ()
    ) -> list[dict[str, Any]]:
        """Rows of ``sql`` whose ``{}`` is filled with placeholders for ``ids``, 500 at a time
        (``args`` come first)."""
        found: list[dict[str, Any]] = []
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found += self._db.all(sql.format(", ".join("?" * len(chunk))), [*args, *chunk])
        return found

    def append_event(self, at: int, kind: str, subject: str, data: dict[str, Any]) -> None:
        """Append a hash-chained event; call inside ``transaction()``."""
        self.append_events(at, [(kind, subject, data)])

    def append_events(self, at: int, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Append hash-chained events (kind, subject, data), in order; call inside ``transaction()``.

        The chain's head is read once and the rows inserted in one batch: bulk
        issuance appends one event per license without a read per event.
        """
        if not self.in_transaction:
            raise LedgerError("internal error: a ledger change outside a unit of work")
        row = self._db.one("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        seq, prev = (int(row["seq"]), bytes(row["hash"])) if row else (0, GENESIS)
        rows = []
        for kind, subject, data in events:
            seq += 1
            body = json.dumps(data, sort_keys=True, separators=(",", ":"))
            digest = event_hash(prev, seq, at, kind, subject, body)
            rows.append((seq, at, kind, subject, body, prev, digest))
            prev = digest
        self._db.run_many(
            "INSERT INTO events (seq, at, kind, subject, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
            rows,
        )

    def events(self, subject: str | None = None) -> list[EventRecord]:
        """Every event (or those about ``subject``), oldest first."""
        if subject is None:
            rows = self._db.all("SELECT * FROM events ORDER BY seq")
        else:
            rows = self._db.all("SELECT * FROM events WHERE subject = ? ORDER BY seq", (subject,))
        return [EventRecord.from_row(r) for r in rows]

    def event_count(self) -> int:
        """How many events the history holds."""
        row = self._db.one("SELECT COUNT(*) AS n FROM events")
        return int(row["n"]) if row else 0

    def verify_events(self) -> int:
        """Recompute the event chain; return the number of events.

        Raises:
            LedgerError: an event was altered, removed or reordered.
        """
        prev = GENESIS
        count = 0
        for event in self.events():
            count += 1
            expected = event_hash(prev, event.seq, event.at, event.kind, event.subject, event.body)
            if event.seq != count or event.prev_hash != prev or event.hash != expected:
                raise LedgerError(f"ledger history is broken at event {event.seq}")
            prev = event.hash
        return count


def event_hash(prev: bytes, seq: int, at: int, kind: str, subject: str, body: str) -> bytes:
    """SHA-256 over the previous hash and the event's canonical JSON (docs/issuer.md)."""
    text = json.dumps([seq, at, kind, subject, body], separators=(",", ":")).encode()
    return hashlib.sha256(prev + text).digest()
