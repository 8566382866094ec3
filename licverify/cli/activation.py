"""The local store: ``import``, ``request``, ``install``, ``status`` and ``deactivate``.

The activation round trip: import the license file, write a request, carry
it to the vendor, install the response; ``status`` checks the result as the
application does, and ``deactivate`` frees the seat with a receipt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import click

import licverify
from licverify._time import iso
from licverify.cli._common import Settings, at_or_now, options, print_license, refuse
from licverify.cli._io import _check_output, _write
from licverify.cliutil import say

#: From this long before an activation expires, 'status' warns on stderr.
REFRESH_WARNING = timedelta(days=14)


def register(group: click.Group, settings: Settings) -> None:
    """Add this module's commands to ``group``."""
    _add_import(group, settings)
    _add_request(group, settings)
    _add_install(group, settings)
    _add_status(group, settings)
    _add_deactivate(group, settings)


def _add_import(group: click.Group, settings: Settings) -> None:
    """Add ``import`` to ``group``."""

    @group.command("import")
    @click.argument("license_file", metavar="LICENSE")
    @options(settings, store=True)
    def import_(license_file: str, trust: str | None, product_opt: str | None, state_dir: str | None,
                app_opt: str | None, machine_id: str | None, at: str | None, as_json: bool) -> None:  # fmt: skip
        """Verify a license file and install it in the local store.

        A revocation list from your vendor is imported the same way: the store
        keeps the newest and the application refuses what it revokes. A list
        riding along in a license file is installed with it (an older one is
        ignored). So are a counter refill (its units are added once) and a
        clock reset (the clock ratchet is set to the vendor's time, once).
        """
        importer = _IMPORTERS.get(_kind_of(license_file) or "")
        if importer is not None:
            importer(settings, license_file, trust, product_opt, state_dir, app_opt, at, as_json)
            return
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


def _kind_of(path: str) -> str | None:
    """The kind of document the file holds (by its armor or content type, unverified)."""
    from licverify._verify import open_envelope
    from licverify.cli._io import read_input

    try:  # a bundle (format §5.1) is no single envelope: import_license splits it
        return open_envelope(read_input(path, "LICENSE"))[0].kind.name
    except licverify.LicenseError:
        return None  # import_license reports what is wrong with it


def _add_request(group: click.Group, settings: Settings) -> None:
    """Add ``request`` and ``reserve`` to ``group``."""

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
    @options(settings, trust=False, store=True, at=False)
    def request(output: str, user: str | None, code: str | None, label: str | None, force: bool,
                product_opt: str | None, state_dir: str | None, app_opt: str | None,
                machine_id: str | None, as_json: bool) -> None:  # fmt: skip
        """Make an activation request for the installed license, signed by this device."""
        _write_request(settings, output, (user, code, label), force,
                       (product_opt, state_dir, app_opt, machine_id), None)  # fmt: skip

    @group.command()
    @click.option("--for", "lease", default=None, metavar="DURATION",
                  help="How long to hold the seat, e.g. 3d or 8h (default and at most: the "
                  "license's lease).")  # fmt: skip
    @click.option("-o", "--output", default="-", show_default=True,
                  help="Request file to write ('-' for stdout).")  # fmt: skip
    @click.option("--user", help="The user the seat is for (e-mail), if the license counts users.")
    @click.option("--label", help="A name for this machine in the vendor's records.")
    @click.option("--force", is_flag=True, help="Replace the output file if it exists.")
    @options(settings, trust=False, store=True, at=False)
    def reserve(lease: str | None, output: str, user: str | None, label: str | None, force: bool,
                product_opt: str | None, state_dir: str | None, app_opt: str | None,
                machine_id: str | None, as_json: bool) -> None:  # fmt: skip
        """Ask for a floating seat for a while (a lease), like a portal's "reserve".

        Send the file to your vendor and install the response; the seat is
        held until the lease ends, offline, or until 'return' gives it back.
        """
        seconds = None if lease is None else _lease_seconds(lease)
        _write_request(settings, output, (user, None, label), force,
                       (product_opt, state_dir, app_opt, machine_id), seconds)  # fmt: skip


def _lease_seconds(text: str) -> timedelta:
    from licverify.cliutil import parse_duration

    try:
        return timedelta(seconds=parse_duration(text).seconds_from(datetime.now(timezone.utc)))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None


def _write_request(settings: Settings, output: str, who: tuple[str | None, str | None, str | None],
                   force: bool, where: tuple[str | None, str | None, str | None, str | None],
                   lease: timedelta | None) -> None:  # fmt: skip
    """Write a request (``lease``: a reservation) for the installed license."""
    import socket

    user, code, label = who
    product_opt, state_dir, app_opt, machine_id = where
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
        if value is not None and (not value.strip() or len(value) > 256 or not value.isprintable()):
            raise click.BadParameter("use 1 to 256 printable characters", param_hint=what)
    try:
        data = store.request(now=datetime.now(timezone.utc), fingerprint=fingerprint, label=name,
                             user=user, code=code, lease=lease)  # fmt: skip
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    _write(output, data, force)
    if output != "-":
        say(f"Wrote activation request to {output}; send it to your vendor.", err=True)


def _add_install(group: click.Group, settings: Settings) -> None:
    """Add ``install`` to ``group``."""

    @group.command()
    @click.argument("response_file", metavar="RESPONSE")
    @options(settings, store=True)
    def install(response_file: str, trust: str | None, product_opt: str | None, state_dir: str | None,
                app_opt: str | None, machine_id: str | None, at: str | None, as_json: bool) -> None:  # fmt: skip
        """Verify the vendor's activation response and install it.

        A revocation list riding along in the same file is installed with it
        (an older one is ignored).
        """
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
    @options(settings, store=True)
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
        when = at_or_now(at)
        try:
            lic = store.check(trusted_roots=roots, product=chosen, now=when, fingerprint=fingerprint,
                              app_version=app_version)  # fmt: skip
        except licverify.LicenseError as exc:
            refuse(exc, as_json)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--app-version") from None
        _show_status(lic, when, as_json, settings.app, _counters_left(store, lic))


def _add_deactivate(group: click.Group, settings: Settings) -> None:
    """Add ``deactivate`` and ``return`` (the same, for a reserved floating seat) to ``group``."""

    def run(output: str, force: bool, product_opt: str | None, state_dir: str | None,
            app_opt: str | None, machine_id: str | None, as_json: bool) -> None:  # fmt: skip
        chosen = settings.chosen_product(product_opt)
        _check_output(output, force)
        store = settings.store(state_dir, app_opt, chosen)
        data = store.deactivate(now=datetime.now(timezone.utc))
        _write(output, data, force)
        if output != "-":
            say(f"Deactivated. Send {output} to your vendor to free the seat.", err=True)

    receipt = click.option("-o", "--output", required=True,
                           help="Receipt file to write ('-' for stdout).")  # fmt: skip
    force = click.option("--force", is_flag=True, help="Replace the output file if it exists.")
    for name, doc in (
        ("deactivate", "Remove this machine's activation and write a receipt for the vendor.\n\n"
         "The device key is replaced, so the old response can never be installed again. Run it "
         "again to write the same receipt if the file gets lost."),
        ("return", "Give a reserved floating seat back before its lease ends: a receipt for the "
         "vendor.\n\nThe same as 'deactivate'; the vendor frees the seat at once (not a "
         "transfer)."),
    ):  # fmt: skip
        group.command(name, help=doc)(
            receipt(force(options(settings, trust=False, store=True, at=False)(run)))
        )


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


def _counters_left(store: Any, lic: licverify.License) -> dict[str, int]:
    """Units left of each of the license's counters, in this store (format §12.5)."""
    return {name: store.remaining(name, license=lic) for name in sorted(lic.terms.counters)}


def _show_status(lic: licverify.License, now: datetime, as_json: bool, app: str,
                 left: dict[str, int]) -> None:  # fmt: skip
    """'status': the license, units left, when its activation must be renewed, and a warning
    when soon."""
    due = _refresh_due(lic)
    if as_json:
        data = lic.to_json()
        data["refresh_by"] = None if due is None else f"{due:%Y-%m-%dT%H:%M:%SZ}"
        data["refresh_due_in_days"] = None if due is None else _days_left(due, now)
        data["counters_left"] = left
        click.echo(json.dumps(data, indent=2))
    else:
        print_license(lic)
        for name, units in left.items():
            say(f"{'Left:':<12} {units} {name}")
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


Importer = Callable[
    [Settings, str, "str | None", "str | None", "str | None", "str | None", "str | None", bool],
    None,
]


def _importer(method: str, describe: Callable[[Any, str], str]) -> Importer:
    """An ``import`` of a document that is no license: the store's ``method`` verifies and
    installs it (format §13.3, §14.2, §14.3); ``describe`` says what it did."""

    def run(settings: Settings, path: str, trust: str | None, product_opt: str | None,
            state_dir: str | None, app_opt: str | None, at: str | None, as_json: bool) -> None:  # fmt: skip
        from licverify.cli._io import read_input

        roots, chosen = settings.resolve(trust, product_opt)
        store = settings.store(state_dir, app_opt, chosen)
        try:
            done = getattr(store, method)(
                read_input(path, "LICENSE"), trusted_roots=roots, product=chosen,
                now=at_or_now(at),
            )  # fmt: skip
        except licverify.LicenseError as exc:
            refuse(exc, as_json)
        if as_json:
            click.echo(json.dumps(done.to_json(), indent=2))
            return
        say(describe(done, store.path))

    return run


def _listed(revoked: Any, path: str) -> str:
    count = len(revoked.licenses) + len(revoked.activations) + len(revoked.keys)
    return f"Installed revocation list {revoked.number} ({count} revoked) in {path}"


#: What ``import`` does with a file that holds no license, by its kind.
_IMPORTERS = {
    "revocation-list": _importer("import_revocations", _listed),
    "counter-refill": _importer(
        "import_refill", lambda r, path: f"Added {r.amount} units to counter {r.counter} in {path}"
    ),
    "clock-reset": _importer(
        "import_clock_reset",
        lambda r, path: f"Clock ratchet reset to {iso(r.issued_at)} in {path}",
    ),
}
