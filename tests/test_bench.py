"""The benchmark script runs and reports both measurements (figures are not asserted)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench" / "verify.py"


def test_bench_quick_run_reports_both_measurements() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["quick"] is True
    assert report["warm"]["ratio_median"] > 0
    assert report["cold"]["verify_ms"] > 0 and report["cold"]["baseline_ms"] > 0


LEDGER_SCALE = Path(__file__).parent.parent / "bench" / "ledger_scale.py"
LOOKUPS = [
    "show ID", "device show ID DEV", "list --customer", "list --order", "list --product",
    "list --type floating", "list --expiring-within 30d", "list --status active",
    "list --status in-grace", "list --status expired", "list --status not-yet-valid",
    "list --status revoked", "list (no filter)", "list --after ID (mid-ledger)",
]  # fmt: skip


def test_ledger_scale_small_run_prints_a_row_per_lookup() -> None:
    proc = subprocess.run(
        [sys.executable, str(LEDGER_SCALE), "--licenses", "2000", "--runs", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "sqlite: N = 2,000 licenses" in proc.stdout
    table = {}
    for line in proc.stdout.splitlines():
        found = re.fullmatch(r"  (\S.*?) +([0-9.]+) +([0-9,]+) +1", line)
        if found:
            table[found[1]] = int(found[3].replace(",", ""))
    assert list(table) == LOOKUPS
    assert table["list (no filter)"] == 1000  # a page, as `licsign list` shows by default
    assert all(rows > 0 for rows in table.values())
