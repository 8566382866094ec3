"""The benchmark script runs and reports both measurements (figures are not asserted)."""

from __future__ import annotations

import json
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
