"""``licsign revoke`` and ``licsign revocations ...``: revoke, then export a signed list."""

from __future__ import annotations

import click

from licsign import (
    export_revocations,
    revocations,
    revocations_to_attach,
    revoke_activation,
    revoke_key,
    revoke_license,
)
from licsign.cli._context import (
    Context,
    emit_json,
    now_utc,
    pass_context,
    require_writable,
    say,
    table,
    write_output,
)
from licverify._time import iso
from licverify.format import MAX_DOCUMENT_SIZE

#: The option renew, amend, transfer and activate share (docs/adr/0021).
no_revocations_option = click.option(
    "--no-revocations", is_flag=True,
    help="Do not append the latest exported revocation list to the output file.",
)  # fmt: skip


def with_revocations(ctx: Context, license_id: str, document: bytes, skip: bool
                     ) -> tuple[bytes, int | None]:  # fmt: skip
    """Append the latest exported revocation list for the license, if any (format §5.1).

    Returns the bytes to write and the list's number (None when none rides along).
    """
    if skip:
        return document, None
    found = revocations_to_attach(ctx.workspace(), license_id)
    if found is None:
        return document, None
    armored, number = found
    if len(document) + 1 + len(armored) > 2 * MAX_DOCUMENT_SIZE:
        return document, None  # too large to ride along (format §5.1): export it on its own
    return document + b"\n" + armored, number


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(revoke)
    cli.add_command(revocations_group)


@click.command()
@click.argument("license_id", metavar="LICENSE", required=False)
@click.option("--key", "key_id", help="Revoke this issuing key (see 'licsign key list').")
@click.option("--activation", "activation_id", help="Revoke this activation.")
@click.option("--version", type=click.IntRange(min=1), help="Revoke only this license version.")
@click.option("--reason", help="Why (kept in the ledger; not in the list).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def revoke(ctx: Context, license_id: str | None, key_id: str | None, activation_id: str | None,
           version: int | None, reason: str | None, as_json: bool) -> None:  # fmt: skip
    """Revoke a license, an issuing key (--key) or an activation (--activation).

    The ledger records it at once; machines learn of it from the next list
    ('licsign revocations export').
    """
    given = [v for v in (license_id, key_id, activation_id) if v is not None]
    if len(given) != 1:
        raise click.UsageError("give one of LICENSE, --key KEY_ID or --activation ACTIVATION_ID")
    if version is not None and license_id is None:
        raise click.UsageError("--version goes with LICENSE")
    ws, now = ctx.workspace(), now_utc()
    if license_id is not None:
        done = revoke_license(ws, license_id, now=now, reason=reason, version=version)
    elif key_id is not None:
        done = revoke_key(ws, key_id, now=now, reason=reason)
    else:
        assert activation_id is not None
        done = revoke_activation(ws, activation_id, now=now, reason=reason)
    if as_json:
        emit_json(done.to_json())
        return
    what = done.subject if done.version is None else f"{done.subject} version {done.version}"
    say(f"Revoked {done.kind} {what} (revocation {done.number}).")
    click.echo("Export a list for your customers: licsign revocations export -o FILE", err=True)


@click.group("revocations")
def revocations_group() -> None:
    """Revocations and the signed lists that carry them to machines."""


@revocations_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def list_revocations(ctx: Context, as_json: bool) -> None:
    """List every revocation, in the order revoked."""
    rows = revocations(ctx.workspace())
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        click.echo("Nothing revoked yet.")
        return
    table(
        [[str(r.number), r.kind, r.subject, "-" if r.version is None else str(r.version),
          iso(r.at) or "-", r.reason or "-"] for r in rows],
        ["#", "KIND", "SUBJECT", "VERSION", "REVOKED", "REASON"],
    )  # fmt: skip


@revocations_group.command("export")
@click.option("-o", "--output", required=True, help="File to write ('-' for stdout).")
@click.option("--product", help="A list for this product only (default: every product).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def export(ctx: Context, output: str, product: str | None, force: bool, as_json: bool) -> None:
    """Sign every revocation so far as a list with the next number, for 'licverify import'."""
    if output != "-":
        require_writable(output, force)
    armored, revoked = export_revocations(
        ctx.workspace(), ctx.passphrase_source(), now=now_utc(), product=product
    )
    write_output(output, armored, force)
    if as_json:
        emit_json({**revoked.to_json(), "output": output})
    elif output != "-":
        say(f"Wrote revocation list {revoked.number} to {output}", err=True)
