"""Revocation lists (docs/format.md §13): format, verifier, store, issuer and both CLIs.

Format: round trip, every single-bit flip refused, wrong signer, wrong kind,
non-canonical entries, product scope. Verifier and store: a revoked license,
version, issuing key or activation is refused with ``revoked``; the store
keeps the highest number and refuses an older list. Issuer: revoke → export →
``licverify import`` → ``licverify status`` says revoked, on both ledger
engines, and ``ledger verify`` passes after revocations.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from factory import ISSUING, OTHER_ISSUING, ROOT, T0, UnsafeFactory, default_terms, public, signer
from harness import PRODUCT, Site, Vendor, verdict_line

import licverify
import licverify.format as F
from licsign import export_revocations, revoke_activation, revoke_key, revoke_license, verify_ledger
from licverify._cbor import encode_canonical
from licverify._revocation import RevocationList, decode_revocation_payload

NOW = datetime.fromtimestamp(T0, timezone.utc)
FACTORY = UnsafeFactory()
VERIFIER = licverify.Verifier(trusted_roots=FACTORY.roots, product=PRODUCT)
ISSUING_KID = F.key_id(public(ISSUING))


def make_list(number: int = 1, *, product: str | None = None, payload: bytes | None = None,
              factory: UnsafeFactory = FACTORY, **entries: Any) -> bytes:  # fmt: skip
    """A signed binary revocation list; ``payload`` bypasses the encoder."""
    if payload is None:
        payload = F.encode_revocation_payload(
            RevocationList(
                number=number, issued_at=T0 - 60, issuer="Acme", product=product, **entries
            )
        )
    return F.encode_sign1(
        F.REVOCATION_LIST, F.key_id(public(factory.issuing)), payload, signer(factory.issuing),
        factory.certificate(),
    )  # fmt: skip


def a_license(license_id: str = "L-1", version: int = 1) -> licverify.License:
    document = FACTORY.license(default_terms(id=license_id, version=version))
    return VERIFIER.verify_license(document, now=NOW)


# --- format -------------------------------------------------------------------------------------


def test_round_trip_binary_and_armored() -> None:
    entries = dict(licenses={"L-1": None, "L-2": frozenset({2, 3})},
                   activations={"A-9", "A-10"}, keys={ISSUING_KID})  # fmt: skip
    document = make_list(7, **entries)  # type: ignore[arg-type]
    for data in (document, F.armor(document, F.REVOCATION_LIST)):
        got = VERIFIER.verify_revocation_list(data, now=NOW)
        assert got.number == 7 and got.issuer == "Acme" and got.product is None
        assert dict(got.licenses) == {"L-1": None, "L-2": frozenset({2, 3})}
        assert got.activations == {"A-9", "A-10"} and got.keys == {ISSUING_KID}
        assert got.key_id == ISSUING_KID and got.document == document
    assert F.armor(document, F.REVOCATION_LIST).startswith(
        b"-----BEGIN LICSIGN REVOCATION LIST-----"
    )
    same = licverify.verify_revocation_list(document, trusted_roots=FACTORY.roots, product=PRODUCT,
                                            now=NOW)  # fmt: skip
    assert same == got
    assert got.to_json()["licenses"] == {"L-1": None, "L-2": [2, 3]}


def test_every_single_bit_flip_is_refused() -> None:
    document = make_list(3, licenses={"L-1": None}, activations={"A-1"})
    accepted = []
    for i in range(len(document) * 8):
        flipped = bytearray(document)
        flipped[i // 8] ^= 1 << (i % 8)
        try:
            VERIFIER.verify_revocation_list(bytes(flipped), now=NOW)
        except licverify.LicenseError:
            continue
        accepted.append(i)
    assert accepted == []


@pytest.mark.parametrize(
    ("document", "code"),
    [
        pytest.param(make_list(factory=UnsafeFactory(root=ROOT, issuing=OTHER_ISSUING)).replace(
            F.key_id(public(OTHER_ISSUING)), ISSUING_KID), "untrusted-key", id="signer-not-certified"),
        pytest.param(FACTORY.license(), "wrong-kind", id="license-as-list"),
        pytest.param(make_list(product="other-product"), "wrong-product", id="other-product"),
        pytest.param(make_list(factory=UnsafeFactory(products=("other",))), "wrong-product",
                     id="list-for-every-product-by-restricted-key"),
        pytest.param(make_list(payload=encode_canonical(
            {6: T0, -65537: {"v": 2, "number": 1, "activations": ["b", "a"]}})), "malformed",
            id="activations-unsorted"),
        pytest.param(make_list(payload=encode_canonical(
            {6: T0, -65537: {"v": 2, "number": 0}})), "malformed", id="number-zero"),
        pytest.param(make_list(payload=encode_canonical(
            {6: T0, -65537: {"v": 2, "number": 1, "licenses": {"L-1": []}}})), "malformed",
            id="empty-versions"),
        pytest.param(make_list(payload=encode_canonical(
            {6: T0, -65537: {"v": 2, "number": 1, "keys": [b"short"]}})), "malformed",
            id="short-key-id"),
        pytest.param(make_list(payload=encode_canonical(
            {6: T0, -65537: {"v": 2, "number": 1, "x": 1}})), "unsupported", id="unknown-term"),
        pytest.param(make_list(payload=encode_canonical(
            {6: T0, -65537: {"v": 1, "number": 1}})), "unsupported", id="version-1"),
    ],
)  # fmt: skip
def test_defective_lists_are_refused(document: bytes, code: str) -> None:
    with pytest.raises(licverify.LicenseError) as caught:
        VERIFIER.verify_revocation_list(document, now=NOW)
    assert caught.value.code == code


def test_a_list_is_no_license() -> None:
    with pytest.raises(licverify.WrongKindError):
        VERIFIER.verify_license(make_list(), now=NOW)


def test_signed_in_the_future_is_refused() -> None:
    with pytest.raises(licverify.NotYetValidError):
        VERIFIER.verify_revocation_list(make_list(), now=NOW - timedelta(hours=2))


def test_encoder_checks_its_own_output() -> None:
    with pytest.raises(licverify.MalformedError):
        F.encode_revocation_payload(RevocationList(number=1, issued_at=T0, activations={"bad id"}))
    payload = F.encode_revocation_payload(RevocationList(number=1, issued_at=T0))
    assert decode_revocation_payload(payload).number == 1


# --- applying a list ----------------------------------------------------------------------------


def test_revoked_license_version_key_and_activation() -> None:
    lic = a_license("L-1", version=2)
    listed = VERIFIER.verify_revocation_list(make_list(licenses={"L-1": None}), now=NOW)
    with pytest.raises(licverify.RevokedError) as caught:
        listed.check(lic)
    assert caught.value.code == "revoked"
    one_version = VERIFIER.verify_revocation_list(make_list(licenses={"L-1": frozenset({1})}),
                                                  now=NOW)  # fmt: skip
    one_version.check(lic)  # version 2 is not the one revoked
    with pytest.raises(licverify.RevokedError):
        one_version.check(a_license("L-1", version=1))
    by_key = VERIFIER.verify_revocation_list(make_list(keys={ISSUING_KID}), now=NOW)
    with pytest.raises(licverify.RevokedError, match="issuing key"):
        by_key.check(a_license("L-other"))
    VERIFIER.verify_revocation_list(make_list(activations={"A-1"}), now=NOW).check(lic)


def test_store_keeps_the_highest_number(tmp_path: Path) -> None:
    store = licverify.LocalStore(str(tmp_path / "state"))
    args: dict[str, Any] = dict(trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)
    second = make_list(2, licenses={"L-1": None})
    assert store.import_revocations(second, **args).number == 2
    store.import_revocations(second, **args)  # the same list again: harmless
    with pytest.raises(licverify.StoreError, match="older"):
        store.import_revocations(make_list(1), **args)
    with pytest.raises(licverify.StoreError, match="same number"):
        store.import_revocations(make_list(2), **args)
    installed = store.installed_revocations(**args)
    assert installed is not None and installed.number == 2
    assert store.import_revocations(make_list(3), **args).number == 3


def test_store_check_refuses_a_revoked_license(tmp_path: Path) -> None:
    store = licverify.LocalStore(str(tmp_path / "state"))
    args: dict[str, Any] = dict(trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)
    store.import_license(FACTORY.license(default_terms(id="L-1")), fingerprint={}, **args)
    store.check(fingerprint={}, **args)
    store.import_revocations(make_list(1, licenses={"L-2": None}), **args)
    store.check(fingerprint={}, **args)
    store.import_revocations(make_list(2, licenses={"L-1": None}), **args)
    with pytest.raises(licverify.RevokedError):
        store.check(fingerprint={}, **args)


def test_store_refuses_a_list_signed_by_a_key_it_revokes(tmp_path: Path) -> None:
    store = licverify.LocalStore(str(tmp_path / "state"))
    args: dict[str, Any] = dict(trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)
    store.import_revocations(make_list(1, keys={ISSUING_KID}), **args)
    with pytest.raises(licverify.RevokedError):
        store.import_revocations(make_list(2), **args)


def test_a_damaged_installed_list_fails_closed(tmp_path: Path) -> None:
    store = licverify.LocalStore(str(tmp_path / "state"))
    args: dict[str, Any] = dict(trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)
    store.import_license(FACTORY.license(default_terms(id="L-1")), fingerprint={}, **args)
    store.import_revocations(make_list(1), **args)
    path = tmp_path / "state" / "revocations.cose"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(licverify.StoreError):
        store.check(fingerprint={}, **args)


# --- the issuer, library level (both engines) ---------------------------------------------------


def test_vendor_revokes_an_activation_and_a_key(vendor: Vendor) -> None:
    lic = vendor.issue()
    machine = vendor.machine("a")
    granted = machine.activate(lic)
    machine.check()
    revoke_activation(vendor.ws, granted.activation_id, now=vendor.now, reason="lost laptop")
    assert vendor.open_seats(lic.id) == 0
    armored, listed = export_revocations(vendor.ws, lambda: b"activation test passphrase",
                                         now=vendor.now)  # fmt: skip
    assert listed.number == 1 and listed.activations == {granted.activation_id}
    machine.store.import_revocations(armored, trusted_roots=vendor.roots, product=PRODUCT,
                                     now=vendor.now)  # fmt: skip
    with pytest.raises(licverify.RevokedError, match="activation"):
        machine.check()
    key_id = vendor.license_record(lic.id)["key_id"]
    revoke_key(vendor.ws, key_id, now=vendor.now)
    revoke_license(vendor.ws, lic.id, now=vendor.now, reason="issued by mistake")
    assert vendor.license_record(lic.id)["status"] == "revoked"
    assert verify_ledger(vendor.ws).ok


# --- both command lines, end to end (both engines) ----------------------------------------------


def test_revoke_export_import_status(site: Site) -> None:
    license_id = site.issue("one.lic")
    a = site.machine("a")
    a.ok("import", str(site.tmp / "one.lic"))
    out = json.loads(site.vendor_ok("revoke", license_id, "--reason", "refund", "--json").out)
    assert out["kind"] == "license" and out["subject"] == license_id and out["number"] == 1
    listing = json.loads(site.vendor_ok("revocations", "list", "--json").out)
    assert [r["subject"] for r in listing] == [license_id]
    first = site.tmp / "revoked-1.txt"
    site.vendor_ok("revocations", "export", "-o", str(first))
    second = site.tmp / "revoked-2.txt"
    data = json.loads(site.vendor_ok("revocations", "export", "-o", str(second), "--json").out)
    assert data["number"] == 2 and license_id in data["licenses"]
    assert a.ok("import", str(second)).out.startswith("Installed revocation list 2 (1 revoked)")
    verdict_line(a("status"), "revoked")
    assert a("import", str(first)).code == 1  # older than the one installed
    assert json.loads(a("import", str(second), "--json").out)["number"] == 2
    plain = site.issue_with("plain.lic", "--type", "perpetual")["id"]
    assert site.check("plain.lic", "--revocations", str(second)).code == 0
    site.vendor_ok("revoke", plain)
    third = site.tmp / "revoked-3.txt"
    site.vendor_ok("revocations", "export", "-o", str(third))
    verdict_line(site.check("plain.lic", "--revocations", str(third)), "revoked")
    site.vendor_ok("ledger", "verify")


def test_list_and_show_say_revoked_whatever_the_dates(site: Site) -> None:
    revoked = site.issue("one.lic")
    kept = site.issue("two.lic")
    site.vendor_ok("revoke", revoked, "--reason", "chargeback")
    rows = {r["id"]: r["status"] for r in json.loads(site.vendor_ok("list", "--json").out)}
    assert rows == {revoked: "revoked", kept: "active"}
    only = json.loads(site.vendor_ok("list", "--status", "revoked", "--json").out)
    assert [r["id"] for r in only] == [revoked]
    active = json.loads(site.vendor_ok("list", "--status", "active", "--json").out)
    assert [r["id"] for r in active] == [kept]
    assert json.loads(site.vendor_ok("show", revoked, "--json").out)["status"] == "revoked"
    assert "Status:      revoked" in site.vendor_ok("show", revoked).out


def test_key_rotate_and_revoke_key(site: Site) -> None:
    site.issue_with("old.lic", "--type", "perpetual")
    b = site.machine("b")
    b.ok("import", str(site.tmp / "old.lic"))
    before = json.loads(site.vendor_ok("key", "list", "--json").out)
    old = [k["key_id"] for k in before if k["role"] == "issuing"]
    rotated = json.loads(site.vendor_ok("key", "rotate", "--json").out)
    assert rotated["retired"] == old
    after = {
        k["key_id"]: k["status"] for k in json.loads(site.vendor_ok("key", "list", "--json").out)
    }
    assert all(after[k] == "retired" for k in old)
    license_id = site.issue("new.lic")
    a = site.machine("a")
    a.ok("import", str(site.tmp / "new.lic"))
    site.vendor_ok("revoke", "--key", old[0], "--json")
    listed = site.tmp / "list.txt"
    site.vendor_ok("revocations", "export", "-o", str(listed))
    a.ok("import", str(listed))
    verdict_line(a("status"), "not-activated")  # signed by the new key: not revoked
    assert license_id
    b.ok("import", str(listed))
    verdict_line(b("status"), "revoked")  # signed by the revoked key
    site.vendor_ok("ledger", "verify")


def test_a_revoked_key_cannot_keep_answering_activation_requests(site: Site) -> None:
    """The license is signed by a good key; its activation response by a key revoked later:
    the machine refuses the response once the list reaches it (format §13.3)."""
    site.issue("one.lic")
    rotated = json.loads(site.vendor_ok("key", "rotate", "--json").out)  # the new key answers
    a = site.machine("a")
    a.ok("import", str(site.tmp / "one.lic"))
    a.ok("request", "-o", str(site.tmp / "req.txt"), "--label", "a")
    site.vendor_ok("activate", str(site.tmp / "req.txt"), "-o", str(site.tmp / "resp.txt"),
                   "--no-revocations")  # fmt: skip
    a.ok("install", str(site.tmp / "resp.txt"))
    a.ok("status")
    site.vendor_ok("revoke", "--key", rotated["key_id"])
    site.vendor_ok("key", "rotate")  # a compromised key is replaced: the new one signs the list
    listed = site.tmp / "list.txt"
    site.vendor_ok("revocations", "export", "-o", str(listed))
    a.ok("import", str(listed))
    line = verdict_line(a("status"), "revoked")
    assert rotated["key_id"] in line and "activation response" in line


# --- the CDDL (schemas/revocation-list.cddl) ----------------------------------------------------


def test_lists_match_the_schema() -> None:
    import cbor2
    from test_cddl import invalid, valid

    full = make_list(5, product=PRODUCT, licenses={"L-1": None, "L-2": frozenset({1, 4})},
                     activations={"A-1", "B-2"}, keys={ISSUING_KID})  # fmt: skip
    for document in (make_list(1), full):
        valid("envelope", document)
        _, unprotected, payload, _ = cbor2.loads(document).value
        valid("envelope", cbor2.dumps(unprotected), "revocation-list-unprotected")
        valid("revocation-list", payload, "revocation-list-claims")
    for bad in ({6: T0, -65537: {"v": 2, "number": 0}},
                {6: T0, -65537: {"v": 2, "number": 1, "licenses": {"L-1": False}}},
                {6: T0, -65537: {"v": 2, "number": 1, "keys": [b"short"]}},
                {6: T0, -65537: {"v": 2, "number": 1, "extra": 1}}):  # fmt: skip
        invalid("revocation-list", encode_canonical(bad), "revocation-list-claims")


# --- conformance vectors (tests/vectors/vectors.json "revocation_vectors") ---------------------

_VECTORS = json.loads((Path(__file__).parent / "vectors" / "vectors.json").read_text("utf-8"))
REVOCATION_VECTORS = _VECTORS["revocation_vectors"]


@pytest.mark.parametrize("vector", REVOCATION_VECTORS, ids=[v["name"] for v in REVOCATION_VECTORS])
def test_revocation_vector(vector: dict[str, Any]) -> None:
    now = datetime.strptime(vector["now"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    verifier = licverify.Verifier(trusted_roots=[bytes.fromhex(k) for k in vector["trusted_roots"]],
                                  product=vector["product"])  # fmt: skip
    document = bytes.fromhex(vector["document"])
    if "error" in vector:
        with pytest.raises(licverify.LicenseError) as caught:
            verifier.verify_revocation_list(document, now=now)
        assert caught.value.code == vector["error"], str(caught.value)
        return
    assert verifier.verify_revocation_list(document, now=now).to_json() == vector["expected"]


def test_revocation_vectors_cover_the_codes() -> None:
    codes = {v.get("error", "valid") for v in REVOCATION_VECTORS}
    assert {"valid", "malformed", "unsupported", "wrong-kind", "untrusted-key", "bad-signature",
            "wrong-product", "not-yet-valid"} <= codes  # fmt: skip


def test_random_bytes_raise_only_license_errors() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300))
    def decode(data: bytes) -> None:
        with pytest.raises(licverify.LicenseError):
            decode_revocation_payload(data)

    decode()


def test_inspect_describes_a_list() -> None:
    document = make_list(3, licenses={"L-1": None})
    report = licverify.inspect_document(document, trusted_roots=FACTORY.roots, product=PRODUCT,
                                        now=NOW).to_json()  # fmt: skip
    assert report["kind"] == "revocation-list" and report["verdict"] == "valid"
    assert report["fields"]["number"] == 3 and report["fields"]["licenses"] == {"L-1": None}
    unverified = licverify.inspect_document(document).to_json()
    assert unverified["verdict"] == "unverified" and unverified["fields"]["number"] == 3
    flipped = licverify.inspect_document(document[:-1] + bytes([document[-1] ^ 1]),
                                         trusted_roots=FACTORY.roots).to_json()  # fmt: skip
    assert flipped["verdict"] != "valid"
