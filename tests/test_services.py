"""The issuer's services called directly, every time injected (ADR 0016).

Catalog validation (its messages are what the command line prints), the
reports' license statuses at the exact instants the verifier changes its mind,
the key list's statuses, and units of work that hold several services.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from harness import CUSTOMER, PRODUCT, PW, Vendor, at

import licsign
import licverify
from licsign import (
    AlreadyExistsError,
    InvalidFieldError,
    InvalidInputError,
    IssueRequest,
    NotFoundError,
    WrongPassphraseError,
)
from licsign._validation import counter_spec

DAY = 86400


def history(vendor: Vendor) -> int:
    return vendor.ws.ledger.event_count()


def refused(field: str, call: Callable[[], Any]) -> str:
    """Run ``call``, expect it to refuse ``field``; return the message."""
    with pytest.raises(InvalidFieldError) as info:
        call()
    assert info.value.field == field
    assert isinstance(info.value, InvalidInputError) and info.value.code == "invalid-input"
    return str(info.value)


# --- catalog ------------------------------------------------------------------------------------


def test_add_product_records_and_returns_it(vendor: Vendor) -> None:
    added = licsign.add_product(vendor.ws, "beta-tool", now=at(0), features=["x", "y.z"])
    assert added == licsign.ProductInfo("beta-tool", "beta-tool", ("x", "y.z"), 2, ("machine-id",))
    assert added.to_json() == {"id": "beta-tool", "name": "beta-tool", "features": ["x", "y.z"],
                               "min_components": 2, "required_components": ["machine-id"]}  # fmt: skip
    assert added in licsign.products(vendor.ws)
    assert vendor.ws.ledger.events("beta-tool")[-1].at == int(at(0).timestamp())


@pytest.mark.parametrize("product_id", [".bad", "has space", "x" * 65, "", "é", "a\n"])
def test_a_bad_product_id_is_refused_in_the_commands_words(vendor: Vendor, product_id: str) -> None:
    before = history(vendor)
    message = refused("product_id", lambda: licsign.add_product(vendor.ws, product_id, now=at(0)))
    assert message == (f"{product_id!r}: use 1-64 letters, digits, '.', '_' or '-', "
                       "starting with a letter or digit")  # fmt: skip
    assert history(vendor) == before


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"name": ""}, "name", "'': use 1-256 printable characters"),
        ({"name": "   "}, "name", "use 1-256 printable characters"),
        ({"name": "x" * 257}, "name", "use 1-256 printable characters"),
        ({"name": "a\u202eb"}, "name", "use 1-256 printable characters"),
        ({"features": ["bad feature"]}, "feature", "'bad feature' is not a valid feature name"),
        ({"required_components": ["bad comp"]}, "component",
         "'bad comp' is not a fingerprint component name"),
        ({"min_components": 1}, "min_components", "1 is not in the range 2<=x<=64."),
        ({"min_components": 65}, "min_components", "65 is not in the range 2<=x<=64."),
        ({"min_components": True}, "min_components", "True is not in the range 2<=x<=64."),
    ],
)  # fmt: skip
def test_product_refusals(vendor: Vendor, kwargs: dict[str, Any], field: str, message: str) -> None:
    before = history(vendor)
    assert message in refused(field, lambda: licsign.add_product(vendor.ws, "ok", now=at(0), **kwargs))
    assert history(vendor) == before


def test_a_taken_product_id_is_refused(vendor: Vendor) -> None:
    before = history(vendor)
    with pytest.raises(AlreadyExistsError, match="already exists"):
        licsign.add_product(vendor.ws, PRODUCT, now=at(0))
    assert history(vendor) == before


def test_set_product_policy_keeps_what_is_not_given(vendor: Vendor) -> None:
    stricter = licsign.set_product_policy(vendor.ws, PRODUCT, now=at(0), min_components=4)
    assert (stricter.min_components, stricter.required_components) == (4, ("machine-id",))
    disk = licsign.set_product_policy(vendor.ws, PRODUCT, now=at(1), required_components=["disk"])
    assert (disk.min_components, disk.required_components) == (4, ("disk", "machine-id"))
    with pytest.raises(NotFoundError, match="unknown product 'nope'"):
        licsign.set_product_policy(vendor.ws, "nope", now=at(2), min_components=3)
    refused("min_components", lambda: licsign.set_product_policy(vendor.ws, PRODUCT, now=at(3), min_components=1))
    assert licsign.products(vendor.ws)[0] == disk


def test_add_customer_normalizes_the_email(vendor: Vendor) -> None:
    added = licsign.add_customer(vendor.ws, "initech", now=at(0), email=" Bill@Initech.Example ")
    assert added == licsign.CustomerInfo("initech", "initech", "bill@initech.example")
    assert added.to_json() == {"id": "initech", "name": "initech", "email": "bill@initech.example"}
    assert [c.id for c in licsign.customers(vendor.ws)] == [CUSTOMER, "initech"]


@pytest.mark.parametrize(
    ("customer_id", "email", "field", "message"),
    [
        ("bad/id", None, "customer_id", "'bad/id': use 1-64 letters"),
        ("_x", None, "customer_id", "'_x': use 1-64 letters"),
        ("initech", "not-an-address", "email", "'not-an-address' is not an e-mail address"),
        ("initech", "a" * 250 + "@b.cd", "email", "is not an e-mail address"),
        ("initech", "two words@b.cd", "email", "is not an e-mail address"),
        ("initech", "ops\n@initech.example", "email", "invisible or control character (U+000A)"),
        ("initech", "bill@\u202eelpmaxe.hcetini", "email", "(U+202E)"),
        ("initech", "  ", "email", "a user must not be empty"),
    ],
)
def test_customer_refusals(vendor: Vendor, customer_id: str, email: str | None, field: str,
                           message: str) -> None:  # fmt: skip
    before = history(vendor)
    assert message in refused(field, lambda: licsign.add_customer(vendor.ws, customer_id, now=at(0), email=email))
    assert history(vendor) == before


def test_an_id_the_validation_accepts_is_one_the_verifier_reads(vendor: Vendor) -> None:
    longest = "A" + "z9._-" * 12 + "end"  # 64 characters, every kind the rule allows
    assert len(longest) == 64
    licsign.add_product(vendor.ws, longest, now=at(0), features=["f:1/a.b-c_d"])
    licsign.add_customer(vendor.ws, longest, now=at(0))
    issued = licsign.issue_license(
        vendor.ws, IssueRequest(longest, longest, "perpetual", features={"f:1/a.b-c_d": 1}),
        lambda: PW, now=at(0),
    )  # fmt: skip
    lic = licverify.verify_license(issued.armored, trusted_roots=vendor.roots, product=longest, now=at(1))
    assert (lic.product, lic.customer, dict(lic.features)) == (longest, longest, {"f:1/a.b-c_d": 1})


# --- issue requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"type": "forever"}, "type", "unknown license type 'forever'"),
        ({"counters": {"bad name": (5, 0)}}, "counter", "'bad name' is not a valid counter name"),
        ({"counters": {"pages": (-1, 0)}}, "counter", "the limit must be an integer"),
        ({"max_version": "v2"}, "max_version", "'v2': use a version like 2.9 or 2.9.1"),
        ({"device_match": 0}, "device_match", "0: use all, most or a number of components from 1 to 64"),
        ({"device_match": "65"}, "device_match", "'65': use all, most"),
        ({"features": {"bad name": None}}, "feature", "'bad name' is not a valid feature name"),
        ({"features": {"x": "v" * 300}}, "feature", "feature 'x' must be null, a boolean"),
        ({"users": ["a@x", "A@x "]}, "user", "are the same user"),
        ({"max_devices": 2**32}, "limits", "max devices must be an integer from 0 to 4294967295"),
        ({"lease": timedelta(hours=1)}, "lease", "a lease duration applies only to floating licenses"),
        ({"expires": at(DAY), "duration": timedelta(days=1)}, "expires", "not both"),
    ],
)  # fmt: skip
def test_issue_requests_are_checked_when_built(kwargs: dict[str, Any], field: str, message: str) -> None:
    license_type = kwargs.pop("type", "perpetual")
    assert message in refused(field, lambda: IssueRequest(PRODUCT, CUSTOMER, license_type, **kwargs))


def test_a_consumption_license_needs_a_counter() -> None:
    assert "--counter" in refused("counters", lambda: IssueRequest(PRODUCT, CUSTOMER, "consumption"))


@pytest.mark.parametrize("text", ["pages", "pages=", "=5", "pages=-1", "pages=1+", "pages=x", "pages=1+2+3",
                                  "bad name=5", "pages=1234567890123456789", "pages=\u0661"])  # fmt: skip
def test_counter_text_refused_in_the_options_words(text: str) -> None:
    assert refused("counter", lambda: counter_spec(text)) == f"{text!r}: use NAME=LIMIT or NAME=LIMIT+OVERAGE"


def test_counter_text() -> None:
    assert counter_spec("pages=10") == ("pages", 10, 0)
    assert counter_spec("api.calls=0+5") == ("api.calls", 0, 5)
    assert counter_spec("x=" + "9" * 18) == ("x", 10**18 - 1, 0)


def test_a_feature_the_product_does_not_declare_is_refused(vendor: Vendor) -> None:
    licsign.add_product(vendor.ws, "cad2", now=at(0), features=["export"])
    request = IssueRequest("cad2", CUSTOMER, "perpetual", features={"render": None})
    message = refused("product_features", lambda: licsign.issue_license(vendor.ws, request, lambda: PW, now=at(0)))
    assert message == "product 'cad2' has no feature 'render' (known: export)"


# --- reports: statuses agree with the verifier at every boundary ---------------------------------


def verdict(vendor: Vendor, document: bytes, when: datetime) -> str:
    """What licverify says at ``when``, in the words of ``licsign list``."""
    try:
        lic = licverify.verify_license(document, trusted_roots=vendor.roots, product=PRODUCT, now=when)
    except licverify.NotYetValidError:
        return "not-yet-valid"
    except licverify.ExpiredError:
        return "expired"
    return {licverify.Status.VALID: "active", licverify.Status.GRACE: "in-grace"}[lic.status]


def statuses(vendor: Vendor, license_id: str, when: datetime) -> set[str]:
    """The status ``licenses`` and ``license_details`` report at ``when`` (one, if they agree)."""
    listed = {s.status for s in licsign.licenses(vendor.ws, now=when) if s.id == license_id}
    return listed | {licsign.license_details(vendor.ws, license_id, now=when).status}


@pytest.mark.parametrize("grace", [timedelta(days=2), None])
def test_statuses_at_not_before_expiry_and_grace_end_agree_with_the_verifier(
    vendor: Vendor, grace: timedelta | None
) -> None:
    start, end = at(DAY), at(10 * DAY)
    issued = licsign.issue_license(
        vendor.ws, IssueRequest(PRODUCT, CUSTOMER, "time-limited", not_before=start, expires=end, grace=grace),
        lambda: PW, now=at(0),
    )  # fmt: skip
    grace_end = end + (grace or timedelta(0))
    second = timedelta(seconds=1)
    expected = [
        (start - second, "not-yet-valid"), (start, "active"), (end - second, "active"),
        (end, "in-grace" if grace else "expired"), (grace_end - second, "in-grace" if grace else "active"),
        (grace_end, "expired"), (grace_end + timedelta(days=3650), "expired"),
    ]  # fmt: skip
    for when, status in expected:
        assert verdict(vendor, issued.document, when) == status, when
        assert statuses(vendor, issued.id, when) == {status}, when


def test_a_perpetual_license_is_active_whenever_it_has_started(vendor: Vendor) -> None:
    issued = licsign.issue_license(vendor.ws, IssueRequest(PRODUCT, CUSTOMER, "perpetual"), lambda: PW, now=at(0))
    for when in (at(-1), at(0), at(100 * 365 * DAY)):
        assert statuses(vendor, issued.id, when) == {verdict(vendor, issued.document, when)}
    assert statuses(vendor, issued.id, at(0)) == {"active"}
    assert statuses(vendor, issued.id, at(-1)) == {"not-yet-valid"}


def test_license_summary_and_details(vendor: Vendor) -> None:
    issued = licsign.issue_license(
        vendor.ws, IssueRequest(PRODUCT, CUSTOMER, "subscription", duration=timedelta(days=30), max_devices=2),
        lambda: PW, now=at(0),
    )  # fmt: skip
    (summary,) = licsign.licenses(vendor.ws, now=at(1), product=PRODUCT, customer=CUSTOMER)
    assert summary.to_json() == {
        "id": issued.id, "version": 1, "product": PRODUCT, "customer": CUSTOMER,
        "type": "subscription", "status": "active", "issued_at": licverify._time.iso(int(at(0).timestamp())),
        "expires": licverify._time.iso(int(at(30 * DAY).timestamp())),
        "basis": "computer", "devices_used": 0, "max_devices": 2, "users_used": 0, "max_users": None,
    }  # fmt: skip
    assert licsign.licenses(vendor.ws, now=at(1), customer="nobody") == []
    details = licsign.license_details(vendor.ws, issued.id, now=at(1))
    assert details.document == issued.document and details.armored == issued.armored
    assert details.terms == issued.to_json()
    assert details.key_id == licverify.verify_certificate(
        issued_certificate(issued.document), trusted_roots=vendor.roots, now=at(1)
    ).key_id.hex()
    assert details.active_seats == 0 and details.devices == ()
    assert [h.event for h in details.history] == ["license.issued"]
    shown = details.to_json()
    assert list(shown)[:6] == ["status", "terms", "devices", "key_id", "digest", "history"]
    assert shown["order"] is None and shown["managers"] == []
    assert shown["history"][0]["digest"] == details.digest
    shown["terms"]["id"] = "changed"  # a copy: the result itself cannot be changed through it
    assert details.terms["id"] == issued.id


def issued_certificate(document: bytes) -> bytes:
    from licverify.format import parse_unverified

    certificate = parse_unverified(document).certificate
    assert certificate is not None
    return certificate


def test_details_of_an_unknown_license(vendor: Vendor) -> None:
    with pytest.raises(NotFoundError, match="unknown license 'L-NOPE'"):
        licsign.license_details(vendor.ws, "L-NOPE", now=at(0))


# --- keys ---------------------------------------------------------------------------------------


def test_key_statuses_agree_with_the_certificates_validity(vendor: Vendor) -> None:
    cert = licsign.new_issuing_key(vendor.ws, lambda: PW, PW, now=at(0), validity=timedelta(days=30),
                                   products=[PRODUCT])  # fmt: skip
    document = issued_key_document(vendor, cert.key_id.hex())
    for when, status in [(at(-1), "expired"), (at(0), "active"), (at(30 * DAY - 1), "active"),
                         (at(30 * DAY), "expired")]:  # fmt: skip
        listed = licsign.keys(vendor.ws, now=when)
        assert [k.role for k in listed] == ["root", "issuing", "issuing"]
        assert listed[0].status == "active" and listed[0].not_after is None
        assert listed[1].key_id == cert.key_id.hex() and listed[1].products == (PRODUCT,)
        assert listed[1].status == status, when
        try:
            licverify.verify_certificate(document, trusted_roots=vendor.roots, now=when)
            accepted = "active"
        except (licverify.ExpiredError, licverify.NotYetValidError):
            accepted = "expired"
        assert accepted == status
    row = licsign.keys(vendor.ws, now=at(0))[1].to_json()
    assert row == {"key_id": cert.key_id.hex(), "role": "issuing", "status": "active",
                   "not_before": cert.to_json()["not_before"], "not_after": cert.to_json()["not_after"],
                   "products": [PRODUCT], "public_key": cert.public_key.hex()}  # fmt: skip


def issued_key_document(vendor: Vendor, kid: str) -> bytes:
    (record,) = [k for k in vendor.ws.ledger.keys() if k.key_id == kid]
    assert record.certificate is not None
    return record.certificate


def test_new_issuing_key_for_an_unknown_product_opens_no_key(vendor: Vendor) -> None:
    def never() -> bytes:
        raise AssertionError("the root key was opened")

    before = history(vendor)
    with pytest.raises(NotFoundError, match="unknown product 'nope'"):
        licsign.new_issuing_key(vendor.ws, never, PW, now=at(0), products=["nope"])
    assert history(vendor) == before


@pytest.mark.parametrize("fmt", licsign.TRUST_ROOT_FORMATS)
def test_trust_root_formats_read_back(vendor: Vendor, fmt: str) -> None:
    assert licverify.load_public_keys(licsign.trust_root(vendor.ws, fmt)) == vendor.roots
    assert licsign.trusted_roots(vendor.ws) == vendor.roots


# --- units of work ------------------------------------------------------------------------------


def batch(vendor: Vendor, customers: list[str], passphrase: Callable[[], bytes] = lambda: PW) -> list[str]:
    """Five licenses issued in one unit of work."""
    with vendor.ws.ledger.transaction():
        return [
            licsign.issue_license(vendor.ws, IssueRequest(PRODUCT, c, "perpetual"), passphrase, now=at(i)).id
            for i, c in enumerate(customers)
        ]


def test_a_batch_in_one_unit_of_work_is_recorded_whole(vendor: Vendor) -> None:
    ids = batch(vendor, [CUSTOMER] * 5)
    assert sorted(s.id for s in licsign.licenses(vendor.ws, now=at(10))) == sorted(ids)


def test_a_batch_whose_fifth_license_is_refused_records_nothing(vendor: Vendor) -> None:
    before = history(vendor)
    with pytest.raises(NotFoundError, match="unknown customer 'nobody'"):
        batch(vendor, [CUSTOMER] * 4 + ["nobody"])
    assert vendor.ws.ledger.licenses() == []
    assert history(vendor) == before
    assert vendor.ws.ledger.verify_events() == before


def test_a_batch_whose_fifth_signature_fails_records_nothing(vendor: Vendor) -> None:
    calls = []

    def passphrase() -> bytes:
        calls.append(1)
        return PW if len(calls) < 5 else b"not the passphrase at all"

    before = history(vendor)
    with pytest.raises(WrongPassphraseError):
        batch(vendor, [CUSTOMER] * 5, passphrase)
    assert len(calls) == 5
    assert vendor.ws.ledger.licenses() == []
    assert history(vendor) == before
    assert batch(vendor, [CUSTOMER] * 5) and len(vendor.ws.ledger.licenses()) == 5
