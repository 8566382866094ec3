"""The ledger on both engines: migrations, units of work, hash-chained history, keys."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import older_ledger

from licsign import AlreadyExistsError, Ledger, NotFoundError, WorkspaceError
from licsign._ledger import SCHEMA_VERSION, LedgerBusyError, LedgerError
from licsign._ledger import engine as engines


@pytest.fixture
def ledger(ledger_location: str) -> Ledger:
    db = Ledger(ledger_location, create=True)
    db.add_product(100, "acme-cad", "Acme CAD", ["export"])
    db.add_customer(101, "globex", "Globex", "it@globex.example")
    return db


def raw_sql(location: str) -> Callable[[str], Any]:
    """Run SQL on the database directly, as someone with file or server access could."""
    if engines.is_postgres_url(location):
        import psycopg

        pg = psycopg.connect(location, autocommit=True)
        return lambda sql: pg.execute(sql)
    db = sqlite3.connect(location, isolation_level=None)
    return lambda sql: db.execute(sql)


def database_error(location: str) -> type[Exception]:
    if engines.is_postgres_url(location):
        import psycopg

        return psycopg.Error
    return sqlite3.DatabaseError


def test_schema_version(ledger: Ledger, engine: str) -> None:
    assert ledger.schema_version() == SCHEMA_VERSION and ledger.dialect == engine


def test_sqlite_pragmas(tmp_path: Path) -> None:
    Ledger(str(tmp_path / "ledger.sqlite3"), create=True).close()
    raw = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_missing_ledger_is_not_created_by_accident(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="licsign init"):
        Ledger(str(tmp_path / "none.sqlite3"))
    assert not (tmp_path / "none.sqlite3").exists()


def test_an_empty_database_is_not_a_ledger(ledger_location: str) -> None:
    if not engines.is_postgres_url(ledger_location):
        Path(ledger_location).touch()
    with pytest.raises(LedgerError, match="holds no licsign ledger; run 'licsign init'"):
        Ledger(ledger_location)


def test_newer_schema_is_refused(ledger: Ledger, ledger_location: str) -> None:
    ledger.close()
    db = engines.connect(ledger_location)
    db.begin_write()
    db.set_schema_version(SCHEMA_VERSION + 1)
    db.commit()
    db.close()
    for migrate in (False, True):
        with pytest.raises(WorkspaceError, match="newer licsign"):
            Ledger(ledger_location, migrate=migrate)


def test_opening_an_older_ledger_changes_nothing_until_migrate(ledger_location: str) -> None:
    older_ledger(ledger_location, 2)
    with pytest.raises(LedgerError, match=r"schema is version 2.*'licsign ledger migrate'"):
        Ledger(ledger_location)
    db = engines.connect(ledger_location)
    assert db.schema_version() == 2
    db.close()
    first = Ledger(ledger_location, migrate=True)
    assert first.applied == list(range(3, SCHEMA_VERSION + 1))
    assert first.schema_version() == SCHEMA_VERSION
    again = Ledger(ledger_location, migrate=True)
    assert again.applied == []
    # The migrated schema works: the columns migration 3 added are used here.
    again.add_product(1, "p", "P", [], min_components=3, required_components=["disk"])
    assert again.product("p").required_components == ("disk", "machine-id")


def test_garbage_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(WorkspaceError, match=r"cannot be opened|ledger error"):
        Ledger(str(path))


def test_unreachable_postgres_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql://nobody:secret@/none?host={tmp_path}"
    with pytest.raises(LedgerError) as caught:
        Ledger(url)
    message = str(caught.value)
    assert "cannot be opened" in message and "\n" not in message and "secret" not in message


def test_duplicates_and_unknowns(ledger: Ledger) -> None:
    with pytest.raises(AlreadyExistsError):
        ledger.add_product(102, "acme-cad", "again", [])
    with pytest.raises(AlreadyExistsError):
        ledger.add_customer(102, "globex", "again", None)
    with pytest.raises(NotFoundError, match="known: acme-cad"):
        ledger.product("nope")
    with pytest.raises(NotFoundError):
        ledger.customer("nope")
    with pytest.raises(NotFoundError):
        ledger.license("L-NONE")
    assert ledger.verify_events() == 2


def test_history_is_append_only_and_the_chain_detects_edits(
    ledger: Ledger, ledger_location: str
) -> None:
    assert ledger.verify_events() == 2
    ledger.close()
    run = raw_sql(ledger_location)
    for sql in (
        "UPDATE events SET subject = 'evil' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 2",
    ):
        with pytest.raises(database_error(ledger_location), match="append-only"):
            run(sql)
    # Someone with direct access can drop the trigger; the hash chain still tells.
    run(
        "DROP TRIGGER events_append_only_update"
        + (" ON events" if "://" in ledger_location else "")
    )
    run('UPDATE events SET data = \'{"name":"Evil"}\' WHERE seq = 1')
    with pytest.raises(WorkspaceError, match="broken at event 1"):
        Ledger(ledger_location).verify_events()


def test_postgres_truncate_is_refused(postgres_url: str) -> None:
    db = Ledger(postgres_url, create=True)
    with pytest.raises(database_error(postgres_url), match="append-only"):
        raw_sql(postgres_url)("TRUNCATE events")
    db.close()


def test_failed_unit_of_work_leaves_nothing(ledger: Ledger) -> None:
    before = ledger.verify_events()
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.append_event(200, "test", "x", {})
        ledger.add_customer(201, "initech", "Initech", None)
        raise RuntimeError("crash in the middle")
    assert ledger.verify_events() == before
    with pytest.raises(NotFoundError):
        ledger.customer("initech")


def test_units_of_work_nest(ledger: Ledger) -> None:
    """An inner unit that fails undoes only itself when the caller handles it."""
    with ledger.transaction():
        ledger.add_customer(300, "initech", "Initech", None)
        with pytest.raises(AlreadyExistsError), ledger.transaction():
            ledger.add_customer(301, "hooli", "Hooli", None)
            ledger.add_customer(301, "globex", "dup", None)
        assert ledger.in_transaction
    assert not ledger.in_transaction
    assert ledger.customer("initech").name == "Initech"
    with pytest.raises(NotFoundError):
        ledger.customer("hooli")
    assert ledger.verify_events() == 3


def test_an_outer_failure_undoes_the_inner_units(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError), ledger.transaction():
        for n in range(5):
            ledger.add_customer(400, f"c{n}", f"C{n}", None)
        raise RuntimeError("the fifth license of the order failed")
    assert [c.id for c in ledger.customers()] == ["globex"]


def test_changes_outside_a_unit_of_work_are_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="outside a unit of work"):
        ledger.append_event(500, "test", "x", {})


def test_newest_issuing_key_wins_within_the_same_second(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.add_key(300, "aa" * 16, "issuing", b"\x01" * 32, b"c", 0, 10**9, None)
        ledger.add_key(300, "00" * 16, "issuing", b"\x02" * 32, b"c", 0, 10**9, None)
        ledger.add_key(300, "bb" * 16, "issuing", b"\x03" * 32, b"c", 0, 10**9, ["other"])
    row = ledger.issuing_key_for("acme-cad", 500)
    assert row is not None and row.key_id == "00" * 16
    other = ledger.issuing_key_for("other", 500)
    assert other is not None and other.key_id == "bb" * 16 and other.products == ("other",)
    # not_after is exclusive, as the verifier reads a certificate's exp.
    assert ledger.issuing_key_for("acme-cad", 10**9 - 1) is not None
    assert ledger.issuing_key_for("acme-cad", 10**9) is None


def test_times_past_2038_fit(ledger: Ledger) -> None:
    """PostgreSQL's INTEGER is 32-bit: timestamps are BIGINT there."""
    with ledger.transaction():
        ledger.add_key(2**40, "cc" * 16, "issuing", b"\x04" * 32, b"c", 0, 2**40 + 10, None)
    key = ledger.issuing_key_for("acme-cad", 2**40)
    assert key is not None and key.not_after == 2**40 + 10


def test_records_are_frozen(ledger: Ledger) -> None:
    product = ledger.product("acme-cad")
    with pytest.raises(AttributeError):
        product.name = "changed"  # type: ignore[misc]
    assert product.features == ("export",)


@contextlib.contextmanager
def write_lock_held_elsewhere(location: str) -> Iterator[None]:
    """Another desk holds the ledger's write lock (one that hangs mid-transaction)."""
    if engines.is_postgres_url(location):
        import psycopg

        holder: Any = psycopg.connect(location, autocommit=True)
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (engines.WRITE_LOCK_KEY,))
    else:
        holder = sqlite3.connect(location, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.close()


def test_a_writer_behind_a_stuck_desk_gives_up_and_stays_usable(
    ledger: Ledger, ledger_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On both engines a writer waits LOCK_WAIT_SECONDS (30 s; 1 s here) for the write lock,
    then gives up with one line; the connection is usable once the lock is free."""
    ledger.close()
    monkeypatch.setattr(engines, "LOCK_WAIT_SECONDS", 1)
    waiting = Ledger(ledger_location)
    busy = pytest.raises(LedgerBusyError, match="the ledger is busy")
    with write_lock_held_elsewhere(ledger_location), busy as caught:
        waiting.add_customer(600, "initech", "Initech", None)
    assert caught.value.code == "busy" and not waiting.in_transaction
    waiting.add_customer(601, "initech", "Initech", None)
    assert waiting.customer("initech").name == "Initech" and waiting.verify_events() == 3


def test_migration_5_fills_the_validity_of_licenses_issued_before_it(ledger_location: str) -> None:
    """Licenses an older licsign recorded get their start and end of grace from their terms
    (a statement written for each engine), so ``list --status`` finds them too."""
    older_ledger(ledger_location, 4)
    db = engines.connect(ledger_location)
    db.begin_write()
    db.run("INSERT INTO keys (key_id, role, public_key, created_at) VALUES ('k1', 'issuing', ?, 1)", (b"k" * 32,))
    db.run("INSERT INTO products (id, name, created_at) VALUES ('p', 'P', 1)")
    db.run("INSERT INTO customers (id, name, created_at) VALUES ('c', 'C', 1)")
    licenses = [  # id, expires, not_before, grace_seconds
        ("L-OLD-1", 2_000_000_000, "2027-01-01T00:00:00Z", 86400),
        ("L-OLD-2", None, "2026-01-01T00:00:00Z", 0),
    ]
    for license_id, expires, start, grace in licenses:
        terms = f'{{"not_before": "{start}", "grace_seconds": {grace}}}'
        db.run(
            "INSERT INTO licenses (id, version, product_id, customer_id, type, issued_at, expires,"
            " terms, document, digest, key_id) VALUES (?, 1, 'p', 'c', 't', 1, ?, ?, ?, ?, 'k1')",
            (license_id, expires, terms, b"doc", license_id),
        )
    db.set_schema_version(4)
    db.commit()
    db.close()
    ledger = Ledger(ledger_location, migrate=True)
    rows = {r["id"]: (r["not_before"], r["grace_ends"], r["order_id"]) for r in ledger.dump()["licenses"]}
    assert rows == {"L-OLD-1": (1798761600, 2_000_086_400, None), "L-OLD-2": (1767225600, None, None)}
    assert [r.id for r in ledger.licenses(status="in-grace", at=2_000_000_000)] == ["L-OLD-1"]
    assert [r.id for r in ledger.licenses(status="not-yet-valid", at=1798761599)] == ["L-OLD-1"]
    assert [r.id for r in ledger.licenses(status="active", at=1798761600)] == ["L-OLD-1", "L-OLD-2"]
    ledger.close()
