"""``licsign key ...``: list keys, add an issuing key, export the root public key."""

from __future__ import annotations

import click

from licsign import (
    TRUST_ROOT_FORMATS,
    keys,
    new_issuing_key,
    rotate_key,
    rotate_root,
    trust_root,
)
from licsign.cli._context import (
    Context,
    emit_json,
    now_utc,
    parse_option,
    pass_context,
    require_writable,
    say,
    table,
    write_output,
)
from licverify._time import iso
from licverify.cliutil import parse_duration


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(key)


@click.group()
def key() -> None:
    """Root and issuing keys."""


@key.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def list_keys(ctx: Context, as_json: bool) -> None:
    """List the root key and the issuing keys with their validity."""
    rows = keys(ctx.workspace(), now=now_utc())
    if as_json:
        emit_json([k.to_json() for k in rows])
        return
    table(
        [[k.key_id, k.role, k.status, iso(k.not_after) or "-", ",".join(k.products or ()) or "any"]
         for k in rows],
        ["KEY ID", "ROLE", "STATUS", "VALID UNTIL", "PRODUCTS"],
    )  # fmt: skip


@key.command("new-issuing")
@click.option(
    "--validity", default="3y", show_default=True, help="How long the key may sign (e.g. 365d, 2y)."
)
@click.option(
    "--product", "products", multiple=True, help="Restrict the key to this product (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def new_issuing(ctx: Context, validity: str, products: tuple[str, ...], as_json: bool) -> None:
    """Create an issuing key certified by the root key; new licenses use the newest one."""
    duration = parse_option(parse_duration, validity, "--validity")
    ws = ctx.workspace()
    click.echo("... opening the root key and creating the issuing key", err=True)
    cert = new_issuing_key(
        ws, ctx.passphrase_source(), ctx.passphrase(), now=now_utc(), validity=duration,
        products=list(products),
    )  # fmt: skip
    if as_json:
        emit_json(cert.to_json())
        return
    click.echo(f"Issuing key {cert.key_id.hex()} valid until {iso(cert.not_after)}")


@key.command("rotate")
@click.option(
    "--validity", default="3y", show_default=True, help="How long the key may sign (e.g. 365d, 2y)."
)
@click.option(
    "--product", "products", multiple=True, help="Restrict the key to this product (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def rotate(ctx: Context, validity: str, products: tuple[str, ...], as_json: bool) -> None:
    """Create a new issuing key and retire the active ones for the same products.

    A retired key signs nothing new; what it signed keeps verifying unless it
    is revoked ('licsign revoke --key KEY_ID').
    """
    duration = parse_option(parse_duration, validity, "--validity")
    ws = ctx.workspace()
    click.echo("... opening the root key and creating the issuing key", err=True)
    cert, retired = rotate_key(
        ws, ctx.passphrase_source(), ctx.passphrase(), now=now_utc(), validity=duration,
        products=list(products),
    )  # fmt: skip
    if as_json:
        emit_json({**cert.to_json(), "retired": retired})
        return
    click.echo(f"Issuing key {cert.key_id.hex()} valid until {iso(cert.not_after)}")
    for key_id in retired:
        click.echo(f"Retired issuing key {key_id} (no new issuance)")


@key.command("rotate-root")
@click.option(
    "--validity", default="3y", show_default=True,
    help="How long the new root's first issuing key may sign (e.g. 365d, 2y).",
)  # fmt: skip
@click.option(
    "--product", "products", multiple=True,
    help="Restrict that issuing key to this product (repeatable).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def rotate_root_cmd(ctx: Context, validity: str, products: tuple[str, ...], as_json: bool) -> None:
    """Create a new root key, vouched for by the current one, and an issuing key under it.

    The current root signs a root rollover and retires. Every document signed
    from now on carries the rollovers, so applications that pin an older root
    accept it without a new release. Licenses already issued keep verifying.
    A new release should embed every root: 'licsign key export-public'.
    """
    duration = parse_option(parse_duration, validity, "--validity")
    ws = ctx.workspace()
    click.echo("... opening the root key and creating the new root and issuing key", err=True)
    done = rotate_root(
        ws, ctx.passphrase_source(), ctx.passphrase(), now=now_utc(), validity=duration,
        products=list(products),
    )  # fmt: skip
    if as_json:
        emit_json(done.to_json())
        return
    old = done.rollover.previous_key_id.hex()
    click.echo(f"Root key {done.rollover.key_id.hex()} (vouched for by retired root {old})")
    click.echo(
        f"Issuing key {done.certificate.key_id.hex()} valid until {iso(done.certificate.not_after)}"
    )
    for key_id in done.retired:
        click.echo(f"Retired issuing key {key_id} (no new issuance)")


@key.command("export-public")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(TRUST_ROOT_FORMATS),
    default="pem",
    show_default=True,
)
@click.option(
    "-o", "--output", default="-", show_default=True, help="File to write ('-' for stdout)."
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@pass_context
def export_public(ctx: Context, fmt: str, output: str, force: bool) -> None:
    """Export the root public keys: the trust roots an application embeds.

    Every root this workspace has had, oldest first (one until 'key
    rotate-root'). pem: SubjectPublicKeyInfo; raw: 32 bytes (one root only);
    python: a module defining TRUSTED_ROOTS; hex: a line per key.
    'licverify check --trust' reads them all.
    """
    if fmt == "raw" and output == "-":
        raise click.UsageError("--format raw writes binary; give -o FILE")
    if output != "-":
        require_writable(output, force)
    write_output(output, trust_root(ctx.workspace(), fmt), force)
    if output != "-":
        say(f"Wrote root public key ({fmt}) to {output}", err=True)
