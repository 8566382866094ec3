"""Backups of the ledger, on both engines, in one portable format: a SQLite ledger file.

A backup is a complete ledger as a single SQLite file (journal mode DELETE,
0600): the schema at this licsign's version, every row, the whole hash-chained
history. It opens like any ledger, on any machine (docs/adr/0018-ledger-integrity.md).

- **Backup is online and consistent.** SQLite: the backup API copies the
  pages while a read transaction pins one snapshot (WAL: writers go on; the
  copy is never restarted). PostgreSQL: one REPEATABLE READ, READ ONLY
  transaction reads every table, in batches, into a new SQLite ledger.
  Either way the file shows the ledger between two units of work.
- **Restore** first copies the file aside, migrates the copy, and only then
  touches the ledger. SQLite: a missing ledger file is replaced by a rename;
  an existing ledger has every table emptied and refilled from the copy in
  one write transaction (the ledger's write lock; the append-only triggers
  are dropped and re-created inside it), so other processes see the old
  ledger or the restored one, nothing between. PostgreSQL: only into an
  empty database, or an empty ledger at this schema; every row in one write
  transaction; the identity columns continue after the restored rows.
  licsign never deletes a shared ledger's rows.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from licsign._ledger import migrations
from licsign._ledger.engine import LOCK_WAIT_SECONDS, Database, LedgerError, connect, redact_url
from licsign._ledger.integrity import ChainHead, pages
from licverify._fileio import fsync_directory

if TYPE_CHECKING:
    from licsign._ledger import Ledger

Progress = Callable[[str], None]
#: Pages per step of SQLite's backup API (4 MiB with 4 KiB pages), then a progress line.
_PAGES_PER_STEP = 1024
#: Rows read or written per query.
_BATCH = 2000
#: PostgreSQL takes at most 65535 parameters in one statement.
_MAX_PARAMETERS = 60000
#: A progress line every this many rows of a table (and one when a table is done).
_PROGRESS_ROWS = 20000


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What a backup file holds."""

    path: str
    #: The newest event in the backup (None: an empty history).
    head: ChainHead | None
    #: Rows per table.
    rows: dict[str, int]
    #: Size of the file in bytes.
    size: int


def write_backup(
    ledger: Ledger, path: str, *, overwrite: bool = False, progress: Progress = lambda m: None
) -> BackupSummary:
    """Write a consistent copy of ``ledger`` to ``path`` while other desks go on writing.

    The copy is made in a temporary file beside ``path`` and renamed at the end:
    ``path`` holds a whole backup or is left as it was.

    Raises:
        LedgerError: the ledger cannot be read, or ``path`` is the ledger itself.
        AlreadyExistsError: ``path`` exists and not ``overwrite``.
    """
    from licsign._files import check_writable, create_private_file

    path = os.path.abspath(path)
    if ledger.dialect == "sqlite" and _same_file(path, ledger.location):
        raise LedgerError("a backup cannot replace the ledger itself; choose another file")
    check_writable(path, overwrite)
    temp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.urandom(6).hex()}")
    create_private_file(temp)
    try:
        if ledger.dialect == "sqlite":
            _copy_sqlite(ledger.location, temp, progress)
        else:
            _export(ledger, temp, progress)
        summary = summarize(temp)
        _move(temp, path, overwrite)
    finally:
        _remove(temp)
    return BackupSummary(path, summary.head, summary.rows, os.path.getsize(path))


def _copy_sqlite(source: str, target: str, progress: Progress) -> None:
    """SQLite's backup API, step by step, inside one read transaction on the source: the copy
    is that snapshot, and writers committing meanwhile never make it start over."""
    src = sqlite3.connect(source, isolation_level=None, timeout=LOCK_WAIT_SECONDS)
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        src.execute("BEGIN")
        src.execute("SELECT COUNT(*) FROM events").fetchone()  # the snapshot starts here
        page_size = int(src.execute("PRAGMA page_size").fetchone()[0])
        shown = [-1]

        def step(status: int, remaining: int, total: int) -> None:
            tenth = 10 * (total - remaining) // max(total, 1)
            if tenth != shown[0] and remaining:
                shown[0] = tenth
                size = total * page_size / (1 << 20)
                progress(f"copied {10 * tenth}% of {size:.1f} MiB")

        src.backup(dst, pages=_PAGES_PER_STEP, progress=step)
        src.execute("ROLLBACK")
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    except sqlite3.Error as exc:
        raise LedgerError(f"the ledger cannot be backed up: {exc}") from None
    finally:
        src.close()
        dst.close()


def _export(ledger: Ledger, target: str, progress: Progress) -> None:
    """Every table of a PostgreSQL ledger, read in one snapshot, into a new SQLite ledger."""
    from licsign._ledger import Ledger

    Ledger(target, create=True).close()  # this licsign's schema, as on the source
    out = sqlite3.connect(target, isolation_level=None)
    try:
        out.execute("BEGIN")
        identities = _identity_tables(ledger._db)
        with ledger.read_snapshot():
            for table in table_order(out):
                columns = set(_columns(out, table)) | ({"rowid"} if table in identities else set())
                order = _order(out, table, table in identities)
                rows = (
                    pages(ledger._db, table, order, _BATCH)
                    if order
                    else iter(ledger._db.all(f"SELECT * FROM {table}"))
                )
                count = 0
                for batch in _chunks(rows, _BATCH):
                    _insert_sqlite(out, table, [c for c in batch[0] if c in columns], batch)
                    count = _counted(count, len(batch), f"copied {{}} rows of {table}", progress)
                if count:
                    progress(f"copied {count} rows of {table}")
        out.execute("COMMIT")
        out.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise LedgerError(f"the backup file cannot be written: {exc}") from None
    finally:
        out.close()


def _insert_sqlite(
    out: sqlite3.Connection, table: str, columns: list[str], rows: list[dict[str, Any]]
) -> None:
    names = ", ".join(c if c == "rowid" else f'"{c}"' for c in columns)
    out.executemany(
        f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})",
        [tuple(_plain(r[c]) for c in columns) for r in rows],
    )


def summarize(path: str) -> BackupSummary:
    """The head and the row counts of a backup (or any SQLite ledger) file."""
    db = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True)
    try:
        row = db.execute("SELECT seq, hash, at FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        head = None if row is None else ChainHead(int(row[0]), bytes(row[1]), int(row[2]))
        rows = {
            t: int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in table_order(db)
        }
    except sqlite3.Error as exc:
        raise LedgerError(f"{path} is not a licsign ledger backup ({exc})") from None
    finally:
        db.close()
    return BackupSummary(path, head, rows, os.path.getsize(path))


# --- restore ----------------------------------------------------------------------------------


class StagedBackup:
    """A backup copied aside and migrated to this licsign's schema, before anything is restored.

    Args:
        path: the backup file.
        workdir: where the copy is made (the workspace).

    Raises:
        LedgerError: ``path`` is not a licsign ledger backup (or is newer than this licsign).
    """

    def __init__(self, path: str, workdir: str, progress: Progress = lambda m: None) -> None:
        from licsign._files import create_private_file
        from licsign._ledger import Ledger

        self.source = os.path.abspath(path)
        if not os.path.isfile(self.source) or os.path.islink(self.source):
            raise LedgerError(f"backup {path!r} is not a regular file")
        self.path = os.path.join(workdir, f".restore-{os.urandom(6).hex()}.sqlite3")
        create_private_file(self.path)
        try:
            progress(f"reading {self.source}")
            _copy_file(self.source, self.path)
            try:
                self.ledger = Ledger(self.path, migrate=True)
            except LedgerError as exc:
                raise LedgerError(f"{path} is not a usable licsign ledger backup: {exc}") from None
        except BaseException:
            _remove(self.path)
            raise

    def close(self) -> None:
        """Close the copy and remove it (if restore did not move it into place)."""
        self.ledger.close()
        _remove(self.path)


def _copy_file(source: str, target: str) -> None:
    """A SQLite file's content, read-only, into ``target`` (journal mode DELETE)."""
    try:
        src = sqlite3.connect(Path(source).as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LedgerError(f"backup {source!r} cannot be opened: {exc}") from None
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise LedgerError(f"{source} is not a licsign ledger backup ({exc})") from None
    finally:
        src.close()
        dst.close()


def restore_sqlite(location: str, staged: StagedBackup, progress: Progress) -> None:
    """Make the SQLite ledger at ``location`` the staged backup (see the module docstring).

    Raises:
        LedgerError: the existing ledger cannot be opened (move it aside first), or files
            of a removed ledger are left beside it.
    """
    from licsign._ledger import Ledger

    staged.ledger.close()
    if not os.path.lexists(location):
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.lexists(location + suffix):
                raise LedgerError(
                    f"{location + suffix} is left from a removed ledger; move it aside, then restore again"
                )
        os.replace(staged.path, location)
        fsync_directory(os.path.dirname(location))
        return
    try:
        ledger = Ledger(location)
    except LedgerError as exc:
        raise LedgerError(
            f"{exc}; to restore over it, move it (and its -wal and -shm files) aside first"
        ) from None
    try:
        _replace_sqlite(ledger._db, staged.path, progress)
    finally:
        ledger.close()


def _replace_sqlite(db: Database, staged: str, progress: Progress) -> None:
    """Empty every table and refill it from ``staged``, in one write transaction."""
    db.run("ATTACH DATABASE ? AS restore", (staged,))
    try:
        db.begin_write()
        try:
            db.run("PRAGMA defer_foreign_keys = ON")
            triggers = db.all("SELECT name, sql FROM main.sqlite_master WHERE type = 'trigger'")
            for trigger in triggers:  # the append-only guard, re-created below
                db.run(f'DROP TRIGGER main."{trigger["name"]}"')
            tables = [
                r["name"]
                for r in db.all(_TABLES_SQL.replace("sqlite_master", "main.sqlite_master"))
            ]
            tables = _sorted_by_references(tables, lambda t: _references(db, t))
            for table in reversed(tables):
                db.run(f"DELETE FROM main.{table}")
            for table in tables:
                names = _sqlite_copy_columns(db, table)
                db.run(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM restore.{table}")
                progress(f"restored {table}")
            for trigger in triggers:
                db.run(trigger["sql"])
        except BaseException:
            db.rollback()
            raise
        db.commit()
    finally:
        db.run("DETACH DATABASE restore")


def _sqlite_copy_columns(db: Database, table: str) -> str:
    info = db.all(f"PRAGMA main.table_info({table})")
    columns = [r["name"] for r in info]
    aliased = [r for r in info if r["pk"]]
    has_alias = len(aliased) == 1 and str(aliased[0]["type"]).upper() == "INTEGER"
    return ", ".join((["rowid"] if not has_alias else []) + [f'"{c}"' for c in columns])


def restore_postgres(location: str, staged: StagedBackup, progress: Progress) -> None:
    """Copy the staged backup into an empty PostgreSQL database or empty ledger, in one write
    transaction (see the module docstring).

    Raises:
        LedgerError: the database holds rows (or another application's tables).
    """
    shown = redact_url(location)
    db = connect(location)
    source = sqlite3.connect(staged.path, isolation_level=None)
    try:
        if not db.tables():
            migrations.create(db, shown)
        migrations.check_version(db, shown)
        tables = table_order(source)
        db.begin_write()
        try:
            for table in tables:
                if db.one(f"SELECT 1 AS x FROM {table} LIMIT 1") is not None:
                    raise LedgerError(
                        f"{shown} already holds a ledger with rows (table {table}); restore only"
                        " into a new, empty database (create one, then restore with --ledger URL)"
                    )
            _insert_postgres(db, source, tables, progress)
        except BaseException:
            db.rollback()
            raise
        db.commit()
    finally:
        source.close()
        db.close()


def _insert_postgres(
    db: Database, source: sqlite3.Connection, tables: list[str], progress: Progress
) -> None:
    identities = _identity_tables(db)
    for table in tables:
        columns = (["rowid"] if table in identities else []) + _columns(source, table)
        names = ", ".join(f'"{c}"' for c in columns)
        selected = ", ".join(c if c == "rowid" else f'"{c}"' for c in columns)
        cursor = source.execute(f"SELECT {selected} FROM {table} ORDER BY rowid")
        per_statement = max(1, min(_BATCH, _MAX_PARAMETERS // len(columns)))
        count = 0
        while rows := cursor.fetchmany(per_statement):
            marks = ", ".join(f"({', '.join('?' * len(columns))})" for _ in rows)
            db.run(f"INSERT INTO {table} ({names}) VALUES {marks}", [v for r in rows for v in r])
            count = _counted(count, len(rows), f"restored {{}} rows of {table}", progress)
        if count:
            progress(f"restored {count} rows of {table}")
        if table in identities:  # new rows continue after the restored ones
            db.run(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'rowid'),"
                f" (SELECT COALESCE(MAX(rowid), 0) + 1 FROM {table}), false)"
            )


# --- shared -----------------------------------------------------------------------------------

_TABLES_SQL = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
)


def table_order(db: sqlite3.Connection) -> list[str]:
    """The tables of a SQLite ledger, each after the tables it references."""
    names = [r[0] for r in db.execute(_TABLES_SQL)]
    return _sorted_by_references(
        names, lambda t: {r[2] for r in db.execute(f"PRAGMA foreign_key_list({t})")}
    )


def _references(db: Database, table: str) -> set[str]:
    return {r["table"] for r in db.all(f"PRAGMA main.foreign_key_list({table})")}


def _sorted_by_references(names: list[str], references: Callable[[str], set[str]]) -> list[str]:
    done: list[str] = []
    pending = {n: references(n) & set(names) - {n} for n in names}
    while pending:
        ready = sorted(n for n, needs in pending.items() if needs <= set(done))
        if not ready:  # a cycle: keep the rest in name order (foreign keys are deferred)
            ready = sorted(pending)
        for name in ready:
            done.append(name)
            del pending[name]
    return done


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def _order(db: sqlite3.Connection, table: str, has_rowid: bool) -> tuple[str, ...] | None:
    """Unique columns to page through ``table`` by: its primary key, else PostgreSQL's rowid."""
    key = sorted((r[5], r[1]) for r in db.execute(f"PRAGMA table_info({table})") if r[5])
    if key:
        return tuple(name for _, name in key)
    return ("rowid",) if has_rowid else None


def _identity_tables(db: Database) -> set[str]:
    """The PostgreSQL tables with an explicit ``rowid`` identity column."""
    rows = db.all(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'rowid'"
        " AND table_schema = current_schema()"
    )
    return {r["table_name"] for r in rows}


def _chunks(rows: Iterator[dict[str, Any]] | Any, size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _counted(count: int, more: int, line: str, progress: Progress) -> int:
    """``count + more``, with a progress line each time it passes a multiple of _PROGRESS_ROWS."""
    if (count + more) // _PROGRESS_ROWS > count // _PROGRESS_ROWS:
        progress(line.format(count + more))
    return count + more


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _move(temp: str, path: str, overwrite: bool) -> None:
    """Give the finished file its name (never replacing one that appeared, unless ``overwrite``)."""
    from licsign._errors import AlreadyExistsError

    if overwrite:
        os.replace(temp, path)
    else:
        try:
            os.link(temp, path)
        except FileExistsError:
            raise AlreadyExistsError(
                f"{path!r} already exists (use --force to replace it)"
            ) from None
    fsync_directory(os.path.dirname(path))


def _remove(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            os.unlink(path + suffix)
