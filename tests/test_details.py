"""The license details page, the list's columns and ``device show`` (issue 8, "Pages the CLI
must match"), on both ledger engines.

One user-based license under an order with two managers, three users (codes used and
unused), three devices (one holding its seat, one deactivated by a receipt, one reset by
the vendor) and a share. ``licsign show`` must carry every item of the details page,
``licsign list`` the counts, ``licsign device show`` the device's fingerprint and
activations; every text line escapes what customers' machines sent (labels).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import CUSTOMER, PRODUCT, Site, Vendor, at, error_line

import licsign
import licsign.cli.activation
import licsign.cli.licenses
from licsign import DeviceDetails, DeviceReport, Granted, IssuedLicense
from licverify._time import iso

DAY = 86400
ANN, BOB, CY = "ann@globex.example", "bob@globex.example", "cy@globex.example"
#: A label a hostile machine could send: an escape sequence and a bidi override.
EVIL_LABEL = "box\x1b[2J\u202e"


@dataclass
class Scene:
    lic: IssuedLicense
    a: Granted
    b: Granted
    c: Granted


def t(seconds: int) -> str:
    """``at(seconds)`` as ``--json`` prints it."""
    return str(iso(int(at(seconds).timestamp())))


def scene(vendor: Vendor) -> Scene:
    """The license of the module docstring (times in seconds after ``NOW``)."""
    ws = vendor.ws
    licsign.add_order(ws, "PO-7", customer=CUSTOMER, now=at(0), reference="Invoice 9")
    licsign.add_manager(ws, "PO-7", "mia@globex.example", now=at(0), name="Mia")
    licsign.add_manager(ws, "PO-7", "max@globex.example", now=at(0))
    lic = vendor.issue(
        "perpetual", when=at(0), max_users=3, max_devices=5, max_devices_per_user=2,
        max_transfers=4, refresh=timedelta(days=30), order="PO-7",
    )  # fmt: skip
    ann = vendor.assign(lic, ANN, at(10), name="Ann Lee")
    bob = vendor.assign(lic, BOB, at(10))
    vendor.assign(lic, CY, at(10))
    a = vendor.machine("a").activate(lic, at(100), user=ANN, code=ann)
    m = vendor.machine("b")
    m.import_license(lic, at(200))
    b = vendor.activate(m.request(at(200), user=ANN, code=vendor.new_code(lic, ANN, at(150)),
                                  label=EVIL_LABEL), at(200))  # fmt: skip
    m.install(b.response, at(200))
    c = vendor.machine("c").activate(lic, at(300), user=BOB, code=bob)
    licsign.deactivate(ws, m.deactivate(at(400)), now=at(400))
    licsign.reset_device(ws, lic.id, c.device_id[:6], now=at(500))
    licsign.share_license(ws, lic.id, "sam@initech.example", now=at(550))
    return Scene(lic, a, b, c)


def cli(vendor: Vendor, monkeypatch: pytest.MonkeyPatch, capsys: Any, when: datetime) -> Site:
    """The licsign command line on the vendor's workspace, its clock at ``when``."""
    site = Site(capsys, Path(vendor.tmp), home=Path(vendor.home), ledger_url=vendor.ledger_url)
    site.isolate(monkeypatch)
    monkeypatch.setattr(licsign.cli.licenses, "now_utc", lambda: when)
    monkeypatch.setattr(licsign.cli.activation, "now_utc", lambda: when)
    return site


# --- the details page -------------------------------------------------------------------------


def test_details_carry_every_item_of_the_page(vendor: Vendor) -> None:
    s = scene(vendor)
    details = licsign.license_details(vendor.ws, s.lic.id, now=at(600))
    assert (details.id, details.version, details.basis) == (s.lic.id, 1, "user")
    assert details.order is not None and details.order.id == "PO-7"
    assert [(m.email, m.name) for m in details.managers] == [
        ("max@globex.example", None), ("mia@globex.example", "Mia"),
    ]  # fmt: skip
    assert {d.device_id: d.status for d in details.devices} == {
        s.a.device_id: "active", s.b.device_id: "deactivated", s.c.device_id: "reset",
    }  # fmt: skip
    assert details.last_activation == int(at(300).timestamp())
    assert details.last_deactivation == int(at(500).timestamp())
    later = licsign.license_details(vendor.ws, s.lic.id, now=at(100 + 31 * DAY))
    assert {d.device_id: d.status for d in later.devices}[s.a.device_id] == "refresh-overdue"
    shown = details.to_json()
    assert shown["lifecycle"] == {
        "created": t(0), "issued": t(0), "first_activated": t(100), "expires": None,
        "grace_ends": None, "supersedes": None, "superseded_by": None,
        "versions": [{"version": 1, "issued_at": t(0), "status": "active"}],
    }  # fmt: skip
    assert shown["usage"] == {
        "max_devices": 5, "max_users": 3, "max_devices_per_user": 2, "max_transfers": 4,
        "transfers_used": 2, "allowed_devices": 0, "allowed_users": [],
        "activation_required": True, "refresh_seconds": 30 * DAY, "lease_seconds": None,
    }  # fmt: skip
    assert [(u["email"], u["name"], u["seats"], u["code"]) for u in shown["users"]] == [
        (ANN, "Ann Lee", 1, "used"), (BOB, None, 0, "used"), (CY, None, 0, "unused"),
    ]  # fmt: skip
    assert shown["last_seen"] == {"activation": t(300), "deactivation": t(500),
                                  "usage_report": None}  # fmt: skip
    assert shown["shares"] == [{
        "license": s.lic.id, "email": "sam@initech.example", "added_at": t(550),
        "removed_at": None, "seats": 0, "code": "unused",
    }]  # fmt: skip
    assert (shown["id"], shown["version"], shown["basis"]) == (s.lic.id, 1, "user")


def test_the_activation_history_names_each_device(vendor: Vendor) -> None:
    s = scene(vendor)
    shown = licsign.license_details(vendor.ws, s.lic.id, now=at(600)).to_json()
    assert shown["activations"] == [
        {"activation": s.a.activation_id, "device": s.a.device_id, "label": "host-a", "user": ANN,
         "created_at": t(100), "renewed_at": t(100), "ended_at": None, "end_reason": None,
         "lease_expires": None, "refresh_by": t(100 + 30 * DAY), "transfer": None},
        {"activation": s.b.activation_id, "device": s.b.device_id, "label": EVIL_LABEL,
         "user": ANN, "created_at": t(200), "renewed_at": t(200), "ended_at": t(400),
         "end_reason": "deactivated", "lease_expires": None, "refresh_by": t(200 + 30 * DAY),
         "transfer": True},
        {"activation": s.c.activation_id, "device": s.c.device_id, "label": "host-c", "user": BOB,
         "created_at": t(300), "renewed_at": t(300), "ended_at": t(500), "end_reason": "reset",
         "lease_expires": None, "refresh_by": t(300 + 30 * DAY), "transfer": True},
    ]  # fmt: skip


def test_show_prints_every_item_and_escapes_what_machines_sent(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    s = scene(vendor)
    site = cli(vendor, monkeypatch, capsys, at(600))
    text = site.vendor_ok("show", s.lic.id).out
    for expected in (
        f"License:     {s.lic.id} (version 1)", "Status:      active", f"Product:     {PRODUCT}",
        f"Customer:    {CUSTOMER}", "Order:       PO-7 (reference Invoice 9)",
        "Basis:       user-based", f"Created:     {t(0)}", f"First used:  {t(100)}",
        "Expires:     never", "Grace ends:  never", "Supersedes:  none", "Superseded:  no",
        "Max devices: 5", "Max users:   3", "Per user:    2 device(s)", "Transfers:   2 used of 4",
        "Activation:  required, refresh every 30d", "Bound to:    no device list",
        f"Last active: {t(300)}", f"Last freed:  {t(500)}", "License users: 3",
        f"user {ANN} (Ann Lee)  seats 1  code used", f"user {CY}  seats 0  code unused",
        f"device {s.a.device_id[:12]}  host-a  active", "Shares:      1",
        f"shared with sam@initech.example  since {t(550)}  seats 0  code unused",
        f"{t(100)}  host-a ({s.a.device_id[:8]})  user {ANN}  last renewed {t(100)}  open",
        f"host-c ({s.c.device_id[:8]})  user {BOB}  last renewed {t(300)}  ended {t(500)} (reset)",
        f"device.reset  host-c ({s.c.device_id[:8]})", "History:", "license.issued",
    ):  # fmt: skip
        assert expected in text, expected
    assert "Managers:    max@globex.example, mia@globex.example (Mia)" in text
    assert "Devices:     3 seen" in text
    assert "\x1b" not in text and "\u202e" not in text
    assert "box\\x1b[2J\\u202e" in text
    assert json.loads(site.vendor_ok("show", s.lic.id, "--json").out) == json.loads(
        json.dumps(licsign.license_details(vendor.ws, s.lic.id, now=at(600)).to_json())
    )


# --- the list ---------------------------------------------------------------------------------


def test_list_columns_and_counts(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    s = scene(vendor)
    plain = vendor.issue("subscription", when=at(700), expires=at(800 + 365 * DAY))
    site = cli(vendor, monkeypatch, capsys, at(900))
    rows = {r["id"]: r for r in json.loads(site.vendor_ok("list", "--json").out)}
    assert rows[s.lic.id] == {
        "id": s.lic.id, "version": 1, "product": PRODUCT, "customer": CUSTOMER,
        "type": "perpetual", "status": "active", "issued_at": t(0), "expires": None,
        "basis": "user", "devices_used": 1, "max_devices": 5, "users_used": 3, "max_users": 3,
    }  # fmt: skip
    assert (rows[plain.id]["basis"], rows[plain.id]["devices_used"]) == ("computer", 0)
    assert rows[plain.id]["max_devices"] is None and rows[plain.id]["users_used"] == 0
    lines = site.vendor_ok("list").out.splitlines()
    assert lines[0].split() == [
        "ID", "CUSTOMER", "PRODUCT", "TYPE", "BASIS", "STATUS", "DEVICES", "USERS", "EXPIRES",
    ]  # fmt: skip
    by_id = {line.split()[0]: line.split() for line in lines[1:]}
    assert by_id[s.lic.id] == [s.lic.id, CUSTOMER, PRODUCT, "perpetual", "user", "active",
                               "1/5", "3/3", "never"]  # fmt: skip
    assert by_id[plain.id][4:8] == ["computer", "active", "0/-", "-"]


def test_a_removed_user_and_a_lapsed_seat_are_not_counted(vendor: Vendor) -> None:
    s = scene(vendor)
    licsign.remove_user(vendor.ws, s.lic.id, ANN, now=at(700), force=True)
    (row,) = [r for r in licsign.licenses(vendor.ws, now=at(800)) if r.id == s.lic.id]
    assert (row.devices_used, row.users_used) == (0, 2)
    users = licsign.license_details(vendor.ws, s.lic.id, now=at(800)).users
    assert [(u.email, u.code, u.removed_at is not None) for u in users] == [
        (ANN, "used", True), (BOB, "used", False), (CY, "unused", False),
    ]  # fmt: skip


# --- device show ------------------------------------------------------------------------------


def test_device_show(vendor: Vendor, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    s = scene(vendor)
    shown = licsign.device_details(vendor.ws, s.lic.id, s.c.device_id[:5], now=at(600))
    fp = vendor.machine("c").fp
    assert shown.components == sorted(fp) and shown.changed == []
    assert shown.first_fingerprint == shown.latest_fingerprint
    site = cli(vendor, monkeypatch, capsys, at(600))
    info = json.loads(site.vendor_ok("device", "show", s.lic.id, s.c.device_id[:5], "--json").out)
    assert info == {
        "license": s.lic.id, "device": s.c.device_id, "label": "host-c", "user": BOB,
        "first_seen": t(300), "last_seen": t(300), "activation": s.c.activation_id,
        "status": "reset", "lease_expires": None, "refresh_by": t(300 + 30 * DAY),
        "fingerprint": {"components": sorted(fp), "changed": [],
                        "first": shown.first_fingerprint, "latest": shown.first_fingerprint},
        "activations": [{
            "activation": s.c.activation_id, "device": s.c.device_id, "label": "host-c",
            "user": BOB, "created_at": t(300), "renewed_at": t(300), "ended_at": t(500),
            "end_reason": "reset", "lease_expires": None, "refresh_by": t(300 + 30 * DAY),
            "transfer": True,
        }],
    }  # fmt: skip
    text = site.vendor_ok("device", "show", s.lic.id, s.b.device_id).out
    for expected in (
        f"Device:      {s.b.device_id}", "Label:       box\\x1b[2J\\u202e", f"User:        {ANN}",
        "Status:      deactivated", f"First seen:  {t(200)}", "unchanged since first seen",
        f"{s.b.activation_id}  activated {t(200)}  last renewed {t(200)}  ended {t(400)} "
        "(deactivated)",
    ):  # fmt: skip
        assert expected in text, expected
    assert "\x1b" not in text and "\u202e" not in text


def test_device_show_refuses_an_unknown_short_or_foreign_device(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    s = scene(vendor)
    site = cli(vendor, monkeypatch, capsys, at(600))
    assert "at least 4" in error_line(site.licsign("device", "show", s.lic.id, "abc"), "licsign", 2)
    line = error_line(site.licsign("device", "show", s.lic.id, "ffffffffff"), "licsign", 1)
    assert "no device 'ffffffffff'" in line
    other = vendor.issue("perpetual", when=at(0))
    line = error_line(site.licsign("device", "show", other.id, s.a.device_id), "licsign", 1)
    assert f"on license {other.id}" in line
    assert "unknown license" in error_line(
        site.licsign("device", "show", "L-NOPE", "abcd"), "licsign", 1
    )


def test_changed_components_are_named() -> None:
    device = DeviceReport("d" * 64, "pc", None, 0, 1, None, "none", None, None)
    shown = DeviceDetails(
        "L-1", device, {"cpu": "aa", "disk": "bb"}, {"cpu": "aa", "nic": "cc"}, ()
    )
    assert shown.components == ["cpu", "disk", "nic"] and shown.changed == ["disk", "nic"]
    assert shown.to_json()["fingerprint"]["changed"] == ["disk", "nic"]
