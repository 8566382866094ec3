"""Helpers shared by the licsign and licverify command lines (and branded copies).

Not imported by ``licverify`` itself; applications do not need it.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone

from licverify._license import Frozen

__all__ = ["Duration", "escape_text", "format_duration", "parse_duration", "parse_when", "say"]


def escape_text(text: object) -> str:
    """Make text from a document or a customer safe to print on a terminal.

    Control characters (C0, DEL, C1: ESC, CR, BS, NUL ...), Unicode format
    characters (category Cf: the bidi overrides and isolates U+202A-202E and
    U+2066-2069, U+200E/200F, U+061C, zero-width characters), line and
    paragraph separators (U+2028/2029), surrogates, private-use and
    unassigned code points become visible escapes: ``\\x1b``, ``\\u202e``,
    ``\\U000e0001``. Printable text, spaces and non-ASCII letters pass
    unchanged. Backslashes are not doubled, so the result is for reading,
    not for parsing back; JSON output is exact and needs no escaping.

    Args:
        text: the text; anything else is converted with ``str()`` first.

    Returns:
        The text with every such character escaped.
    """
    value = text if isinstance(text, str) else str(text)
    if value.isprintable():  # the common case: nothing to do
        return value
    return "".join(_escape_char(ch) for ch in value)


def say(line: str, err: bool = False) -> None:
    """Print one line for people through ``escape_text`` (JSON output is printed as is).

    Both command lines use it for every human line that may quote a document,
    a customer or a ledger value (labels, users, names, metadata).
    """
    import click

    click.echo(escape_text(line), err=err)


def _escape_char(ch: str) -> str:
    # isprintable() is False for categories C* (Cc, Cf, Cs, Co, Cn) and Z* except
    # the ASCII space; of those only the space separators (Zs) are harmless.
    if ch.isprintable():
        return ch
    import unicodedata

    if unicodedata.category(ch) == "Zs":
        return ch
    point = ord(ch)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


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


#: One part of a duration: a number and a unit. ``m`` is matched only to be refused
#: with a hint (minutes or months?); ``min`` and ``mo`` come first in the alternation.
_DURATION_PART = re.compile(r"(\d{1,6})(min|mo|m|s|h|d|w|y)")
_UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNIT_MONTHS = {"mo": 1, "y": 12}


class Duration(Frozen):
    """A length of time: whole calendar months, then seconds (immutable).

    ``1mo`` and ``1y`` are calendar terms: ``add_to`` moves to the same day of
    the following month or year, clamped to that month's last day (31 Jan +
    1 mo = 28 or 29 Feb; 29 Feb 2028 + 1 y = 28 Feb 2029). ``s``, ``min``,
    ``h``, ``d`` and ``w`` are fixed numbers of seconds. Equal to a
    ``timedelta`` of the same length when it has no months.

    Args:
        months: calendar months (a year is 12).
        seconds: fixed seconds added after the months.

    Raises:
        TypeError: ``months`` or ``seconds`` is not an int.
    """

    __slots__ = ("months", "seconds")
    months: int
    seconds: int

    def __init__(self, months: int = 0, seconds: int = 0) -> None:
        if type(months) is not int or type(seconds) is not int:
            raise TypeError("Duration months and seconds must be integers")
        self._set(months=months, seconds=seconds)

    @classmethod
    def of(cls, value: Duration | timedelta) -> Duration:
        """``value`` as a Duration (a timedelta becomes whole seconds, no months).

        Raises:
            TypeError: ``value`` is neither.
        """
        if isinstance(value, Duration):
            return value
        if isinstance(value, timedelta):
            return cls(0, value // timedelta(seconds=1))
        raise TypeError(f"expected a Duration or a timedelta, not {type(value).__name__}")

    def add_to(self, when: datetime) -> datetime:
        """``when`` plus the calendar months (day clamped to the month's end), then the seconds.

        The months are counted in ``when``'s own zone; licsign passes UTC.

        Raises:
            ValueError: the result falls outside the years 1 to 9999.
        """
        try:
            result = when
            if self.months:
                year, month = divmod(when.year * 12 + when.month - 1 + self.months, 12)
                month += 1
                if not 1 <= year <= 9999:
                    raise ValueError
                result = when.replace(
                    year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1])
                )
            return result + timedelta(seconds=self.seconds)
        except (OverflowError, ValueError):
            raise ValueError(f"{self} after {when:%Y-%m-%d} is past the year 9999") from None

    def seconds_from(self, when: datetime) -> int:
        """How many seconds this duration lasts when it starts at ``when``.

        Raises:
            ValueError: as ``add_to``.
        """
        return (self.add_to(when) - when) // timedelta(seconds=1)

    def fixed(self) -> timedelta:
        """This duration as a timedelta, for options where a calendar month has no meaning.

        Raises:
            ValueError: the duration has months or years.
        """
        if self.months:
            raise ValueError(f"{self} is a calendar term; give a fixed length in s, min, h, d or w")
        return timedelta(seconds=self.seconds)

    def __bool__(self) -> bool:
        return bool(self.months or self.seconds)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Duration):
            return (self.months, self.seconds) == (other.months, other.seconds)
        if isinstance(other, timedelta):
            return not self.months and timedelta(seconds=self.seconds) == other
        return NotImplemented

    def __hash__(self) -> int:
        if not self.months:  # equal to a timedelta, so hash like one
            return hash(timedelta(seconds=self.seconds))
        return hash((self.months, self.seconds))

    def __repr__(self) -> str:
        return f"Duration(months={self.months}, seconds={self.seconds})"

    def __str__(self) -> str:
        return format_duration(self)


def parse_duration(text: str) -> Duration:
    """Parse a duration such as ``90s``, ``15min``, ``12h``, ``14d``, ``2w``, ``6mo``, ``1y``.

    ``mo`` and ``y`` are calendar months and years (see ``Duration``); parts
    may be combined (``1y6mo``, ``1d12h``). A bare ``m`` is refused: it
    meant minutes in earlier releases, and a vendor who meant a month got a
    license that ended after 60 seconds.

    Raises:
        ValueError: anything else, with a hint.
    """
    raw = text.strip().lower()
    parts: list[tuple[int, str]] = []
    position = 0
    while position < len(raw):
        match = _DURATION_PART.match(raw, position)
        if match is None:
            parts = []
            break
        parts.append((int(match.group(1)), match.group(2)))
        position = match.end()
    if not parts:
        raise ValueError(
            f"{text!r} is not a duration; use a number and s, min, h, d, w, mo or y "
            "(e.g. 30d, 1mo, 1y)"
        )
    months = seconds = 0
    for number, unit in parts:
        if unit == "m":
            raise ValueError(
                f"'{number}m' is ambiguous: use {number}min for minutes or {number}mo for months"
            )
        if unit in _UNIT_MONTHS:
            months += number * _UNIT_MONTHS[unit]
        else:
            seconds += number * _UNIT_SECONDS[unit]
    return Duration(months, seconds)


def format_duration(value: Duration | timedelta) -> str:
    """Short text for a duration, as ``parse_duration`` reads it: ``1y6mo``, ``14d``, ``90s``."""
    duration = Duration.of(value)
    if duration.months < 0 or duration.seconds < 0:
        return f"{duration.months}mo{duration.seconds}s"
    years, months = divmod(duration.months, 12)
    text = (f"{years}y" if years else "") + (f"{months}mo" if months else "")
    seconds = duration.seconds
    if seconds or not text:
        for unit in ("w", "d", "h", "min"):
            if seconds and seconds % _UNIT_SECONDS[unit] == 0:
                return f"{text}{seconds // _UNIT_SECONDS[unit]}{unit}"
        text += f"{seconds}s"
    return text


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

    def fail(line: str) -> None:
        # Messages quote documents, labels, user names and paths: escape them all.
        click.echo(escape_text(line), err=True)

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
        fail(f"{prog}: error: {exc.format_message()}")
        return exc.exit_code
    except click.Abort:
        fail(f"{prog}: aborted")
        return 1
    except KeyboardInterrupt:
        fail(f"{prog}: interrupted")
        return 130
    except LicenseError as exc:
        fail(f"{prog}: {exc.code}: {exc}")
        return 1
    except Exception as exc:
        code = getattr(exc, "code", None)
        if isinstance(code, str) and exc.__class__.__module__.startswith("licsign"):
            fail(f"{prog}: error: {exc}")
            return 2 if code in ("invalid-input", "workspace") else 1
        if isinstance(exc, OSError):
            fail(f"{prog}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
            return 1
        if debug:
            raise
        fail(f"{prog}: internal error: {exc.__class__.__name__}: {exc} "
             "(set LICSIGN_DEBUG=1 for details)")  # fmt: skip
        return 70
    finally:
        sys.stdout.flush()
