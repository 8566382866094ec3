"""Root rollover (docs/format.md §6.5): an old root vouches for a new one.

An application that pins only the first root must accept licenses,
activation responses and revocation lists signed under a later root,
without a new release, and nothing else: a rollover it cannot chain to a
root it pins, a broken, reordered, truncated or padded chain, a rollover
signed by someone else or of the wrong kind is refused. The issuer side:
``key rotate-root`` on both ledger engines, the trust-root export with
every root, ``ledger verify`` after rollovers, and a refused rotation that
changes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import nacl.signing
import pytest
from factory import ISSUING, ROOT, T0, UnsafeFactory, default_terms, key_from_seed, public, signer
from harness import PRODUCT, PW, Site, Vendor, snapshot

import licverify
import licverify.format as F
from licsign import (
    InvalidInputError,
    WrongPassphraseError,
    export_revocations,
    keys,
    revoke_license,
    rotate_root,
    trust_root,
    verify_ledger,
)

ROOT2 = key_from_seed("root-2")
ROOT3 = key_from_seed("root-3")
STRANGER = key_from_seed("stranger-root")


def rollover(old: nacl.signing.SigningKey, new: nacl.signing.SigningKey, iat: int = T0 - 3600,
             *, kind: F.Kind = F.ROOT_ROLLOVER, payload: bytes | None = None) -> bytes:  # fmt: skip
    """A binary rollover: ``old`` vouches for ``new``."""
    if payload is None:
        payload = F.encode_rollover_payload(F.RootRollover(public(new), F.key_id(public(old)), iat))
    return F.encode_sign1(kind, F.key_id(public(old)), payload, signer(old))


def license_under(root: nacl.signing.SigningKey, links: tuple[bytes, ...]) -> bytes:
    """A license whose certificate ``root`` signed, carrying ``links``."""
    factory = UnsafeFactory(root=root)
    return F.encode_sign1(
        F.LICENSE, F.key_id(public(ISSUING)), F.encode_license_payload(default_terms()),
        signer(ISSUING), factory.certificate(), links,
    )  # fmt: skip


def verify(document: bytes, *roots: nacl.signing.SigningKey) -> licverify.License:
    verifier = licverify.Verifier(trusted_roots=[public(r) for r in roots], product=PRODUCT)
    return verifier.verify_license(document, now=datetime.fromtimestamp(T0, timezone.utc))


def _claims(new_root: bytes) -> bytes:
    """A rollover payload encoded directly (the encoder refuses a root vouching for itself)."""
    from licverify._cbor import encode_canonical

    cose_key = {1: 1, 3: -8, -1: 6, -2: new_root}
    return encode_canonical({6: T0, 8: {1: cose_key}, -65537: {"v": 2}})


CHAIN = (rollover(ROOT, ROOT2), rollover(ROOT2, ROOT3))


# --- the verifier ------------------------------------------------------------------------------


def test_a_pinned_root_accepts_what_its_successors_certify() -> None:
    under3 = license_under(ROOT3, CHAIN)
    assert verify(under3, ROOT).status.value == "valid"  # two rollovers
    assert verify(under3, ROOT2).status.value == "valid"  # the newer one only
    assert verify(under3, ROOT3).status.value == "valid"  # pinned directly: chain not needed
    assert verify(license_under(ROOT2, CHAIN[:1]), ROOT).status.value == "valid"


def test_without_the_chain_or_a_pinned_start_it_is_untrusted() -> None:
    for document, roots in (
        (license_under(ROOT3, ()), (ROOT,)),
        (license_under(ROOT3, CHAIN[1:]), (ROOT,)),  # the first link is missing
        (license_under(ROOT3, CHAIN[:1]), (ROOT,)),  # the last link is missing
        (license_under(ROOT3, CHAIN), (STRANGER,)),
        (license_under(ROOT3, (CHAIN[1], CHAIN[0])), (ROOT,)),  # reordered
    ):
        with pytest.raises(licverify.UntrustedKeyError):
            verify(document, *roots)


def test_a_stranger_cannot_extend_or_borrow_the_chain() -> None:
    stranger_issued = license_under(STRANGER, (CHAIN[0], rollover(STRANGER, STRANGER_2)))
    with pytest.raises(licverify.UntrustedKeyError, match="not a chain"):
        verify(stranger_issued, ROOT)
    # A genuine chain attached to a certificate of the stranger's root leads elsewhere.
    with pytest.raises(licverify.UntrustedKeyError, match="do not lead"):
        verify(license_under(STRANGER, CHAIN), ROOT)
    # The stranger vouching for a root of its own is not trusted either.
    with pytest.raises(licverify.UntrustedKeyError):
        verify(license_under(STRANGER_2, (rollover(STRANGER, STRANGER_2),)), ROOT)


STRANGER_2 = key_from_seed("stranger-root-2")


def test_a_tampered_link_fails_its_signature() -> None:
    link = bytearray(CHAIN[0])
    link[-1] ^= 1
    with pytest.raises(licverify.BadSignatureError, match="root rollover"):
        verify(license_under(ROOT2, (bytes(link),)), ROOT)


@pytest.mark.parametrize(
    ("links", "error"),
    [
        (tuple(rollover(ROOT, ROOT2) for _ in range(5)), licverify.MalformedError),
        ((rollover(ROOT, ROOT2, kind=F.ISSUING_CERTIFICATE),), licverify.WrongKindError),
        ((UnsafeFactory(root=ROOT).certificate(),), licverify.WrongKindError),
        ((rollover(ROOT, ROOT, payload=_claims(public(ROOT))),), licverify.MalformedError),
        ((rollover(ROOT, ROOT2, payload=b"\xa0"),), licverify.MalformedError),
    ],
    ids=["five-links", "certificate-kind", "a-certificate", "itself", "empty-payload"],
)
def test_malformed_chains_are_refused(links: tuple[bytes, ...], error: type[Exception]) -> None:
    if len(links) > F.MAX_ROLLOVERS:
        document = _with_raw_links(license_under(ROOT2, CHAIN[:1]), links)
    else:
        document = license_under(ROOT2, links)
    with pytest.raises(error):
        verify(document, ROOT)


def _with_raw_links(document: bytes, links: tuple[bytes, ...]) -> bytes:
    """Replace the one-link array by ``links`` (the encoder refuses more than four)."""
    one = b"\x81" + CHAIN[0]
    assert one in document
    return document.replace(one, bytes([0x80 | len(links)]) + b"".join(links))


def test_an_embedded_link_may_embed_nothing() -> None:
    inner = F.encode_sign1(
        F.ROOT_ROLLOVER, F.key_id(public(ROOT)), F.parse_unverified(CHAIN[0]).payload,
        signer(ROOT), UnsafeFactory().certificate(),
    )  # fmt: skip
    document = _with_raw_links(license_under(ROOT2, CHAIN[:1]), (inner,))
    with pytest.raises(licverify.MalformedError, match="empty unprotected header"):
        verify(document, ROOT)


def test_rollovers_need_a_certificate_and_fit_four() -> None:
    with pytest.raises(ValueError, match="certificate"):
        F.encode_sign1(F.LICENSE, bytes(16), b"\xa0", signer(ISSUING), None, CHAIN)
    with pytest.raises(ValueError, match="at most 4"):
        F.encode_sign1(F.LICENSE, bytes(16), b"\xa0", signer(ISSUING), b"x", CHAIN * 3)


def test_the_rollover_payload_round_trips_and_is_strict() -> None:
    info = F.RootRollover(public(ROOT2), F.key_id(public(ROOT)), T0)
    payload = F.encode_rollover_payload(info)
    assert F.decode_rollover_payload(payload, info.previous_key_id) == info
    assert info.to_json()["key_id"] == F.key_id(public(ROOT2)).hex()
    from licverify._cbor import decode_canonical, encode_canonical

    claims = decode_canonical(payload, "test")
    for change, error in (
        ({7: 1}, licverify.UnsupportedError),
        ({-65537: {"v": 2, "x": 1}}, licverify.UnsupportedError),
        ({-65537: {"v": 1}}, licverify.UnsupportedError),
        ({6: -1}, licverify.MalformedError),
    ):
        with pytest.raises(error):
            F.decode_rollover_payload(encode_canonical({**claims, **change}), info.previous_key_id)


# --- the issuer and the machines (both engines) --------------------------------------------------


def test_rotate_root_reaches_machines_pinning_the_first_root(vendor: Vendor) -> None:
    old = vendor.issue("perpetual")
    first_root = vendor.roots[0]
    done = rotate_root(vendor.ws, lambda: PW, PW, now=vendor.now)
    assert done.rollover.previous_key_id == F.key_id(first_root)
    listed = {k.key_id: (k.role, k.status) for k in keys(vendor.ws, now=vendor.now)}
    assert listed[F.key_id(first_root).hex()] == ("root", "retired")
    assert listed[done.rollover.key_id.hex()] == ("root", "active")
    assert all(listed[k] == ("issuing", "retired") for k in done.retired)
    new = vendor.issue("perpetual")
    assert F.parse_unverified(new.document).rollovers  # carries its rollover
    machine = vendor.machine("a")  # pins the first root only (vendor.roots)
    machine.activate(new)
    assert machine.check().id == new.id
    vendor.machine("b").activate(old)  # an old license still verifies
    revoke_license(vendor.ws, new.id, now=vendor.now)
    armored, _ = export_revocations(vendor.ws, lambda: PW, now=vendor.now)
    machine.store.import_revocations(armored, trusted_roots=vendor.roots, product=PRODUCT,
                                     now=vendor.now)  # fmt: skip
    with pytest.raises(licverify.RevokedError):
        machine.check()
    pem = trust_root(vendor.ws, "pem")
    assert licverify.load_public_keys(pem) == [first_root, done.rollover.public_key]
    assert verify_ledger(vendor.ws).ok


def test_a_second_rollover_chains_and_only_the_newest_four_ride(vendor: Vendor) -> None:
    for step in range(5):
        rotate_root(vendor.ws, lambda: PW, PW, now=vendor.now + timedelta(seconds=step))
    later = vendor.now + timedelta(minutes=1)
    lic = vendor.issue("perpetual", when=later, activation_required=False)
    assert len(F.parse_unverified(lic.document).rollovers) == F.MAX_ROLLOVERS
    roots = vendor.ws.root_public_keys()
    assert len(roots) == 6
    for pinned in roots[1:]:
        verifier = licverify.Verifier(trusted_roots=[pinned], product=PRODUCT)
        verifier.verify_license(lic.armored, now=later)
    # The first root is five rollovers away: past the four a document carries.
    with pytest.raises(licverify.UntrustedKeyError):
        licverify.Verifier(trusted_roots=[roots[0]], product=PRODUCT).verify_license(
            lic.armored, now=later
        )
    assert verify_ledger(vendor.ws).ok


def test_a_refused_rotation_changes_nothing(vendor: Vendor) -> None:
    before = vendor.ledger_dump(), snapshot(vendor.home + "/keys")
    with pytest.raises(WrongPassphraseError):
        rotate_root(vendor.ws, lambda: b"not the passphrase!", PW, now=vendor.now)
    with pytest.raises(InvalidInputError, match="positive"):
        rotate_root(vendor.ws, lambda: PW, PW, now=vendor.now, validity=timedelta(0))
    assert (vendor.ledger_dump(), snapshot(vendor.home + "/keys")) == before


def test_rotate_root_on_the_command_line(site: Site) -> None:
    site.issue_with("old.lic", "--type", "perpetual")
    done = json.loads(site.vendor_ok("key", "rotate-root", "--json").out)
    assert set(done) == {"root", "issuing_key", "retired_issuing_keys"}
    text = site.vendor_ok("key", "list").out
    assert done["root"]["key_id"] in text and "retired" in text
    site.issue_with("new.lic", "--type", "perpetual")
    assert site.check("new.lic").out.startswith("VALID")  # the first root only, in root.pem
    assert site.check("old.lic").out.startswith("VALID")
    hexed = site.vendor_ok("key", "export-public", "--format", "hex").out.split()
    assert hexed == [site.root.hex(), done["root"]["public_key"]]
    refused = site.licsign("key", "export-public", "--format", "raw", "-o", str(site.tmp / "r"))
    assert refused.code != 0 and "2 roots" in refused.err and "Traceback" not in refused.err
    site.vendor_ok("ledger", "verify")
    shown = site.licsign("inspect", str(site.tmp / "new.lic"))
    assert shown.code == 0, shown.err
    link = site.home / "keys" / f"root-{done['root']['key_id']}.rollover"
    inspected = site.licverify("inspect", str(link), "--trust", str(site.trust), "--json")
    assert inspected.code == 0, inspected
    report = json.loads(inspected.out)
    assert report["kind"] == "root-rollover" and report["verdict"] == "valid"
    assert report["fields"]["key_id"] == done["root"]["key_id"]
