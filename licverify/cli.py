"""The ``licverify`` command (end users), and a factory for vendor-branded copies.

Commands: check, import, request, install, status, deactivate, inspect,
fingerprint. A vendor ships its own command with the trust root and product
built in::

    from licverify.cli import make_cli
    cli = make_cli(app="acme-cad", product="acme-cad", trusted_roots=[ROOT_KEY])

The generic ``licverify`` takes ``--trust FILE`` and ``--product P`` (or
``LICVERIFY_TRUST`` and ``LICVERIFY_PRODUCT``) instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

import click

import licverify
from licverify.cliutil import output_problem, parse_when, run_click, say

TRUST_ENV = "LICVERIFY_TRUST"
PRODUCT_ENV = "LICVERIFY_PRODUCT"
MACHINE_ID_ENV = "LICVERIFY_MACHINE_ID"
STATE_DIR_ENV = "LICVERIFY_STATE_DIR"
APP_ENV = "LICVERIFY_APP"
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
        say(f"{label + ':':<12} {value}")


class Settings:
    """What a command needs to know: built in by a vendor, or given as options."""

    def __init__(self, app: str, product: str | None, roots: licverify.TrustedRoots | None) -> None:
        self.app, self.product, self.roots = app, product, roots

    def resolve(
        self, trust: str | None, product_opt: str | None
    ) -> tuple[licverify.TrustedRoots, str]:
        """The trusted roots and product for this run, or a usage error."""
        roots = self.roots
        if roots is None:
            if not trust:
                raise click.UsageError(f"give --trust ROOT_PUBLIC_KEY_FILE (or set {TRUST_ENV})")
            try:
                roots = licverify.TrustedRoots(
                    licverify.load_public_keys(read_input(trust, "--trust"))
                )
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--trust") from None
        return roots, self.chosen_product(product_opt)

    def chosen_product(self, product_opt: str | None) -> str:
        """The product for this run, or a usage error."""
        chosen = self.product or product_opt
        if not chosen:
            raise click.UsageError(f"give --product PRODUCT (or set {PRODUCT_ENV})")
        return chosen

    def store(self, state_dir: str | None, app_opt: str | None, product: str) -> Any:
        """The local store: --state-dir, else the platform's data directory for the app."""
        if not state_dir:
            import platformdirs

            state_dir = platformdirs.user_data_dir(
                app_opt or self.app_name(product), appauthor=False
            )
        return licverify.LocalStore(state_dir)

    def install_file(self, method: str, path: str, what: str, trust: str | None,
                     product_opt: str | None, state_dir: str | None, app_opt: str | None,
                     machine_id: str | None, at: str | None, as_json: bool) -> tuple[licverify.License, Any]:  # fmt: skip
        """Read a document and hand it to the store's ``import_license`` or ``install``.

        Prints the License as JSON when asked; a refused document prints its
        verdict line and exits 1.
        """
        roots, chosen = self.resolve(trust, product_opt)
        data = read_input(path, what)
        store = self.store(state_dir, app_opt, chosen)
        fingerprint = licverify.machine_fingerprint(chosen, machine_id=machine_id)
        try:
            lic: licverify.License = getattr(store, method)(
                data, trusted_roots=roots, product=chosen, now=_now(at), fingerprint=fingerprint
            )
        except licverify.LicenseError as exc:
            _refuse(exc, as_json)
        if as_json:
            click.echo(json.dumps(lic.to_json(), indent=2))
        return lic, store

    def app_name(self, product: str) -> str:
        """The application name that names the default state directory."""
        return product if self.app == "licverify" else self.app


def _now(at: str | None) -> datetime:
    try:
        return parse_when(at) if at else datetime.now(timezone.utc)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None


def _refuse(exc: licverify.LicenseError, as_json: bool) -> NoReturn:
    """Print a verdict line (or JSON) for a document that was refused, and exit 1."""
    if as_json:
        click.echo(
            json.dumps({"status": "invalid", "code": exc.code, "reason": str(exc)}, indent=2)
        )
    else:
        say(f"NOT VALID: {exc.code}: {exc}")
    raise click.exceptions.Exit(1)


def _options(settings: Settings, *, trust: bool = True, store: bool = False, machine: bool = True,
             at: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:  # fmt: skip
    """The options a command shares, hidden where the vendor built the value in."""
    decorators = []
    if trust:
        decorators.append(click.option(
            "--trust", envvar=TRUST_ENV, hidden=settings.roots is not None,
            help=f"Root public key file from the vendor (PEM, raw or hex). [env {TRUST_ENV}]"))  # fmt: skip
    decorators.append(click.option(
        "--product", "product_opt", envvar=PRODUCT_ENV, hidden=settings.product is not None,
        help=f"Product id the license must be for. [env {PRODUCT_ENV}]"))  # fmt: skip
    if store:
        decorators.append(click.option(
            "--state-dir", envvar=STATE_DIR_ENV, type=click.Path(file_okay=False),
            help=f"Local licensing state. [env {STATE_DIR_ENV}; default: the platform's data dir for the app]"))  # fmt: skip
        decorators.append(click.option(
            "--app", "app_opt", envvar=APP_ENV, hidden=settings.app != "licverify",
            help=f"Application name, for the default state directory. [env {APP_ENV}; default: the product]"))  # fmt: skip
    if machine:
        decorators.append(click.option(
            "--machine-id", envvar=MACHINE_ID_ENV,
            help=f"Use this machine id instead of the OS's (containers). [env {MACHINE_ID_ENV}]"))  # fmt: skip
    if at:
        decorators.append(
            click.option("--at", "at", help="Judge validity at this date instead of now.")
        )
    decorators.append(click.option("--json", "as_json", is_flag=True, help="Print as JSON."))

    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


def make_cli(
    *,
    app: str = "licverify",
    product: str | None = None,
    trusted_roots: Iterable[bytes] | None = None,
) -> click.Group:
    """Build the end-user command group.

    Args:
        app: command name shown in help and messages, and the default state directory's name.
        product: built-in product id; if None, ``--product`` / ``$LICVERIFY_PRODUCT`` is required.
        trusted_roots: built-in root keys; if None, ``--trust`` / ``$LICVERIFY_TRUST`` is required.
    """
    settings = Settings(
        app, product, None if trusted_roots is None else licverify.TrustedRoots(trusted_roots)
    )

    @click.group(name=app, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(licverify.__version__, prog_name=app)
    def group() -> None:
        """Check and activate licenses offline.

        Activation: 'import' the license file, make a 'request', carry it to the
        vendor, 'install' the response they send back; 'status' shows the result.
        Exit status: 0 licensed, 1 not licensed or refused, 2 usage or input error.
        """

    _add_check(group, settings)
    _add_import(group, settings)
    _add_request(group, settings)
    _add_install(group, settings)
    _add_status(group, settings)
    _add_deactivate(group, settings)
    _add_inspect(group, settings)
    _add_fingerprint(group, settings)
    return group


def _add_check(group: click.Group, settings: Settings) -> None:
    """Add ``check`` to ``group``."""

    @group.command()
    @click.argument("license_file", metavar="LICENSE")
    @click.option("--app-version", help="Application version to check against a version gate.")
    @_options(settings)
    def check(license_file: str, app_version: str | None, trust: str | None, product_opt: str | None,
              machine_id: str | None, at: str | None, as_json: bool) -> None:  # fmt: skip
        """Verify a license file (not the installed state) and print the verdict and terms.

        Exit status 0 only for a valid license (including one in its grace period).
        """
        roots, chosen = settings.resolve(trust, product_opt)
        when = _now(at)
        data = read_input(license_file, "LICENSE")
        fingerprint = licverify.machine_fingerprint(chosen, machine_id=machine_id)
        try:
            lic = licverify.verify_license(
                data, trusted_roots=roots, product=chosen, now=when,
                fingerprint=fingerprint, app_version=app_version,
            )  # fmt: skip
        except licverify.LicenseError as exc:
            _refuse(exc, as_json)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        _show(lic, as_json)


def _add_import(group: click.Group, settings: Settings) -> None:
    """Add ``import`` to ``group``."""

    @group.command("import")
    @click.argument("license_file", metavar="LICENSE")
    @_options(settings, store=True)
    def import_(license_file: str, trust: str | None, product_opt: str | None, state_dir: str | None,
                app_opt: str | None, machine_id: str | None, at: str | None, as_json: bool) -> None:  # fmt: skip
        """Verify a license file and install it in the local store."""
        lic, store = settings.install_file(
            "import_license", license_file, "LICENSE", trust, product_opt, state_dir, app_opt,
            machine_id, at, as_json,
        )  # fmt: skip
        if as_json:
            return
        say(f"Installed license {lic.id} for {lic.customer} in {store.path}")
        if lic.activation_required:
            click.echo(
                f"It needs activation: run '{settings.app} request -o request.txt' and send the file to your vendor."
            )


def _add_request(group: click.Group, settings: Settings) -> None:
    """Add ``request`` to ``group``."""

    @group.command()
    @click.option(
        "-o",
        "--output",
        default="-",
        show_default=True,
        help="Request file to write ('-' for stdout).",
    )
    @click.option(
        "--user", help="The user the activation is for (e-mail), if the license counts users."
    )
    @click.option("--code", help="A user activation code from your vendor, if you were given one.")
    @click.option(
        "--label", help="A name for this machine in the vendor's records (default: host name)."
    )
    @click.option("--force", is_flag=True, help="Replace the output file if it exists.")
    @_options(settings, trust=False, store=True, at=False)
    def request(output: str, user: str | None, code: str | None, label: str | None, force: bool,
                product_opt: str | None, state_dir: str | None, app_opt: str | None,
                machine_id: str | None, as_json: bool) -> None:  # fmt: skip
        """Make an activation request for the installed license, signed by this device."""
        import socket

        chosen = settings.chosen_product(product_opt)
        _check_output(output, force)
        store = settings.store(state_dir, app_opt, chosen)
        fingerprint = licverify.machine_fingerprint(chosen, machine_id=machine_id)
        name = label or socket.gethostname() or "unnamed"
        if user is not None:  # the one form the vendor compares (case, NFC, no invisibles)
            from licverify._fields import normalize_user

            try:
                user = normalize_user(user)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--user") from None
        for value, what in ((user, "--user"), (code, "--code"), (name, "--label")):
            if value is not None and (
                not value.strip() or len(value) > 256 or not value.isprintable()
            ):
                raise click.BadParameter("use 1 to 256 printable characters", param_hint=what)
        data = store.request(now=datetime.now(timezone.utc), fingerprint=fingerprint, label=name,
                             user=user, code=code)  # fmt: skip
        _write(output, data, force)
        if output != "-":
            say(f"Wrote activation request to {output}; send it to your vendor.", err=True)


def _add_install(group: click.Group, settings: Settings) -> None:
    """Add ``install`` to ``group``."""

    @group.command()
    @click.argument("response_file", metavar="RESPONSE")
    @_options(settings, store=True)
    def install(response_file: str, trust: str | None, product_opt: str | None, state_dir: str | None,
                app_opt: str | None, machine_id: str | None, at: str | None, as_json: bool) -> None:  # fmt: skip
        """Verify the vendor's activation response and install it."""
        lic, _ = settings.install_file(
            "install", response_file, "RESPONSE", trust, product_opt, state_dir, app_opt,
            machine_id, at, as_json,
        )  # fmt: skip
        if as_json:
            return
        activation = lic.activation.activation_id if lic.activation else "?"
        say(f"Activated: license {lic.id} on this machine (activation {activation}).")


def _add_status(group: click.Group, settings: Settings) -> None:
    """Add ``status`` to ``group``."""

    @group.command()
    @click.option("--app-version", help="Application version to check against a version gate.")
    @_options(settings, store=True)
    def status(app_version: str | None, trust: str | None, product_opt: str | None, state_dir: str | None,
               app_opt: str | None, machine_id: str | None, at: str | None, as_json: bool) -> None:  # fmt: skip
        """Check the installed license and activation as the application does.

        Exit status 0 only when this machine is licensed. When the activation
        expires (a refresh date or a floating lease), says by when to renew it,
        and warns on stderr from 14 days before.
        """
        roots, chosen = settings.resolve(trust, product_opt)
        store = settings.store(state_dir, app_opt, chosen)
        fingerprint = licverify.machine_fingerprint(chosen, machine_id=machine_id)
        when = _now(at)
        try:
            lic = store.check(trusted_roots=roots, product=chosen, now=when, fingerprint=fingerprint,
                              app_version=app_version)  # fmt: skip
        except licverify.LicenseError as exc:
            _refuse(exc, as_json)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--app-version") from None
        _show_status(lic, when, as_json, settings.app)


def _add_deactivate(group: click.Group, settings: Settings) -> None:
    """Add ``deactivate`` to ``group``."""

    @group.command()
    @click.option("-o", "--output", required=True, help="Receipt file to write ('-' for stdout).")
    @click.option("--force", is_flag=True, help="Replace the output file if it exists.")
    @_options(settings, trust=False, store=True, at=False)
    def deactivate(output: str, force: bool, product_opt: str | None, state_dir: str | None,
                   app_opt: str | None, machine_id: str | None, as_json: bool) -> None:  # fmt: skip
        """Remove this machine's activation and write a receipt for the vendor.

        The device key is replaced, so the old response can never be installed
        again. Run it again to write the same receipt if the file gets lost.
        """
        chosen = settings.chosen_product(product_opt)
        _check_output(output, force)
        store = settings.store(state_dir, app_opt, chosen)
        data = store.deactivate(now=datetime.now(timezone.utc))
        _write(output, data, force)
        if output != "-":
            say(f"Deactivated. Send {output} to your vendor to free the seat.", err=True)


def _add_inspect(group: click.Group, settings: Settings) -> None:
    """Add ``inspect`` to ``group``."""

    @group.command()
    @click.argument("document")
    @_options(settings, machine=False)
    def inspect(
        document: str, trust: str | None, product_opt: str | None, at: str | None, as_json: bool
    ) -> None:
        """Explain any licsign document: every field and every check."""
        roots = None
        if settings.roots is not None or trust:
            roots = settings.resolve(trust, product_opt or settings.product or "-")[0]
        report = licverify.inspect_document(
            read_input(document, "DOCUMENT"), trusted_roots=roots,
            product=settings.product or product_opt, now=_now(at),
        )  # fmt: skip
        if as_json:
            click.echo(json.dumps(report.to_json(), indent=2, default=str))
        else:
            print_report(report)
        if not report.verified:
            raise click.exceptions.Exit(1)


def _add_fingerprint(group: click.Group, settings: Settings) -> None:
    """Add ``fingerprint`` to ``group``."""

    @group.command()
    @_options(settings, trust=False, at=False)
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


def _show(lic: licverify.License, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(lic.to_json(), indent=2))
    else:
        _print_license(lic)


#: From this long before an activation expires, 'status' warns on stderr.
REFRESH_WARNING = timedelta(days=14)


def _refresh_due(lic: licverify.License) -> datetime | None:
    """When the installed activation expires (refresh-by, or a floating lease's end), or None."""
    expires = None if lic.activation is None else lic.activation.lease_expires
    return None if expires is None else datetime.fromtimestamp(expires, timezone.utc)


def _days_left(due: datetime, now: datetime) -> int:
    """Whole days left before ``due``, rounded up (a part of a day counts as one)."""
    seconds = int((due - now).total_seconds())
    return max(0, -(-seconds // 86400))


def _time_left(due: datetime, now: datetime) -> str:
    seconds = max(0, int((due - now).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size or unit == "minute":
            count = max(1, -(-seconds // size))
            return f"{count} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable")  # pragma: no cover


def _show_status(lic: licverify.License, now: datetime, as_json: bool, app: str) -> None:
    """'status': the license, when its activation must be renewed, and a warning when soon."""
    due = _refresh_due(lic)
    if as_json:
        data = lic.to_json()
        data["refresh_by"] = None if due is None else f"{due:%Y-%m-%dT%H:%M:%SZ}"
        data["refresh_due_in_days"] = None if due is None else _days_left(due, now)
        click.echo(json.dumps(data, indent=2))
    else:
        _print_license(lic)
    if due is None:
        return
    lease = lic.type == "floating"
    date = f"{due:%Y-%m-%d %H:%M:%S}Z"
    if not as_json:
        say(f"{'Lease ends:' if lease else 'Refresh by:':<12} {date}")
    # A lease of an hour is renewed all the time: warn only in its last quarter.
    window = min(REFRESH_WARNING, lic.lease / 4) if lease and lic.lease else REFRESH_WARNING
    if due - now <= window:
        what = "this lease ends" if lease else "this activation must be refreshed by"
        say(f"warning: {what} {date} ({_time_left(due, now)}); "
            f"run '{app} request' and send it to your vendor", err=True)  # fmt: skip


def _check_output(path: str, force: bool) -> None:
    problem = output_problem(path, force)
    if problem is not None:
        raise click.UsageError(problem)


def _write(path: str, data: bytes, force: bool) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with open(path, "wb" if force else "xb") as fh:
        fh.write(data)


def main(args: list[str] | None = None) -> None:
    """Console-script entry point for the generic ``licverify``."""
    sys.exit(run_click(make_cli(), "licverify", args))


def branded_main(cli: click.Group, args: list[str] | None = None) -> None:
    """Entry point for a vendor-branded CLI built with ``make_cli``."""
    sys.exit(run_click(cli, cli.name or "licverify", args))


__all__ = ["branded_main", "main", "make_cli", "print_report", "read_input"]
