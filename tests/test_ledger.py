"""The ledger: migrations, append-only hash-chained history, key selection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from licsign import AlreadyExists, Ledger, NotFound, WorkspaceError
from licsign._ledger import SCHEMA_VERSION


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    db = Ledger(str(tmp_path / "ledger.sqlite3"), create=True)
    db.add_product(100, "acme-cad", "Acme CAD", ["export"])
    db.add_customer(101, "globex", "Globex", "it@globex.example")
    return db


def test_schema_version_and_pragmas(ledger: Ledger, tmp_path: Path) -> None:
    raw = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_missing_ledger_is_not_created_by_accident(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="licsign init"):
        Ledger(str(tmp_path / "none.sqlite3"))
    assert not (tmp_path / "none.sqlite3").exists()


def test_newer_schema_is_refused(ledger: Ledger, tmp_path: Path) -> None:
    ledger.close()
    raw = sqlite3.connect(tmp_path / "ledger.sqlite3")
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(WorkspaceError, match="newer licsign"):
        Ledger(str(tmp_path / "ledger.sqlite3"))


def test_garbage_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(WorkspaceError, match="cannot be opened"):
        Ledger(str(path))


def test_duplicates_and_unknowns(ledger: Ledger) -> None:
    with pytest.raises(AlreadyExists):
        ledger.add_product(102, "acme-cad", "again", [])
    with pytest.raises(AlreadyExists):
        ledger.add_customer(102, "globex", "again", None)
    with pytest.raises(NotFound, match="known: acme-cad"):
        ledger.product("nope")
    with pytest.raises(NotFound):
        ledger.customer("nope")
    with pytest.raises(NotFound):
        ledger.license("L-NONE")


def test_history_chain_verifies_and_detects_edits(ledger: Ledger, tmp_path: Path) -> None:
    assert ledger.verify_events() == 2
    ledger.close()
    raw = sqlite3.connect(tmp_path / "ledger.sqlite3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("UPDATE events SET subject = 'evil' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute("DELETE FROM events WHERE seq = 2")
    # Someone with direct access can drop the trigger; the hash chain still tells.
    raw.execute("DROP TRIGGER events_append_only_update")
    raw.execute("UPDATE events SET data = '{\"name\":\"Evil\"}' WHERE seq = 1")
    raw.commit()
    raw.close()
    with pytest.raises(WorkspaceError, match="broken at event 1"):
        Ledger(str(tmp_path / "ledger.sqlite3")).verify_events()


def test_deleted_event_breaks_the_chain(ledger: Ledger, tmp_path: Path) -> None:
    ledger.add_customer(103, "initech", "Initech", None)
    ledger.close()
    raw = sqlite3.connect(tmp_path / "ledger.sqlite3")
    raw.execute("DROP TRIGGER events_append_only_delete")
    raw.execute("DELETE FROM events WHERE seq = 2")
    raw.commit()
    raw.close()
    with pytest.raises(WorkspaceError, match="broken"):
        Ledger(str(tmp_path / "ledger.sqlite3")).verify_events()


def test_failed_transaction_leaves_nothing(ledger: Ledger) -> None:
    before = ledger.verify_events()
    with pytest.raises(RuntimeError):
        with ledger.transaction():
            ledger.append_event(200, "test", "x", {})
            raise RuntimeError("crash in the middle")
    assert ledger.verify_events() == before


def test_newest_issuing_key_wins_within_the_same_second(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.add_key(300, "aa" * 16, "issuing", b"\x01" * 32, b"c", 0, 10**9, None)
        ledger.add_key(300, "00" * 16, "issuing", b"\x02" * 32, b"c", 0, 10**9, None)
        ledger.add_key(300, "bb" * 16, "issuing", b"\x03" * 32, b"c", 0, 10**9, ["other"])
    row = ledger.issuing_key_for("acme-cad", 500)
    assert row is not None and row["key_id"] == "00" * 16
    other = ledger.issuing_key_for("other", 500)
    assert other is not None and other["key_id"] == "bb" * 16
    # not_after is exclusive, as the verifier reads a certificate's exp.
    assert ledger.issuing_key_for("acme-cad", 10**9 - 1) is not None
    assert ledger.issuing_key_for("acme-cad", 10**9) is None
