"""``licsign ledger ...``: maintain the ledger database (SQLite file or shared PostgreSQL)."""

from __future__ import annotations

import click

from licsign.cli._context import Context, emit_json, pass_context, say


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(ledger)


@click.group()
def ledger() -> None:
    """Maintain the ledger database (SQLite file or shared PostgreSQL)."""


@ledger.command("migrate")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def migrate(ctx: Context, as_json: bool) -> None:
    """Bring the ledger's schema up to this licsign's version.

    Other commands refuse a ledger at an older schema and never change it;
    back the ledger up, then run this once (it is safe to run twice, or from
    two desks at once).
    """
    from licsign import migrate_ledger

    info = migrate_ledger(ctx.workspace())
    if as_json:
        emit_json(info.to_json())
        return
    if info.applied:
        done = ", ".join(map(str, info.applied))
        say(f"Ledger {info.location} migrated to schema {info.schema_version} (applied {done})")
    else:
        say(f"Ledger {info.location} is up to date (schema {info.schema_version})")
