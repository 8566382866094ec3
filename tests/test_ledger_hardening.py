"""The ledger on SQLite and PostgreSQL, ``--ledger`` and ``ledger migrate`` under the
attacker's and the unlucky user's moves (issue 7's review): a password never shown or
recorded, a database that is not a licsign ledger never changed, a refused command leaving
every file byte for byte, damaged rows and workspace files reported in one line, and the
shared ledger usable by a desk role with table privileges only. Each test's docstring says
what used to go wrong. These tests touch the databases directly, as an attacker or another
application would.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import CLI_PASSPHRASE, NOW, PRODUCT, PW, Result, Site, error_line, older_ledger

from licsign import Ledger, LedgerError, WorkspaceError, init_workspace
from licsign._ledger import engine as ledger_engine
from licsign._ledger.engine import WRITE_LOCK_KEY
from licsign._ledger.migrations import SCHEMA_VERSION

SECRET = "hunter2-secret"


# --- helpers --------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_site(
    unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> Site:
    """A workspace on its own SQLite ledger (for problems that do not depend on the engine)."""
    return Site.create(monkeypatch, tmp_path, capsys)


def one_line_refusal(result: Result) -> str:
    """Exit 1 or 2, nothing on stdout, one ``licsign:`` line on stderr, never an internal error."""
    assert result.code in (1, 2), result
    assert result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("licsign: "), result.err
    assert "internal error" not in result.err
    return result.err


def foreign_sqlite(path: Path, user_version: int = 0, table: str = "notes") -> Path:
    """Another application's SQLite database (rollback journal, mode 0644)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, title TEXT)")
        db.execute(f"INSERT INTO {table} (title) VALUES ('kept')")
        db.execute(f"PRAGMA user_version = {user_version}")
        db.commit()
    os.chmod(path, 0o644)
    return path


def tables(location: str) -> set[str]:
    """The tables a SQLite file or a PostgreSQL database holds."""
    if location.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(location, autocommit=True) as db:
            rows = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {row[0] for row in rows.fetchall()}
    with contextlib.closing(sqlite3.connect(location)) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def sqlite_user_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


@pytest.fixture
def foreign_database(engine: str, site: Site, request: pytest.FixtureRequest) -> str:
    """Another application's database on ``engine``, one table, no licsign ledger: on SQLite it
    takes the place of the workspace's own ledger file (``--ledger`` takes URLs only)."""
    if engine == "sqlite":
        own = site.home / "ledger.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{own}{suffix}").unlink(missing_ok=True)
        return str(foreign_sqlite(own))
    url = str(request.getfixturevalue("new_postgres_database")())
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE notes (id SERIAL PRIMARY KEY, title TEXT)")
    return url


@contextlib.contextmanager
def write_lock_held(url: str) -> Iterator[None]:
    """Another desk holds the PostgreSQL ledger's write lock (a desk that hangs mid-transaction)."""
    import psycopg

    holder = psycopg.connect(url, autocommit=True)
    try:
        holder.execute("BEGIN")
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        yield
    finally:
        holder.close()


def older_ledger_with_a_key(location: str) -> None:
    """A ledger written by an older licsign (schema 2) that already holds a root key."""
    if not location.startswith("postgresql://"):
        Path(location).touch()
    older_ledger(location, 2)
    db = ledger_engine.connect(location)
    db.begin_write()
    db.run(
        "INSERT INTO keys (key_id, role, public_key, created_at) VALUES (?, 'root', ?, 1)",
        ("ab" * 16, b"\x01" * 32),
    )
    db.commit()
    db.close()


# --- passwords ----------------------------------------------------------------------------------


def test_a_password_in_the_query_string_is_never_recorded_or_shown(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unsafe_fast_kdf: dict[str, int],
    capsys: Any,
) -> None:
    """``redact_url`` (licsign/_ledger/engine.py) removes only ``user:password@``; libpq also
    takes ``?password=``, which then lands in workspace.json and every message."""
    with_password = f"{postgres_url}&password={SECRET}"  # trust auth: carried, not needed
    site = Site.create(monkeypatch, tmp_path, capsys, ledger_url=with_password)
    assert SECRET not in (site.home / "workspace.json").read_text()
    migrated = site.vendor_ok("ledger", "migrate", "--json")
    assert SECRET not in migrated.out + migrated.err
    unreachable = f"postgresql://nobody@/none?host={tmp_path}/no-socket&password={SECRET}"
    result = site.licsign("--ledger", unreachable, "product", "list")
    assert SECRET not in error_line(result, "licsign", 2)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://desk:pa%zz{SECRET}@/ledger?host=/nonexistent",  # bad percent-encoding
        f"postgresql://desk:{SECRET}@[::1/ledger",  # unterminated IPv6 address
    ],
    ids=["percent-encoding", "ipv6"],
)
def test_a_malformed_url_is_refused_without_quoting_its_password(
    sqlite_site: Site, url: str
) -> None:
    """libpq's parse errors quote the offending token or the whole URI, password included;
    PostgresDatabase.__init__ passes that first line on unredacted."""
    result = sqlite_site.licsign("--ledger", url, "product", "list")
    assert SECRET not in error_line(result, "licsign", 2)


@pytest.mark.parametrize(
    "url",
    [
        f"postgressql://desk:{SECRET}@db.example/ledger",
        f"POSTGRESQL://desk:{SECRET}@db.example/ledger",
        f"postgresql+psycopg://desk:{SECRET}@db.example/ledger",
    ],
)
def test_a_misspelt_postgres_url_does_not_echo_its_password(sqlite_site: Site, url: str) -> None:
    """Anything not starting with postgresql:// is taken for a SQLite path, and
    ``_prepare_sqlite_file`` quotes it whole: "no ledger at 'postgressql://desk:hunter2...'"."""
    result = sqlite_site.licsign("--ledger", url, "product", "list")
    assert SECRET not in error_line(result, "licsign", 2)


# --- what is given as a ledger, and is not one ---------------------------------------------------


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_a_refused_ledger_path_keeps_its_permissions(
    sqlite_site: Site, tmp_path: Path, kind: str
) -> None:
    """``_prepare_sqlite_file`` ran ``restrict_mode(path, 0o600)`` before anything checked that
    the path is a ledger: a directory in its place lost its x bits. ``--ledger PATH`` is now
    refused outright (URLs only); the workspace's own ledger file is what remains to check."""
    target = sqlite_site.home / "ledger.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    if kind == "directory":
        target.mkdir()
        (target / "inside.txt").write_text("kept")
    else:
        target.write_text("a text file, not a ledger\n")
    os.chmod(target, 0o755 if kind == "directory" else 0o644)
    error_line(sqlite_site.licsign("product", "list"), "licsign", 2)
    assert stat.S_IMODE(os.stat(target).st_mode) == (0o755 if kind == "directory" else 0o644)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    line = error_line(
        sqlite_site.licsign("--ledger", str(elsewhere), "product", "list"), "licsign", 2
    )
    assert "postgresql://" in line and stat.S_IMODE(os.stat(elsewhere).st_mode) == 0o755


@pytest.mark.parametrize("kind", ["other-application", "empty"])
def test_a_refused_sqlite_ledger_is_left_byte_for_byte(
    sqlite_site: Site, tmp_path: Path, kind: str
) -> None:
    """SqliteDatabase.__init__ sets ``journal_mode=WAL`` before the version check refuses the
    file: another application's database is switched to WAL (its header rewritten), and an
    empty file grows a 4 KiB header, by a read-only command that was refused."""
    path = sqlite_site.home / "ledger.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    if kind == "empty":
        path.write_bytes(b"")
    else:
        foreign_sqlite(path)
    before = path.read_bytes()
    result = sqlite_site.licsign("product", "list")
    assert "holds no licsign ledger" in error_line(result, "licsign", 2)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_ledger_migrate_refuses_a_database_without_a_licsign_ledger(
    site: Site, foreign_database: str
) -> None:
    """``migrate`` (licsign/_ledger/migrations.py) starts from version 0 on any database:
    ``ledger migrate`` builds a key-less ledger inside another application's database,
    where every other command says "holds no licsign ledger; run 'licsign init' first"."""
    before = tables(foreign_database)
    shared = () if site.ledger_url is None else ("--ledger", foreign_database)
    result = site.licsign(*shared, "ledger", "migrate")
    assert "holds no licsign ledger" in error_line(result, "licsign", 2)
    assert tables(foreign_database) == before


@pytest.mark.parametrize("user_version", [1, 3])
def test_a_foreign_sqlite_database_is_not_taken_for_a_ledger_by_its_user_version(
    sqlite_site: Site, tmp_path: Path, user_version: int
) -> None:
    """A licsign ledger is recognised by ``PRAGMA user_version`` alone, which many applications
    use. At 1: "back it up, then run 'licsign ledger migrate'", and migrate then adds three
    tables and bumps the other application's version before failing. At 3: ``product list``
    fails with exit 70 (KeyError in ProductRecord.from_row)."""
    path = sqlite_site.home / "ledger.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    foreign_sqlite(path, user_version, table="products")
    for command in (("product", "list"), ("ledger", "migrate")):
        one_line_refusal(sqlite_site.licsign(*command))
    assert tables(str(path)) == {"products"}
    assert sqlite_user_version(path) == user_version


def test_init_refuses_a_postgres_database_that_holds_other_tables(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unsafe_fast_kdf: dict[str, int],
    capsys: Any,
) -> None:
    """ADR 0015 and ``init_workspace`` say "an empty database"; _build_workspace checks only that
    it holds no licsign keys, so init mixes the ledger's tables into another application's."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("CREATE TABLE invoices (id SERIAL PRIMARY KEY)")
    site = Site(capsys, tmp_path, ledger_url=postgres_url)
    site.isolate(monkeypatch, CLI_PASSPHRASE)
    error_line(site.licsign("init"), "licsign", 2)
    assert tables(postgres_url) == {"invoices"}
    assert not site.home.exists()


# --- init ---------------------------------------------------------------------------------------


@pytest.fixture
def older_location(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if engine == "sqlite":
        location = str(tmp_path / "older.sqlite3")
    else:
        location = str(request.getfixturevalue("new_postgres_database")())
    older_ledger_with_a_key(location)
    return location


def test_a_refused_init_leaves_an_older_ledger_at_its_version(
    site: Site, older_location: str, tmp_path: Path
) -> None:
    """``Ledger(location, create=True)`` migrates before _build_workspace refuses a ledger that
    holds keys: a refused init upgrades a shared ledger (which the other desks' older licsign
    then refuses), without the backup ``ledger migrate`` asks for."""
    result = site.licsign("--home", str(tmp_path / "desk2"), "--ledger", older_location, "init")
    error_line(result, "licsign", 2)  # refused: it already holds keys (and is older)
    db = ledger_engine.connect(older_location)
    try:
        assert db.schema_version() == 2
    finally:
        db.close()


def test_two_inits_into_one_shared_ledger_leave_one_root_key(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unsafe_fast_kdf: dict[str, int],
) -> None:
    """_build_workspace checks ``ledger.keys()`` outside the unit of work that adds the root key
    (and a second or more of Argon2id before it): two desks running init on one empty database
    at once both succeed, and the shared ledger holds two root keys."""
    import licsign._workspace as workspace_module
    from licsign._keyfile import write_key_file as real
    from licsign._ledger import migrations

    raced: list[bool] = []

    def write_key_file(path: str, key: Any, role: str, *args: Any, **kwargs: Any) -> None:
        if role == "root" and not raced:  # desk A is between its check and its insert
            raced.append(True)
            with monkeypatch.context() as patch:  # desk B found the database empty too
                patch.setattr(migrations, "create", lambda db, where: migrations.migrate(
                    db, where, from_empty=True))  # fmt: skip
                init_workspace(str(tmp_path / "desk-b"), PW, now=NOW, kdf=unsafe_fast_kdf,
                               ledger=postgres_url).close()  # fmt: skip
        real(path, key, role, *args, **kwargs)

    monkeypatch.setattr(workspace_module, "write_key_file", write_key_file)
    with pytest.raises(WorkspaceError, match="already holds a licsign ledger"):
        init_workspace(str(tmp_path / "desk-a"), PW, now=NOW, kdf=unsafe_fast_kdf,
                       ledger=postgres_url)  # fmt: skip
    ledger = Ledger(postgres_url)
    try:
        assert [k.role for k in ledger.keys()].count("root") == 1
    finally:
        ledger.close()
    assert not (tmp_path / "desk-a").exists()


def test_a_ledger_path_is_refused_before_anything_is_made(
    sqlite_site: Site, tmp_path: Path, unsafe_fast_kdf: dict[str, int]
) -> None:
    """A relative ``--ledger shared.sqlite3`` was recorded as given (the workspace then worked
    only from that directory), and an init interrupted with ``ledger=PATH`` left a ledger that
    refused every later init. ``--ledger`` and ``init_workspace(ledger=)`` now take a
    PostgreSQL URL only; a path is refused before anything is created."""
    home = tmp_path / "desk2"
    line = error_line(
        sqlite_site.licsign("--home", str(home), "--ledger", "shared.sqlite3", "init"), "licsign", 2
    )
    assert "postgresql://" in line
    assert not home.exists() and not (tmp_path / "shared.sqlite3").exists()
    with pytest.raises(LedgerError, match="postgresql://"):
        init_workspace(str(tmp_path / "desk3"), PW, now=NOW, kdf=unsafe_fast_kdf,
                       ledger=str(tmp_path / "x.sqlite3"))  # fmt: skip
    assert not (tmp_path / "desk3").exists() and not (tmp_path / "x.sqlite3").exists()


def test_a_non_text_ledger_entry_in_the_workspace_file_is_one_line(sqlite_site: Site) -> None:
    """Workspace.__init__ hands ``config.get("ledger")`` to Ledger whatever its type: exit 70."""
    config_path = sqlite_site.home / "workspace.json"
    config = json.loads(config_path.read_text())
    config["ledger"] = 5
    config_path.write_text(json.dumps(config))
    assert "workspace file" in one_line_refusal(sqlite_site.licsign("product", "list"))


def test_a_workspace_file_that_is_not_an_object_is_one_line(sqlite_site: Site) -> None:
    """(Older than issue 7, next to it.) ``self.config.get`` on a JSON list: exit 70."""
    (sqlite_site.home / "workspace.json").write_text("[1, 2]\n")
    assert "workspace file" in one_line_refusal(sqlite_site.licsign("product", "list"))


# --- the unit of work and the write lock on PostgreSQL -------------------------------------------


def test_a_lock_wait_that_fails_leaves_the_postgres_ledger_usable(postgres_url: str) -> None:
    """UnitOfWork.transaction calls ``begin_write()`` outside its try: when the advisory lock
    statement fails (a statement or lock timeout, a cancel), the BEGIN it follows stays open
    and aborted, and every later read or write on that Ledger fails with "current transaction
    is aborted" (a dashboard or any long-lived caller is stuck)."""
    older_ledger(postgres_url, SCHEMA_VERSION)
    ledger = Ledger(f"{postgres_url}&options=-c%20statement_timeout%3D300")
    try:
        with write_lock_held(postgres_url), pytest.raises(LedgerError, match="timeout"):
            ledger.add_customer(1, "first", "First", None)
        ledger.add_customer(2, "second", "Second", None)
        assert [c.id for c in ledger.customers()] == ["second"]
    finally:
        ledger.close()


# --- what the ledger holds --------------------------------------------------------------------


def _set_sqlite(site: Site, sql: str, args: tuple[Any, ...]) -> None:
    with contextlib.closing(sqlite3.connect(site.home / "ledger.sqlite3")) as db:
        db.execute(sql, args)
        db.commit()


def test_a_damaged_json_column_is_reported_not_an_internal_error(sqlite_site: Site) -> None:
    """records.py decodes JSON columns with no guard: a damaged row gives exit 70
    (JSONDecodeError, or TypeError for '5') instead of "the ledger is damaged"."""
    for damaged in ("not json", "5"):
        _set_sqlite(
            sqlite_site, "UPDATE products SET features = ? WHERE id = ?", (damaged, PRODUCT)
        )
        one_line_refusal(sqlite_site.licsign("product", "list"))


def test_show_of_a_license_whose_recorded_terms_lack_a_field_is_not_an_internal_error(
    sqlite_site: Site,
) -> None:
    """``licsign show`` renders ``record.terms`` (the ledger's JSON copy) and indexes it
    directly (``terms['id']``...): a row with fewer fields (damaged, or written by another
    version) is exit 70 (KeyError). Render from the signed document, or refuse in one line."""
    license_id = sqlite_site.issue("one.lic")
    _set_sqlite(sqlite_site, "UPDATE licenses SET terms = ? WHERE id = ?", ("{}", license_id))
    result = sqlite_site.licsign("show", license_id)
    assert result.code != 70 and "internal error" not in result.err, result


def test_a_request_label_with_a_nul_is_not_a_database_error(site: Site) -> None:
    """The verifier accepts any text as a device label (``text_field``); SQLite stores a NUL,
    PostgreSQL refuses it ("ledger error: PostgreSQL text fields cannot contain NUL", exit 2):
    the same request is granted on one engine and a database error on the other."""
    site.issue("one.lic")
    machine = site.machine("a")
    machine.ok("import", str(site.tmp / "one.lic"))
    request = machine.unsafe_request(label="desk\x00top")
    result = site.licsign("activate", str(request), "-o", str(site.tmp / "response.txt"))
    assert "contains a NUL character" in error_line(result, "licsign", 1)
    assert "ledger error" not in result.err


def test_product_set_escapes_what_the_ledger_holds(sqlite_site: Site) -> None:
    """cli/catalog.py ``product_set`` prints the product's components with click.echo, not
    ``say``: names another desk (or an edited ledger) recorded reach the terminal raw."""
    evil = ["machine-id", "x\u202eevil\x1b]8;;http://e.example\x07"]
    _set_sqlite(sqlite_site, "UPDATE products SET required_components = ? WHERE id = ?",
                (json.dumps(evil), PRODUCT))  # fmt: skip
    result = sqlite_site.vendor_ok("product", "set", PRODUCT, "--min-components", "3")
    for raw in ("\u202e", "\x1b", "\x07"):
        assert raw not in result.out + result.err


def test_a_desk_role_as_the_security_guide_describes_can_activate(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unsafe_fast_kdf: dict[str, int],
    capsys: Any,
) -> None:
    """docs/security.md: give desks "a PostgreSQL role that may read and write the ledger's
    tables but owns none of them". Such a role cannot activate: the ``rowid BIGSERIAL`` columns
    (migrations.render) need USAGE on their sequences ("permission denied for sequence
    activations_rowid_seq"). An identity column needs no sequence privilege."""
    import psycopg

    site = Site.create(monkeypatch, tmp_path, capsys, ledger_url=postgres_url)
    site.issue("one.lic")
    machine = site.machine("a")
    machine.ok("import", str(site.tmp / "one.lic"))
    request = site.tmp / "request.txt"
    machine.ok("request", "--label", "desk-a", "-o", str(request))
    role = f"desk_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(f"CREATE ROLE {role} LOGIN")
        db.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        desk = postgres_url.replace("user=licsign", f"user={role}")
        site.vendor_ok("--ledger", desk, "activate", str(request), "-o", str(tmp_path / "r.txt"))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as db:
            db.execute(f"DROP OWNED BY {role}")
            db.execute(f"DROP ROLE {role}")
