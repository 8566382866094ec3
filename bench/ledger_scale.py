#!/usr/bin/env python3
"""Benchmark: ``licsign show``, ``device show`` and ``list`` on a ledger of a million licenses.

The script builds a ledger of N licenses (default 1,000,000) in a temporary
workspace, then times the services the commands call, as a vendor's desk
would run them against a large, years-old ledger:

- ``show``: ``licsign.license_details`` of a license in the middle of the
  ledger (two versions, three devices, five activations, two users, a share,
  an order with two managers);
- ``device show``: ``licsign.device_details`` of one of its devices;
- ``list`` with each filter: customer, product, order, every status, type,
  expiring within 30 days; and without any filter.

How the ledger is built (fast, not through signing a million licenses): a
few template licenses are issued and signed by the real service
(``licsign.issue_many``), one per kind of license a vendor holds (active,
expiring soon, in grace, expired, perpetual, trial, floating, consumption,
not yet valid), and each of the N rows is a copy of one of them with its own
id, digest, product (20), customer (N/100), order (N/20, three licenses in
four have one) and issue time (spread over three years), recorded with the
ledger's own ``add_licenses`` (one ``license.issued`` event each) in
transactions of 20,000. One license in ten has a device and an activation
(``add_activation``, with its event), one in a thousand is revoked. The
copies' signed documents name the template's id: ``ledger verify`` would
refuse this ledger, and it is not run; ``show`` and ``list`` read the terms
from those documents, so every status is the verifier's own verdict.

Each lookup is timed with ``time.perf_counter`` as the median of up to
``--runs`` runs (default 5); one whose first run takes over a second is run
only once. The table gives the rows each returned: ``list`` has no
page limit, so a filter that matches half the ledger returns half of it.

This is a measurement, not a test: it exits 0 whatever the figures.

Usage::

    python bench/ledger_scale.py                     # SQLite, 1,000,000 licenses (about 6 minutes)
    python bench/ledger_scale.py --licenses 2000     # smoke run (the test suite uses this)
    python bench/ledger_scale.py --postgres URL      # PostgreSQL too: a scratch database is
                                                     # created on that server and dropped afterwards
    python bench/ledger_scale.py --json              # one JSON object on stdout instead of the table
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import licsign
from licsign import LicenseRecord
from licsign._ledger import NewSeat

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from issue import scratch_postgres

PASSPHRASE = b"bench passphrase, not secret"
NOW = datetime(2026, 9, 21, 14, 13, 20, tzinfo=timezone.utc)
PRODUCTS = 20
#: Licenses per transaction while building.
CHUNK = 20_000
DAY = timedelta(days=1)

#: The kinds of license in the ledger: (weight in 100, issue request arguments). The
#: expiries are relative to NOW, when every lookup is timed.
TEMPLATES: list[tuple[int, dict[str, Any]]] = [
    (30, {"type": "subscription", "expires": NOW + 200 * DAY, "grace": 14 * DAY,
          "max_devices": 3}),
    (3, {"type": "subscription", "expires": NOW + 20 * DAY, "grace": 14 * DAY}),
    (2, {"type": "subscription", "expires": NOW - 5 * DAY, "grace": 14 * DAY}),
    (25, {"type": "subscription", "expires": NOW - 300 * DAY, "grace": 14 * DAY}),
    (15, {"type": "perpetual", "max_devices": 2, "max_users": 5}),
    (10, {"type": "trial", "expires": NOW - 100 * DAY}),
    (8, {"type": "time-limited", "expires": NOW + 400 * DAY}),
    (3, {"type": "floating", "expires": NOW + 100 * DAY, "lease": DAY, "max_devices": 10}),
    (3, {"type": "consumption", "expires": NOW + 50 * DAY, "counters": {"pages": (1000, 50)}}),
    (1, {"type": "subscription", "not_before": NOW + 30 * DAY, "expires": NOW + 395 * DAY}),
]  # fmt: skip


#: The page `licsign list` shows by default (its --limit).
PAGE = 1000


def ts(when: datetime) -> int:
    """Seconds since the epoch."""
    return int(when.timestamp())


class Layout:
    """Who each of the N licenses belongs to, as a function of its index."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.customers = max(20, count // 100)
        self.orders = max(1, count // 20)
        self.start = ts(NOW) - 3 * 365 * 86400
        self.step = max(1, 3 * 365 * 86400 // count)
        self.kinds = [k for k, (weight, _) in enumerate(TEMPLATES) for _ in range(weight)]
        self.middle = count // 2

    def license_id(self, i: int) -> str:
        """License ``i``'s id (in the ledger's ``L-`` form, hexadecimal)."""
        return f"L-{i:012X}"

    def customer(self, i: int) -> str:
        """Its customer: 20 licenses in a row each, in turn."""
        return f"customer-{(i // 20) % self.customers:06d}"

    def order(self, i: int) -> str | None:
        """Its order (the customer's, 20 licenses each), or None for one license in four."""
        return None if i % 4 == 3 else f"order-{i // 20:07d}"

    def product(self, i: int) -> str:
        """Its product, in turn."""
        return f"product-{i % PRODUCTS:02d}"

    def copy(self, template: LicenseRecord, i: int) -> LicenseRecord:
        """License ``i``: the template's terms and document, its own id and owners."""
        lid = self.license_id(i)
        return dataclasses.replace(
            template, id=lid, product_id=self.product(i), customer_id=self.customer(i),
            order_id=self.order(i), issued_at=self.start + i * self.step,
            digest=hashlib.sha256(lid.encode()).hexdigest(),
        )  # fmt: skip


# --- building the ledger ------------------------------------------------------------------------


def catalog(ws: licsign.Workspace, layout: Layout) -> None:
    """Products, customers and orders (each order its customer's)."""
    before = NOW - 800 * DAY
    at = ts(before)
    with ws.ledger.transaction():
        for p in range(PRODUCTS):
            licsign.add_product(ws, f"product-{p:02d}", name=f"Product {p}", now=before)
        for c in range(layout.customers):
            ws.ledger.add_customer(at, f"customer-{c:06d}", f"Customer {c}", None)
        for o in range(layout.orders):
            ws.ledger.add_order(at, f"order-{o:07d}", layout.customer(o * 20), f"PO-{o}")


def templates(ws: licsign.Workspace) -> list[LicenseRecord]:
    """One real, signed license of each kind (``TEMPLATES``), as the ledger records it."""
    requests = [
        licsign.IssueRequest(product="product-00", customer="customer-000000", **spec)
        for _, spec in TEMPLATES
    ]
    issued = licsign.issue_many(ws, requests, lambda: PASSPHRASE, now=NOW - 720 * DAY)
    return [ws.ledger.license(lic.id) for lic in issued]


def licenses(ws: licsign.Workspace, layout: Layout, kinds: list[LicenseRecord]) -> None:
    """The N licenses, ``CHUNK`` to a transaction; every tenth activated, every 1000th revoked."""
    for first in range(0, layout.count, CHUNK):
        span = range(first, min(first + CHUNK, layout.count))
        records = [layout.copy(kinds[layout.kinds[i % 100]], i) for i in span]
        with ws.ledger.transaction():
            ws.ledger.add_licenses(layout.start + first * layout.step, records)
            for i in span:
                if i % 10 == 5 and i != layout.middle:
                    activate(
                        ws, records[i - first], f"dev-{i:012x}", layout.start + i * layout.step
                    )
                if i % 1000 == 7:
                    revoke(ws, layout.license_id(i), ts(NOW - 30 * DAY))


def activate(ws: licsign.Workspace, record: LicenseRecord, device: str, at: int) -> str:
    """A seat for ``device`` (its id padded to 64 hex digits), as the activation service
    records it; return the activation id."""
    device_id = (device.encode().hex() + "0" * 64)[:64]
    activation_id = hashlib.sha256(f"{record.id}/{device_id}/{at}".encode()).hexdigest()[:32]
    seat = NewSeat(
        device_id=device_id, device_key=bytes(32), fingerprint=json.dumps({"machine-id": "00" * 16}),
        label=device, user=None, request_nonce=os.urandom(16),
        license_digest=bytes.fromhex(record.digest),
    )  # fmt: skip
    ws.ledger.add_activation(activation_id, record.id, seat, at)
    ws.ledger.append_event(at, "activation.created", record.id, {
        "activation": activation_id, "device": device_id, "label": device, "user": None,
        "lease_expires": None, "refresh_by": None,
    })  # fmt: skip
    return activation_id


def revoke(ws: licsign.Workspace, license_id: str, at: int) -> None:
    """Revoke every version of a license, as ``licsign revoke`` records it."""
    ws.ledger.add_revocation(at, "license", license_id, None, "bench", {"versions": [1]})
    ws.ledger.mark_license_revoked(license_id, [1])


def middle(ws: licsign.Workspace, layout: Layout, kinds: list[LicenseRecord]) -> str:
    """Give the middle license what ``show`` pages through: a second version, devices,
    activations (two ended), users, a share and order managers. Return a device id."""
    i = layout.middle
    record = ws.ledger.license(layout.license_id(i))
    at = ts(NOW - 60 * DAY)
    with ws.ledger.transaction():
        renewed = dataclasses.replace(
            layout.copy(kinds[0], i), version=2, issued_at=at, status="active",
            digest=hashlib.sha256(f"{record.id}/2".encode()).hexdigest(),
        )  # fmt: skip
        ws.ledger.add_license_version(at, renewed, "license.renewed", {"supersedes": 1})
        devices = []
        for d in range(3):
            device = f"mid-{d}"
            first = activate(ws, renewed, device, at + d * 3600)
            devices.append(device)
            if d < 2:
                ws.ledger.end_activation(first, at + 86400 * (d + 1), "deactivated", True)
                activate(ws, renewed, device, at + 86400 * (d + 2))
        for u in range(2):
            ws.ledger.add_license_user(at, record.id, f"user{u}@example.com", f"User {u}", None)
        ws.ledger.add_share(at, ws.ledger.next_share_id(), record.id, "guest@example.com",
                            bytes(32), "00" * 8)  # fmt: skip
    if record.order_id is not None:
        for m in range(2):
            ws.ledger.add_manager(at, record.order_id, f"manager{m}@example.com", f"Manager {m}")
    return (devices[0].encode().hex() + "0" * 64)[:64]


def build(home: str, ledger: str | None, count: int) -> tuple[licsign.Workspace, Layout, str]:
    """A workspace whose ledger holds ``count`` licenses; the layout and the middle's device."""
    ws = licsign.init_workspace(home, PASSPHRASE, now=NOW - 730 * DAY, vendor="Bench",
                                ledger=ledger)  # fmt: skip
    layout = Layout(count)
    catalog(ws, layout)
    kinds = templates(ws)
    licenses(ws, layout, kinds)
    device = middle(ws, layout, kinds)
    return ws, layout, device


# --- timing -------------------------------------------------------------------------------------


def timed(call: Callable[[], Any], runs: int) -> dict[str, Any]:
    """The median ms of up to ``runs`` calls (one only if it takes over a second)."""
    samples: list[float] = []
    rows = 0
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - start) * 1000)
        rows = len(result.licenses) if isinstance(result, licsign.LicenseList) else 1
        if samples[0] > 1000:
            break
    return {"ms": statistics.median(samples), "runs": len(samples), "rows": rows}


def lookups(ws: licsign.Workspace, layout: Layout, device: str) -> dict[str, Callable[[], Any]]:
    """Every lookup timed, by the command line it stands for."""
    i = layout.middle
    lid = layout.license_id(i)

    def listing(**filters: Any) -> Callable[[], Any]:
        # A page, as `licsign list` reads it by default (--limit 1000).
        return lambda: licsign.license_list(ws, now=NOW, limit=PAGE, **filters)

    calls: dict[str, Callable[[], Any]] = {
        "show ID": lambda: licsign.license_details(ws, lid, now=NOW),
        "device show ID DEV": lambda: licsign.device_details(ws, lid, device[:12], now=NOW),
        "list --customer": listing(customer=layout.customer(i)),
        "list --order": listing(order=layout.order(i) or layout.order(i + 1)),
        "list --product": listing(product=layout.product(i)),
        "list --type floating": listing(type="floating"),
        "list --expiring-within 30d": listing(expiring_within=timedelta(days=30)),
    }
    for status in licsign.LICENSE_STATUSES:
        calls[f"list --status {status}"] = listing(status=status)
    calls["list (no filter)"] = listing()
    calls["list --after ID (mid-ledger)"] = listing(after=lid)
    return calls


def run_engine(ledger: str | None, count: int, runs: int) -> dict[str, Any]:
    """Build the ledger on one engine and time every lookup."""
    with tempfile.TemporaryDirectory(prefix="licsign-bench-") as tmp:
        start = time.perf_counter()
        ws, layout, device = build(os.path.join(tmp, "ws"), ledger, count)
        built = time.perf_counter() - start
        progress(f"{count:,} licenses built in {built:.0f} s")
        timings = {}
        try:
            for name, call in lookups(ws, layout, device).items():
                timings[name] = timed(call, runs)
                progress(f"{name}: {timings[name]['ms']:.1f} ms")
        finally:
            ws.close()
    return {"licenses": count, "build_seconds": built, "lookups": timings}


def progress(message: str) -> None:
    """A line on stderr while a long run goes on (the table goes to stdout at the end)."""
    print(message, file=sys.stderr, flush=True)


def report(results: dict[str, dict[str, Any]]) -> str:
    """The table of every engine's timings."""
    lines = [
        "licsign ledger at scale: show, device show and list (median ms, perf_counter)",
        f"  python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs",
    ]
    for engine, result in results.items():
        lines += [
            "",
            f"{engine}: N = {result['licenses']:,} licenses "
            f"(built in {result['build_seconds']:.0f} s)",
            f"  {'lookup':<28} {'ms':>10} {'rows':>9} {'runs':>5}",
        ]
        for name, t in result["lookups"].items():
            lines.append(f"  {name:<28} {t['ms']:>10.1f} {t['rows']:>9,} {t['runs']:>5}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--licenses", type=int, default=1_000_000, metavar="N",
                        help="licenses in the ledger (default 1,000,000)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=5, help="runs per lookup (median)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    parser.add_argument(
        "--postgres", metavar="URL",
        help="also on PostgreSQL: a server URL where a scratch database may be created and dropped",
    )  # fmt: skip
    args = parser.parse_args(argv)
    results = {"sqlite": run_engine(None, args.licenses, args.runs)}
    if args.postgres:
        with scratch_postgres(args.postgres) as url:
            results["postgresql"] = run_engine(url, args.licenses, args.runs)
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
