"""The benchmark script runs and reports both measurements (figures are not asserted)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
    # Issue 9: the application's check, other COSE libraries, the cold check as a ratio.
    check = report["check"]
    assert check["check_us"] > 0 and check["raw_us"] > 0
    assert check["ratio_median"] > 0 and check["ratio_fingerprint_per_call_median"] > 0
    assert check["check_with_revocations_us"] > 0 and check["fingerprint_uncached_us"] > 0
    assert check["files"] == ["license.cose", "activation.cose", "device.key", "state.bin",
                              "state.key"]  # fmt: skip
    libraries = report["libraries"]
    assert libraries["raw_us"] > 0 and libraries["libraries"]["licverify"]["ratio_median"] > 0
    for name in ("python-cwt", "pycose"):  # measured, or skipped with a note: never a crash
        assert (name in libraries["libraries"]) != (name in libraries["skipped"])
    assert report["cold"]["check_ms"] > 0 and report["cold"]["check_ratio"] > 0
    assert report["cold"]["verify_ratio"] > 0


def test_bench_quick_report_prints_every_ratio() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in (
        "1. Warm verify",
        "2. The application's check with an installed activation",
        "LocalStore.check, fingerprint computed once by the application",
        "LocalStore.check, machine_fingerprint(product) at every call",
        "3. Other COSE libraries, same license",
        "4. Cold start",
        "import licverify + LocalStore.check with activation + machine_fingerprint",
    ):
        assert line in out, line
    for pattern in (
        r"\n  ratio +[0-9.]+x .*target <= 1\.15x\)  (PASS|OVER)",
        r"\n  ratio, computed once +[0-9.]+x .*target <= 1\.25x\)  (PASS|OVER)",
        r"\n  ratio, at every call +[0-9.]+x .*target <= 1\.25x\)  (PASS|OVER)",
        r"\n  licverify \(Verifier\) +[0-9.]+ µs  ratio [0-9.]+x",
        r"\n  python-cwt (\S+ +[0-9.]+ µs  ratio [0-9.]+x|: .*skipped)",
        r"\n  pycose (\S+ +[0-9.]+ µs  ratio [0-9.]+x|: .*skipped)",
        r"\n  check: ratio +[0-9.]+x .*target <= 1\.10x\)  (PASS|OVER)",
    ):
        assert re.search(pattern, out), pattern


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


def test_bench_skips_a_missing_cose_library_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("bench_verify", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setitem(sys.modules, "cwt", None)  # `import cwt` raises ImportError
    monkeypatch.setitem(sys.modules, "pycose", None)
    benches, notes = bench.library_benches(bench.Documents())
    assert benches == {}
    assert set(notes) == {"python-cwt", "pycose"}
    assert all("not installed" in note and "skipped" in note for note in notes.values())


PORTAL = Path(__file__).parent.parent / "bench" / "portal.py"


def test_portal_bench_small_run_prints_the_median_of_the_views() -> None:
    proc = subprocess.run(
        [sys.executable, str(PORTAL), "--licenses", "2000", "--views", "40"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "over 2,000 licenses" in proc.stdout
    assert re.search(r"list +40 views: median [0-9.]+ ms, 95th percentile [0-9.]+ ms", proc.stdout)
    assert re.search(r"details +10 views: median [0-9.]+ ms", proc.stdout)
