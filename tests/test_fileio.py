"""The one bounded read, atomic write and lock shared by the store, both CLIs and licsign.

``licverify._fileio`` refuses what is not a plain file at once (a FIFO used
to hang ``licverify status``), never follows a link unless asked, never
reads past its bound, and leaves the old file whole when a write fails.
The callers' own wording is tested where they are (test_store_hardening,
test_bad_inputs*, test_workspace_hardening).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from licverify import _fileio
from licverify._fileio import FileProblem, exclusive_lock, read_regular, write_atomic


@contextmanager
def deadline(seconds: int = 10) -> Iterator[None]:
    """Fail instead of hanging."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def refused(path: Path, **kwargs: Any) -> FileProblem:
    with deadline(), pytest.raises(FileProblem) as info:
        read_regular(str(path), 100, **kwargs)
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    return info.value


def temp_files(directory: Path) -> list[str]:
    return [name for name in os.listdir(directory) if name.startswith(".tmp-")]


# --- read_regular ----------------------------------------------------------------------------


def test_reads_a_regular_file_up_to_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "doc"
    path.write_bytes(b"x" * 100)
    assert read_regular(str(path), 100) == b"x" * 100
    path.write_bytes(b"")
    assert read_regular(str(path), 100) == b""  # empty is the caller's call


def test_one_byte_over_the_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "doc"
    path.write_bytes(b"x" * 101)
    problem = refused(path)
    assert problem.reason == _fileio.TOO_LARGE
    assert str(problem) == f"{path} is larger than 100 bytes"


def test_a_huge_file_is_not_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge"
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)  # sparse: 1 GiB that costs nothing on disk
    asked: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", counting_read)
    assert refused(path).reason == _fileio.TOO_LARGE
    assert sum(asked) <= 101


def test_missing_file(tmp_path: Path) -> None:
    problem = refused(tmp_path / "nothing")
    assert problem.reason == _fileio.MISSING
    assert refused(tmp_path / "no-dir" / "nothing").reason == _fileio.MISSING


def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)  # no writer: a blocking open would wait forever
    problem = refused(path)
    assert problem.reason == _fileio.NOT_REGULAR and stat.S_ISFIFO(problem.mode)
    assert str(problem) == f"{path} is a FIFO, not a regular file"


@pytest.mark.parametrize("dangling", [False, True])
def test_symlink_is_refused_unless_asked(tmp_path: Path, dangling: bool) -> None:
    target = tmp_path / "target"
    if not dangling:
        target.write_bytes(b"followed")
    link = tmp_path / "link"
    link.symlink_to(target)
    problem = refused(link)
    assert problem.reason == _fileio.NOT_REGULAR and stat.S_ISLNK(problem.mode)
    assert problem.kind == "a symbolic link"
    if dangling:
        assert refused(link, follow_symlinks=True).reason == _fileio.MISSING
    else:
        assert read_regular(str(link), 100, follow_symlinks=True) == b"followed"


def test_symlink_to_a_fifo_is_refused_when_followed(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "fifo")
    problem = refused(tmp_path / "link", follow_symlinks=True)
    assert problem.reason == _fileio.NOT_REGULAR and problem.kind == "a FIFO"


def test_directory_socket_and_device_are_refused(tmp_path: Path) -> None:
    assert refused(tmp_path).kind == "a directory"
    sock = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)  # a relative name: a Unix socket path is limited to ~108 bytes
        sock.bind("sock")
    finally:
        os.chdir(cwd)
        sock.close()
    assert refused(tmp_path / "sock").kind == "a socket"
    if os.path.exists("/dev/null"):
        assert refused(Path("/dev/null")).kind == "a character device"


def test_unreadable_file_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"x")
    real_open = os.open

    def denied(name: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(name) == str(path):  # as chmod 000 would, even when the tests run as root
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    problem = refused(path)
    assert problem.reason == _fileio.CANNOT_OPEN and problem.strerror == "Permission denied"


# --- write_atomic ----------------------------------------------------------------------------


def test_write_creates_with_the_exact_mode(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "out"
    write_atomic(str(path), b"new", mode=0o640)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    write_atomic(str(path), b"newer")  # default 0600, replacing
    assert path.read_bytes() == b"newer" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert temp_files(tmp_path) == []


def test_write_without_overwrite_keeps_the_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"old")
    with pytest.raises(FileProblem) as info:
        write_atomic(str(path), b"new", overwrite=False)
    assert info.value.reason == _fileio.EXISTS
    assert path.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_write_without_overwrite_loses_no_race(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target appears between the check and the rename: it is kept, not replaced."""
    path = tmp_path / "out"
    real_fsync = os.fsync

    def meanwhile(fd: int) -> None:
        real_fsync(fd)
        if not path.exists():
            path.write_bytes(b"theirs")

    monkeypatch.setattr(os, "fsync", meanwhile)
    with pytest.raises(FileProblem) as info:
        write_atomic(str(path), b"ours", overwrite=False)
    assert info.value.reason == _fileio.EXISTS
    assert path.read_bytes() == b"theirs" and temp_files(tmp_path) == []


@pytest.mark.parametrize(
    ("failing", "overwrite"),
    [("fchmod", True), ("fsync", True), ("replace", True), ("link", False)],
)
def test_failed_write_leaves_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, overwrite: bool
) -> None:
    path = tmp_path / "out"
    if overwrite:
        path.write_bytes(b"old")

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, failing, full)
    with pytest.raises(FileProblem) as info:
        write_atomic(str(path), b"new", overwrite=overwrite)
    monkeypatch.undo()
    assert info.value.reason == _fileio.CANNOT_WRITE
    assert str(info.value) == f"cannot write {path}: No space left on device"
    assert isinstance(info.value.error, OSError) and info.value.error.errno == errno.ENOSPC
    assert (path.read_bytes() == b"old") if overwrite else not path.exists()
    assert temp_files(tmp_path) == []


def test_interrupted_write_removes_its_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"old")

    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(str(path), b"new")
    assert path.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_write_replaces_a_link_instead_of_following_it(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_bytes(b"precious")
    link = tmp_path / "out"
    link.symlink_to(target)
    write_atomic(str(link), b"new")
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert target.read_bytes() == b"precious"


def test_write_into_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileProblem) as info:
        write_atomic(str(tmp_path / "no-dir" / "out"), b"new")
    assert info.value.reason == _fileio.CANNOT_CREATE
    assert info.value.path == str(tmp_path / "no-dir")
    assert info.value.strerror == "No such file or directory"


# --- exclusive_lock ------------------------------------------------------------------------


def test_lock_excludes_a_second_holder_until_released(tmp_path: Path) -> None:
    lock = str(tmp_path / ".lock")
    events: list[str] = []
    second_has_it = threading.Event()

    def second() -> None:
        with exclusive_lock(lock):  # a separate open file: flock makes it wait
            events.append("second")
            second_has_it.set()

    with exclusive_lock(lock):
        thread = threading.Thread(target=second)
        thread.start()
        assert not second_has_it.wait(0.3)
        events.append("first done")
    assert second_has_it.wait(10)
    thread.join(10)
    assert events == ["first done", "second"]
    assert stat.S_IMODE(os.lstat(lock).st_mode) & 0o077 == 0


@pytest.mark.parametrize("dangling", [False, True])
def test_lock_file_link_is_refused_and_not_followed(tmp_path: Path, dangling: bool) -> None:
    target = tmp_path / "victim"
    if not dangling:
        target.write_bytes(b"precious")
    (tmp_path / ".lock").symlink_to(target)
    with deadline(), pytest.raises(FileProblem) as info, exclusive_lock(str(tmp_path / ".lock")):
        pass
    assert info.value.reason == _fileio.NOT_REGULAR and info.value.kind == "a symbolic link"
    assert (target.read_bytes() == b"precious") if not dangling else not target.exists()


def test_lock_file_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".lock")
    with deadline(), pytest.raises(FileProblem) as info, exclusive_lock(str(tmp_path / ".lock")):
        pass
    assert info.value.kind == "a FIFO"


def test_lock_in_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileProblem) as info, exclusive_lock(str(tmp_path / "gone" / ".lock")):
        pass
    assert info.value.reason == _fileio.MISSING


# --- fsync_directory, output_problem ------------------------------------------------------------


def test_fsync_directory_is_best_effort(tmp_path: Path) -> None:
    _fileio.fsync_directory(str(tmp_path))
    _fileio.fsync_directory(str(tmp_path / "missing"))  # nothing to do, no error


def test_output_problem(tmp_path: Path) -> None:
    existing = tmp_path / "exists"
    existing.write_bytes(b"x")
    assert _fileio.output_problem("-", False) is None
    assert _fileio.output_problem(str(tmp_path / "new"), False) is None
    assert _fileio.output_problem(str(existing), True) is None
    assert _fileio.output_problem(str(existing), False) == (
        f"{str(existing)!r} already exists (use --force to replace it)"
    )
    assert _fileio.output_problem(str(tmp_path), True) == f"{str(tmp_path)!r} is a directory"
    missing_dir = tmp_path / "no-dir"
    assert _fileio.output_problem(str(missing_dir / "x"), True) == (
        f"directory {str(missing_dir)!r} does not exist"
    )
    assert "longer than" in (_fileio.output_problem(str(tmp_path / ("n" * 300)), True) or "")
