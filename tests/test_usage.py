"""Usage reports and counter refills (format §14; issue 9), on both ledger engines.

A machine consumes units, reports them signed by its device key, and the
vendor records the report once: a replayed or older report is refused, and
a report whose totals went down (a state directory restored from a copy) is
recorded with a warning. The vendor signs a refill for one activation; the
machine adds its units once, and refuses one for another device or a
tampered one. The same round trip runs through both command lines.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from harness import PRODUCT, PW, Site, Vendor, at

import licverify
from licsign import (
    InvalidInputError,
    NotFoundError,
    RefusedError,
    import_usage_report,
    refill_counter,
    verify_ledger,
)
from licverify import LimitReachedError, StoreError, WrongMachineError


def counted(vendor: Vendor, limit: int = 10):  # type: ignore[no-untyped-def]
    """A consumption license with counter ``exports``, activated on machine ``m``."""
    lic = vendor.issue("consumption", counters={"exports": (limit, 0)}, max_devices=2)
    machine = vendor.machine("m")
    machine.activate(lic, at(0))
    return lic, machine


def test_report_is_recorded_once_and_in_order(vendor: Vendor) -> None:
    lic, m = counted(vendor)
    checked = m.check(at(10))
    assert m.store.consume("exports", 3, license=checked, now=at(20)) == 7
    first = m.store.usage_report(now=at(30))
    done = import_usage_report(vendor.ws, first, now=at(40))
    assert (done.report.seq, dict(done.report.totals), done.warnings) == (1, {"exports": 3}, ())
    with pytest.raises(RefusedError, match="older or replayed"):
        import_usage_report(vendor.ws, first, now=at(41))
    m.store.consume("exports", 2, license=checked, now=at(50))
    second = m.store.usage_report(now=at(60))
    import_usage_report(vendor.ws, second, now=at(70))
    with pytest.raises(RefusedError, match="older or replayed"):
        import_usage_report(vendor.ws, first, now=at(71))
    reports = vendor.ws.ledger.usage_reports(lic.id)
    assert [(r.seq, r.totals) for r in reports] == [(1, {"exports": 3}), (2, {"exports": 5})]
    assert verify_ledger(vendor.ws).ok


def test_a_restored_state_shows_in_the_next_report(vendor: Vendor) -> None:
    lic, m = counted(vendor)
    checked = m.check(at(10))
    m.store.consume("exports", 2, license=checked, now=at(20))
    copy = m.path + ".bak"
    shutil.copytree(m.path, copy)
    m.store.consume("exports", 5, license=checked, now=at(30))
    import_usage_report(vendor.ws, m.store.usage_report(now=at(40)), now=at(41))
    shutil.rmtree(m.path)
    shutil.copytree(copy, m.path)  # the owner restores the state directory from before
    replay = m.store.usage_report(now=at(50))  # report 1 again: the vendor has it
    with pytest.raises(RefusedError, match="older or replayed"):
        import_usage_report(vendor.ws, replay, now=at(51))
    later = m.store.usage_report(now=at(60))  # report 2, with fewer units than report 1
    done = import_usage_report(vendor.ws, later, now=at(61))
    assert done.warnings and "restored" in done.warnings[0]


def test_a_tampered_report_is_refused_and_changes_nothing(vendor: Vendor) -> None:
    lic, m = counted(vendor)
    report = bytearray(licverify.format.dearmor(m.store.usage_report(now=at(10)))[0])
    report[-1] ^= 1
    before = vendor.ledger_dump()
    with pytest.raises(licverify.BadSignatureError):
        import_usage_report(vendor.ws, bytes(report), now=at(20))
    with pytest.raises(licverify.WrongKindError):
        import_usage_report(vendor.ws, lic.armored, now=at(20))
    assert vendor.ledger_dump() == before


def test_a_refill_adds_units_once_for_its_device(vendor: Vendor) -> None:
    lic, m = counted(vendor, limit=3)
    checked = m.check(at(10))
    m.store.consume("exports", 3, license=checked, now=at(20))
    with pytest.raises(LimitReachedError):
        m.store.consume("exports", license=checked, now=at(21))
    device = vendor.open_activations(lic.id)[0]["device_id"]
    refill = refill_counter(vendor.ws, lic.id, device[:8], lambda: PW, counter="exports",
                            amount=5, now=at(30))  # fmt: skip
    m.store.import_refill(refill.armored, trusted_roots=vendor.roots, product=PRODUCT,
                          now=at(40))  # fmt: skip
    assert m.store.remaining("exports", license=checked) == 5
    with pytest.raises(StoreError, match="applied here already"):
        m.store.import_refill(refill.armored, trusted_roots=vendor.roots, product=PRODUCT,
                              now=at(50))  # fmt: skip
    assert m.store.consume("exports", 5, license=checked, now=at(60)) == 0
    other = vendor.machine("other")
    other.activate(lic, at(70))
    with pytest.raises(WrongMachineError):
        other.store.import_refill(refill.armored, trusted_roots=vendor.roots, product=PRODUCT,
                                  now=at(80))  # fmt: skip
    report = import_usage_report(vendor.ws, m.store.usage_report(now=at(90)), now=at(91))
    assert dict(report.report.refilled) == {"exports": 5}
    assert [r.amount for r in vendor.ws.ledger.refills(lic.id)] == [5]
    assert verify_ledger(vendor.ws).ok


def test_refill_refusals(vendor: Vendor) -> None:
    lic, m = counted(vendor)
    device = vendor.open_activations(lic.id)[0]["device_id"]
    with pytest.raises(NotFoundError, match="no counter"):
        refill_counter(vendor.ws, lic.id, device, lambda: PW, counter="prints", amount=1,
                       now=at(10))  # fmt: skip
    for amount in (0, -1):
        with pytest.raises(InvalidInputError, match="positive"):
            refill_counter(vendor.ws, lic.id, device, lambda: PW, counter="exports",
                           amount=amount, now=at(10))  # fmt: skip
    with pytest.raises(NotFoundError, match="no active device"):
        refill_counter(vendor.ws, lic.id, "ffffffff", lambda: PW, counter="exports", amount=1,
                       now=at(10))  # fmt: skip
    refill = refill_counter(vendor.ws, lic.id, device, lambda: PW, counter="exports", amount=1,
                            now=at(10))  # fmt: skip
    binary = bytearray(licverify.format.dearmor(refill.armored)[0])
    binary[-1] ^= 1
    before = m.snapshot()
    with pytest.raises(licverify.BadSignatureError):
        m.store.import_refill(bytes(binary), trusted_roots=vendor.roots, product=PRODUCT,
                              now=at(20))  # fmt: skip
    with pytest.raises(licverify.WrongProductError):
        m.store.import_refill(refill.armored, trusted_roots=vendor.roots, product="acme-cam",
                              now=at(20))  # fmt: skip
    assert m.snapshot() == before


def test_usage_and_refill_on_both_command_lines(site: Site) -> None:
    site.issue("c.lic", "--type", "consumption", "--counter", "exports=2", "--max-devices", "1")
    machine = site.machine("m1")
    machine.ok("import", str(site.tmp / "c.lic"))
    machine.ok("request", "-o", str(machine.path("req")))
    bad = site.licsign("activate", str(machine.path("req")), "-o", str(machine.path("x")),
                       "--counter", "exports")  # fmt: skip
    assert bad.code == 2 and "NAME=N" in bad.err
    site.vendor_ok("activate", str(machine.path("req")), "-o", str(machine.path("resp")),
                   "--counter", "exports=3")  # fmt: skip
    machine.ok("install", str(machine.path("resp")))
    assert "Left:        5 exports" in machine.ok("status").out  # 2 of the license, 3 granted
    machine.ok("usage", "report", "-o", str(machine.path("report")))
    done = json.loads(site.vendor_ok("usage", "import", str(machine.path("report")), "--json").out)
    assert done["seq"] == 1 and done["warnings"] == []
    again = site.licsign("usage", "import", str(machine.path("report")))
    assert again.code != 0 and "older or replayed" in again.err and "Traceback" not in again.err
    license_id = done["license"]
    device = done["device_id"][:8]
    site.vendor_ok("counter", "refill", license_id, "--device", device, "--add", "exports=7",
                   "-o", str(machine.path("refill")))  # fmt: skip
    added = machine.ok("import", str(machine.path("refill")))
    assert "Added 7 units to counter exports" in added.out
    assert "Left:        12 exports" in machine.ok("status").out
    assert json.loads(machine.ok("status", "--json").out)["counters_left"] == {"exports": 12}
    twice = machine("import", str(machine.path("refill")))
    assert twice.code != 0 and "applied here already" in twice.out + twice.err
    bad = site.licsign("counter", "refill", license_id, "--device", device, "--add", "exports",
                       "-o", str(site.tmp / "x"))  # fmt: skip
    assert bad.code == 2 and "NAME=N" in bad.err
    shown = site.vendor_ok("show", license_id).out
    assert "Last report:" in shown and "Usage:" in shown and "Refill:" in shown
    data = json.loads(site.vendor_ok("show", license_id, "--json").out)
    assert data["usage_reports"][0]["seq"] == 1 and data["refills"][0]["amount"] == 7
    assert data["last_seen"]["usage_report"] is not None
    site.vendor_ok("ledger", "verify")


def test_report_needs_a_license() -> None:
    from pathlib import Path
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as tmp:
        store = licverify.LocalStore(Path(tmp) / "empty")
        with pytest.raises(StoreError):
            store.usage_report(now=at(0) + timedelta(0))


def test_a_clock_reset_is_the_way_out_of_a_ratchet_run_ahead(vendor: Vendor) -> None:
    from licsign import clock_reset
    from licverify import ClockRolledBackError

    lic, m = counted(vendor)
    day = 86400
    m.check(at(day))
    m.check(at(30 * day))  # the machine's clock ran a month ahead for a while
    with pytest.raises(ClockRolledBackError):
        m.check(at(day + 3600))  # set right again: now it looks set back
    device = vendor.open_activations(lic.id)[0]["device_id"]
    reset = clock_reset(vendor.ws, lic.id, device, lambda: PW, now=at(day + 3600))
    roots = {"trusted_roots": vendor.roots, "product": PRODUCT}
    with pytest.raises(ClockRolledBackError, match="behind the reset"):
        m.store.import_clock_reset(reset.armored, **roots, now=at(2))
    m.store.import_clock_reset(reset.armored, **roots, now=at(day + 3600))
    assert m.check(at(day + 3601)).id == lic.id
    with pytest.raises(StoreError, match="applied here already"):
        m.store.import_clock_reset(reset.armored, **roots, now=at(day + 3700))
    other = vendor.machine("other")
    other.activate(lic, at(day + 4000))
    with pytest.raises(WrongMachineError):
        other.store.import_clock_reset(reset.armored, **roots, now=at(day + 4100))
    assert "clock.reset" in vendor.event_kinds(lic.id)
    assert verify_ledger(vendor.ws).ok


def test_clock_reset_on_both_command_lines(site: Site) -> None:
    site.issue("c.lic", "--max-devices", "1")
    machine = site.machine("m1")
    machine.ok("import", str(site.tmp / "c.lic"))
    machine.ok("request", "-o", str(machine.path("req")))
    done = json.loads(site.vendor_ok("activate", str(machine.path("req")), "-o",
                                     str(machine.path("resp")), "--json").out)  # fmt: skip
    machine.ok("install", str(machine.path("resp")))
    license_id, device = done["license"], done["device"][:8]
    site.vendor_ok("clock-reset", license_id, "--device", device, "-o", str(machine.path("reset")))
    out = machine.ok("import", str(machine.path("reset")))
    assert "Clock ratchet reset to" in out.out
    again = machine("import", str(machine.path("reset")))
    assert again.code != 0 and "applied here already" in again.out + again.err


def test_reserve_and_return_a_floating_seat(vendor: Vendor) -> None:
    """Reserve: a request asking for a lease, capped by the license's; return: a receipt
    that frees the seat at once (not a transfer); a lease asked of a license without one
    is refused."""
    from licsign import deactivate as vendor_deactivate
    from licverify import verify_response

    day = 86400
    lic = vendor.issue("floating", lease=timedelta(days=7), max_devices=1)
    m = vendor.machine("m")
    m.import_license(lic, at(0))
    short = vendor.activate(m.store.request(now=at(0), fingerprint=m.fp, label="m",
                                            lease=timedelta(days=3)), at(0))  # fmt: skip
    assert verify_response(short.response, trusted_roots=vendor.roots).lease_expires == (
        int(at(0).timestamp()) + 3 * day
    )
    m.install(short.response, at(1))
    assert m.check(at(3 * day - 1)).activation is not None
    with pytest.raises(licverify.NotActivatedError, match="lease ended"):
        m.check(at(3 * day))
    long = vendor.activate(m.store.request(now=at(3 * day), fingerprint=m.fp, label="m",
                                           lease=timedelta(days=30)), at(3 * day))  # fmt: skip
    assert verify_response(long.response, trusted_roots=vendor.roots).lease_expires == (
        int(at(3 * day).timestamp()) + 7 * day  # capped at the license's lease
    )
    m.install(long.response, at(3 * day))
    receipt = m.store.deactivate(now=at(4 * day))  # 'licverify return'
    freed = vendor_deactivate(vendor.ws, receipt, now=at(4 * day))
    assert freed.transfer is False and vendor.open_seats(lic.id) == 0
    with pytest.raises(ValueError, match="lease"):
        m.store.request(now=at(4 * day), fingerprint=m.fp, label="m", lease=timedelta(seconds=5))
    fixed = vendor.issue("perpetual", max_devices=1)
    n = vendor.machine("n")
    n.import_license(fixed, at(0))
    with pytest.raises(RefusedError, match="not floating"):
        vendor.activate(n.store.request(now=at(0), fingerprint=n.fp, label="n",
                                        lease=timedelta(days=1)), at(0))  # fmt: skip


def test_reserve_and_return_on_the_command_line(site: Site) -> None:
    site.issue("f.lic", "--type", "floating", "--lease", "7d", "--max-devices", "1")
    machine = site.machine("m1")
    machine.ok("import", str(site.tmp / "f.lic"))
    machine.ok("reserve", "--for", "3d", "-o", str(machine.path("req")))
    site.vendor_ok("activate", str(machine.path("req")), "-o", str(machine.path("resp")))
    machine.ok("install", str(machine.path("resp")))
    status = machine.ok("status")
    assert "Lease ends:" in status.out
    machine.ok("return", "-o", str(machine.path("receipt")))
    done = json.loads(site.vendor_ok("deactivate", str(machine.path("receipt")), "--json").out)
    assert done["transfer"] is False
    bad = machine("reserve", "--for", "5s", "-o", str(machine.path("req2")))
    assert bad.code == 2 and "Traceback" not in bad.err


def test_an_activation_can_grant_units_of_a_counter(vendor: Vendor) -> None:
    """``licsign activate --counter exports=5``: the response grants them on top of the
    license's own; a counter the license lacks, or a grant below 1, is refused."""
    from licsign import activate

    lic = vendor.issue("consumption", counters={"exports": (2, 0)}, max_devices=1)
    m = vendor.machine("m")
    m.import_license(lic, at(0))
    for bad, message in (({"prints": 1}, "no counter"), ({"exports": 0}, "positive")):
        with pytest.raises(InvalidInputError, match=message):
            activate(vendor.ws, m.request(at(1)), lambda: PW, now=at(1), counters=bad)
    granted = activate(vendor.ws, m.request(at(2)), lambda: PW, now=at(2),
                       counters={"exports": 5})  # fmt: skip
    m.install(granted.response, at(3))
    checked = m.check(at(4))
    assert checked.activation is not None and dict(checked.activation.counters) == {"exports": 5}
    assert m.store.remaining("exports", license=checked) == 7
    assert m.store.consume("exports", 7, license=checked, now=at(5)) == 0
    assert json.loads(vendor.events(lic.id)[-1]["data"])["counters"] == {"exports": 5}
