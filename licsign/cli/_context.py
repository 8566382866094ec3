"""What every licsign command shares: the workspace, the passphrase, output helpers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import click

from licsign._errors import InvalidInput, LicsignError
from licsign._files import read_regular_file, write_atomic

PASSPHRASE_ENV = "LICSIGN_PASSPHRASE"
HOME_ENV = "LICSIGN_HOME"


def default_home() -> str:
    """The platform's user data directory for licsign."""
    import platformdirs

    return platformdirs.user_data_dir("licsign", appauthor=False)


class Context:
    """Options from the group, and lazily opened resources."""

    def __init__(self, home: str | None, passphrase_file: str | None) -> None:
        self.home = home or default_home()
        self.passphrase_file = passphrase_file
        self._workspace: Any = None
        self._passphrase: bytes | None = None

    def workspace(self) -> Any:
        """The opened workspace (Workspace)."""
        if self._workspace is None:
            from licsign._workspace import Workspace

            self._workspace = Workspace(self.home)
        return self._workspace

    def passphrase(self, confirm: bool = False) -> bytes:
        """The passphrase: --passphrase-file, then $LICSIGN_PASSPHRASE, then a hidden prompt."""
        if self._passphrase is not None:
            return self._passphrase
        if self.passphrase_file:
            raw = read_regular_file(self.passphrase_file, 4096, "passphrase file")
            value = raw.splitlines()[0] if raw.splitlines() else b""
        elif os.environ.get(PASSPHRASE_ENV):
            value = os.environ[PASSPHRASE_ENV].encode()
        elif sys.stdin.isatty():
            value = click.prompt(
                "Passphrase", hide_input=True, confirmation_prompt=confirm, err=True
            ).encode()
        else:
            raise InvalidInput(
                f"no passphrase: use --passphrase-file FILE or set {PASSPHRASE_ENV} "
                "(or run in a terminal to be prompted)"
            )
        if not value:
            raise InvalidInput("the passphrase is empty")
        self._passphrase = value
        return value

    def passphrase_source(self) -> Callable[[], bytes]:
        """A callback that yields the passphrase when a key file is ready to be opened."""
        return self.passphrase

    def close(self) -> None:
        """Close the workspace if it was opened."""
        if self._workspace is not None:
            self._workspace.close()


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
    """Print an aligned text table."""
    if not rows:
        return
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    for line in [headers, *rows]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())


__all__ = ["Context", "LicsignError", "pass_context"]
