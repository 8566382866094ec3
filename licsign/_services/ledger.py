"""Ledger maintenance: bring the schema up to date, describe the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from licsign._workspace import Workspace


@dataclass(frozen=True)
class LedgerInfo:
    """Where the ledger lives and what its schema is, after a migration if one ran."""

    #: The SQLite file or the PostgreSQL URL (without its password).
    location: str
    #: ``sqlite`` or ``postgresql``.
    engine: str
    schema_version: int
    #: Migrations this call applied (empty: it was up to date).
    applied: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        """The result as ``--json`` prints it."""
        return {"ledger": self.location, "engine": self.engine,
                "schema_version": self.schema_version, "applied": list(self.applied)}  # fmt: skip


def migrate_ledger(ws: Workspace) -> LedgerInfo:
    """Apply the ledger's missing migrations (each in its own unit of work).

    Safe to run twice, or from two desks at once: each migration re-reads the
    version under the ledger's write lock.

    Raises:
        LedgerError: the ledger is unreachable, damaged, or newer than this licsign.
    """
    applied = ws.migrate_ledger()
    ledger = ws.ledger
    return LedgerInfo(ledger.location, ledger.dialect, ledger.schema_version(), tuple(applied))
