"""Ledger records of keys: the root key and the issuing keys it certified."""

from __future__ import annotations

import json

from licsign._ledger.events import Events
from licsign._ledger.records import KeyRecord


class Keys(Events):
    """Mixed into ``Ledger``: add and read keys."""

    def add_key(self, at: int, key_id: str, role: str, public_key: bytes, certificate: bytes | None = None,
                not_before: int | None = None, not_after: int | None = None,
                products: list[str] | None = None) -> None:  # fmt: skip
        """Record a key (call inside ``transaction()``)."""
        self._db.run(
            "INSERT INTO keys (key_id, role, public_key, certificate, not_before, not_after,"
            " products, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (key_id, role, public_key, certificate, not_before, not_after,
             None if products is None else json.dumps(products), at),
        )  # fmt: skip
        self.append_event(at, "key.created", key_id, {"role": role, "not_after": not_after})

    def keys(self) -> list[KeyRecord]:
        """All keys, root first, then issuing keys newest first."""
        rows = self._db.all(
            "SELECT * FROM keys ORDER BY role = 'issuing', created_at DESC, rowid DESC"
        )
        return [KeyRecord.from_row(r) for r in rows]

    def issuing_key_for(self, product: str, at: int) -> KeyRecord | None:
        """The newest active issuing key valid at ``at`` that may sign for ``product``."""
        for row in self._db.all(
            "SELECT * FROM keys WHERE role = 'issuing' AND status = 'active'"
            " AND not_before <= ? AND not_after > ? ORDER BY created_at DESC, rowid DESC",
            (at, at),
        ):
            key = KeyRecord.from_row(row)
            if key.products is None or product in key.products:
                return key
        return None
