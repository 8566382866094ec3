"""The state directory and its files (docs/format.md §12, §12.1).

One name per file here, so the directory's contents are listed in one place.
Reads are bounded and take only regular files, writes are atomic, and one
lock file serializes the application's processes; all through
``licverify._fileio``, with its refusals turned into ``StoreError``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from licverify._cbor import MAX_DOCUMENT_SIZE
from licverify._errors import StoreError
from licverify._fileio import (
    MISSING,
    NOT_REGULAR,
    TOO_LARGE,
    FileProblem,
    exclusive_lock,
    fsync_directory,
    read_regular,
    write_atomic,
)

DEVICE_KEY = "device.key"
LICENSE = "license.cose"
ACTIVATION = "activation.cose"
PENDING = "pending.json"
RECEIPT = "receipt.cose"
STATE_KEY = "state.key"
STATE_HEAD = "state.bin"
COUNTER_LOG = "counters.log"
LOCK = ".lock"
_POSIX = os.name == "posix"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class StoreFiles:
    """The state directory ``path``: checked, created private, read, written and locked.

    The store's feature modules (``device``, ``licenses``, ``pending``,
    ``activation``) take an instance and go through ``_read``, ``_write`` and
    ``_remove``; nothing else in the package touches the file system. The
    methods stay underscored: they are the package's, not ``LocalStore``'s
    public surface (tests replace ``_write``/``_remove`` to simulate a full disk).
    """

    def __init__(self, path: str) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("path must be a directory path")
        self.path = os.path.abspath(os.fspath(path))

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def _read(self, name: str) -> bytes | None:
        """A store file's bytes, or None if it does not exist.

        Only a regular file is read, never through a symbolic link, and never
        more than one document's worth: a FIFO, device, directory or link in
        its place is refused at once instead of blocking or being followed.
        """
        try:
            return read_regular(self._file(name), MAX_DOCUMENT_SIZE)
        except FileProblem as problem:
            if problem.reason == MISSING:
                return None
            raise StoreError(_say(problem)) from None

    def _write(self, name: str, data: bytes) -> None:
        """Replace a store file atomically (0600)."""
        path = self._file(name)
        try:
            write_atomic(path, data)
        except FileProblem as problem:
            raise StoreError(f"cannot write {path}: {problem.strerror}") from None

    def _remove(self, name: str) -> None:
        path = self._file(name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot remove {path}: {exc.strerror or exc}") from None
        fsync_directory(self.path)

    def _log_size(self, name: str) -> int:
        """The size of the append-only file ``name`` (0 if missing); a link or any other
        kind of file there is refused."""
        try:
            info = os.lstat(self._file(name))
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreError(f"cannot use {self._file(name)}: {exc.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"{self._file(name)} is not a regular file; move it away")
        return info.st_size

    def _log_read(self, name: str, offset: int, size: int) -> bytes:
        """``size`` bytes of the append-only file ``name`` from ``offset`` (fewer at its end)."""
        try:
            fd = os.open(self._file(name), os.O_RDONLY | _NOFOLLOW)
            try:
                return os.pread(fd, size, offset)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"cannot read {self._file(name)}: {exc.strerror}") from None

    def _log_append(self, name: str, data: bytes, keep: int) -> None:
        """Cut the append-only file ``name`` to ``keep`` bytes, then append ``data`` and fsync:
        the bytes are on disk when this returns (under the lock)."""
        path = self._file(name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW, 0o600)
            try:
                if os.fstat(fd).st_size != keep:
                    os.ftruncate(fd, keep)  # a torn record a crash left: never committed
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror}") from None

    def _check_directory(self) -> bool:
        """Whether the state directory exists; refuse one that is unsafe to use (format §12).

        The directory itself must not be a symbolic link (give the directory it
        points to), and on POSIX must not be writable by group or others: who
        can write there can swap the device key or the activation.
        """
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(
                f"cannot use the state directory {self.path}: {exc.strerror}"
            ) from None
        if stat.S_ISLNK(info.st_mode):
            raise StoreError(
                f"the state directory {self.path} is a symbolic link; "
                "use the directory it points to instead"
            )
        if not stat.S_ISDIR(info.st_mode):
            raise StoreError(f"the state directory {self.path} is not a directory")
        if _POSIX and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise StoreError(
                f"the state directory {self.path} is writable by other users; "
                f"make it private first: chmod 700 '{self.path}'"
            )
        return True

    def _create_directory(self) -> None:
        """Create the state directory 0700 (whatever the umask or default ACL says)."""
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            os.mkdir(self.path, 0o700)
            os.chmod(self.path, 0o700)
        except FileExistsError:
            pass  # made by another process meanwhile, or something else is there: checked below
        except OSError as exc:
            raise StoreError(
                f"cannot create the state directory {self.path}: {exc.strerror or exc}"
            ) from None
        if not self._check_directory():
            raise StoreError(f"cannot create the state directory {self.path}")

    @contextmanager
    def _lock_directory(self, create: bool) -> Iterator[None]:
        """Hold the store's lock; with ``create``, make the state directory first if needed."""
        if not self._check_directory():
            if not create:
                # Only importing a license starts a store; a failed command leaves no trace.
                raise StoreError(f"no licensing state in {self.path}; import a license first")
            self._create_directory()
        with ExitStack() as stack:
            try:
                stack.enter_context(exclusive_lock(self._file(LOCK)))
            except FileProblem as problem:
                if problem.reason == MISSING:
                    raise StoreError(f"the state directory {self.path} disappeared") from None
                raise StoreError(_say(problem)) from None
            yield


def _say(problem: FileProblem) -> str:
    """The store's wording for a refused read (format §12.1)."""
    if problem.reason == NOT_REGULAR:
        return f"{problem}; the licensing state uses only regular files (move it away)"
    if problem.reason == TOO_LARGE:
        return f"{problem.path} is larger than any licsign document"
    return str(problem)
