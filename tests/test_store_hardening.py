"""The local store's file rules (docs/format.md §12, docs/security.md).

- Store files are read only if they are regular files, never through a
  symbolic link, and never more than one document's worth: a FIFO named
  ``license.cose`` used to hang ``licverify status`` forever.
- ``.lock`` is opened without following a symbolic link.
- The state directory is created 0700; one that group or others can write,
  or that is itself a symbolic link, is refused with a line that says what
  to do.
- A deactivation has one commit point, the receipt: a failure at any step
  (a full disk) leaves the machine either still activated with no receipt
  for that activation, or deactivated with the receipt, never licensed with
  a receipt that says it was given up.

Every refusal is one line, and leaves the store exactly as it was.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_entry

import licverify
import licverify.cli as lvcli
from licsign import IssueRequest, activate, init_workspace, issue_license
from licverify import LocalStore, NotActivatedError, StoreError
from licverify._activation import decode_receipt_payload, decode_response_payload
from licverify.format import MAX_DOCUMENT_SIZE, dearmor, parse_unverified

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file types and modes")

PRODUCT = "acme-cad"
PW = b"store hardening passphrase"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
FILES = ["license.cose", "activation.cose", "device.key", "pending.json", "receipt.cose"]


class Setup:
    """A vendor workspace, and an activated store (with a pending request and an old receipt)."""

    def __init__(self, tmp: Path, kdf: dict[str, int]) -> None:
        self.tmp = tmp
        self.ws = init_workspace(str(tmp / "ws"), PW, now=NOW - timedelta(hours=1), kdf=kdf)
        self.ws.ledger.add_product(0, PRODUCT, "Acme CAD", [])
        self.ws.ledger.add_customer(0, "globex", "Globex", None)
        issued = issue_license(
            self.ws, IssueRequest(PRODUCT, "globex", "perpetual", activation_required=True),
            lambda: PW, now=NOW,
        )  # fmt: skip
        self.license = issued.armored
        self.roots = [self.ws.root_public_key()]
        self.fp = licverify.machine_fingerprint(PRODUCT, machine_id="machine-1")
        self.trust = tmp / "root.hex"
        self.trust.write_text(self.roots[0].hex())

    def store(self, path: Path) -> LocalStore:
        return LocalStore(str(path))

    def activated(self, path: Path, *, receipt: bool = True) -> LocalStore:
        """Import, activate; with ``receipt``, deactivate once and activate again first."""
        store = self.store(path)
        store.import_license(self.license, trusted_roots=self.roots, product=PRODUCT, now=NOW,
                             fingerprint=self.fp)  # fmt: skip
        rounds = 2 if receipt else 1
        for i in range(rounds):
            when = NOW + timedelta(minutes=10 * i)
            request = store.request(now=when, fingerprint=self.fp, label=f"round-{i}")
            granted = activate(self.ws, request, lambda: PW, now=when)
            store.install(granted.response, trusted_roots=self.roots, product=PRODUCT, now=when,
                          fingerprint=self.fp)  # fmt: skip
            if i + 1 < rounds:
                store.deactivate(now=when + timedelta(minutes=1))
        store.request(now=NOW + timedelta(hours=1), fingerprint=self.fp, label="pending")
        return store

    def check(self, store: LocalStore, when: datetime = NOW + timedelta(hours=2)) -> licverify.License:
        return store.check(trusted_roots=self.roots, product=PRODUCT, now=when, fingerprint=self.fp)


@pytest.fixture
def setup(tmp_path: Path, unsafe_fast_kdf: dict[str, int]) -> Iterator[Setup]:
    s = Setup(tmp_path, unsafe_fast_kdf)
    try:
        yield s
    finally:
        s.ws.close()


def snapshot(path: Path) -> dict[str, Any]:
    """Every entry of a directory, without opening anything that is not a regular file."""
    out: dict[str, Any] = {"mode": stat.S_IMODE(os.lstat(path).st_mode)}
    for name in sorted(os.listdir(path)):
        full = path / name
        st = os.lstat(full)
        if stat.S_ISREG(st.st_mode):
            out[name] = (full.read_bytes(), stat.S_IMODE(st.st_mode), st.st_ino, st.st_mtime_ns)
        elif stat.S_ISLNK(st.st_mode):
            out[name] = ("link", os.readlink(full))
        else:
            out[name] = ("other", stat.S_IFMT(st.st_mode), st.st_ino)
    return out


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging (the old store blocked forever opening a FIFO)."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text
    return text


# --- store files: regular files only, bounded --------------------------------------------------------


def replace_with(path: Path, kind: str, tmp: Path) -> None:
    """Put something that is not a regular file where a store file is."""
    original = path.read_bytes() if path.exists() else b"x"
    if path.exists():
        path.unlink()
    if kind == "symlink":  # to a faithful copy: following it would work, and must not
        target = tmp / f"elsewhere-{path.name}"
        target.write_bytes(original)
        path.symlink_to(target)
    elif kind == "dangling-symlink":
        path.symlink_to(tmp / "nowhere")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        cwd = os.getcwd()
        try:
            os.chdir(path.parent)  # a relative name: a Unix socket path is limited to ~108 bytes
            sock.bind(path.name)
        finally:
            os.chdir(cwd)
            sock.close()
    elif kind == "oversized":
        path.write_bytes(b"\0" * (MAX_DOCUMENT_SIZE + 1))


KINDS = ["symlink", "dangling-symlink", "fifo", "directory", "socket", "oversized"]
WHAT = {
    "symlink": "is a symbolic link", "dangling-symlink": "is a symbolic link", "fifo": "is a FIFO",
    "directory": "is a directory", "socket": "is a socket", "oversized": "larger than any",
}  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", FILES)
def test_store_files_must_be_regular_files(setup: Setup, tmp_path: Path, name: str, kind: str) -> None:
    path = tmp_path / "state"
    store = setup.activated(path)
    replace_with(path / name, kind, tmp_path)
    before = snapshot(path)
    operations: list[Callable[[], Any]] = [
        lambda: setup.check(store),
        lambda: store.request(now=NOW + timedelta(hours=3), fingerprint=setup.fp, label="again"),
        lambda: store.pending_requests(),
        lambda: store.pending_receipt(),
    ]
    refused = 0
    for operation in operations:
        with deadline(10):
            try:
                operation()
            except StoreError as exc:
                assert WHAT[kind] in one_line(exc) and name in str(exc)
                refused += 1
            except licverify.LicenseError:
                pass  # refused for another reason first: also no change
        assert snapshot(path) == before, operation
    # Every file is read by at least one of these operations ('request' reads them all).
    assert refused >= 1


def test_fifo_license_does_not_hang_status(setup: Setup, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "state"
    setup.activated(path)
    replace_with(path / "license.cose", "fifo", tmp_path)
    before = snapshot(path)
    with deadline(10):
        result = run_entry(capsys, lvcli.main, ("status", "--state-dir", str(path), "--trust",
                                                str(setup.trust), "--product", PRODUCT,
                                                "--machine-id", "machine-1"))  # fmt: skip
    assert result.code == 1 and result.err == ""  # 'status' gives its verdict on stdout
    assert result.out == (
        f"NOT VALID: store-error: {path / 'license.cose'} is a FIFO, not a regular file; "
        "the licensing state uses only regular files (move it away)\n"
    )
    assert snapshot(path) == before


def test_store_files_are_read_within_the_bound(setup: Setup, tmp_path: Path) -> None:
    path = tmp_path / "state"
    store = setup.activated(path)
    (path / "pending.json").write_bytes(b" " * MAX_DOCUMENT_SIZE + b"{}")
    with pytest.raises(StoreError, match="larger than any licsign document"):
        store.pending_requests()


# --- the lock file ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dangling", [False, True])
def test_lock_file_symlink_is_refused(setup: Setup, tmp_path: Path, dangling: bool) -> None:
    path = tmp_path / "state"
    store = setup.activated(path)
    target = tmp_path / "victim"
    if not dangling:
        target.write_bytes(b"precious")
    (path / ".lock").unlink()
    (path / ".lock").symlink_to(target)
    before = snapshot(path)
    with pytest.raises(StoreError, match=r"\.lock is a symbolic link"):
        store.request(now=NOW, fingerprint=setup.fp, label="x")
    assert snapshot(path) == before
    # The link was not followed: nothing was created or changed at its target.
    assert (target.read_bytes() == b"precious") if not dangling else not target.exists()


def test_lock_file_fifo_is_refused(setup: Setup, tmp_path: Path) -> None:
    path = tmp_path / "state"
    store = setup.activated(path)
    (path / ".lock").unlink()
    os.mkfifo(path / ".lock")
    with deadline(10), pytest.raises(StoreError, match=r"\.lock is a FIFO"):
        store.request(now=NOW, fingerprint=setup.fp, label="x")


# --- the state directory ------------------------------------------------------------------------------


def test_state_directory_is_created_private(setup: Setup, tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "deep" / "state"
    setup.store(path).import_license(setup.license, trusted_roots=setup.roots, product=PRODUCT, now=NOW,
                                     fingerprint=setup.fp)  # fmt: skip
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o700
    for name in os.listdir(path):
        assert stat.S_IMODE(os.lstat(path / name).st_mode) == 0o600, name


@pytest.mark.parametrize("mode", [0o770, 0o720, 0o707, 0o777, 0o1777])
def test_writable_state_directory_is_refused(setup: Setup, tmp_path: Path, mode: int) -> None:
    path = tmp_path / "state"
    store = setup.activated(path)
    os.chmod(path, mode)
    before = snapshot(path)
    for operation in (
        lambda: setup.check(store),
        lambda: store.request(now=NOW, fingerprint=setup.fp, label="x"),
        lambda: store.import_license(setup.license, trusted_roots=setup.roots, product=PRODUCT,
                                     now=NOW, fingerprint=setup.fp),
        lambda: store.deactivate(now=NOW),
    ):
        with pytest.raises(StoreError) as info:
            operation()
        assert one_line(info.value) == (
            f"the state directory {path} is writable by other users; "
            f"make it private first: chmod 700 '{path}'"
        )
        assert snapshot(path) == before
    os.chmod(path, 0o755)  # readable by others is fine; the fix the message gives works
    assert setup.check(store).id
    os.chmod(path, 0o700)
    assert setup.check(store).id


def test_new_store_in_a_writable_directory_is_refused(setup: Setup, tmp_path: Path) -> None:
    path = tmp_path / "shared"
    path.mkdir()
    os.chmod(path, 0o777)
    with pytest.raises(StoreError, match="chmod 700"):
        setup.store(path).import_license(setup.license, trusted_roots=setup.roots, product=PRODUCT,
                                         now=NOW, fingerprint=setup.fp)  # fmt: skip
    assert os.listdir(path) == []


def test_symlinked_state_directory_is_refused(setup: Setup, tmp_path: Path) -> None:
    real = tmp_path / "real"
    store = setup.activated(real)
    link = tmp_path / "link"
    link.symlink_to(real)
    before = snapshot(real)
    for operation in (
        lambda s: setup.check(s),
        lambda s: s.request(now=NOW, fingerprint=setup.fp, label="x"),
        lambda s: s.import_license(setup.license, trusted_roots=setup.roots, product=PRODUCT,
                                   now=NOW, fingerprint=setup.fp),
    ):
        with pytest.raises(StoreError) as info:
            operation(setup.store(link))
        assert one_line(info.value) == (
            f"the state directory {link} is a symbolic link; use the directory it points to instead"
        )
    assert snapshot(real) == before
    assert setup.check(store).id  # the real directory is fine


def test_state_path_that_is_a_file_is_refused(setup: Setup, tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.write_bytes(b"not a directory")
    with pytest.raises(StoreError, match="is not a directory"):
        setup.store(path).import_license(setup.license, trusted_roots=setup.roots, product=PRODUCT,
                                         now=NOW, fingerprint=setup.fp)  # fmt: skip
    assert path.read_bytes() == b"not a directory"


def test_cli_reports_an_unsafe_directory_in_one_line(setup: Setup, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "state"
    setup.activated(path)
    os.chmod(path, 0o775)
    result = run_entry(capsys, lvcli.main, ("status", "--state-dir", str(path), "--trust", str(setup.trust),
                                            "--product", PRODUCT, "--machine-id", "machine-1"))  # fmt: skip
    assert result.code == 1 and result.err == "" and result.out.count("\n") == 1
    assert result.out.startswith("NOT VALID: store-error: the state directory ")
    assert "chmod 700" in result.out


# --- deactivation: one commit point --------------------------------------------------------------------


def receipt_activation(store: LocalStore) -> str | None:
    armored = store.pending_receipt()
    if armored is None:
        return None
    return decode_receipt_payload(parse_unverified(dearmor(armored)[0]).payload).activation_id


def activation_id(document: bytes) -> str:
    return decode_response_payload(parse_unverified(dearmor(document)[0]).payload).activation_id


class DiskFull:
    """Make the ``fail_at``-th write or removal of the store fail with ENOSPC."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int) -> None:
        self.calls, self.fail_at, self.failed = 0, fail_at, False
        for name in ("_write", "_remove"):
            original = getattr(LocalStore, name)
            monkeypatch.setattr(LocalStore, name, self.wrap(original))

    def wrap(self, original: Callable[..., None]) -> Callable[..., None]:
        def step(store: LocalStore, *args: Any) -> None:
            self.calls += 1
            if self.calls == self.fail_at:
                self.failed = True
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            original(store, *args)

        return step


def test_deactivation_interrupted_at_any_step_is_all_or_nothing(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = tmp_path / "template"
    store = setup.activated(template)
    installed = store.installed_activation()
    assert installed is not None
    active_id = activation_id(installed)
    old_receipt = receipt_activation(store)
    assert old_receipt is not None and old_receipt != active_id  # from the earlier round
    device_key = (template / "device.key").read_bytes()

    outcomes = []
    for fail_at in range(1, 20):
        path = tmp_path / f"state-{fail_at}"
        shutil.copytree(template, path)
        with monkeypatch.context() as patch:
            disk = DiskFull(patch, fail_at)
            with suppress(OSError, StoreError):
                receipt = LocalStore(str(path)).deactivate(now=NOW + timedelta(hours=3))
        fresh = LocalStore(str(path))
        named = receipt_activation(fresh)
        try:
            lic = setup.check(fresh)
        except licverify.LicenseError:
            # Deactivated (not-activated, or wrong-machine once the key was rotated): the
            # receipt for this activation exists, and nothing revives it.
            assert named == active_id, fail_at
            assert fresh.installed_activation() is None
            outcomes.append("deactivated")
        else:
            # Still activated: then no receipt names this activation.
            assert lic.activation is not None and lic.activation.activation_id == active_id
            assert named != active_id, fail_at
            assert (path / "device.key").read_bytes() == device_key
            outcomes.append("activated")
        if not disk.failed:
            break
        # Trying again finishes the job, with the receipt of the first attempt if it was made.
        again = fresh.deactivate(now=NOW + timedelta(hours=4))
        assert receipt_activation(fresh) == active_id
        if outcomes[-1] == "deactivated":
            assert again == fresh.pending_receipt()
        assert not (path / "activation.cose").exists()
        assert (path / "device.key").read_bytes() != device_key
        assert fresh.pending_requests() == {}
        with pytest.raises(NotActivatedError):
            setup.check(fresh)
    else:
        pytest.fail("deactivate never completed")
    assert receipt is not None
    # The first step (the receipt) fails cleanly; every later failure is after the commit.
    assert outcomes[0] == "activated" and outcomes[-1] == "deactivated"
    assert set(outcomes[1:]) == {"deactivated"}, outcomes


def test_interrupted_deactivation_is_finished_by_the_next_operation(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state"
    store = setup.activated(path)
    device_key = (path / "device.key").read_bytes()
    with monkeypatch.context() as patch:
        DiskFull(patch, 2)  # the receipt is written; the new device key is not
        with pytest.raises((OSError, StoreError)):
            store.deactivate(now=NOW + timedelta(hours=3))
    assert (path / "activation.cose").exists()  # still on disk, but void
    with pytest.raises(NotActivatedError, match="deactivated"):
        setup.check(store)
    # The next operation under the lock completes the cleanup first.
    store.request(now=NOW + timedelta(hours=4), fingerprint=setup.fp, label="next")
    assert not (path / "activation.cose").exists()
    assert (path / "device.key").read_bytes() != device_key
    assert len(store.pending_requests()) == 1


def test_failed_write_leaves_the_store_exactly_as_it_was(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A real write failure (rename fails: disk full) is one line, and leaves no temp file."""
    path = tmp_path / "state"
    setup.activated(path)
    before = snapshot(path)

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    import licverify._store as store_module

    receipt = tmp_path / "receipt.txt"
    with monkeypatch.context() as patch:
        patch.setattr(store_module.os, "replace", full)
        result = run_entry(capsys, lvcli.main, ("deactivate", "-o", str(receipt), "--state-dir",
                                                str(path), "--product", PRODUCT))  # fmt: skip
    assert result.code == 1 and result.out == "" and result.err.count("\n") == 1
    assert result.err.startswith("licverify: store-error: cannot write ") and "No space left" in result.err
    assert snapshot(path) == before
    assert not receipt.exists()
    assert json.loads(run_entry(capsys, lvcli.main, ("status", "--state-dir", str(path), "--trust",
                                                     str(setup.trust), "--product", PRODUCT,
                                                     "--machine-id", "machine-1",
                                                     "--json")).out)["status"] == "valid"  # fmt: skip
