"""``usage report``: this machine's counter totals, signed, for the vendor (format §14.1)."""

from __future__ import annotations

import click

import licverify
from licverify.cli._common import Settings, at_or_now, options, refuse
from licverify.cli._io import _check_output, _write
from licverify.cliutil import say


def register(group: click.Group, settings: Settings) -> None:
    """Add the ``usage`` group to ``group``."""

    @group.group()
    def usage() -> None:
        """Usage of consumption counters, reported to your vendor."""

    @usage.command("report")
    @click.option("-o", "--output", required=True, help="Report file to write ('-' for stdout).")
    @click.option("--force", is_flag=True, help="Replace the output file if it exists.")
    @options(settings, trust=False, store=True)
    def report(output: str, force: bool, product_opt: str | None, state_dir: str | None,
               app_opt: str | None, machine_id: str | None, at: str | None,
               as_json: bool) -> None:  # fmt: skip
        """Write a usage report: what this machine consumed, signed by its device key.

        Each report has the next number; send it to your vendor ('licsign
        usage import'), who refuses one older than the last it has.
        """
        chosen = settings.chosen_product(product_opt)
        _check_output(output, force)
        store = settings.store(state_dir, app_opt, chosen)
        try:
            data = store.usage_report(now=at_or_now(at))
        except licverify.LicenseError as exc:
            refuse(exc, as_json)
        _write(output, data, force)
        if output != "-":
            say(f"Wrote a usage report to {output}: send it to your vendor.", err=True)
