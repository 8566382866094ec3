"""What every licsign command shares: the workspace, the passphrase, output helpers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import click

from licsign._errors import InvalidInputError, LicsignError
from licsign._files import read_regular_file, write_atomic
from licsign._validation import InvalidFieldError
from licverify.cliutil import escape_text, say

__all__ = ["Context", "LicsignError", "pass_context", "say"]

PASSPHRASE_ENV = "LICSIGN_PASSPHRASE"
HOME_ENV = "LICSIGN_HOME"
LEDGER_ENV = "LICSIGN_LEDGER"


def default_home() -> str:
    """The platform's user data directory for licsign."""
    import platformdirs

    return platformdirs.user_data_dir("licsign", appauthor=False)


class Context:
    """Options from the group, and lazily opened resources."""

    def __init__(
        self, home: str | None, passphrase_file: str | None, ledger: str | None = None
    ) -> None:
        self.home = home or default_home()
        self.ledger = ledger or None
        self.passphrase_file = passphrase_file
        self._workspace: Any = None
        self._passphrase: bytes | None = None

    def workspace(self) -> Any:
        """The opened workspace (Workspace)."""
        if self._workspace is None:
            from licsign._workspace import Workspace

            self._workspace = Workspace(self.home, self.ledger)
        return self._workspace

    def passphrase(self, confirm: bool = False) -> bytes:
        """The passphrase: --passphrase-file, then $LICSIGN_PASSPHRASE, then a hidden prompt.

        It must be UTF-8 text; if it is not, one line says where it came from
        and never shows any of its bytes (they are part of a secret).
        """
        if self._passphrase is not None:
            return self._passphrase
        environment = _environment_passphrase()
        if self.passphrase_file:
            raw = read_regular_file(self.passphrase_file, 4096, "passphrase file")
            value = raw.splitlines()[0] if raw.splitlines() else b""
            origin = "the passphrase file"
        elif environment:
            value, origin = environment, f"${PASSPHRASE_ENV}"
        elif sys.stdin.isatty():
            typed = click.prompt(
                "Passphrase", hide_input=True, confirmation_prompt=confirm, err=True
            )
            try:
                value = typed.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                value = b"\xff"  # a lone surrogate: not text either
            origin = "the terminal"
        else:
            raise InvalidInputError(
                f"no passphrase: use --passphrase-file FILE or set {PASSPHRASE_ENV} "
                "(or run in a terminal to be prompted)"
            )
        if not value:
            raise InvalidInputError("the passphrase is empty")
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError(
                f"the passphrase from {origin} is not valid UTF-8 text; "
                "write it again in a UTF-8 editor or terminal"
            ) from None
        self._passphrase = value
        return value

    def passphrase_source(self) -> Callable[[], bytes]:
        """A callback that yields the passphrase when a key file is ready to be opened."""
        return self.passphrase

    def close(self) -> None:
        """Close the workspace if it was opened."""
        if self._workspace is not None:
            self._workspace.close()


def _environment_passphrase() -> bytes:
    """$LICSIGN_PASSPHRASE as the bytes the environment holds ("" if unset)."""
    environb = getattr(os, "environb", None)
    if environb is not None:  # POSIX: the raw bytes, undecoded
        return environb.get(PASSPHRASE_ENV.encode(), b"")  # type: ignore[no-any-return]
    return os.environ.get(PASSPHRASE_ENV, "").encode("utf-8", "surrogateescape")


pass_context = click.make_pass_decorator(Context)


def now_utc() -> datetime:
    """The system clock, read once per command (the libraries never read it themselves)."""
    return datetime.now(timezone.utc)


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def write_output(path: str, data: bytes, force: bool) -> None:
    """Write a document to ``path`` (atomically) or to stdout for ``-``."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    require_writable(path, force)
    write_atomic(path, data, overwrite=force)


def require_writable(path: str, force: bool) -> None:
    """Usage error (exit 2) if ``path`` cannot be written; call before doing any work."""
    from licsign._files import check_writable

    try:
        check_writable(path, force)
    except LicsignError as exc:
        raise click.UsageError(str(exc)) from None


def parse_option(parser: Callable[[str], Any], value: str | None, option: str) -> Any:
    """Apply a text parser to an option, turning ValueError into a usage error."""
    if value is None:
        return None
    try:
        return parser(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def table(rows: list[list[str]], headers: list[str]) -> None:
    """Print an aligned text table; every cell is escaped (control and bidi characters)."""
    if not rows:
        return
    cells = [[escape_text(x) for x in line] for line in [headers, *rows]]
    widths = [max(len(x) for x in col) for col in zip(*cells, strict=True)]
    for line in cells:
        click.echo("  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())


@contextmanager
def field_errors(**options: str) -> Iterator[None]:
    """Report a refused field as a usage error naming the option or argument it came from.

    ``options`` maps a field (``InvalidFieldError.field``) to the option that
    gave it; other fields are reported as the service worded them. Both exit
    with status 2.
    """
    try:
        yield
    except InvalidFieldError as exc:
        if exc.field not in options:
            raise
        raise click.BadParameter(str(exc), param_hint=options[exc.field]) from None
