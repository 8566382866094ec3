"""``licsign ledger ...``: migrate, verify, back up and restore the ledger (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from licsign.cli._context import Context, emit_json, pass_context, require_writable, say

if TYPE_CHECKING:
    from licsign import ChainHead, LedgerCheck


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(ledger)


@click.group()
def ledger() -> None:
    """Migrate, verify, back up and restore the ledger (SQLite file or shared PostgreSQL)."""


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


def _progress(message: str) -> None:
    click.echo(f"... {message}", err=True)


@ledger.command("verify")
@click.option(
    "--accept-head",
    is_flag=True,
    help="If the only problem is the head this workspace recorded (an older backup restored on purpose, a lost head file), record the ledger's head instead.",
)
@click.option("--json", "as_json", is_flag=True, help="Print every finding as JSON.")
@pass_context
def verify(ctx: Context, accept_head: bool, as_json: bool) -> None:
    """Check the whole ledger; exit 1 naming the first bad row.

    Walks the hash-chained history (edited, removed or reordered events),
    checks that it still holds the newest event this workspace recorded
    (removed newest events), that every row follows from the history and the
    other way round, and that every stored license and issuing-key
    certificate verifies against the workspace's root key. When all is well
    the workspace records the ledger's head.
    """
    from licsign import LedgerIntegrityError, verify_ledger

    check = verify_ledger(ctx.workspace(), accept_head=accept_head, progress=_progress)
    if as_json:
        emit_json(check.to_json())
        if not check.ok:
            raise click.exceptions.Exit(1)
        return
    if not check.ok:
        more = len(check.problems) - 1 + check.more_problems
        extra = f" (and {more} more problem{'s' * (more != 1)}; --json lists them)" if more else ""
        raise LedgerIntegrityError(f"{check.problems[0]}{extra}")
    _say_check(check)


def _head(head: ChainHead | None) -> str:
    return "no event" if head is None else head.describe()


def _say_check(check: LedgerCheck) -> None:
    say(
        f"Ledger {check.location} ({check.engine}) verified: {check.events} events, newest {_head(check.head)}"
    )
    anchor = {
        "matched": f"it holds the head this workspace recorded, {_head(check.anchor)}",
        "advanced": f"it holds the head this workspace recorded, {_head(check.anchor)};"
        " recorded its newest now",
        "recorded": "this workspace had recorded no head: recorded its newest now",
        "accepted": f"recorded its newest in place of the head this workspace recorded"
        f" ({check.replaced_because})",
        "unwritable": "the workspace's head file could not be written: the recorded head lags",
    }.get(check.anchor_state, check.anchor_state)
    say(f"  history: every event intact; {anchor}")
    rows = ", ".join(f"{table} {count}" for table, count in check.rows.items())
    say(f"  rows agree with the history: {rows}")
    say(f"  documents verify against the root key: licenses {check.licenses} (every version),"
        f" issuing-key certificates {check.certificates}")  # fmt: skip
    if check.unchecked_tables:
        say(f"  not compared with the history (no rule): {', '.join(check.unchecked_tables)}")
    if check.unknown_kinds:
        kinds = ", ".join(f"{kind} ({n})" for kind, n in check.unknown_kinds.items())
        say(f"  events of kinds this licsign does not replay: {kinds}")


@ledger.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def backup(ctx: Context, file: str, force: bool, as_json: bool) -> None:
    """Write a consistent backup of the ledger to FILE while other commands go on.

    FILE is a complete SQLite ledger (0600) on either engine; 'licsign
    ledger restore FILE' brings it back. It holds customer data: keep it as
    safe as the workspace.
    """
    from licsign import backup_ledger

    if file == "-":
        raise click.BadParameter(
            "a backup is a file (a SQLite ledger); give its path", param_hint="FILE"
        )
    require_writable(file, force)
    done = backup_ledger(ctx.workspace(), file, overwrite=force, progress=_progress)
    if as_json:
        emit_json(done.to_json())
        return
    say(f"Backed up ledger {done.location} ({done.engine}) to {done.path}: "
        f"{done.rows.get('events', 0)} events, newest {_head(done.head)}, {done.size} bytes")  # fmt: skip


@ledger.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--force",
    is_flag=True,
    help="Restore even a backup older than the head this workspace knows (its newer events are lost).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def restore(ctx: Context, file: str, force: bool, as_json: bool) -> None:
    """Make the ledger the backup in FILE, after checking FILE in full.

    Refuses a backup of another workspace, a backup that fails any check of
    'ledger verify', and (unless --force) one older than the newest event
    this workspace knows. SQLite: the workspace's ledger file is replaced in
    one transaction (other commands see the old ledger or the restored one).
    PostgreSQL: only into an empty database (create one, then give it with
    --ledger URL); licsign never deletes a shared ledger's rows.
    """
    from licsign import restore_ledger

    done = restore_ledger(ctx.workspace(), file, force=force, progress=_progress)
    if as_json:
        emit_json(done.to_json())
        return
    before = "" if done.replaced is None else f"; it replaced a ledger at {_head(done.replaced)}"
    say(f"Restored {done.path} into ledger {done.location} ({done.engine}): "
        f"{done.rows.get('events', 0)} events, newest {_head(done.head)}{before}")  # fmt: skip
