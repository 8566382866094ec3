"""Ledger records of license shares: other users who may use a license, one device at a time.

A share (``license_shares``) names a license and a user (e-mail, normalized as
requests are) with the keyed hash of the sharer's one-time activation code
(docs/adr/0017-user-codes.md). Unsharing keeps the row with ``removed_at``; sharing
again starts a new row. Every method that writes appends its event to the
hash-chained history and must run inside ``Ledger.transaction()``.
"""

from __future__ import annotations

from typing import Any

from licsign._ledger.events import Events
from licsign._ledger.integrity import AT, CHANGE, MAKE, Change, Replay, on, track
from licsign._ledger.records import EventRecord, ShareRecord


class Shares(Events):
    """Mixed into ``Ledger``: share and unshare licenses; make and use sharers' codes."""

    def license_share(self, license_id: str, email: str) -> ShareRecord | None:
        """The current share of the license with ``email`` (normalized), or None."""
        row = self._db.one(
            "SELECT * FROM license_shares WHERE license_id = ? AND email = ?"
            " AND removed_at IS NULL",
            (license_id, email),
        )
        return None if row is None else ShareRecord.from_row(row)

    def last_share(self, license_id: str, email: str) -> ShareRecord | None:
        """The newest share of the license with ``email``, current or removed, or None."""
        row = self._db.one(
            "SELECT * FROM license_shares WHERE license_id = ? AND email = ?"
            " ORDER BY added_at DESC, id DESC LIMIT 1",
            (license_id, email),
        )
        return None if row is None else ShareRecord.from_row(row)

    def license_shares(self, license_id: str, removed: bool = False) -> list[ShareRecord]:
        """The license's shares, oldest first; those removed too if ``removed``."""
        sql = "SELECT * FROM license_shares WHERE license_id = ?"
        if not removed:
            sql += " AND removed_at IS NULL"
        rows = self._db.all(sql + " ORDER BY added_at, id", (license_id,))
        return [ShareRecord.from_row(r) for r in rows]

    def share_key_id(self) -> str | None:
        """The user-code key the ledger's newest share code was made with, or None."""
        row = self._db.one(
            "SELECT key_id FROM license_shares WHERE key_id IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        return None if row is None else str(row["key_id"])

    def next_share_id(self) -> int:
        """The id the next share takes (ask under the write lock: no two writers get one id)."""
        row = self._db.one("SELECT COALESCE(MAX(id), 0) AS n FROM license_shares")
        return int(row["n"] if row else 0) + 1

    def add_share(
        self, at: int, share_id: int, license_id: str, email: str, code_hash: bytes, key_id: str
    ) -> ShareRecord:
        """Share the license with ``email`` (``share_id`` from ``next_share_id``) and record
        the hash of their first code."""
        self._db.run(
            "INSERT INTO license_shares (id, license_id, email, added_at, code_hash, key_id,"
            " code_at) VALUES (?,?,?,?,?,?,?)",
            (share_id, license_id, email, at, code_hash, key_id, at),
        )
        self.append_event(
            at, "share.added", license_id,
            {"share_id": share_id, "email": email, "code_hash": code_hash.hex(), "key_id": key_id},
        )  # fmt: skip
        return ShareRecord(share_id, license_id, email, at, None, code_hash, key_id, at, None, None)

    def new_share_code(self, at: int, share: ShareRecord, code_hash: bytes, key_id: str) -> None:
        """Give a sharer a new code; their previous one, used or not, stops working."""
        self._db.run(
            "UPDATE license_shares SET code_hash = ?, key_id = ?, code_at = ?, code_used_at = NULL,"
            " code_activation = NULL WHERE id = ?",
            (code_hash, key_id, at, share.id),
        )
        self.append_event(
            at, "share.code_issued", share.license_id,
            {"share_id": share.id, "email": share.email, "code_hash": code_hash.hex(),
             "key_id": key_id, "replaced_unused": share.code_used_at is None},
        )  # fmt: skip

    def use_share_code(self, at: int, share: ShareRecord, activation_id: str) -> bool:
        """Mark the sharer's code used by the activation it let take the shared seat.

        Returns whether this call marked it: False if that code was no longer unused (used,
        or replaced by a new code, since ``share`` was read), and then nothing is written.
        """
        self._db.run(
            "UPDATE license_shares SET code_used_at = ?, code_activation = ?"
            " WHERE id = ? AND code_used_at IS NULL AND code_hash = ?",
            (at, activation_id, share.id, share.code_hash),
        )
        # The row count, read back portably (activation ids are unique).
        marked = self._db.one(
            "SELECT id FROM license_shares WHERE id = ? AND code_activation = ?",
            (share.id, activation_id),
        )
        if marked is None:
            return False
        self.append_event(
            at, "share.code_used", share.license_id,
            {"share_id": share.id, "email": share.email, "activation": activation_id},
        )  # fmt: skip
        return True

    def remove_share(self, at: int, share: ShareRecord, data: dict[str, Any]) -> None:
        """Unshare (the row stays, with ``removed_at``); ``data`` joins the event (seats freed)."""
        self._db.run("UPDATE license_shares SET removed_at = ? WHERE id = ?", (at, share.id))
        self.append_event(
            at, "share.removed", share.license_id,
            {"share_id": share.id, "email": share.email, **data},
        )  # fmt: skip


# --- what ``licsign ledger verify`` replays (licsign._ledger.integrity) --------------------------


def _added(event: EventRecord, replay: Replay) -> None:
    data = event.data
    replay.apply(event, "license_shares", (data["share_id"],), MAKE, {
        "license_id": event.subject, "email": data["email"], "added_at": event.at,
        "removed_at": None, "code_hash": bytes.fromhex(data["code_hash"]),
        "key_id": data["key_id"], "code_at": event.at, "code_used_at": None,
        "code_activation": None,
    })  # fmt: skip


def _code_issued(event: EventRecord, replay: Replay) -> None:
    data = event.data
    replay.apply(event, "license_shares", (data["share_id"],), CHANGE, {
        "code_hash": bytes.fromhex(data["code_hash"]), "key_id": data["key_id"],
        "code_at": event.at, "code_used_at": None, "code_activation": None,
    })  # fmt: skip


track("license_shares", key=("id",))
on("share.added", _added)
on("share.code_issued", _code_issued)
on("share.code_used", Change("license_shares", ("share_id",), CHANGE, code_used_at=AT,
                             code_activation="activation"))  # fmt: skip
# The sharer's seats are freed by the device.reset events before it.
on("share.removed", Change("license_shares", ("share_id",), CHANGE, removed_at=AT))
