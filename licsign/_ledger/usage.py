"""Ledger records of counters: usage reports received and refills signed (issue 9).

A usage report is what one device's store said of its counters (format
§14.1), recorded once per (license, device, report number); a refill is a
signed top-up of one counter for one activation (§14.2). Both are appended
with their events, which ``ledger verify`` replays (below).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from licsign._ledger.events import Events
from licsign._ledger.integrity import AT, MAKE, SUBJECT, Change, on, track


@dataclass(frozen=True, slots=True)
class UsageReportRecord:
    """One usage report as the ledger keeps it."""

    license_id: str
    device_id: str
    seq: int
    issued_at: int
    received_at: int
    records: int
    head: str
    totals: dict[str, int]
    refilled: dict[str, int]
    clock: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> UsageReportRecord:
        """Build from a ``usage_reports`` row."""
        return cls(row["license_id"], row["device_id"], int(row["seq"]), int(row["issued_at"]),
                   int(row["received_at"]), int(row["records"]), row["head"],
                   json.loads(row["totals"]), json.loads(row["refilled"]),
                   int(row["clock"]))  # fmt: skip


@dataclass(frozen=True, slots=True)
class RefillRecord:
    """One signed refill: units added to a counter of one activation."""

    id: str
    license_id: str
    activation_id: str
    device_id: str
    counter: str
    amount: int
    issued_at: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RefillRecord:
        """Build from a ``refills`` row."""
        return cls(row["id"], row["license_id"], row["activation_id"], row["device_id"],
                   row["counter"], int(row["amount"]), int(row["issued_at"]))  # fmt: skip


class Usage(Events):
    """Mixed into ``Ledger``: usage reports and refills (writes inside ``transaction()``)."""

    def usage_reports(self, license_id: str) -> list[UsageReportRecord]:
        """The reports received for a license, oldest first."""
        rows = self._db.all(
            "SELECT * FROM usage_reports WHERE license_id = ? ORDER BY received_at, device_id,"
            " seq", (license_id,),
        )  # fmt: skip
        return [UsageReportRecord.from_row(r) for r in rows]

    def last_usage_report(self, license_id: str, device_id: str) -> UsageReportRecord | None:
        """The report with the highest number from this device, or None."""
        row = self._db.one(
            "SELECT * FROM usage_reports WHERE license_id = ? AND device_id = ?"
            " ORDER BY seq DESC LIMIT 1", (license_id, device_id),
        )  # fmt: skip
        return None if row is None else UsageReportRecord.from_row(row)

    def add_usage_report(self, r: UsageReportRecord) -> None:
        """Record a report and its ``usage.reported`` event."""
        self._db.run(
            "INSERT INTO usage_reports (license_id, device_id, seq, issued_at, received_at,"
            " records, head, totals, refilled, clock) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (r.license_id, r.device_id, r.seq, r.issued_at, r.received_at, r.records, r.head,
             json.dumps(r.totals, sort_keys=True), json.dumps(r.refilled, sort_keys=True),
             r.clock),
        )  # fmt: skip
        self.append_event(r.received_at, "usage.reported", r.license_id, {
            "device": r.device_id, "seq": r.seq, "issued_at": r.issued_at, "records": r.records,
            "head": r.head, "totals": r.totals, "refilled": r.refilled, "clock": r.clock,
        })  # fmt: skip

    def refills(self, license_id: str) -> list[RefillRecord]:
        """The refills signed for a license, oldest first."""
        rows = self._db.all(
            "SELECT * FROM refills WHERE license_id = ? ORDER BY issued_at, id", (license_id,)
        )
        return [RefillRecord.from_row(r) for r in rows]

    def add_refill(self, r: RefillRecord) -> None:
        """Record a refill and its ``counter.refilled`` event."""
        self._db.run(
            "INSERT INTO refills (id, license_id, activation_id, device_id, counter, amount,"
            " issued_at) VALUES (?,?,?,?,?,?,?)",
            (r.id, r.license_id, r.activation_id, r.device_id, r.counter, r.amount, r.issued_at),
        )
        self.append_event(r.issued_at, "counter.refilled", r.license_id, {
            "refill": r.id, "activation": r.activation_id, "device": r.device_id,
            "counter": r.counter, "amount": r.amount,
        })  # fmt: skip


# What the events do to rows, for ``licsign ledger verify`` (licsign/_ledger/integrity.py).
track("usage_reports", key=("license_id", "device_id", "seq"), json=("totals", "refilled"))
on("usage.reported", Change("usage_reports", (SUBJECT, "device", "seq"), MAKE,
                            issued_at="issued_at", received_at=AT, records="records",
                            head="head", totals="totals", refilled="refilled",
                            clock="clock"))  # fmt: skip
# ``clock.reset`` (a signed one-time reset of a device's clock ratchet) changes no row.
on("clock.reset")
track("refills", key=("id",))
on("counter.refilled", Change("refills", ("refill",), MAKE, license_id=SUBJECT,
                              activation_id="activation", device_id="device",
                              counter="counter", amount="amount", issued_at=AT))  # fmt: skip
