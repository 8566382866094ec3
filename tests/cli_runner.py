"""Running a console-script entry point in-process, for the CLI tests (see harness.Site)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any, NamedTuple


class Result(NamedTuple):
    code: int
    out: str
    err: str


def run_entry(
    capsys: Any | None, entry: Callable[[list[str]], None], args: tuple[str, ...]
) -> Result:
    """Call ``entry(args)``, which must exit; return its status and output (never a traceback).

    Args:
        capsys: pytest's capture fixture; None (where there is none, e.g. in a
            module-scoped fixture) captures by redirecting ``sys.stdout`` and ``sys.stderr``.
        entry: a ``main(argv)`` that exits.
        args: its arguments.
    """
    if capsys is None:
        out_buffer, err_buffer = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out_buffer), contextlib.redirect_stderr(err_buffer):
            code = _exit_status(entry, args)
        out, err = out_buffer.getvalue(), err_buffer.getvalue()
    else:
        capsys.readouterr()
        code = _exit_status(entry, args)
        out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert isinstance(code, int)
    return Result(code, out, err)


def _exit_status(entry: Callable[[list[str]], None], args: tuple[str, ...]) -> Any:
    try:
        entry(list(args))
    except SystemExit as exc:
        return exc.code
    raise AssertionError("entry point returned instead of exiting")  # pragma: no cover
