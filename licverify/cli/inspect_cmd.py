"""``inspect``: explain any licsign document, and the report printer ``licsign inspect`` reuses."""

from __future__ import annotations

import json

import click

import licverify
from licverify.cli._common import Settings, at_or_now, options
from licverify.cli._io import read_input
from licverify.cliutil import say


def register(group: click.Group, settings: Settings) -> None:
    """Add ``inspect`` to ``group``."""

    @group.command()
    @click.argument("document")
    @options(settings, machine=False)
    def inspect(
        document: str, trust: str | None, product_opt: str | None, at: str | None, as_json: bool
    ) -> None:
        """Explain any licsign document: every field and every check."""
        roots = None
        if settings.roots is not None or trust:
            roots = settings.resolve(trust, product_opt or settings.product or "-")[0]
        report = licverify.inspect_document(
            read_input(document, "DOCUMENT"), trusted_roots=roots,
            product=settings.product or product_opt, now=at_or_now(at),
        )  # fmt: skip
        if as_json:
            click.echo(json.dumps(report.to_json(), indent=2, default=str))
        else:
            print_report(report)
        if not report.verified:
            raise click.exceptions.Exit(1)


def print_report(report: licverify.InspectReport) -> None:
    """Print an InspectReport for people (every field comes from the document: escaped)."""
    kind = report.kind or "not a licsign document"
    say(f"Kind:     {kind}{' (armored)' if report.armored else ''}")
    if report.kind:
        say(f"Size:     {report.size} bytes")
        say(f"Key id:   {report.key_id}")
    say(f"Verdict:  {report.verdict}")
    if report.fields:
        say("Fields:" if report.verified else "Fields (unverified):")
        for name, value in report.fields.items():
            if value not in (None, {}, [], ()):
                say(f"  {name}: {value}")
    say("Checks:")
    for check in report.checks:
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[check.result]
        say(f"  [{mark}] {check.name}: {check.detail}")
