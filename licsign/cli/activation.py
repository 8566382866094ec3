"""``licsign activate``, ``licsign deactivate`` and ``licsign device ...``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

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
from licsign.cli.revocations import no_revocations_option, with_revocations
from licverify._time import iso
from licverify.format import MAX_DOCUMENT_SIZE

if TYPE_CHECKING:
    from licsign._services.reports import DeviceReport


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(activate)
    cli.add_command(deactivate)
    cli.add_command(device)


def _grants(values: tuple[str, ...]) -> dict[str, int]:
    """``--counter NAME=N`` values as a map (a name given twice is a usage error)."""
    out: dict[str, int] = {}
    for value in values:
        name, _, units = value.partition("=")
        if not name or not units.isascii() or not units.isdigit() or name in out:
            raise click.UsageError(f"--counter takes NAME=N once per counter, not {value!r}")
        out[name] = int(units)
    return out


def _read(path: str, what: str) -> bytes:
    from licsign._files import read_regular_file

    return read_regular_file(path, 2 * MAX_DOCUMENT_SIZE, what)


@click.command()
@click.argument("request_files", metavar="REQUEST...", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    required=True,
    help="Activation response file to write ('-' for stdout); with several requests, a "
    "directory that gets REQUEST-STEM.response.txt for each.",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
@click.option(
    "--counter", "grants", multiple=True, metavar="NAME=N",
    help="Grant this machine N more units of the license's counter NAME (repeatable; one "
    "request only).",
)  # fmt: skip
@no_revocations_option
@pass_context
def activate(
    ctx: Context,
    request_files: tuple[str, ...],
    output: str,
    force: bool,
    as_json: bool,
    grants: tuple[str, ...],
    no_revocations: bool,
) -> None:
    """Answer an activation request file from a customer's machine.

    Checks the request's signature, the license and every limit in one
    transaction, records the device, and writes a signed response to carry
    back. A device that already holds a seat gets a fresh one for that seat.

    Several requests (or -o naming a directory) are answered with the issuing
    key opened once, each in its own transaction: a refused one does not undo
    the others. A summary lists each; the exit status is 1 if any was refused.

    The latest exported revocation list for the license rides along in each
    response file unless --no-revocations.
    """
    from licsign._services.activation import activate as grant

    counters = _grants(grants)
    if len(request_files) > 1 or os.path.isdir(output):
        from licsign.cli.bulk import activate_batch

        if counters:
            raise click.UsageError("--counter grants to one machine: give one request")
        activate_batch(ctx, request_files, output, force, as_json, no_revocations)
        return
    request_file = request_files[0]

    if output == "-" and as_json:
        raise click.UsageError("--json and -o - would both write to stdout; give -o FILE")
    require_writable(output, force)  # before the ledger records anything
    data = _read(request_file, "request")
    granted = grant(ctx.workspace(), data, ctx.passphrase_source(), now=now_utc(),
                    counters=counters)  # fmt: skip
    data, attached = with_revocations(ctx, granted.license_id, granted.response, no_revocations)
    write_output(output, data, force)
    info = {
        "license": granted.license_id,
        "activation": granted.activation_id,
        "device": granted.device_id,
        "renewed": granted.reused,
        "expires": iso(granted.expires),
        "revocation_list": attached,
    }
    if as_json:
        emit_json(info)
    elif output != "-":
        verb = "Renewed" if granted.reused else "Granted"
        until = "" if granted.expires is None else f" (works until {iso(granted.expires)})"
        say(
            f"{verb} activation {granted.activation_id} for device {granted.device_id[:12]}"
            f"{until}; response in {output}"
            + ("" if attached is None else f" (with revocation list {attached})")
        )


@click.command()
@click.argument("receipt_file", metavar="RECEIPT")
@click.option(
    "--force", is_flag=True, help="Accept it even if the license's transfer limit is used up."
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def deactivate(ctx: Context, receipt_file: str, force: bool, as_json: bool) -> None:
    """Accept a deactivation receipt: free the seat and count a transfer (each receipt once)."""
    from licsign._services.activation import deactivate as accept

    info = accept(ctx.workspace(), _read(receipt_file, "receipt"), now=now_utc(), force=force)
    if as_json:
        emit_json(info.to_json())
        return
    counted = f"transfers used: {info.transfers_used}" if info.transfer else "not a transfer"
    say(f"Freed the seat of device {info.device_id[:12]} on license {info.license_id} ({counted})")


@click.group()
def device() -> None:
    """Devices that activated a license."""


@device.command("list")
@click.argument("license_id", metavar="LICENSE")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def device_list(ctx: Context, license_id: str, as_json: bool) -> None:
    """List the devices of a license, with their status and last activity."""
    from licsign._services.reports import devices

    rows = devices(ctx.workspace(), license_id, now=now_utc())
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        say(f"No device has activated {license_id} yet.", err=True)
        return
    table(
        [
            [r.device_id[:12], r.label, r.user or "-", r.status, str(iso(r.last_seen)), _until(r)]
            for r in rows
        ],
        ["DEVICE", "LABEL", "USER", "STATUS", "LAST SEEN", "WORKS UNTIL"],
    )  # fmt: skip


def _until(row: DeviceReport) -> str:
    """When the device's response stops working offline: lease end or refresh date."""
    if row.status not in ("active", "lease-ended", "refresh-overdue", "reset"):
        return "-"
    ends = [t for t in (row.lease_expires, row.refresh_by) if t is not None]
    return str(iso(min(ends))) if ends else "no end"


@device.command("show")
@click.argument("license_id", metavar="LICENSE")
@click.argument("device_id", metavar="DEVICE")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def device_show(ctx: Context, license_id: str, device_id: str, as_json: bool) -> None:
    """Show one device of a license: label, user, fingerprint, every activation.

    DEVICE is the device id from 'licsign device list' (4 or more leading characters).
    """
    from licsign import device_details

    shown = device_details(ctx.workspace(), license_id, device_id, now=now_utc())
    if as_json:
        emit_json(shown.to_json())
        return
    d = shown.device
    changed = ", ".join(shown.changed)
    for label, value in [
        ("Device", d.device_id), ("License", shown.license_id), ("Label", d.label),
        ("User", d.user or "-"), ("Status", d.status), ("First seen", str(iso(d.first_seen))),
        ("Last seen", str(iso(d.last_seen))), ("Works until", _until(d)),
        ("Components", ", ".join(shown.components) or "none"),
        ("Fingerprint", f"changed since first seen: {changed}" if changed
         else "unchanged since first seen"),
    ]:  # fmt: skip
        say(f"{label + ':':<12} {value}")
    click.echo("Activations:")
    for a in shown.activations:
        ended = "open" if a.ended_at is None else f"ended {iso(a.ended_at)} ({a.end_reason})"
        say(f"  {a.id}  activated {iso(a.created_at)}  last renewed {iso(a.renewed_at)}  {ended}")


@device.command("reset")
@click.argument("license_id", metavar="LICENSE")
@click.argument("device_id", metavar="DEVICE")
@click.option(
    "--force", is_flag=True, help="Reset even if the license's transfer limit is used up."
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def device_reset(ctx: Context, license_id: str, device_id: str, force: bool, as_json: bool) -> None:
    """Free the seat of a lost machine without a receipt (counted as a transfer).

    DEVICE is the device id from 'licsign device list' (4 or more leading characters).
    """
    from licsign._services.activation import reset_device

    info = reset_device(ctx.workspace(), license_id, device_id, now=now_utc(), force=force)
    until = iso(info.works_offline_until)
    if as_json:
        emit_json({**info.to_json(), "works_offline_until": until})
        return
    counted = (
        f"counted as a transfer (transfers used: {info.transfers_used})"
        if info.transfer
        else "not a transfer (floating seat)"
    )
    say(f"Reset device {info.device_id[:12]} on license {license_id}; {counted}.")
    if until is None:
        say(
            "Note: the old machine keeps its activation offline: this license has no --refresh "
            "or lease, so nothing makes it stop there."
        )
    else:
        say(f"The old machine's activation stops working on {until} unless it takes a seat again.")
