"""The ``licverify`` command (end users), and a factory for vendor-branded copies.

Commands: check, import, request, install, status, deactivate, inspect,
fingerprint. A vendor ships its own command with the trust root and product
built in::

    from licverify.cli import make_cli
    cli = make_cli(app="acme-cad", product="acme-cad", trusted_roots=[ROOT_KEY])

The generic ``licverify`` takes ``--trust FILE`` and ``--product P`` (or
``LICVERIFY_TRUST`` and ``LICVERIFY_PRODUCT``) instead.

One module per command group, each with ``register(group, settings)``:
``check``, ``activation`` (import, request, install, status, deactivate),
``inspect_cmd`` and ``fingerprint``; ``_common`` holds what they share and
``_io`` reads and writes the user's files.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import click

import licverify
from licverify.cli import activation, check, fingerprint, inspect_cmd, usage
from licverify.cli._common import APP_ENV as APP_ENV
from licverify.cli._common import MACHINE_ID_ENV as MACHINE_ID_ENV
from licverify.cli._common import PRODUCT_ENV as PRODUCT_ENV
from licverify.cli._common import STATE_DIR_ENV as STATE_DIR_ENV
from licverify.cli._common import TRUST_ENV as TRUST_ENV
from licverify.cli._common import Settings as Settings
from licverify.cli._io import read_input
from licverify.cli.activation import REFRESH_WARNING as REFRESH_WARNING
from licverify.cli.inspect_cmd import print_report
from licverify.cliutil import run_click
from licverify.cliutil import say as say  # named by ADR 0011 as licverify.cli.say

#: The command groups, in the order their commands are added.
_GROUPS = (check, activation, inspect_cmd, fingerprint, usage)


def make_cli(
    *,
    app: str = "licverify",
    product: str | None = None,
    trusted_roots: Iterable[bytes] | None = None,
) -> click.Group:
    """Build the end-user command group.

    Args:
        app: command name shown in help and messages, and the default state directory's name.
        product: built-in product id; if None, ``--product`` / ``$LICVERIFY_PRODUCT`` is required.
        trusted_roots: built-in root keys; if None, ``--trust`` / ``$LICVERIFY_TRUST`` is required.
    """
    settings = Settings(
        app, product, None if trusted_roots is None else licverify.TrustedRoots(trusted_roots)
    )

    @click.group(name=app, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(licverify.__version__, prog_name=app)
    def group() -> None:
        """Check and activate licenses offline.

        Activation: 'import' the license file, make a 'request', carry it to the
        vendor, 'install' the response they send back; 'status' shows the result.
        Exit status: 0 licensed, 1 not licensed or refused, 2 usage or input error.
        """

    for module in _GROUPS:
        module.register(group, settings)
    return group


def main(args: list[str] | None = None) -> None:
    """Console-script entry point for the generic ``licverify``."""
    sys.exit(run_click(make_cli(), "licverify", args))


def branded_main(cli: click.Group, args: list[str] | None = None) -> None:
    """Entry point for a vendor-branded CLI built with ``make_cli``."""
    sys.exit(run_click(cli, cli.name or "licverify", args))


__all__ = ["branded_main", "main", "make_cli", "print_report", "read_input"]
