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
from collections.abc import Iterable, Sequence
from typing import Any

from licsign._errors import WorkspaceError

Row = dict[str, Any]

#: The advisory lock key every PostgreSQL write transaction holds ("licsign" in ASCII).
WRITE_LOCK_KEY = 0x6C6963736967_6E
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class LedgerError(WorkspaceError):
    """The ledger database cannot be opened or refused a statement (code ``workspace``)."""


class LedgerBusyError(LedgerError):
    """Another desk held the ledger's write lock for longer than the wait allows."""

    code = "busy"


#: How long a writer waits for the ledger's write lock before giving up, on both engines.
LOCK_WAIT_SECONDS = 30
_BUSY = (
    f"the ledger is busy: another process held its write lock for more than "
    f"{LOCK_WAIT_SECONDS} s; try again"
)


def is_postgres_url(location: str) -> bool:
    """True if ``location`` names a PostgreSQL database rather than a SQLite file."""
    return location.lower().startswith(_POSTGRES_SCHEMES)


def postgres_url(location: str) -> str:
    """``location`` as a PostgreSQL URL (scheme in lower case), or LedgerError naming why not.

    Only the scheme of a refused location is quoted: the rest may hold a password.
    """
    scheme, sep, rest = location.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        shown = scheme[:20] if sep else "no scheme"
        raise LedgerError(
            f"a shared ledger is given as postgresql://USER@HOST/DATABASE (got {shown!r})"
        )
    return f"{scheme.lower()}://{rest}"


def redact_url(location: str) -> str:
    """``location`` without any password (in the user part or the query), for messages and files."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(location)
        netloc = parts.netloc
    except ValueError:
        return "<a malformed PostgreSQL URL>"
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = "&".join(
        p for p in parts.query.split("&") if p and not p.lower().startswith("password=")
    )
    # Rebuilt by hand: urlunsplit drops the "//" of an empty host (postgresql:///db?host=/run).
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _secrets(location: str) -> list[str]:
    """The passwords a URL carries, raw and decoded, longest first (to scrub from messages)."""
    import re
    from urllib.parse import unquote

    found = re.findall(r"://[^/@?]*?:([^@/?]*)@", location)
    found += re.findall(r"(?i)[?&]password=([^&]*)", location)
    return sorted({v for s in found for v in (s, unquote(s)) if v}, key=len, reverse=True)


def scrub(text: str, location: str) -> str:
    """One line of a driver's message with the URL's passwords removed, at most 300 characters."""
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    for secret in _secrets(location):
        line = line.replace(secret, "***")
    return line[:300]


class Database:
    """One connection to the ledger's database (see the module docstring)."""

    dialect: str = ""
    #: Where it lives, without any password (for messages).
    location: str = ""

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query, as dicts."""
        try:
            return self._all(sql, tuple(args))
        except self._errors as exc:
            raise self._error(exc) from None

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        rows = self.all(sql, args)
        return rows[0] if rows else None

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Run a statement that returns no rows."""
        self.all(sql, args)

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement that returns no rows once per row of arguments (one batch:
        SQLite's ``executemany``, psycopg's pipelined one), for bulk issuance."""
        if not rows:
            return
        try:
            self._many(sql, [tuple(r) for r in rows])
        except self._errors as exc:
            raise self._error(exc) from None

    def begin_write(self) -> None:
        """Start a transaction holding the ledger's write lock (LedgerBusyError after the wait)."""
        raise NotImplementedError

    def commit(self) -> None:
        """Commit the current transaction."""
        self.run("COMMIT")

    def rollback(self) -> None:
        """Roll the current transaction back."""
        self.run("ROLLBACK")

    def schema_version(self) -> int:
        """The number of migrations applied (0 for a database licsign never wrote)."""
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        """Record that ``version`` migrations are applied (inside the migration's transaction)."""
        raise NotImplementedError

    def tables(self) -> set[str]:
        """The names of the tables in the database (the ledger's own and any other)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError

    _errors: tuple[type[BaseException], ...] = ()

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        raise NotImplementedError

    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _error(self, exc: BaseException) -> LedgerError:
        raise NotImplementedError


class SqliteDatabase(Database):
    """The embedded ledger: one SQLite file (WAL mode once it is known to be a ledger)."""

    dialect = "sqlite"
    #: ``PRAGMA application_id`` of a licsign ledger ("LicS"); 0 in ledgers made before issue 7.
    APPLICATION_ID = 0x4C696353

    def __init__(self, path: str) -> None:
        import sqlite3

        self._errors = (sqlite3.Error,)
        self.location = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=LOCK_WAIT_SECONDS)
            self._db.row_factory = _dict_row
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {path!r} cannot be opened: {exc}") from None

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        return self._db.execute(sql, args).fetchall()

    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._db.executemany(sql, rows)

    def _error(self, exc: BaseException) -> LedgerError:
        if "database is locked" in str(exc):
            return LedgerBusyError(_BUSY)
        return LedgerError(f"ledger error: {_first_line(exc)}")

    def use_wal(self) -> None:
        """Switch to write-ahead logging (writes the file: only once it is known to be a ledger)."""
        self.run("PRAGMA journal_mode=WAL")

    def begin_write(self) -> None:
        self.run("BEGIN IMMEDIATE")

    def schema_version(self) -> int:
        return self._pragma("user_version")

    def set_schema_version(self, version: int) -> None:
        self.run(f"PRAGMA user_version={int(version)}")
        self.run(f"PRAGMA application_id={self.APPLICATION_ID}")

    def application_id(self) -> int:
        """The file's ``PRAGMA application_id`` (0 if no application set one)."""
        return self._pragma("application_id")

    def tables(self) -> set[str]:
        return {r["name"] for r in self.all("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def close(self) -> None:
        self._db.close()

    def _pragma(self, name: str) -> int:
        row = self.one(f"PRAGMA {name}")
        return int(next(iter(row.values()))) if row else 0


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
        url = postgres_url(url)
        self._errors = (psycopg.Error,)
        self._url = url
        self.location = redact_url(url)
        options: dict[str, Any] = {} if "connect_timeout" in url else {"connect_timeout": 10}
        try:
            self._db = psycopg.connect(url, autocommit=True, row_factory=dict_row, **options)
        except (psycopg.Error, ValueError) as exc:
            raise LedgerError(
                f"ledger {self.location} cannot be opened: {scrub(str(exc), url)}"
            ) from None
        if "lock_timeout" not in url:  # the URL's options=-c lock_timeout=… wins
            self.run(f"SET lock_timeout = '{LOCK_WAIT_SECONDS}s'")

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        cursor = self._db.execute(_pg(sql), args)
        return list(cursor.fetchall()) if cursor.description else []

    def _many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(_pg(sql), rows)

    def _error(self, exc: BaseException) -> LedgerError:
        if getattr(exc, "sqlstate", None) == "55P03":  # lock_not_available: lock_timeout passed
            return LedgerBusyError(_BUSY)
        return LedgerError(f"ledger error: {scrub(str(exc), self._url)}")

    def begin_write(self) -> None:
        self.run("BEGIN ISOLATION LEVEL READ COMMITTED")
        try:
            self.run("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_KEY,))
        except BaseException:
            self.rollback()  # the failed wait aborted the transaction: leave none open
            raise

    def schema_version(self) -> int:
        if "licsign_schema" not in self.tables():
            return 0
        row = self.one("SELECT version FROM licsign_schema")
        return int(row["version"]) if row else 0

    def set_schema_version(self, version: int) -> None:
        self.run("CREATE TABLE IF NOT EXISTS licsign_schema (version INTEGER NOT NULL)")
        self.run("DELETE FROM licsign_schema")
        self.run("INSERT INTO licsign_schema (version) VALUES (?)", (int(version),))

    def tables(self) -> set[str]:
        rows = self.all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema"
            " NOT IN ('pg_catalog', 'information_schema')"
        )
        return {r["table_name"] for r in rows}

    def close(self) -> None:
        self._db.close()


def connect(location: str) -> Database:
    """Open ``location``: a ``postgresql://`` URL or the path of a SQLite file."""
    if "://" in location:
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
