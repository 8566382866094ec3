"""``licsign share``, ``unshare`` and ``shares``: other users who may use a license."""

from __future__ import annotations

from typing import Any

import click

from licsign.cli._codes import say_code, say_new_code
from licsign.cli._context import Context, emit_json, field_errors, now_utc, pass_context, say, table
from licverify._time import iso


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(share)
    cli.add_command(unshare)
    cli.add_command(shares)


def _json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print as JSON.")(f)


def _with_option(f: Any) -> Any:
    return click.option(
        "--with", "email", required=True, metavar="EMAIL", help="The user to share it with."
    )(f)


@click.command()
@click.argument("license_id", metavar="LICENSE")
@_with_option
@click.option(
    "--new-code",
    is_flag=True,
    help="Shared already: make a new one-time code (a lost code, or the sharer's next machine).",
)
@_json_option
@pass_context
def share(ctx: Context, license_id: str, email: str, new_code: bool, as_json: bool) -> None:
    """Share a license with another user; print their one-time activation code.

    The sharer activates with 'licverify request --user EMAIL --code CODE'.
    One device at a time across all sharers: while one holds a seat, the
    others are refused. Their seat counts toward the license's max devices.
    """
    from licsign import share_license

    with field_errors(user="--with"):
        done = share_license(
            ctx.workspace(), license_id, email, now=now_utc(), new_code_only=new_code
        )
    if as_json:
        emit_json(done.to_json())
        return
    if new_code:
        say_new_code(license_id, done.share.email, done.code, done.replaced)
        return
    say(f"Shared license {license_id} with {done.share.email}")
    say_code(done.share.email, done.code)


@click.command()
@click.argument("license_id", metavar="LICENSE")
@_with_option
@click.option(
    "--force", is_flag=True, help="Free the seats even if the license's transfer limit is used up."
)
@_json_option
@pass_context
def unshare(ctx: Context, license_id: str, email: str, force: bool, as_json: bool) -> None:
    """Stop sharing a license with a user, freeing their seats.

    Each seat freed counts as a transfer (as 'licsign device reset'); their code stops working.
    """
    from licsign import unshare_license

    with field_errors(user="--with"):
        done = unshare_license(ctx.workspace(), license_id, email, now=now_utc(), force=force)
    if as_json:
        emit_json(done.to_json())
        return
    what = f"License {license_id} is no longer shared with {done.email}"
    if not done.seats:
        say(f"{what}; they held no seat.")
        return
    say(
        f"{what}; freed {len(done.seats)} seat(s) (transfers used: {done.seats[-1].transfers_used})"
    )
    for seat in done.seats:
        until = iso(seat.works_offline_until)
        ends = (
            "keeps working offline (no --refresh or lease)"
            if until is None
            else f"works until {until}"
        )
        say(f"  device {seat.device_id[:12]} (activation {seat.activation_id}): {ends}")


@click.command()
@click.argument("license_id", metavar="LICENSE")
@click.option("--all", "show_all", is_flag=True, help="Include removed shares.")
@_json_option
@pass_context
def shares(ctx: Context, license_id: str, show_all: bool, as_json: bool) -> None:
    """List who a license is shared with, their seats and codes."""
    from licsign import license_shares

    rows = license_shares(ctx.workspace(), license_id, now=now_utc(), removed=show_all)
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        say(f"License {license_id} is not shared; share it with 'licsign share'.", err=True)
        return
    table(
        [[r.email, str(r.seats), r.code, str(iso(r.added_at)),
          "-" if r.removed_at is None else str(iso(r.removed_at))] for r in rows],
        ["EMAIL", "SEATS", "CODE", "ADDED", "REMOVED"],
    )  # fmt: skip
