"""``licsign issue``, ``licsign list`` and ``licsign show``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import click

from licsign import (
    LICENSE_STATUSES,
    MAX_LIMIT,
    IssueRequest,
    LicenseDetails,
    issue_license,
    license_details,
    license_list,
)
from licsign._validation import counter_spec
from licsign.cli._context import (
    Context,
    emit_json,
    field_errors,
    now_utc,
    parse_option,
    pass_context,
    require_writable,
    say,
    table,
    write_output,
)
from licverify._time import iso
from licverify.cliutil import format_duration, parse_duration, parse_when
from licverify.format import LICENSE_TYPES

#: Where each field ``issue`` may refuse came from on its command line.
_ISSUE_FIELDS = {
    "feature": "--feature", "counter": "--counter", "max_version": "--max-version",
    "device_match": "--device-match", "user": "--user", "order_id": "--order",
    "at_expiry": "--at-expiry", "expires_after_activation": "--expires-after-activation",
}  # fmt: skip


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(issue)
    cli.add_command(list_licenses)
    cli.add_command(show)


def _feature_value(text: str) -> Any:
    if re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def _features(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not name:
            raise click.BadParameter(f"{item!r}: use NAME or NAME=VALUE", param_hint="--feature")
        out[name] = _feature_value(value) if sep else None
    return out


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in values:
        k, sep, v = item.partition("=")
        if not k or not sep:
            raise click.BadParameter(f"{item!r}: use KEY=VALUE", param_hint=option)
        out[k] = v
    return out


def _devices(values: tuple[str, ...]) -> list[Any]:
    from licverify import parse_fingerprint

    return [parse_option(parse_fingerprint, v, "--device") for v in values]


def _request(opts: dict[str, Any]) -> IssueRequest:
    """The request the options ask for (parsed here, checked by ``IssueRequest``)."""
    metadata = _pairs(opts["meta"], "--meta")
    return IssueRequest(
        opts["product"], opts["customer"], opts["license_type"],
        expires=parse_option(parse_when, opts["expires"], "--expires"),
        duration=parse_option(parse_duration, opts["duration"], "--duration"),
        not_before=parse_option(parse_when, opts["not_before"], "--not-before"),
        grace=parse_option(parse_duration, opts["grace"], "--grace"),
        features=_features(opts["features"]),
        max_version=opts["max_version"],
        maintenance_end=parse_option(parse_when, opts["maintenance_end"], "--maintenance-end"),
        max_devices=opts["max_devices"], max_users=opts["max_users"],
        max_devices_per_user=opts["max_devices_per_user"], max_transfers=opts["max_transfers"],
        users=list(opts["users"]), devices=_devices(opts["devices"]),
        device_match=opts["device_match"],
        activation_required=opts["require_activation"],
        counters={name: (limit, overage)
                  for name, limit, overage in map(counter_spec, opts["counters"])},
        lease=parse_option(parse_duration, opts["lease"], "--lease"),
        metadata=metadata,
        refresh=parse_option(parse_duration, opts["refresh"], "--refresh"),
        order=opts["order"],
        at_expiry=opts["at_expiry"],
        expires_after_activation=parse_option(
            parse_duration, opts["expires_after_activation"], "--expires-after-activation"),
    )  # fmt: skip


@click.command()
@click.option("--product", help="Product id.  [required unless --from-csv]")
@click.option("--customer", help="Customer id.  [required unless --from-csv]")
@click.option(
    "--type",
    "license_type",
    type=click.Choice(LICENSE_TYPES),
    help="License type.  [required unless --from-csv]",
)
@click.option(
    "--expires", help="Expiry date (YYYY-MM-DD or ISO date-time, UTC unless a zone is given)."
)
@click.option(
    "--duration",
    help="Validity from the start (instead of --expires): s, min, h, d, w, or calendar mo and y,"
    " e.g. 30d, 1mo, 1y (31 Jan + 1mo = end of Feb). 'm' is refused: say min or mo.",
)
@click.option(
    "--expires-after-activation",
    help="Validity counted from the license's first activation (instead of --expires or "
    "--duration), e.g. 30d; the activation response fixes the date. Implies activation.",
)
@click.option("--not-before", help="Start of validity (default: now).")
@click.option("--grace", help="Grace period after expiry, e.g. 14d or 1mo (units as --duration).")
@click.option(
    "--at-expiry",
    type=click.Choice(["restrict", "maintain"]),
    default="restrict",
    show_default=True,
    help="After expiry and grace: restrict (stop working) or maintain (keep working, flagged "
    "as expired; never stops a production line).",
)
@click.option(
    "--max-devices", type=click.IntRange(0, MAX_LIMIT), help="Most devices that may be activated."
)
@click.option("--max-users", type=click.IntRange(0, MAX_LIMIT), help="Most distinct users.")
@click.option(
    "--max-devices-per-user", type=click.IntRange(0, MAX_LIMIT), help="Most devices per user."
)
@click.option(
    "--max-transfers",
    type=click.IntRange(0, MAX_LIMIT),
    help="Most device transfers (deactivations).",
)
@click.option(
    "--user", "users", multiple=True, help="An allowed user, e.g. an e-mail (repeatable)."
)
@click.option(
    "--device",
    "devices",
    multiple=True,
    help="Bind to a device fingerprint ('licverify fingerprint'; repeatable).",
)
@click.option(
    "--device-match",
    default="all",
    show_default=True,
    help="Components that must match: all, most, or a number.",
)
@click.option(
    "--require-activation",
    is_flag=True,
    help="The license works only after an activation exchange.",
)
@click.option("--feature", "features", multiple=True, help="NAME or NAME=VALUE (repeatable).")
@click.option(
    "--counter", "counters", multiple=True, help="NAME=LIMIT or NAME=LIMIT+OVERAGE (repeatable)."
)
@click.option("--lease", help="Lease duration for floating licenses, e.g. 30min, 8h (default 1h).")
@click.option(
    "--refresh",
    help="Activations expire after this period unless the machine renews them, e.g. 90d "
    "(a reset or lost machine stops working by then). Implies activation.",
)
@click.option("--max-version", help="Newest application version allowed, e.g. 2.9.")
@click.option("--maintenance-end", help="Releases after this date are not covered.")
@click.option(
    "--meta", "meta", multiple=True, help="Free-form KEY=VALUE metadata (repeatable, 4 KiB total)."
)
@click.option("--order", help="The order it is issued under ('licsign order add'; same customer).")
@click.option(
    "--from-csv",
    "from_csv",
    metavar="FILE",
    help="Issue one license per row of this CSV file (columns named as these options), all "
    "or none, the key opened once; -o is then a new or empty directory (docs/issuer.md).",
)
@click.option(
    "-o",
    "--output",
    required=True,
    help="License file to write ('-' for stdout); with --from-csv, the directory.",
)
@click.option("--binary", is_flag=True, help="Write binary CBOR instead of armored text.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the issued terms as JSON.")
@pass_context
def issue(ctx: Context, /, **opts: Any) -> None:
    """Issue a signed license and record it in the ledger.

    Seat limits (--max-devices, --max-users, --max-devices-per-user,
    --max-transfers), allowed users (--user), floating leases and --refresh
    can only be enforced through the activation exchange, so they make the
    license require activation (said on the output). Devices listed with
    --device work without an exchange.

    With --from-csv FILE -o DIR: one license per row, recorded all or none,
    then DIR/<license id>.lic for each and DIR/manifest.csv (line, license,
    product, customer, file, sha256).
    """
    from licsign.cli import bulk

    if opts["from_csv"] is not None:
        bulk.issue_csv(ctx, opts)
        return
    bulk.require_single_issue_options(opts)
    with field_errors(**_ISSUE_FIELDS):
        request = _request(opts)
    output = opts["output"]
    if output == "-" and opts["as_json"]:
        raise click.UsageError("--json and -o - would both write to stdout; give -o FILE")
    require_writable(output, opts["force"])  # before the ledger records anything
    with field_errors(**_ISSUE_FIELDS):
        issued = issue_license(ctx.workspace(), request, ctx.passphrase_source(), now=now_utc())
    write_output(output, issued.document if opts["binary"] else issued.armored, opts["force"])
    if opts["as_json"]:
        emit_json(issued.to_json())
    elif output != "-":
        say(f"Issued license {issued.id} to {output}")
    if issued.activation_implied_by and not opts["as_json"]:
        click.echo(
            f"Activation required: {', '.join(issued.activation_implied_by)} can only be "
            "enforced through the activation exchange (licverify request / licsign activate)",
            err=output == "-",
        )


@click.command("list")
@click.option("--product", help="Only this product.")
@click.option("--customer", help="Only this customer.")
@click.option("--order", help="Only licenses issued under this order.")
@click.option(
    "--status", type=click.Choice(LICENSE_STATUSES), help="Only licenses with this status now."
)
@click.option("--type", "license_type", type=click.Choice(LICENSE_TYPES), help="Only this type.")
@click.option(
    "--expiring-within",
    metavar="DURATION",
    help="Only licenses that expire from now to this long from now, e.g. 30d or 1mo.",
)
@click.option(
    "--limit", type=click.IntRange(0), default=1000, show_default=True,
    help="At most this many licenses (0: all).",
)  # fmt: skip
@click.option("--after", metavar="LICENSE", help="Continue after this license (the next page).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def list_licenses(ctx: Context, /, **opts: Any) -> None:
    """List licenses (newest version of each), newest first, a page at a time.

    When more match than --limit, the last line (on stderr) gives the
    command for the next page: the same filters with --after.
    """
    found = license_list(
        ctx.workspace(), now=now_utc(), product=opts["product"], customer=opts["customer"],
        order=opts["order"], status=opts["status"], type=opts["license_type"],
        expiring_within=parse_option(parse_duration, opts["expiring_within"], "--expiring-within"),
        limit=opts["limit"] or None, after=opts["after"],
    )  # fmt: skip
    if found.next_after is not None:
        click.echo(
            f"More licenses match: add --after {found.next_after} for the next page", err=True
        )
    if opts["as_json"]:
        emit_json(found.to_json())
        return
    if not found.licenses:
        if found.any_issued:
            click.echo("No license matches these filters.", err=True)
        else:
            click.echo("No licenses yet. Issue one with 'licsign issue'.", err=True)
        return
    table(
        [[r.id, r.customer, r.product, r.type, r.basis, r.status,
          _used(r.devices_used, r.max_devices),
          _used(r.users_used, r.max_users) if r.basis == "user" else "-",
          iso(r.expires) or "never"]
         for r in found.licenses],
        ["ID", "CUSTOMER", "PRODUCT", "TYPE", "BASIS", "STATUS", "DEVICES", "USERS", "EXPIRES"],
    )  # fmt: skip


def _used(used: int, limit: int | None) -> str:
    """``used/max``, ``-`` standing for no limit (``2/5``, ``2/-``)."""
    return f"{used}/{'-' if limit is None else limit}"


@click.command()
@click.argument("license_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--export", "export_to", help="Also write the license document again to this file.")
@click.option("--force", is_flag=True, help="Replace the export file if it exists.")
@pass_context
def show(ctx: Context, license_id: str, as_json: bool, export_to: str | None, force: bool) -> None:
    """Show one license: terms, status and history."""
    details = license_details(ctx.workspace(), license_id, now=now_utc())
    if export_to:
        require_writable(export_to, force)
        write_output(export_to, details.armored, force)
    if as_json:
        emit_json(details.to_json())
        return
    for label, value in _detail_lines(details) + _page_lines(details):
        say(f"{label + ':':<12} {value}")
    _print_users(details)
    say(f"Devices:     {len(details.devices)} seen")
    for d in details.devices:
        say(f"  device {d.device_id[:12]}  {d.label}  {d.status}  last seen {iso(d.last_seen)}")
    _print_shares(details)
    _print_activations(details)
    click.echo("History:")
    names = details.device_names()
    for h in details.history:
        device = h.data.get("device")
        named = f"  {names[device]}" if isinstance(device, str) and device in names else ""
        say(f"  {iso(h.at)}  {h.event}{named}")


def _page_lines(details: LicenseDetails) -> list[tuple[str, str]]:
    """The lines of the details page beyond the terms: basis, lifecycle, usage, last seen."""
    life, usage = details.lifecycle, details.usage
    lines = [("Basis", f"{details.basis}-based")]
    if life is not None:
        lines += [
            ("Created", str(iso(life.created))),
            ("First used", iso(life.first_activated) or "never"),
            ("Grace ends", iso(life.grace_ends) or "never"),
            ("Supersedes", "none" if life.supersedes is None else f"version {life.supersedes}"),
            ("Superseded", "no" if life.superseded_by is None
             else f"by version {life.superseded_by}"),
        ]  # fmt: skip
    per_user = usage.get("max_devices_per_user")
    lines += [
        ("Max devices", _limit(usage.get("max_devices"))),
        ("Max users", _limit(usage.get("max_users"))),
        ("Per user", "no cap" if per_user is None else f"{per_user} device(s)"),
        ("Transfers", f"{usage.get('transfers_used', 0)} used of "
         f"{_limit(usage.get('max_transfers'))}"),
        ("Last active", iso(details.last_activation) or "never"),
        ("Last freed", iso(details.last_deactivation) or "never"),
        ("Last report", details.last_usage_report or "never"),
    ]  # fmt: skip
    for report in details.usage_reports:
        used = ", ".join(f"{c}={n}" for c, n in sorted(report["totals"].items())) or "nothing"
        lines.append(("Usage", f"device {report['device_id'][:12]}: {used} "
                               f"(report {report['seq']}, {report['reported_at']})"))  # fmt: skip
    for refill in details.refills:
        lines.append(("Refill", f"{refill['counter']} +{refill['amount']} for device "
                                f"{refill['device_id'][:12]} ({refill['issued_at']})"))  # fmt: skip
    return lines


def _limit(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def _print_users(details: LicenseDetails) -> None:
    """The users of a user-based license: seats, own cap, code state (removed ones marked)."""
    if details.basis != "user" and not details.users:
        return
    say(f"License users: {sum(1 for u in details.users if u.removed_at is None)}")
    for u in details.users:
        name = "" if u.name is None else f" ({u.name})"
        cap = "" if u.max_devices is None else f", cap {u.max_devices}"
        gone = "" if u.removed_at is None else f", removed {iso(u.removed_at)}"
        say(f"  user {u.email}{name}  seats {u.seats}{cap}  code {u.code}{gone}")


def _print_shares(details: LicenseDetails) -> None:
    """Who the license is shared with: their seat, code state, and when (removed ones marked)."""
    say(f"Shares:      {sum(1 for x in details.shares if x.removed_at is None)}")
    for x in details.shares:
        gone = "" if x.removed_at is None else f", removed {iso(x.removed_at)}"
        say(
            f"  shared with {x.email}  since {iso(x.added_at)}  seats {x.seats}  code {x.code}{gone}"
        )


def _print_activations(details: LicenseDetails) -> None:
    """Every activation, oldest first, naming its device (label and short id)."""
    click.echo("Activations:")
    for a in details.activations:
        user = "" if a.user is None else f"  user {a.user}"
        ended = "open" if a.ended_at is None else f"ended {iso(a.ended_at)} ({a.end_reason})"
        say(f"  {iso(a.created_at)}  {a.device_name}{user}  last renewed "
            f"{iso(a.renewed_at)}  {ended}")  # fmt: skip


def _detail_lines(details: LicenseDetails) -> list[tuple[str, str]]:
    """The label and value of each line of 'licsign show' (the license details page)."""
    terms = details.terms
    return [
        ("License", f"{terms['id']} (version {terms['version']})"),
        ("Status", details.status),
        ("Product", terms["product"]),
        ("Customer", terms["customer"]),
        *_order_lines(details),
        ("Type", terms["type"]),
        ("Issued", terms["issued_at"]),
        ("Valid from", terms["not_before"] or terms["issued_at"]),
        ("Expires", _expires_text(terms)),
        ("Grace", f"{terms['grace_seconds'] // 86400} days" if terms["grace_seconds"] else "none"),
        ("At expiry", terms.get("at_expiry", "restrict")),
        *_grants(terms),
        ("Activation", _activation_text(terms)),
        ("Counters", ", ".join(f"{n}={c['limit']}+{c['overage']}"
                               for n, c in terms["counters"].items()) or "none"),
        ("Signed by", details.key_id),
        ("Seats", _seats(details)),
    ]  # fmt: skip


def _expires_text(terms: dict[str, Any]) -> str:
    """The Expires line: the date, or the term counted from the first activation."""
    after = terms.get("expires_after_activation_seconds")
    if after is not None:
        return f"{format_duration(timedelta(seconds=after))} after first activation"
    return str(terms["expires"] or "never")


def _order_lines(details: LicenseDetails) -> list[tuple[str, str]]:
    """The Order and Managers lines (the order's managers manage each of its licenses)."""
    order = details.order
    if order is None:
        return [("Order", "none"), ("Managers", "none")]
    reference = "" if order.reference is None else f" (reference {order.reference})"
    managers = [m.email if m.name is None else f"{m.email} ({m.name})" for m in details.managers]
    return [("Order", order.id + reference), ("Managers", ", ".join(managers) or "none")]


def _grants(terms: dict[str, Any]) -> list[tuple[str, str]]:
    """The Features, Limits, Users and Bound to lines."""
    features = terms["features"].items()
    limits = terms["limits"].items()
    devices = len(terms["allowed_devices"])
    return [
        ("Features", ", ".join(k if v is None else f"{k}={v}" for k, v in features) or "none"),
        ("Limits", ", ".join(f"{k.removeprefix('max_')}={v}" for k, v in limits if v is not None)
         or "none"),
        ("Users", ", ".join(terms["allowed_users"]) or "any"),
        ("Bound to", f"{devices} device(s) listed at issue" if devices else "no device list"),
    ]  # fmt: skip


def _activation_text(terms: dict[str, Any]) -> str:
    if not terms["activation_required"]:
        return "not required"
    refresh = terms.get("refresh_seconds")
    lease = terms.get("lease_seconds")
    parts = ["required"]
    if lease:
        parts.append(f"lease {format_duration(timedelta(seconds=lease))}")
    if refresh:
        parts.append(f"refresh every {format_duration(timedelta(seconds=refresh))}")
    return ", ".join(parts)


def _seats(details: LicenseDetails) -> str:
    limit = details.terms["limits"].get("max_devices")
    return (
        f"{details.active_seats} active"
        + ("" if limit is None else f" of {limit}")
        + f" ({len(details.devices)} devices seen)"
    )
