"""Every program in examples/ runs, as a user runs it, so the examples cannot rot.

``examples/app.py`` (the application's check) runs in a subprocess with this
interpreter (the venv's) on licenses of every kind a vendor issues with the
``licsign`` CLI: perpetual, time-limited, in grace, trial, binary, and the
refusals (expired, another product, activation needed, tampered, another
vendor's root). The workspace is built in-process with the cheap test KDF;
nothing else is patched.

``examples/demo.py`` is what ``make demo`` runs: it runs here as a whole, at the
production KDF cost (about a second per key use), so it is marked slow.

A new file in examples/ fails ``test_every_example_is_run_here`` until it has a
test in this file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import pytest
from harness import PRODUCT, Site, lower_kdf_floor  # PRODUCT: the product examples/app.py is

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
APP = EXAMPLES / "app.py"
DEMO = EXAMPLES / "demo.py"
METERED = EXAMPLES / "metered_app.py"
TESTED_EXAMPLES = {"app.py", "demo.py", "metered_app.py"}
PASSPHRASE = "examples passphrase, long enough"


class Issued(NamedTuple):
    path: Path
    terms: dict[str, object]


class Examples(NamedTuple):
    root_pem: Path
    other_root_pem: Path
    licenses: dict[str, Issued]


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment without any licsign/licverify setting, with HOME and TMPDIR in ``tmp``."""
    drop = ("LICSIGN_", "LICVERIFY_", "XDG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(HOME=str(tmp), TMPDIR=str(tmp))
    return env


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    """A vendor workspace, its root key, and one license file per case (issued through licsign).

    Built once for the module with harness.Site (no capsys at this scope: output is
    captured by redirection), beside another vendor's workspace and root key.
    """
    tmp = tmp_path_factory.mktemp("vendor")
    now = datetime.now(timezone.utc)
    two_days_ago = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cases: dict[str, list[str]] = {
        "perpetual": ["--type", "perpetual", "--feature", "export-step"],
        "binary": ["--type", "perpetual", "--feature", "export-step", "--binary"],
        "time-limited": ["--type", "time-limited", "--duration", "30d"],
        "subscription": ["--type", "subscription", "--duration", "365d", "--grace", "14d",
                         "--feature", "export-step"],  # fmt: skip
        "in-grace": ["--type", "subscription", "--not-before", "2020-01-01",
                     "--expires", two_days_ago, "--grace", "30d"],  # fmt: skip
        "trial": ["--type", "trial", "--duration", "14d", "--feature", "export-step"],
        "expired": ["--type", "time-limited", "--not-before", "2020-01-01",
                    "--expires", "2020-06-01"],  # fmt: skip
        "needs-activation": ["--type", "perpetual", "--max-devices", "3", "--require-activation"],
        "other-product": ["--product", "other-app", "--type", "perpetual"],
    }
    with pytest.MonkeyPatch.context() as patch:
        lower_kdf_floor(patch)
        other = Site.create(patch, tmp, home=tmp / "other-vendor", trust=tmp / "other-root.pem",
                            passphrase=PASSPHRASE)  # fmt: skip
        site = Site.create(patch, tmp, passphrase=PASSPHRASE,
                           product_options=("--feature", "export-step"),
                           customer_options=("--email", "it@globex.example"))  # fmt: skip
        site.vendor_ok("product", "add", "other-app")
        for case, args in cases.items():
            site.issue_with(f"{case}.lic", *args, product=None if "--product" in args else PRODUCT)
    licenses = {case: Issued(tmp / f"{case}.lic", site.licenses[f"{case}.lic"]) for case in cases}
    return Examples(site.trust, other.trust, licenses)


def run_app(tmp: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, str(APP), *map(str, args)], cwd=tmp, env=_clean_env(tmp),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stdout + proc.stderr, proc
    return proc


def test_every_example_is_run_here() -> None:
    assert {p.name for p in EXAMPLES.iterdir() if p.suffix == ".py"} == TESTED_EXAMPLES


#: case -> the first line app.py prints, after "app: " (a regex; {expires} is the expiry date)
LICENSED = {
    "perpetual": r"licensed to globex with no expiry \(valid\)",
    "binary": r"licensed to globex with no expiry \(valid\)",
    "time-limited": r"licensed to globex until {expires} \(valid\)",
    "subscription": r"licensed to globex until {expires} \(valid\)",
    "in-grace": r"licensed to globex until {expires} \(grace, (27|28) days of grace left\)",
    "trial": r"licensed to globex until {expires} \(valid\)",
}


@pytest.mark.parametrize("case", sorted(LICENSED))
def test_app_licensed(vendor: Examples, tmp_path: Path, case: str) -> None:
    issued = vendor.licenses[case]
    proc = run_app(tmp_path, issued.path, vendor.root_pem)
    assert proc.returncode == 0, proc
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    expires = issued.terms["expires"]
    expected = LICENSED[case].format(expires=str(expires)[:10] if expires else None)
    assert re.fullmatch(f"app: {expected}", lines[0]), (lines[0], expected)
    enabled = "export-step" in issued.terms["features"]  # type: ignore[operator]
    assert lines[1] == f"app: STEP export {'enabled' if enabled else 'disabled'}"


REFUSED = {
    "expired": "expired",
    "needs-activation": "not-activated",
    "other-product": "wrong-product",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_app_refuses(vendor: Examples, tmp_path: Path, case: str) -> None:
    proc = run_app(tmp_path, vendor.licenses[case].path, vendor.root_pem)
    assert proc.returncode == 1, proc
    assert proc.stdout.startswith(f"app: not licensed ({REFUSED[case]}): "), proc.stdout
    assert proc.stdout.count("\n") == 1


def test_app_refuses_a_tampered_copy(vendor: Examples, tmp_path: Path) -> None:
    lines = vendor.licenses["perpetual"].path.read_text().splitlines()
    row = len(lines) - 4  # a base64 line of the license's own terms, as make demo does
    lines[row] = lines[row][:10] + ("A" if lines[row][10] != "A" else "B") + lines[row][11:]
    tampered = tmp_path / "tampered.lic"
    tampered.write_text("\n".join(lines) + "\n")
    proc = run_app(tmp_path, tampered, vendor.root_pem)
    assert proc.returncode == 1, proc
    assert re.match(r"app: not licensed \((bad-signature|malformed)\): ", proc.stdout), proc.stdout


def test_app_refuses_another_vendors_root(vendor: Examples, tmp_path: Path) -> None:
    proc = run_app(tmp_path, vendor.licenses["perpetual"].path, vendor.other_root_pem)
    assert proc.returncode == 1, proc
    assert proc.stdout.startswith("app: not licensed (untrusted-key): "), proc.stdout


def test_app_usage(tmp_path: Path) -> None:
    proc = run_app(tmp_path)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert proc.stderr.startswith("usage: "), proc.stderr


def test_metered_app_counts_exports_and_refuses_a_clock_set_back(site: Site) -> None:
    """examples/metered_app.py on an activated consumption license: each export consumes one
    unit until limit plus overage; a clock set back two hours is refused; bad usage exits 2."""
    site.issue("m.lic", "--type", "consumption", "--counter", "exports=2+1", "--max-devices", "1")
    machine = site.machine("m")
    machine.ok("import", str(site.tmp / "m.lic"))
    machine.ok("request", "-o", str(site.tmp / "req"))
    site.vendor_ok("activate", str(site.tmp / "req"), "-o", str(site.tmp / "resp"))
    machine.ok("install", str(site.tmp / "resp"))
    env = dict(_clean_env(site.tmp), LICVERIFY_MACHINE_ID=machine.machine_id)

    def app(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, str(METERED), str(machine.state), str(site.trust), *args],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert "Traceback" not in proc.stdout + proc.stderr, proc
        return proc

    assert [app("export").stdout for _ in range(3)] == [
        f"app: exported one drawing; {n} left\n" for n in (2, 1, 0)
    ]
    refused = app("export")
    assert refused.returncode == 1 and refused.stdout.startswith("app: refused (limit-reached)")
    assert app("status").stdout.endswith("; 0 exports left\n")
    report = site.tmp / "usage.txt"
    assert app("report", str(report)).returncode == 0
    done = json.loads(site.vendor_ok("usage", "import", str(report), "--json").out)
    assert done["totals"] == {"exports": 3}
    site.vendor_ok("counter", "refill", done["license"], "--device", done["device_id"][:8],
                   "--add", "exports=5", "-o", str(site.tmp / "refill.txt"))  # fmt: skip
    assert app("refill", str(site.tmp / "refill.txt")).stdout == "app: 5 more exports installed\n"
    assert app("status").stdout.endswith("; 5 exports left\n")
    assert app("return", str(site.tmp / "receipt.txt")).returncode == 0
    site.vendor_ok("deactivate", str(site.tmp / "receipt.txt"))
    assert app("reserve", "x", str(site.tmp / "r.txt")).returncode == 2
    earlier = (datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rolled = app("status", "--at", earlier)
    assert rolled.returncode == 1 and "(clock-rolled-back)" in rolled.stdout
    usage = app("fly")
    assert usage.returncode == 2 and usage.stderr.startswith("Usage: ")


@pytest.mark.slow
def test_demo_runs_to_the_end(tmp_path: Path) -> None:
    """``make demo``: every step exits as the demo expects, at the production KDF cost."""
    proc = subprocess.run(
        [sys.executable, str(DEMO)], cwd=tmp_path, env=_clean_env(tmp_path),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert proc.stdout.rstrip().endswith("Demo finished: every step behaved as expected."), out
    assert re.search(r"app: licensed to globex until \d{4}-\d\d-\d\d \(valid\)", out), out
    assert "app: not licensed (" in out
    # The demo cleans up after itself: its temporary directory is gone.
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("licsign-demo-")]


def test_keys_example_regenerates(tmp_path: Path) -> None:
    """``make keys-example`` works: keys-example/regenerate.py runs on a copy of the folder
    (it writes beside itself), at the production KDF cost, and writes every file again."""
    import shutil

    copy = tmp_path / "keys-example"
    shutil.copytree(REPO / "keys-example", copy, ignore=shutil.ignore_patterns("workspace"))
    before = (copy / "licenses" / "perpetual.lic").read_bytes()
    done = subprocess.run([sys.executable, str(copy / "regenerate.py")], capture_output=True,
                          text=True, env=_clean_env(tmp_path), timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert (copy / "licenses" / "perpetual.lic").read_bytes() != before
    assert (copy / "activation" / "receipt.txt").exists()


def test_the_committed_keys_example_ledger_is_at_this_schema(tmp_path: Path) -> None:
    """keys-example/workspace is regenerated when the ledger schema grows (make keys-example);
    a copy is opened, so the checkout gains no -wal or -shm file."""
    import shutil

    from licsign import Ledger

    copy = tmp_path / "ledger.sqlite3"
    shutil.copyfile(REPO / "keys-example" / "workspace" / "ledger.sqlite3", copy)
    ledger = Ledger(str(copy))  # refuses a ledger at another schema
    try:
        assert ledger.verify_events() > 0
    finally:
        ledger.close()
