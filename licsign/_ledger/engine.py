"""The two databases a ledger lives in: SQLite (embedded default) and PostgreSQL.

A ``Database`` runs the ledger's SQL, written once with ``?`` placeholders,
on either engine, returns rows as dicts, and provides the one write lock the
ledger's rules depend on (docs/adr/0015-ledger-engines.md):

- SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock up front.
- PostgreSQL: ``BEGIN`` then ``pg_advisory_xact_lock`` on one ledger-wide key,
  so writers run one after another exactly as on SQLite; readers never wait.

Both turn every driver error into ``LedgerError`` (one line, no traceback).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from licsign._errors import WorkspaceError

Row = dict[str, Any]

#: The advisory lock key every PostgreSQL write transaction holds ("licsign" in ASCII).
WRITE_LOCK_KEY = 0x6C6963736967_6E
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class LedgerError(WorkspaceError):
    """The ledger database cannot be opened or refused a statement (code ``workspace``)."""


def is_postgres_url(location: str) -> bool:
    """True if ``location`` names a PostgreSQL database rather than a SQLite file."""
    return location.startswith(_POSTGRES_SCHEMES)


def redact_url(location: str) -> str:
    """``location`` with any password replaced, for messages and the workspace file."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1@", location)


class Database:
    """One connection to the ledger's database (see the module docstring)."""

    dialect: str = ""

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query, as dicts."""
        raise NotImplementedError

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        rows = self.all(sql, args)
        return rows[0] if rows else None

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Run a statement that returns no rows."""
        raise NotImplementedError

    def begin_write(self) -> None:
        """Start a transaction holding the ledger's write lock."""
        raise NotImplementedError

    def commit(self) -> None:
        """Commit the current transaction."""
        self.run("COMMIT")

    def rollback(self) -> None:
        """Roll the current transaction back."""
        self.run("ROLLBACK")

    def schema_version(self) -> int:
        """The number of migrations applied (0 for an empty database)."""
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        """Record that ``version`` migrations are applied (inside the migration's transaction)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError


class SqliteDatabase(Database):
    """The embedded ledger: one SQLite file in WAL mode with full fsync."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        import sqlite3

        self._errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        self.location = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._db.row_factory = _dict_row
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL"):
                self._db.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {path!r} cannot be opened: {exc}") from None

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._db.execute(sql, tuple(args)).fetchall()
        except self._errors as exc:
            raise LedgerError(f"ledger error: {exc}") from None

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        try:
            self._db.execute(sql, tuple(args))
        except self._errors as exc:
            raise LedgerError(f"ledger error: {exc}") from None

    def begin_write(self) -> None:
        self.run("BEGIN IMMEDIATE")

    def schema_version(self) -> int:
        row = self.one("PRAGMA user_version")
        return int(next(iter(row.values()))) if row else 0

    def set_schema_version(self, version: int) -> None:
        self.run(f"PRAGMA user_version={int(version)}")

    def close(self) -> None:
        self._db.close()


class PostgresDatabase(Database):
    """A shared ledger in a PostgreSQL database (psycopg 3, ``licsign[postgres]``)."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError:
            raise LedgerError(
                "a PostgreSQL ledger needs psycopg 3: pip install 'licsign[postgres]'"
            ) from None
        self._errors = (psycopg.Error,)
        self.location = redact_url(url)
        try:
            self._db = psycopg.connect(
                url, autocommit=True, row_factory=dict_row, connect_timeout=10
            )
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LedgerError(f"ledger {self.location} cannot be opened: {first}") from None

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            cursor = self._db.execute(_pg(sql), tuple(args))
            return list(cursor.fetchall()) if cursor.description else []
        except self._errors as exc:
            raise LedgerError(f"ledger error: {_first_line(exc)}") from None

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        try:
            self._db.execute(_pg(sql), tuple(args))
        except self._errors as exc:
            raise LedgerError(f"ledger error: {_first_line(exc)}") from None

    def begin_write(self) -> None:
        self.run("BEGIN ISOLATION LEVEL READ COMMITTED")
        self.run("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_KEY,))

    def schema_version(self) -> int:
        exists = self.one("SELECT to_regclass('licsign_schema') IS NOT NULL AS present")
        if not exists or not exists["present"]:
            return 0
        row = self.one("SELECT version FROM licsign_schema")
        return int(row["version"]) if row else 0

    def set_schema_version(self, version: int) -> None:
        self.run("CREATE TABLE IF NOT EXISTS licsign_schema (version INTEGER NOT NULL)")
        self.run("DELETE FROM licsign_schema")
        self.run("INSERT INTO licsign_schema (version) VALUES (?)", (int(version),))

    def close(self) -> None:
        self._db.close()


def connect(location: str) -> Database:
    """Open ``location``: a ``postgresql://`` URL or the path of a SQLite file."""
    if is_postgres_url(location):
        return PostgresDatabase(location)
    return SqliteDatabase(os.fspath(location))


def _dict_row(cursor: Any, row: Iterable[Any]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def _pg(sql: str) -> str:
    """The ledger's ``?`` placeholders in psycopg's ``%s`` style."""
    return sql.replace("%", "%%").replace("?", "%s")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
