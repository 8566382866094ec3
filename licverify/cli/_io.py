"""Reading the user's input files and writing output files or stdout, for every command.

Kept apart so the commands do not care where bytes come from or go; the
names and signatures are what the commands call.
"""

from __future__ import annotations

import sys

import click

from licverify import _fileio
from licverify.format import MAX_DOCUMENT_SIZE

#: Twice the largest licsign document, so an armored document still fits; anything
#: larger is refused unread rather than read whole into memory.
_MAX_INPUT = 2 * MAX_DOCUMENT_SIZE


def read_input(path: str, what: str) -> bytes:
    """Read a small regular file, refusing directories, symlinks, empty and oversized files."""
    try:
        data = _fileio.read_regular(path, _MAX_INPUT)
    except _fileio.FileProblem as problem:
        raise click.BadParameter(_read_problem(path, problem), param_hint=what) from None
    if not data:
        raise click.BadParameter(f"{path!r} is empty", param_hint=what)
    return data


def _read_problem(path: str, problem: _fileio.FileProblem) -> str:
    import stat

    if problem.reason in (_fileio.MISSING, _fileio.INACCESSIBLE):
        return f"{path!r} does not exist"
    if problem.reason == _fileio.NOT_REGULAR:
        if stat.S_ISLNK(problem.mode):
            return f"{path!r} is a symbolic link; give the file itself"
        return f"{path!r} is not a regular file"
    if problem.reason == _fileio.TOO_LARGE:
        return f"{path!r} is too large to be a licsign document"
    return f"cannot read {path!r}: {problem.strerror}"


def _check_output(path: str, force: bool) -> None:
    problem = _fileio.output_problem(path, force)
    if problem is not None:
        raise click.UsageError(problem)


def _write(path: str, data: bytes, force: bool) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        _fileio.write_atomic(path, data, mode=0o644, overwrite=force)
    except _fileio.FileProblem as problem:
        if problem.reason == _fileio.EXISTS:
            raise click.UsageError(f"{path!r} already exists (use --force to replace it)") from None
        raise click.ClickException(str(problem)) from None
