#!/usr/bin/env python3
"""Benchmark: the portal's licenses list under load (``licsign serve``, issue 10).

Builds a ledger of N licenses the way ``bench/ledger_scale.py`` does (default
100,000; SQLite in a temporary directory), signs in to a read-only portal
over it through Flask's test client (the WSGI application itself, no
network), and makes 1,000 page views of the licenses list: the first page,
pages further on (``after``), and the filters by customer, product, order,
status and type, in a fixed rotation. It prints the median and the 95th
percentile of the page time in ms (``time.perf_counter``), and the same for
a license's details page.

A measurement, not a test: it exits 0 whatever the figures.

Usage::

    python bench/portal.py                       # 100,000 licenses, 1,000 views
    python bench/portal.py --licenses 2000 --views 50   # smoke run (the suite uses it)
    python bench/portal.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

# The ledger builder is bench/ledger_scale.py, beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ledger_scale

from licsign.web import Sessions, create_app


def views(layout: ledger_scale.Layout, count: int) -> list[str]:
    """``count`` list URLs in a fixed rotation of pages and filters."""
    mid = layout.middle
    rotation = [
        "/", f"/?after={layout.license_id(mid)}", f"/?customer={layout.customer(mid)}",
        f"/?product={layout.product(mid)}", "/?status=active", "/?type=floating",
        f"/?order={layout.order(mid) or layout.order(mid + 1)}",
        f"/?after={layout.license_id(layout.count - 10)}",
    ]  # fmt: skip
    return [rotation[i % len(rotation)] for i in range(count)]


def timed(client: Any, urls: list[str]) -> dict[str, float]:
    samples = []
    for url in urls:
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code}")
    samples.sort()
    return {"median_ms": statistics.median(samples),
            "p95_ms": samples[int(len(samples) * 0.95) - 1], "views": len(samples)}  # fmt: skip


def run(count: int, count_views: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="licsign-portal-") as tmp:
        start = time.perf_counter()
        ws, layout, _ = ledger_scale.build(os.path.join(tmp, "ws"), None, count)
        built = time.perf_counter() - start
        try:
            sessions = Sessions()
            app = create_app(lambda: ws, sessions=sessions, now=lambda: ledger_scale.NOW)
            client = app.test_client()
            client.get(f"/?token={sessions.token}")
            listing = timed(client, views(layout, count_views))
            details = timed(client, [f"/licenses/{layout.license_id(layout.middle)}"]
                            * max(10, count_views // 10))  # fmt: skip
        finally:
            ws.close()
    return {"licenses": count, "build_seconds": built, "list": listing, "details": details}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--licenses", type=int, default=100_000, metavar="N")
    parser.add_argument("--views", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.licenses, args.views)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"licsign serve: the licenses list over {result['licenses']:,} licenses "
          f"(built in {result['build_seconds']:.0f} s), Flask's test client, SQLite")  # fmt: skip
    for name in ("list", "details"):
        r = result[name]
        print(f"  {name:<8} {r['views']:>5} views: median {r['median_ms']:.1f} ms, "
              f"95th percentile {r['p95_ms']:.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
