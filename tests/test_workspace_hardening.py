"""The vendor workspace (issue 6, hardening): modes, an atomic init, passphrase rules.

Regressions, each reproduced on the old code:
- ``ledger.sqlite3`` (customer names, e-mails, fingerprints) was 0644 and the
  workspace directory 0755: every local user could read them.
- An init interrupted after the ledger or the root key was written left a half
  workspace that refused a second ``licsign init``.
- ``licsign init`` accepted a one-letter passphrase for the root key.
- A passphrase that is not UTF-8 in ``$LICSIGN_PASSPHRASE`` ended in "internal
  error" (exit 70) showing the byte and its position.
"""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from harness import NOW, PW, VENDOR_NAME, Result, Site, error_line_after_progress

import licsign._keyfile as keyfile
import licsign._workspace as workspace_module
from licsign import InvalidInputError, Ledger, Workspace, WorkspaceError, init_workspace
from licsign.cli import PASSPHRASE_ENV


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# Not harness.Vendor.create: these tests break init itself, and look at a bare workspace.
def make(home: Path, kdf: dict[str, int], passphrase: bytes = PW) -> Workspace:
    return init_workspace(str(home), passphrase, now=NOW, vendor=VENDOR_NAME, kdf=kdf)


def siblings(home: Path) -> list[str]:
    return sorted(p.name for p in home.parent.iterdir() if p.name != home.name)


# --- (a) modes ----------------------------------------------------------------------------------


def test_a_new_workspace_is_private(tmp_path: Path, unsafe_fast_kdf: dict[str, int], permissive_umask: None) -> None:
    home = tmp_path / "ws"
    ws = make(home, unsafe_fast_kdf)
    ws.ledger.add_customer(1, "globex", "Globex", "it@globex.example")  # opens the ledger: -wal, -shm
    assert (home / "ledger.sqlite3-wal").exists() and (home / "ledger.sqlite3-shm").exists()
    assert mode(home) == 0o700
    assert mode(home / "keys") == 0o700
    for name in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm", "workspace.json"):
        assert mode(home / name) == 0o600, name
    for key in (home / "keys").glob("*.key"):
        assert mode(key) == 0o600
    ws.close()


def test_a_new_ledger_is_0600_whatever_the_umask(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(str(path), create=True)
    ledger.add_product(1, "p", "P", [])
    for suffix in ("", "-wal", "-shm"):
        assert mode(Path(str(path) + suffix)) == 0o600
    ledger.close()


def test_an_old_loose_workspace_is_tightened_when_opened(tmp_path: Path, unsafe_fast_kdf: dict[str, int]) -> None:
    # Workspaces made by earlier releases: 0755 directory, 0644 ledger (and WAL files).
    home = tmp_path / "ws"
    make(home, unsafe_fast_kdf).close()
    os.chmod(home, 0o755)
    db = home / "ledger.sqlite3"
    os.chmod(db, 0o644)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).write_bytes(b"")
        os.chmod(str(db) + suffix, 0o666)
    ws = Workspace(str(home))
    assert mode(home) == 0o700
    ws.ledger.keys()
    for suffix in ("", "-wal", "-shm"):
        assert mode(Path(str(db) + suffix)) == 0o600
    ws.close()


def test_a_loose_ledger_that_cannot_be_tightened_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(str(path), create=True).close()
    os.chmod(path, 0o644)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    with pytest.raises(WorkspaceError, match=r"accessible by group or others.*chmod 600"):
        Ledger(str(path))


# --- (b) an atomic init -------------------------------------------------------------------------


class Interrupted(Exception):
    pass


def interrupt_after_root_key(monkeypatch: pytest.MonkeyPatch) -> None:
    real = workspace_module.write_key_file

    def write_then_fail(path: str, *args: Any, **kwargs: Any) -> None:
        real(path, *args, **kwargs)
        if path.endswith("root.key"):
            raise Interrupted("power cut")

    monkeypatch.setattr(workspace_module, "write_key_file", write_then_fail)


def interrupt_before_issuing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise Interrupted("power cut")

    monkeypatch.setattr(workspace_module, "_certify_new_key", fail)


def interrupt_with_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(workspace_module, "_certify_new_key", fail)


@pytest.mark.parametrize("home_exists", [False, True], ids=["new-home", "empty-home"])
@pytest.mark.parametrize(
    "interrupt",
    [interrupt_after_root_key, interrupt_before_issuing_key, interrupt_with_ctrl_c],
    ids=["after-ledger-and-root-key", "after-workspace-json", "ctrl-c"],
)
def test_an_interrupted_init_leaves_nothing_and_can_run_again(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch, interrupt: Any,
    home_exists: bool,
) -> None:
    home = tmp_path / "parent" / "ws"
    if home_exists:
        home.mkdir(parents=True)
    with monkeypatch.context() as patch:
        interrupt(patch)
        with pytest.raises((Interrupted, KeyboardInterrupt)):
            make(home, unsafe_fast_kdf)
    if home_exists:
        assert home.is_dir() and list(home.iterdir()) == []
    else:
        assert not home.exists()
    assert siblings(home) == []  # no temporary directory left behind
    ws = make(home, unsafe_fast_kdf)  # the second init works
    assert [k.role for k in ws.ledger.keys()] == ["root", "issuing"]
    ws.close()
    assert siblings(home) == []


def test_init_refuses_a_directory_that_is_not_empty_and_leaves_it_alone(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int]
) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="not empty"):
        make(home, unsafe_fast_kdf)
    assert [p.name for p in home.iterdir()] == ["notes.txt"] and siblings(home) == []


def test_init_refuses_an_existing_workspace(tmp_path: Path, unsafe_fast_kdf: dict[str, int]) -> None:
    home = tmp_path / "ws"
    make(home, unsafe_fast_kdf).close()
    with pytest.raises(WorkspaceError, match="already a licsign workspace"):
        make(home, unsafe_fast_kdf)


def test_a_file_that_appears_during_init_is_not_overwritten(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    real = workspace_module._certify_new_key

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        (home / "someone-elses.txt").write_text("x")
        return real(*args, **kwargs)

    monkeypatch.setattr(workspace_module, "_certify_new_key", meanwhile)
    with pytest.raises(WorkspaceError, match="not empty"):
        make(home, unsafe_fast_kdf)
    assert [p.name for p in home.iterdir()] == ["someone-elses.txt"] and siblings(home) == []


def test_init_through_a_symlink_to_an_empty_directory_keeps_the_link(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int]
) -> None:
    real = tmp_path / "secure" / "licsign"
    real.mkdir(parents=True)
    link = tmp_path / "ws"
    link.symlink_to(real)
    make(link, unsafe_fast_kdf).close()
    assert link.is_symlink() and (real / "workspace.json").exists()
    assert mode(real) == 0o700


@pytest.fixture
def cli(tmp_path: Path, unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Site:
    """licsign before init (``Site.isolated``, not ``Site.create``: these tests run or break
    init themselves); no passphrase in the environment."""
    return Site.isolated(monkeypatch, tmp_path, capsys)


def one_line(result: Result, code: int) -> str:
    """Exit ``code`` and licsign's one error line (progress lines aside); the line."""
    return error_line_after_progress(result, "licsign", code)


def test_cli_init_that_fails_can_be_run_again(cli: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PW.decode())
    with monkeypatch.context() as patch:
        interrupt_after_root_key(patch)
        assert cli.licsign("init").code == 70
    assert not cli.home.exists()
    assert cli.licsign("init").code == 0


# --- (c) passphrase length at creation ----------------------------------------------------------


@pytest.mark.parametrize("passphrase", ["x", "short", "eleven char"])
def test_init_refuses_a_passphrase_under_12_characters(
    cli: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, passphrase: str
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, passphrase)
    line = one_line(cli.licsign("init"), 2)
    assert line == (
        "licsign: error: the passphrase for a new key must be at least 12 characters"
        " (a few words are easy to remember)"
    )
    assert not (tmp_path / "ws").exists() and siblings(tmp_path / "ws") == []


def test_init_library_refuses_a_short_passphrase_before_any_work(tmp_path: Path, unsafe_fast_kdf: dict[str, int]) -> None:
    with pytest.raises(InvalidInputError, match="at least 12 characters"):
        make(tmp_path / "ws", unsafe_fast_kdf, b"hunter2")
    assert list(tmp_path.iterdir()) == []


def test_new_issuing_key_refuses_a_short_passphrase(cli: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PW.decode())
    assert cli.licsign("init").code == 0
    before = sorted(p.name for p in (tmp_path / "ws" / "keys").iterdir())
    ws = Workspace(str(tmp_path / "ws"))
    with pytest.raises(InvalidInputError, match="at least 12 characters"):
        ws.new_issuing_key(lambda: PW, b"short", now=datetime.now(timezone.utc))
    ws.close()
    assert sorted(p.name for p in (tmp_path / "ws" / "keys").iterdir()) == before


def test_keys_made_with_a_short_passphrase_keep_working(
    cli: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A workspace from before the rule: its keys have a 2-character passphrase.
    with monkeypatch.context() as patch:
        patch.setattr(keyfile, "MIN_PASSPHRASE_CHARS", 1)
        init_workspace(str(tmp_path / "ws"), b"pw", now=datetime.now(timezone.utc) - timedelta(minutes=1)).close()
    monkeypatch.setenv(PASSPHRASE_ENV, "pw")
    assert cli.licsign("product", "add", "p").code == 0
    assert cli.licsign("customer", "add", "c").code == 0
    assert cli.licsign("issue", "--product", "p", "--customer", "c", "--type", "perpetual", "-o", "a.lic").code == 0
    # ... but no new key is made with it.
    assert "at least 12 characters" in one_line(cli.licsign("key", "new-issuing"), 2)


# --- (d) a passphrase that is not UTF-8 ---------------------------------------------------------

SECRET = b"long enough \xff\xfe secret"


def assert_clean(line: str) -> None:
    assert "not valid UTF-8" in line
    for leak in ("xff", "xfe", "\\x", "position", "long enough", "secret", "surrogate", "\udcff"):
        assert leak not in line, leak


@pytest.mark.parametrize("command", [("init",), ("key", "new-issuing"), ("issue", "--product", "p", "--customer",
                                     "c", "--type", "perpetual", "-o", "a.lic")], ids=["init", "new-issuing", "issue"])
def test_a_passphrase_file_that_is_not_utf8_gives_one_clean_line(
    cli: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: tuple[str, ...]
) -> None:
    if command[0] != "init":
        monkeypatch.setenv(PASSPHRASE_ENV, PW.decode())
        assert cli.licsign("init").code == 0
        assert cli.licsign("product", "add", "p").code == 0 and cli.licsign("customer", "add", "c").code == 0
        monkeypatch.delenv(PASSPHRASE_ENV)
    (tmp_path / "pass").write_bytes(SECRET + b"\n")
    line = one_line(cli.licsign("--passphrase-file", str(tmp_path / "pass"), *command), 2)
    assert_clean(line)
    assert "passphrase file" in line


@pytest.mark.parametrize("command", [("init",), ("key", "new-issuing")])
def test_an_environment_passphrase_that_is_not_utf8_gives_one_clean_line(
    cli: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: tuple[str, ...]
) -> None:
    if command[0] != "init":
        monkeypatch.setenv(PASSPHRASE_ENV, PW.decode())
        assert cli.licsign("init").code == 0
    monkeypatch.setitem(os.environb, PASSPHRASE_ENV.encode(), SECRET)  # type: ignore[attr-defined]
    line = one_line(cli.licsign(*command), 2)
    assert_clean(line)
    assert f"${PASSPHRASE_ENV}" in line
    if command[0] == "init":
        assert not (tmp_path / "ws").exists()


def test_what_a_killed_init_left_is_removed_by_the_next_init(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int]
) -> None:
    # SIGKILL runs no cleanup: it leaves a hidden building directory, never a half workspace.
    home = tmp_path / "ws"
    leftover = tmp_path / ".ws.init-killed1"
    (leftover / "keys").mkdir(parents=True)
    (leftover / "keys" / "root.key").write_text("{}")
    (tmp_path / ".other.init-keep").mkdir()  # another workspace's: not ours to remove
    make(home, unsafe_fast_kdf).close()
    assert not leftover.exists()
    assert (tmp_path / ".other.init-keep").is_dir()
    assert (home / "workspace.json").is_file()
