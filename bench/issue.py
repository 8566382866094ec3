#!/usr/bin/env python3
"""Benchmark: bulk issuance (``licsign issue --from-csv``) against raw signing.

What is timed is the whole service, ``licsign.issue_from_csv``: read and
check the CSV rows, sign every license, record them all in the ledger in one
unit of work, write one license file per row and the manifest. The issuing
key's unlock (Argon2id at the production cost, once per batch whatever its
size) is timed apart and left out of the rate: it is reported on its own.

The raw cost, in the same run and the same rounds: Ed25519-sign the same
license payloads and encode each COSE_Sign1 envelope with cbor2 (the
Sig_structure, ``nacl.bindings.crypto_sign``, the tagged array with the same
headers), which any issuer must do at the least. The report gives licenses
per second (median of the rounds, target at least 2,000 on the reference
2-core machine: PASS or OVER) and the ratio to the raw cost, paired per
round, which is the figure to compare across machines.

The workspace and the license files go to a temporary directory (``TMPDIR``
chooses where). Creating the files is an inode each, whose cost depends on
the file system around that directory: on the reference VM's ext4 it ranged
from 14 µs per file to over 150 µs in a crowded ``/tmp`` (see bench/README.md).

This is a measurement, not a test: it exits 0 whatever the figures, and
non-zero only if the service fails (then the figures would mean nothing).

Usage::

    python bench/issue.py                    # SQLite, N = 2,000 and 10,000 (about a minute)
    python bench/issue.py --quick            # smoke run, a few seconds (the test suite uses this)
    python bench/issue.py --postgres URL     # PostgreSQL too: a scratch database is created
                                             # on that server and dropped afterwards
    python bench/issue.py --json             # one JSON object on stdout instead of the report
    TMPDIR=/var/tmp python bench/issue.py    # the workspace and files elsewhere (see below)

Only the standard library, licsign, licverify, PyNaCl and cbor2 (and psycopg
with ``--postgres``) are used; it does not import ``tests/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from importlib import metadata
from typing import Any

import cbor2
import nacl.bindings

import licsign
from licverify.format import encode_license_payload

TARGET_PER_SECOND = 2000.0
PASSPHRASE = b"bench passphrase, not secret"
PRODUCT = "acme-cad"
CUSTOMERS = 50
NOW = datetime(2026, 9, 21, 14, 13, 20, tzinfo=timezone.utc)
#: A realistic subscription, as bench/verify.py's license: grace, three features (on/off,
#: text, integer), device and user limits, a counter with an overage; one customer per row.
HEADER = "product,customer,type,duration,grace,features,max_devices,max_users,counters"
ROW = "{product},customer-{n},subscription,1y,14d,export;tier=pro;seats=5,3,2,pages=1000+50"


def csv_rows(count: int) -> bytes:
    """A CSV file of ``count`` licenses, the customers taken in turn."""
    lines = [HEADER] + [ROW.format(product=PRODUCT, n=i % CUSTOMERS) for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


# --- the two paths ------------------------------------------------------------------------------


class Bench:
    """One workspace (on SQLite, or on a PostgreSQL database) and the batches issued into it."""

    def __init__(self, home: str, ledger: str | None) -> None:
        self.home = home
        before = NOW - timedelta(hours=1)
        self.ws = licsign.init_workspace(
            home, PASSPHRASE, now=before, vendor="Bench", ledger=ledger
        )
        with self.ws.ledger.transaction():
            licsign.add_product(self.ws, PRODUCT, name="Acme CAD", now=before,
                                features=["export", "tier", "seats"])  # fmt: skip
            for n in range(CUSTOMERS):
                licsign.add_customer(self.ws, f"customer-{n}", name=f"Customer {n}", now=before)
        self.batches = 0

    def ours(self, data: bytes) -> tuple[dict[str, float], list[licsign.IssuedLicense]]:
        """Issue one CSV batch through the service; the phases' seconds and the licenses."""
        self.batches += 1
        out = os.path.join(self.home, f"batch-{self.batches}")
        marks: dict[str, float] = {}

        def passphrase() -> bytes:
            marks["unlock"] = time.perf_counter()
            return PASSPHRASE

        def progress(done: int, total: int) -> None:
            marks["signing" if done == 0 else "recorded"] = time.perf_counter()

        start = time.perf_counter()
        batch = licsign.issue_from_csv(self.ws, data, out, passphrase, now=NOW, progress=progress)
        end = time.perf_counter()
        unlock = marks["signing"] - marks["unlock"]
        phases = {
            "total": end - start - unlock, "unlock": unlock,
            "check": marks["unlock"] - start, "sign_record": marks["recorded"] - marks["signing"],
            "files": end - marks["recorded"],
        }  # fmt: skip
        return phases, [b.license for b in batch.licenses]

    def close(self) -> None:
        self.ws.close()


class Raw:
    """Ed25519 signing of the same payloads and COSE_Sign1 encoding with cbor2, nothing else."""

    def __init__(self, licenses: list[licsign.IssuedLicense]) -> None:
        envelope = cbor2.loads(licenses[0].document).value  # [protected, unprotected, payload, sig]
        self.protected, self.unprotected = envelope[0], envelope[1]
        self.payloads = [encode_license_payload(lic.terms) for lic in licenses]
        seed = bytes(range(32))
        self.secret = nacl.bindings.crypto_sign_seed_keypair(seed)[1]

    def run(self) -> float:
        """Seconds to sign and encode every payload."""
        sign, dumps, tag = nacl.bindings.crypto_sign, cbor2.dumps, cbor2.CBORTag
        protected, unprotected, secret = self.protected, self.unprotected, self.secret
        start = time.perf_counter()
        for payload in self.payloads:
            message = dumps(["Signature1", protected, b"", payload])
            signature = sign(message, secret)[:64]
            dumps(tag(18, [protected, unprotected, payload, signature]))
        return time.perf_counter() - start


def measure(bench: Bench, count: int, rounds: int) -> dict[str, Any]:
    """``rounds`` batches of ``count`` licenses, each paired with a raw run of the same payloads."""
    data = csv_rows(count)
    bench.ours(csv_rows(min(count, 200)))  # warm-up: imports, caches, the first key unlock
    samples = []
    for _ in range(rounds):
        phases, licenses = bench.ours(data)
        raw = min(Raw(licenses).run() for _ in range(3))  # the least noisy of three
        samples.append({**phases, "raw": raw, "ratio": phases["total"] / raw})
    rate = statistics.median(count / s["total"] for s in samples)

    def median(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    return {
        "licenses": count, "rounds": rounds, "per_second": rate,
        "raw_per_second": statistics.median(count / s["raw"] for s in samples),
        "ratio_median": median("ratio"), "ratio_min": min(s["ratio"] for s in samples),
        "ratio_max": max(s["ratio"] for s in samples),
        "us_per_license": {k: median(k) / count * 1e6
                           for k in ("total", "check", "sign_record", "files", "raw")},
        "unlock_seconds": median("unlock"),
        "target_per_second": TARGET_PER_SECOND,
        "verdict": "PASS" if rate >= TARGET_PER_SECOND else "OVER",
    }  # fmt: skip


# --- engines -------------------------------------------------------------------------------------


@contextmanager
def scratch_postgres(server_url: str) -> Iterator[str]:
    """A new database on ``server_url``'s server (its URL), dropped afterwards."""
    from urllib.parse import urlsplit

    import psycopg

    name = f"licsign_bench_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        parts = urlsplit(server_url)  # by hand: urlunsplit drops the "//" of an empty host
        yield f"{parts.scheme}://{parts.netloc}/{name}" + (f"?{parts.query}" if parts.query else "")
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def run_engine(ledger: str | None, sizes: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Every size on one engine, in a workspace of its own."""
    with tempfile.TemporaryDirectory(prefix="licsign-bench-") as tmp:
        bench = Bench(os.path.join(tmp, "ws"), ledger)
        try:
            return [measure(bench, count, rounds) for count, rounds in sizes]
        finally:
            bench.close()


# --- report -----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "python": platform.python_version(), "platform": platform.platform(),
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "pynacl": version("pynacl"), "cbor2": version("cbor2"), "psycopg": version("psycopg"),
        "licsign": licsign.__version__, "files_under": tempfile.gettempdir(),
    }  # fmt: skip


def report(info: dict[str, Any], results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "licsign bulk issuance benchmark (issue_from_csv: CSV -> ledger -> files)",
        f"  python      {info['python']} on {info['platform']} {info['machine']}, "
        f"{info['cpu_count']} CPUs",
        f"  packages    pynacl {info['pynacl']}, cbor2 {info['cbor2']}, psycopg {info['psycopg']}",
        "  raw: Ed25519 sign + cbor2 COSE_Sign1 encoding of the same payloads, same rounds",
        f"  workspace and license files under {info['files_under']} (TMPDIR chooses)",
    ]
    for engine, rows in results.items():
        lines.append("")
        lines.append(f"{engine}")
        for r in rows:
            us = r["us_per_license"]
            lines += [
                f"  N = {r['licenses']:>6,} ({r['rounds']} rounds)  {r['per_second']:7.0f} licenses/s "
                f"(target >= {r['target_per_second']:.0f})  {r['verdict']}",
                f"    raw signing {r['raw_per_second']:8.0f} /s; ratio {r['ratio_median']:.2f}x "
                f"(min {r['ratio_min']:.2f}, max {r['ratio_max']:.2f})",
                f"    µs per license: total {us['total']:.0f} = check {us['check']:.0f} + sign and "
                f"record {us['sign_record']:.0f} + files {us['files']:.0f}; raw {us['raw']:.1f}",
                f"    key unlock (Argon2id, once per batch, not in the rate): "
                f"{r['unlock_seconds']:.2f} s",
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 licenses, 1 round")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the report")
    parser.add_argument(
        "--postgres", metavar="URL",
        help="also on PostgreSQL: a server URL where a scratch database may be created and dropped",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = [(200, 1)] if args.quick else [(2000, 5), (10000, 3)]
    runs: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "sqlite": lambda: run_engine(None, sizes)
    }
    if args.postgres:

        def postgres() -> list[dict[str, Any]]:
            with scratch_postgres(args.postgres) as url:
                return run_engine(url, sizes)

        runs["postgresql"] = postgres
    results = {engine: run() for engine, run in runs.items()}
    info = machine_info()
    if args.json:
        print(json.dumps({"quick": args.quick, "machine": info, "results": results}, indent=2))
    else:
        print(report(info, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
