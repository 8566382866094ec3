"""The ``licverify`` command (end users), and a factory for vendor-branded copies.

A vendor ships its own command with the trust root and product built in::

    from licverify.cli import make_cli
    cli = make_cli(app="acme-cad", product="acme-cad", trusted_roots=[ROOT_KEY])

The generic ``licverify`` takes ``--trust FILE`` and ``--product P`` (or
``LICVERIFY_TRUST`` and ``LICVERIFY_PRODUCT``) instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime, timezone

import click

import licverify
from licverify.cliutil import parse_when, run_click

TRUST_ENV, PRODUCT_ENV, MACHINE_ID_ENV = (
    "LICVERIFY_TRUST",
    "LICVERIFY_PRODUCT",
    "LICVERIFY_MACHINE_ID",
)
_MAX_INPUT = 2 * 64 * 1024


def read_input(path: str, what: str) -> bytes:
    """Read a small regular file, refusing directories, symlinks, empty and oversized files."""
    import os
    import stat

    try:
        info = os.lstat(path)
    except OSError:
        raise click.BadParameter(f"{path!r} does not exist", param_hint=what) from None
    if stat.S_ISLNK(info.st_mode):
        raise click.BadParameter(
            f"{path!r} is a symbolic link; give the file itself", param_hint=what
        )
    if not stat.S_ISREG(info.st_mode):
        raise click.BadParameter(f"{path!r} is not a regular file", param_hint=what)
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_INPUT + 1)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path!r}: {exc.strerror}", param_hint=what) from None
    if not data:
        raise click.BadParameter(f"{path!r} is empty", param_hint=what)
    if len(data) > _MAX_INPUT:
        raise click.BadParameter(f"{path!r} is too large to be a licsign document", param_hint=what)
    return data


def print_report(report: licverify.InspectReport) -> None:
    """Print an InspectReport for people."""
    click.echo(
        f"Kind:     {report.kind or 'not a licsign document'}{' (armored)' if report.armored else ''}"
    )
    if report.kind:
        click.echo(f"Size:     {report.size} bytes")
        click.echo(f"Key id:   {report.key_id}")
    click.echo(f"Verdict:  {report.verdict}")
    if report.fields:
        click.echo("Fields:" if report.verified else "Fields (unverified):")
        for name, value in report.fields.items():
            if value not in (None, {}, [], ()):
                click.echo(f"  {name}: {value}")
    click.echo("Checks:")
    for check in report.checks:
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[check.result]
        click.echo(f"  [{mark}] {check.name}: {check.detail}")


def _print_license(lic: licverify.License) -> None:
    if lic.status is licverify.Status.GRACE:
        click.echo(
            f"VALID (in grace: expired {lic.expires:%Y-%m-%d}, {lic.grace_days_left} day(s) left)"
        )
    else:
        click.echo("VALID")
    rows = [
        ("License", f"{lic.id} (version {lic.version})"),
        ("Product", lic.product),
        ("Customer", lic.customer),
        ("Issuer", lic.issuer or "-"),
        ("Type", lic.type),
        ("Issued", f"{lic.issued_at:%Y-%m-%d %H:%M:%S}Z"),
        ("Expires", "never" if lic.expires is None else f"{lic.expires:%Y-%m-%d %H:%M:%S}Z"),
        ("Grace", f"{lic.grace.days} days" if lic.grace else "none"),
        (
            "Features",
            ", ".join(k if v is None else f"{k}={v}" for k, v in lic.features.items()) or "none",
        ),
    ]
    limits = lic.limits
    parts = [f"{n}={v}" for n, v in (("devices", limits.max_devices), ("users", limits.max_users),
             ("devices/user", limits.max_devices_per_user), ("transfers", limits.max_transfers)) if v is not None]  # fmt: skip
    rows.append(("Limits", ", ".join(parts) or "none"))
    if lic.counters:
        rows.append(
            ("Counters", ", ".join(f"{n}={c.limit}+{c.overage}" for n, c in lic.counters.items()))
        )
    if lic.lease is not None:
        rows.append(("Lease", f"{int(lic.lease.total_seconds())} s"))
    if lic.max_version:
        rows.append(("Max version", lic.max_version))
    if lic.allowed_users:
        rows.append(("Users", ", ".join(lic.allowed_users)))
    for label, value in rows:
        click.echo(f"{label + ':':<12} {value}")


def make_cli(
    *,
    app: str = "licverify",
    product: str | None = None,
    trusted_roots: Iterable[bytes] | None = None,
) -> click.Group:
    """Build the end-user command group.

    Args:
        app: command name shown in help and messages.
        product: built-in product id; if None, ``--product`` / ``$LICVERIFY_PRODUCT`` is required.
        trusted_roots: built-in root keys; if None, ``--trust`` / ``$LICVERIFY_TRUST`` is required.
    """
    builtin_roots = None if trusted_roots is None else licverify.TrustedRoots(trusted_roots)

    def resolve(trust: str | None, product_opt: str | None) -> tuple[licverify.TrustedRoots, str]:
        roots = builtin_roots
        if roots is None:
            if not trust:
                raise click.UsageError(f"give --trust ROOT_PUBLIC_KEY_FILE (or set {TRUST_ENV})")
            try:
                roots = licverify.TrustedRoots(
                    licverify.load_public_keys(read_input(trust, "--trust"))
                )
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--trust") from None
        chosen = product or product_opt
        if not chosen:
            raise click.UsageError(f"give --product PRODUCT (or set {PRODUCT_ENV})")
        return roots, chosen

    trust_option = click.option(
        "--trust", envvar=TRUST_ENV, hidden=builtin_roots is not None,
        help=f"Root public key file from the vendor (PEM, raw or hex). [env {TRUST_ENV}]",
    )  # fmt: skip
    product_option = click.option(
        "--product", "product_opt", envvar=PRODUCT_ENV, hidden=product is not None,
        help=f"Product id the license must be for. [env {PRODUCT_ENV}]",
    )  # fmt: skip

    @click.group(name=app, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(licverify.__version__, prog_name=app)
    def group() -> None:
        """Check licenses offline. Exit status: 0 licensed, 1 not licensed, 2 usage or input error."""

    @group.command()
    @click.argument("license_file", metavar="LICENSE")
    @trust_option
    @product_option
    @click.option(
        "--at", "at", help="Judge validity at this date instead of now (YYYY-MM-DD or ISO)."
    )
    @click.option("--app-version", help="Application version to check against a version gate.")
    @click.option(
        "--machine-id",
        envvar=MACHINE_ID_ENV,
        help=f"Use this machine id (containers). [env {MACHINE_ID_ENV}]",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the verdict and terms as JSON.")
    def check(license_file: str, trust: str | None, product_opt: str | None, at: str | None,
              app_version: str | None, machine_id: str | None, as_json: bool) -> None:  # fmt: skip
        """Verify a license file and print the verdict and its terms.

        Exit status 0 only for a valid license (including one in its grace period).
        """
        roots, chosen = resolve(trust, product_opt)
        try:
            when = parse_when(at) if at else datetime.now(timezone.utc)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--at") from None
        data = read_input(license_file, "LICENSE")
        fingerprint = licverify.machine_fingerprint(chosen, machine_id=machine_id)
        try:
            lic = licverify.verify_license(
                data, trusted_roots=roots, product=chosen, now=when,
                fingerprint=fingerprint, app_version=app_version,
            )  # fmt: skip
        except licverify.LicenseError as exc:
            if as_json:
                click.echo(
                    json.dumps(
                        {"status": "invalid", "code": exc.code, "reason": str(exc)}, indent=2
                    )
                )
            else:
                click.echo(f"NOT VALID: {exc.code}: {exc}")
            raise click.exceptions.Exit(1) from None
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        if as_json:
            click.echo(json.dumps(lic.to_json(), indent=2))
        else:
            _print_license(lic)

    @group.command()
    @click.argument("document")
    @trust_option
    @product_option
    @click.option("--at", "at", help="Judge validity at this date instead of now.")
    @click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
    def inspect(
        document: str, trust: str | None, product_opt: str | None, at: str | None, as_json: bool
    ) -> None:
        """Explain any licsign document: every field and every check."""
        roots = None
        if builtin_roots is not None or trust:
            roots = resolve(trust, product_opt or product or "-")[0]
        try:
            when = parse_when(at) if at else datetime.now(timezone.utc)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--at") from None
        report = licverify.inspect_document(
            read_input(document, "DOCUMENT"),
            trusted_roots=roots,
            product=product or product_opt,
            now=when,
        )
        if as_json:
            click.echo(json.dumps(report.to_json(), indent=2, default=str))
        else:
            print_report(report)
        if not report.verified:
            raise click.exceptions.Exit(1) from None

    @group.command()
    @product_option
    @click.option(
        "--machine-id",
        envvar=MACHINE_ID_ENV,
        help=f"Use this machine id (containers). [env {MACHINE_ID_ENV}]",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
    def fingerprint(product_opt: str | None, machine_id: str | None, as_json: bool) -> None:
        """Show this machine's fingerprint for the product (salted; no raw ids).

        Give the 'fp1.' line to your vendor to get a license bound to this machine.
        """
        chosen = product or product_opt
        if not chosen:
            raise click.UsageError(f"give --product PRODUCT (or set {PRODUCT_ENV})")
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
        for name in ("machine-id", "mac", "cpu", "hostname"):
            click.echo(f"{name + ':':<12} {fp[name].hex() if name in fp else '(not available)'}")
        click.echo(text)

    return group


def main(args: list[str] | None = None) -> None:
    """Console-script entry point for the generic ``licverify``."""
    sys.exit(run_click(make_cli(), "licverify", args))


def branded_main(cli: click.Group, args: list[str] | None = None) -> None:
    """Entry point for a vendor-branded CLI built with ``make_cli``."""
    sys.exit(run_click(cli, cli.name or "licverify", args))


__all__ = ["branded_main", "main", "make_cli", "print_report", "read_input"]
