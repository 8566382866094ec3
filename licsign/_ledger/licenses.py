"""Ledger records of issued licenses (every version, with its signed document)."""

from __future__ import annotations

import json
from dataclasses import astuple, fields

from licsign._errors import NotFoundError
from licsign._ledger.events import Events
from licsign._ledger.records import EventRecord, LicenseRecord

_COLUMNS = [f.name for f in fields(LicenseRecord)]


class Licenses(Events):
    """Mixed into ``Ledger``: record and read licenses."""

    def add_license(self, at: int, record: LicenseRecord) -> None:
        """Record an issued license (call inside ``transaction()``)."""
        values = list(astuple(record))
        values[_COLUMNS.index("terms")] = json.dumps(record.terms, sort_keys=True)
        self._db.run(
            f"INSERT INTO licenses ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            values,
        )
        self.append_event(
            at, "license.issued", record.id,
            {"version": record.version, "digest": record.digest, "key_id": record.key_id},
        )  # fmt: skip

    def license_exists(self, license_id: str) -> bool:
        """True if any version of ``license_id`` exists."""
        return self._db.one("SELECT 1 AS x FROM licenses WHERE id = ?", (license_id,)) is not None

    def licenses(
        self, product: str | None = None, customer: str | None = None
    ) -> list[LicenseRecord]:
        """The newest version of every license, newest first, optionally filtered."""
        sql = (
            "SELECT l.* FROM licenses l WHERE l.version = "
            "(SELECT MAX(version) FROM licenses WHERE id = l.id)"
        )
        args: list[str] = []
        if product:
            sql += " AND l.product_id = ?"
            args.append(product)
        if customer:
            sql += " AND l.customer_id = ?"
            args.append(customer)
        rows = self._db.all(sql + " ORDER BY l.issued_at DESC, l.id", args)
        return [LicenseRecord.from_row(r) for r in rows]

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
