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
import socket
import stat
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import NOW, PRODUCT, Machine, Vendor, deadline, run_entry

import licverify
import licverify.cli as lvcli
from licsign import IssuedLicense
from licverify import LocalStore, NotActivatedError, StoreError
from licverify._activation import decode_receipt_payload, decode_response_payload
from licverify.format import MAX_DOCUMENT_SIZE, dearmor, parse_unverified

FILES = ["license.cose", "activation.cose", "device.key", "pending.json", "receipt.cose",
         "state.key", "state.bin"]  # fmt: skip
#: One customer machine, whatever state directory it uses: its fingerprint, and the
#: ``--machine-id`` the licverify runs give.
MACHINE_ID = "machine-1"
FP = licverify.machine_fingerprint(PRODUCT, machine_id=MACHINE_ID)


@pytest.fixture
def lic(vendor: Vendor) -> IssuedLicense:
    """A perpetual license that needs activation, from the harness vendor (both ledger engines)."""
    return vendor.issue("perpetual")


@pytest.fixture
def trust(vendor: Vendor, tmp_path: Path) -> Path:
    """The vendor's root public key in a file (hex), for the licverify runs."""
    path = tmp_path / "root.hex"
    path.write_text(vendor.roots[0].hex())
    return path


def machine(vendor: Vendor, name: str, path: Path | None = None) -> Machine:
    """The machine (``FP``) with its store in ``tmp/machines/NAME``, or in ``path``."""
    return vendor.machine(name, FP, path=path)


def activated(vendor: Vendor, lic: IssuedLicense, name: str) -> Machine:
    """Import, activate, deactivate (an old receipt), activate again; then a pending request."""
    m = machine(vendor, name)
    m.import_license(lic)
    for i in range(2):
        when = NOW + timedelta(minutes=10 * i)
        m.install(vendor.activate(m.request(when, label=f"round-{i}"), when).response, when)
        if i == 0:
            m.deactivate(when + timedelta(minutes=1))
    m.request(NOW + timedelta(hours=1), label="pending")
    return m


def check(m: Machine) -> licverify.License:
    """The application's check, after everything ``activated`` did."""
    return m.check(NOW + timedelta(hours=2))


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
def test_store_files_must_be_regular_files(
    vendor: Vendor, lic: IssuedLicense, tmp_path: Path, name: str, kind: str
) -> None:
    m = activated(vendor, lic, "state")
    check(m)  # the clock ratchet at the time every check below gives (format §12.4)
    path = Path(m.path)
    replace_with(path / name, kind, tmp_path)
    before = snapshot(path)
    operations: list[Callable[[], Any]] = [
        lambda: check(m),
        lambda: m.request(NOW + timedelta(hours=3), label="again"),
        lambda: m.store.pending_requests(),
        lambda: m.store.pending_receipt(),
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


def test_fifo_license_does_not_hang_status(
    vendor: Vendor, lic: IssuedLicense, trust: Path, tmp_path: Path, capsys: Any
) -> None:
    path = Path(activated(vendor, lic, "state").path)
    replace_with(path / "license.cose", "fifo", tmp_path)
    before = snapshot(path)
    with deadline(10):
        result = run_entry(capsys, lvcli.main, ("status", "--state-dir", str(path), "--trust",
                                                str(trust), "--product", PRODUCT,
                                                "--machine-id", MACHINE_ID))  # fmt: skip
    assert result.code == 1 and result.err == ""  # 'status' gives its verdict on stdout
    assert result.out == (
        f"NOT VALID: store-error: {path / 'license.cose'} is a FIFO, not a regular file; "
        "the licensing state uses only regular files (move it away)\n"
    )
    assert snapshot(path) == before


def test_store_files_are_read_within_the_bound(vendor: Vendor, lic: IssuedLicense) -> None:
    m = activated(vendor, lic, "state")
    (Path(m.path) / "pending.json").write_bytes(b" " * MAX_DOCUMENT_SIZE + b"{}")
    with pytest.raises(StoreError, match="larger than any licsign document"):
        m.store.pending_requests()


# --- the lock file ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dangling", [False, True])
def test_lock_file_symlink_is_refused(
    vendor: Vendor, lic: IssuedLicense, tmp_path: Path, dangling: bool
) -> None:
    m = activated(vendor, lic, "state")
    path = Path(m.path)
    target = tmp_path / "victim"
    if not dangling:
        target.write_bytes(b"precious")
    (path / ".lock").unlink()
    (path / ".lock").symlink_to(target)
    before = snapshot(path)
    with pytest.raises(StoreError, match=r"\.lock is a symbolic link"):
        m.request(NOW, label="x")
    assert snapshot(path) == before
    # The link was not followed: nothing was created or changed at its target.
    assert (target.read_bytes() == b"precious") if not dangling else not target.exists()


def test_lock_file_fifo_is_refused(vendor: Vendor, lic: IssuedLicense) -> None:
    m = activated(vendor, lic, "state")
    path = Path(m.path)
    (path / ".lock").unlink()
    os.mkfifo(path / ".lock")
    with deadline(10), pytest.raises(StoreError, match=r"\.lock is a FIFO"):
        m.request(NOW, label="x")


# --- the state directory ------------------------------------------------------------------------------


def test_state_directory_is_created_private(
    vendor: Vendor, lic: IssuedLicense, tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "deep" / "state"
    machine(vendor, "deep", path).import_license(lic, NOW)
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o700
    for name in os.listdir(path):
        assert stat.S_IMODE(os.lstat(path / name).st_mode) == 0o600, name


@pytest.mark.parametrize("mode", [0o770, 0o720, 0o707, 0o777, 0o1777])
def test_writable_state_directory_is_refused(vendor: Vendor, lic: IssuedLicense, mode: int) -> None:
    m = activated(vendor, lic, "state")
    path = Path(m.path)
    os.chmod(path, mode)
    before = snapshot(path)
    for operation in (
        lambda: check(m),
        lambda: m.request(NOW, label="x"),
        lambda: m.import_license(lic, NOW),
        lambda: m.deactivate(NOW),
    ):
        with pytest.raises(StoreError) as info:
            operation()
        assert one_line(info.value) == (
            f"the state directory {path} is writable by other users; "
            f"make it private first: chmod 700 '{path}'"
        )
        assert snapshot(path) == before
    os.chmod(path, 0o755)  # readable by others is fine; the fix the message gives works
    assert check(m).id
    os.chmod(path, 0o700)
    assert check(m).id


def test_new_store_in_a_writable_directory_is_refused(
    vendor: Vendor, lic: IssuedLicense, tmp_path: Path
) -> None:
    path = tmp_path / "shared"
    path.mkdir()
    os.chmod(path, 0o777)
    with pytest.raises(StoreError, match="chmod 700"):
        machine(vendor, "shared", path).import_license(lic, NOW)
    assert os.listdir(path) == []


def test_symlinked_state_directory_is_refused(
    vendor: Vendor, lic: IssuedLicense, tmp_path: Path
) -> None:
    real = activated(vendor, lic, "real")
    link = tmp_path / "link"
    link.symlink_to(real.path)
    before = snapshot(Path(real.path))
    for operation in (
        lambda m: check(m),
        lambda m: m.request(NOW, label="x"),
        lambda m: m.import_license(lic, NOW),
    ):
        with pytest.raises(StoreError) as info:
            operation(machine(vendor, "link", link))
        assert one_line(info.value) == (
            f"the state directory {link} is a symbolic link; use the directory it points to instead"
        )
    assert snapshot(Path(real.path)) == before
    assert check(real).id  # the real directory is fine


def test_state_path_that_is_a_file_is_refused(
    vendor: Vendor, lic: IssuedLicense, tmp_path: Path
) -> None:
    path = tmp_path / "state"
    path.write_bytes(b"not a directory")
    with pytest.raises(StoreError, match="is not a directory"):
        machine(vendor, "file", path).import_license(lic, NOW)
    assert path.read_bytes() == b"not a directory"


def test_cli_reports_an_unsafe_directory_in_one_line(
    vendor: Vendor, lic: IssuedLicense, trust: Path, capsys: Any
) -> None:
    path = Path(activated(vendor, lic, "state").path)
    os.chmod(path, 0o775)
    result = run_entry(capsys, lvcli.main, ("status", "--state-dir", str(path), "--trust", str(trust),
                                            "--product", PRODUCT, "--machine-id", MACHINE_ID))  # fmt: skip
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
    vendor: Vendor, lic: IssuedLicense, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = activated(vendor, lic, "template")
    installed = template.store.installed_activation()
    assert installed is not None
    active_id = activation_id(installed)
    old_receipt = receipt_activation(template.store)
    assert old_receipt is not None and old_receipt != active_id  # from the earlier round
    device_key = (Path(template.path) / "device.key").read_bytes()

    outcomes = []
    for fail_at in range(1, 20):
        path = tmp_path / f"state-{fail_at}"
        shutil.copytree(template.path, path)
        with monkeypatch.context() as patch:
            disk = DiskFull(patch, fail_at)
            with suppress(OSError, StoreError):
                receipt = machine(vendor, "copy", path).deactivate(NOW + timedelta(hours=2))
        fresh = machine(vendor, "copy", path)
        named = receipt_activation(fresh.store)
        try:
            checked = check(fresh)
        except licverify.LicenseError:
            # Deactivated (not-activated, or wrong-machine once the key was rotated): the
            # receipt for this activation exists, and nothing revives it.
            assert named == active_id, fail_at
            assert fresh.store.installed_activation() is None
            outcomes.append("deactivated")
        else:
            # Still activated: then no receipt names this activation.
            assert checked.activation is not None and checked.activation.activation_id == active_id
            assert named != active_id, fail_at
            assert (path / "device.key").read_bytes() == device_key
            outcomes.append("activated")
        if not disk.failed:
            break
        # Trying again finishes the job, with the receipt of the first attempt if it was made.
        again = fresh.deactivate(NOW + timedelta(hours=2, minutes=30))  # check() then is 30 min back
        assert receipt_activation(fresh.store) == active_id
        if outcomes[-1] == "deactivated":
            assert again == fresh.store.pending_receipt()
        assert not (path / "activation.cose").exists()
        assert (path / "device.key").read_bytes() != device_key
        assert fresh.store.pending_requests() == {}
        with pytest.raises(NotActivatedError):
            check(fresh)
    else:
        pytest.fail("deactivate never completed")
    assert receipt is not None
    # The first step (the receipt) fails cleanly; every later failure is after the commit.
    assert outcomes[0] == "activated" and outcomes[-1] == "deactivated"
    assert set(outcomes[1:]) == {"deactivated"}, outcomes


def test_interrupted_deactivation_is_finished_by_the_next_operation(
    vendor: Vendor, lic: IssuedLicense, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = activated(vendor, lic, "state")
    path = Path(m.path)
    device_key = (path / "device.key").read_bytes()
    with monkeypatch.context() as patch:
        DiskFull(patch, 2)  # the receipt is written; the new device key is not
        with pytest.raises((OSError, StoreError)):
            m.deactivate(NOW + timedelta(hours=3))
    assert (path / "activation.cose").exists()  # still on disk, but void
    with pytest.raises(NotActivatedError, match="deactivated"):
        check(m)
    # The next operation under the lock completes the cleanup first.
    m.request(NOW + timedelta(hours=4), label="next")
    assert not (path / "activation.cose").exists()
    assert (path / "device.key").read_bytes() != device_key
    assert len(m.store.pending_requests()) == 1


def test_failed_write_leaves_the_store_exactly_as_it_was(
    vendor: Vendor, lic: IssuedLicense, trust: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: Any,
) -> None:  # fmt: skip
    """A real write failure (rename fails: disk full) is one line, and leaves no temp file."""
    path = Path(activated(vendor, lic, "state").path)
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
                                                     str(trust), "--product", PRODUCT,
                                                     "--machine-id", MACHINE_ID,
                                                     "--json")).out)["status"] == "valid"  # fmt: skip
