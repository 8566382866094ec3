"""The ``licverify`` command line (and vendor-branded copies), driven in-process.

Licenses come from a real licsign workspace built through the licsign CLI,
so these tests also prove that what the vendor's tool writes is what the
customer's tool accepts.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from factory import OTHER_ROOT, public
from harness import PRODUCT, Result, Site, run_entry, usage_line, verdict_line

import licverify
import licverify.cli as lvcli


def when(text: str, delta: timedelta = timedelta(0)) -> str:
    """ISO text of a time in the licsign JSON, shifted by ``delta``."""
    at = datetime.fromisoformat(text.replace("Z", "+00:00")) + delta
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def site(unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any) -> Site:
    """A harness site whose licverify gets no trust root or product from the environment
    (each test gives them); a second product, ``other``; and ``sub.lic``, a subscription."""
    s = Site.create(monkeypatch, tmp_path, capsys, customer_env=False)
    s.vendor_ok("product", "add", "other")
    s.issue_with("sub.lic", "--type", "subscription", "--duration", "30d", "--grace", "14d",
                 "--feature", "export", "--feature", "seats=5")  # fmt: skip
    return s


# --- check ------------------------------------------------------------------------------------


def test_check_valid_license_prints_terms(site: Site) -> None:
    result = site.check("sub.lic")
    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    assert lines[0] == "VALID"
    terms = site.licenses["sub.lic"]
    for expected in (
        f"License:     {terms['id']} (version 1)",
        f"Product:     {PRODUCT}",
        "Customer:    globex",
        "Issuer:      Acme Inc.",
        "Type:        subscription",
        f"Expires:     {terms['expires'].replace('T', ' ')}",
        "Grace:       14 days",
        "Limits:      none",  # seat limits imply activation (checked by 'status', not 'check')
    ):
        assert expected in lines
    features = next(line for line in lines if line.startswith("Features:"))
    assert sorted(features.split(None, 1)[1].split(", ")) == ["export", "seats=5"]


def test_check_json(site: Site) -> None:
    result = site.check("sub.lic", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["status"] == "valid" and data["grace_days_left"] is None
    assert {k: data[k] for k in site.licenses["sub.lic"]} == site.licenses["sub.lic"]
    lic = licverify.verify_license((site.tmp / "sub.lic").read_bytes(), trusted_roots=[site.root],
                                   product=PRODUCT, now=datetime.now(timezone.utc))  # fmt: skip
    assert data["digest"] == lic.digest and data["key_id"] == lic.certificate.key_id.hex()


def test_check_in_grace_is_valid_with_days_left(site: Site) -> None:
    at = when(site.licenses["sub.lic"]["expires"], timedelta(days=4))
    result = site.check("sub.lic", "--at", at)
    assert result.code == 0
    expires = site.licenses["sub.lic"]["expires"][:10]
    assert result.out.splitlines()[0] == f"VALID (in grace: expired {expires}, 10 day(s) left)"
    data = json.loads(site.check("sub.lic", "--at", at, "--json").out)
    assert data["status"] == "grace" and data["grace_days_left"] == 10


def test_check_expired(site: Site) -> None:
    at = when(site.licenses["sub.lic"]["expires"], timedelta(days=15))
    verdict_line(site.check("sub.lic", "--at", at), "expired")
    result = site.check("sub.lic", "--at", at, "--json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["status"] == "invalid" and data["code"] == "expired" and "grace ended" in data["reason"]


def test_check_not_yet_valid(site: Site) -> None:
    at = when(site.licenses["sub.lic"]["issued_at"], timedelta(days=-1))
    verdict_line(site.check("sub.lic", "--at", at), "not-yet-valid")


def test_check_wrong_product(site: Site) -> None:
    site.issue_with("other.lic", "--type", "perpetual", product="other")
    verdict_line(site.check("other.lic"), "wrong-product")
    ok = site.licverify("check", str(site.tmp / "other.lic"), "--trust", str(site.trust), "--product", "other")
    assert ok.code == 0


def test_check_untrusted_root(site: Site) -> None:
    (site.tmp / "other.hex").write_text(public(OTHER_ROOT).hex() + "\n")
    result = site.licverify("check", str(site.tmp / "sub.lic"), "--trust", str(site.tmp / "other.hex"),
                            "--product", PRODUCT)  # fmt: skip
    verdict_line(result, "untrusted-key")


def tamper(data: bytes, position: int) -> bytes:
    """Change the base64 character at ``position`` of an armored document's body."""
    lines = data.strip().split(b"\n")
    body = bytearray(b"".join(lines[1:-1]))
    body[position] = ord("A") if body[position] != ord("A") else ord("B")
    wrapped = [bytes(body[i : i + 64]) for i in range(0, len(body), 64)]
    return b"\n".join([lines[0], *wrapped, lines[-1]]) + b"\n"


def test_check_tampered_signature(site: Site) -> None:
    # 20 characters from the end is inside the 64-byte signature, clear of the padding.
    (site.tmp / "bad.lic").write_bytes(tamper((site.tmp / "sub.lic").read_bytes(), -20))
    verdict_line(site.check("bad.lic"), "bad-signature")


@pytest.mark.parametrize("position", [8, 100, 200, 300, 400])
def test_check_tampered_anywhere(site: Site, position: int) -> None:
    from licverify._errors import ERROR_CODES

    (site.tmp / "bad.lic").write_bytes(tamper((site.tmp / "sub.lic").read_bytes(), position))
    result = site.check("bad.lic")
    assert result.code == 1 and result.err == "" and result.out.count("\n") == 1
    code = result.out.split(":")[1].strip()
    assert code in ERROR_CODES and code != "license-error"


def test_check_a_certificate_is_the_wrong_kind(site: Site) -> None:
    (cert,) = (site.tmp / "ws" / "keys").glob("*.cert")
    result = site.licverify("check", str(cert), "--trust", str(site.trust), "--product", PRODUCT)
    verdict_line(result, "wrong-kind")


def test_check_device_bound_license_and_machine_id(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    device = licverify.format_fingerprint(licverify.machine_fingerprint(PRODUCT, machine_id="x"))
    site.issue_with("dev.lic", "--type", "perpetual", "--device", device)
    assert site.check("dev.lic", "--machine-id", "x").code == 0
    verdict_line(site.check("dev.lic", "--machine-id", "y"), "wrong-machine")
    monkeypatch.setenv(lvcli.MACHINE_ID_ENV, "x")
    assert site.check("dev.lic").code == 0


def test_check_version_gate(site: Site) -> None:
    site.issue_with("gate.lic", "--type", "perpetual", "--max-version", "2.9")
    assert site.check("gate.lic", "--app-version", "2.9.5").code == 1
    assert site.check("gate.lic", "--app-version", "2.9").code == 0
    verdict_line(site.check("gate.lic", "--app-version", "3.0"), "version-not-allowed")
    assert "app_version" in usage_line(site.check("gate.lic", "--app-version", "three"))


def test_check_activation_required(site: Site) -> None:
    site.issue_with("act.lic", "--type", "perpetual", "--require-activation")
    verdict_line(site.check("act.lic"), "not-activated")


def test_check_binary_license(site: Site) -> None:
    site.issue_with("bin.lic", "--type", "perpetual", "--binary")
    assert site.check("bin.lic").out.startswith("VALID\n")


def test_check_needs_trust_and_product(site: Site) -> None:
    lic = str(site.tmp / "sub.lic")
    assert "--trust" in usage_line(site.licverify("check", lic, "--product", PRODUCT))
    assert "--product" in usage_line(site.licverify("check", lic, "--trust", str(site.trust)))
    assert "--at" in usage_line(site.check("sub.lic", "--at", "2027-13-45"))


def test_check_trust_and_product_from_environment(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lvcli.TRUST_ENV, str(site.trust))
    monkeypatch.setenv(lvcli.PRODUCT_ENV, PRODUCT)
    assert site.licverify("check", str(site.tmp / "sub.lic")).out.startswith("VALID\n")
    # An option given on the command line wins over the environment.
    verdict_line(site.licverify("check", str(site.tmp / "sub.lic"), "--product", "other"), "wrong-product")
    monkeypatch.setenv(lvcli.PRODUCT_ENV, "other")
    verdict_line(site.licverify("check", str(site.tmp / "sub.lic")), "wrong-product")


@pytest.mark.parametrize("fmt", ["pem", "raw", "python", "hex"])
def test_check_reads_every_export_format(site: Site, fmt: str) -> None:
    site.vendor_ok("key", "export-public", "--format", fmt, "-o", str(site.tmp / f"trust.{fmt}"))
    result = site.licverify("check", str(site.tmp / "sub.lic"), "--trust", str(site.tmp / f"trust.{fmt}"),
                            "--product", PRODUCT)  # fmt: skip
    assert result.code == 0 and result.out.startswith("VALID\n")


# --- fingerprint ------------------------------------------------------------------------------


def test_fingerprint_text_and_json(site: Site) -> None:
    result = site.licverify("fingerprint", "--product", PRODUCT, "--machine-id", "x")
    assert result.code == 0
    lines = result.out.splitlines()
    expected = licverify.machine_fingerprint(PRODUCT, machine_id="x")
    assert lines[-1] == licverify.format_fingerprint(expected)
    assert lines[0] == f"machine-id:  {expected['machine-id'].hex()}"
    assert [line.split(":")[0] for line in lines[:5]] == ["machine-id", "mac", "disk", "cpu", "hostname"]
    data = json.loads(site.licverify("fingerprint", "--product", PRODUCT, "--machine-id", "x", "--json").out)
    assert data == {"fingerprint": lines[-1], "components": {k: v.hex() for k, v in expected.items()}}
    assert licverify.parse_fingerprint(data["fingerprint"]) == dict(expected)


def test_fingerprint_machine_id_changes_only_that_component(site: Site) -> None:
    def components(*args: str) -> dict[str, str]:
        result = site.licverify("fingerprint", "--product", PRODUCT, "--json", *args)
        assert result.code == 0
        return json.loads(result.out)["components"]  # type: ignore[no-any-return]

    x, y = components("--machine-id", "x"), components("--machine-id", "y")
    assert set(x) == set(y) and "machine-id" in x
    assert x["machine-id"] != y["machine-id"]
    assert {k: v for k, v in x.items() if k != "machine-id"} == {k: v for k, v in y.items() if k != "machine-id"}
    # The salt is per product: the same machine id looks unrelated to another product.
    other = json.loads(site.licverify("fingerprint", "--product", "other", "--machine-id", "x", "--json").out)
    assert other["components"]["machine-id"] != x["machine-id"]


def test_fingerprint_needs_a_product(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "--product" in usage_line(site.licverify("fingerprint"))
    monkeypatch.setenv(lvcli.PRODUCT_ENV, PRODUCT)
    monkeypatch.setenv(lvcli.MACHINE_ID_ENV, "x")
    out = site.licverify("fingerprint").out
    assert out.splitlines()[-1] == licverify.format_fingerprint(licverify.machine_fingerprint(PRODUCT, machine_id="x"))


# --- inspect ----------------------------------------------------------------------------------


def test_inspect_with_trust(site: Site) -> None:
    result = site.licverify("inspect", str(site.tmp / "sub.lic"), "--trust", str(site.trust), "--product", PRODUCT)
    assert result.code == 0 and result.err == ""
    assert "Kind:     license (armored)" in result.out
    assert "Verdict:  valid" in result.out
    assert "[ok  ] product: licensed for acme-cad" in result.out
    report = json.loads(site.licverify("inspect", str(site.tmp / "sub.lic"), "--trust", str(site.trust), "--json").out)
    assert report["verdict"] == "valid" and report["fields"]["id"] == site.licenses["sub.lic"]["id"]
    assert {c["name"]: c["result"] for c in report["checks"]}["product"] == "skip"


def test_inspect_without_trust_is_unverified(site: Site) -> None:
    result = site.licverify("inspect", str(site.tmp / "sub.lic"))
    assert result.code == 1
    assert "Verdict:  unverified" in result.out
    assert "[skip] signature" in result.out
    assert site.licenses["sub.lic"]["id"] in result.out


def test_inspect_failures(site: Site) -> None:
    at = when(site.licenses["sub.lic"]["expires"], timedelta(days=30))
    result = site.licverify("inspect", str(site.tmp / "sub.lic"), "--trust", str(site.trust), "--at", at)
    assert result.code == 1 and "Verdict:  expired" in result.out and "[FAIL] validity" in result.out
    result = site.licverify("inspect", str(site.tmp / "sub.lic"), "--trust", str(site.trust), "--product", "other")
    assert result.code == 1 and "Verdict:  wrong-product" in result.out
    grace = when(site.licenses["sub.lic"]["expires"], timedelta(days=1))
    report = json.loads(site.licverify("inspect", str(site.tmp / "sub.lic"), "--trust", str(site.trust),
                                       "--at", grace, "--json").out)  # fmt: skip
    assert report["verdict"] == "grace"


def test_inspect_a_certificate(site: Site) -> None:
    (cert,) = (site.tmp / "ws" / "keys").glob("*.cert")
    result = site.licverify("inspect", str(cert), "--trust", str(site.trust))
    assert result.code == 0
    assert "Kind:     issuing-key-certificate (armored)" in result.out
    assert "Verdict:  valid" in result.out


# --- branded CLI --------------------------------------------------------------------------------


def test_branded_cli_needs_no_trust_or_product(site: Site) -> None:
    cli = lvcli.make_cli(app="acme-check", product=PRODUCT, trusted_roots=[site.root])

    def branded(*args: str) -> Result:
        return run_entry(site.capsys, lambda a: lvcli.branded_main(cli, a), args)

    result = branded("check", str(site.tmp / "sub.lic"))
    assert result.code == 0 and result.out.startswith("VALID\n")
    assert f"License:     {site.licenses['sub.lic']['id']} (version 1)" in result.out

    site.issue_with("other.lic", "--type", "perpetual", product="other")
    verdict_line(branded("check", str(site.tmp / "other.lic")), "wrong-product")
    # The built-in product cannot be overridden from the command line.
    verdict_line(branded("check", str(site.tmp / "other.lic"), "--product", "other"), "wrong-product")

    report = branded("inspect", str(site.tmp / "sub.lic"), "--json")
    assert report.code == 0 and json.loads(report.out)["verdict"] == "valid"
    assert "[ok  ] product: licensed for acme-cad" in branded("inspect", str(site.tmp / "sub.lic")).out

    fp = branded("fingerprint", "--machine-id", "x").out.splitlines()[-1]
    assert fp == licverify.format_fingerprint(licverify.machine_fingerprint(PRODUCT, machine_id="x"))

    help_text = branded("check", "--help").out
    assert "--trust" not in help_text and "--product" not in help_text
    assert "acme-check check" in help_text
    assert branded("--version").out.startswith("acme-check, version ")

    missing = branded("check", str(site.tmp / "missing.lic"))
    assert usage_line(missing, prog="acme-check")


def test_branded_cli_through_run_click(site: Site) -> None:
    from licverify.cliutil import run_click

    (site.tmp / "other.hex").write_text(public(OTHER_ROOT).hex())
    cli = lvcli.make_cli(app="acme-check", product=PRODUCT, trusted_roots=[public(OTHER_ROOT)])
    site.capsys.readouterr()
    assert run_click(cli, "acme-check", ["check", str(site.tmp / "sub.lic")]) == 1
    out, err = site.capsys.readouterr()
    assert out.startswith("NOT VALID: untrusted-key: ") and err == ""
    cli = lvcli.make_cli(app="acme-check", product=PRODUCT, trusted_roots=[site.root])
    assert run_click(cli, "acme-check", ["check", str(site.tmp / "sub.lic")]) == 0


# --- status: when the activation must be renewed ----------------------------------------------------


def activate_here(site: Site, name: str) -> tuple[list[str], datetime]:
    """Import license ``name`` into a new store, activate it through the vendor; return the
    options that reach that store and the activation's expiry (refresh-by or lease end)."""
    store = ["--state-dir", str(site.tmp / f"state-{name}"), "--machine-id", "machine-1",
             "--trust", str(site.trust), "--product", PRODUCT]  # fmt: skip
    assert site.licverify("import", str(site.tmp / name), *store).code == 0
    request, response = site.tmp / f"{name}.req", site.tmp / f"{name}.resp"
    assert site.licverify("request", "-o", str(request), *store[:4], "--product", PRODUCT).code == 0
    site.vendor_ok("activate", str(request), "-o", str(response))
    assert site.licverify("install", str(response), *store).code == 0
    data = json.loads(site.licverify("status", *store, "--json").out)
    expires = data["activation"]["lease_expires"]
    assert expires is not None
    return store, datetime.fromisoformat(expires.replace("Z", "+00:00"))


def iso_z(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_status_shows_when_a_refresh_is_due_and_warns_from_14_days(site: Site) -> None:
    site.issue_with("refresh.lic", "--type", "perpetual", "--refresh", "30d")
    store, due = activate_here(site, "refresh.lic")
    shown = due.strftime("%Y-%m-%d %H:%M:%S") + "Z"

    # 14 days and 1 second before: the date is shown, no warning yet.
    early = site.licverify("status", *store, "--at", iso_z(due - timedelta(days=14, seconds=1)))
    assert early.code == 0 and early.err == ""
    assert f"Refresh by:  {shown}" in early.out.splitlines()
    # Exactly 14 days before: a warning on stderr, the verdict unchanged.
    warned = site.licverify("status", *store, "--at", iso_z(due - timedelta(days=14)))
    assert warned.code == 0 and warned.out == early.out
    assert warned.err == (
        f"warning: this activation must be refreshed by {shown} (14 days); "
        "run 'licverify request' and send it to your vendor\n"
    )
    # JSON: the date and the whole days left (a part of a day counts as one).
    data = json.loads(site.licverify("status", *store, "--json", "--at", iso_z(due - timedelta(days=14))).out)
    assert data["refresh_by"] == iso_z(due) and data["refresh_due_in_days"] == 14
    data = json.loads(site.licverify("status", *store, "--json", "--at", iso_z(due - timedelta(days=14, seconds=1))).out)
    assert data["refresh_by"] == iso_z(due) and data["refresh_due_in_days"] == 15

    # An hour before, it says so in hours (times only go forward: the store's clock ratchet).
    late = site.licverify("status", *store, "--at", iso_z(due - timedelta(hours=1)))
    assert late.code == 0 and "(1 hour);" in late.err

    # Once the date has passed, this machine is not licensed until it renews.
    after = site.licverify("status", *store, "--at", iso_z(due))
    assert after.code == 1 and after.out.startswith("NOT VALID: ")


def test_status_shows_when_a_floating_lease_ends(site: Site) -> None:
    site.issue_with("float.lic", "--type", "floating", "--lease", "120d", "--max-devices", "1")
    store, due = activate_here(site, "float.lic")
    shown = due.strftime("%Y-%m-%d %H:%M:%S") + "Z"
    early = site.licverify("status", *store, "--at", iso_z(due - timedelta(days=14, seconds=1)))
    assert early.code == 0 and early.err == ""
    assert f"Lease ends:  {shown}" in early.out.splitlines()
    assert not any(line.startswith("Refresh by:") for line in early.out.splitlines())
    warned = site.licverify("status", *store, "--at", iso_z(due - timedelta(days=14)))
    assert warned.code == 0 and warned.err == (
        f"warning: this lease ends {shown} (14 days); run 'licverify request' and send it to your vendor\n"
    )


def test_status_warns_of_a_short_lease_only_in_its_last_quarter(site: Site) -> None:
    site.issue_with("short.lic", "--type", "floating", "--lease", "1h", "--max-devices", "1")
    store, due = activate_here(site, "short.lic")
    quiet = site.licverify("status", *store, "--at", iso_z(due - timedelta(minutes=15, seconds=1)))
    assert quiet.code == 0 and quiet.err == ""
    warned = site.licverify("status", *store, "--at", iso_z(due - timedelta(minutes=15)))
    assert warned.code == 0 and "warning: this lease ends" in warned.err and "(15 minutes)" in warned.err


def test_status_without_an_expiry_shows_no_refresh_date(site: Site) -> None:
    site.issue_with("plain.lic", "--type", "perpetual", "--max-devices", "1")
    store = ["--state-dir", str(site.tmp / "state-plain"), "--machine-id", "machine-1",
             "--trust", str(site.trust), "--product", PRODUCT]  # fmt: skip
    assert site.licverify("import", str(site.tmp / "plain.lic"), *store).code == 0
    request, response = site.tmp / "plain.req", site.tmp / "plain.resp"
    assert site.licverify("request", "-o", str(request), *store[:4], "--product", PRODUCT).code == 0
    site.vendor_ok("activate", str(request), "-o", str(response))
    assert site.licverify("install", str(response), *store).code == 0
    result = site.licverify("status", *store)
    assert result.code == 0 and result.err == ""
    assert "Refresh by:" not in result.out and "Lease ends:" not in result.out
    data = json.loads(site.licverify("status", *store, "--json").out)
    assert data["refresh_by"] is None and data["refresh_due_in_days"] is None
