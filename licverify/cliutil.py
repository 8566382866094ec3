"""Helpers shared by the licsign and licverify command lines (and branded copies).

Not imported by ``licverify`` itself; applications do not need it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_duration", "parse_duration", "parse_when"]

_DURATION = re.compile(r"(\d{1,6})([smhdwy])\Z")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_when(text: str) -> datetime:
    """Parse a date or date-time given on a command line.

    ``2027-01-31`` means midnight UTC at the start of that day; a date-time
    without a zone (``2027-01-31T12:00``) is UTC; ``...Z`` and offsets are
    honoured. Returns an aware datetime.

    Raises:
        ValueError: anything else, with a message that shows the forms accepted.
    """
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def parse_duration(text: str) -> timedelta:
    """Parse ``30s``, ``15m``, ``12h``, ``14d``, ``2w`` or ``1y`` (365 days).

    Raises:
        ValueError: anything else.
    """
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; use a number and s, m, h, d, w or y (e.g. 365d)"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def format_duration(delta: timedelta) -> str:
    """Short text for a duration: ``14d``, ``12h``, ``90s``."""
    seconds = int(delta.total_seconds())
    for unit in ("y", "w", "d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def output_problem(path: str, overwrite: bool) -> str | None:
    """Why writing a file at ``path`` would fail, or None. Call it before doing any work.

    Checks that ``path`` is not a directory, does not exist (unless
    ``overwrite``), that its directory exists and is writable, and that the
    name fits the file system's limits (a name that is too long would only
    fail at the very end, after a ledger or store has changed).
    """
    import os

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


def run_click(command: object, prog: str, args: list[str] | None = None) -> int:
    """Run a click command and turn every failure into one line and an exit status.

    Exit statuses: 0 success; 1 the operation was refused or the document is
    not valid; 2 usage error (bad option, missing or unreadable input); 70 an
    unexpected internal error (set ``LICSIGN_DEBUG=1`` to see the traceback).
    Never prints a traceback otherwise.
    """
    import os
    import sys

    import click

    from licverify import LicenseError

    debug = bool(os.environ.get("LICSIGN_DEBUG"))
    try:
        result = command.main(args=args, prog_name=prog, standalone_mode=False)  # type: ignore[attr-defined]
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        no_args = getattr(click.exceptions, "NoArgsIsHelpError", None)  # click >= 8.2
        if no_args is not None and isinstance(exc, no_args) and exc.ctx is not None:
            # No command given: show the help, as people expect; it is not an error.
            click.echo(exc.ctx.get_help())
            return 0
        # One line, no usage block: scripts and people both read it easily.
        click.echo(f"{prog}: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo(f"{prog}: aborted", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo(f"{prog}: interrupted", err=True)
        return 130
    except LicenseError as exc:
        click.echo(f"{prog}: {exc.code}: {exc}", err=True)
        return 1
    except Exception as exc:
        code = getattr(exc, "code", None)
        if isinstance(code, str) and exc.__class__.__module__.startswith("licsign"):
            click.echo(f"{prog}: error: {exc}", err=True)
            return 2 if code in ("invalid-input", "workspace") else 1
        if isinstance(exc, OSError):
            click.echo(
                f"{prog}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True
            )
            return 1
        if debug:
            raise
        click.echo(f"{prog}: internal error: {exc.__class__.__name__}: {exc} "
                   "(set LICSIGN_DEBUG=1 for details)", err=True)  # fmt: skip
        return 70
    finally:
        sys.stdout.flush()
