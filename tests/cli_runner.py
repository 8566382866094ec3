"""Running a console-script entry point in-process, for the CLI tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Result(NamedTuple):
    code: int
    out: str
    err: str


def run_entry(capsys: Any, entry: Callable[[list[str]], None], args: tuple[str, ...]) -> Result:
    """Call ``entry(args)``, which must exit; return its status and output (never a traceback)."""
    capsys.readouterr()
    try:
        entry(list(args))
    except SystemExit as exc:
        code = exc.code
    else:  # pragma: no cover - the entry points always exit
        raise AssertionError("entry point returned instead of exiting")
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert isinstance(code, int)
    return Result(code, out, err)
