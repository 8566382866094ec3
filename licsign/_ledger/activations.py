"""Ledger records of the activation exchange: devices, activations, receipts.

The SQL for what ``licsign._activation`` decides. Every method that writes
must run inside ``Ledger.transaction()`` (one ``BEGIN IMMEDIATE``), so the
limits the caller checked cannot be raced (DESIGN §4).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping


class ActivationRecords:
    """Mixed into ``Ledger``: reads and writes of devices, activations and receipts."""

    _db: sqlite3.Connection

    def open_activations(self, license_id: str) -> list[sqlite3.Row]:
        """Activations not ended by a receipt or a reset (a lapsed lease included),
        with the device's label and first fingerprint, oldest first."""
        return self._db.execute(
            "SELECT a.*, d.label, d.fingerprint AS first_fingerprint FROM activations a"
            " JOIN devices d ON d.license_id = a.license_id AND d.id = a.device_id"
            " WHERE a.license_id = ? AND a.ended_at IS NULL ORDER BY a.created_at, a.rowid",
            (license_id,),
        ).fetchall()

    def activation(self, activation_id: str) -> sqlite3.Row | None:
        """One activation by id, or None."""
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM activations WHERE id = ?", (activation_id,)
        ).fetchone()
        return row

    def transfers_used(self, license_id: str) -> int:
        """Activations of this license ended by a receipt or a reset that count as transfers."""
        return int(
            self._db.execute(
                "SELECT COUNT(*) FROM activations WHERE license_id = ? AND ended_at IS NOT NULL"
                " AND counts_transfer = 1",
                (license_id,),
            ).fetchone()[0]
        )

    def add_activation(
        self, activation_id: str, license_id: str, device: Mapping[str, object], at: int
    ) -> None:
        """Record a new seat: the device (kept across activations) and its activation.

        ``device`` holds id, key, fingerprint (JSON text), label, user, nonce, digest.
        """
        self._db.execute(
            "INSERT INTO devices (license_id, id, device_key, fingerprint, label, user,"
            " first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (license_id, id)"
            " DO UPDATE SET last_seen = excluded.last_seen, label = excluded.label,"
            " user = excluded.user",
            (license_id, device["id"], device["key"], device["fingerprint"], device["label"],
             device["user"], at, at),
        )  # fmt: skip
        self._db.execute(
            "INSERT INTO activations (id, license_id, device_id, user, request_nonce,"
            " license_digest, created_at, renewed_at, fingerprint) VALUES (?,?,?,?,?,?,?,?,?)",
            (activation_id, license_id, device["id"], device["user"], device["nonce"],
             device["digest"], at, at, device["fingerprint"]),
        )  # fmt: skip

    def set_activation_user(self, activation_id: str, user: str | None) -> None:
        """Change who a (lapsed) activation counts against."""
        self._db.execute("UPDATE activations SET user = ? WHERE id = ?", (user, activation_id))

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
        self._db.execute(
            "UPDATE activations SET renewed_at = ?, lease_expires = ?, refresh_by = ?,"
            " request_nonce = ?, license_digest = ? WHERE id = ?",
            (at, lease, refresh, nonce, digest, activation_id),
        )
        self._db.execute(
            "UPDATE devices SET last_seen = ? WHERE (license_id, id) ="
            " (SELECT license_id, device_id FROM activations WHERE id = ?)",
            (at, activation_id),
        )

    def end_activation(self, activation_id: str, at: int, reason: str, transfer: bool) -> None:
        """Free a seat: ended by a receipt ('deactivated') or the vendor ('reset')."""
        self._db.execute(
            "UPDATE activations SET ended_at = ?, end_reason = ?, counts_transfer = ? WHERE id = ?",
            (at, reason, int(transfer), activation_id),
        )

    def receipt_seen(self, nonce: bytes) -> bool:
        """Whether a receipt with this nonce was accepted already."""
        return (
            self._db.execute("SELECT 1 FROM receipts WHERE nonce = ?", (nonce,)).fetchone()
            is not None
        )

    def add_receipt(self, nonce: bytes, activation_id: str, at: int) -> None:
        """Record an accepted receipt (each is accepted once)."""
        self._db.execute(
            "INSERT INTO receipts (nonce, activation_id, received_at) VALUES (?,?,?)",
            (nonce, activation_id, at),
        )

    def devices_of(self, license_id: str) -> list[tuple[sqlite3.Row, sqlite3.Row | None]]:
        """Every device that activated ``license_id``, with its latest activation, oldest first."""
        out = []
        for device in self._db.execute(
            "SELECT * FROM devices WHERE license_id = ? ORDER BY first_seen, id", (license_id,)
        ).fetchall():
            latest = self._db.execute(
                "SELECT * FROM activations WHERE license_id = ? AND device_id = ?"
                " ORDER BY created_at DESC, rowid DESC LIMIT 1",
                (license_id, device["id"]),
            ).fetchone()
            out.append((device, latest))
        return out
