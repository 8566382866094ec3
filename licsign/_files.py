"""Careful file reading and atomic writing for the ledger, keys and CLI: licsign's wording.

The work is done once, in ``licverify._fileio`` (shared with the local store
and the licverify command line); these wrappers keep licsign's messages and
error types (``InvalidInput``, ``AlreadyExists``, ``WorkspaceError``).
"""

from __future__ import annotations

import os
import stat

from licsign._errors import AlreadyExists, InvalidInput, WorkspaceError
from licverify import _fileio
from licverify._fileio import FileProblem


def read_regular_file(path: str, max_size: int, what: str = "file") -> bytes:
    """Read a regular file of at most ``max_size`` bytes.

    Refuses missing files, directories, symbolic links, devices and FIFOs,
    empty files and oversized files, each with one clear message. Never
    blocks on a FIFO or device.

    Raises:
        InvalidInput: any of the above.
    """
    try:
        data = _fileio.read_regular(path, max_size)
    except FileProblem as problem:
        raise InvalidInput(_unreadable(problem, path, max_size, what)) from None
    if not data:
        raise InvalidInput(f"{what} {path!r} is empty")
    return data


def _unreadable(problem: FileProblem, path: str, max_size: int, what: str) -> str:
    """licsign's wording for a file ``read_regular`` refused."""
    if problem.reason == _fileio.MISSING:
        return f"{what} {path!r} does not exist"
    if problem.reason == _fileio.NOT_REGULAR:
        if stat.S_ISLNK(problem.mode):
            return f"{what} {path!r} is a symbolic link; give the file itself"
        if stat.S_ISDIR(problem.mode):
            return f"{what} {path!r} is a directory"
        return f"{what} {path!r} is not a regular file"
    if problem.reason == _fileio.TOO_LARGE:
        return f"{what} {path!r} is larger than {max_size} bytes"
    return f"cannot read {what} {path!r}: {problem.strerror}"


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
        InvalidInput: any other reason (see ``licverify._fileio.output_problem``).
    """
    problem = _fileio.output_problem(path, overwrite)
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
        InvalidInput: ``path`` is a directory, or its directory cannot be written.
        OSError: writing failed (a full disk); ``path`` is as it was.
    """
    if not overwrite and os.path.lexists(path):
        raise AlreadyExists(f"{path!r} already exists (use --force to replace it)")
    if os.path.isdir(path):
        raise InvalidInput(f"{path!r} is a directory")
    try:
        _fileio.write_atomic(path, data, mode=mode, overwrite=overwrite)
    except FileProblem as problem:
        if problem.reason == _fileio.EXISTS:
            raise AlreadyExists(f"{path!r} already exists (use --force to replace it)") from None
        if problem.reason == _fileio.CANNOT_CREATE:
            directory = os.path.dirname(os.path.abspath(path))
            raise InvalidInput(f"cannot write in {directory!r}: {problem.strerror}") from None
        if problem.error is None:
            raise
        # As ever, the system's own error: the command line names the file and the cause.
        raise problem.error from None
