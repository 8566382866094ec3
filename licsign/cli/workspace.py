"""``licsign init``."""

from __future__ import annotations

import click

from licsign.cli._context import Context, emit_json, now_utc, parse_option, pass_context, say
from licverify.cliutil import parse_duration


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(init)


@click.command()
@click.option(
    "--vendor",
    default="licsign",
    show_default=True,
    help="Vendor name written as the issuer of licenses.",
)
@click.option(
    "--issuing-validity",
    default="3y",
    show_default=True,
    help="How long the first issuing key may sign: s, min, h, d, w, or calendar mo and y (e.g. 3y).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def init(ctx: Context, vendor: str, issuing_validity: str, as_json: bool) -> None:
    """Create a workspace: ledger, root key, first issuing key and certificate.

    The passphrase (at least 12 characters) protects both keys (Argon2id,
    256 MiB; about a second per use). The workspace directory is created 0700
    and the ledger 0600; an interrupted init leaves nothing behind. Keep the
    workspace on a secured machine and back it up.
    """
    from licsign import init_workspace
    from licsign import keys as list_keys

    validity = parse_option(parse_duration, issuing_validity, "--issuing-validity")
    passphrase = ctx.passphrase(confirm=True)
    ws = init_workspace(
        ctx.home, passphrase, now=now_utc(), vendor=vendor, issuing_validity=validity,
        progress=lambda message: click.echo(f"... {message}", err=True), ledger=ctx.ledger,
    )  # fmt: skip
    root = ws.root_public_key()
    keys = list_keys(ws, now=now_utc())
    ws.close()
    if as_json:
        emit_json({"home": ws.home, "vendor": vendor, "root_public_key": root.hex(),
                   "keys": [{"key_id": k.key_id, "role": k.role} for k in keys]})  # fmt: skip
        return
    say(f"Workspace created in {ws.home}")
    click.echo(f"Root public key: {root.hex()}")
    click.echo(
        "Next: licsign key export-public -o root.pem   (the trust root your application embeds)"
    )
