"""Ledger records of the activation exchange: devices, activations, receipts.

The SQL for what the activation services decide. Every method that writes
must run inside ``Ledger.transaction()`` (the ledger's write lock), so the
limits the caller checked cannot be raced (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Sequence

from licsign._ledger.events import Events
from licsign._ledger.records import (
    ActivationRecord,
    DeviceRecord,
    NewSeat,
    ReceiptRecord,
    Seat,
)


class Activations(Events):
    """Mixed into ``Ledger``: reads and writes of devices, activations and receipts."""

    def open_activations(self, license_id: str) -> list[Seat]:
        """Activations not ended by a receipt or a reset (a lapsed lease included),
        with the device's label and first fingerprint, oldest first."""
        rows = self._db.all(
            "SELECT a.*, d.label, d.fingerprint AS first_fingerprint FROM activations a"
            " JOIN devices d ON d.license_id = a.license_id AND d.id = a.device_id"
            " WHERE a.license_id = ? AND a.ended_at IS NULL ORDER BY a.created_at, a.rowid",
            (license_id,),
        )
        return [
            Seat(ActivationRecord.from_row(r), r["label"], r["first_fingerprint"]) for r in rows
        ]

    def seats_held(self, at: int, license_ids: Sequence[str]) -> dict[str, int]:
        """Open activations holding a seat at ``at`` (a lapsed lease does not), per license of
        ``license_ids``: one grouped query per 500 licenses listed."""
        rows = self._in_chunks(
            "SELECT license_id, COUNT(*) AS n FROM activations WHERE ended_at IS NULL"
            " AND (lease_expires IS NULL OR lease_expires > ?) AND license_id IN ({})"
            " GROUP BY license_id",
            license_ids, (at,),
        )  # fmt: skip
        return {str(r["license_id"]): int(r["n"]) for r in rows}

    def license_versions(self, license_id: str) -> list[tuple[int, int, str]]:
        """Every version of a license: (version, issued at, ledger status), oldest first."""
        rows = self._db.all(
            "SELECT version, issued_at, status FROM licenses WHERE id = ? ORDER BY version",
            (license_id,),
        )
        return [(int(r["version"]), int(r["issued_at"]), str(r["status"])) for r in rows]

    def activation(self, activation_id: str) -> ActivationRecord | None:
        """One activation by id, or None."""
        row = self._db.one("SELECT * FROM activations WHERE id = ?", (activation_id,))
        return None if row is None else ActivationRecord.from_row(row)

    def transfers_used(self, license_id: str) -> int:
        """Activations of this license ended by a receipt or a reset that count as transfers."""
        row = self._db.one(
            "SELECT COUNT(*) AS n FROM activations WHERE license_id = ? AND ended_at IS NOT NULL"
            " AND counts_transfer = 1",
            (license_id,),
        )
        return int(row["n"]) if row else 0

    def add_activation(self, activation_id: str, license_id: str, seat: NewSeat, at: int) -> None:
        """Record a new seat: the device (kept across activations) and its activation."""
        self._db.run(
            'INSERT INTO devices (license_id, id, device_key, fingerprint, label, "user",'
            " first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (license_id, id)"
            " DO UPDATE SET last_seen = excluded.last_seen, label = excluded.label,"
            ' "user" = excluded."user"',
            (license_id, seat.device_id, seat.device_key, seat.fingerprint, seat.label,
             seat.user, at, at),
        )  # fmt: skip
        self._db.run(
            'INSERT INTO activations (id, license_id, device_id, "user", request_nonce,'
            " license_digest, created_at, renewed_at, fingerprint) VALUES (?,?,?,?,?,?,?,?,?)",
            (activation_id, license_id, seat.device_id, seat.user, seat.request_nonce,
             seat.license_digest, at, at, seat.fingerprint),
        )  # fmt: skip

    def set_activation_user(self, activation_id: str, user: str | None) -> None:
        """Change who a (lapsed) activation counts against."""
        self._db.run('UPDATE activations SET "user" = ? WHERE id = ?', (user, activation_id))

    def renew_activation(
        self,
        activation_id: str,
        at: int,
        expiries: tuple[int | None, int | None],
        nonce: bytes,
        digest: bytes,
    ) -> None:
        """Record a response given now: its lease end and refresh date, nonce and digest."""
        lease, refresh = expiries
        self._db.run(
            "UPDATE activations SET renewed_at = ?, lease_expires = ?, refresh_by = ?,"
            " request_nonce = ?, license_digest = ? WHERE id = ?",
            (at, lease, refresh, nonce, digest, activation_id),
        )
        self._db.run(
            "UPDATE devices SET last_seen = ? WHERE (license_id, id) ="
            " (SELECT license_id, device_id FROM activations WHERE id = ?)",
            (at, activation_id),
        )

    def end_activation(self, activation_id: str, at: int, reason: str, transfer: bool) -> None:
        """Free a seat: ended by a receipt ('deactivated') or the vendor ('reset')."""
        self._db.run(
            "UPDATE activations SET ended_at = ?, end_reason = ?, counts_transfer = ? WHERE id = ?",
            (at, reason, int(transfer), activation_id),
        )

    def receipt_seen(self, nonce: bytes) -> bool:
        """Whether a receipt with this nonce was accepted already."""
        return self._db.one("SELECT 1 AS x FROM receipts WHERE nonce = ?", (nonce,)) is not None

    def add_receipt(self, nonce: bytes, activation_id: str, at: int) -> None:
        """Record an accepted receipt (each is accepted once)."""
        self._db.run(
            "INSERT INTO receipts (nonce, activation_id, received_at) VALUES (?,?,?)",
            (nonce, activation_id, at),
        )

    def receipts(self) -> list[ReceiptRecord]:
        """Every accepted receipt, in the order received."""
        rows = self._db.all("SELECT * FROM receipts ORDER BY received_at, activation_id")
        return [ReceiptRecord.from_row(r) for r in rows]

    def activations_of(self, license_id: str) -> list[ActivationRecord]:
        """Every activation of ``license_id``, open or ended, oldest first."""
        rows = self._db.all(
            "SELECT * FROM activations WHERE license_id = ? ORDER BY created_at, rowid",
            (license_id,),
        )
        return [ActivationRecord.from_row(r) for r in rows]

    def devices_of(self, license_id: str) -> list[tuple[DeviceRecord, ActivationRecord | None]]:
        """Every device that activated ``license_id``, with its latest activation, oldest first."""
        latest: dict[str, ActivationRecord] = {}
        for activation in self.activations_of(license_id):
            latest[activation.device_id] = activation
        rows = self._db.all(
            "SELECT * FROM devices WHERE license_id = ? ORDER BY first_seen, id", (license_id,)
        )
        return [(d, latest.get(d.id)) for d in (DeviceRecord.from_row(r) for r in rows)]
