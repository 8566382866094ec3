"""`licsign ledger migrate`, `--ledger URL` / `LICSIGN_LEDGER`, and a shared PostgreSQL ledger,
through the command line, on both engines (the ``site`` fixture runs each test on each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import PRODUCT, Site, error_line, older_ledger

from licsign import Ledger, LedgerError
from licsign._ledger import SCHEMA_VERSION
from licsign.cli import LEDGER_ENV


@pytest.fixture
def old_location(engine: str, site: Site, request: pytest.FixtureRequest) -> str:
    """A ledger an older licsign wrote (schema 2): on SQLite, in place of the workspace's own
    file; on PostgreSQL, a second database (given with --ledger)."""
    if engine == "sqlite":
        location = str(site.home / "ledger.sqlite3")
        for suffix in ("", "-wal", "-shm"):
            Path(location + suffix).unlink(missing_ok=True)
    else:
        location = request.getfixturevalue("new_postgres_database")()
    older_ledger(location, 2)
    return location


def ledger_option(site: Site, location: str) -> tuple[str, ...]:
    """``--ledger URL`` for a PostgreSQL ledger; nothing for the workspace's own file."""
    return () if site.ledger_url is None else ("--ledger", location)


def test_an_up_to_date_ledger_is_left_alone(site: Site) -> None:
    before = site.ledger()
    out = site.vendor_ok("ledger", "migrate").out
    assert f"is up to date (schema {SCHEMA_VERSION})" in out
    info = json.loads(site.vendor_ok("ledger", "migrate", "--json").out)
    assert info["schema_version"] == SCHEMA_VERSION and info["applied"] == []
    assert info["engine"] == ("sqlite" if site.ledger_url is None else "postgresql")
    assert site.ledger() == before


def test_an_older_ledger_is_refused_unchanged_until_migrated(site: Site, old_location: str) -> None:
    shared = ledger_option(site, old_location)
    refused = site.licsign(*shared, "product", "list")
    line = error_line(refused, "licsign", 2)
    assert (
        f"schema is version 2, this licsign needs {SCHEMA_VERSION}" in line and "'licsign ledger migrate'" in line
    )
    with pytest.raises(LedgerError, match="schema is version 2"):
        Ledger(old_location)  # still version 2: the refusal changed nothing
    done = site.vendor_ok(*shared, "ledger", "migrate").out
    applied = ", ".join(str(n) for n in range(3, SCHEMA_VERSION + 1))
    assert f"migrated to schema {SCHEMA_VERSION} (applied {applied})" in done
    assert (
        json.loads(site.vendor_ok(*shared, "product", "list", "--json").out) == []
    )
    assert "up to date" in site.vendor_ok(*shared, "ledger", "migrate").out


def test_an_unreachable_ledger_is_one_line_without_its_password(site: Site, tmp_path: Path) -> None:
    url = f"postgresql://nobody:s3cret@/none?host={tmp_path}/no-socket-here"
    result = site.licsign("--ledger", url, "product", "list")
    line = error_line(result, "licsign", 2)
    assert "cannot be opened" in line and "s3cret" not in result.out + result.err


def test_the_workspace_remembers_a_shared_ledger(
    site: Site, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    config = json.loads((site.home / "workspace.json").read_text())
    if engine == "sqlite":
        assert "ledger" not in config
        return
    assert config["ledger"] == site.ledger_url
    monkeypatch.delenv(LEDGER_ENV)  # later commands find the ledger through the workspace
    products = json.loads(site.vendor_ok("product", "list", "--json").out)
    assert [p["id"] for p in products] == [PRODUCT]


def test_a_password_in_the_url_is_not_written_to_the_workspace(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unsafe_fast_kdf: dict[str, int],
) -> None:
    with_password = postgres_url.replace("postgresql://", "postgresql://licsign:hunter2-secret@", 1)
    site = Site.create(monkeypatch, tmp_path, ledger_url=with_password)
    config = (site.home / "workspace.json").read_text()
    assert "hunter2-secret" not in config and "postgresql://licsign@" in config
    issued = site.issue("a.lic")
    assert issued in site.vendor_ok("list").out


def test_init_refuses_a_shared_ledger_that_already_holds_keys(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unsafe_fast_kdf: dict[str, int],
) -> None:
    site = Site.create(monkeypatch, tmp_path, ledger_url=postgres_url)
    before = site.ledger()
    result = site.licsign("--home", str(tmp_path / "desk2"), "init")
    assert "already holds a licsign ledger" in error_line(result, "licsign", 2)
    assert site.ledger() == before and not (tmp_path / "desk2").exists()
