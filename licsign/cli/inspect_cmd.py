"""``licsign inspect``: explain any document."""

from __future__ import annotations

import os

import click

from licsign import trusted_roots
from licsign.cli._context import Context, emit_json, parse_option, pass_context
from licverify.cliutil import parse_when


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(inspect)


@click.command()
@click.argument("document", type=click.Path(dir_okay=True))
@click.option(
    "--trust", help="Root public key file. Default: this workspace's root key, if there is one."
)
@click.option("--product", help="Check the license is for this product.")
@click.option("--at", "at", help="Judge validity at this date (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def inspect(
    ctx: Context,
    document: str,
    trust: str | None,
    product: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """Show what a document is, every field, and every check with its result.

    Exit status 0 if every check passed, 1 otherwise.
    """
    from licsign._files import read_regular_file
    from licsign.cli._context import now_utc
    from licverify import inspect_document, load_public_keys
    from licverify.cli import print_report
    from licverify.format import MAX_DOCUMENT_SIZE

    when = parse_option(parse_when, at, "--at") or now_utc()
    data = read_regular_file(document, 2 * MAX_DOCUMENT_SIZE, "document")
    roots = None
    if trust:
        try:
            roots = load_public_keys(read_regular_file(trust, 65536, "trust file"))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--trust") from None
    elif os.path.exists(os.path.join(ctx.home, "workspace.json")):
        roots = trusted_roots(ctx.workspace())
    report = inspect_document(data, trusted_roots=roots, product=product, now=when)
    if as_json:
        emit_json(report.to_json())
    else:
        print_report(report)
    if not report.verified:
        raise click.exceptions.Exit(1)
