"""``fingerprint``: this machine's fingerprint for a product, to give to the vendor."""

from __future__ import annotations

import json

import click

import licverify
from licverify.cli._common import Settings, options


def register(group: click.Group, settings: Settings) -> None:
    """Add ``fingerprint`` to ``group``."""

    @group.command()
    @options(settings, trust=False, at=False)
    def fingerprint(product_opt: str | None, machine_id: str | None, as_json: bool) -> None:
        """Show this machine's fingerprint for the product (salted; no raw ids).

        Give the 'fp1.' line to your vendor to get a license bound to this machine.
        """
        chosen = settings.chosen_product(product_opt)
        fp = licverify.machine_fingerprint(chosen, machine_id=machine_id)
        text = licverify.format_fingerprint(fp)
        if as_json:
            click.echo(
                json.dumps(
                    {"fingerprint": text, "components": {k: v.hex() for k, v in fp.items()}},
                    indent=2,
                )
            )
            return
        from licverify._fingerprint import COMPONENTS

        for name in COMPONENTS:
            click.echo(f"{name + ':':<12} {fp[name].hex() if name in fp else '(not available)'}")
        click.echo(text)
