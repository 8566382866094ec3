"""Ledger records of license users and their one-time activation codes.

A user-based license's users (``license_users``) and the codes that let each
take a new seat (``user_codes``, kept only as keyed hashes:
docs/adr/0017-user-codes.md). Every method that writes appends its event to
the hash-chained history and must run inside ``Ledger.transaction()``: the
checks the services make before calling it hold under the write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from licsign._ledger.events import Events
from licsign._ledger.integrity import (
    AT,
    CHANGE,
    MAKE,
    SUBJECT,
    Change,
    Fixed,
    Replay,
    on,
    track,
)
from licsign._ledger.records import EventRecord, LicenseUserRecord, UserCodeRecord

#: Why an unused code stops being usable (``user_codes.end_reason``).
USED, REPLACED, REMOVED = "used", "replaced", "removed"


class Users(Events):
    """Mixed into ``Ledger``: assign, change and remove license users; make and use codes."""

    def _next_id(self, table: str) -> int:
        # Under the write lock (every writer holds it), so two writers never pick the same id.
        row = self._db.one(f"SELECT COALESCE(MAX(id), 0) AS n FROM {table}")
        return int(row["n"] if row else 0) + 1

    # --- users ------------------------------------------------------------------------------

    def license_user(self, license_id: str, email: str) -> LicenseUserRecord | None:
        """The user ``email`` (normalized) assigned to the license now, or None."""
        row = self._db.one(
            "SELECT * FROM license_users WHERE license_id = ? AND email = ? AND removed_at IS NULL",
            (license_id, email),
        )
        return None if row is None else LicenseUserRecord.from_row(row)

    def license_users(self, license_id: str, removed: bool = False) -> list[LicenseUserRecord]:
        """The license's users, oldest first; those removed too if ``removed``."""
        sql = "SELECT * FROM license_users WHERE license_id = ?"
        if not removed:
            sql += " AND removed_at IS NULL"
        rows = self._db.all(sql + " ORDER BY added_at, id", (license_id,))
        return [LicenseUserRecord.from_row(r) for r in rows]

    def user_counts(self, license_ids: Sequence[str]) -> dict[str, int]:
        """Users assigned now (not removed), per license of ``license_ids`` (``licsign list``:
        one grouped query per 500 licenses listed)."""
        rows = self._in_chunks(
            "SELECT license_id, COUNT(*) AS n FROM license_users WHERE removed_at IS NULL"
            " AND license_id IN ({}) GROUP BY license_id",
            license_ids,
        )
        return {str(r["license_id"]): int(r["n"]) for r in rows}

    def add_license_user(
        self, at: int, license_id: str, email: str, name: str | None, max_devices: int | None
    ) -> LicenseUserRecord:
        """Assign a user to a license (the caller checked the license's limits)."""
        user_id = self._next_id("license_users")
        self._db.run(
            "INSERT INTO license_users (id, license_id, email, name, max_devices, added_at)"
            " VALUES (?,?,?,?,?,?)",
            (user_id, license_id, email, name, max_devices, at),
        )
        self.append_event(
            at, "user.assigned", license_id,
            {"user_id": user_id, "email": email, "name": name, "max_devices": max_devices},
        )  # fmt: skip
        return LicenseUserRecord(user_id, license_id, email, name, max_devices, at, None)

    def rename_license_user(self, at: int, user: LicenseUserRecord, name: str | None) -> None:
        """Change a user's display name."""
        self._db.run("UPDATE license_users SET name = ? WHERE id = ?", (name, user.id))
        self.append_event(
            at, "user.renamed", user.license_id,
            {"user_id": user.id, "email": user.email, "from": user.name, "to": name},
        )  # fmt: skip

    def set_license_user_cap(
        self, at: int, user: LicenseUserRecord, max_devices: int | None
    ) -> None:
        """Change a user's own device cap (None: no cap of their own)."""
        self._db.run(
            "UPDATE license_users SET max_devices = ? WHERE id = ?", (max_devices, user.id)
        )
        self.append_event(
            at, "user.cap_changed", user.license_id,
            {"user_id": user.id, "email": user.email, "from": user.max_devices,
             "to": max_devices},
        )  # fmt: skip

    def change_license_user_email(self, at: int, user: LicenseUserRecord, email: str) -> list[str]:
        """Give a user another e-mail; the seats they hold (open activations) and the devices
        last used for them follow it. Returns the ids of those activations."""
        args = (user.license_id, user.email)
        devices = [
            str(r["id"])
            for r in self._db.all(
                'SELECT id FROM devices WHERE license_id = ? AND "user" = ? ORDER BY id', args
            )
        ]
        seats = [
            str(r["id"])
            for r in self._db.all(
                'SELECT id FROM activations WHERE license_id = ? AND "user" = ?'
                " AND ended_at IS NULL ORDER BY created_at, id",
                args,
            )
        ]
        self._db.run("UPDATE license_users SET email = ? WHERE id = ?", (email, user.id))
        self._db.run(
            'UPDATE activations SET "user" = ? WHERE license_id = ? AND "user" = ?'
            " AND ended_at IS NULL",
            (email, *args),
        )
        self._db.run(
            'UPDATE devices SET "user" = ? WHERE license_id = ? AND "user" = ?', (email, *args)
        )
        self.append_event(
            at, "user.email_changed", user.license_id,
            {"user_id": user.id, "from": user.email, "to": email, "activations": seats,
             "devices": devices},
        )  # fmt: skip
        return seats

    def remove_license_user(self, at: int, user: LicenseUserRecord, data: dict[str, Any]) -> None:
        """Remove a user (the row stays, with ``removed_at``); an unused code ends with them.

        ``data`` joins the event (the seats the caller freed).
        """
        code = self._end_unused_code(user.id, at, REMOVED)
        self._db.run("UPDATE license_users SET removed_at = ? WHERE id = ?", (at, user.id))
        self.append_event(
            at, "user.removed", user.license_id,
            {"user_id": user.id, "email": user.email, "code": code, **data},
        )  # fmt: skip

    # --- codes ------------------------------------------------------------------------------

    def unused_code(self, user_id: int) -> UserCodeRecord | None:
        """The user's code that may still take a seat, or None."""
        row = self._db.one(
            "SELECT * FROM user_codes WHERE user_id = ? AND ended_at IS NULL", (user_id,)
        )
        return None if row is None else UserCodeRecord.from_row(row)

    def code_by_hash(self, user_id: int, code_hash: bytes) -> UserCodeRecord | None:
        """The user's newest code with this hash (used, replaced or not), or None."""
        row = self._db.one(
            "SELECT * FROM user_codes WHERE user_id = ? AND code_hash = ? ORDER BY id DESC LIMIT 1",
            (user_id, code_hash),
        )
        return None if row is None else UserCodeRecord.from_row(row)

    def codes_of(self, license_id: str) -> list[UserCodeRecord]:
        """Every code made for the license's users, oldest first."""
        rows = self._db.all(
            "SELECT c.* FROM user_codes c JOIN license_users u ON u.id = c.user_id"
            " WHERE u.license_id = ? ORDER BY c.id",
            (license_id,),
        )
        return [UserCodeRecord.from_row(r) for r in rows]

    def code_key_id(self) -> str | None:
        """The user-code key the ledger's newest code was made with, or None (no code yet)."""
        row = self._db.one("SELECT key_id FROM user_codes ORDER BY id DESC LIMIT 1")
        return None if row is None else str(row["key_id"])

    def add_user_code(
        self, at: int, user: LicenseUserRecord, code_hash: bytes, key_id: str
    ) -> UserCodeRecord:
        """Record a new code for ``user``; their unused one, if any, is replaced."""
        replaced = self._end_unused_code(user.id, at, REPLACED)
        code_id = self._next_id("user_codes")
        self._db.run(
            "INSERT INTO user_codes (id, user_id, code_hash, key_id, created_at)"
            " VALUES (?,?,?,?,?)",
            (code_id, user.id, code_hash, key_id, at),
        )
        self.append_event(
            at, "user.code_issued", user.license_id,
            {"user_id": user.id, "email": user.email, "code": code_id, "key_id": key_id,
             "code_hash": code_hash.hex(), "replaced": replaced},
        )  # fmt: skip
        return UserCodeRecord(code_id, user.id, code_hash, key_id, at, None, None, None)

    def use_user_code(
        self, at: int, user: LicenseUserRecord, code: UserCodeRecord, activation_id: str
    ) -> bool:
        """Mark a code used by the activation it let take a seat (once: it must be unused).

        Returns whether this call marked it: False if the code was no longer unused (used,
        replaced or removed since it was read), and then nothing is written or recorded.
        """
        self._db.run(
            "UPDATE user_codes SET ended_at = ?, end_reason = ?, activation_id = ?"
            " WHERE id = ? AND ended_at IS NULL",
            (at, USED, activation_id, code.id),
        )
        # The row count, read back portably (both engines): activation ids are unique, so the
        # row names this activation only if this statement changed it.
        marked = self._db.one(
            "SELECT id FROM user_codes WHERE id = ? AND end_reason = ? AND activation_id = ?",
            (code.id, USED, activation_id),
        )
        if marked is None:
            return False
        self.append_event(
            at, "user.code_used", user.license_id,
            {"user_id": user.id, "email": user.email, "code": code.id, "activation": activation_id},
        )  # fmt: skip
        return True

    def _end_unused_code(self, user_id: int, at: int, reason: str) -> int | None:
        """End the user's unused code, if any; return its id."""
        unused = self.unused_code(user_id)
        if unused is None:
            return None
        self._db.run(
            "UPDATE user_codes SET ended_at = ?, end_reason = ? WHERE id = ?",
            (at, reason, unused.id),
        )
        return unused.id


# --- what ``licsign ledger verify`` replays (licsign._ledger.integrity) --------------------------


def _code_issued(event: EventRecord, replay: Replay) -> None:
    data = event.data
    if data["replaced"] is not None:
        replay.apply(event, "user_codes", (data["replaced"],), CHANGE,
                     {"ended_at": event.at, "end_reason": REPLACED})  # fmt: skip
    replay.apply(event, "user_codes", (data["code"],), MAKE, {
        "user_id": data["user_id"], "code_hash": bytes.fromhex(data["code_hash"]),
        "key_id": data["key_id"], "created_at": event.at, "ended_at": None, "end_reason": None,
        "activation_id": None,
    })  # fmt: skip


def _email_changed(event: EventRecord, replay: Replay) -> None:
    to = event.data["to"]
    for activation in event.data["activations"]:
        replay.apply(event, "activations", (activation,), CHANGE, {"user": to})
    for device in event.data["devices"]:
        replay.apply(event, "devices", (event.subject, device), CHANGE, {"user": to})


def _removed(event: EventRecord, replay: Replay) -> None:
    if event.data["code"] is not None:
        replay.apply(event, "user_codes", (event.data["code"],), CHANGE,
                     {"ended_at": event.at, "end_reason": REMOVED})  # fmt: skip


track("license_users", key=("id",))
track("user_codes", key=("id",))
on("user.assigned", Change("license_users", ("user_id",), MAKE, license_id=SUBJECT,
                           email="email", name="name", max_devices="max_devices", added_at=AT,
                           removed_at=Fixed(None)))  # fmt: skip
on("user.renamed", Change("license_users", ("user_id",), CHANGE, name="to"))
on("user.cap_changed", Change("license_users", ("user_id",), CHANGE, max_devices="to"))
on("user.email_changed", Change("license_users", ("user_id",), CHANGE, email="to"), _email_changed)
on("user.removed", Change("license_users", ("user_id",), CHANGE, removed_at=AT), _removed)
on("user.code_issued", _code_issued)
on("user.code_used", Change("user_codes", ("code",), CHANGE, ended_at=AT,
                            end_reason=Fixed(USED), activation_id="activation"))  # fmt: skip
on("user.reset")  # its seats are freed by the device.reset events before it
