"""The air-gapped activation exchange, library level (DESIGN §4, docs/format.md §11 and §12).

Vendor side: a real workspace and ledger (``licsign.activate`` and the other activation services). Customer
side: one ``LocalStore`` directory per simulated machine, each with its own
``machine_fingerprint(product, machine_id=...)`` (harness.Vendor and
harness.Machine; the ``vendor`` fixture). Every time is injected; nothing
sleeps. Tests that write to the ledger also check its event chain.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import nacl.signing
import pytest
from factory import OTHER_ISSUING, T0, UnsafeFactory
from harness import NOW, OTHER_PRODUCT, PRODUCT, PW, Vendor, at

from licsign import (
    Granted,
    IssuedLicense,
    LicenseRecord,
    NotFoundError,
    RefusedError,
    SeatFreed,
    activate,
    devices,
    reset_device,
)
from licsign import deactivate as vendor_deactivate
from licverify import (
    BadSignatureError,
    ExpiredError,
    LicenseError,
    NotActivatedError,
    Status,
    StoreError,
    UntrustedKeyError,
    WrongKindError,
    WrongMachineError,
    WrongProductError,
    verify_receipt,
    verify_request,
    verify_response,
)
from licverify import format as F
from licverify._activation import (
    ActivationRequest,
    ActivationResponse,
    DeactivationReceipt,
    encode_receipt_payload,
    encode_request_payload,
)


def replace(obj: Any, **changes: Any) -> Any:
    """A copy of a Frozen value object with some fields changed."""
    fields = {name: getattr(obj, name) for name in type(obj).__slots__}
    fields.update(changes)
    return type(obj)(**fields)


def binary(document: bytes) -> bytes:
    return F.dearmor(document)[0]


def device_signed(
    kind: F.Kind, payload: bytes, key: nacl.signing.SigningKey, kid: bytes | None = None
) -> bytes:
    """A request or receipt signed by ``key`` (kid: the key's own id unless given)."""
    kid = F.key_id(bytes(key.verify_key)) if kid is None else kid
    return F.encode_sign1(kind, kid, payload, lambda m: key.sign(m).signature)


def nacl_key(label: str) -> nacl.signing.SigningKey:
    import hashlib

    return nacl.signing.SigningKey(
        hashlib.sha256(b"activation-test-device:" + label.encode()).digest()
    )


# --- the full exchange ------------------------------------------------------------------------


def test_full_exchange(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=2)
    m1 = vendor.machine("m1")
    imported = m1.import_license(lic)
    assert imported.activation_required and imported.activation is None
    with pytest.raises(NotActivatedError, match="requires activation"):
        m1.check()

    request = m1.request(at(10))
    assert request.startswith(b"-----BEGIN LICSIGN ACTIVATION REQUEST-----")
    req = verify_request(request)
    assert req.license_id == lic.id and req.product == PRODUCT
    assert req.license_digest == F.license_digest(lic.document)
    assert req.device_key == m1.store.device_public_key()
    assert dict(req.fingerprint) == dict(m1.fp)
    assert req.label == "host-m1" and req.user is None and req.code is None
    assert req.created_at == T0 + 10
    assert list(m1.store.pending_requests()) == [req.nonce.hex()]
    with pytest.raises(NotActivatedError):  # a request alone activates nothing
        m1.check(at(10))

    granted = vendor.activate(request, at(20))
    assert not granted.reused and granted.device_id == req.device_id
    assert granted.activation_id.startswith("A-")
    resp = verify_response(granted.response, trusted_roots=vendor.roots)
    assert resp.activation_id == granted.activation_id and resp.nonce == req.nonce
    assert resp.device_key == req.device_key and dict(resp.fingerprint) == dict(req.fingerprint)
    assert resp.license_id == lic.id and resp.license_digest == req.license_digest
    assert resp.issued_at == T0 + 20 and resp.lease_expires is None and resp.user is None

    installed = m1.install(granted.response, at(30))
    assert installed.activation == resp
    assert m1.store.installed_activation() == binary(granted.response)
    assert m1.store.pending_requests() == {}

    checked = m1.check(at(40))
    assert checked.status is Status.VALID and checked.id == lic.id
    assert (
        checked.activation is not None and checked.activation.activation_id == granted.activation_id
    )
    assert checked.to_json()["activation"]["activation"] == granted.activation_id

    # The same response installed twice is harmless: same files, same verdict (the clock
    # ratchet in state.bin follows the time, format §12.4).
    before = {name: data for name, (data, *_rest) in m1.snapshot().items() if name != "state.bin"}
    again = m1.install(granted.response, at(50))
    assert again.activation == resp
    after = {name: data for name, (data, *_rest) in m1.snapshot().items() if name != "state.bin"}
    assert after == before
    assert m1.check(at(50)).activation == resp

    # Re-requesting from the same device reuses the seat and the activation id.
    request2 = m1.request(at(60))
    req2 = verify_request(request2)
    assert req2.device_key == req.device_key and req2.nonce != req.nonce
    renewed = vendor.activate(request2, at(70))
    assert renewed.reused and renewed.activation_id == granted.activation_id
    assert renewed.device_id == granted.device_id
    m1.install(renewed.response, at(80))
    assert m1.check(at(90)).activation.nonce == req2.nonce  # type: ignore[union-attr]

    rows = vendor.activations(lic.id)
    assert len(rows) == 1
    assert rows[0]["id"] == granted.activation_id and rows[0]["ended_at"] is None
    assert rows[0]["created_at"] == T0 + 20 and rows[0]["renewed_at"] == T0 + 70
    assert rows[0]["request_nonce"] == req2.nonce
    assert [d.device_id for d in devices(vendor.ws, lic.id, now=at(90))] == [req.device_id]
    assert vendor.event_kinds(lic.id) == [
        "license.issued",
        "activation.created",
        "activation.renewed",
    ]
    # The old response (its request already answered) cannot be installed again over the new one.
    with pytest.raises(NotActivatedError, match="does not answer a request"):
        m1.install(granted.response, at(100))
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_armored_and_binary_request_and_response_are_the_same(vendor: Vendor) -> None:
    lic = vendor.issue()
    m1 = vendor.machine("m1")
    m1.import_license(lic.document)  # binary license file
    request = m1.request()
    granted = vendor.activate(binary(request))  # binary request file
    assert verify_request(binary(request)) == verify_request(request)
    lic_checked = m1.install(binary(granted.response))  # binary response file
    assert lic_checked.activation == verify_response(granted.response, trusted_roots=vendor.roots)
    assert m1.check().activation.activation_id == granted.activation_id  # type: ignore[union-attr]


# --- limits -----------------------------------------------------------------------------------


def test_max_devices_refuses_the_next_machine_naming_limit_and_holders(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=2)
    g1 = vendor.machine("m1").activate(lic)
    g2 = vendor.machine("m2").activate(lic, at(5))
    m3 = vendor.machine("m3")
    m3.import_license(lic)
    events = vendor.event_count()
    with pytest.raises(RefusedError) as info:
        vendor.activate(m3.request(at(10)), at(10))
    message = str(info.value)
    assert "2 of 2 devices" in message and lic.id in message
    assert f"host-m1 ({g1.device_id[:8]})" in message
    assert f"host-m2 ({g2.device_id[:8]})" in message
    assert "host-m3" not in message
    assert vendor.event_count() == events  # a refusal records nothing
    assert len(vendor.open_activations(lic.id)) == 2
    with pytest.raises(NotActivatedError):
        m3.check(at(10))
    # A holder can still renew while the license is full.
    assert vendor.machine("m1").activate(when=at(20)).reused
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_concurrent_activations_never_exceed_max_devices(vendor: Vendor) -> None:
    # DESIGN §4: the limit is checked inside one BEGIN IMMEDIATE transaction. Eight vendor
    # processes (here: threads, each with its own workspace and SQLite connection) race for 3 seats.
    import threading

    from licsign import Workspace

    lic = vendor.issue(max_devices=3)
    requests = []
    for i in range(8):
        m = vendor.machine(f"racer{i}")
        m.import_license(lic)
        requests.append(m.request())
    barrier = threading.Barrier(len(requests))
    results: list[Any] = [None] * len(requests)

    def race(i: int) -> None:
        ws = Workspace(vendor.ws.home)
        try:
            barrier.wait()
            results[i] = activate(ws, requests[i], lambda: PW, now=NOW)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results[i] = exc
        finally:
            ws.close()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted = [r for r in results if isinstance(r, Granted)]
    refused = [r for r in results if isinstance(r, RefusedError)]
    assert len(granted) == 3 and len(refused) == 5, results
    assert all("3 of 3 devices" in str(r) for r in refused)
    assert sorted(a["id"] for a in vendor.open_activations(lic.id)) == sorted(
        g.activation_id for g in granted
    )
    assert vendor.event_kinds(lic.id).count("activation.created") == 3
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_max_users(vendor: Vendor) -> None:
    lic = vendor.issue(max_users=2)
    vendor.machine("m1").activate(lic, user="alice", code=vendor.assign(lic, "alice"))
    vendor.machine("m2").activate(lic, user="bob", code=vendor.assign(lic, "bob"))
    # A user already counted may add a device (each new seat with a new code).
    vendor.machine("m3").activate(lic, user="alice", code=vendor.new_code(lic, "alice"))
    m4 = vendor.machine("m4")
    m4.import_license(lic)
    with pytest.raises(RefusedError, match=r"has 2 of 2 users: alice, bob"):
        vendor.assign(lic, "carol")  # a third user cannot even be assigned
    with pytest.raises(RefusedError, match=r"user carol is not assigned"):
        vendor.activate(m4.request(user="carol"))
    granted = vendor.activate(m4.request(user="bob", code=vendor.new_code(lic, "bob")))
    assert verify_response(granted.response, trusted_roots=vendor.roots).user == "bob"
    assert sorted(a["user"] for a in vendor.open_activations(lic.id)) == [
        "alice",
        "alice",
        "bob",
        "bob",
    ]
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_max_devices_per_user(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices_per_user=1)
    g1 = vendor.machine("m1").activate(lic, user="alice", code=vendor.assign(lic, "alice"))
    m2 = vendor.machine("m2")
    m2.import_license(lic)
    with pytest.raises(RefusedError) as info:
        vendor.activate(m2.request(user="alice", code=vendor.new_code(lic, "alice")))
    assert "user alice has 1 of 1 devices" in str(info.value)
    assert f"host-m1 ({g1.device_id[:8]}, alice)" in str(info.value)
    granted = vendor.activate(m2.request(user="bob", code=vendor.assign(lic, "bob")))
    m2.install(granted.response)
    assert m2.check().activation.user == "bob"  # type: ignore[union-attr]
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_allowed_users(vendor: Vendor) -> None:
    lic = vendor.issue(users=["alice", "bob"])
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    with pytest.raises(RefusedError, match=r"does not allow user 'carol' \(allowed: alice, bob\)"):
        vendor.activate(m1.request(user="carol"))
    with pytest.raises(RefusedError, match=r"does not allow no user \(allowed: alice, bob\)"):
        vendor.activate(m1.request())
    assert vendor.open_activations(lic.id) == []
    granted = vendor.activate(m1.request(user="bob", code=vendor.assign(lic, "bob")))
    assert m1.install(granted.response).activation.user == "bob"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "limit",
    [{"max_users": 3}, {"max_devices_per_user": 2}],
    ids=["max_users", "max_devices_per_user"],
)
def test_missing_user_refused_when_the_license_counts_users(
    vendor: Vendor, limit: dict[str, Any]
) -> None:
    lic = vendor.issue(**limit)
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    with pytest.raises(RefusedError, match="counts users; make the request with --user"):
        vendor.activate(m1.request())
    assert vendor.open_activations(lic.id) == []
    assert vendor.machine("m1").activate(user="dave", code=vendor.assign(lic, "dave")).activation_id


def test_reused_seat_answers_for_the_user_it_counts_against(vendor: Vendor) -> None:
    # format §11.2: the response's `user` is "the user the activation counts against".
    # A device holding alice's seat that asks again as bob must not get a response saying bob
    # while the ledger still counts alice (that would let bob in past max_users=1).
    lic = vendor.issue(max_users=1)
    m1 = vendor.machine("m1")
    m1.activate(lic, user="alice", code=vendor.assign(lic, "alice"))
    try:
        granted = vendor.activate(m1.request(at(10), user="bob"), at(10))
    except RefusedError:
        return  # refusing the switch is also correct
    (row,) = vendor.open_activations(lic.id)
    response = verify_response(granted.response, trusted_roots=vendor.roots)
    assert response.user == row["user"]


def test_transfer_limit_force_and_reset(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=1, max_transfers=2)
    m1, m2, m3 = vendor.machine("m1"), vendor.machine("m2"), vendor.machine("m3")
    g1 = m1.activate(lic, at(0))
    m2.import_license(lic)
    m3.import_license(lic)
    with pytest.raises(RefusedError, match="1 of 1 devices"):
        vendor.activate(m2.request(at(1)), at(1))

    # Move the seat m1 → m2 → m1 → ... until the transfer limit is reached.
    done = vendor_deactivate(vendor.ws, m1.deactivate(at(10)), now=at(11))
    assert done == SeatFreed(lic.id, g1.activation_id, g1.device_id, 1, True)
    g2 = m2.activate(when=at(20))
    assert not g2.reused and g2.device_id != g1.device_id
    assert vendor_deactivate(vendor.ws, m2.deactivate(at(30)), now=at(31)).transfers_used == 2
    g3 = m1.activate(when=at(40))  # m1 again, with its rotated device key: a new device
    assert g3.device_id != g1.device_id and not g3.reused
    receipt = m1.deactivate(at(50))
    events = vendor.event_count()
    with pytest.raises(
        RefusedError, match=r"has used 2 of 2 transfers; the vendor can override with --force"
    ):
        vendor_deactivate(vendor.ws, receipt, now=at(51))
    assert vendor.event_count() == events
    # The seat is still held in the ledger: nobody else can take it.
    assert [a["id"] for a in vendor.open_activations(lic.id)] == [g3.activation_id]
    with pytest.raises(RefusedError, match="1 of 1 devices"):
        vendor.activate(m3.request(at(52)), at(52))
    # The receipt is kept by the store and can be presented again, with --force.
    assert m1.deactivate(at(60)) == receipt
    forced = vendor_deactivate(vendor.ws, receipt, now=at(61), force=True)
    assert forced.transfers_used == 3
    assert vendor.ws.ledger.transfers_used(lic.id) == 3

    # reset_device (lost machine, no receipt) counts a transfer too and is recorded.
    g4 = m3.activate(when=at(70))
    with pytest.raises(RefusedError, match="has used 3 of 2 transfers"):
        reset_device(vendor.ws, lic.id, g4.device_id[:8], now=at(80))
    reset = reset_device(vendor.ws, lic.id, g4.device_id[:8], now=at(81), force=True)
    assert reset == SeatFreed(lic.id, g4.activation_id, g4.device_id, 4, True, None)
    assert vendor.open_activations(lic.id) == []
    history = vendor.events(lic.id)
    assert history[-1]["kind"] == "device.reset"
    assert json.loads(history[-1]["data"]) == {
        "activation": g4.activation_id,
        "device": g4.device_id,
        "forced": True,
        "transfers_used": 4,
        "transfer": True,
    }
    assert vendor.event_kinds(lic.id) == [
        "license.issued",
        "activation.created",
        "activation.deactivated",
        "activation.created",
        "activation.deactivated",
        "activation.created",
        "activation.deactivated",
        "activation.created",
        "device.reset",
    ]
    deactivations = [
        json.loads(r["data"]) for r in history if r["kind"] == "activation.deactivated"
    ]
    assert [(d["transfers_used"], d["forced"]) for d in deactivations] == [
        (1, False),
        (2, False),
        (3, True),
    ]
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_reset_device_counts_a_transfer_and_respects_the_limit(vendor: Vendor) -> None:
    lic = vendor.issue(max_devices=2, max_transfers=1)
    g1 = vendor.machine("m1").activate(lic)
    g2 = vendor.machine("m2").activate(lic)
    result = reset_device(vendor.ws, lic.id, g1.device_id[:6].upper(), now=at(10))
    assert result.transfers_used == 1 and result.device_id == g1.device_id
    with pytest.raises(RefusedError, match="has used 1 of 1 transfers"):
        reset_device(vendor.ws, lic.id, g2.device_id, now=at(20))
    with pytest.raises(NotFoundError):
        reset_device(vendor.ws, lic.id, g1.device_id, now=at(30))  # already ended
    statuses = {d.device_id: d.status for d in devices(vendor.ws, lic.id, now=at(30))}
    assert statuses == {g1.device_id: "reset", g2.device_id: "active"}
    kinds = vendor.event_kinds(lic.id)
    assert kinds.count("device.reset") == 1 and kinds[-1] == "device.reset"
    # The reset machine's activation still verifies locally (offline cannot revoke it), but
    # its seat is free in the ledger: a third machine gets it.
    vendor.machine("m3").activate(lic, at(40))
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_expired_license_refused_at_activation(vendor: Vendor) -> None:
    lic = vendor.issue(duration=timedelta(days=30), grace=timedelta(days=7))
    expires = T0 + 30 * 86400
    m1, m2, m3 = vendor.machine("m1"), vendor.machine("m2"), vendor.machine("m3")
    for m in (m1, m2, m3):
        m.import_license(lic)
    # Within grace: granted, and the installed license is in grace.
    inside = expires + 3 * 86400 - T0
    granted = vendor.activate(m1.request(at(inside)), at(inside))
    assert m1.install(granted.response, at(inside)).status is Status.GRACE
    # At the end of grace: refused.
    end = expires + 7 * 86400 - T0
    with pytest.raises(RefusedError, match=rf"license {lic.id} expired on"):
        vendor.activate(m2.request(at(end)), at(end))
    with pytest.raises(RefusedError, match="expired"):
        vendor.activate(m3.request(at(end - 1)), at(end))  # the vendor's clock decides
    assert len(vendor.open_activations(lic.id)) == 1


def test_expired_without_grace_refused_from_the_expiry_second(vendor: Vendor) -> None:
    lic = vendor.issue(duration=timedelta(days=1))
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    assert vendor.activate(m1.request(at(86399)), at(86399)).activation_id
    m2 = vendor.machine("m2")
    m2.import_license(lic)
    with pytest.raises(RefusedError, match="expired"):
        vendor.activate(m2.request(at(86400)), at(86400))
    # And the installed license itself expires on the machine that was granted.
    with pytest.raises(ExpiredError):
        m1.check(at(86400))


def _request_payload(vendor: Vendor, lic: IssuedLicense) -> ActivationRequest:
    m = vendor.machine("template")
    m.import_license(lic)
    return verify_request(m.request())


def test_request_for_another_product_refused(vendor: Vendor) -> None:
    lic = vendor.issue()
    key = nacl_key("forger")
    forged = replace(
        _request_payload(vendor, lic), product=OTHER_PRODUCT, device_key=bytes(key.verify_key)
    )
    document = device_signed(F.ACTIVATION_REQUEST, encode_request_payload(forged), key)
    assert verify_request(document).product == OTHER_PRODUCT  # well-formed and self-signed
    with pytest.raises(
        RefusedError, match=rf"license {lic.id} is for product '{PRODUCT}', not '{OTHER_PRODUCT}'"
    ):
        vendor.activate(document)
    assert vendor.open_activations(lic.id) == []


def test_request_for_an_unknown_license_refused(vendor: Vendor) -> None:
    lic = vendor.issue()
    key = nacl_key("forger")
    forged = replace(
        _request_payload(vendor, lic),
        license_id="L-ZZZZ-ZZZZ-ZZZZ",
        device_key=bytes(key.verify_key),
    )
    document = device_signed(F.ACTIVATION_REQUEST, encode_request_payload(forged), key)
    events = vendor.event_count()
    with pytest.raises(NotFoundError, match="unknown license 'L-ZZZZ-ZZZZ-ZZZZ'"):
        vendor.activate(document)
    assert vendor.event_count() == events


def _renew(vendor: Vendor, lic: IssuedLicense, when: int) -> bytes:
    """Record version 2 of ``lic`` in the ledger, as a renewal would (licsign has no renew yet)."""
    terms = replace(lic.terms, version=2, issued_at=when)
    key, certificate, kid, _ = vendor.ws.issuing_signer(PRODUCT, when, lambda: PW)
    document = F.encode_sign1(
        F.LICENSE,
        bytes.fromhex(kid),
        F.encode_license_payload(terms),
        lambda m: key.sign(m).signature,
        certificate,
    )
    import hashlib

    with vendor.ws.ledger.transaction():
        vendor.ws.ledger.add_license(
            when,
            LicenseRecord(
                id=lic.id, version=2, product_id=PRODUCT, customer_id="globex", type=terms.type,
                issued_at=when, expires=terms.expires, terms=F.terms_to_json(terms),
                document=document, digest=hashlib.sha256(document).hexdigest(), key_id=kid,
                status="active",
            ),
        )
    return document


def test_request_naming_another_versions_digest_refused(vendor: Vendor) -> None:
    lic = vendor.issue()
    old = vendor.machine("m-old")
    old.import_license(lic)
    stale = old.request(at(30))
    v2 = _renew(vendor, lic, T0 + 60)
    with pytest.raises(RefusedError, match=rf"different document than license {lic.id} version 2"):
        vendor.activate(stale, at(70))
    with pytest.raises(RefusedError, match="version 2"):
        vendor.activate(old.request(at(80)), at(80))
    assert vendor.open_activations(lic.id) == []
    # The machine that installs the renewal is granted.
    new = vendor.machine("m-new")
    assert new.import_license(v2, at(90)).version == 2
    granted = new.activate(when=at(100))
    assert verify_response(
        granted.response, trusted_roots=vendor.roots
    ).license_digest == F.license_digest(v2)
    # A response for version 2 does not activate version 1.
    shutil.copy(
        os.path.join(new.path, "activation.cose"), os.path.join(old.path, "activation.cose")
    )
    with pytest.raises(NotActivatedError, match="for another license"):
        old.check(at(110))


# --- replay and tamper ------------------------------------------------------------------------


def test_response_installed_on_another_machine_changes_nothing(vendor: Vendor) -> None:
    lic = vendor.issue()
    m1, m2 = vendor.machine("m1"), vendor.machine("m2")
    m1.import_license(lic)
    m2.import_license(lic)
    granted = vendor.activate(m1.request())
    m2.request()  # m2 has a device key and a pending request of its own
    before = m2.snapshot()
    with pytest.raises(NotActivatedError, match="does not answer a request made here"):
        m2.install(granted.response)
    assert m2.snapshot() == before
    with pytest.raises(NotActivatedError, match="requires activation"):
        m2.check()
    m1.install(granted.response)  # still good where it belongs
    assert m1.check().activation.activation_id == granted.activation_id  # type: ignore[union-attr]


def test_response_for_a_pending_nonce_but_another_device_key_is_wrong_machine(
    vendor: Vendor,
) -> None:
    lic = vendor.issue()
    m1, m2 = vendor.machine("m1"), vendor.machine("m2")
    g1 = m1.activate(lic)
    m2.import_license(lic)
    nonce = verify_request(m2.request(at(5))).nonce
    theirs = verify_response(g1.response, trusted_roots=vendor.roots)
    forged = vendor.sign_response(replace(theirs, nonce=nonce, issued_at=T0 + 6))
    before = m2.snapshot()
    with pytest.raises(WrongMachineError, match="for another device"):
        m2.install(forged, at(7))
    assert m2.snapshot() == before


def test_activation_file_copied_to_another_store_is_wrong_machine(vendor: Vendor) -> None:
    lic = vendor.issue()
    m1, m2 = vendor.machine("m1"), vendor.machine("m2")
    m1.activate(lic)
    m2.import_license(lic)
    m2.request()
    shutil.copy(os.path.join(m1.path, "activation.cose"), os.path.join(m2.path, "activation.cose"))
    with pytest.raises(WrongMachineError, match="belongs to another device"):
        m2.check()
    # The whole store cloned (device key too) onto a machine with another fingerprint.
    clone = vendor.machine("clone")
    shutil.copytree(m1.path, clone.path)
    with pytest.raises(WrongMachineError, match="does not match the one the license was activated on"):
        clone.check()
    assert (
        clone.check(fingerprint=m1.fp).activation is not None
    )  # same fingerprint: see security.md


def test_old_response_after_deactivation_cannot_be_installed(vendor: Vendor) -> None:
    lic = vendor.issue()
    m1 = vendor.machine("m1")
    granted = m1.activate(lic)
    old_key = m1.store.device_public_key()
    m1.deactivate(at(10))
    assert m1.store.device_public_key() != old_key
    with pytest.raises(NotActivatedError, match="requires activation"):
        m1.check(at(11))
    before = m1.snapshot()
    with pytest.raises(NotActivatedError, match="does not answer a request made here"):
        m1.install(granted.response, at(12))
    assert m1.snapshot() == before
    m1.request(at(13))  # a new pending request does not revive the old answer
    before = m1.snapshot()
    with pytest.raises(NotActivatedError):
        m1.install(granted.response, at(14))
    assert m1.snapshot() == before
    # Written back by hand, the old response names the old device key.
    with open(os.path.join(m1.path, "activation.cose"), "wb") as fh:
        fh.write(binary(granted.response))
    with pytest.raises(WrongMachineError, match="belongs to another device"):
        m1.check(at(15))


def test_response_for_another_request_refused(vendor: Vendor) -> None:
    lic = vendor.issue()
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    r1 = m1.request(at(1))
    nonce1 = verify_request(r1).nonce
    g1 = vendor.activate(r1, at(2))
    # A response signed by the vendor for this device, answering a nonce never asked here.
    response = verify_response(g1.response, trusted_roots=vendor.roots)
    forged = vendor.sign_response(replace(response, nonce=b"\x07" * 16))
    before = m1.snapshot()
    with pytest.raises(NotActivatedError, match="does not answer a request made here"):
        m1.install(forged, at(3))
    assert m1.snapshot() == before
    # Answered once, a request's nonce is used up: its response cannot come back later.
    r2 = m1.request(at(4))
    m1.install(g1.response, at(5))
    assert nonce1.hex() not in m1.store.pending_requests()
    g2 = vendor.activate(r2, at(6))
    m1.install(g2.response, at(7))
    with pytest.raises(NotActivatedError):
        m1.install(g1.response, at(8))
    assert m1.store.installed_activation() == binary(g2.response)


def test_response_for_another_license_refused(vendor: Vendor) -> None:
    lic1, lic2 = vendor.issue(), vendor.issue()
    m1 = vendor.machine("m1")
    m1.import_license(lic1)
    req = verify_request(m1.request())
    # The vendor's key signs a response for this device and this pending nonce, naming lic2.
    forged = vendor.sign_response(
        ActivationResponse(
            activation_id="A-TEST-0000-0001",
            device_key=req.device_key,
            fingerprint=req.fingerprint,
            issued_at=T0 + 1,
            lease_expires=None,
            license_digest=F.license_digest(lic2.document),
            license_id=lic2.id,
            nonce=req.nonce,
            user=None,
        )
    )
    before = m1.snapshot()
    with pytest.raises(NotActivatedError, match="for another license"):
        m1.install(forged, at(2))
    assert m1.snapshot() == before
    # Right id, wrong digest (another document of the same id) is "another license" too.
    forged = vendor.sign_response(
        ActivationResponse(
            activation_id="A-TEST-0000-0002",
            device_key=req.device_key,
            fingerprint=req.fingerprint,
            issued_at=T0 + 1,
            lease_expires=None,
            license_digest=F.license_digest(lic2.document),
            license_id=lic1.id,
            nonce=req.nonce,
            user=None,
        )
    )
    with pytest.raises(NotActivatedError, match="for another license"):
        m1.install(forged, at(2))
    assert m1.snapshot() == before
    # A real lic2 response dropped into m1's store.
    m2 = vendor.machine("m2")
    m2.activate(lic2)
    shutil.copy(os.path.join(m2.path, "activation.cose"), os.path.join(m1.path, "activation.cose"))
    with pytest.raises(NotActivatedError, match="for another license"):
        m1.check()


def _flip(document: bytes, needle: bytes) -> bytes:
    data = bytearray(binary(document))
    data[bytes(data).index(needle) + len(needle) // 2] ^= 0x01
    return bytes(data)


def test_edited_request_rejected(vendor: Vendor) -> None:
    lic = vendor.issue()
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    original = m1.request()
    req = verify_request(original)
    other = nacl_key("other-device")
    payload = encode_request_payload(replace(req, label="host-evil", user="mallory"))
    # Edited and re-signed by another key, kid naming that key: not the device key it carries.
    with pytest.raises(UntrustedKeyError, match="signed by a key other than the device key it names"):
        verify_request(device_signed(F.ACTIVATION_REQUEST, payload, other))
    # Edited and re-signed by another key, kid still naming the device key: bad signature.
    resigned = device_signed(F.ACTIVATION_REQUEST, payload, other, kid=F.key_id(req.device_key))
    with pytest.raises(BadSignatureError):
        verify_request(resigned)
    # One byte of the label flipped, not re-signed.
    with pytest.raises(BadSignatureError):
        verify_request(_flip(original, b"host-m1"))
    events = vendor.event_count()
    for bad in (resigned, _flip(original, b"host-m1"), original[:-40] + original[-39:]):
        with pytest.raises(LicenseError):
            vendor.activate(bad)
    assert vendor.event_count() == events and vendor.open_activations(lic.id) == []


def test_edited_response_rejected_and_store_unchanged(vendor: Vendor) -> None:
    lic = vendor.issue(activation_required=True)
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    granted = vendor.activate(m1.request())
    response = verify_response(granted.response, trusted_roots=vendor.roots)
    envelope = F.parse_unverified(binary(granted.response))
    certificate = envelope.certificate
    edited_payload = F.encode_response_payload(
        replace(response, lease_expires=None, fingerprint={"x": b"\0" * 16})
    )
    kid = envelope.kid
    cases = {
        # Edited and re-signed with another key under the real certificate and kid.
        "resigned-same-kid": (
            F.encode_sign1(
                F.ACTIVATION_RESPONSE,
                kid,
                edited_payload,
                lambda m: OTHER_ISSUING.sign(m).signature,
                certificate,
            ),
            BadSignatureError,
        ),
        # Re-signed with another key and its kid: the certificate does not name it.
        "resigned-other-kid": (
            F.encode_sign1(
                F.ACTIVATION_RESPONSE,
                F.key_id(bytes(OTHER_ISSUING.verify_key)),
                edited_payload,
                lambda m: OTHER_ISSUING.sign(m).signature,
                certificate,
            ),
            UntrustedKeyError,
        ),
        # Signed by an issuing key certified by a root the application does not trust.
        "untrusted-root": (
            F.encode_sign1(
                F.ACTIVATION_RESPONSE,
                F.key_id(bytes(UnsafeFactory().issuing.verify_key)),
                edited_payload,
                lambda m: UnsafeFactory().issuing.sign(m).signature,
                UnsafeFactory().certificate(),
            ),
            UntrustedKeyError,
        ),
        "flipped-activation-id": (
            _flip(granted.response, granted.activation_id.encode()),
            LicenseError,
        ),
        "no-certificate": (
            F.encode_sign1(F.ACTIVATION_RESPONSE, kid, envelope.payload, lambda m: b"\0" * 64),
            UntrustedKeyError,
        ),
        "license-not-response": (lic.document, WrongKindError),
    }
    before = m1.snapshot()
    for name, (document, error) in cases.items():
        with pytest.raises(error):
            verify_response(document, trusted_roots=vendor.roots)
        with pytest.raises(error):
            m1.install(document)
        assert m1.snapshot() == before, name
    m1.install(granted.response)


def test_edited_receipt_rejected(vendor: Vendor) -> None:
    lic = vendor.issue(max_transfers=5)
    m1 = vendor.machine("m1")
    granted = m1.activate(lic)
    original = m1.deactivate(at(10))
    receipt = verify_receipt(original)
    assert receipt.activation_id == granted.activation_id
    other = nacl_key("other-device")
    payload = encode_receipt_payload(replace(receipt, created_at=T0 + 99))
    bad = {
        "resigned-own-kid": (device_signed(F.DEACTIVATION_RECEIPT, payload, other), UntrustedKeyError),
        "resigned-device-kid": (
            device_signed(F.DEACTIVATION_RECEIPT, payload, other, kid=F.key_id(receipt.device_key)),
            BadSignatureError,
        ),
        "flipped-activation": (_flip(original, granted.activation_id.encode()), LicenseError),
        "request-not-receipt": (m1.request(at(11)), WrongKindError),
    }
    events = vendor.event_count()
    for name, (document, error) in bad.items():
        with pytest.raises(error):
            verify_receipt(document)
        with pytest.raises(error):
            vendor_deactivate(vendor.ws, document, now=at(12))
        assert vendor.event_count() == events, name
    assert len(vendor.open_activations(lic.id)) == 1
    vendor_deactivate(vendor.ws, original, now=at(13))
    assert vendor.open_activations(lic.id) == []


def test_receipt_replayed_refused(vendor: Vendor) -> None:
    lic = vendor.issue(max_transfers=5)
    m1 = vendor.machine("m1")
    m1.activate(lic)
    receipt = m1.deactivate(at(10))
    vendor_deactivate(vendor.ws, receipt, now=at(11))
    events = vendor.event_count()
    with pytest.raises(RefusedError, match="already accepted"):
        vendor_deactivate(vendor.ws, receipt, now=at(12))
    with pytest.raises(RefusedError, match="already accepted"):
        vendor_deactivate(vendor.ws, binary(receipt), now=at(12), force=True)
    assert vendor.event_count() == events
    assert vendor.ws.ledger.transfers_used(lic.id) == 1


def test_second_receipt_for_an_ended_activation_refused(vendor: Vendor) -> None:
    # A store restored from a backup taken before deactivating makes a fresh receipt.
    lic = vendor.issue(max_transfers=5)
    m1 = vendor.machine("m1")
    m1.activate(lic)
    backup = vendor.machine("m1-backup")
    shutil.copytree(m1.path, backup.path)
    vendor_deactivate(vendor.ws, m1.deactivate(at(10)), now=at(11))
    second = backup.deactivate(at(20))
    with pytest.raises(RefusedError, match="already ended"):
        vendor_deactivate(vendor.ws, second, now=at(21))
    assert vendor.ws.ledger.transfers_used(lic.id) == 1


def test_request_whose_kid_names_another_device_key_is_untrusted(vendor: Vendor) -> None:
    lic = vendor.issue()
    carried, signer = nacl_key("carried"), nacl_key("signer")
    req = replace(_request_payload(vendor, lic), device_key=bytes(carried.verify_key))
    payload = encode_request_payload(req)
    assert verify_request(
        device_signed(F.ACTIVATION_REQUEST, payload, carried)
    ).device_key == bytes(carried.verify_key)
    mismatched = device_signed(F.ACTIVATION_REQUEST, payload, signer)  # kid = signer's key id
    with pytest.raises(UntrustedKeyError):
        verify_request(mismatched)
    with pytest.raises(UntrustedKeyError):
        vendor.activate(mismatched)
    assert vendor.open_activations(lic.id) == []


def test_receipt_signed_by_another_device_refused(vendor: Vendor) -> None:
    lic = vendor.issue(max_transfers=5)
    m1 = vendor.machine("m1")
    granted = m1.activate(lic)
    other = nacl_key("other-device")
    forged = DeactivationReceipt(
        activation_id=granted.activation_id,
        created_at=T0 + 5,
        device_key=bytes(other.verify_key),
        license_digest=F.license_digest(lic.document),
        license_id=lic.id,
        nonce=b"\x05" * 16,
    )
    document = device_signed(F.DEACTIVATION_RECEIPT, encode_receipt_payload(forged), other)
    assert verify_receipt(document) == forged  # intact and self-signed: only the ledger can tell
    with pytest.raises(RefusedError, match="signed by another device"):
        vendor_deactivate(vendor.ws, document, now=at(6))
    unknown = device_signed(
        F.DEACTIVATION_RECEIPT,
        encode_receipt_payload(replace(forged, activation_id="A-NONE-NONE-NONE")),
        other,
    )
    with pytest.raises(NotFoundError):
        vendor_deactivate(vendor.ws, unknown, now=at(6))
    assert [a["id"] for a in vendor.open_activations(lic.id)] == [granted.activation_id]
    assert m1.check().activation is not None


# --- floating licenses ------------------------------------------------------------------------


def test_floating_lease_expiry_and_renewal(vendor: Vendor) -> None:
    lease = 3600
    lic = vendor.issue("floating", lease=timedelta(seconds=lease), max_devices=1)
    assert lic.terms.lease_seconds == lease
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    granted = vendor.activate(m1.request(at(5)), at(10))
    response = verify_response(granted.response, trusted_roots=vendor.roots)
    end = T0 + 10 + lease
    assert response.issued_at == T0 + 10 and response.lease_expires == end
    assert vendor.activations(lic.id)[0]["lease_expires"] == end
    m1.install(granted.response, at(20))
    assert m1.check(at(end - 1 - T0)).activation.lease_expires == end  # type: ignore[union-attr]
    with pytest.raises(NotActivatedError, match="the lease ended"):
        m1.check(at(end - T0))
    with pytest.raises(NotActivatedError, match="the lease ended"):
        m1.check(at(end - T0 + 1800))  # (the re-request below is within the clock tolerance)

    # Re-request after the lease ended: the same activation, a new lease.
    renewed = vendor.activate(m1.request(at(3700)), at(3705))
    assert renewed.reused and renewed.activation_id == granted.activation_id
    end2 = T0 + 3705 + lease
    assert verify_response(renewed.response, trusted_roots=vendor.roots).lease_expires == end2
    m1.install(renewed.response, at(3706))
    assert m1.check(at(end - T0)).activation.lease_expires == end2  # type: ignore[union-attr]
    assert m1.check(at(end2 - 1 - T0)).status is Status.VALID
    with pytest.raises(NotActivatedError, match="the lease ended"):
        m1.check(at(end2 - T0))
    (row,) = vendor.activations(lic.id)
    assert row["lease_expires"] == end2 and row["renewed_at"] == T0 + 3705

    # A response installed after its lease ended is refused, and nothing changes.
    late = vendor.activate(m1.request(at(8000)), at(8000))
    before = m1.snapshot()
    with pytest.raises(NotActivatedError, match="the lease ended"):
        m1.install(late.response, at(8000 + lease))
    assert m1.snapshot() == before
    m1.install(late.response, at(8000 + lease - 1))
    history = [json.loads(r["data"]) for r in vendor.events(lic.id)[1:]]
    assert [h["lease_expires"] for h in history] == [end, end2, T0 + 8000 + lease]
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


# --- fingerprint matching at the threshold ----------------------------------------------------


def _fingerprint(count: int) -> dict[str, bytes]:
    # Real component names: the vendor counts only those (issue 6). The machine id,
    # which every request must carry and an activation never tolerates changing,
    # sorts last, so _differing() changes it only when it changes every component.
    names = ["machine-id", "cpu", "disk", "hostname", "mac"][:count]
    return {name: bytes([0x40 + i]) * 16 for i, name in enumerate(names)}


def _differing(base: Mapping[str, bytes], how_many: int) -> dict[str, bytes]:
    out = dict(base)
    for name in sorted(base)[:how_many]:
        out[name] = b"\xee" * 16
    return out


@pytest.mark.parametrize(
    ("policy", "components", "needed"),
    [
        (1, 4, 1),
        (2, 4, 2),
        (3, 4, 3),
        (4, 4, 4),
        (2, 2, 2),
        ("most", 4, 3),
        ("most", 5, 3),
        ("most", 2, 2),
        ("all", 4, 4),
        ("all", 2, 2),
    ],
)
def test_fingerprint_match_at_the_threshold(
    vendor: Vendor, policy: str | int, components: int, needed: int
) -> None:
    base = _fingerprint(components)
    lic = vendor.issue(devices=[base], device_match=policy)
    assert lic.terms.device_match == policy
    m1 = vendor.machine("m1", fingerprint=base)
    m1.activate(lic)
    just_enough = _differing(base, components - needed)  # exactly `needed` components match
    one_short = _differing(base, components - needed + 1)  # `needed - 1` match
    assert sum(just_enough[k] == base[k] for k in base) == needed
    assert sum(one_short[k] == base[k] for k in base) == needed - 1

    assert m1.check(fingerprint=just_enough).activation is not None
    with pytest.raises(WrongMachineError):
        m1.check(fingerprint=one_short)
    # Extra components of this machine that the license does not list are ignored.
    assert m1.check(fingerprint={**just_enough, "extra": b"\x01" * 16}).activation is not None

    # Installing a new response applies the same threshold.
    granted = vendor.activate(m1.request(at(10)), at(10))
    before = m1.snapshot()
    with pytest.raises(WrongMachineError):
        m1.install(granted.response, at(11), fingerprint=one_short)
    assert m1.snapshot() == before
    assert m1.install(granted.response, at(11), fingerprint=just_enough).activation is not None


def test_fingerprint_of_an_activation_without_bound_devices_must_match_fully(
    vendor: Vendor,
) -> None:
    # No devices at issue time: device_match is "all" (§11.4 notes), over the response's components.
    base = _fingerprint(4)
    lic = vendor.issue()
    m1 = vendor.machine("m1", fingerprint=base)
    m1.activate(lic)
    assert m1.check(fingerprint={**base, "new-nic": b"\x09" * 16}).activation is not None
    with pytest.raises(WrongMachineError, match="does not match the one the license was activated on"):
        m1.check(fingerprint=_differing(base, 1))
    with pytest.raises(WrongMachineError):
        m1.check(fingerprint={k: v for k, v in base.items() if k != "machine-id"})


@pytest.mark.parametrize(
    ("policy", "changed", "ok"),
    [("most", 1, True), ("most", 2, False), (2, 2, True), (2, 3, False)],
)
def test_activation_tolerates_replaced_parts_when_the_license_says_so(
    vendor: Vendor, policy: str | int, changed: int, ok: bool
) -> None:
    # No device list at issue time; device_match still governs the activation (§11.4).
    base = _fingerprint(4)
    lic = vendor.issue(device_match=policy)
    assert lic.terms.device_match == policy and not lic.terms.allowed_devices
    m1 = vendor.machine("m1", fingerprint=base)
    m1.activate(lic)
    later = _differing(base, changed)  # a replaced NIC, disk...
    if ok:
        assert m1.check(fingerprint=later).activation is not None
    else:
        with pytest.raises(WrongMachineError):
            m1.check(fingerprint=later)


# --- the store --------------------------------------------------------------------------------


def test_store_files_are_private(vendor: Vendor) -> None:
    lic = vendor.issue(max_transfers=3)
    m1 = vendor.machine("m1")
    m1.activate(lic)
    m1.request(at(1))
    m1.deactivate(at(2))
    m1.activate(when=at(3))
    assert stat.S_IMODE(os.stat(m1.path).st_mode) == 0o700
    files = {
        n: stat.S_IMODE(os.stat(os.path.join(m1.path, n)).st_mode) for n in os.listdir(m1.path)
    }
    assert set(files) == {
        ".lock",
        "device.key",
        "license.cose",
        "activation.cose",
        "pending.json",
        "receipt.cose",
        "state.key",
        "state.bin",
    }
    assert {n: mode for n, mode in files.items() if n != ".lock"} == dict.fromkeys(
        ["device.key", "license.cose", "activation.cose", "pending.json", "receipt.cose",
         "state.key", "state.bin"], 0o600,
    )  # fmt: skip
    assert os.path.getsize(os.path.join(m1.path, ".lock")) == 0
    assert not [n for n in files if n.startswith(".tmp-")]


def test_bad_files_change_nothing(vendor: Vendor) -> None:
    lic = vendor.issue()
    other_product = vendor.issue(product=OTHER_PRODUCT)
    m1, m2 = vendor.machine("m1"), vendor.machine("m2")
    m1.activate(lic)
    m1.request(at(1))  # one pending request too
    granted2 = m2.activate(lic)
    license_bytes = bytearray(lic.document)
    license_bytes[-10] ^= 0x40
    tampered_license = bytes(license_bytes)
    tampered_response = bytearray(binary(granted2.response))
    tampered_response[len(tampered_response) // 2] ^= 0x01
    before = m1.snapshot()
    attempts: list[tuple[str, Any]] = [
        ("import garbage", lambda: m1.import_license(b"\x00garbage" * 20)),
        ("import tampered", lambda: m1.import_license(tampered_license)),
        ("import other product", lambda: m1.import_license(other_product)),
        ("import response as license", lambda: m1.import_license(granted2.response)),
        (
            "install garbage",
            lambda: m1.install(b"-----BEGIN LICSIGN ACTIVATION RESPONSE-----\n!!\n"),
        ),
        ("install tampered", lambda: m1.install(bytes(tampered_response))),
        ("install other machine's", lambda: m1.install(granted2.response)),
        ("install license as response", lambda: m1.install(lic.armored)),
        ("install empty", lambda: m1.install(b"")),
    ]
    expected = {
        "import tampered": LicenseError,
        "import other product": WrongProductError,
        "import response as license": WrongKindError,
        "install other machine's": NotActivatedError,
        "install license as response": WrongKindError,
    }
    for name, attempt in attempts:
        with pytest.raises(expected.get(name, LicenseError)):
            attempt()
        assert m1.snapshot() == before, name
    assert m1.check(at(2)).activation is not None
    # Importing a different valid license while activated is refused without writing.
    with pytest.raises(StoreError, match="deactivate it first"):
        m1.import_license(vendor.issue())
    assert m1.snapshot() == before
    # Importing the installed license again writes nothing (the activation stays).
    m1.import_license(lic)
    assert m1.snapshot() == before


def test_garbage_in_store_files_fails_check_closed(vendor: Vendor) -> None:
    lic = vendor.issue()
    m1 = vendor.machine("m1")
    m1.activate(lic)
    key_path = os.path.join(m1.path, "device.key")
    with open(key_path, "wb") as fh:
        fh.write(b"short")
    with pytest.raises(WrongMachineError, match="device key"):
        m1.check()
    os.unlink(key_path)
    with pytest.raises(WrongMachineError, match="device key"):
        m1.check()


def test_deactivate_rotates_the_device_key_and_keeps_the_receipt(vendor: Vendor) -> None:
    lic = vendor.issue(max_transfers=5)
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    with pytest.raises(StoreError, match="no activation to deactivate"):
        m1.deactivate()
    granted = m1.activate()
    key1 = m1.store.device_public_key()
    assert m1.store.pending_receipt() is None
    receipt = m1.deactivate(at(10))
    key2 = m1.store.device_public_key()
    assert key2 != key1
    decoded = verify_receipt(receipt)
    assert decoded.device_key == key1 and decoded.activation_id == granted.activation_id
    assert decoded.license_id == lic.id and decoded.license_digest == F.license_digest(lic.document)
    assert decoded.created_at == T0 + 10
    assert m1.store.installed_activation() is None and m1.store.installed_license() == lic.document
    assert m1.store.pending_requests() == {}
    # Called again before a new activation: the same receipt, the same key.
    assert m1.deactivate(at(20)) == receipt
    assert m1.store.pending_receipt() == receipt
    assert m1.store.device_public_key() == key2
    vendor_deactivate(vendor.ws, receipt, now=at(21))

    # A new activation uses the new key; the old receipt stays until the next deactivate.
    granted2 = m1.activate(when=at(30))
    assert granted2.device_id == F.key_id(key2).hex() and not granted2.reused
    assert m1.store.pending_receipt() == receipt
    receipt2 = m1.deactivate(at(40))
    assert receipt2 != receipt and verify_receipt(receipt2).device_key == key2
    assert verify_receipt(receipt2).activation_id == granted2.activation_id
    assert m1.store.device_public_key() not in (key1, key2)
    assert vendor_deactivate(vendor.ws, receipt2, now=at(41)).transfers_used == 2
    statuses = [d.status for d in devices(vendor.ws, lic.id, now=at(41))]
    assert statuses == ["deactivated", "deactivated"]


def test_pending_requests_are_capped_at_16(vendor: Vendor) -> None:
    lic = vendor.issue()
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    requests = [m1.request(at(i)) for i in range(17)]
    nonces = [verify_request(r).nonce.hex() for r in requests]
    pending = m1.store.pending_requests()
    assert len(pending) == 16 and set(pending) == set(nonces[1:])
    assert pending[nonces[16]] == {"license": lic.id, "created": T0 + 16, "seq": 17}
    # The oldest was forgotten: its answer is refused; a newer one is accepted.
    oldest = vendor.activate(requests[0], at(20))
    before = m1.snapshot()
    with pytest.raises(NotActivatedError, match="does not answer a request made here"):
        m1.install(oldest.response, at(21))
    assert m1.snapshot() == before
    second = vendor.activate(requests[1], at(22))
    assert second.reused and second.activation_id == oldest.activation_id
    m1.install(second.response, at(23))
    assert nonces[1] not in m1.store.pending_requests()
    assert len(m1.store.pending_requests()) == 15


def test_pending_cap_drops_the_first_made_request_when_times_tie(vendor: Vendor) -> None:
    # 17 requests within one second (a script, a retry loop) tie on `created`. Format §12.1
    # drops "the oldest": the first one made, not whichever nonce sorts first.
    lic = vendor.issue()
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    m1.store.device_public_key()  # the key exists, so random_bytes only draws the nonce below
    first = m1.store.request(
        now=NOW, fingerprint=m1.fp, label="host-m1", random_bytes=lambda n: b"\xff" * n
    )
    rest = [m1.request(NOW) for _ in range(16)]
    pending = m1.store.pending_requests()
    assert len(pending) == 16
    assert [verify_request(r).nonce.hex() in pending for r in rest] == [True] * 16
    assert verify_request(first).nonce.hex() not in pending


def test_request_made_after_the_clock_went_back_stays_answerable(vendor: Vendor) -> None:
    # The clock goes back an hour (daylight saving, DESIGN §5) with 16 requests pending: the
    # request just returned to the caller must not be the one forgotten.
    lic = vendor.issue()
    m1 = vendor.machine("m1")
    m1.import_license(lic, NOW)
    for i in range(16):
        m1.request(at(3600 - 16 + i))  # the last one hour minus a second ahead: tolerated
    last = m1.request(at(0))
    assert verify_request(last).nonce.hex() in m1.store.pending_requests()
    m1.install(vendor.activate(last, at(1)).response, at(2))


# --- the ledger after all of it ---------------------------------------------------------------


def test_ledger_rows_and_event_chain_after_a_full_story(vendor: Vendor) -> None:
    # Not user-based (no max users), so no user codes: the users are labels of the seats here;
    # tests/test_users.py tells the story of a user-based license.
    lic = vendor.issue(max_devices=2, max_transfers=2)
    m1, m2, m3 = vendor.machine("m1"), vendor.machine("m2"), vendor.machine("m3")
    g1 = m1.activate(lic, at(0), user="alice")
    g2 = m2.activate(lic, at(10), user="bob")
    m3.import_license(lic)
    attempts: list[Callable[[], Any]] = [
        lambda: vendor.activate(m3.request(at(20), user="carol"), at(20)),
        lambda: vendor.activate(m3.request(at(21)), at(21)),
    ]
    for bad in attempts:
        with pytest.raises(RefusedError):
            bad()
    assert m1.activate(when=at(30), user="alice").reused
    receipt = m1.deactivate(at(40))
    vendor_deactivate(vendor.ws, receipt, now=at(41))
    with pytest.raises(RefusedError):
        vendor_deactivate(vendor.ws, receipt, now=at(42))
    g3 = m3.activate(when=at(50), user="carol")
    reset_device(vendor.ws, lic.id, g2.device_id[:4], now=at(60))
    with pytest.raises(RefusedError):
        reset_device(vendor.ws, lic.id, g3.device_id, now=at(70))

    assert vendor.ws.ledger.verify_events() == vendor.event_count()
    assert vendor.event_kinds(lic.id) == [
        "license.issued",
        "activation.created",
        "activation.created",
        "activation.renewed",
        "activation.deactivated",
        "activation.created",
        "device.reset",
    ]
    rows = vendor.activations(lic.id)
    assert [(r["id"], r["device_id"], r["user"], r["end_reason"]) for r in rows] == [
        (g1.activation_id, g1.device_id, "alice", "deactivated"),
        (g2.activation_id, g2.device_id, "bob", "reset"),
        (g3.activation_id, g3.device_id, "carol", None),
    ]
    assert [(r["created_at"], r["renewed_at"], r["ended_at"]) for r in rows] == [
        (T0, T0 + 30, T0 + 41),
        (T0 + 10, T0 + 10, T0 + 60),
        (T0 + 50, T0 + 50, None),
    ]
    listed = devices(vendor.ws, lic.id, now=at(80))
    assert [(d.device_id, d.label, d.user, d.activation_id, d.status) for d in listed] == [
        (g1.device_id, "host-m1", "alice", g1.activation_id, "deactivated"),
        (g2.device_id, "host-m2", "bob", g2.activation_id, "reset"),
        (g3.device_id, "host-m3", "carol", g3.activation_id, "active"),
    ]
    receipts = vendor.receipts()
    assert [(r["activation_id"], r["received_at"]) for r in receipts] == [
        (g1.activation_id, T0 + 41)
    ]
    stored = vendor.device_record(g1.device_id)
    assert F.key_id(stored["device_key"]).hex() == g1.device_id
    assert json.loads(stored["fingerprint"]) == {k: v.hex() for k, v in m1.fp.items()}
    # m3's activation verifies; so does m2's, which its reset in the ledger cannot reach offline.
    assert m3.check(at(80)).activation.activation_id == g3.activation_id  # type: ignore[union-attr]
    assert m2.check(at(80)).activation.activation_id == g2.activation_id  # type: ignore[union-attr]
    with pytest.raises(NotActivatedError):
        m1.check(at(80))
