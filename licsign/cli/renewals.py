"""``licsign renew``, ``licsign amend`` and ``licsign transfer``: a license's next version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from licsign import MAX_LIMIT, NewVersion, amend_license, renew_license, transfer_license
from licsign.cli._context import (
    Context,
    emit_json,
    field_errors,
    now_utc,
    parse_option,
    pass_context,
    require_writable,
    say,
    write_output,
)
from licsign.cli.revocations import no_revocations_option, with_revocations
from licverify._time import iso
from licverify.cliutil import parse_duration, parse_when


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(renew)
    cli.add_command(amend)
    cli.add_command(transfer)


_F = TypeVar("_F", bound=Callable[..., Any])


def _output_options(replace: str = "--force") -> Callable[[_F], _F]:
    """``-o``, ``--binary``, ``--json`` and the option replacing an existing output file
    (``--force`` as ``licsign issue`` has it; ``transfer`` uses ``--force`` for seats)."""

    def decorate(command: _F) -> _F:
        for option in reversed([
            click.option("-o", "--output", required=True,
                         help="License file to write ('-' for stdout)."),
            click.option("--binary", is_flag=True, help="Write binary CBOR instead of armored text."),
            click.option(replace, "replace", is_flag=True,
                         help="Replace the output file if it exists."),
            click.option("--json", "as_json", is_flag=True, help="Print the new version as JSON."),
            no_revocations_option,
        ]):  # fmt: skip
            command = option(command)
        return command

    return decorate


def _check_output(output: str, force: bool, as_json: bool) -> None:
    if output == "-" and as_json:
        raise click.UsageError("--json and -o - would both write to stdout; give -o FILE")
    require_writable(output, force)  # before the ledger records anything


def _finish(ctx: Context, result: NewVersion, output: str, binary: bool, replace: bool,
            as_json: bool, no_revocations: bool) -> None:  # fmt: skip
    """Write the new document like ``licsign issue`` does, then report.

    The latest exported revocation list rides along unless ``--no-revocations``
    or ``--binary`` (a binary file is one document, format §5.1).
    """
    issued = result.license
    data, attached = with_revocations(ctx, result.id, issued.armored, no_revocations or binary)
    write_output(output, issued.document if binary else data, replace)
    if as_json:
        emit_json({**result.to_json(), "revocation_list": attached})
        return
    if attached is not None:
        say(f"Revocation list {attached} rides along in the file", err=output == "-")
    where = "" if output == "-" else f"; written to {output}"
    expires = issued.terms.expires
    until = "" if expires is None else f", valid until {iso(expires)}"
    say(
        f"License {result.id} {result.action}: version {result.version} supersedes version"
        f" {result.previous_version}{until}{where}",
        err=output == "-",
    )
    if result.seats_freed:
        say(f"Freed {len(result.seats_freed)} seat(s): {', '.join(result.seats_freed)}")
    if result.versions_revoked:
        shown = ", ".join(str(v) for v in result.versions_revoked)
        say(f"Revoked the old holder's version(s) {shown}; export a revocation list for machines")
    if result.users_removed:
        say(f"Removed {len(result.users_removed)} license user(s) of the old holder")
    if issued.terms.activation_required:
        say(
            "Activated machines keep their seats: after importing this file, each makes a new"
            " request (licverify request), answered as a renewal of its seat",
            err=output == "-",
        )


@click.command()
@click.argument("license_id", metavar="LICENSE")
@click.option("--extend", help="Add this to the current expiry, e.g. 1y, 6mo, 30d.")
@click.option("--expires", help="The new expiry (YYYY-MM-DD or ISO date-time, UTC unless a zone).")
@_output_options()
@pass_context
def renew(ctx: Context, /, license_id: str, extend: str | None, expires: str | None,
          output: str, binary: bool, replace: bool, as_json: bool, no_revocations: bool) -> None:  # fmt: skip
    """Issue the next version of a license with a later expiry.

    Everything else stays as it was. The old version is superseded in the
    ledger; machines that import the new file keep their seats.
    """
    if (extend is None) == (expires is None):
        raise click.UsageError("give exactly one of --extend and --expires")
    _check_output(output, replace, as_json)
    result = renew_license(
        ctx.workspace(), license_id, ctx.passphrase_source(), now=now_utc(),
        extend=parse_option(parse_duration, extend, "--extend"),
        expires=parse_option(parse_when, expires, "--expires"),
    )  # fmt: skip
    _finish(ctx, result, output, binary, replace, as_json, no_revocations)


def _feature_value(text: str) -> Any:
    from licsign.cli.licenses import _feature_value as value

    return value(text)


@click.command()
@click.argument("license_id", metavar="LICENSE")
@click.option(
    "--feature", "features", multiple=True, help="Add or change NAME or NAME=VALUE (repeatable)."
)
@click.option("--remove-feature", "remove", multiple=True, help="Take a feature away (repeatable).")
@click.option(
    "--max-devices", type=click.IntRange(0, MAX_LIMIT), help="Most devices that may be activated."
)
@click.option("--max-users", type=click.IntRange(0, MAX_LIMIT), help="Most distinct users.")
@click.option(
    "--max-devices-per-user", type=click.IntRange(0, MAX_LIMIT), help="Most devices per user."
)
@click.option("--max-transfers", type=click.IntRange(0, MAX_LIMIT), help="Most device transfers.")
@click.option("--max-version", help="Newest application version allowed, e.g. 2.9.")
@click.option("--maintenance-end", help="Releases after this date are not covered.")
@_output_options()
@pass_context
def amend(ctx: Context, /, license_id: str, features: tuple[str, ...], remove: tuple[str, ...],
          output: str, binary: bool, replace: bool, as_json: bool, no_revocations: bool,
          **limits: Any) -> None:  # fmt: skip
    """Issue the next version of a license with other features or limits.

    Only what is given changes. A limit may not go below the seats held now
    (every activated machine keeps its seat); the old version is superseded.
    """
    added: dict[str, Any] = {}
    for item in features:
        name, sep, value = item.partition("=")
        if not name:
            raise click.BadParameter(f"{item!r}: use NAME or NAME=VALUE", param_hint="--feature")
        added[name] = _feature_value(value) if sep else None
    changes = {k: v for k, v in limits.items() if v is not None}
    if "maintenance_end" in changes:
        changes["maintenance_end"] = parse_option(
            parse_when, changes["maintenance_end"], "--maintenance-end"
        )
    if not (added or remove or changes):
        raise click.UsageError("give at least one term to change (see --help)")
    _check_output(output, replace, as_json)
    with field_errors(feature="--feature", max_version="--max-version"):
        result = amend_license(
            ctx.workspace(), license_id, ctx.passphrase_source(), now=now_utc(),
            features=added, remove_features=remove, **changes,
        )  # fmt: skip
    _finish(ctx, result, output, binary, replace, as_json, no_revocations)


@click.command()
@click.argument("license_id", metavar="LICENSE")
@click.option("--to", "customer", required=True, help="The customer who gets the license.")
@click.option(
    "--force", is_flag=True, help="Free the seats devices hold (recorded in the history)."
)
@_output_options("--replace")
@pass_context
def transfer(ctx: Context, /, license_id: str, customer: str, force: bool,
             output: str, binary: bool, replace: bool, as_json: bool, no_revocations: bool) -> None:  # fmt: skip
    """Move a license to another customer, who gets the next version.

    Refused while devices hold seats, unless --force (which frees them,
    recorded in the history; --replace overwrites an existing output file).
    Every earlier version is superseded and revoked, and the old holder's
    license users and shares are removed: export a revocation list
    ('licsign revocations export') so that machines learn of it.
    """
    _check_output(output, replace, as_json)
    result = transfer_license(
        ctx.workspace(), license_id, ctx.passphrase_source(), to=customer, now=now_utc(),
        force=force,
    )  # fmt: skip
    _finish(ctx, result, output, binary, replace, as_json, no_revocations)
