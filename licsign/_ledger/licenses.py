"""Ledger records of issued licenses (every version, with its signed document)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

from licsign._errors import NotFoundError
from licsign._ledger.events import Events
from licsign._ledger.integrity import CHANGE, MAKE, Replay, on
from licsign._ledger.records import EventRecord, LicenseRecord

_COLUMNS = [f.name for f in fields(LicenseRecord)]
_TERMS = _COLUMNS.index("terms")
#: Columns the ledger derives from the terms, so that statuses are indexed lookups.
_VALIDITY = ["not_before", "grace_ends"]

#: The validity statuses ``licenses(status=...)`` selects, as conditions on the derived
#: columns at a time ``?`` (the verifier's ``check_time``: not before, expiry, grace).
_STARTED = "(l.not_before IS NULL OR l.not_before <= ?)"
_STATUS_SQL = {
    "revoked": ("l.status = 'revoked'", 0),
    "not-yet-valid": ("l.not_before > ?", 1),
    "active": (f"{_STARTED} AND (l.expires IS NULL OR l.expires > ?)", 2),
    "in-grace": (f"{_STARTED} AND l.expires <= ? AND l.grace_ends > ?", 3),
    "expired": (f"{_STARTED} AND l.grace_ends <= ?", 2),
}
_NEWEST = "l.version = (SELECT MAX(version) FROM licenses WHERE id = l.id)"


def _validity(record: LicenseRecord) -> list[int | None]:
    """When the license starts and when its grace ends (None: from the start, never), from
    the terms as issued (``terms_to_json``: ISO 8601 UTC times, ``grace_seconds``)."""
    start = record.terms.get("not_before")
    not_before = None
    if start is not None:
        # fromisoformat: 20x faster than strptime, and bulk issuance calls this per license
        when = datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(timezone.utc)
        not_before = int(when.timestamp())
    grace = int(record.terms.get("grace_seconds") or 0)
    return [not_before, None if record.expires is None else record.expires + grace]


class Licenses(Events):
    """Mixed into ``Ledger``: record and read licenses."""

    def add_license(self, at: int, record: LicenseRecord) -> None:
        """Record an issued license (call inside ``transaction()``)."""
        self.add_licenses(at, [record])

    def add_licenses(self, at: int, records: Sequence[LicenseRecord]) -> None:
        """Record issued licenses, one ``license.issued`` event each, in one batch of
        statements (bulk issuance); call inside ``transaction()``."""
        columns = _COLUMNS + _VALIDITY
        rows, events = [], []
        for record in records:
            # getattr, not astuple: astuple deep-copies the terms (most of bulk issuance's time)
            values = [getattr(record, name) for name in _COLUMNS]
            values[_TERMS] = json.dumps(record.terms, sort_keys=True)
            rows.append(values + _validity(record))
            data: dict[str, Any] = {
                "version": record.version, "digest": record.digest, "key_id": record.key_id,
            }  # fmt: skip
            if record.order_id is not None:
                data["order"] = record.order_id
            events.append(("license.issued", record.id, data))
        self._db.run_many(
            f"INSERT INTO licenses ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            rows,
        )
        self.append_events(at, events)

    def add_license_version(
        self, at: int, record: LicenseRecord, kind: str, data: dict[str, Any]
    ) -> None:
        """Record a new version of a license (renewed, amended, transferred): every older
        version becomes ``superseded``; one event ``kind`` with ``data`` (call inside
        ``transaction()``; ``ledger verify`` replays it, below)."""
        self._db.run(
            "UPDATE licenses SET status = 'superseded' WHERE id = ? AND version < ?"
            " AND status = 'active'",
            (record.id, record.version),
        )
        values = [getattr(record, name) for name in _COLUMNS]
        values[_TERMS] = json.dumps(record.terms, sort_keys=True)
        columns = _COLUMNS + _VALIDITY
        self._db.run(
            f"INSERT INTO licenses ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            values + _validity(record),
        )
        self.append_event(at, kind, record.id, {
            "version": record.version, "digest": record.digest, "key_id": record.key_id,
            "customer": record.customer_id, "order": record.order_id, **data,
        })  # fmt: skip

    def license_exists(self, license_id: str) -> bool:
        """True if any version of ``license_id`` exists."""
        return self._db.one("SELECT 1 AS x FROM licenses WHERE id = ?", (license_id,)) is not None

    def existing_license_ids(self, license_ids: Sequence[str]) -> set[str]:
        """Which of ``license_ids`` the ledger holds (any version): one query per 500 ids."""
        rows = self._in_chunks("SELECT DISTINCT id FROM licenses WHERE id IN ({})", license_ids)
        return {str(r["id"]) for r in rows}

    def any_license(self) -> bool:
        """True if the ledger holds any license at all."""
        return self._db.one("SELECT 1 AS x FROM licenses LIMIT 1") is not None

    def licenses(
        self,
        product: str | None = None,
        customer: str | None = None,
        *,
        order: str | None = None,
        type: str | None = None,
        status: str | None = None,
        expires_by: int | None = None,
        at: int = 0,
        limit: int | None = None,
        after: tuple[int, str] | None = None,
    ) -> list[LicenseRecord]:
        """The newest version of every license, newest first, optionally filtered.

        Args:
            product: only this product's.
            customer: only this customer's.
            order: only those issued under this order.
            type: only licenses of this type.
            status: only those ``active``, ``in-grace``, ``expired`` or
                ``not-yet-valid`` at ``at`` (as the recorded terms say).
            expires_by: only those expiring after ``at`` and at the latest then.
            at: the time ``status`` and ``expires_by`` are judged at.
            limit: at most this many (None: all).
            after: only those listed after the license issued at ``after[0]``
                with id ``after[1]`` (the last of the previous page).
        """
        sql = f"SELECT l.* FROM licenses l WHERE {_NEWEST}"
        args: list[Any] = []
        for column, value in (
            ("product_id", product), ("customer_id", customer), ("order_id", order)
        ):  # fmt: skip
            if value is not None:
                # A product has many licenses: with a narrower filter, keep SQLite (no
                # statistics) off its index, as for the type below.
                narrow = column == "product_id" and (customer or order) is not None
                sql += f" AND l.{column} || '' = ?" if narrow else f" AND l.{column} = ?"
                args.append(value)
        if type is not None:
            # A type has many licenses: SQLite keeps no statistics and would walk its index
            # (licenses_by_type) over a narrower one; "|| ''" keeps any engine off it then.
            narrower = any(v is not None for v in (product, customer, order, status, expires_by))
            sql += " AND l.type || '' = ?" if narrower else " AND l.type = ?"
            args.append(type)
        if status is not None:
            condition, count = _STATUS_SQL[status]
            sql += f" AND {condition}"
            args += [at] * count
        if expires_by is not None:
            sql += " AND l.expires > ? AND l.expires <= ?"
            args += [at, expires_by]
        if after is not None:
            sql += " AND (l.issued_at < ? OR (l.issued_at = ? AND l.id > ?))"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY l.issued_at DESC, l.id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [LicenseRecord.from_row(r) for r in self._db.all(sql, args)]

    def license(self, license_id: str) -> LicenseRecord:
        """The newest version of a license; raise NotFoundError if unknown."""
        row = self._db.one(
            "SELECT * FROM licenses WHERE id = ? ORDER BY version DESC LIMIT 1", (license_id,)
        )
        if row is None:
            raise NotFoundError(f"unknown license {license_id!r}")
        return LicenseRecord.from_row(row)

    def license_history(self, license_id: str) -> list[EventRecord]:
        """Events about a license, oldest first."""
        return self.events(license_id)


# --- what a new version does to rows, for ``licsign ledger verify`` (licsign._ledger.integrity) ---


def _new_version(event: EventRecord, replay: Replay) -> None:
    """``license.renewed``/``amended``/``transferred``: the version it supersedes, the new row,
    and (a transfer) the activations it ended."""
    data = event.data
    replay.apply(event, "licenses", (event.subject, data["supersedes"]), CHANGE,
                 {"status": "superseded"})  # fmt: skip
    replay.apply(event, "licenses", (event.subject, data["version"]), MAKE, {
        "key_id": data["key_id"], "digest": data["digest"], "status": "active",
        "customer_id": data["customer"], "order_id": data["order"],
    })  # fmt: skip
    for activation in data.get("activations", ()):
        replay.apply(event, "activations", (activation,), CHANGE, {
            "ended_at": event.at, "end_reason": "reset", "counts_transfer": 0,
        })  # fmt: skip


for _kind in ("license.renewed", "license.amended", "license.transferred"):
    on(_kind, _new_version)
