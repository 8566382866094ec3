"""``licsign usage import`` and ``licsign counter refill``: counters on the vendor's side."""

from __future__ import annotations

import click

from licsign import clock_reset, import_usage_report, refill_counter
from licsign.cli._context import (
    Context,
    emit_json,
    now_utc,
    pass_context,
    require_writable,
    say,
    write_output,
)
from licverify._time import iso
from licverify.format import MAX_DOCUMENT_SIZE


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(usage)
    cli.add_command(counter)
    cli.add_command(clock_reset_cmd)


@click.group()
def usage() -> None:
    """Usage reports that machines send ('licverify usage report')."""


@usage.command("import")
@click.argument("report_file", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def import_report(ctx: Context, report_file: str, as_json: bool) -> None:
    """Record a usage report: a device's counter totals, signed by its device key.

    An older or replayed report (not newer than the last one from that
    device) is refused; totals lower than the last report's are recorded
    with a warning (the machine's state was restored from a copy?).
    """
    from licsign._files import read_regular_file

    data = read_regular_file(report_file, MAX_DOCUMENT_SIZE, "usage report")
    done = import_usage_report(ctx.workspace(), data, now=now_utc())
    for warning in done.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(done.to_json())
        return
    r = done.report
    used = ", ".join(f"{c}={n}" for c, n in sorted(r.totals.items())) or "nothing consumed"
    say(f"Recorded usage report {r.seq} of device {r.device_id[:12]} for license "
        f"{r.license_id} ({iso(r.issued_at)}): {used}")  # fmt: skip


@click.group()
def counter() -> None:
    """Consumption counters of licenses."""


@counter.command("refill")
@click.argument("license_id", metavar="LICENSE")
@click.option("--device", required=True, help="The device (its id or a unique prefix).")
@click.option("--add", "add", required=True, metavar="NAME=N", help="The counter and the units.")
@click.option("-o", "--output", required=True, help="File to write ('-' for stdout).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def refill(ctx: Context, license_id: str, device: str, add: str, output: str, force: bool,
           as_json: bool) -> None:  # fmt: skip
    """Sign a refill: NAME gets N more units on one device's activation, once.

    The customer installs it with 'licverify import FILE'.
    """
    name, _, amount = add.partition("=")
    if not name or not amount.isdigit() or not amount.isascii():
        raise click.UsageError("--add takes NAME=N with N a positive whole number")
    if output != "-":
        require_writable(output, force)
    done = refill_counter(
        ctx.workspace(), license_id, device, ctx.passphrase_source(), counter=name,
        amount=int(amount), now=now_utc(),
    )  # fmt: skip
    write_output(output, done.armored, force)
    if as_json:
        emit_json({**done.to_json(), "output": output})
    elif output != "-":
        say(f"Wrote a refill of {done.refill.amount} {name} for device {device} to {output}",
            err=True)  # fmt: skip


@click.command("clock-reset")
@click.argument("license_id", metavar="LICENSE")
@click.option("--device", required=True, help="The device (its id or a unique prefix).")
@click.option("-o", "--output", required=True, help="File to write ('-' for stdout).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def clock_reset_cmd(ctx: Context, license_id: str, device: str, output: str, force: bool,
                    as_json: bool) -> None:  # fmt: skip
    """Sign a one-time clock reset for a device whose clock ratchet went too far ahead.

    The machine installs it with 'licverify import FILE': its ratchet is set
    to now (the time signed here), once. Recorded in the license's history.
    """
    if output != "-":
        require_writable(output, force)
    done = clock_reset(ctx.workspace(), license_id, device, ctx.passphrase_source(),
                       now=now_utc())  # fmt: skip
    write_output(output, done.armored, force)
    if as_json:
        emit_json({**done.to_json(), "output": output})
    elif output != "-":
        say(f"Wrote a clock reset for device {device} to {output}", err=True)
