"""``licsign issue``, ``licsign list`` and ``licsign show``."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import click

from licsign.cli._context import (
    Context,
    emit_json,
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

_TYPES = ["perpetual", "time-limited", "subscription", "trial", "consumption", "floating"]
_COUNTER = re.compile(r"([A-Za-z0-9][A-Za-z0-9._:/-]{0,63})=(\d{1,18})(?:\+(\d{1,18}))?\Z")


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


def _counters(values: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    out = {}
    for item in values:
        match = _COUNTER.match(item)
        if not match:
            raise click.BadParameter(
                f"{item!r}: use NAME=LIMIT or NAME=LIMIT+OVERAGE", param_hint="--counter"
            )
        out[match.group(1)] = (int(match.group(2)), int(match.group(3) or 0))
    return out


def _device_match(text: str) -> str | int:
    if text in ("all", "most"):
        return text
    if text.isdigit() and 1 <= int(text) <= 64:
        return int(text)
    raise ValueError(f"{text!r}: use all, most or a number of components from 1 to 64")


def _devices(values: tuple[str, ...]) -> list[Any]:
    from licverify import parse_fingerprint

    return [parse_option(parse_fingerprint, v, "--device") for v in values]


def license_state(terms: dict[str, Any], now: int) -> str:
    """active / in-grace / expired / not-yet-valid, from the recorded terms."""
    from licverify.cliutil import parse_when as when

    def ts(value: str | None) -> int | None:
        return None if value is None else int(when(value).timestamp())

    if (ts(terms.get("not_before")) or 0) > now:
        return "not-yet-valid"
    expires = ts(terms.get("expires"))
    if expires is None or now < expires:
        return "active"
    return "in-grace" if now < expires + terms.get("grace_seconds", 0) else "expired"


@click.command()
@click.option("--product", required=True, help="Product id.")
@click.option("--customer", required=True, help="Customer id.")
@click.option(
    "--type", "license_type", required=True, type=click.Choice(_TYPES), help="License type."
)
@click.option(
    "--expires", help="Expiry date (YYYY-MM-DD or ISO date-time, UTC unless a zone is given)."
)
@click.option(
    "--duration",
    help="Validity from the start (instead of --expires): s, min, h, d, w, or calendar mo and y,"
    " e.g. 30d, 1mo, 1y (31 Jan + 1mo = end of Feb). 'm' is refused: say min or mo.",
)
@click.option("--not-before", help="Start of validity (default: now).")
@click.option("--grace", help="Grace period after expiry, e.g. 14d or 1mo (units as --duration).")
@click.option(
    "--max-devices", type=click.IntRange(0, 2**32 - 1), help="Most devices that may be activated."
)
@click.option("--max-users", type=click.IntRange(0, 2**32 - 1), help="Most distinct users.")
@click.option(
    "--max-devices-per-user", type=click.IntRange(0, 2**32 - 1), help="Most devices per user."
)
@click.option(
    "--max-transfers",
    type=click.IntRange(0, 2**32 - 1),
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
@click.option("-o", "--output", required=True, help="License file to write ('-' for stdout).")
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
    """
    from licsign._issue import IssueRequest, issue_license

    metadata = {}
    for item in opts["meta"]:
        k, sep, v = item.partition("=")
        if not k or not sep:
            raise click.BadParameter(f"{item!r}: use KEY=VALUE", param_hint="--meta")
        metadata[k] = v
    request = IssueRequest(
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
        device_match=parse_option(_device_match, opts["device_match"], "--device-match"),
        activation_required=opts["require_activation"],
        counters=_counters(opts["counters"]),
        lease=parse_option(parse_duration, opts["lease"], "--lease"),
        metadata=metadata,
        refresh=parse_option(parse_duration, opts["refresh"], "--refresh"),
    )  # fmt: skip
    if opts["max_version"] is not None and not re.fullmatch(
        r"\d{1,9}(\.\d{1,9}){0,3}", opts["max_version"]
    ):
        raise click.BadParameter(
            f"{opts['max_version']!r}: use a version like 2.9 or 2.9.1", param_hint="--max-version"
        )
    output = opts["output"]
    if output == "-" and opts["as_json"]:
        raise click.UsageError("--json and -o - would both write to stdout; give -o FILE")
    require_writable(output, opts["force"])  # before the ledger records anything
    ws = ctx.workspace()
    issued = issue_license(ws, request, ctx.passphrase_source(), now=now_utc())
    write_output(output, issued.document if opts["binary"] else issued.armored, opts["force"])
    from licverify.format import terms_to_json

    if opts["as_json"]:
        emit_json(terms_to_json(issued.terms))
    elif output != "-":
        click.echo(f"Issued license {issued.id} to {output}")
    if issued.activation_implied_by and not opts["as_json"]:
        click.echo(
            f"Activation required: {', '.join(issued.activation_implied_by)} can only be "
            "enforced through the activation exchange (licverify request / licsign activate)",
            err=output == "-",
        )


@click.command("list")
@click.option("--product", help="Only this product.")
@click.option("--customer", help="Only this customer.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def list_licenses(ctx: Context, product: str | None, customer: str | None, as_json: bool) -> None:
    """List licenses (newest version of each)."""
    now = int(now_utc().timestamp())
    rows = []
    for r in ctx.workspace().ledger.licenses(product, customer):
        terms = json.loads(r["terms"])
        rows.append({
            "id": r["id"], "version": r["version"], "product": r["product_id"],
            "customer": r["customer_id"], "type": r["type"], "status": license_state(terms, now),
            "issued_at": iso(r["issued_at"]), "expires": iso(r["expires"]),
        })  # fmt: skip
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("No licenses yet. Issue one with 'licsign issue'.", err=True)
        return
    table(
        [
            [r["id"], r["product"], r["customer"], r["type"], r["status"], r["expires"] or "never"]
            for r in rows
        ],
        ["ID", "PRODUCT", "CUSTOMER", "TYPE", "STATUS", "EXPIRES"],
    )


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


def _seats(seats: list[dict[str, Any]], limit: int | None) -> str:
    active = sum(1 for d in seats if d["status"] == "active")
    return (
        f"{active} active"
        + ("" if limit is None else f" of {limit}")
        + f" ({len(seats)} devices seen)"
    )


@click.command()
@click.argument("license_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--export", "export_to", help="Also write the license document again to this file.")
@click.option("--force", is_flag=True, help="Replace the export file if it exists.")
@pass_context
def show(ctx: Context, license_id: str, as_json: bool, export_to: str | None, force: bool) -> None:
    """Show one license: terms, status and history."""
    from licverify.format import LICENSE, armor

    ledger = ctx.workspace().ledger
    row = ledger.license(license_id)
    terms = json.loads(row["terms"])
    history = [{"at": iso(h["at"]), "event": h["kind"], **json.loads(h["data"])}
               for h in ledger.license_history(license_id)]  # fmt: skip
    from licsign._activation import devices

    seats = devices(ctx.workspace(), license_id, now_utc())
    info = {
        "status": license_state(terms, int(now_utc().timestamp())),
        "terms": terms,
        "devices": seats,
        "key_id": row["key_id"],
        "digest": row["digest"],
        "history": history,
    }
    if export_to:
        require_writable(export_to, force)
        write_output(export_to, armor(row["document"], LICENSE), force)
    if as_json:
        emit_json(info)
        return
    for label, value in _detail_lines(terms, info["status"], row["key_id"], seats):
        say(f"{label + ':':<12} {value}")
    for d in seats:
        say(f"  device {d['device'][:12]}  {d['label']}  {d['status']}  last seen {d['last_seen']}")
    click.echo("History:")
    for h in history:
        say(f"  {h['at']}  {h['event']}")


def _detail_lines(
    terms: dict[str, Any], status: str, key_id: str, seats: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """The label and value of each line of 'licsign show' (the license details page)."""
    limits = terms["limits"]
    return [
        ("License", f"{terms['id']} (version {terms['version']})"),
        ("Status", status),
        ("Product", terms["product"]),
        ("Customer", terms["customer"]),
        ("Type", terms["type"]),
        ("Issued", terms["issued_at"]),
        ("Valid from", terms["not_before"] or terms["issued_at"]),
        ("Expires", terms["expires"] or "never"),
        ("Grace", f"{terms['grace_seconds'] // 86400} days" if terms["grace_seconds"] else "none"),
        (
            "Features",
            ", ".join(k if v is None else f"{k}={v}" for k, v in terms["features"].items())
            or "none",
        ),
        (
            "Limits",
            ", ".join(f"{k.removeprefix('max_')}={v}" for k, v in limits.items() if v is not None)
            or "none",
        ),
        ("Users", ", ".join(terms["allowed_users"]) or "any"),
        (
            "Bound to",
            f"{len(terms['allowed_devices'])} device(s) listed at issue"
            if terms["allowed_devices"]
            else "no device list",
        ),
        ("Activation", _activation_text(terms)),
        (
            "Counters",
            ", ".join(f"{n}={c['limit']}+{c['overage']}" for n, c in terms["counters"].items())
            or "none",
        ),
        ("Signed by", key_id),
        ("Seats", _seats(seats, limits.get("max_devices"))),
    ]
