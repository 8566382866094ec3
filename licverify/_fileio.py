"""Careful file access for the store, both command lines and licsign: the only copy.

Three operations, each refusing what is not a plain file instead of hanging
on it or following it (format §12.1, docs/adr/0014-store-package.md):

- ``read_regular``: one bounded read of a regular file;
- ``write_atomic``: temp file in the same directory, fsync, rename, fsync
  the directory;
- ``exclusive_lock``: a blocking ``flock`` on a lock file.

Every refusal or failure is a ``FileProblem`` whose ``reason`` says what
went wrong; each caller turns it into its own error type and wording.
Standard library only, and no ``tempfile`` (about 5 ms of imports for one
random name): ``licverify`` loads this with its store.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress

#: ``FileProblem.reason`` values.
MISSING = "missing"  # nothing at the path (or a parent directory is missing)
INACCESSIBLE = "inaccessible"  # the path itself cannot be looked at (a parent not searchable)
NOT_REGULAR = "not-regular"  # a link, directory, FIFO, socket or device is there
TOO_LARGE = "too-large"
CANNOT_OPEN = "cannot-open"
CANNOT_READ = "cannot-read"
EXISTS = "exists"  # writing without overwrite, and the target exists
CANNOT_CREATE = "cannot-create"  # no temp file can be made in the target's directory
CANNOT_WRITE = "cannot-write"  # writing, syncing or renaming the temp file failed

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: Flags for every file opened here: never block on a FIFO or device (the type
#: is checked right after, with fstat), never make a terminal our controlling one.
_OPEN_FLAGS = (
    getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)  # fmt: skip
_TEMP_PREFIX = ".tmp-"
#: 64 random bits per name: a collision means something else is creating names there.
_TEMP_ATTEMPTS = 100
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)  # fmt: skip


class FileProblem(Exception):
    """A file was refused, or could not be read or written.

    Attributes:
        reason: one of the module's reason constants (``MISSING``, ``NOT_REGULAR``...).
        path: the file (the directory for ``CANNOT_CREATE``).
        mode: for ``NOT_REGULAR``, the ``st_mode`` of what is there; else 0.
        error: the ``OSError`` behind it, if any.

    ``str()`` is one line that says what happened.
    """

    def __init__(
        self, reason: str, path: str, message: str, *, mode: int = 0, error: OSError | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.path = path
        self.mode = mode
        self.error = error

    @property
    def strerror(self) -> str:
        """The operating system's words for ``error`` (the message if there is no error)."""
        return _why(self.error) if self.error is not None else str(self)

    @property
    def kind(self) -> str:
        """For ``NOT_REGULAR``: what is there instead, e.g. ``"a FIFO"``."""
        return _describe(self.mode)


def read_regular(path: str, max_size: int, *, follow_symlinks: bool = False) -> bytes:
    """Read the regular file ``path``, of at most ``max_size`` bytes (it may be empty).

    A directory, FIFO, socket or device is refused at once, without blocking;
    a symbolic link is refused too unless ``follow_symlinks``. At most
    ``max_size + 1`` bytes are ever read.

    Raises:
        FileProblem: ``MISSING``, ``INACCESSIBLE``, ``NOT_REGULAR``, ``CANNOT_OPEN``,
            ``CANNOT_READ`` or ``TOO_LARGE``.
    """
    fd = _open_regular(path, os.O_RDONLY, follow_symlinks)
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= max_size:
            chunk = os.read(fd, max_size + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FileProblem(
            CANNOT_READ, path, f"cannot read {path}: {_why(exc)}", error=exc
        ) from None
    finally:
        os.close(fd)
    if size > max_size:
        raise FileProblem(TOO_LARGE, path, f"{path} is larger than {max_size} bytes")
    return b"".join(chunks)


def write_atomic(path: str, data: bytes, *, mode: int = 0o600, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file (or none) or all of the new.

    The bytes go to a new temp file in the same directory (0600, never through
    a link), are fsync'd, get ``mode``, and are renamed over ``path``; then the
    directory is fsync'd. A symbolic link at ``path`` is replaced, not
    followed. Without ``overwrite`` an existing ``path`` is refused, also one
    that appears meanwhile. On any failure the temp file is removed.

    Raises:
        FileProblem: ``EXISTS``, ``CANNOT_CREATE`` (the directory) or ``CANNOT_WRITE``.
    """
    if not overwrite and os.path.lexists(path):
        raise FileProblem(EXISTS, path, f"{path} already exists")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = _create_temp(directory)
    leftover: str | None = tmp
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):  # the exact mode, whatever the umask says
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
            leftover = None
        else:
            _link_new(tmp, path)
    except OSError as exc:
        message = f"cannot write {path}: {_why(exc)}"
        raise FileProblem(CANNOT_WRITE, path, message, error=exc) from None
    finally:
        if leftover is not None:
            with suppress(OSError):
                os.unlink(leftover)
    fsync_directory(directory)


@contextmanager
def exclusive_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock on the lock file ``path`` for the ``with`` block.

    The file is created 0600 if missing and opened without following a link;
    anything but a regular file there is refused. Waits as long as another
    process holds the lock (no timeout); closing the file releases it.

    Raises:
        FileProblem: as ``read_regular`` (``MISSING`` if the directory is gone).
        OSError: the lock cannot be taken.
    """
    fd = _open_regular(path, os.O_RDWR | os.O_CREAT, False)
    try:
        _flock(fd)
        yield
    finally:
        os.close(fd)


def fsync_directory(path: str) -> None:
    """Make a rename in ``path`` durable (best effort where directories cannot be fsync'd)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def output_problem(path: str, overwrite: bool) -> str | None:
    """Why writing a file at ``path`` would fail, or None. Call it before doing any work.

    Checks that ``path`` is not a directory, does not exist (unless
    ``overwrite``), that its directory exists and is writable, and that the
    name fits the file system's limits (a name that is too long would only
    fail at the very end, after a ledger or store has changed). ``-`` (stdout)
    is always fine.
    """
    if path == "-":
        return None
    if os.path.isdir(path):
        return f"{path!r} is a directory"
    if not overwrite and os.path.lexists(path):
        return f"{path!r} already exists (use --force to replace it)"
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"directory {directory!r} does not exist"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"cannot write in {directory!r}"
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
        path_max = os.pathconf(directory, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX: leave it to the write
        return None
    if len(os.fsencode(os.path.basename(path))) > name_max:
        return f"file name is longer than {name_max} bytes: {os.path.basename(path)[:40]!r}..."
    if len(os.fsencode(os.path.abspath(path))) >= path_max:
        return f"path is longer than {path_max} bytes"
    return None


def _open_regular(path: str, flags: int, follow_symlinks: bool) -> int:
    """Open ``path`` without blocking; return the descriptor only if it is a regular file."""
    nofollow = 0 if follow_symlinks else _NOFOLLOW
    if not follow_symlinks and not _NOFOLLOW:  # Windows: look first (racy, the best there is)
        with suppress(OSError):
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                raise _not_regular(path, mode)
    try:
        fd = os.open(path, flags | nofollow | _OPEN_FLAGS, 0o600)
    except OSError as exc:
        raise _open_failure(path, exc, follow_symlinks) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise FileProblem(
            CANNOT_OPEN, path, f"cannot open {path}: {_why(exc)}", error=exc
        ) from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular(path, mode)
    return fd


def _open_failure(path: str, exc: OSError, follow_symlinks: bool) -> FileProblem:
    """Say what is at ``path`` when opening it failed, rather than the errno.

    ELOOP (EMLINK, EFTYPE on BSDs) for a link under O_NOFOLLOW, ENXIO for a
    socket, EISDIR for a directory opened for writing.
    """
    if isinstance(exc, FileNotFoundError):
        return FileProblem(MISSING, path, f"{path} does not exist", error=exc)
    try:
        mode = (os.stat if follow_symlinks else os.lstat)(path).st_mode
    except FileNotFoundError:
        return FileProblem(MISSING, path, f"{path} does not exist", error=exc)
    except OSError:
        return FileProblem(INACCESSIBLE, path, f"cannot open {path}: {_why(exc)}", error=exc)
    if not stat.S_ISREG(mode):
        return _not_regular(path, mode)
    return FileProblem(CANNOT_OPEN, path, f"cannot open {path}: {_why(exc)}", error=exc)


def _not_regular(path: str, mode: int) -> FileProblem:
    message = f"{path} is {_describe(mode)}, not a regular file"
    return FileProblem(NOT_REGULAR, path, message, mode=mode)


def _describe(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _create_temp(directory: str) -> tuple[int, str]:
    """A new empty 0600 file with an unused random name in ``directory``: (descriptor, path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _OPEN_FLAGS
    for _ in range(_TEMP_ATTEMPTS):
        tmp = os.path.join(directory, _TEMP_PREFIX + os.urandom(8).hex())
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
        except OSError as exc:
            message = f"cannot write in {directory}: {_why(exc)}"
            raise FileProblem(CANNOT_CREATE, directory, message, error=exc) from None
    raise FileProblem(CANNOT_CREATE, directory, f"cannot write in {directory}: no unused name")


def _link_new(tmp: str, path: str) -> None:
    """Give the finished ``tmp`` the name ``path`` only if that name is still free."""
    try:
        os.link(tmp, path)  # unlike rename(), fails if the target appeared meanwhile
    except FileExistsError as exc:
        raise FileProblem(EXISTS, path, f"{path} already exists", error=exc) from None


def _flock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


__all__ = [
    "CANNOT_CREATE",
    "CANNOT_OPEN",
    "CANNOT_READ",
    "CANNOT_WRITE",
    "EXISTS",
    "INACCESSIBLE",
    "MISSING",
    "NOT_REGULAR",
    "TOO_LARGE",
    "FileProblem",
    "exclusive_lock",
    "fsync_directory",
    "output_problem",
    "read_regular",
    "write_atomic",
]
