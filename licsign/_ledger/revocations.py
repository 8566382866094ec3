"""Ledger records of revocations and of the signed revocation lists exported.

A revocation names a license (every version, or one), an activation or an
issuing key; its ``number`` is the order revoked. A revocation list exported
gets the next list number (docs/format.md §13: the number only grows), kept
in ``revocation_lists`` with the key that signed it and its digest. Both
tables follow from the history (``ledger verify``), as do the changes a
revocation makes to other rows: the license's versions become ``revoked``,
the key becomes ``revoked``, the activation ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from licsign._ledger.events import Events
from licsign._ledger.integrity import AT, CHANGE, MAKE, SUBJECT, Change, Fixed, Replay, on, track
from licsign._ledger.records import EventRecord


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    """One revocation: what was revoked, when and why."""

    number: int
    #: ``license``, ``activation`` or ``key``.
    kind: str
    subject: str
    #: For a license: the one version revoked, or None for every version.
    version: int | None
    reason: str | None
    at: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RevocationRecord:
        """Build from a ``revocations`` row."""
        return cls(row["number"], row["kind"], row["subject"], row["version"], row["reason"],
                   row["at"])  # fmt: skip


@dataclass(frozen=True, slots=True)
class RevocationListRecord:
    """A signed revocation list that was exported."""

    number: int
    issued_at: int
    key_id: str
    product: str | None
    digest: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RevocationListRecord:
        """Build from a ``revocation_lists`` row."""
        return cls(row["number"], row["issued_at"], row["key_id"], row["product"], row["digest"])


class Revocations(Events):
    """Mixed into ``Ledger``: record revocations and exported lists (inside ``transaction()``)."""

    def revocations(self) -> list[RevocationRecord]:
        """Every revocation, in the order revoked."""
        rows = self._db.all("SELECT * FROM revocations ORDER BY number")
        return [RevocationRecord.from_row(r) for r in rows]

    def revocation_of(self, kind: str, subject: str) -> list[RevocationRecord]:
        """The revocations of one license, activation or key."""
        rows = self._db.all(
            "SELECT * FROM revocations WHERE kind = ? AND subject = ? ORDER BY number",
            (kind, subject),
        )
        return [RevocationRecord.from_row(r) for r in rows]

    def add_revocation(self, at: int, kind: str, subject: str, version: int | None,
                       reason: str | None, data: dict[str, Any]) -> int:  # fmt: skip
        """Record a revocation and its event (``<kind>.revoked``); return its number.

        ``data`` is what the event adds (the license versions it revokes).
        """
        row = self._db.one("SELECT MAX(number) AS n FROM revocations")
        number = (row["n"] if row and row["n"] is not None else 0) + 1
        self._db.run(
            "INSERT INTO revocations (number, kind, subject, version, reason, at)"
            " VALUES (?,?,?,?,?,?)",
            (number, kind, subject, version, reason, at),
        )
        event = {"number": number, "version": version, "reason": reason, **data}
        self.append_event(at, f"{kind}.revoked", subject, event)
        return number

    def mark_license_revoked(self, license_id: str, versions: list[int]) -> None:
        """Set the status of these versions of a license to ``revoked``."""
        for version in versions:
            self._db.run(
                "UPDATE licenses SET status = 'revoked' WHERE id = ? AND version = ?",
                (license_id, version),
            )

    def set_key_status(self, at: int, key_id: str, status: str) -> None:
        """Set an issuing key's status (``retired``: no new issuance; ``revoked``)."""
        self._db.run("UPDATE keys SET status = ? WHERE key_id = ?", (status, key_id))
        if status == "retired":
            self.append_event(at, "key.retired", key_id, {})

    def revocation_lists(self) -> list[RevocationListRecord]:
        """Every exported revocation list, oldest first."""
        rows = self._db.all("SELECT * FROM revocation_lists ORDER BY number")
        return [RevocationListRecord.from_row(r) for r in rows]

    def next_revocation_list_number(self) -> int:
        """The number the next exported list gets: one more than the highest so far."""
        row = self._db.one("SELECT MAX(number) AS n FROM revocation_lists")
        return (row["n"] if row and row["n"] is not None else 0) + 1

    def add_revocation_list(self, at: int, record: RevocationListRecord) -> None:
        """Record an exported list and its event."""
        self._db.run(
            "INSERT INTO revocation_lists (number, issued_at, key_id, product, digest)"
            " VALUES (?,?,?,?,?)",
            (record.number, record.issued_at, record.key_id, record.product, record.digest),
        )
        self.append_event(
            at, "revocations.exported", str(record.number),
            {"number": record.number, "key_id": record.key_id, "product": record.product,
             "digest": record.digest},
        )  # fmt: skip


def _license_revoked(event: EventRecord, replay: Replay) -> None:
    """A license revocation marks each version it names ``revoked``."""
    for version in event.data["versions"]:
        replay.apply(event, "licenses", (event.subject, version), CHANGE, {"status": "revoked"})


def _activation_revoked(event: EventRecord, replay: Replay) -> None:
    """A revoked activation still open ends, as the vendor's reset not counted as a transfer.

    The ledger cannot say "revoked" in ``end_reason`` (its CHECK predates
    revocation); the revocation itself is the ``revocations`` row.
    """
    if event.data["ends"]:
        values = {"ended_at": event.at, "end_reason": "reset", "counts_transfer": 0}
        replay.apply(event, "activations", (event.subject,), CHANGE, values)


# What revocation events do to rows, for ``licsign ledger verify`` (licsign/_ledger/integrity.py).
track("revocations", key=("number",))
track("revocation_lists", key=("number",))
for _kind in ("license", "activation", "key"):
    on(f"{_kind}.revoked", Change("revocations", ("number",), MAKE, kind=Fixed(_kind),
                                  subject=SUBJECT, version="version", reason="reason", at=AT))  # fmt: skip
on("license.revoked", _license_revoked)
on("activation.revoked", _activation_revoked)
on("key.revoked", Change("keys", (SUBJECT,), CHANGE, status=Fixed("revoked")))
on("key.retired", Change("keys", (SUBJECT,), CHANGE, status=Fixed("retired")))
on("revocations.exported", Change("revocation_lists", ("number",), MAKE, issued_at=AT,
                                  key_id="key_id", product="product", digest="digest"))  # fmt: skip
