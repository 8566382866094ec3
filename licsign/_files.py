"""Careful file reading and atomic writing, shared by the ledger, keys and CLI."""

from __future__ import annotations

import os
import stat
import tempfile

from licsign._errors import AlreadyExists, InvalidInput, WorkspaceError
from licverify._store import fsync_directory


def read_regular_file(path: str, max_size: int, what: str = "file") -> bytes:
    """Read a regular file of at most ``max_size`` bytes.

    Refuses missing files, directories, symbolic links, devices and FIFOs,
    empty files and oversized files, each with one clear message.

    Raises:
        InvalidInput: any of the above.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path!r} does not exist") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path!r}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise InvalidInput(f"{what} {path!r} is a symbolic link; give the file itself")
    if stat.S_ISDIR(info.st_mode):
        raise InvalidInput(f"{what} {path!r} is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{what} {path!r} is not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(max_size + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path!r}: {exc.strerror}") from None
    if not data:
        raise InvalidInput(f"{what} {path!r} is empty")
    if len(data) > max_size:
        raise InvalidInput(f"{what} {path!r} is larger than {max_size} bytes")
    return data


def restrict_mode(path: str, mode: int, what: str) -> None:
    """Take away any permission bit of ``path`` beyond ``mode`` (e.g. group/other access).

    Used on the vendor workspace (0700) and the ledger files (0600): they hold
    customer names, e-mails and fingerprints. Files made by older releases
    are tightened, not refused; a missing path is left alone. Does nothing
    on Windows, where these bits do not control access.

    Raises:
        WorkspaceError: the mode is looser and cannot be changed (another owner).
    """
    if os.name == "nt":
        return
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise WorkspaceError(f"cannot check {what} {path!r}: {exc.strerror}") from None
    if not current & ~mode:
        return
    try:
        os.chmod(path, current & mode)
    except OSError as exc:
        raise WorkspaceError(
            f"{what} {path!r} is accessible by group or others and cannot be restricted"
            f" ({exc.strerror}); run: chmod {mode:o} {path}"
        ) from None


def create_private_file(path: str) -> None:
    """Create ``path`` empty with mode 0600 (no symlink followed); leave an existing file alone."""
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
        )
    except FileExistsError:
        return
    os.close(fd)


def check_writable(path: str, overwrite: bool) -> None:
    """Raise before any work is done if ``write_atomic(path)`` would certainly fail.

    Raises:
        AlreadyExists: ``path`` exists and ``overwrite`` is False.
        InvalidInput: any other reason (see ``licverify.cliutil.output_problem``).
    """
    from licverify.cliutil import output_problem

    problem = output_problem(path, overwrite)
    if problem is None:
        return
    if "already exists" in problem:
        raise AlreadyExists(problem)
    raise InvalidInput(problem)


def write_atomic(path: str, data: bytes, mode: int = 0o644, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename.

    A crash leaves either the old file (or none) or the complete new one.

    Raises:
        AlreadyExists: ``path`` exists and ``overwrite`` is False.
        InvalidInput: the directory cannot be written.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not overwrite and os.path.lexists(path):
        raise AlreadyExists(f"{path!r} already exists (use --force to replace it)")
    if os.path.isdir(path):
        raise InvalidInput(f"{path!r} is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    except OSError as exc:
        raise InvalidInput(f"cannot write in {directory!r}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the target appeared meanwhile, unlike rename().
            os.link(tmp, path)
            os.unlink(tmp)
        fsync_directory(directory)
    except FileExistsError:
        os.unlink(tmp)
        raise AlreadyExists(f"{path!r} already exists (use --force to replace it)") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
