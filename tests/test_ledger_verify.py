"""`licsign ledger verify`, `ledger backup` and `ledger restore`, on both engines.

Tampering is done with raw SQL, as someone with the SQLite file or the
PostgreSQL server could (this file is one of the few allowed to: see
tests/test_layering.py). Each tamper must be detected, and the first problem
must name the bad row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import CUSTOMER, PRODUCT, Site, Vendor, at, error_line_after_progress

import licsign
from licsign import (
    LedgerCheck,
    LedgerIntegrityError,
    RefusedError,
    Workspace,
    restore_ledger,
    verify_ledger,
)
from licsign._ledger import LedgerError, integrity
from licsign._ledger import backup as backups
from licsign._ledger import engine as engines
from licsign._ledger.events import event_hash

#: Tables of issue 8 still being written when ledger verify landed; each is removed from
#: here by the change that registers its rule (licsign/_ledger/integrity.py: ``track``, ``on``).
PENDING_RULES: set[str] = set()


# --- helpers -------------------------------------------------------------------------------------


def raw_sql(location: str) -> Callable[..., list[tuple[Any, ...]]]:
    """Run SQL on the ledger's database directly (autocommit), as its administrator could."""
    if engines.is_postgres_url(location):
        import psycopg

        pg = psycopg.connect(location, autocommit=True)

        def run_pg(sql: str, *args: Any) -> list[tuple[Any, ...]]:
            cursor = pg.execute(sql.replace("?", "%s"), args)
            return list(cursor.fetchall()) if cursor.description else []

        return run_pg
    db = sqlite3.connect(location, isolation_level=None)
    return lambda sql, *args: db.execute(sql, args).fetchall()


def drop_append_only(run: Callable[..., Any], location: str) -> None:
    """What an administrator does first to rewrite the history."""
    if engines.is_postgres_url(location):
        run("DROP TRIGGER events_append_only_update ON events")
        run("DROP TRIGGER events_append_only_truncate ON events")
    else:
        run("DROP TRIGGER events_append_only_update")
        run("DROP TRIGGER events_append_only_delete")


def device_of(vendor: Vendor, license_id: str, label: str) -> str:
    return next(
        d.device_id
        for d in licsign.devices(vendor.ws, license_id, now=vendor.now)
        if d.label == label
    )


def make_busy(vendor: Vendor) -> dict[str, str]:
    """Licenses of three kinds; activations, a renewal, a deactivation, a reset, a lease."""
    licsign.add_order(vendor.ws, "PO-1", customer=CUSTOMER, reference="Q3 renewal", now=at(-5))
    for email in ("it@globex.example", "cfo@globex.example"):
        licsign.add_manager(vendor.ws, "PO-1", email, now=at(-4))
    licsign.remove_manager(vendor.ws, "PO-1", "cfo@globex.example", now=at(-3))
    seats = vendor.issue(max_devices=3)
    perpetual = vendor.issue("perpetual", activation_required=False, order="PO-1")
    floating = vendor.issue("floating", max_devices=1)
    a, b, c, f = (vendor.machine(name) for name in ("a", "b", "c", "f"))
    a.activate(seats)
    b.activate(seats, at(10))
    c.activate(seats, at(20))
    a.activate(when=at(30))  # the same device again: a renewal, no new seat
    licsign.deactivate(vendor.ws, a.deactivate(at(40)), now=at(41))
    licsign.reset_device(vendor.ws, seats.id, device_of(vendor, seats.id, "host-b"), now=at(50))
    f.activate(floating, at(60))
    licsign.add_customer(
        vendor.ws, "initech", name="Initech", email="it@initech.example", now=at(70)
    )
    return {"seats": seats.id, "perpetual": perpetual.id, "floating": floating.id}


def check(vendor: Vendor, **options: Any) -> LedgerCheck:
    return verify_ledger(vendor.ws, **options)


def first_problem(vendor: Vendor) -> str:
    result = check(vendor)
    assert not result.ok, "the tamper went unnoticed"
    return str(result.problems[0])


@pytest.fixture
def busy(vendor: Vendor) -> dict[str, str]:
    return make_busy(vendor)


@pytest.fixture
def run(vendor: Vendor) -> Callable[..., list[tuple[Any, ...]]]:
    return raw_sql(vendor.ws.ledger_location)


# --- verify passes -------------------------------------------------------------------------------


def test_verify_passes_on_a_busy_ledger(vendor: Vendor, busy: dict[str, str]) -> None:
    result = check(vendor)
    assert result.ok, result.problems
    assert result.events == vendor.event_count() and result.head is not None
    assert result.head.seq == result.events
    assert result.rows["activations"] == 4 and result.rows["receipts"] == 1
    assert result.rows["devices"] == 4 and result.rows["licenses"] == 3
    assert result.licenses == 3 and result.certificates == 1
    assert result.anchor is not None and result.anchor.seq == result.head.seq
    assert result.anchor_state == "matched" and result.unknown_kinds == {}
    assert json.loads(json.dumps(result.to_json()))["ok"] is True


def test_every_table_follows_the_history(vendor: Vendor) -> None:
    """A table without a rule is reported (``unchecked_tables``), never silently passed over;
    the tables of issue 7 all have one."""
    tracked = set(integrity.tracked_tables())
    tables = set(check(vendor).rows) | set(check(vendor).unchecked_tables)
    assert tables - tracked == PENDING_RULES - tracked, "register the new table's rule"
    assert not PENDING_RULES & tracked, "a rule was registered: remove its table from PENDING_RULES"
    assert {
        "keys",
        "products",
        "customers",
        "licenses",
        "devices",
        "activations",
        "receipts",
    } <= tracked


def test_the_head_is_recorded_signed_after_each_unit_of_work(vendor: Vendor) -> None:
    path = Path(vendor.home, "ledger-head.json")
    before = json.loads(path.read_text())
    licsign.add_customer(vendor.ws, "hooli", name="Hooli", now=vendor.now)
    after = json.loads(path.read_text())
    (entry,) = after["ledgers"].values()
    head = vendor.ws.ledger.chain_head()
    assert head is not None and entry == {"seq": head.seq, "hash": head.hash.hex(), "at": head.at}
    assert after["mac"] != before["mac"]
    assert oct(Path(vendor.home, "keys", "ledger-head.key").stat().st_mode & 0o777) == "0o600"
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_workspace_without_a_head_records_one_and_unknown_kinds_are_listed(
    vendor: Vendor,
) -> None:
    Path(vendor.home, "ledger-head.json").unlink()  # as in a workspace older than the head
    with vendor.ws.ledger.transaction():  # an event of a kind no rule knows (a newer licsign's)
        vendor.ws.ledger.append_event(1, "widget.polished", "w-1", {})
    Path(vendor.home, "ledger-head.json").unlink()
    result = check(vendor)
    assert result.ok and result.anchor is None and result.anchor_state == "recorded"
    assert result.unknown_kinds == {"widget.polished": 1}
    assert check(vendor).anchor == result.head


# --- rows that disagree with the history ---------------------------------------------------------

ROW_EDITS = {
    "keys": ("UPDATE keys SET not_after = not_after + 1 WHERE role = 'issuing'", "keys row key_id="),
    "products": ("UPDATE products SET name = 'Evil' WHERE id = 'acme-cad'", "products row id='acme-cad'"),
    "customers": ("UPDATE customers SET email = 'evil@example.com' WHERE id = 'initech'", "customers row id='initech'"),
    "licenses-status": ("UPDATE licenses SET status = 'suspended' WHERE type = 'floating'", "licenses row id="),
    "licenses-expiry": ("UPDATE licenses SET expires = expires + 86400 WHERE type = 'subscription'", "licenses row id="),
    "devices": ("UPDATE devices SET label = 'evil' WHERE label = 'host-c'", "devices row license_id="),
    "activations": ("UPDATE activations SET ended_at = 1, end_reason = 'reset' WHERE ended_at IS NULL AND lease_expires IS NULL", "activations row id="),
    "receipts": ("UPDATE receipts SET received_at = received_at + 5", "receipts row activation_id="),
    "orders": ("UPDATE orders SET reference = 'evil' WHERE id = 'PO-1'", "orders row id='PO-1'"),
    "order_managers": ("UPDATE order_managers SET removed_at = NULL WHERE email = 'cfo@globex.example'", "order_managers row"),
    "licenses-order": ("UPDATE licenses SET order_id = NULL WHERE order_id = 'PO-1'", "licenses row id="),
    "row-without-event": ("INSERT INTO customers (id, name, created_at) VALUES ('ghost', 'Ghost', 1)", "customers row id='ghost' has no event"),
    "row-removed": ("DELETE FROM activations WHERE end_reason = 'reset'", "which is missing"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ROW_EDITS))
def test_an_edited_row_is_named(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any], case: str
) -> None:
    sql, named = ROW_EDITS[case]
    run(sql)
    problem = first_problem(vendor)
    assert named in problem, problem


def test_an_edited_row_does_not_stop_the_desk_but_verify_names_it(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any]
) -> None:
    """Rows are checked by verify; the history and its head by every writer too."""
    run("UPDATE products SET name = 'Evil' WHERE id = 'acme-cad'")
    licsign.add_customer(vendor.ws, "hooli", name="Hooli", now=vendor.now)
    assert "products row id='acme-cad': its name is 'Evil'" in first_problem(vendor)


# --- the history itself ------------------------------------------------------------------------


def rehash_from(run: Callable[..., Any], seq: int) -> None:
    """Recompute every hash from event ``seq`` on, as an administrator covering a rewrite would."""
    (prev,) = run("SELECT hash FROM events WHERE seq = ?", seq - 1)[0]
    for number, at_, kind, subject, data in run(
        "SELECT seq, at, kind, subject, data FROM events WHERE seq >= ? ORDER BY seq", seq
    ):
        digest = event_hash(bytes(prev), number, at_, kind, subject, data)
        run("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", bytes(prev), digest, number)
        prev = digest


def test_an_edited_event_is_named(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any]
) -> None:
    drop_append_only(run, vendor.ws.ledger_location)
    run("""UPDATE events SET data = '{"email":null,"name":"Evil"}' WHERE kind = 'customer.added'""")
    seq = run("SELECT seq FROM events WHERE kind = 'customer.added' ORDER BY seq")[0][0]
    assert first_problem(vendor) == (
        f"event {seq} (customer.added {CUSTOMER}) was altered: its hash does not match its contents"
    )


def test_a_deleted_event_is_named(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any]
) -> None:
    drop_append_only(run, vendor.ws.ledger_location)
    run("DELETE FROM events WHERE seq = 5")
    assert first_problem(vendor) == "event 5 missing: the history jumps from event 4 to event 6"


def test_reordered_events_are_named(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any]
) -> None:
    drop_append_only(run, vendor.ws.ledger_location)
    for sql in ("UPDATE events SET seq = -6 WHERE seq = 6", "UPDATE events SET seq = 6 WHERE seq = 7",
                "UPDATE events SET seq = 7 WHERE seq = -6"):  # fmt: skip
        run(sql)
    assert first_problem(vendor).startswith("event 6 ")


def test_a_rewritten_and_rehashed_history_is_caught_by_the_recorded_head(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any]
) -> None:
    """The chain alone cannot tell a rewrite whose hashes were all recomputed; the head the
    workspace recorded (with its HMAC key, outside the ledger) can, at verify and at every write."""
    drop_append_only(run, vendor.ws.ledger_location)
    run("UPDATE events SET at = at + 1 WHERE seq = 3")
    rehash_from(run, 3)
    head = run("SELECT MAX(seq) FROM events")[0][0]
    assert first_problem(vendor).startswith(
        f"event {head} of the ledger is not the one this workspace recorded"
    )
    before = vendor.ledger_dump()
    with pytest.raises(
        LedgerIntegrityError, match="history up to it was rewritten; nothing was changed"
    ):
        licsign.add_customer(vendor.ws, "hooli", name="Hooli", now=vendor.now)
    assert vendor.ledger_dump() == before


def test_truncated_newest_events_are_caught_by_the_recorded_head(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any]
) -> None:
    drop_append_only(run, vendor.ws.ledger_location)
    head = run("SELECT MAX(seq) FROM events")[0][0]
    run("DELETE FROM customers WHERE id = 'initech'")  # the rows those events made go too
    run("DELETE FROM events WHERE seq = ?", head)
    result = check(vendor)
    assert str(result.problems[0]).startswith(
        f"the ledger's history ends at event {head - 1}, but this workspace recorded event {head} ("
    )
    assert result.anchor_state == "kept" and len(result.problems) == 1
    with pytest.raises(LedgerIntegrityError, match="newest events were removed"):
        licsign.add_customer(vendor.ws, "hooli", name="Hooli", now=vendor.now)
    accepted = check(vendor, accept_head=True)  # an administrator's decision, recorded
    assert accepted.ok and accepted.anchor_state == "accepted"
    licsign.add_customer(vendor.ws, "hooli", name="Hooli", now=vendor.now)
    assert check(vendor).ok


def test_on_a_shared_ledger_each_desk_guards_the_history_up_to_its_own_head(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int], postgres_url: str
) -> None:
    """The honest limit (docs/adr/0018-ledger-integrity.md): events another desk appended
    after this desk's last commit or verify are covered by the chain alone."""
    with Vendor.create(tmp_path, unsafe_fast_kdf, ledger_url=postgres_url) as desk1:
        shutil.copytree(desk1.home, tmp_path / "desk2")
        desk2 = Workspace(str(tmp_path / "desk2"))
        licsign.add_customer(desk2, "late", name="Late", now=desk1.now)
        run = raw_sql(postgres_url)
        drop_append_only(run, postgres_url)
        run("DELETE FROM customers WHERE id = 'late'")
        run("DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)")
        assert check(desk1).ok  # desk 1 never saw the removed event
        licsign.add_customer(desk1.ws, "hooli", name="Hooli", now=desk1.now)
        with pytest.raises(LedgerIntegrityError, match="is not the one this workspace recorded"):
            licsign.add_customer(desk2, "other", name="Other", now=desk1.now)  # desk 2 did
        assert not verify_ledger(desk2).ok
        desk2.close()


def test_an_edited_head_file_stops_writes_until_accepted(
    vendor: Vendor, busy: dict[str, str]
) -> None:
    path = Path(vendor.home, "ledger-head.json")
    data = json.loads(path.read_text())
    for entry in data["ledgers"].values():
        entry["seq"] += 5  # a head far ahead: as if the ledger had been truncated
    path.write_text(json.dumps(data))
    with pytest.raises(LedgerIntegrityError, match="fails its check: it was edited"):
        licsign.add_customer(vendor.ws, "hooli", name="Hooli", now=vendor.now)
    result = check(vendor)
    assert result.problems[0].table == "workspace" and "--accept-head" in str(result.problems[0])
    assert check(vendor, accept_head=True).anchor_state == "accepted"
    licsign.add_customer(vendor.ws, "hooli", name="Hooli", now=vendor.now)


# --- stored documents --------------------------------------------------------------------------


def test_a_document_swapped_for_another_validly_signed_one_is_named(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any]
) -> None:
    seats, perpetual = busy["seats"], busy["perpetual"]
    (doc_a, digest_a), (doc_b, digest_b) = (
        run("SELECT document, digest FROM licenses WHERE id = ?", i)[0] for i in (seats, perpetual)
    )
    run("UPDATE licenses SET document = ?, digest = ? WHERE id = ?", bytes(doc_b), "x", seats)
    run(
        "UPDATE licenses SET document = ?, digest = ? WHERE id = ?",
        bytes(doc_a),
        digest_a,
        perpetual,
    )
    run("UPDATE licenses SET digest = ? WHERE id = ?", digest_b, seats)
    named = [str(p) for p in check(vendor).problems]
    rows = {i: f"licenses row id={i!r}, version=1" for i in (seats, perpetual)}
    # Both rows are bad (each holds the other's document); the first in key order is named first.
    assert named[0].startswith(tuple(f"{row}: its digest is" for row in rows.values())), named
    for mine, theirs in ((seats, perpetual), (perpetual, seats)):
        assert f"{rows[mine]}: its id is not what its signed document says ({theirs!r})" in named


def test_a_document_that_fails_verification_is_named(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any]
) -> None:
    seats = busy["seats"]
    document = bytearray(run("SELECT document FROM licenses WHERE id = ?", seats)[0][0])
    document[-1] ^= 1  # the last byte of the signature
    digest = hashlib.sha256(bytes(document)).hexdigest()
    run("UPDATE licenses SET document = ?, digest = ? WHERE id = ?", bytes(document), digest, seats)
    named = [str(p) for p in check(vendor).problems]
    where = f"licenses row id={seats!r}, version=1"
    assert named[0].startswith(f"{where}: its digest is"), named
    assert (
        f"{where}: its document fails verification: license signature does not verify (tampered or wrong key)"
        in named
    )


def test_a_root_key_that_is_not_the_workspaces_is_named(
    vendor: Vendor, busy: dict[str, str], run: Callable[..., Any]
) -> None:
    run("UPDATE keys SET public_key = ? WHERE role = 'root'", b"\x01" * 32)
    named = [str(p) for p in check(vendor).problems]
    assert any("its key id is not its public key's" in p for p in named), named


# --- backup and restore ------------------------------------------------------------------------


@contextlib.contextmanager
def another_desk_writing(vendor: Vendor) -> Iterator[list[int]]:
    """Another desk adding customers, one unit of work each, until the block ends."""
    stop, done, failed = threading.Event(), [0], []

    def work() -> None:
        ws = Workspace(vendor.home, vendor.ledger_url)
        try:
            while not stop.is_set():
                licsign.add_customer(ws, f"desk-{done[0]}", name="Desk", now=vendor.now)
                done[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            failed.append(exc)
        finally:
            ws.close()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        while done[0] < 3 and thread.is_alive():
            time.sleep(0.001)
        yield done
    finally:
        stop.set()
        thread.join()
    assert not failed, failed


def test_a_backup_taken_while_another_desk_writes_is_consistent(
    vendor: Vendor, busy: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from licsign._services.ledger import check_ledger

    monkeypatch.setattr(backups, "_PAGES_PER_STEP", 2)  # many steps (SQLite)
    monkeypatch.setattr(backups, "_BATCH", 3)  # many batches (PostgreSQL)...
    monkeypatch.setattr(backups, "_PROGRESS_ROWS", 3)  # ...each a progress line (which waits)
    path = tmp_path / "backup.sqlite3"
    with another_desk_writing(vendor) as written:
        before = written[0]
        done = licsign.backup_ledger(vendor.ws, str(path), progress=lambda line: time.sleep(0.005))
        during = written[0] - before
    assert during > 0, "the other desk wrote nothing while the backup ran"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    staged = backups.StagedBackup(str(path), str(tmp_path))
    try:
        found = check_ledger(staged.ledger, vendor.ws.root_public_key())
        assert found.problems == [] and found.walk.head == done.head
        assert before <= found.rows["customers"] - 2 <= before + during
    finally:
        staged.close()


def test_restore_round_trip(
    vendor: Vendor,
    busy: dict[str, str],
    tmp_path: Path,
    engine: str,
    request: pytest.FixtureRequest,
) -> None:
    path = str(tmp_path / "backup.sqlite3")
    before = vendor.ledger_dump()
    licsign.backup_ledger(vendor.ws, path)
    if engine == "postgresql":  # restore goes into an empty database only
        url = request.getfixturevalue("new_postgres_database")()
        ws = Workspace(vendor.home, url)
        done = restore_ledger(ws, path)
        run = raw_sql(url)
        (top,) = run("SELECT MAX(rowid) FROM activations")[0]
        assert run("SELECT nextval(pg_get_serial_sequence('activations', 'rowid'))")[0][0] > top
    else:  # the workspace's own file, damaged meanwhile, is replaced
        raw_sql(vendor.ws.ledger_location)("UPDATE products SET name = 'Evil'")
        assert not check(vendor).ok
        ws = vendor.ws
        done = restore_ledger(ws, path)
    assert done.head is not None and done.rows["events"] == done.head.seq
    assert ws.ledger.dump() == before
    assert verify_ledger(ws).ok
    licsign.add_customer(ws, "after", name="After", now=vendor.now)  # the desk writes on
    ws.close()


def test_a_backup_moves_between_engines(
    vendor: Vendor, busy: dict[str, str], tmp_path: Path, engine: str,
    new_postgres_database: Callable[[], str],
) -> None:  # fmt: skip
    path = str(tmp_path / "backup.sqlite3")
    before = vendor.ledger_dump()
    licsign.backup_ledger(vendor.ws, path)
    if engine == "sqlite":
        ws = Workspace(vendor.home, new_postgres_database())
    else:  # a copy of the workspace with its own SQLite ledger, which does not exist yet
        home = tmp_path / "ws-sqlite"
        shutil.copytree(vendor.home, home)
        config = json.loads((home / "workspace.json").read_text())
        del config["ledger"]
        (home / "workspace.json").write_text(json.dumps(config))
        ws = Workspace(str(home))
        assert not (home / "ledger.sqlite3").exists()
    restore_ledger(ws, path)
    assert ws.ledger.dump() == before and verify_ledger(ws).ok
    ws.close()


def test_an_older_backup_is_refused_unless_forced(
    vendor: Vendor, busy: dict[str, str], tmp_path: Path, engine: str
) -> None:
    path = str(tmp_path / "old.sqlite3")
    old = licsign.backup_ledger(vendor.ws, path).head
    assert old is not None
    licsign.add_customer(vendor.ws, "hooli", name="Hooli", now=vendor.now)
    before = vendor.ledger_dump()
    with pytest.raises(RefusedError, match=rf"ends at event {old.seq} .* older than event {old.seq + 1} .*"
                       r"would lose 1 events; use --force"):  # fmt: skip
        restore_ledger(vendor.ws, path)
    assert vendor.ledger_dump() == before
    if engine == "postgresql":  # a shared ledger's rows are never deleted
        with pytest.raises(LedgerError, match="already holds a ledger with rows"):
            restore_ledger(vendor.ws, path, force=True)
        assert vendor.ledger_dump() == before
        return
    done = restore_ledger(vendor.ws, path, force=True)
    assert done.forced and done.replaced is not None and done.replaced.seq == old.seq + 1
    assert "hooli" not in [c.id for c in vendor.ws.ledger.customers()]
    result = check(vendor)
    assert result.ok and result.anchor == old
    licsign.add_customer(vendor.ws, "hooli", name="Hooli", now=vendor.now)


def test_restore_refuses_a_damaged_or_foreign_backup(
    vendor: Vendor, busy: dict[str, str], tmp_path: Path, unsafe_fast_kdf: dict[str, int]
) -> None:
    before = vendor.ledger_dump()
    damaged = tmp_path / "damaged.sqlite3"
    licsign.backup_ledger(vendor.ws, str(damaged))
    raw_sql(str(damaged))("UPDATE products SET name = 'Evil' WHERE id = 'acme-cad'")
    with pytest.raises(
        RefusedError, match="fails its check, nothing was restored: products row id='acme-cad'"
    ):
        restore_ledger(vendor.ws, str(damaged))
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(LedgerError, match="not a licsign ledger backup"):
        restore_ledger(vendor.ws, str(garbage))
    with Vendor.create(tmp_path / "other", unsafe_fast_kdf) as other:
        licsign.backup_ledger(other.ws, str(tmp_path / "other.sqlite3"))
    with pytest.raises(RefusedError, match="backup of another workspace's ledger"):
        restore_ledger(vendor.ws, str(tmp_path / "other.sqlite3"), force=True)
    assert vendor.ledger_dump() == before
    assert not [p for p in Path(vendor.home).iterdir() if p.name.startswith(".restore-")]


# --- the command line ----------------------------------------------------------------------------


def test_the_command_line(site: Site, tmp_path: Path) -> None:
    site.issue("a.lic")
    out = site.vendor_ok("ledger", "verify").out
    assert "verified" in out and "rows agree with the history" in out
    assert json.loads(site.vendor_ok("ledger", "verify", "--json").out)["ok"] is True
    path = str(tmp_path / "backup.sqlite3")
    made = json.loads(site.vendor_ok("ledger", "backup", path, "--json").out)
    assert made["file"] == path and made["events"] == made["head"]["seq"]
    assert "already exists" in site.licsign("ledger", "backup", path).err
    site.vendor_ok("customer", "add", "hooli")
    line = error_line_after_progress(site.licsign("ledger", "restore", path), "licsign", 1)
    assert "older than event" in line and "--force" in line
    location = site.ledger_url or str(site.home / "ledger.sqlite3")
    raw_sql(location)(f"UPDATE customers SET name = 'Evil' WHERE id = '{CUSTOMER}'")
    line = error_line_after_progress(site.licsign("ledger", "verify"), "licsign", 1)
    assert f"customers row id={CUSTOMER!r}: its name is 'Evil'" in line
    failed = site.licsign("ledger", "verify", "--json")
    assert failed.code == 1 and json.loads(failed.out)["problems"][0]["table"] == "customers"
    if site.ledger_url is None:
        done = json.loads(site.vendor_ok("ledger", "restore", path, "--force", "--json").out)
        assert done["forced"] is True and done["head"] == made["head"]
        site.vendor_ok("ledger", "verify")
        assert PRODUCT in site.vendor_ok("product", "list").out
