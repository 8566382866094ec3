"""Issue 6 through both command lines: what a vendor and an attacker would try by hand.

Uses the ``site`` fixture (harness.Site: a workspace, a trust root, customer
machines with their own state directory and --machine-id).
"""

from __future__ import annotations

import json
import shutil

from harness import PRODUCT, Site, error_line, verdict_line


def test_scripted_four_machines_copying_one_activated_store(site: Site) -> None:
    lic = str(site.tmp / "one-seat.lic")
    license_id = site.issue("one-seat.lic", "--max-devices", "1")
    first = site.machine("first")
    first.ok("import", lic)
    first.ok("request", "-o", str(first.path("request.txt")))
    site.vendor_ok("activate", str(first.path("request.txt")), "-o", str(first.path("response.txt")))
    first.ok("install", str(first.path("response.txt")))
    for i in range(3):
        copy = site.machine(f"copy-{i}")
        shutil.copytree(first.state, copy.state)  # only device.key matters
        copy.ok("request", "-o", str(copy.path("request.txt")))
        ledger = site.ledger()
        line = error_line(
            site.licsign("activate", str(copy.path("request.txt")), "-o", str(copy.path("r.txt"))),
            "licsign", 1,
        )  # fmt: skip
        assert "was activated on another machine" in line
        assert f"licsign device reset {license_id} " in line
        assert site.ledger() == ledger and not copy.path("r.txt").exists()
        verdict_line(copy("status"), "wrong-machine")
    assert first.ok("status").out.startswith("VALID\n")
    devices = json.loads(site.vendor_ok("device", "list", license_id, "--json").out)
    assert [d["status"] for d in devices] == ["active"]


def test_issue_says_when_limits_imply_activation(site: Site) -> None:
    out = site.vendor_ok(
        "issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual",
        "--max-devices", "2", "-o", str(site.tmp / "x.lic"),
    ).out  # fmt: skip
    assert "Activation required: max devices can only be enforced through the activation" in out
    a = site.machine("a")
    a.ok("import", str(site.tmp / "x.lic"))
    verdict_line(a("status"), "not-activated")


def test_device_reset_says_the_old_machine_keeps_working_without_refresh(site: Site) -> None:
    license_id = site.issue("r.lic", "--max-devices", "1")
    a = site.machine("a")
    a.ok("import", str(site.tmp / "r.lic"))
    a.ok("request", "-o", str(a.path("request.txt")))
    site.vendor_ok("activate", str(a.path("request.txt")), "-o", str(a.path("response.txt")))
    device = json.loads(site.vendor_ok("device", "list", license_id, "--json").out)[0]["device"]
    out = site.vendor_ok("device", "reset", license_id, device[:8]).out
    assert "counted as a transfer (transfers used: 1)" in out
    assert "the old machine keeps its activation offline" in out


def test_product_policy_commands(site: Site) -> None:
    site.vendor_ok("product", "add", "strict-app", "--min-components", "3", "--require-component", "disk")
    rows = {r["id"]: r for r in json.loads(site.vendor_ok("product", "list", "--json").out)}
    assert rows["strict-app"]["min_components"] == 3
    assert rows["strict-app"]["required_components"] == ["disk", "machine-id"]
    assert rows[PRODUCT]["min_components"] == 2
    site.vendor_ok("product", "set", PRODUCT, "--min-components", "4")
    rows = {r["id"]: r for r in json.loads(site.vendor_ok("product", "list", "--json").out)}
    assert rows[PRODUCT]["min_components"] == 4
    assert rows[PRODUCT]["required_components"] == ["machine-id"]
    result = site.licsign("product", "set", PRODUCT, "--min-components", "1")
    assert result.code == 2
