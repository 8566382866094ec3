"""The ``licsign`` command: one module per command group, errors mapped in one place."""

from __future__ import annotations

import sys

import click

from licsign.cli import (
    activation,
    catalog,
    inspect_cmd,
    keys,
    ledger,
    licenses,
    orders,
    renewals,
    revocations,
    serve,
    shares,
    usage,
    users,
    workspace,
)
from licsign.cli._context import HOME_ENV, LEDGER_ENV, PASSPHRASE_ENV, Context

#: The command and the environment variables it reads (public: tests and wrappers use them).
__all__ = ["HOME_ENV", "LEDGER_ENV", "PASSPHRASE_ENV", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home",
    envvar=HOME_ENV,
    type=click.Path(file_okay=False),
    help=f"Workspace directory. [env {HOME_ENV}; default: the platform's user data directory]",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False),
    help=f"Read the key passphrase from the first line of this file. [else env {PASSPHRASE_ENV}, else a prompt]",
)
@click.option(
    "--ledger",
    "ledger_url",
    envvar=LEDGER_ENV,
    metavar="URL",
    help=f"A shared PostgreSQL ledger (postgresql://USER@HOST/DB; passwords from ~/.pgpass or PGPASSWORD) instead of the workspace's own. [env {LEDGER_ENV}]",
)
@click.version_option("0.1.0", prog_name="licsign")
@click.pass_context
def cli(
    ctx: click.Context, home: str | None, passphrase_file: str | None, ledger_url: str | None
) -> None:
    """Issue signed licenses offline and keep a ledger of them.

    Start with 'licsign init', add a product and a customer, then 'licsign issue'.
    Answer activation requests with 'licsign activate REQUEST -o RESPONSE'.
    Exit status: 0 ok, 1 refused or invalid, 2 usage or input error.
    """
    ctx.obj = Context(home, passphrase_file, ledger_url)
    ctx.call_on_close(ctx.obj.close)


workspace.register(cli)
keys.register(cli)
catalog.register(cli)
licenses.register(cli)
inspect_cmd.register(cli)
activation.register(cli)
ledger.register(cli)
orders.register(cli)
users.register(cli)
shares.register(cli)
renewals.register(cli)
revocations.register(cli)
usage.register(cli)
serve.register(cli)


def main(args: list[str] | None = None) -> None:
    """Console-script entry point."""
    from licverify.cliutil import run_click

    sys.exit(run_click(cli, "licsign", args))
