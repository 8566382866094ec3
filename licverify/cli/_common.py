"""What every ``licverify`` command shares: settings, options, verdicts and the license table."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NoReturn

import click

import licverify
from licverify.cli._io import read_input
from licverify.cliutil import parse_when, say

TRUST_ENV = "LICVERIFY_TRUST"
PRODUCT_ENV = "LICVERIFY_PRODUCT"
MACHINE_ID_ENV = "LICVERIFY_MACHINE_ID"
STATE_DIR_ENV = "LICVERIFY_STATE_DIR"
APP_ENV = "LICVERIFY_APP"


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
        data = read_input(path, what)  # a bundle (format §5.1) has the same bound
        store = self.store(state_dir, app_opt, chosen)
        fingerprint = licverify.machine_fingerprint(chosen, machine_id=machine_id)
        when = at_or_now(at)
        # A bundle (format §5.1) may carry a revocation list: say when one was installed.
        before = _list_number(store, roots, chosen, when)
        try:
            lic: licverify.License = getattr(store, method)(
                data,
                trusted_roots=roots,
                product=chosen,
                now=when,
                fingerprint=fingerprint,
            )
        except licverify.LicenseError as exc:
            refuse(exc, as_json)
        after = _list_number(store, roots, chosen, when)
        installed = after if after != before else None
        if as_json:
            click.echo(json.dumps({**lic.to_json(), "revocation_list_installed": installed},
                                  indent=2))  # fmt: skip
        elif installed is not None:
            say(f"Installed revocation list {installed} from the same file in {store.path}")
        return lic, store

    def app_name(self, product: str) -> str:
        """The application name that names the default state directory."""
        return product if self.app == "licverify" else self.app


def _list_number(store: Any, roots: Any, product: str, now: datetime) -> int | None:
    """The number of the store's installed revocation list, or None (none, or damaged)."""
    try:
        current = store.installed_revocations(trusted_roots=roots, product=product, now=now)
    except licverify.LicenseError:
        return None
    return None if current is None else int(current.number)


def at_or_now(at: str | None) -> datetime:
    """The ``--at`` date if given, else now (UTC); a bad date is a usage error."""
    try:
        return parse_when(at) if at else datetime.now(timezone.utc)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None


def refuse(exc: licverify.LicenseError, as_json: bool) -> NoReturn:
    """Print a verdict line (or JSON) for a document that was refused, and exit 1."""
    if as_json:
        click.echo(
            json.dumps({"status": "invalid", "code": exc.code, "reason": str(exc)}, indent=2)
        )
    else:
        say(f"NOT VALID: {exc.code}: {exc}")
    raise click.exceptions.Exit(1)


def options(settings: Settings, *, trust: bool = True, store: bool = False, machine: bool = True,
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


def show_license(lic: licverify.License, as_json: bool) -> None:
    """The License as JSON, or the verdict line and a table for people."""
    if as_json:
        click.echo(json.dumps(lic.to_json(), indent=2))
    else:
        print_license(lic)


def _expires_text(lic: licverify.License) -> str:
    """The Expires line: a date, a term counted from the first activation, or never."""
    ends = lic.effective_expires
    after = lic.expires_after_activation
    if ends is not None:
        text = f"{ends:%Y-%m-%d %H:%M:%S}Z"
        return text if after is None else f"{text} ({after.days} days after first activation)"
    if after is not None:
        return f"{after.days} days after first activation (not activated)"
    return "never"


def print_license(lic: licverify.License) -> None:
    """Print the verdict line and the license's terms (every value escaped by ``say``)."""
    ends = lic.effective_expires
    if lic.status is licverify.Status.GRACE and ends is not None:
        click.echo(f"VALID (in grace: expired {ends:%Y-%m-%d}, {lic.grace_days_left} day(s) left)")
    elif lic.status is licverify.Status.MAINTAINED and ends is not None:
        click.echo(
            f"VALID (MAINTAINED: expired {ends:%Y-%m-%d}; kept working by its at_expiry term, "
            "renew it)"
        )
        click.echo(f"Warning: license expired on {ends:%Y-%m-%d}; renew it", err=True)
    else:
        click.echo("VALID")
    rows = [
        ("License", f"{lic.id} (version {lic.version})"),
        ("Product", lic.product),
        ("Customer", lic.customer),
        ("Issuer", lic.issuer or "-"),
        ("Type", lic.type),
        ("Issued", f"{lic.issued_at:%Y-%m-%d %H:%M:%S}Z"),
        ("Expires", _expires_text(lic)),
        ("Grace", f"{lic.grace.days} days" if lic.grace else "none"),
        (
            "Features",
            ", ".join(k if v is None else f"{k}={v}" for k, v in lic.features.items()) or "none",
        ),
    ]
    if lic.at_expiry == "maintain":
        rows.append(("At expiry", "maintain (keeps working after expiry, flagged)"))
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
