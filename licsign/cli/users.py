"""``licsign user ...``: the users of a user-based license and their one-time activation codes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from licsign.cli._codes import say_code, say_new_code
from licsign.cli._context import Context, emit_json, field_errors, now_utc, pass_context, say, table
from licverify._time import iso

if TYPE_CHECKING:
    from licsign import UserSeatsFreed

_FIELDS = {"user": "EMAIL", "name": "--name", "max_devices": "--max-devices"}


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(user)


@click.group()
def user() -> None:
    """License users and their one-time activation codes.

    For user-based licenses: those issued with --max-users, --user or
    --max-devices-per-user. A user takes a new seat only with a code from 'user assign' or
    'user new-code', carried by 'licverify request --user EMAIL --code CODE'.
    Each code works once; renewing a seat needs none.
    """


def _json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print as JSON.")(f)


def _force_option(f: Any) -> Any:
    return click.option(
        "--force",
        is_flag=True,
        help="Free the seats even if the license's transfer limit is used up.",
    )(f)


@user.command("assign")
@click.argument("license_id", metavar="LICENSE")
@click.argument("email", metavar="EMAIL")
@click.option("--name", help="The user's display name.")
@click.option(
    "--max-devices", type=int, metavar="N",
    help="The user's own device cap (at most the license's devices per user).",
)  # fmt: skip
@_json_option
@pass_context
def user_assign(ctx: Context, license_id: str, email: str, name: str | None,
                max_devices: int | None, as_json: bool) -> None:  # fmt: skip
    """Assign a user; print their one-time activation code.

    Refused past the license's max users, for a user its allowed users do not
    name, and for a device cap that does not fit the license's.
    """
    from licsign import assign_user

    with field_errors(**_FIELDS):
        done = assign_user(
            ctx.workspace(), license_id, email, now=now_utc(), name=name, max_devices=max_devices
        )
    if as_json:
        emit_json(done.to_json())
        return
    cap = "" if done.user.max_devices is None else f" (at most {done.user.max_devices} devices)"
    say(f"Assigned {done.user.email} to license {license_id}{cap}")
    say_code(done.user.email, done.code)


@user.command("new-code")
@click.argument("license_id", metavar="LICENSE")
@click.argument("email", metavar="EMAIL")
@_json_option
@pass_context
def user_new_code(ctx: Context, license_id: str, email: str, as_json: bool) -> None:
    """Make a new one-time activation code for a user.

    For a lost code, or the user's next machine (each code takes one seat).
    The user's unused code, if any, stops working.
    """
    from licsign import new_user_code

    with field_errors(**_FIELDS):
        made = new_user_code(ctx.workspace(), license_id, email, now=now_utc())
    if as_json:
        emit_json(made.to_json())
        return
    say_new_code(license_id, made.email, made.code, made.replaced)


@user.command("rename")
@click.argument("license_id", metavar="LICENSE")
@click.argument("email", metavar="EMAIL")
@click.argument("name", metavar="NAME")
@_json_option
@pass_context
def user_rename(ctx: Context, license_id: str, email: str, name: str, as_json: bool) -> None:
    """Change a user's display name."""
    from licsign import rename_user

    with field_errors(user="EMAIL", name="NAME"):
        info = rename_user(ctx.workspace(), license_id, email, name, now=now_utc())
    if as_json:
        emit_json(info.to_json())
        return
    say(f"User {info.email} on license {license_id} is now named {info.name}")


@user.command("set-max-devices")
@click.argument("license_id", metavar="LICENSE")
@click.argument("email", metavar="EMAIL")
@click.argument("cap", metavar="N")
@_json_option
@pass_context
def user_set_max_devices(ctx: Context, license_id: str, email: str, cap: str,
                         as_json: bool) -> None:  # fmt: skip
    """Set how many devices one user may activate (N, or 'none' for no cap of their own).

    The cap must fit the license's per-user cap and, with the other users'
    caps, its device total; it cannot go below the seats the user holds now.
    """
    from licsign import set_user_max_devices

    if cap != "none" and not (cap.isascii() and cap.isdigit()):
        raise click.BadParameter("a whole number, or 'none'", param_hint="N")
    with field_errors(user="EMAIL", limits="N"):
        info = set_user_max_devices(ctx.workspace(), license_id, email,
                                    None if cap == "none" else int(cap), now=now_utc())  # fmt: skip
    if as_json:
        emit_json(info.to_json())
        return
    shown = "no cap of their own" if info.max_devices is None else f"at most {info.max_devices}"
    say(f"User {info.email} on license {license_id}: {shown} devices")


@user.command("change-email")
@click.argument("license_id", metavar="LICENSE")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@_json_option
@pass_context
def user_change_email(ctx: Context, license_id: str, old: str, new: str, as_json: bool) -> None:
    """Give a user another e-mail.

    The same person: their seats and unused code stay theirs. Their machines name the new e-mail in their next request (licverify request --user NEW).
    """
    from licsign import change_user_email

    with field_errors(user="OLD or NEW"):
        info = change_user_email(ctx.workspace(), license_id, old, new, now=now_utc())
    if as_json:
        emit_json(info.to_json())
        return
    say(f"User {old.strip()} on license {license_id} is now {info.email} ({info.seats} seats kept)")


def _say_freed(freed: UserSeatsFreed, what: str) -> None:
    if not freed.seats:
        say(f"{what}; {freed.email} held no seat on license {freed.license_id}.")
        return
    counted = sum(1 for s in freed.seats if s.transfer)
    say(
        f"{what}; freed {len(freed.seats)} seat(s) of {freed.email} on license "
        f"{freed.license_id} ({counted} counted as transfers; transfers used: {freed.transfers_used})"
    )
    for seat in freed.seats:
        until = iso(seat.works_offline_until)
        ends = (
            "keeps working offline (no --refresh or lease)"
            if until is None
            else f"works until {until}"
        )
        say(f"  device {seat.device_id[:12]} (activation {seat.activation_id}): {ends}")


@user.command("remove")
@click.argument("license_id", metavar="LICENSE")
@click.argument("email", metavar="EMAIL")
@_force_option
@_json_option
@pass_context
def user_remove(ctx: Context, license_id: str, email: str, force: bool, as_json: bool) -> None:
    """Remove a user, freeing their seats.

    Each seat freed counts as a transfer (as 'licsign device reset'); their unused code ends.
    """
    from licsign import remove_user

    with field_errors(**_FIELDS):
        freed = remove_user(ctx.workspace(), license_id, email, now=now_utc(), force=force)
    if as_json:
        emit_json(freed.to_json())
        return
    _say_freed(freed, f"Removed {freed.email} from license {license_id}")


@user.command("reset")
@click.argument("license_id", metavar="LICENSE")
@click.argument("email", metavar="EMAIL")
@_force_option
@_json_option
@pass_context
def user_reset(ctx: Context, license_id: str, email: str, force: bool, as_json: bool) -> None:
    """Free every seat a user holds.

    After a crash or a lost machine; each seat counts as a transfer (as
    'licsign device reset'). The user stays assigned; a new seat needs a new code ('licsign user new-code').
    """
    from licsign import reset_user

    with field_errors(**_FIELDS):
        freed = reset_user(ctx.workspace(), license_id, email, now=now_utc(), force=force)
    if as_json:
        emit_json(freed.to_json())
        return
    _say_freed(freed, f"Reset {freed.email}")


@user.command("reassign")
@click.argument("license_id", metavar="LICENSE")
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@click.option("--name", help="The new user's display name.")
@click.option(
    "--max-devices", type=int, metavar="N",
    help="The new user's own device cap (default: the old user's).",
)  # fmt: skip
@_force_option
@_json_option
@pass_context
def user_reassign(ctx: Context, license_id: str, old: str, new: str, name: str | None,
                  max_devices: int | None, force: bool, as_json: bool) -> None:  # fmt: skip
    """Give one user's place to another.

    OLD is removed (seats freed, counted as transfers); NEW is assigned, with
    OLD's device cap unless --max-devices, and gets a one-time activation code.
    """
    from licsign import reassign_user

    with field_errors(user="OLD or NEW", name="--name", max_devices="--max-devices"):
        done = reassign_user(
            ctx.workspace(), license_id, old, new, now=now_utc(), name=name,
            max_devices=max_devices, force=force,
        )  # fmt: skip
    if as_json:
        emit_json(done.to_json())
        return
    _say_freed(done.removed, f"Removed {done.removed.email} from license {license_id}")
    say(f"Assigned {done.assigned.user.email} to license {license_id}")
    say_code(done.assigned.user.email, done.assigned.code)


@user.command("list")
@click.argument("license_id", metavar="LICENSE")
@click.option("--all", "show_all", is_flag=True, help="Include removed users.")
@_json_option
@pass_context
def user_list(ctx: Context, license_id: str, show_all: bool, as_json: bool) -> None:
    """List a license's users, seats and codes.

    Each user's device cap, seats held now and code state (unused, used,
    removed or none).
    """
    from licsign import license_users

    rows = license_users(ctx.workspace(), license_id, now=now_utc(), removed=show_all)
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        say(f"License {license_id} has no users; assign one with 'licsign user assign'.", err=True)
        return
    table(
        [[r.email, r.name or "-", "-" if r.max_devices is None else str(r.max_devices),
          str(r.seats), r.code, str(iso(r.added_at)),
          "-" if r.removed_at is None else str(iso(r.removed_at))] for r in rows],
        ["EMAIL", "NAME", "MAX DEVICES", "SEATS", "CODE", "ADDED", "REMOVED"],
    )  # fmt: skip
