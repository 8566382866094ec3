"""Orders, license managers and the filters of ``licsign list`` (issue 8), on both ledger engines.

Library level (``vendor``): every time injected, so the list filters are
checked at the exact instants a license changes status or enters the
``--expiring-within`` window. Command line (``site``): each command's output,
its ``--json``, its one-line refusals, and untrusted text escaped.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from harness import CUSTOMER, PRODUCT, PW, Site, Vendor, at, error_line, error_line_after_progress

import licsign
import licverify
from licsign import (
    AlreadyExistsError,
    InvalidFieldError,
    IssueRequest,
    NotFoundError,
    RefusedError,
)
from licverify.cliutil import Duration

DAY = 86400
OTHER = "initech"
#: Text a terminal would obey: an escape sequence, a carriage return, a bidi override.
HOSTILE = "PO\x1b[31m-7\r\u202eevil"


def never_asked() -> bytes:
    raise AssertionError("the passphrase was asked for although the request is refused")


def seconds(when: datetime) -> int:
    return int(when.timestamp())


def ids(found: list[licsign.LicenseSummary]) -> set[str]:
    return {s.id for s in found}


# --- orders and managers: the library ------------------------------------------------------------


def test_an_order_with_managers_appears_on_each_of_its_licenses(vendor: Vendor) -> None:
    ws = vendor.ws
    order = licsign.add_order(ws, "PO-2026-1", customer=CUSTOMER, now=at(0), reference="Invoice 77")
    assert order == licsign.OrderInfo("PO-2026-1", CUSTOMER, "Invoice 77", seconds(at(0)))
    assert order.to_json() == {"id": "PO-2026-1", "customer": CUSTOMER, "reference": "Invoice 77",
                               "created_at": licverify._time.iso(seconds(at(0)))}  # fmt: skip
    ann = licsign.add_manager(ws, "PO-2026-1", "  Ann@Globex.EXAMPLE ", now=at(1), name="Ann Smith")
    bob = licsign.add_manager(ws, "PO-2026-1", "bob@globex.example", now=at(2))
    assert (ann.email, ann.name, bob.name) == ("ann@globex.example", "Ann Smith", None)
    assert licsign.managers(ws, "PO-2026-1") == [ann, bob]

    first = vendor.issue("perpetual", order="PO-2026-1", when=at(3))
    second = vendor.issue("subscription", order="PO-2026-1", when=at(4))
    loose = vendor.issue("perpetual", when=at(5))
    details = licsign.order_details(ws, "PO-2026-1", now=at(6))
    assert details.order == order and details.customer.id == CUSTOMER
    assert details.managers == (ann, bob)
    assert [s.id for s in details.licenses] == [second.id, first.id]
    assert details.to_json()["licenses"] == [s.to_json() for s in details.licenses]
    assert details.to_json()["managers"][0] == {
        "order": "PO-2026-1", "email": "ann@globex.example", "name": "Ann Smith",
        "added_at": licverify._time.iso(seconds(at(1))), "removed_at": None,
    }  # fmt: skip

    shown = licsign.license_details(ws, first.id, now=at(6))
    assert shown.order == order and shown.managers == (ann, bob)
    assert shown.to_json()["order"] == order.to_json()
    assert [m["email"] for m in shown.to_json()["managers"]] == [ann.email, bob.email]
    plain = licsign.license_details(ws, loose.id, now=at(6))
    assert plain.order is None and plain.managers == () and plain.to_json()["order"] is None

    # The order is the ledger's, not the document's: the license verifies as any other.
    assert vendor.license_record(first.id)["order_id"] == "PO-2026-1"
    assert "PO-2026-1" not in json.dumps(first.to_json())
    assert json.loads(vendor.events(first.id)[0]["data"])["order"] == "PO-2026-1"
    assert "order" not in json.loads(vendor.events(loose.id)[0]["data"])
    assert vendor.event_kinds("PO-2026-1") == ["order.added", "order.manager-added",
                                               "order.manager-added"]  # fmt: skip


def test_removing_a_manager_keeps_the_others_and_they_may_come_back(vendor: Vendor) -> None:
    ws = vendor.ws
    licsign.add_order(ws, "PO-1", customer=CUSTOMER, now=at(0))
    licsign.add_manager(ws, "PO-1", "ann@globex.example", now=at(1), name="Ann")
    licsign.add_manager(ws, "PO-1", "bob@globex.example", now=at(2))
    removed = licsign.remove_manager(ws, "PO-1", "ANN@globex.example", now=at(3))
    assert (removed.email, removed.name, removed.removed_at) == ("ann@globex.example", "Ann", seconds(at(3)))
    assert removed.to_json()["removed_at"] == licverify._time.iso(seconds(at(3)))
    assert [m.email for m in licsign.managers(ws, "PO-1")] == ["bob@globex.example"]
    again = licsign.add_manager(ws, "PO-1", "ann@globex.example", now=at(4))
    assert again.added_at == seconds(at(4)) and again.name is None
    assert [m.email for m in licsign.managers(ws, "PO-1")] == ["bob@globex.example", "ann@globex.example"]
    assert vendor.event_kinds("PO-1")[-2:] == ["order.manager-removed", "order.manager-added"]
    # The ledger keeps both of Ann's terms.
    rows = vendor.ledger_dump()["order_managers"]
    assert [(r["email"], r["removed_at"]) for r in rows if r["email"].startswith("ann")] == [
        ("ann@globex.example", seconds(at(3))), ("ann@globex.example", None),
    ]  # fmt: skip


def test_orders_are_listed_by_id_and_by_customer(vendor: Vendor) -> None:
    ws = vendor.ws
    licsign.add_customer(ws, OTHER, now=at(0))
    licsign.add_order(ws, "b-2", customer=CUSTOMER, now=at(1))
    licsign.add_order(ws, "a-1", customer=OTHER, now=at(2))
    licsign.add_order(ws, "c-3", customer=CUSTOMER, now=at(3))
    assert [o.id for o in licsign.orders(ws)] == ["a-1", "b-2", "c-3"]
    assert [o.id for o in licsign.orders(ws, customer=CUSTOMER)] == ["b-2", "c-3"]
    assert licsign.orders(ws, customer="nobody") == []


def test_order_refusals_change_nothing(vendor: Vendor) -> None:
    ws = vendor.ws
    licsign.add_order(ws, "PO-1", customer=CUSTOMER, now=at(0))
    licsign.add_manager(ws, "PO-1", "ann@globex.example", now=at(0))
    before = vendor.ledger_dump()
    with pytest.raises(NotFoundError, match="unknown customer 'nobody'"):
        licsign.add_order(ws, "PO-2", customer="nobody", now=at(1))
    with pytest.raises(AlreadyExistsError, match="order 'PO-1' already exists"):
        licsign.add_order(ws, "PO-1", customer=CUSTOMER, now=at(1))
    with pytest.raises(NotFoundError, match=r"unknown order 'PO-9' \(add one with 'licsign order add'\)"):
        licsign.add_manager(ws, "PO-9", "ann@globex.example", now=at(1))
    with pytest.raises(AlreadyExistsError, match="already manages order 'PO-1'"):
        licsign.add_manager(ws, "PO-1", "ANN@Globex.example", now=at(1))
    with pytest.raises(NotFoundError, match=r"'bob@globex\.example' is not a manager of order 'PO-1'"):
        licsign.remove_manager(ws, "PO-1", "Bob@globex.example", now=at(1))
    with pytest.raises(NotFoundError, match="unknown order"):
        licsign.remove_manager(ws, "PO-9", "ann@globex.example", now=at(1))
    with pytest.raises(NotFoundError, match="unknown order"):
        licsign.managers(ws, "PO-9")
    with pytest.raises(NotFoundError, match="unknown order"):
        licsign.order_details(ws, "PO-9", now=at(1))
    assert vendor.ledger_dump() == before


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda ws: licsign.add_order(ws, "has space", customer=CUSTOMER, now=at(1)), "order_id"),
        (lambda ws: licsign.add_order(ws, "", customer=CUSTOMER, now=at(1)), "order_id"),
        (lambda ws: licsign.add_order(ws, "PO-2", customer=CUSTOMER, now=at(1), reference="a\x00b"), "reference"),
        (lambda ws: licsign.add_order(ws, "PO-2", customer=CUSTOMER, now=at(1), reference="  "), "reference"),
        (lambda ws: licsign.add_order(ws, "PO-2", customer=CUSTOMER, now=at(1), reference="x" * 257), "reference"),
        (lambda ws: licsign.add_manager(ws, "PO-1", "not-an-address", now=at(1)), "email"),
        (lambda ws: licsign.add_manager(ws, "PO-1", "ann\u200b@globex.example", now=at(1)), "email"),
        (lambda ws: licsign.add_manager(ws, "PO-1", "ann@globex.example", now=at(1), name=""), "name"),
        (lambda ws: licsign.add_manager(ws, "PO-1", "ann@globex.example", now=at(1), name="\x00"), "name"),
        (lambda ws: licsign.remove_manager(ws, "PO-1", "a b@c", now=at(1)), "email"),
    ],
)  # fmt: skip
def test_bad_ids_texts_and_emails_are_refused_by_field(vendor: Vendor, call: Any, field: str) -> None:
    licsign.add_order(vendor.ws, "PO-1", customer=CUSTOMER, now=at(0))
    before = vendor.ledger_dump()
    with pytest.raises(InvalidFieldError) as caught:
        call(vendor.ws)
    assert caught.value.field == field and "\n" not in str(caught.value)
    assert vendor.ledger_dump() == before


def test_a_license_is_issued_only_under_an_order_of_its_own_customer(vendor: Vendor) -> None:
    ws = vendor.ws
    licsign.add_customer(ws, OTHER, now=at(0))
    licsign.add_order(ws, "theirs", customer=OTHER, now=at(0))
    before = vendor.ledger_dump()
    request = IssueRequest(PRODUCT, CUSTOMER, "perpetual", order="theirs")
    with pytest.raises(RefusedError, match="order 'theirs' belongs to customer 'initech', not 'globex'"):
        licsign.issue_license(ws, request, never_asked, now=at(1))
    with pytest.raises(NotFoundError, match="unknown order 'nope'"):
        licsign.issue_license(ws, IssueRequest(PRODUCT, CUSTOMER, "perpetual", order="nope"), never_asked, now=at(1))
    with pytest.raises(InvalidFieldError) as caught:
        IssueRequest(PRODUCT, CUSTOMER, "perpetual", order="no/slash")
    assert caught.value.field == "order_id"
    assert vendor.ledger_dump() == before
    ok = licsign.issue_license(ws, IssueRequest(PRODUCT, OTHER, "perpetual", order="theirs"), lambda: PW, now=at(1))
    assert [s.id for s in licsign.licenses(ws, now=at(1), order="theirs")] == [ok.id]


def test_an_order_of_many_licenses_is_one_unit_of_work(vendor: Vendor) -> None:
    ws = vendor.ws
    before = vendor.ledger_dump()
    with pytest.raises(RefusedError), ws.ledger.transaction():
        licsign.add_order(ws, "PO-5", customer=CUSTOMER, now=at(0))
        licsign.add_manager(ws, "PO-5", "ann@globex.example", now=at(0))
        for _ in range(3):
            vendor.issue("perpetual", order="PO-5", when=at(1))
        raise RefusedError("the fourth license is refused")
    assert vendor.ledger_dump() == before


# --- the list filters, at their boundaries ------------------------------------------------------


def statuses_listed(vendor: Vendor, when: datetime) -> dict[str, set[str]]:
    """The licenses each ``status`` filter lists at ``when``."""
    return {s: ids(licsign.licenses(vendor.ws, now=when, status=s)) for s in licsign.LICENSE_STATUSES}


@pytest.mark.parametrize("grace", [timedelta(days=2), None])
def test_the_status_filter_agrees_with_the_verifier_at_every_boundary(
    vendor: Vendor, grace: timedelta | None
) -> None:
    start, end = at(DAY), at(10 * DAY)
    issued = licsign.issue_license(
        vendor.ws, IssueRequest(PRODUCT, CUSTOMER, "time-limited", not_before=start, expires=end, grace=grace),
        lambda: PW, now=at(0),
    )  # fmt: skip
    forever = vendor.issue("perpetual", when=at(0))
    grace_end = end + (grace or timedelta(0))
    second = timedelta(seconds=1)
    instants = [start - second, start, end - second, end, grace_end - second, grace_end, grace_end + second]
    for when in instants:
        (summary,) = [s for s in licsign.licenses(vendor.ws, now=when) if s.id == issued.id]
        listed = statuses_listed(vendor, when)
        # Exactly one filter lists it: the status the list (and the verifier) gives it.
        assert {s for s, found in listed.items() if issued.id in found} == {summary.status}, when
        assert {s for s, found in listed.items() if forever.id in found} == {"active"}, when
    at_end = statuses_listed(vendor, end)
    assert issued.id in at_end["in-grace" if grace else "expired"]
    assert issued.id in statuses_listed(vendor, grace_end)["expired"]
    assert issued.id in statuses_listed(vendor, start - second)["not-yet-valid"]


def test_expiring_within_includes_its_last_second_and_nothing_expired(vendor: Vendor) -> None:
    now = at(DAY)
    soon = vendor.issue("time-limited", expires=at(31 * DAY), when=at(0))
    later = vendor.issue("time-limited", expires=at(31 * DAY + 1), when=at(0))
    past = vendor.issue("time-limited", expires=now, when=at(0), grace=timedelta(days=5))
    vendor.issue("perpetual", when=at(0))
    within = timedelta(days=30)
    assert ids(licsign.licenses(vendor.ws, now=now, expiring_within=within)) == {soon.id}
    assert ids(licsign.licenses(vendor.ws, now=now, expiring_within=within + timedelta(seconds=1))) == {
        soon.id, later.id,
    }  # fmt: skip
    # A license that expired at this very second is in its grace period, not "expiring".
    assert past.id not in ids(licsign.licenses(vendor.ws, now=now, expiring_within=within))
    assert ids(licsign.licenses(vendor.ws, now=now - timedelta(seconds=1), expiring_within=within)) == {
        past.id,
    }  # fmt: skip
    assert ids(licsign.licenses(vendor.ws, now=now, expiring_within=timedelta(0))) == set()
    # A second before expiry, a one-second window holds it.
    one = timedelta(seconds=1)
    assert ids(licsign.licenses(vendor.ws, now=at(31 * DAY) - one, expiring_within=one)) == {soon.id}


def test_expiring_within_counts_calendar_months_from_now(vendor: Vendor) -> None:
    now = datetime.fromisoformat("2027-01-31T00:00:00+00:00")
    end_of_february = datetime.fromisoformat("2027-02-28T00:00:00+00:00")
    lic = vendor.issue("time-limited", expires=end_of_february, when=now - timedelta(days=1))
    assert ids(licsign.licenses(vendor.ws, now=now, expiring_within=Duration(months=1))) == {lic.id}
    assert ids(licsign.licenses(vendor.ws, now=now, expiring_within=timedelta(days=27))) == set()
    # Past the year 9999 the window simply has no end.
    assert ids(licsign.licenses(vendor.ws, now=now, expiring_within=Duration(months=12 * 9000))) == {lic.id}


def test_filters_combine_and_the_list_tells_no_match_from_nothing_yet(vendor: Vendor) -> None:
    ws = vendor.ws
    empty = licsign.license_list(ws, now=at(0), status="active")
    assert empty.licenses == () and not empty.any_issued and empty.to_json() == []
    licsign.add_customer(ws, OTHER, now=at(0))
    licsign.add_order(ws, "PO-1", customer=CUSTOMER, now=at(0))
    perpetual = vendor.issue("perpetual", order="PO-1", when=at(0))
    sub = vendor.issue("subscription", duration=timedelta(days=20), order="PO-1", when=at(0))
    other = licsign.issue_license(ws, IssueRequest(PRODUCT, OTHER, "subscription", duration=timedelta(days=20)),
                                  lambda: PW, now=at(0))  # fmt: skip
    now = at(1)
    assert ids(licsign.licenses(ws, now=now, order="PO-1")) == {perpetual.id, sub.id}
    assert ids(licsign.licenses(ws, now=now, type="subscription")) == {sub.id, other.id}
    assert ids(licsign.licenses(ws, now=now, order="PO-1", type="subscription")) == {sub.id}
    assert ids(licsign.licenses(ws, now=now, customer=OTHER, expiring_within=timedelta(days=30))) == {other.id}
    assert ids(licsign.licenses(ws, now=now, product=PRODUCT, status="active", order="PO-1")) == {perpetual.id, sub.id}
    nothing = licsign.license_list(ws, now=now, order="PO-1", type="trial")
    assert nothing.licenses == () and nothing.any_issued
    listed = licsign.license_list(ws, now=now, customer=OTHER)
    assert listed.to_json() == [s.to_json() for s in listed.licenses] and len(listed.licenses) == 1
    with pytest.raises(InvalidFieldError) as caught:
        licsign.licenses(ws, now=now, status="valid")
    assert caught.value.field == "status" and "active, in-grace, expired, not-yet-valid" in str(caught.value)
    with pytest.raises(InvalidFieldError) as caught:
        licsign.licenses(ws, now=now, type="lifetime")
    assert caught.value.field == "type"


# --- the command line -----------------------------------------------------------------------------


def fails(site: Site, code: int, *args: str) -> str:
    """Run ``licsign ARGS``: exit ``code``, one line on stderr (past progress lines); return it."""
    return error_line_after_progress(site.licsign(*args), "licsign", code)


def issue(site: Site, name: str, *args: str) -> str:
    """Issue a license to ``CUSTOMER`` (``--json``); return its id."""
    return str(site.issue_with(name, *args)["id"])


def test_order_and_manager_commands(site: Site) -> None:
    added = site.vendor_ok("order", "add", "PO-1", "--customer", CUSTOMER, "--reference", "Invoice 77")
    assert added.out == f"Added order PO-1 for customer {CUSTOMER}\n"
    data = json.loads(site.vendor_ok("order", "add", "PO-2", "--customer", CUSTOMER, "--json").out)
    assert data["id"] == "PO-2" and data["customer"] == CUSTOMER and data["reference"] is None

    out = site.vendor_ok("manager", "add", "PO-1", "Ann@Globex.example", "--name", "Ann Smith").out
    assert out == "Added ann@globex.example (Ann Smith) as a manager of order PO-1\n"
    bob = json.loads(site.vendor_ok("manager", "add", "PO-1", "bob@globex.example", "--json").out)
    assert bob["email"] == "bob@globex.example" and bob["name"] is None and bob["removed_at"] is None

    lines = site.vendor_ok("order", "list").out.splitlines()
    assert lines[0].split() == ["ID", "CUSTOMER", "CREATED", "REFERENCE"]
    assert lines[1].split()[:2] == ["PO-1", CUSTOMER] and lines[1].endswith("Invoice 77")
    assert lines[2].split()[:2] == ["PO-2", CUSTOMER] and lines[2].endswith("-")
    listed = json.loads(site.vendor_ok("order", "list", "--customer", CUSTOMER, "--json").out)
    assert [o["id"] for o in listed] == ["PO-1", "PO-2"]
    assert json.loads(site.vendor_ok("order", "list", "--customer", "nobody", "--json").out) == []

    rows = json.loads(site.vendor_ok("manager", "list", "PO-1", "--json").out)
    assert [(m["email"], m["name"]) for m in rows] == [("ann@globex.example", "Ann Smith"), ("bob@globex.example", None)]
    text = site.vendor_ok("manager", "list", "PO-1").out.splitlines()
    assert text[0].split() == ["EMAIL", "NAME", "ADDED"] and text[1].startswith("ann@globex.example  Ann Smith")

    license_id = issue(site, "a.lic", "--type", "perpetual", "--order", "PO-1")
    shown = site.vendor_ok("order", "show", "PO-1").out
    for expected in ("Order:      PO-1", f"Customer:   {CUSTOMER} ({CUSTOMER})", "Reference:  Invoice 77",
                     "Managers:   2", "  ann@globex.example (Ann Smith)", "  bob@globex.example",
                     "Licenses:   1", license_id):  # fmt: skip
        assert expected in shown
    info = json.loads(site.vendor_ok("order", "show", "PO-1", "--json").out)
    assert info["order"]["reference"] == "Invoice 77" and info["customer"]["id"] == CUSTOMER
    assert [m["email"] for m in info["managers"]] == ["ann@globex.example", "bob@globex.example"]
    assert [s["id"] for s in info["licenses"]] == [license_id]

    details = site.vendor_ok("show", license_id).out
    assert "Order:       PO-1 (reference Invoice 77)" in details
    assert "Managers:    ann@globex.example (Ann Smith), bob@globex.example" in details
    assert json.loads(site.vendor_ok("show", license_id, "--json").out)["order"]["id"] == "PO-1"

    out = site.vendor_ok("manager", "remove", "PO-1", "ANN@globex.example").out
    assert out == "Removed ann@globex.example from the managers of order PO-1\n"
    removed = json.loads(site.vendor_ok("manager", "remove", "PO-1", "bob@globex.example", "--json").out)
    assert removed["email"] == "bob@globex.example" and removed["removed_at"] is not None
    empty = site.vendor_ok("manager", "list", "PO-1")
    assert empty.out == "" and "has no managers" in empty.err
    assert "Managers:    none" in site.vendor_ok("show", license_id).out
    other = site.vendor_ok("show", issue(site, "b.lic", "--type", "perpetual")).out
    assert "Order:       none" in other


def test_order_commands_refuse_in_one_line(site: Site) -> None:
    site.vendor_ok("customer", "add", OTHER)
    site.vendor_ok("order", "add", "theirs", "--customer", OTHER)
    site.vendor_ok("manager", "add", "theirs", "ann@initech.example")
    before = site.ledger()
    assert "unknown customer 'nobody'" in fails(site, 1, "order", "add", "PO-1", "--customer", "nobody")
    assert "order 'theirs' already exists" in fails(site, 1, "order", "add", "theirs", "--customer", OTHER)
    assert "ORDER" in fails(site, 2, "order", "add", "bad id", "--customer", CUSTOMER)
    assert "--reference" in fails(site, 2, "order", "add", "PO-1", "--customer", CUSTOMER, "--reference", " ")
    assert "unknown order 'nope'" in fails(site, 1, "order", "show", "nope")
    assert "unknown order 'nope'" in fails(site, 1, "manager", "add", "nope", "ann@x.example")
    assert "unknown order 'nope'" in fails(site, 1, "manager", "list", "nope")
    assert "already manages order 'theirs'" in fails(site, 1, "manager", "add", "theirs", "ANN@initech.example")
    assert "EMAIL" in fails(site, 2, "manager", "add", "theirs", "not-an-address")
    line = fails(site, 1, "manager", "remove", "theirs", "bob@initech.example")
    assert "'bob@initech.example' is not a manager of order 'theirs'" in line
    line = fails(site, 1, "issue", "--product", PRODUCT, "--customer", CUSTOMER, "--type", "perpetual",
                 "--order", "theirs", "-o", str(site.tmp / "x.lic"))  # fmt: skip
    assert "order 'theirs' belongs to customer 'initech', not 'globex'" in line
    line = fails(site, 1, "issue", "--product", PRODUCT, "--customer", CUSTOMER, "--type", "perpetual",
                 "--order", "nope", "-o", str(site.tmp / "x.lic"))  # fmt: skip
    assert "unknown order 'nope'" in line
    line = fails(site, 2, "issue", "--product", PRODUCT, "--customer", CUSTOMER, "--type", "perpetual",
                 "--order", "no/slash", "-o", str(site.tmp / "x.lic"))  # fmt: skip
    assert "--order" in line
    assert not (site.tmp / "x.lic").exists()
    assert site.ledger() == before


def test_references_and_names_are_escaped_for_people_and_exact_in_json(site: Site) -> None:
    site.vendor_ok("order", "add", "PO-1", "--customer", CUSTOMER, "--reference", HOSTILE)
    site.vendor_ok("manager", "add", "PO-1", "ann@globex.example", "--name", HOSTILE)
    license_id = issue(site, "a.lic", "--type", "perpetual", "--order", "PO-1")
    escaped = "PO\\x1b[31m-7\\x0d\\u202eevil"
    for args in (("order", "list"), ("order", "show", "PO-1"), ("manager", "list", "PO-1"), ("show", license_id)):
        result = site.vendor_ok(*args)
        assert escaped in result.out, args
        assert "\x1b" not in result.out + result.err and "\u202e" not in result.out and "\r" not in result.out
    added = site.vendor_ok("manager", "add", "PO-1", "bob@globex.example", "--name", HOSTILE)
    assert escaped in added.out and "\x1b" not in added.out
    assert json.loads(site.vendor_ok("order", "list", "--json").out)[0]["reference"] == HOSTILE
    info = json.loads(site.vendor_ok("order", "show", "PO-1", "--json").out)
    assert info["order"]["reference"] == HOSTILE and info["managers"][0]["name"] == HOSTILE
    assert json.loads(site.vendor_ok("show", license_id, "--json").out)["managers"][0]["name"] == HOSTILE


def test_list_filters_on_the_command_line(site: Site) -> None:
    nothing = site.vendor_ok("list", "--status", "active")
    assert nothing.out == "" and "No licenses yet" in nothing.err
    site.vendor_ok("order", "add", "PO-1", "--customer", CUSTOMER)
    perpetual = issue(site, "p.lic", "--type", "perpetual", "--order", "PO-1")
    soon = issue(site, "s.lic", "--type", "subscription", "--duration", "10d")
    later = issue(site, "l.lic", "--type", "subscription", "--duration", "60d", "--order", "PO-1")
    expired = issue(site, "e.lic", "--type", "time-limited", "--not-before", "2020-01-01", "--expires", "2020-02-01")
    future = issue(site, "f.lic", "--type", "time-limited", "--not-before", "2090-01-01", "--expires", "2091-01-01")

    def listed(*args: str) -> set[str]:
        return {r["id"] for r in json.loads(site.vendor_ok("list", *args, "--json").out)}

    assert listed() == {perpetual, soon, later, expired, future}
    assert listed("--order", "PO-1") == {perpetual, later}
    assert listed("--status", "active") == {perpetual, soon, later}
    assert listed("--status", "expired") == {expired}
    assert listed("--status", "not-yet-valid") == {future}
    assert listed("--status", "in-grace") == set()
    assert listed("--type", "subscription") == {soon, later}
    assert listed("--expiring-within", "30d") == {soon}
    assert listed("--expiring-within", "3mo") == {soon, later}
    assert listed("--order", "PO-1", "--type", "subscription", "--expiring-within", "1y") == {later}
    assert listed("--customer", CUSTOMER, "--product", PRODUCT, "--status", "active", "--order", "PO-1") == {
        perpetual, later,
    }  # fmt: skip

    lines = site.vendor_ok("list", "--status", "expired").out.splitlines()
    assert lines[0].split() == ["ID", "CUSTOMER", "PRODUCT", "TYPE", "BASIS", "STATUS", "DEVICES", "USERS", "EXPIRES"]
    assert lines[1].split() == [expired, CUSTOMER, PRODUCT, "time-limited", "computer", "expired", "0/-", "-",
                                "2020-02-01T00:00:00Z"]  # fmt: skip
    none = site.vendor_ok("list", "--order", "PO-1", "--status", "in-grace")
    assert none.out == "" and none.err == "No license matches these filters.\n"
    assert json.loads(site.vendor_ok("list", "--order", "nope", "--json").out) == []

    assert "--expiring-within" in error_line(site.licsign("list", "--expiring-within", "1m"), "licsign", 2)
    assert "--status" in error_line(site.licsign("list", "--status", "valid"), "licsign", 2)
    assert "--type" in error_line(site.licsign("list", "--type", "lifetime"), "licsign", 2)
