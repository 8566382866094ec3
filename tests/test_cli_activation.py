"""The activation exchange end to end, through both command lines, in-process.

The vendor runs ``licsign`` (workspace in ``LICSIGN_HOME``); two customer
machines run ``licverify`` with their own ``--state-dir`` and ``--machine-id``.
Files travel between them as they would on a USB stick: license, request,
response, receipt. Every run is checked for the invariants a user relies on:
an exit status, no traceback, and on failure one line that says why.
The ``site`` fixture is harness.Site (machines: ``site.machine(name)``).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from harness import PRODUCT, Result, Site, error_line, run_entry, verdict_line

import licsign.cli.activation
import licverify.cli as lvcli
from licverify.cliutil import run_click

# --- the whole exchange -------------------------------------------------------------------------


def test_full_exchange_across_two_machines(site: Site) -> None:
    license_id = site.issue("one.lic", "--max-devices", "1")
    a, b = site.machine("a"), site.machine("b")
    lic = str(site.tmp / "one.lic")

    # Machine A: import, not activated yet.
    out = a.ok("import", lic).out
    assert out.startswith(f"Installed license {license_id} for globex in {a.state}\n")
    assert "It needs activation: run 'licverify request -o request.txt'" in out
    verdict_line(a("status"), "not-activated")
    data = json.loads(a("status", "--json").out)
    assert data["status"] == "invalid" and data["code"] == "not-activated"

    # A makes a request; the vendor answers it; A installs the response.
    request_a = a.path("request.txt")
    result = a("request", "-o", str(request_a), "--label", "laptop-a")
    assert result.code == 0 and result.out == ""
    assert result.err == f"Wrote activation request to {request_a}; send it to your vendor.\n"
    assert request_a.read_bytes().startswith(b"-----BEGIN LICSIGN ACTIVATION REQUEST-----\n")
    response_a = a.path("response.txt")
    granted = site.vendor_ok("activate", str(request_a), "-o", str(response_a)).out
    words = granted.split()
    assert words[:2] == ["Granted", "activation"] and granted.endswith(f"; response in {response_a}\n")
    activation_a = words[2]
    assert a.ok("install", str(response_a)).out == (
        f"Activated: license {license_id} on this machine (activation {activation_a}).\n"
    )
    status = a.ok("status")
    assert status.out.startswith("VALID\n") and f"License:     {license_id} (version 1)" in status.out
    data = json.loads(a.ok("status", "--json").out)
    assert data["status"] == "valid" and data["id"] == license_id
    assert data["activation"]["activation"] == activation_a
    assert data["activation"]["license"] == license_id
    device_a = data["activation"]["device_id"]
    assert granted.split()[5].rstrip(";") == device_a[:12]

    # Machine B: the one seat is taken, so the vendor refuses, naming the limit and the holder.
    b.ok("import", lic)
    request_b = b.path("request.txt")
    b.ok("request", "-o", str(request_b), "--label", "desktop-b")
    ledger = site.ledger()
    response_b = b.path("response.txt")
    line = error_line(site.licsign("activate", str(request_b), "-o", str(response_b)), "licsign", 1)
    assert f"license {license_id} is activated on 1 of 1 devices: laptop-a ({device_a[:8]})" in line
    assert "deactivate one or ask the vendor to reset it" in line
    assert not response_b.exists()
    assert site.ledger() == ledger
    verdict_line(b("status"), "not-activated")

    # A deactivates: the receipt frees the seat; A is no longer licensed.
    receipt = a.path("receipt.txt")
    result = a("deactivate", "-o", str(receipt))
    assert result.code == 0 and result.out == ""
    assert result.err == f"Deactivated. Send {receipt} to your vendor to free the seat.\n"
    assert receipt.read_bytes().startswith(b"-----BEGIN LICSIGN DEACTIVATION RECEIPT-----\n")
    verdict_line(a("status"), "not-activated")
    # The old response can never be installed again on A (the device key was rotated).
    assert a("install", str(response_a)).code == 1
    # Running deactivate again writes the same receipt (the file got lost, say).
    again = a.path("receipt-again.txt")
    a.ok("deactivate", "-o", str(again))
    assert again.read_bytes() == receipt.read_bytes()
    freed = site.vendor_ok("deactivate", str(receipt)).out
    assert freed == f"Freed the seat of device {device_a[:12]} on license {license_id} (transfers used: 1)\n"

    # Now B's same request is granted, and B is licensed.
    granted_b = site.vendor_ok("activate", str(request_b), "-o", str(response_b), "--json").out
    info = json.loads(granted_b)
    assert info["renewed"] is False
    activation_b, device_b = info["activation"], info["device"]
    assert device_b != device_a
    b.ok("install", str(response_b))
    assert json.loads(b.ok("status", "--json").out)["activation"]["activation"] == activation_b

    # The vendor sees both devices with their statuses.
    rows = json.loads(site.vendor_ok("device", "list", license_id, "--json").out)
    by_device = {r["device"]: r for r in rows}
    assert set(by_device) == {device_a, device_b}
    assert by_device[device_a]["status"] == "deactivated" and by_device[device_a]["activation"] == activation_a
    assert by_device[device_b]["status"] == "active" and by_device[device_b]["activation"] == activation_b
    assert by_device[device_a]["label"] == "laptop-a" and by_device[device_b]["label"] == "desktop-b"
    assert all(r["user"] is None and r["lease_expires"] is None for r in rows)
    text = site.vendor_ok("device", "list", license_id).out.splitlines()
    assert text[0].split() == ["DEVICE", "LABEL", "USER", "STATUS", "LAST", "SEEN", "WORKS", "UNTIL"]
    assert sorted(line.split()[:4] for line in text[1:]) == sorted(
        [[device_a[:12], "laptop-a", "-", "deactivated"], [device_b[:12], "desktop-b", "-", "active"]]
    )

    # B's machine is lost: the vendor resets it by a prefix of its id.
    reset = site.vendor_ok("device", "reset", license_id, device_b[:6]).out
    assert reset.startswith(
        f"Reset device {device_b[:12]} on license {license_id}; counted as a transfer (transfers used: 2).\n"
    )
    assert "the old machine keeps its activation offline" in reset
    rows = json.loads(site.vendor_ok("device", "list", license_id, "--json").out)
    assert {r["device"]: r["status"] for r in rows} == {device_a: "deactivated", device_b: "reset"}

    # Replaying A's receipt is refused, and changes nothing.
    ledger = site.ledger()
    line = error_line(site.licsign("deactivate", str(receipt)), "licsign", 1)
    assert "this receipt was already accepted" in line
    assert site.ledger() == ledger
    # Resetting B again finds no active device.
    line = error_line(site.licsign("device", "reset", license_id, device_b[:6]), "licsign", 1)
    assert f"no active device '{device_b[:6]}' on license {license_id}" in line

    # A comes back with a fresh request (new device key) and gets the freed seat.
    request_a2 = a.path("request-2.txt")
    a.ok("request", "-o", str(request_a2), "--label", "laptop-a")
    response_a2 = a.path("response-2.txt")
    info = json.loads(site.vendor_ok("activate", str(request_a2), "-o", str(response_a2), "--json").out)
    assert info["device"] not in (device_a, device_b) and info["renewed"] is False
    a.ok("install", str(response_a2))
    assert a.ok("status").out.startswith("VALID\n")
    assert len(json.loads(site.vendor_ok("device", "list", license_id, "--json").out)) == 3


def test_a_new_request_from_an_activated_device_renews_its_seat(site: Site) -> None:
    license_id = site.issue("one.lic", "--max-devices", "1")
    a = site.machine("a")
    a.ok("import", str(site.tmp / "one.lic"))
    a.ok("request", "-o", str(a.path("req1")))
    first = json.loads(site.vendor_ok("activate", str(a.path("req1")), "-o", str(a.path("r1")), "--json").out)
    assert first["renewed"] is False
    a.ok("install", str(a.path("r1")))

    # The same device asks again (a new request, a new nonce): the same seat, renewed.
    a.ok("request", "-o", str(a.path("req2")))
    second = site.vendor_ok("activate", str(a.path("req2")), "-o", str(a.path("r2"))).out
    assert second.startswith(f"Renewed activation {first['activation']} for device {first['device'][:12]}; ")
    assert json.loads(a.ok("install", str(a.path("r2")), "--json").out)["activation"]["activation"] == (
        first["activation"]
    )
    # A response written to stdout installs just the same.
    a.ok("request", "-o", str(a.path("req3")))
    third = site.vendor_ok("activate", str(a.path("req3")), "-o", "-")
    assert third.out.startswith("-----BEGIN LICSIGN ACTIVATION RESPONSE-----\n") and third.err == ""
    a.path("r3").write_text(third.out)
    assert json.loads(a.ok("install", str(a.path("r3")), "--json").out)["activation"]["activation"] == (
        first["activation"]
    )
    rows = json.loads(site.vendor_ok("device", "list", license_id, "--json").out)
    assert [(r["device"], r["status"]) for r in rows] == [(first["device"], "active")]
    line = error_line(site.licsign("activate", str(a.path("req3")), "-o", "-", "--json"), "licsign", 2)
    assert "--json" in line


def test_a_response_answers_its_request_once(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installing a response consumes its request: a second response to it is refused."""
    site.issue("one.lic")
    a = site.machine("a")
    a.ok("import", str(site.tmp / "one.lic"))
    a.ok("request", "-o", str(a.path("req")))
    site.vendor_ok("activate", str(a.path("req")), "-o", str(a.path("r1")))
    a.ok("install", str(a.path("r1")))
    a.ok("install", str(a.path("r1")))  # the response already installed: harmless
    # A second answer to the same request, signed at another time (the issue time differs).
    later = datetime.now(timezone.utc) + timedelta(seconds=5)
    with monkeypatch.context() as patch:
        patch.setattr(licsign.cli.activation, "now_utc", lambda: later)
        site.vendor_ok("activate", str(a.path("req")), "-o", str(a.path("r2")))
    assert a.path("r2").read_bytes() != a.path("r1").read_bytes()
    verdict_line(a("install", str(a.path("r2"))), "not-activated")
    assert a.ok("status").out.startswith("VALID\n")


def test_device_list_of_a_license_nobody_activated(site: Site) -> None:
    license_id = site.issue("one.lic")
    result = site.vendor_ok("device", "list", license_id)
    assert result.out == "" and result.err == f"No device has activated {license_id} yet.\n"
    assert json.loads(site.vendor_ok("device", "list", license_id, "--json").out) == []


def test_transfer_limit_is_enforced_and_force_overrides_it(site: Site) -> None:
    license_id = site.issue("t.lic", "--max-devices", "2", "--max-transfers", "1")
    a, b = site.machine("a"), site.machine("b")
    for m in (a, b):
        m.ok("import", str(site.tmp / "t.lic"))
        m.ok("request", "-o", str(m.path("req")))
        site.vendor_ok("activate", str(m.path("req")), "-o", str(m.path("resp")))
        m.ok("install", str(m.path("resp")))
    device_b = json.loads(b.ok("status", "--json").out)["activation"]["device_id"]

    a.ok("deactivate", "-o", str(a.path("receipt")))
    assert "(transfers used: 1)" in site.vendor_ok("deactivate", str(a.path("receipt"))).out

    # The one transfer is used: a reset is refused, and leaves the ledger as it was.
    ledger = site.ledger()
    line = error_line(site.licsign("device", "reset", license_id, device_b[:8]), "licsign", 1)
    assert f"license {license_id} has used 1 of 1 transfers" in line and "--force" in line
    assert site.ledger() == ledger
    out = site.vendor_ok("device", "reset", license_id, device_b[:8], "--force", "--json").out
    assert json.loads(out) == {"license": license_id, "activation": json.loads(b.ok("status", "--json").out)
                               ["activation"]["activation"], "device": device_b, "transfers_used": 2,
                               "transfer": True, "works_offline_until": None}  # fmt: skip

    # A receipt beyond the limit is refused, not consumed: it can be accepted later with --force.
    a.ok("request", "-o", str(a.path("req2")))
    site.vendor_ok("activate", str(a.path("req2")), "-o", str(a.path("resp2")))
    a.ok("install", str(a.path("resp2")))
    a.ok("deactivate", "-o", str(a.path("receipt2")))
    line = error_line(site.licsign("deactivate", str(a.path("receipt2"))), "licsign", 1)
    assert "has used 2 of 1 transfers" in line
    data = json.loads(site.vendor_ok("deactivate", str(a.path("receipt2")), "--force", "--json").out)
    assert data["transfers_used"] == 3 and data["license"] == license_id
    assert "already accepted" in error_line(site.licsign("deactivate", str(a.path("receipt2")), "--force"), "licsign", 1)


def test_machine_id_from_the_environment(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site.issue("one.lic")
    state = str(site.tmp / "state")
    monkeypatch.setenv(lvcli.MACHINE_ID_ENV, "from-env")
    assert site.licverify("import", str(site.tmp / "one.lic"), "--state-dir", state).code == 0
    assert site.licverify("request", "-o", "req", "--state-dir", state).code == 0
    site.vendor_ok("activate", "req", "-o", "resp")
    assert site.licverify("install", "resp", "--state-dir", state).code == 0
    assert site.licverify("status", "--state-dir", state).code == 0
    # Another machine id is another machine: the response is bound to the fingerprint.
    assert site.licverify("status", "--state-dir", state, "--machine-id", "other").code == 1
    verdict_line(site.licverify("status", "--state-dir", state, "--machine-id", "other"), "wrong-machine")


# --- where the state lives ----------------------------------------------------------------------


def test_state_dir_and_app_from_the_environment_and_the_default(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site.issue("one.lic")
    lic = str(site.tmp / "one.lic")
    data = site.tmp / "data"

    # Default: the platform's data directory named after the product.
    out = site.licverify("import", lic, "--machine-id", "m").out
    assert f" in {data / PRODUCT}\n" in out
    assert (data / PRODUCT / "license.cose").is_file()

    # LICVERIFY_APP names the directory instead; --app wins over it.
    monkeypatch.setenv(lvcli.APP_ENV, "acme-suite")
    assert f" in {data / 'acme-suite'}\n" in site.licverify("import", lic).out
    assert f" in {data / 'by-option'}\n" in site.licverify("import", lic, "--app", "by-option").out

    # LICVERIFY_STATE_DIR overrides the app name; --state-dir wins over it.
    monkeypatch.setenv(lvcli.STATE_DIR_ENV, str(site.tmp / "env-state"))
    assert f" in {site.tmp / 'env-state'}\n" in site.licverify("import", lic).out
    assert f" in {site.tmp / 'opt-state'}\n" in site.licverify("import", lic, "--state-dir", str(site.tmp / "opt-state")).out
    assert sorted(os.listdir(data)) == sorted(["acme-suite", "by-option", PRODUCT])

    # Every store command follows the same choice: request uses the env-selected store.
    assert site.licverify("request", "-o", "req", "--machine-id", "m").code == 0
    assert (site.tmp / "env-state" / "device.key").is_file()
    assert not (data / PRODUCT / "device.key").exists()
    site.vendor_ok("activate", "req", "-o", "resp")
    assert site.licverify("install", "resp", "--machine-id", "m").code == 0
    assert site.licverify("status", "--machine-id", "m").code == 0
    assert site.licverify("status", "--machine-id", "m", "--state-dir", str(data / PRODUCT)).code == 1
    monkeypatch.delenv(lvcli.STATE_DIR_ENV)
    verdict_line(site.licverify("status", "--machine-id", "m"), "not-activated")  # acme-suite: imported only
    assert site.licverify("deactivate", "-o", "receipt", "--state-dir", str(site.tmp / "env-state")).code == 0
    assert "Freed the seat" in site.vendor_ok("deactivate", "receipt").out


# --- a vendor-branded copy ----------------------------------------------------------------------


def test_branded_cli_runs_the_exchange_without_trust_or_product(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lvcli.TRUST_ENV)
    monkeypatch.delenv(lvcli.PRODUCT_ENV)
    license_id = site.issue("one.lic", "--max-devices", "1")
    cli = lvcli.make_cli(app="acme-check", product=PRODUCT, trusted_roots=[site.root])

    def branded(*args: str) -> Result:
        site.capsys.readouterr()
        code = run_click(cli, "acme-check", list(args))
        out, err = site.capsys.readouterr()
        assert "Traceback" not in out + err
        return Result(code, out, err)

    store = site.tmp / "data" / "acme-check"  # the default: the data directory named after the app
    result = branded("import", str(site.tmp / "one.lic"), "--machine-id", "m")
    assert result.code == 0, result
    assert result.out.startswith(f"Installed license {license_id} for globex in {store}\n")
    assert "run 'acme-check request -o request.txt'" in result.out
    result = branded("status", "--machine-id", "m")
    assert result.code == 1 and result.out.startswith("NOT VALID: not-activated: ") and result.err == ""
    result = branded("request", "-o", "req", "--machine-id", "m")
    assert result.code == 0 and result.err == "Wrote activation request to req; send it to your vendor.\n"
    site.vendor_ok("activate", "req", "-o", "resp")
    result = branded("install", "resp", "--machine-id", "m")
    assert result.code == 0 and result.out.startswith(f"Activated: license {license_id} on this machine")
    result = branded("status", "--machine-id", "m", "--json")
    assert result.code == 0 and json.loads(result.out)["activation"]["license"] == license_id
    assert sorted(os.listdir(site.tmp / "data")) == ["acme-check"]
    assert (store / "activation.cose").is_file()

    # The built-in product wins over --product; the generic licverify would need --trust.
    result = branded("status", "--machine-id", "m", "--product", "other")
    assert result.code == 0
    error_line(site.licverify("status", "--state-dir", str(store), "--machine-id", "m"), "licverify", 2)

    # Branded errors carry the branded name.
    line = error_line(_branded_result(site, cli, ["install", "missing.txt"]), "acme-check", 2)
    assert "missing.txt" in line

    result = branded("deactivate", "-o", "receipt")
    assert result.code == 0 and result.err == "Deactivated. Send receipt to your vendor to free the seat.\n"
    site.vendor_ok("deactivate", "receipt")


def _branded_result(site: Site, cli: Any, args: list[str]) -> Result:
    site.capsys.readouterr()
    code = run_click(cli, "acme-check", args)
    out, err = site.capsys.readouterr()
    return Result(code, out, err)


@pytest.mark.parametrize("command", ["import", "request", "install", "status", "deactivate"])
def test_branded_help_hides_trust_product_and_app(site: Site, command: str) -> None:
    cli = lvcli.make_cli(app="acme-check", product=PRODUCT, trusted_roots=[site.root])
    result = _branded_result(site, cli, [command, "--help"])
    assert result.code == 0 and result.err == ""
    assert f"Usage: acme-check {command}" in result.out
    for hidden in ("--trust", "--product", "--app ", "LICVERIFY_TRUST", "LICVERIFY_PRODUCT"):
        assert hidden not in result.out
    assert "--state-dir" in result.out
    # The generic command shows them (where the command takes them).
    generic = site.licverify(command, "--help").out
    assert "--product" in generic and "--app" in generic
    assert ("--trust" in generic) == (command in ("import", "install", "status"))


def test_branded_main_exits_with_the_run_click_status(site: Site) -> None:
    site.issue("one.lic")
    cli = lvcli.make_cli(app="acme-check", product=PRODUCT, trusted_roots=[site.root])
    result = run_entry(site.capsys, lambda a: lvcli.branded_main(cli, a), ("status", "--machine-id", "m"))
    verdict_line(result, "not-activated")  # nothing installed in the default store yet
    result = run_entry(site.capsys, lambda a: lvcli.branded_main(cli, a), ("import", str(site.tmp / "one.lic")))
    assert result.code == 0 and f"in {site.tmp / 'data' / 'acme-check'}" in result.out
