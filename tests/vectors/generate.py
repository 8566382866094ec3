#!/usr/bin/env python3
"""Generate the licsign conformance vectors (STYLE §11 "Vectors are artifacts").

    python tests/vectors/generate.py          # rewrite tests/vectors/vectors.json
    python tests/vectors/generate.py --check  # exit 1 if the file on disk has drifted

Everything here is deterministic: keys come from fixed seeds, Ed25519
signatures are deterministic and payloads are deterministic CBOR, so the
output is byte-stable. Each invalid vector mutates (and where needed
re-signs) a valid document with exactly one defect (STYLE §12).

Expectations are written from the generator's own inputs (the terms it
signed, the time it picked), never by running the verifier, so the file is
a specification the verifier is tested against rather than a recording of
what it happens to do.

A second list, ``activation_vectors``, covers the activation documents of
format §11 (request, response, receipt, and a license checked with an
activation); their device keys, nonces and times are fixed too.

Self-contained on purpose: it imports only licverify, licverify.format,
nacl, cbor2 and the standard library, so another implementation's authors
can read it without the rest of the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2
import nacl.signing

from licverify import format as F

OUTPUT = Path(__file__).resolve().with_name("vectors.json")
FORMAT_NAME = "licsign-test-vectors-v2"  # format version 2 (kcwt as registered, ADR 0008)

DAY = 86400
#: The reference "now" of most vectors: 2026-09-21T14:13:20Z.
NOW = 1_790_000_000
PRODUCT = "acme-cad"

# CWT claim labels (RFC 8392 §3.1) and the private terms claim, as in format §7.
SUB, EXP, NBF, CTI, TERMS = 2, 4, 5, 7, -65537
# COSE_Key for the certificate's cnf claim (format §6; RFC 8747, RFC 9053 §7.2).
CNF, COSE_KEY, KTY, KEY_ALG, CRV, X = 8, 1, 1, 3, -1, -2
OKP, ED25519, EDDSA, ES256 = 1, 6, -8, -7


# --- keys ----------------------------------------------------------------------------------


def key_from_seed(label: str) -> nacl.signing.SigningKey:
    """A deterministic Ed25519 key. These private keys are public: never trust them."""
    return nacl.signing.SigningKey(
        hashlib.sha256(b"licsign-test-vector-key:" + label.encode()).digest()
    )


ROOT = key_from_seed("root")
ISSUING = key_from_seed("issuing")
OTHER_ROOT = key_from_seed("other-root")
OTHER_ISSUING = key_from_seed("other-issuing")

#: The identity point (y = 1): order 1. With signature R = identity, S = 0 it
#: "verifies" any message under lenient verifiers (DESIGN §2); libsodium and
#: licverify refuse the key itself.
IDENTITY_POINT = (1).to_bytes(32, "little")
IDENTITY_SIGNATURE = IDENTITY_POINT + bytes(32)


def pub(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def signer(key: nacl.signing.SigningKey) -> Callable[[bytes], bytes]:
    return lambda message: key.sign(message).signature


# --- documents -----------------------------------------------------------------------------

#: The issuing key's certificate window: two years back, three years ahead of NOW.
CERT_NOT_BEFORE = NOW - 2 * 365 * DAY
CERT_NOT_AFTER = NOW + 3 * 365 * DAY


def certificate(
    issuing_public: bytes = pub(ISSUING),
    *,
    products: tuple[str, ...] | None = None,
    root: nacl.signing.SigningKey = ROOT,
    kid: bytes | None = None,
) -> bytes:
    """An issuing-key certificate signed by ``root`` (kid defaults to the root's key id)."""
    info = F.IssuingCertificate(
        issuing_public,
        CERT_NOT_BEFORE,
        CERT_NOT_AFTER,
        CERT_NOT_BEFORE,
        products,
        F.key_id(pub(root)),
    )
    payload = F.encode_certificate_payload(info)
    return F.encode_sign1(F.ISSUING_CERTIFICATE, kid or F.key_id(pub(root)), payload, signer(root))


def raw_certificate_payload(issuing_public: bytes) -> bytes:
    """A certificate payload built by hand, bypassing the encoder's key check (format §6)."""
    claims = {
        NBF: CERT_NOT_BEFORE,
        EXP: CERT_NOT_AFTER,
        6: CERT_NOT_BEFORE,
        CNF: {COSE_KEY: {KTY: OKP, KEY_ALG: EDDSA, CRV: ED25519, X: issuing_public}},
        TERMS: {"v": 2},
    }
    return F.encode_canonical(claims)


def v1_certificate() -> bytes:
    """A format-version-1 certificate (terms v 1), as version 1 embedded it: its bytes."""
    claims = cbor2.loads(raw_certificate_payload(pub(ISSUING)))
    claims[TERMS]["v"] = 1
    return sign1(
        {1: EDDSA, 3: F.ISSUING_CERTIFICATE.content_type, 4: F.key_id(pub(ROOT))},
        {},
        F.encode_canonical(claims),
        signer(ROOT),
    )


DEFAULT_CERTIFICATE = certificate()
#: The value of kcwt (label 13) as cbor2 decodes it: the certificate's COSE_Sign1 itself
#: (tag 18), which kcwt carries as registered (RFC 9528 §3.5.3.1; format §4.3).
KCWT = cbor2.loads(DEFAULT_CERTIFICATE)


def terms(**overrides: Any) -> F.LicenseTerms:
    """Valid time-limited terms for ``acme-cad``, issued 30 days before NOW; override any field."""
    issued = NOW - 30 * DAY
    fields: dict[str, Any] = dict(
        id="L-VECT-0000-0001",
        version=1,
        issuer="Acme Inc.",
        customer="globex",
        product=PRODUCT,
        type="time-limited",
        issued_at=issued,
        not_before=issued,
        expires=issued + 365 * DAY,
        grace_seconds=0,
        features={"export-step": None, "seats": 5},
        max_version=None,
        maintenance_end=None,
        limits=F.Limits(),
        allowed_users=(),
        allowed_devices=(),
        device_match="all",
        activation_required=False,
        counters={},
        lease_seconds=None,
        refresh_seconds=None,
        metadata={},
        extensions={},
    )
    fields.update(overrides)
    return F.LicenseTerms(**fields)


def license_document(
    t: F.LicenseTerms | None = None,
    *,
    payload: bytes | None = None,
    key: nacl.signing.SigningKey = ISSUING,
    kid: bytes | None = None,
    cert: bytes | None = DEFAULT_CERTIFICATE,
    kind: F.Kind = F.LICENSE,
    rollovers: tuple[bytes, ...] = (),
) -> bytes:
    """A license signed with the format's own encoder; ``payload`` signs any bytes as is."""
    if payload is None:
        payload = F.encode_license_payload(t or terms())
    return F.encode_sign1(kind, kid or F.key_id(pub(key)), payload, signer(key), cert, rollovers)


NEXT_ROOT = key_from_seed("next-root")
THIRD_ROOT = key_from_seed("third-root")


def rollover(old: nacl.signing.SigningKey, new: nacl.signing.SigningKey) -> bytes:
    """A root rollover (format §6.5): ``old`` vouches for ``new``, a year before NOW."""
    info = F.RootRollover(pub(new), F.key_id(pub(old)), NOW - 365 * DAY)
    return F.encode_sign1(
        F.ROOT_ROLLOVER, F.key_id(pub(old)), F.encode_rollover_payload(info), signer(old)
    )


ROLLOVERS = (rollover(ROOT, NEXT_ROOT), rollover(NEXT_ROOT, THIRD_ROOT))


def sign1(
    protected: dict[int, Any],
    unprotected: dict[int, Any],
    payload: bytes,
    sign: Callable[[bytes], bytes],
) -> bytes:
    """A COSE_Sign1 (RFC 9052 §4.2) assembled with cbor2, for header defects."""
    protected_bytes = cbor2.dumps(protected, canonical=True)
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    signature = sign(to_be_signed)
    return cbor2.dumps(
        cbor2.CBORTag(18, [protected_bytes, unprotected, payload, signature]), canonical=True
    )


def license_header(alg: int = EDDSA, extra: dict[int, Any] | None = None) -> dict[int, Any]:
    """The protected header of a license signed by ISSUING, with optional extra parameters."""
    header = {1: alg, 3: F.LICENSE.content_type, 4: F.key_id(pub(ISSUING))}
    header.update(extra or {})
    return header


def payload_with(
    mutate: Callable[[dict[Any, Any]], None], t: F.LicenseTerms | None = None
) -> bytes:
    """The canonical payload of ``t`` after ``mutate`` edits the decoded claims."""
    claims = cbor2.loads(F.encode_license_payload(t or terms()))
    mutate(claims)
    return F.encode_canonical(claims)


def fingerprint(machine: str, **replaced: str) -> dict[str, bytes]:
    """A machine fingerprint: four 16-byte component digests derived from ``machine``."""
    parts = {name: f"{machine}/{name}" for name in ("cpu", "hostname", "mac", "machine-id")}
    parts.update({k.replace("_", "-"): v for k, v in replaced.items()})
    return {name: hashlib.sha256(value.encode()).digest()[:16] for name, value in parts.items()}


def flip_bit(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def iso(seconds: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- vectors -------------------------------------------------------------------------------

VECTORS: list[dict[str, Any]] = []


def add(
    name: str,
    description: str,
    document: bytes,
    *,
    now: int = NOW,
    product: str = PRODUCT,
    roots: tuple[bytes, ...] = (pub(ROOT),),
    app_version: str | None = None,
    machine: dict[str, bytes] | None = None,
    error: str | None = None,
    valid: F.LicenseTerms | None = None,
    grace_days_left: int | None = None,
    binary: bytes | None = None,
    issuing_public: bytes = pub(ISSUING),
) -> None:
    """Record one vector: ``error`` (a code) or ``valid`` (the terms it must verify to)."""
    if any(v["name"] == name for v in VECTORS):
        raise SystemExit(f"duplicate vector name {name!r}")
    if (error is None) == (valid is None):
        raise SystemExit(f"vector {name!r} needs exactly one of error and valid")
    vector: dict[str, Any] = {
        "name": name,
        "description": description,
        "now": iso(now),
        "product": product,
        "trusted_roots": [r.hex() for r in roots],
        "document": document.hex(),
    }
    if app_version is not None:
        vector["app_version"] = app_version
    if machine is not None:
        vector["fingerprint"] = {k: v.hex() for k, v in sorted(machine.items())}
    if error is not None:
        vector["error"] = error
    else:
        assert valid is not None
        # Status from the generator's own arithmetic (format §9): grace after expiry, then
        # maintained (at_expiry "maintain") past the grace period.
        maintained = valid.expires is not None and now >= valid.expires + valid.grace_seconds
        if maintained and valid.at_expiry != "maintain":
            raise SystemExit(f"vector {name!r}: expired, so it cannot be valid")
        in_grace = valid.expires is not None and now >= valid.expires and not maintained
        expected = F.terms_to_json(valid)
        expected.update(
            status="maintained" if maintained else "grace" if in_grace else "valid",
            grace_days_left=grace_days_left,
            key_id=F.key_id(issuing_public).hex(),
            activation=None,  # license vectors carry no activation (format §11.4)
            digest=hashlib.sha256(binary if binary is not None else document).hexdigest(),
        )
        if in_grace:
            assert valid.expires is not None
            left = -(-(valid.expires + valid.grace_seconds - now) // DAY)  # whole days, rounded up
            if grace_days_left != left:
                raise SystemExit(f"vector {name!r}: grace_days_left should be {left}")
        elif grace_days_left is not None:
            raise SystemExit(f"vector {name!r}: grace_days_left given outside grace")
        vector["expected"] = {
            "status": expected["status"],
            "grace_days_left": grace_days_left,
            "terms": expected,
        }
    VECTORS.append(vector)


def valid_vectors() -> None:
    by_type: dict[str, F.LicenseTerms] = {
        "perpetual": terms(
            id="L-VECT-PERP-0001",
            type="perpetual",
            expires=None,
            max_version="2.4",
            maintenance_end=NOW + 200 * DAY,
        ),
        "time-limited": terms(id="L-VECT-TIME-0001"),
        "subscription": terms(
            id="L-VECT-SUBS-0001",
            type="subscription",
            grace_seconds=14 * DAY,
        ),
        "trial": terms(
            id="L-VECT-TRIA-0001",
            type="trial",
            issued_at=NOW - 2 * DAY,
            not_before=NOW - 2 * DAY,
            expires=NOW + 28 * DAY,
            features={"export-step": None},
        ),
        "consumption": terms(
            id="L-VECT-CONS-0001",
            type="consumption",
            expires=None,
            counters={"api-calls": F.Counter(10_000, 500), "exports": F.Counter(100)},
        ),
        # A floating license needs activation (format §7.2): see activation-valid-floating.
    }
    for license_type, t in by_type.items():
        add(
            f"valid-{license_type}",
            f"A {license_type} license, valid at 'now'.",
            license_document(t),
            valid=t,
        )

    t = terms(
        id="L-VECT-GRAC-0001",
        type="subscription",
        issued_at=NOW - 365 * DAY,
        not_before=NOW - 365 * DAY,
        expires=NOW - 3 * DAY - 3600,
        grace_seconds=14 * DAY,
    )
    add(
        "grace-days-left",
        "Expired 3 days and 1 hour ago with 14 days of grace: status grace, "
        "10 days 23 hours left, rounded up to 11.",
        license_document(t),
        valid=t,
        grace_days_left=11,
    )

    t = terms(id="L-VECT-GRAC-0002", expires=NOW, grace_seconds=DAY)
    add(
        "grace-at-exact-expiry",
        "At exactly the expiry time the license is in grace (expiry is "
        "exclusive); one whole day left.",
        license_document(t),
        valid=t,
        grace_days_left=1,
    )

    t = terms(id="L-VECT-NBF-0001", issued_at=NOW - DAY, not_before=NOW)
    add(
        "valid-at-exact-not-before",
        "Valid from exactly 'now' (not-before is inclusive).",
        license_document(t),
        valid=t,
    )

    t = terms(id="L-VECT-XEXT-0001", extensions={"x-acme-region": "eu", "x-acme-tier": 2})
    add(
        "extension-x-accepted",
        "Unknown terms named x-... are non-critical: accepted and returned as extensions.",
        license_document(t),
        valid=t,
    )

    t = terms(
        id="L-VECT-META-0001", metadata={"order": "PO-1234", "renewal": True, "seats-paid": 5}
    )
    add("valid-metadata", "Free-form metadata is returned as is.", license_document(t), valid=t)

    t = terms(id="L-VECT-GATE-0001", type="perpetual", expires=None, max_version="2.4")
    add(
        "version-allowed",
        "Application 2.4.0 runs under a license for versions up to 2.4.",
        license_document(t),
        valid=t,
        app_version="2.4.0",
    )

    device = fingerprint("workstation-1")
    t = terms(id="L-VECT-DEV-0001", allowed_devices=(device,))
    add(
        "device-bound-match",
        "Bound to one device; every component matches.",
        license_document(t),
        valid=t,
        machine=device,
    )

    t = terms(id="L-VECT-DEV-0002", allowed_devices=(device,), device_match="most")
    add(
        "device-bound-most-one-changed",
        "device_match 'most': a replaced NIC (3 of 4 components match) still passes.",
        license_document(t),
        valid=t,
        machine=fingerprint("workstation-1", mac="replaced-nic"),
    )

    t = terms(id="L-VECT-PROD-0001")
    doc = license_document(t, cert=certificate(products=(PRODUCT, "acme-viewer")))
    add(
        "valid-certificate-restricted-products",
        "The issuing key may sign for a list of products that includes this one.",
        doc,
        valid=t,
    )

    t = terms(id="L-VECT-ROOT-0001")
    add(
        "valid-second-trusted-root",
        "The application trusts two roots (rollover); the license chains to the second.",
        license_document(t),
        valid=t,
        roots=(pub(OTHER_ROOT), pub(ROOT)),
    )

    t = terms(id="L-VECT-KCWT-0001")
    doc = license_document(t)
    assert doc.count(b"\xa1\x0d" + DEFAULT_CERTIFICATE) == 1
    add(
        "valid-kcwt-embedded",
        "The unprotected header is {13: certificate}, the certificate's tagged COSE_Sign1 "
        "embedded directly (a1 0d d2 84 ...), as kcwt is registered (RFC 9528 §3.5.3.1). "
        "Every license and response vector has this layout.",
        doc,
        valid=t,
    )

    t = terms(id="L-VECT-ROLL-0001")
    add(
        "valid-root-rollover",
        "Certified by a root the application does not pin, reached from the pinned root "
        "through the two root rollovers under header label -65537 (format §6.5).",
        license_document(t, cert=certificate(root=THIRD_ROOT), rollovers=ROLLOVERS),
        valid=t,
    )
    t = terms(id="L-VECT-ROLL-0002")
    add(
        "valid-root-rollover-pinned-later",
        "The same chain; the application pins the middle root, so only the second "
        "rollover is walked.",
        license_document(t, cert=certificate(root=THIRD_ROOT), rollovers=ROLLOVERS),
        roots=(pub(NEXT_ROOT),),
        valid=t,
    )

    t = terms(id="L-VECT-ARMR-0001")
    binary = license_document(t)
    add(
        "valid-armored",
        "The armored text form (document is the hex of the ASCII text); the "
        "digest is of the binary document inside.",
        F.armor(binary, F.LICENSE),
        valid=t,
        binary=binary,
    )


def invalid_vectors() -> None:
    base_terms = terms(id="L-VECT-BAD-0001")
    base = license_document(base_terms)

    # --- time
    t = terms(
        id="L-VECT-EXP-0001",
        type="subscription",
        issued_at=NOW - 400 * DAY,
        not_before=NOW - 400 * DAY,
        expires=NOW - 30 * DAY,
        grace_seconds=14 * DAY,
    )
    add(
        "expired",
        "Expired 30 days ago; its 14-day grace ended 16 days ago.",
        license_document(t),
        error="expired",
    )
    t = terms(id="L-VECT-EXP-0002", expires=NOW)
    add(
        "expired-at-exact-expiry",
        "No grace: at exactly the expiry time it is expired.",
        license_document(t),
        error="expired",
    )
    t = terms(id="L-VECT-EXP-0003", expires=NOW - DAY, grace_seconds=DAY)
    add(
        "expired-at-exact-grace-end",
        "Grace ends exactly at 'now': expired.",
        license_document(t),
        error="expired",
    )
    t = terms(id="L-VECT-NBF-0002", issued_at=NOW - DAY, not_before=NOW + 10 * DAY)
    add(
        "not-yet-valid",
        "Valid only from 10 days after 'now'.",
        license_document(t),
        error="not-yet-valid",
    )
    t = terms(id="L-VECT-NBF-0003", issued_at=NOW - DAY, not_before=NOW + 1)
    add(
        "not-yet-valid-one-second",
        "Valid from one second after 'now'.",
        license_document(t),
        error="not-yet-valid",
    )

    # --- product
    add(
        "wrong-product",
        "A valid license for acme-cad, presented to acme-viewer.",
        base,
        product="acme-viewer",
        error="wrong-product",
    )
    t = terms(id="L-VECT-PROD-0002", product="acme-viewer")
    doc = license_document(t, cert=certificate(products=(PRODUCT,)))
    add(
        "wrong-product-key-not-allowed",
        "The license names acme-viewer, but its issuing key may sign only for acme-cad.",
        doc,
        product="acme-viewer",
        error="wrong-product",
    )

    # --- trust chain
    add(
        "untrusted-root",
        "The certificate is signed by a root the application does not trust.",
        base,
        roots=(pub(OTHER_ROOT),),
        error="untrusted-key",
    )
    under_third = certificate(root=THIRD_ROOT)
    add(
        "untrusted-root-rollover-missing-link",
        "Certified by the third root, carrying only the second rollover: nothing the "
        "application pins leads to it.",
        license_document(base_terms, cert=under_third, rollovers=ROLLOVERS[1:]),
        error="untrusted-key",
    )
    add(
        "untrusted-root-rollover-reordered",
        "The two rollovers in the wrong order: they do not form a chain.",
        license_document(base_terms, cert=under_third, rollovers=ROLLOVERS[::-1]),
        error="untrusted-key",
    )
    add(
        "bad-signature-root-rollover-bit",
        "The first rollover's signature with one bit flipped.",
        license_document(
            base_terms,
            cert=under_third,
            rollovers=(flip_bit(ROLLOVERS[0], len(ROLLOVERS[0]) - 1), ROLLOVERS[1]),
        ),
        error="bad-signature",
    )
    add(
        "untrusted-no-certificate",
        "Signed by the issuing key but carries no certificate.",
        license_document(base_terms, cert=None),
        error="untrusted-key",
    )
    add(
        "untrusted-signed-by-root-directly",
        "Signed by the trusted root key itself, with no "
        "certificate: roots only certify issuing keys.",
        license_document(base_terms, key=ROOT, cert=None),
        error="untrusted-key",
    )
    add(
        "untrusted-kid-not-certified",
        "Signed by another (uncertified) issuing key that names "
        "itself in kid; the embedded certificate is for a different key.",
        license_document(base_terms, key=OTHER_ISSUING),
        error="untrusted-key",
    )
    small = sign1(
        {1: EDDSA, 3: F.ISSUING_CERTIFICATE.content_type, 4: F.key_id(pub(ROOT))},
        {},
        raw_certificate_payload(IDENTITY_POINT),
        signer(ROOT),
    )
    doc = F.encode_sign1(
        F.LICENSE,
        F.key_id(IDENTITY_POINT),
        F.encode_license_payload(base_terms),
        lambda m: IDENTITY_SIGNATURE,
        small,
    )
    add(
        "untrusted-small-order-issuing-key",
        "The trusted root certified the identity point as an "
        "issuing key; the license's signature is (R = identity, S = 0), which lenient verifiers "
        "accept for any message. The key must be refused.",
        doc,
        error="untrusted-key",
    )
    t = terms(
        id="L-VECT-WIN-0001",
        issued_at=CERT_NOT_BEFORE - DAY,
        not_before=CERT_NOT_BEFORE - DAY,
        expires=NOW + 365 * DAY,
    )
    add(
        "untrusted-issued-before-certificate",
        "Issued (backdated) one day before the issuing key's certificate starts.",
        license_document(t),
        error="untrusted-key",
    )
    t = terms(
        id="L-VECT-WIN-0002",
        issued_at=CERT_NOT_AFTER + 1,
        not_before=NOW - DAY,
        expires=CERT_NOT_AFTER + 365 * DAY,
    )
    add(
        "untrusted-issued-after-certificate",
        "Issued one second after the issuing key's certificate ended.",
        license_document(t),
        error="untrusted-key",
    )

    # --- signatures
    add(
        "bad-signature",
        "The license's signature with one bit flipped.",
        flip_bit(base, len(base) - 1),
        error="bad-signature",
    )
    payload = F.encode_license_payload(base_terms)
    at = base.index(payload)
    assert payload.count(b"globex") == 1
    add(
        "bad-signature-payload-bit",
        "One bit of the payload flipped (in the customer id), not re-signed.",
        base[:at] + payload.replace(b"globex", b"globey") + base[at + len(payload) :],
        error="bad-signature",
    )
    add(
        "bad-signature-wrong-issuing-key",
        "kid and certificate name the issuing key, but another key signed.",
        license_document(base_terms, key=OTHER_ISSUING, kid=F.key_id(pub(ISSUING))),
        error="bad-signature",
    )
    forged = certificate(root=OTHER_ROOT, kid=F.key_id(pub(ROOT)))
    add(
        "bad-signature-certificate-forged",
        "The certificate claims the trusted root's kid but was signed by another root.",
        license_document(base_terms, cert=forged),
        error="bad-signature",
    )
    cert_flipped = flip_bit(DEFAULT_CERTIFICATE, len(DEFAULT_CERTIFICATE) - 1)
    add(
        "bad-signature-certificate-bit",
        "The embedded certificate's signature with one bit flipped.",
        license_document(base_terms, cert=cert_flipped),
        error="bad-signature",
    )

    # --- kind
    add(
        "wrong-kind-certificate",
        "An issuing-key certificate presented as a license.",
        DEFAULT_CERTIFICATE,
        error="wrong-kind",
    )
    add(
        "wrong-kind-certificate-content-type",
        "License terms, signed by the issuing key, but the "
        "protected header names the certificate kind.",
        license_document(base_terms, kind=F.ISSUING_CERTIFICATE),
        error="wrong-kind",
    )

    # --- envelope shape
    add("malformed-truncated", "The license without its last byte.", base[:-1], error="malformed")
    add(
        "malformed-trailing-byte",
        "The license followed by one extra byte.",
        base + b"\x00",
        error="malformed",
    )
    add("malformed-empty", "Zero bytes.", b"", error="malformed")
    add(
        "malformed-untagged",
        "The COSE_Sign1 array without CBOR tag 18.",
        base[1:],
        error="malformed",
    )
    doc = sign1(
        license_header(),
        {13: KCWT, 4: F.key_id(pub(ISSUING))},
        payload,
        signer(ISSUING),
    )
    add(
        "malformed-unprotected-extra-header",
        "The unprotected header holds a kid besides the "
        "certificate (only the certificate is allowed there).",
        doc,
        error="malformed",
    )
    add(
        "malformed-armor-label-mismatch",
        "A license inside a certificate's armor.",
        F.armor(base, F.ISSUING_CERTIFICATE),
        error="malformed",
    )

    # --- payload encoding (each re-signed, so only strict decoding catches it)
    def resigned(p: bytes) -> bytes:
        return license_document(payload=p)

    claims = cbor2.loads(payload)
    unsorted = cbor2.dumps(dict(reversed(list(claims.items()))))
    assert unsorted != payload and cbor2.loads(unsorted) == claims
    add(
        "malformed-payload-unsorted",
        "The same claims with map keys in reverse order, re-signed (not deterministic CBOR).",
        resigned(unsorted),
        error="malformed",
    )
    assert payload.count(b"gversion\x01") == 1
    add(
        "malformed-payload-nonminimal-integer",
        "version 1 encoded in two bytes (0x18 0x01), re-signed.",
        resigned(payload.replace(b"gversion\x01", b"gversion\x18\x01")),
        error="malformed",
    )
    assert 0xA0 <= payload[0] < 0xB7
    duplicate = bytes([payload[0] + 1]) + payload[1:] + cbor2.dumps(SUB) + cbor2.dumps("mallory")
    add(
        "malformed-payload-duplicate-claim",
        "A second sub (customer) claim appended, re-signed; a lenient decoder keeps the last one.",
        resigned(duplicate),
        error="malformed",
    )
    add(
        "malformed-payload-trailing-byte",
        "One byte after the claims map, re-signed.",
        resigned(payload + b"\x00"),
        error="malformed",
    )
    indefinite = b"\xbf" + payload[1:] + b"\xff"
    add(
        "malformed-payload-indefinite-map",
        "The claims map with indefinite length, re-signed.",
        resigned(indefinite),
        error="malformed",
    )
    expires = base_terms.expires
    assert expires is not None
    tagged = payload_with(lambda c: c.__setitem__(EXP, cbor2.CBORTag(1, expires)))
    add(
        "malformed-payload-tagged-time",
        "The expiry wrapped in CBOR tag 1 (epoch time), re-signed.",
        resigned(tagged),
        error="malformed",
    )
    add(
        "malformed-payload-self-describe-tag",
        "The claims map wrapped in tag 55799 (self-described "
        "CBOR), which cbor2 strips silently; re-signed.",
        resigned(b"\xd9\xd9\xf7" + payload),
        error="malformed",
    )
    add(
        "malformed-payload-not-a-map",
        "The payload is a CBOR array, re-signed.",
        resigned(cbor2.dumps([1, 2, 3])),
        error="malformed",
    )
    add(
        "malformed-expiry-before-start",
        "Expires before it starts, re-signed.",
        resigned(payload_with(lambda c: c.__setitem__(EXP, c[NBF] - 1))),
        error="malformed",
    )
    add(
        "malformed-perpetual-with-expiry",
        "A perpetual license with an expiry, re-signed.",
        resigned(payload_with(lambda c: c[TERMS].__setitem__("type", "perpetual"))),
        error="malformed",
    )

    # --- null is never a second way to say "absent" (format §3.1, §7.1)
    perpetual = terms(id="L-VECT-NULL-0001", type="perpetual", expires=None)
    for claim, label, t in (("iss", 1, None), ("nbf", NBF, None), ("exp", EXP, perpetual)):
        add(
            f"malformed-null-{claim}",
            f"The {claim} claim present as null, re-signed; otherwise valid terms. An optional "
            "claim is absent or holds a value.",
            resigned(payload_with(lambda c, k=label: c.__setitem__(k, None), t)),
            error="malformed",
        )
    for term, t in (("lease", None), ("refresh", terms(activation_required=True))):
        add(
            f"malformed-null-{term}",
            f"The {term} term present as null on a license that has none, re-signed.",
            resigned(payload_with(lambda c, k=term: c[TERMS].__setitem__(k, None), t)),
            error="malformed",
        )

    # --- enforced only through activation: they need activation_required (format §7.2)
    needs = {
        "limit": ("limits", {"devices": 2}),
        "users": ("users", ["alice@globex.example"]),
        "refresh": ("refresh", 30 * DAY),
    }
    for name, (term, value) in needs.items():
        add(
            f"malformed-{name}-without-activation",
            f"A {term} term on a license without activation_required, re-signed: only the "
            "activation exchange can enforce it.",
            resigned(payload_with(lambda c, k=term, v=value: c[TERMS].__setitem__(k, v))),
            error="malformed",
        )

    def floating(c: dict[Any, Any]) -> None:
        c[TERMS].update(type="floating", lease=3600)

    add(
        "malformed-floating-without-activation",
        "A floating license (with its lease) without activation_required, re-signed.",
        resigned(payload_with(floating)),
        error="malformed",
    )
    add(
        "malformed-refresh-below-an-hour",
        "A refresh term of 3599 seconds (the minimum is 3600), re-signed.",
        resigned(
            payload_with(
                lambda c: c[TERMS].__setitem__("refresh", 3599), terms(activation_required=True)
            )
        ),
        error="malformed",
    )

    # --- kcwt holds the certificate's COSE_Sign1 itself (format §4.3, RFC 9528 §3.5.3.1)
    untagged = cbor2.loads(DEFAULT_CERTIFICATE).value
    add(
        "malformed-kcwt-untagged",
        "kcwt holds the certificate's array without tag 18.",
        sign1(license_header(), {13: untagged}, payload, signer(ISSUING)),
        error="malformed",
    )
    nested = cbor2.CBORTag(18, [untagged[0], {13: KCWT}, untagged[2], untagged[3]])
    add(
        "malformed-kcwt-certificate-with-unprotected-header",
        "The certificate in kcwt has a non-empty unprotected header (itself a kcwt): a "
        "certificate embeds nothing.",
        sign1(license_header(), {13: nested}, payload, signer(ISSUING)),
        error="malformed",
    )
    add(
        "unsupported-kcwt-wrapped-in-bstr",
        "kcwt holds the (version 2) certificate wrapped in a byte string, the layout of format "
        "version 1: refused as unsupported.",
        sign1(license_header(), {13: DEFAULT_CERTIFICATE}, payload, signer(ISSUING)),
        error="unsupported",
    )

    # --- unsupported
    add(
        "unsupported-alg-es256",
        "Protected header says alg -7 (ES256); only EdDSA (-8) is "
        "pinned. Signed with Ed25519 all the same.",
        sign1(license_header(alg=ES256), {13: KCWT}, payload, signer(ISSUING)),
        error="unsupported",
    )
    add(
        "unsupported-crit-header",
        "Protected header marks a parameter critical (label 2).",
        sign1(license_header(extra={2: [4]}), {13: KCWT}, payload, signer(ISSUING)),
        error="unsupported",
    )
    unknown_kind = {1: EDDSA, 3: "application/vnd.licsign.coupon+cbor", 4: F.key_id(pub(ISSUING))}
    add(
        "unsupported-content-type",
        "Protected header names a document kind that does not exist.",
        sign1(unknown_kind, {13: KCWT}, payload, signer(ISSUING)),
        error="unsupported",
    )
    add(
        "unsupported-format-version-1",
        "Terms say format version 1 (the previous version), re-signed.",
        resigned(payload_with(lambda c: c[TERMS].__setitem__("v", 1))),
        error="unsupported",
    )
    add(
        "unsupported-format-version-3",
        "Terms say format version 3, re-signed.",
        resigned(payload_with(lambda c: c[TERMS].__setitem__("v", 3))),
        error="unsupported",
    )
    add(
        "unsupported-format-version-1-document",
        "A whole format-version-1 license: payload and certificate say v 1 and kcwt holds the "
        "certificate wrapped in a byte string, as version 1 did. Refused as unsupported.",
        sign1(
            license_header(),
            {13: v1_certificate()},
            payload_with(lambda c: c[TERMS].__setitem__("v", 1)),
            signer(ISSUING),
        ),
        error="unsupported",
    )
    add(
        "unsupported-critical-term",
        "An unknown term without the x- prefix is critical, re-signed.",
        resigned(payload_with(lambda c: c[TERMS].__setitem__("seats-v2", 10))),
        error="unsupported",
    )
    add(
        "unsupported-unknown-claim",
        "An unknown CWT claim (label 9), re-signed.",
        resigned(payload_with(lambda c: c.__setitem__(9, "x"))),
        error="unsupported",
    )

    # --- version gate, machine, activation
    t = terms(id="L-VECT-GATE-0002", type="perpetual", expires=None, max_version="2.4")
    add(
        "version-not-allowed",
        "Application 2.5 under a license for versions up to 2.4.",
        license_document(t),
        app_version="2.5",
        error="version-not-allowed",
    )
    device = fingerprint("workstation-1")
    t = terms(id="L-VECT-DEV-0003", allowed_devices=(device,))
    add(
        "wrong-machine",
        "Bound to workstation-1, presented on workstation-2.",
        license_document(t),
        machine=fingerprint("workstation-2"),
        error="wrong-machine",
    )
    add(
        "wrong-machine-one-changed",
        "device_match 'all' (the default): one replaced component fails.",
        license_document(t),
        machine=fingerprint("workstation-1", mac="replaced-nic"),
        error="wrong-machine",
    )
    add(
        "wrong-machine-no-fingerprint",
        "Bound to a device, and no fingerprint was given.",
        license_document(t),
        error="wrong-machine",
    )
    t = terms(id="L-VECT-ACT-0001", activation_required=True)
    add(
        "not-activated",
        "Requires activation; no activation is installed.",
        license_document(t),
        error="not-activated",
    )


# --- activation documents (format §11) -----------------------------------------------------
#
# Payloads are built here by hand from plain dicts (claims map, terms map) and
# encoded with the format's deterministic CBOR, so each expectation below is a
# transcription of the generator's inputs, not of licverify's decoders.

IAT = 6
ACTIVATION_VECTORS: list[dict[str, Any]] = []
OPERATIONS = (
    "verify_request",
    "verify_receipt",
    "verify_response",
    "verify_license_with_activation",
    "verify_usage_report",
    "verify_counter_refill",
    "verify_clock_reset",
)
#: The operations that verify against trusted roots, and those for one product.
_ROOTED = ("verify_response", "verify_license_with_activation", "verify_counter_refill",
           "verify_clock_reset")  # fmt: skip
_FOR_PRODUCT = ("verify_counter_refill", "verify_clock_reset")

DEVICE = key_from_seed("device")
OTHER_DEVICE = key_from_seed("other-device")
#: An issuing key certified only for acme-viewer (format §6.4 products).
VIEWER_ISSUING = key_from_seed("viewer-issuing")


def kid_of(public: bytes) -> bytes:
    """Key id (format §6.1): the first 16 bytes of SHA-256 over the public key."""
    return hashlib.sha256(public).digest()[:16]


def nonce(label: str) -> bytes:
    """A fixed 16-byte nonce (the store draws them at random; vectors may not)."""
    return hashlib.sha256(b"licsign-test-vector-nonce:" + label.encode()).digest()[:16]


#: The license being activated: requires activation and limits seats (format §7.2), valid at NOW.
ACT_TERMS = terms(
    id="L-VECT-ACTV-0001",
    activation_required=True,
    limits=F.Limits(max_devices=5, max_users=5, max_devices_per_user=2, max_transfers=3),
)
ACT_LICENSE = license_document(ACT_TERMS)
ACT_DIGEST = hashlib.sha256(ACT_LICENSE).digest()
MACHINE = fingerprint("workstation-1")
REQUEST_NONCE = nonce("request-1")
LEASE_END = NOW + 7 * DAY


def request_fields(**overrides: Any) -> dict[str, Any]:
    """The inputs of a valid activation request (format §11.1); override any."""
    fields: dict[str, Any] = dict(
        created_at=NOW - 2 * 3600,
        nonce=REQUEST_NONCE,
        license=ACT_TERMS.id,
        license_digest=ACT_DIGEST,
        product=PRODUCT,
        device_key=pub(DEVICE),
        fingerprint=MACHINE,
        label="Alice\u2019s laptop",
        user="alice@globex.example",
        code="ACT-7Q2M-91XZ",
    )
    fields.update(overrides)
    return fields


def request_claims(r: dict[str, Any]) -> dict[Any, Any]:
    t: dict[str, Any] = {
        "v": 2,
        "license": r["license"],
        "license_digest": r["license_digest"],
        "product": r["product"],
        "device_key": r["device_key"],
        "fingerprint": dict(r["fingerprint"]),
        "label": r["label"],
    }
    for optional in ("user", "code"):
        if r[optional] is not None:
            t[optional] = r[optional]
    return {IAT: r["created_at"], CTI: r["nonce"], TERMS: t}


def request_json(r: dict[str, Any]) -> dict[str, Any]:
    """ActivationRequest.to_json() for these inputs."""
    return {
        "license": r["license"],
        "license_digest": r["license_digest"].hex(),
        "product": r["product"],
        "device_id": kid_of(r["device_key"]).hex(),
        "device_key": r["device_key"].hex(),
        "nonce": r["nonce"].hex(),
        "created_at": iso(r["created_at"]),
        "label": r["label"],
        "user": r["user"],
        "code": r["code"],
        "fingerprint": {k: v.hex() for k, v in r["fingerprint"].items()},
    }


def response_fields(**overrides: Any) -> dict[str, Any]:
    """The inputs of a valid activation response (format §11.2); override any."""
    fields: dict[str, Any] = dict(
        activation="A-VECT-0001",
        issued_at=NOW - 3600,
        lease_expires=LEASE_END,
        license=ACT_TERMS.id,
        license_digest=ACT_DIGEST,
        nonce=REQUEST_NONCE,
        device_key=pub(DEVICE),
        fingerprint=MACHINE,
        user="alice@globex.example",
        license_expires=None,
        counters=None,
    )
    fields.update(overrides)
    return fields


def response_claims(r: dict[str, Any]) -> dict[Any, Any]:
    t: dict[str, Any] = {
        "v": 2,
        "license": r["license"],
        "license_digest": r["license_digest"],
        "nonce": r["nonce"],
        "device_key": r["device_key"],
        "fingerprint": dict(r["fingerprint"]),
    }
    if r["user"] is not None:
        t["user"] = r["user"]
    if r["license_expires"] is not None:
        t["license_expires"] = r["license_expires"]
    if r["counters"] is not None:
        t["counters"] = dict(r["counters"])
    claims: dict[Any, Any] = {IAT: r["issued_at"], CTI: r["activation"].encode("ascii"), TERMS: t}
    if r["lease_expires"] is not None:
        claims[EXP] = r["lease_expires"]
    return claims


def response_json(r: dict[str, Any]) -> dict[str, Any]:
    """ActivationResponse.to_json() for these inputs (counters only when granted)."""
    out = {
        "activation": r["activation"],
        "license": r["license"],
        "license_digest": r["license_digest"].hex(),
        "device_id": kid_of(r["device_key"]).hex(),
        "device_key": r["device_key"].hex(),
        "nonce": r["nonce"].hex(),
        "issued_at": iso(r["issued_at"]),
        "lease_expires": None if r["lease_expires"] is None else iso(r["lease_expires"]),
        "license_expires": None if r["license_expires"] is None else iso(r["license_expires"]),
        "user": r["user"],
        "fingerprint": {k: v.hex() for k, v in r["fingerprint"].items()},
    }
    if r["counters"] is not None:
        out["counters"] = dict(r["counters"])
    return out


def receipt_fields(**overrides: Any) -> dict[str, Any]:
    """The inputs of a valid deactivation receipt (format §11.3); override any."""
    fields: dict[str, Any] = dict(
        created_at=NOW,
        nonce=nonce("receipt-1"),
        license=ACT_TERMS.id,
        license_digest=ACT_DIGEST,
        activation="A-VECT-0001",
        device_key=pub(DEVICE),
    )
    fields.update(overrides)
    return fields


def receipt_claims(r: dict[str, Any]) -> dict[Any, Any]:
    t = {
        "v": 2,
        "license": r["license"],
        "license_digest": r["license_digest"],
        "activation": r["activation"],
        "device_key": r["device_key"],
    }
    return {IAT: r["created_at"], CTI: r["nonce"], TERMS: t}


def receipt_json(r: dict[str, Any]) -> dict[str, Any]:
    """DeactivationReceipt.to_json() for these inputs."""
    return {
        "activation": r["activation"],
        "license": r["license"],
        "license_digest": r["license_digest"].hex(),
        "device_id": kid_of(r["device_key"]).hex(),
        "device_key": r["device_key"].hex(),
        "nonce": r["nonce"].hex(),
        "created_at": iso(r["created_at"]),
    }


def device_signed(
    kind: F.Kind,
    claims: dict[Any, Any] | None = None,
    *,
    payload: bytes | None = None,
    key: nacl.signing.SigningKey = DEVICE,
    kid: bytes | None = None,
    cert: bytes | None = None,
) -> bytes:
    """A request or receipt: signed by ``key``, kid its key id, empty unprotected header."""
    if payload is None:
        assert claims is not None
        payload = F.encode_canonical(claims)
    return F.encode_sign1(kind, kid or kid_of(pub(key)), payload, signer(key), cert)


def response_document(
    claims: dict[Any, Any] | None = None,
    *,
    payload: bytes | None = None,
    key: nacl.signing.SigningKey = ISSUING,
    cert: bytes | None = DEFAULT_CERTIFICATE,
) -> bytes:
    """An activation response signed by an issuing key, its certificate in kcwt (label 13)."""
    if payload is None:
        assert claims is not None
        payload = F.encode_canonical(claims)
    return F.encode_sign1(F.ACTIVATION_RESPONSE, kid_of(pub(key)), payload, signer(key), cert)


def unsorted(claims: dict[Any, Any]) -> bytes:
    """The claims with map keys in reverse order: valid CBOR, not deterministic (format §3.1)."""
    data = cbor2.dumps(dict(reversed(list(claims.items()))))
    assert data != F.encode_canonical(claims) and cbor2.loads(data) == claims
    return data


def license_json(
    t: F.LicenseTerms, document: bytes, activation: dict[str, Any], now: int
) -> dict[str, Any]:
    """License.to_json() for a license verified with an activation (format §9, §11.4)."""
    assert t.not_before is None or t.not_before <= now
    assert t.expires is None or now < t.expires, "activation vectors use licenses not in grace"
    data: dict[str, Any] = {"status": "valid", "grace_days_left": None}
    data.update(F.terms_to_json(t))
    data["key_id"] = kid_of(pub(ISSUING)).hex()
    data["activation"] = activation
    data["digest"] = hashlib.sha256(document).hexdigest()
    return data


def add_activation(
    name: str,
    description: str,
    operation: str,
    document: bytes,
    *,
    expected: dict[str, Any] | None = None,
    error: str | None = None,
    roots: tuple[bytes, ...] = (pub(ROOT),),
    license: bytes = ACT_LICENSE,
    now: int = NOW,
    device_key: bytes = pub(DEVICE),
    machine: dict[str, bytes] = MACHINE,
) -> None:
    """Record one activation vector: ``error`` (a code) or ``expected`` (the to_json() dict)."""
    if operation not in OPERATIONS:
        raise SystemExit(f"vector {name!r}: unknown operation {operation!r}")
    if any(v["name"] == name for v in VECTORS + ACTIVATION_VECTORS):
        raise SystemExit(f"duplicate vector name {name!r}")
    if (error is None) == (expected is None):
        raise SystemExit(f"vector {name!r} needs exactly one of error and expected")
    vector: dict[str, Any] = {
        "name": name,
        "description": description,
        "operation": operation,
        "document": document.hex(),
    }
    if operation in _ROOTED:
        vector["trusted_roots"] = [r.hex() for r in roots]
    if operation in _FOR_PRODUCT:
        vector["product"] = PRODUCT
    if operation == "verify_license_with_activation":
        vector.update(
            license=license.hex(),
            now=iso(now),
            product=PRODUCT,
            device_key=device_key.hex(),
            fingerprint={k: v.hex() for k, v in sorted(machine.items())},
        )
    if error is not None:
        vector["error"] = error
    else:
        vector["expected"] = expected
    ACTIVATION_VECTORS.append(vector)


def request_vectors() -> None:
    op = "verify_request"
    full = request_fields()
    good = device_signed(F.ACTIVATION_REQUEST, request_claims(full))
    add_activation(
        "request-valid",
        "An activation request with a user and an activation code, signed by the device key "
        "it carries (kid = that key's id).",
        op,
        good,
        expected=request_json(full),
    )
    minimal = request_fields(user=None, code=None, label="build-agent-07", nonce=nonce("request-2"))
    add_activation(
        "request-valid-minimal",
        "A request without the optional user and code terms (absent, so null in to_json()).",
        op,
        device_signed(F.ACTIVATION_REQUEST, request_claims(minimal)),
        expected=request_json(minimal),
    )
    add_activation(
        "request-valid-armored",
        "The request-valid document in its armored text form (LICSIGN ACTIVATION REQUEST).",
        op,
        F.armor(good, F.ACTIVATION_REQUEST),
        expected=request_json(full),
    )
    add_activation(
        "request-untrusted-kid-other-key",
        "Signed by another device key that names itself in kid; the payload carries the "
        "first device key, so kid is not the key id of the payload's device_key.",
        op,
        device_signed(F.ACTIVATION_REQUEST, request_claims(full), key=OTHER_DEVICE),
        error="untrusted-key",
    )
    small = request_fields(device_key=IDENTITY_POINT)
    add_activation(
        "request-untrusted-small-order-device-key",
        "The payload's device_key is the identity point (small order, format §6.2); kid is its "
        "key id and the signature is (R = identity, S = 0). The key must be refused.",
        op,
        F.encode_sign1(
            F.ACTIVATION_REQUEST,
            kid_of(IDENTITY_POINT),
            F.encode_canonical(request_claims(small)),
            lambda m: IDENTITY_SIGNATURE,
        ),
        error="untrusted-key",
    )
    # y = 2^255 - 1 >= p: a non-canonical encoding (format §6.2); refused before any signature.
    noncanonical = bytes([0xFF] * 31 + [0x7F])
    add_activation(
        "request-untrusted-noncanonical-device-key",
        "The payload's device_key encodes y >= p (not canonical, format §6.2); kid is its key id "
        "and the signature is zeros. The key is refused before the signature is checked.",
        op,
        F.encode_sign1(
            F.ACTIVATION_REQUEST,
            kid_of(noncanonical),
            F.encode_canonical(request_claims(request_fields(device_key=noncanonical))),
            lambda m: bytes(64),
        ),
        error="untrusted-key",
    )
    wide = request_fields(label="\u00e9" * 256, user=None, code=None, nonce=nonce("request-3"))
    add_activation(
        "request-valid-label-256-code-points",
        "A label of 256 code points (U+00E9, 512 bytes of UTF-8): text bounds count code "
        "points, not bytes.",
        op,
        device_signed(F.ACTIVATION_REQUEST, request_claims(wide)),
        expected=request_json(wide),
    )
    add_activation(
        "request-malformed-label-257-code-points",
        "A label of 257 code points, re-signed (text(256)).",
        op,
        device_signed(
            F.ACTIVATION_REQUEST,
            request_claims(request_fields(label="L" * 257, user=None, code=None)),
        ),
        error="malformed",
    )
    claims = request_claims(full)
    claims[TERMS]["v"] = True
    add_activation(
        "request-malformed-version-true",
        "v is CBOR true (f5) rather than the integer 1, re-signed: exact types.",
        op,
        device_signed(F.ACTIVATION_REQUEST, claims),
        error="malformed",
    )
    add_activation(
        "request-malformed-certificate",
        "A correctly self-signed request that carries an issuing-key certificate in kcwt "
        "(label 13); a device-signed document's unprotected header must be empty.",
        op,
        device_signed(F.ACTIVATION_REQUEST, request_claims(full), cert=DEFAULT_CERTIFICATE),
        error="malformed",
    )
    add_activation(
        "request-malformed-device-key-31-bytes",
        "device_key is 31 bytes (the device key without its last byte), re-signed.",
        op,
        device_signed(
            F.ACTIVATION_REQUEST,
            request_claims(request_fields(device_key=pub(DEVICE)[:31])),
        ),
        error="malformed",
    )
    claims = request_claims(full)
    claims[TERMS]["user"] = None
    add_activation(
        "request-malformed-null-user",
        "The optional user term present as null (optional terms are absent or hold a value), "
        "re-signed.",
        op,
        device_signed(F.ACTIVATION_REQUEST, claims),
        error="malformed",
    )
    add_activation(
        "request-malformed-payload-unsorted",
        "The request's claims with map keys in reverse order, re-signed by the device key "
        "(not deterministic CBOR).",
        op,
        device_signed(F.ACTIVATION_REQUEST, payload=unsorted(request_claims(full))),
        error="malformed",
    )
    add_activation(
        "request-bad-signature",
        "The request-valid document with one bit of its signature flipped.",
        op,
        flip_bit(good, len(good) - 1),
        error="bad-signature",
    )
    add_activation(
        "request-bad-signature-other-key",
        "kid names the payload's device key, but another device key signed.",
        op,
        device_signed(
            F.ACTIVATION_REQUEST, request_claims(full), key=OTHER_DEVICE, kid=kid_of(pub(DEVICE))
        ),
        error="bad-signature",
    )
    add_activation(
        "request-wrong-kind-receipt",
        "A valid deactivation receipt presented as an activation request.",
        op,
        device_signed(F.DEACTIVATION_RECEIPT, receipt_claims(receipt_fields())),
        error="wrong-kind",
    )
    claims = request_claims(full)
    claims[TERMS]["x-acme-seat"] = "floor-3"
    add_activation(
        "request-unsupported-x-term",
        "An x- term in a request, re-signed: every activation term is critical, and unlike a "
        "license no x- extensions are allowed.",
        op,
        device_signed(F.ACTIVATION_REQUEST, claims),
        error="unsupported",
    )
    claims = request_claims(full)
    claims[EXP] = full["created_at"] + DAY
    add_activation(
        "request-unsupported-exp-claim",
        "An exp claim (4) in a request, re-signed: a request has no exp.",
        op,
        device_signed(F.ACTIVATION_REQUEST, claims),
        error="unsupported",
    )
    claims = request_claims(full)
    claims[TERMS]["v"] = 1
    add_activation(
        "request-unsupported-format-version-1",
        "Terms say format version 1 (the previous version), re-signed.",
        op,
        device_signed(F.ACTIVATION_REQUEST, claims),
        error="unsupported",
    )


def receipt_vectors() -> None:
    op = "verify_receipt"
    fields = receipt_fields()
    good = device_signed(F.DEACTIVATION_RECEIPT, receipt_claims(fields))
    add_activation(
        "receipt-valid",
        "A deactivation receipt for activation A-VECT-0001, signed by the device key it carries.",
        op,
        good,
        expected=receipt_json(fields),
    )
    add_activation(
        "receipt-valid-armored",
        "The receipt-valid document in its armored text form (LICSIGN DEACTIVATION RECEIPT).",
        op,
        F.armor(good, F.DEACTIVATION_RECEIPT),
        expected=receipt_json(fields),
    )
    add_activation(
        "receipt-untrusted-kid-other-key",
        "Signed by another device key that names itself in kid; the payload carries the "
        "first device key.",
        op,
        device_signed(F.DEACTIVATION_RECEIPT, receipt_claims(fields), key=OTHER_DEVICE),
        error="untrusted-key",
    )
    add_activation(
        "receipt-malformed-certificate",
        "A correctly self-signed receipt that carries an issuing-key certificate in kcwt.",
        op,
        device_signed(F.DEACTIVATION_RECEIPT, receipt_claims(fields), cert=DEFAULT_CERTIFICATE),
        error="malformed",
    )
    add_activation(
        "receipt-malformed-payload-unsorted",
        "The receipt's claims with map keys in reverse order, re-signed by the device key.",
        op,
        device_signed(F.DEACTIVATION_RECEIPT, payload=unsorted(receipt_claims(fields))),
        error="malformed",
    )
    add_activation(
        "receipt-bad-signature",
        "The receipt-valid document with one bit of its signature flipped.",
        op,
        flip_bit(good, len(good) - 1),
        error="bad-signature",
    )
    add_activation(
        "receipt-wrong-kind-request",
        "A valid activation request presented as a deactivation receipt.",
        op,
        device_signed(F.ACTIVATION_REQUEST, request_claims(request_fields())),
        error="wrong-kind",
    )
    claims = receipt_claims(fields)
    claims[TERMS]["fingerprint"] = dict(MACHINE)
    add_activation(
        "receipt-unsupported-term",
        "A fingerprint term (a request's term, not a receipt's) in a receipt, re-signed.",
        op,
        device_signed(F.DEACTIVATION_RECEIPT, claims),
        error="unsupported",
    )


def response_vectors() -> None:
    op = "verify_response"
    leased = response_fields()
    good = response_document(response_claims(leased))
    add_activation(
        "response-valid-lease",
        "An activation response with a 7-day lease (exp) and a user, signed by the issuing key "
        "with its certificate in kcwt.",
        op,
        good,
        expected=response_json(leased),
    )
    unleased = response_fields(activation="A-VECT-0002", lease_expires=None, user=None)
    add_activation(
        "response-valid-no-lease",
        "A response without exp (no lease) and without user (both absent, so null in to_json()).",
        op,
        response_document(response_claims(unleased)),
        expected=response_json(unleased),
    )
    granted = response_fields(activation="A-VECT-0003", counters={"exports": 50})
    add_activation(
        "response-valid-counters",
        "A response granting 50 units of the license's counter exports on top of the "
        "license's own (format §11.2 counters).",
        op,
        response_document(response_claims(granted)),
        expected=response_json(granted),
    )
    add_activation(
        "response-malformed-counters-zero",
        "A grant of 0 units, re-signed: a grant is 1 or more (absent when none).",
        op,
        response_document(response_claims(response_fields(counters={"exports": 0}))),
        error="malformed",
    )
    add_activation(
        "response-valid-armored",
        "The response-valid-lease document in its armored text form (LICSIGN ACTIVATION RESPONSE).",
        op,
        F.armor(good, F.ACTIVATION_RESPONSE),
        expected=response_json(leased),
    )
    add_activation(
        "response-untrusted-root",
        "The response's certificate is signed by a root the verifier does not trust.",
        op,
        good,
        roots=(pub(OTHER_ROOT),),
        error="untrusted-key",
    )
    add_activation(
        "response-untrusted-no-certificate",
        "Signed by the issuing key but carries no certificate.",
        op,
        response_document(response_claims(leased), cert=None),
        error="untrusted-key",
    )
    late = response_fields(issued_at=CERT_NOT_AFTER, lease_expires=None)
    add_activation(
        "response-untrusted-issued-at-certificate-end",
        "Issued at exactly the issuing key's certificate exp (nbf <= iat < exp fails).",
        op,
        response_document(response_claims(late)),
        error="untrusted-key",
    )
    add_activation(
        "response-untrusted-small-order-device-key",
        "A correctly signed response whose device_key is the identity point (format §6.2).",
        op,
        response_document(response_claims(response_fields(device_key=IDENTITY_POINT))),
        error="untrusted-key",
    )
    add_activation(
        "response-bad-signature",
        "The response-valid-lease document with one bit of its signature flipped.",
        op,
        flip_bit(good, len(good) - 1),
        error="bad-signature",
    )
    add_activation(
        "response-wrong-kind-license",
        "A valid license presented as an activation response.",
        op,
        ACT_LICENSE,
        error="wrong-kind",
    )
    claims = response_claims(leased)
    claims[EXP] = None
    add_activation(
        "response-malformed-null-exp",
        "exp present as null, re-signed: no lease is said by leaving exp out, never by null.",
        op,
        response_document(claims),
        error="malformed",
    )
    add_activation(
        "response-malformed-exp-equals-iat",
        "A lease that ends the second the response was issued (exp = iat), re-signed.",
        op,
        response_document(response_claims(response_fields(lease_expires=leased["issued_at"]))),
        error="malformed",
    )
    add_activation(
        "response-malformed-payload-unsorted",
        "The response's claims with map keys in reverse order, re-signed by the issuing key.",
        op,
        response_document(payload=unsorted(response_claims(leased))),
        error="malformed",
    )
    claims = response_claims(leased)
    claims[CTI] = "A-VECT-\u00e9".encode()
    add_activation(
        "response-malformed-activation-id-not-ascii",
        "The activation id (cti) holds UTF-8 bytes that are not ASCII, re-signed.",
        op,
        response_document(claims),
        error="malformed",
    )
    claims = response_claims(leased)
    claims[TERMS]["product"] = PRODUCT
    add_activation(
        "response-unsupported-product-term",
        "A product term in a response, re-signed: a response names no product.",
        op,
        response_document(claims),
        error="unsupported",
    )
    claims = response_claims(leased)
    claims[NBF] = leased["issued_at"]
    add_activation(
        "response-unsupported-nbf-claim",
        "An nbf claim (5) in a response, re-signed.",
        op,
        response_document(claims),
        error="unsupported",
    )


def license_with_activation_vectors() -> None:
    op = "verify_license_with_activation"
    leased = response_fields()
    leased_doc = response_document(response_claims(leased))
    unleased = response_fields(activation="A-VECT-0002", lease_expires=None)
    unleased_doc = response_document(response_claims(unleased))

    def valid(response: dict[str, Any], now: int = NOW) -> dict[str, Any]:
        return license_json(ACT_TERMS, ACT_LICENSE, response_json(response), now)

    add_activation(
        "activation-valid-no-lease",
        "A license requiring activation, with an activation for this license, device key and "
        "machine, and no lease. License.activation holds the response.",
        op,
        unleased_doc,
        expected=valid(unleased),
    )
    add_activation(
        "activation-valid-armored",
        "The same activation given in its armored text form.",
        op,
        F.armor(unleased_doc, F.ACTIVATION_RESPONSE),
        expected=valid(unleased),
    )
    add_activation(
        "activation-valid-lease-one-second-left",
        "A leased activation checked one second before its exp.",
        op,
        leased_doc,
        now=LEASE_END - 1,
        expected=valid(leased, LEASE_END - 1),
    )
    add_activation(
        "activation-lease-ended-at-exp",
        "The same leased activation checked at exactly its exp (exclusive, no grace).",
        op,
        leased_doc,
        now=LEASE_END,
        error="not-activated",
    )
    other = response_fields(activation="A-VECT-0003", lease_expires=None)
    add_activation(
        "activation-valid-other-issuing-key",
        "The response is signed by another issuing key, certified by the same trusted root for "
        "every product: the response's certificate need not be the license's.",
        op,
        response_document(
            response_claims(other), key=OTHER_ISSUING, cert=certificate(pub(OTHER_ISSUING))
        ),
        expected=valid(other),
    )
    extra = dict(MACHINE)
    extra["disk"] = hashlib.sha256(b"workstation-1/disk").digest()[:16]
    add_activation(
        "activation-valid-extra-machine-component",
        "The current machine has a component the response does not list; it is ignored.",
        op,
        unleased_doc,
        machine=extra,
        expected=valid(unleased),
    )
    add_activation(
        "activation-untrusted-root",
        "The license chains to the trusted root; the response's certificate to another root.",
        op,
        response_document(
            response_claims(unleased), cert=certificate(pub(ISSUING), root=OTHER_ROOT)
        ),
        error="untrusted-key",
    )
    add_activation(
        "activation-bad-signature",
        "The activation-valid-no-lease response with one bit of its signature flipped.",
        op,
        flip_bit(unleased_doc, len(unleased_doc) - 1),
        error="bad-signature",
    )
    add_activation(
        "activation-wrong-kind-request",
        "The device's activation request given where the activation response belongs.",
        op,
        device_signed(F.ACTIVATION_REQUEST, request_claims(request_fields())),
        error="wrong-kind",
    )
    add_activation(
        "activation-wrong-product",
        "A correct response, but signed by an issuing key whose certificate allows only "
        "acme-viewer; the license is for acme-cad.",
        op,
        response_document(
            response_claims(unleased),
            key=VIEWER_ISSUING,
            cert=certificate(pub(VIEWER_ISSUING), products=("acme-viewer",)),
        ),
        error="wrong-product",
    )
    other_terms = terms(id="L-VECT-ACTV-0002", activation_required=True)
    other_license = license_document(other_terms)
    add_activation(
        "activation-not-activated-other-license",
        "The response activates another license (L-VECT-ACTV-0002, its id and digest).",
        op,
        response_document(
            response_claims(
                response_fields(
                    lease_expires=None,
                    license=other_terms.id,
                    license_digest=hashlib.sha256(other_license).digest(),
                )
            )
        ),
        error="not-activated",
    )
    reissued = license_document(terms(id=ACT_TERMS.id, version=2, activation_required=True))
    add_activation(
        "activation-not-activated-reissued-license",
        "The response names this license's id but the digest of a reissue (version 2) of it.",
        op,
        response_document(
            response_claims(
                response_fields(
                    lease_expires=None, license_digest=hashlib.sha256(reissued).digest()
                )
            )
        ),
        error="not-activated",
    )
    add_activation(
        "activation-wrong-machine-other-device-key",
        "The response names another installation's device key (an activation copied from it).",
        op,
        response_document(
            response_claims(response_fields(lease_expires=None, device_key=pub(OTHER_DEVICE)))
        ),
        error="wrong-machine",
    )
    add_activation(
        "activation-wrong-machine-fingerprint",
        "Device key matches, but one fingerprint component differs (device_match 'all').",
        op,
        unleased_doc,
        machine=fingerprint("workstation-1", mac="replaced-nic"),
        error="wrong-machine",
    )
    future = response_fields(activation="A-VECT-0004", lease_expires=None, issued_at=NOW + DAY)
    add_activation(
        "activation-valid-response-issued-after-now",
        "The response's iat is a day after 'now' (and after the license's iat): neither is "
        "checked (format §11.4), only the issuing key's window.",
        op,
        response_document(response_claims(future)),
        expected=valid(future),
    )
    bound_terms = terms(id="L-VECT-ACTV-0004", allowed_devices=(MACHINE,), device_match="most")
    bound = license_document(bound_terms)
    bound_response = response_fields(
        activation="A-VECT-0005",
        lease_expires=None,
        license=bound_terms.id,
        license_digest=hashlib.sha256(bound).digest(),
    )
    add_activation(
        "activation-valid-device-match-most",
        "A license bound to the machine with device_match 'most': the response's fingerprint is "
        "matched under that policy, so a replaced NIC (3 of 4 components) still passes.",
        op,
        response_document(response_claims(bound_response)),
        license=bound,
        machine=fingerprint("workstation-1", mac="replaced-nic"),
        expected=license_json(bound_terms, bound, response_json(bound_response), NOW),
    )
    add_activation(
        "activation-wrong-machine-machine-id-under-most",
        "The same license bound with device_match 'most', on a machine whose other three "
        "components match but whose machine-id differs: an activation never tolerates another "
        "machine-id (format §11.4 step 5), so a copied store fails.",
        op,
        response_document(response_claims(bound_response)),
        license=bound,
        machine=fingerprint("workstation-1", machine_id="another-installation"),
        error="wrong-machine",
    )
    add_activation(
        "activation-order-license-before-device-key",
        "For another license and another device key: the license step (3) comes first.",
        op,
        response_document(
            response_claims(
                response_fields(
                    lease_expires=None,
                    license=other_terms.id,
                    license_digest=hashlib.sha256(other_license).digest(),
                    device_key=pub(OTHER_DEVICE),
                )
            )
        ),
        error="not-activated",
    )
    add_activation(
        "activation-order-fingerprint-before-lease",
        "Lease ended and the fingerprint differs: the fingerprint step (5) comes first.",
        op,
        leased_doc,
        now=LEASE_END,
        machine=fingerprint("workstation-2"),
        error="wrong-machine",
    )
    plain_terms = terms(id="L-VECT-ACTV-0003")
    plain = license_document(plain_terms)
    add_activation(
        "activation-checked-when-not-required",
        "The license does not require activation, but an activation given is checked all the "
        "same: this one is for another machine.",
        op,
        response_document(
            response_claims(
                response_fields(
                    lease_expires=None,
                    license=plain_terms.id,
                    license_digest=hashlib.sha256(plain).digest(),
                    fingerprint=fingerprint("workstation-2"),
                )
            )
        ),
        license=plain,
        error="wrong-machine",
    )


def expiring_activation_vectors() -> None:
    """Leases and refresh dates: the response's exp (format §7.1 "refresh", §11.4 step 6)."""
    op = "verify_license_with_activation"

    def pair(
        t: F.LicenseTerms, activation: str, expires: int | None
    ) -> tuple[bytes, dict[str, Any], bytes]:
        lic = license_document(t)
        fields = response_fields(activation=activation, lease_expires=expires, license=t.id,
                                 license_digest=hashlib.sha256(lic).digest())  # fmt: skip
        return lic, fields, response_document(response_claims(fields))

    floating = terms(
        id="L-VECT-FLOA-0001",
        type="floating",
        expires=None,
        lease_seconds=3600,
        activation_required=True,
        limits=F.Limits(max_devices=10),
        allowed_users=("alice@globex.example", "bob@globex.example"),
    )
    lease_end = NOW + 1800
    lic, fields, doc = pair(floating, "A-VECT-FLOA-1", lease_end)
    add_activation(
        "activation-valid-floating",
        "A floating license (1-hour lease, 10 seats, two allowed users, so activation_required) "
        "with a response whose exp is the lease end, checked before it.",
        op,
        doc,
        license=lic,
        expected=license_json(floating, lic, response_json(fields), NOW),
    )
    add_activation(
        "activation-floating-lease-ended",
        "The same floating activation checked at exactly its exp (the lease ended).",
        op,
        doc,
        license=lic,
        now=lease_end,
        error="not-activated",
    )
    lic, _, doc = pair(floating, "A-VECT-FLOA-2", None)
    add_activation(
        "activation-floating-without-expiry",
        "A response without exp for a floating license: the license requires an expiry.",
        op,
        doc,
        license=lic,
        error="not-activated",
    )

    refreshed = terms(id="L-VECT-RFSH-0001", activation_required=True, refresh_seconds=30 * DAY)
    due = NOW + 10 * DAY
    lic, fields, doc = pair(refreshed, "A-VECT-RFSH-1", due)
    add_activation(
        "activation-valid-refresh",
        "A license with the refresh term (30 days): the response carries its refresh-by date "
        "as exp, ten days after now.",
        op,
        doc,
        license=lic,
        expected=license_json(refreshed, lic, response_json(fields), NOW),
    )
    add_activation(
        "activation-valid-refresh-one-second-left",
        "The same activation one second before its refresh-by date.",
        op,
        doc,
        license=lic,
        now=due - 1,
        expected=license_json(refreshed, lic, response_json(fields), due - 1),
    )
    add_activation(
        "activation-refresh-due",
        "The same activation at exactly its refresh-by date: a new request and response are "
        "needed (exclusive, like every exp).",
        op,
        doc,
        license=lic,
        now=due,
        error="not-activated",
    )
    lic, _, doc = pair(refreshed, "A-VECT-RFSH-2", None)
    add_activation(
        "activation-refresh-without-expiry",
        "A response without exp for a license with the refresh term: refused, since such an "
        "activation would never have to be refreshed.",
        op,
        doc,
        license=lic,
        error="not-activated",
    )


def after_activation_vectors() -> None:
    """expires_after_activation: the response's license_expires (format §11.2, §11.4 step 7)."""
    op = "verify_license_with_activation"
    ends = NOW + 10 * DAY  # first activated 20 days before NOW; the response issued an hour ago

    def pair(
        t: F.LicenseTerms, activation: str, fixed: int | None
    ) -> tuple[bytes, dict[str, Any], bytes]:
        lic = license_document(t)
        fields = response_fields(activation=activation, lease_expires=None, license=t.id,
                                 license_digest=hashlib.sha256(lic).digest(),
                                 license_expires=fixed)  # fmt: skip
        return lic, fields, response_document(response_claims(fields))

    def verdict(t: F.LicenseTerms, lic: bytes, fields: dict[str, Any], now: int) -> dict[str, Any]:
        data = license_json(t, lic, response_json(fields), NOW)
        left = ends + t.grace_seconds - now
        status = "valid" if now < ends else "grace" if left > 0 else "maintained"
        data.update(status=status, grace_days_left=-(-left // DAY) if status == "grace" else None)
        return data

    for at_expiry, tag in (("restrict", "RSTR"), ("maintain", "MNTN")):
        t = terms(id=f"L-VECT-EAA{tag}", type="trial", expires=None, grace_seconds=7 * DAY,
                  activation_required=True, expires_after_activation_seconds=30 * DAY,
                  at_expiry=at_expiry)  # fmt: skip
        lic, fields, doc = pair(t, f"A-VECT-EAA-{tag}", ends)
        cases = [("valid", ends - 1), ("grace", ends), ("grace-last-second", ends + 7 * DAY - 1),
                 ("past-grace", ends + 7 * DAY)]  # fmt: skip
        for label, now in cases:
            name = f"activation-after-activation-{at_expiry}-{label}"
            description = (f"A 30-day trial (7 days of grace, at_expiry {at_expiry}) counted from "
                           f"its first activation: the response fixes license_expires; at {label}.")  # fmt: skip
            if label == "past-grace" and at_expiry == "restrict":
                add_activation(name, description, op, doc, license=lic, now=now, error="expired")
                continue
            add_activation(name, description, op, doc, license=lic, now=now,
                           expected=verdict(t, lic, fields, now))  # fmt: skip
    lic, _, doc = pair(t, "A-VECT-EAA-NONE", None)
    add_activation("activation-after-activation-without-license-expires",
                   "A response without license_expires for a license with "
                   "expires_after_activation.", op, doc, license=lic, error="not-activated")  # fmt: skip
    lic, _, doc = pair(t, "A-VECT-EAA-LATE", NOW - 3600 + 30 * DAY + 1)
    add_activation("activation-after-activation-beyond-term",
                   "license_expires one second later than the response's iat plus "
                   "expires_after_activation allows.", op, doc, license=lic,
                   error="not-activated")  # fmt: skip
    fixed = terms(id="L-VECT-EAA-FIXD", activation_required=True)
    lic, _, doc = pair(fixed, "A-VECT-EAA-FIXD", ends)
    add_activation("activation-license-expires-unexpected",
                   "A response with license_expires for a license with a fixed exp.", op, doc,
                   license=lic, error="not-activated")  # fmt: skip
    bad = response_claims(response_fields(activation="A-VECT-EAA-TEXT"))
    bad[TERMS]["license_expires"] = "2027-01-01"
    add_activation("response-malformed-license-expires-text",
                   "license_expires as text.", "verify_response", response_document(bad),
                   error="malformed")  # fmt: skip


def activation_vectors() -> None:
    ACTIVATION_VECTORS.clear()
    request_vectors()
    receipt_vectors()
    response_vectors()
    license_with_activation_vectors()
    expiring_activation_vectors()
    after_activation_vectors()
    counter_document_vectors()


# --- usage reports, refills and clock resets (format §14) ---------------------------------------


def usage_claims(**overrides: Any) -> dict[Any, Any]:
    """A usage report's claims (format §14.1), built by hand; override any term."""
    terms: dict[str, Any] = {
        "v": 2, "license": ACT_TERMS.id, "product": PRODUCT, "device_key": pub(DEVICE),
        "seq": 2, "records": 5, "head": b"\x07" * 32, "totals": {"exports": 3},
        "refilled": {"exports": 500}, "clock": NOW - 60,
    }  # fmt: skip
    terms.update(overrides)
    return {IAT: NOW - 30, TERMS: terms}


def bound_claims(kind: str, **overrides: Any) -> dict[Any, Any]:
    """A refill's or a clock reset's claims (format §14.2, §14.3), built by hand."""
    terms: dict[str, Any] = {
        "v": 2, "license": ACT_TERMS.id, "product": PRODUCT, "activation": "A-VECT-0001",
        "device_key": pub(DEVICE),
    }  # fmt: skip
    if kind == "refill":
        terms["add"] = {"exports": 500}
    terms.update(overrides)
    return {IAT: NOW - 3600, CTI: nonce(kind), TERMS: terms}


def issuing_signed(kind: F.Kind, claims: dict[Any, Any]) -> bytes:
    """Signed by the issuing key, its certificate in kcwt, like a license."""
    payload = F.encode_canonical(claims)
    return F.encode_sign1(kind, kid_of(pub(ISSUING)), payload, signer(ISSUING), DEFAULT_CERTIFICATE)


def counter_document_vectors() -> None:
    device_id = kid_of(pub(DEVICE)).hex()
    add_activation(
        "usage-report-valid", "A usage report (format §14.1), signed by the device key it carries.",
        "verify_usage_report", device_signed(F.USAGE_REPORT, usage_claims()),
        expected={"license": ACT_TERMS.id, "product": PRODUCT, "device_id": device_id, "seq": 2,
                  "records": 5, "head": "07" * 32, "totals": {"exports": 3},
                  "refilled": {"exports": 500}, "clock": iso(NOW - 60),
                  "issued_at": iso(NOW - 30)},
    )  # fmt: skip
    add_activation(
        "usage-report-another-key", "Signed by another device key than the one it carries.",
        "verify_usage_report",
        device_signed(F.USAGE_REPORT, usage_claims(), key=OTHER_DEVICE, kid=kid_of(pub(DEVICE))),
        error="bad-signature",
    )  # fmt: skip
    add_activation(
        "usage-report-malformed-seq-zero", "Report number 0: numbers start at 1.",
        "verify_usage_report", device_signed(F.USAGE_REPORT, usage_claims(seq=0)),
        error="malformed",
    )  # fmt: skip
    refill = issuing_signed(F.COUNTER_REFILL, bound_claims("refill"))
    add_activation(
        "refill-valid", "A counter refill (format §14.2): 500 exports for one activation.",
        "verify_counter_refill", refill,
        expected={"refill": nonce("refill").hex(), "license": ACT_TERMS.id, "product": PRODUCT,
                  "activation": "A-VECT-0001", "device_id": device_id, "counter": "exports",
                  "amount": 500, "issued_at": iso(NOW - 3600)},
    )  # fmt: skip
    add_activation(
        "refill-two-counters", "A refill naming two counters: exactly one is allowed.",
        "verify_counter_refill",
        issuing_signed(F.COUNTER_REFILL,
                       bound_claims("refill", add={"exports": 1, "pages": 1})),
        error="malformed",
    )  # fmt: skip
    add_activation(
        "refill-wrong-product", "A refill for another product than the application's.",
        "verify_counter_refill",
        issuing_signed(F.COUNTER_REFILL, bound_claims("refill", product="acme-viewer")),
        error="wrong-product",
    )  # fmt: skip
    add_activation(
        "refill-bad-signature", "The refill's signature with one bit flipped.",
        "verify_counter_refill", flip_bit(refill, len(refill) - 1), error="bad-signature",
    )  # fmt: skip
    reset = issuing_signed(F.CLOCK_RESET, bound_claims("reset"))
    add_activation(
        "clock-reset-valid", "A one-time clock reset (format §14.3) for one activation.",
        "verify_clock_reset", reset,
        expected={"reset": nonce("reset").hex(), "license": ACT_TERMS.id, "product": PRODUCT,
                  "activation": "A-VECT-0001", "device_id": device_id,
                  "issued_at": iso(NOW - 3600)},
    )  # fmt: skip
    add_activation(
        "usage-report-wrong-kind", "An activation request given as a usage report.",
        "verify_usage_report", device_signed(F.ACTIVATION_REQUEST, usage_claims()),
        error="wrong-kind",
    )  # fmt: skip
    add_activation(
        "refill-wrong-kind", "A clock reset given as a refill.", "verify_counter_refill", reset,
        error="wrong-kind",
    )  # fmt: skip
    add_activation(
        "clock-reset-wrong-kind", "A refill given as a clock reset.", "verify_clock_reset",
        refill, error="wrong-kind",
    )  # fmt: skip
    add_activation(
        "clock-reset-bad-signature", "The clock reset's signature with one bit flipped.",
        "verify_clock_reset", flip_bit(reset, len(reset) - 1), error="bad-signature",
    )  # fmt: skip
    add_activation(
        "clock-reset-untrusted-root", "A clock reset checked against another vendor's root.",
        "verify_clock_reset", reset, roots=(pub(OTHER_ROOT),), error="untrusted-key",
    )  # fmt: skip


# --- revocation lists (format §13) --------------------------------------------------------------
#
# Payloads built by hand from plain dicts, as for the activation documents. The
# operation is verify_revocation_list(document, trusted_roots, product, now); a
# valid vector's 'expected' is RevocationList.to_json().

REVOCATION_VECTORS: list[dict[str, Any]] = []
REVOKED_ACTIVATION = "A-VECT-0001"


def revocation_claims(number: int = 4, **terms_: Any) -> dict[Any, Any]:
    """A valid list's claims: every product, one license of each form, an activation, a key."""
    t: dict[str, Any] = {
        "v": 2, "number": number, "licenses": {"L-VECT-0001": True, "L-VECT-0002": [1, 3]},
        "activations": [REVOKED_ACTIVATION], "keys": [kid_of(pub(OTHER_ISSUING))],
    }  # fmt: skip
    t.update(terms_)
    return {1: "Acme Corp.", IAT: NOW - 3600, -65537: {k: v for k, v in t.items() if v is not None}}


def revocation_document(claims: dict[Any, Any] | None = None, *, payload: bytes | None = None,
                        key: nacl.signing.SigningKey = ISSUING,
                        cert: bytes | None = DEFAULT_CERTIFICATE,
                        kind: F.Kind = F.REVOCATION_LIST) -> bytes:  # fmt: skip
    """A revocation list signed by an issuing key, its certificate in kcwt (label 13)."""
    if payload is None:
        payload = F.encode_canonical(claims if claims is not None else revocation_claims())
    return F.encode_sign1(kind, kid_of(pub(key)), payload, signer(key), cert)


def add_revocation(name: str, description: str, document: bytes, *, error: str | None = None,
                   expected: dict[str, Any] | None = None, now: int = NOW) -> None:  # fmt: skip
    """Record one revocation-list vector: ``error`` (a code) or ``expected`` (to_json())."""
    if any(v["name"] == name for v in VECTORS + ACTIVATION_VECTORS + REVOCATION_VECTORS):
        raise SystemExit(f"duplicate vector name {name!r}")
    if (error is None) == (expected is None):
        raise SystemExit(f"vector {name!r} needs exactly one of error and expected")
    vector: dict[str, Any] = {
        "name": name, "description": description, "operation": "verify_revocation_list",
        "document": document.hex(), "trusted_roots": [pub(ROOT).hex()], "product": PRODUCT,
        "now": iso(now),
    }  # fmt: skip
    vector["error" if error is not None else "expected"] = error if error is not None else expected
    REVOCATION_VECTORS.append(vector)


def revocation_json(number: int = 4, product: str | None = None) -> dict[str, Any]:
    return {
        "number": number, "issued_at": iso(NOW - 3600), "issuer": "Acme Corp.",
        "product": product, "licenses": {"L-VECT-0001": None, "L-VECT-0002": [1, 3]},
        "activations": [REVOKED_ACTIVATION], "keys": [kid_of(pub(OTHER_ISSUING)).hex()],
        "key_id": kid_of(pub(ISSUING)).hex(),
    }  # fmt: skip


def revocation_vectors() -> None:
    REVOCATION_VECTORS.clear()
    add_revocation("revocation-valid", "A list for every product: licenses, an activation, a key.",
                   revocation_document(), expected=revocation_json())  # fmt: skip
    add_revocation("revocation-valid-armored", "The same list, armored (format §5).",
                   F.armor(revocation_document(), F.REVOCATION_LIST), expected=revocation_json())  # fmt: skip
    add_revocation("revocation-valid-product", "A list for this product only.",
                   revocation_document(revocation_claims(product=PRODUCT)),
                   expected=revocation_json(product=PRODUCT))  # fmt: skip
    empty = revocation_claims(1, licenses=None, activations=None, keys=None)
    add_revocation("revocation-valid-empty", "A list that revokes nothing: it advances the number.",
                   revocation_document(empty),
                   expected={**revocation_json(1), "licenses": {}, "activations": [], "keys": []})  # fmt: skip
    good = revocation_document()
    add_revocation("revocation-bit-flip-signature", "Last bit of the signature flipped.",
                   flip_bit(good, len(good) - 1), error="bad-signature")  # fmt: skip
    add_revocation("revocation-wrong-kind-license", "A license where a list is expected.",
                   license_document(terms()), error="wrong-kind")  # fmt: skip
    add_revocation("revocation-signed-as-license", "List payload under the license content type.",
                   revocation_document(kind=F.LICENSE), error="wrong-kind")  # fmt: skip
    add_revocation("revocation-no-certificate", "No issuing-key certificate in kcwt.",
                   revocation_document(cert=None), error="untrusted-key")  # fmt: skip
    add_revocation("revocation-other-root", "Certificate signed by an untrusted root.",
                   revocation_document(cert=certificate(root=OTHER_ROOT)), error="untrusted-key")  # fmt: skip
    add_revocation("revocation-other-product", "A list for another product.",
                   revocation_document(revocation_claims(product="acme-viewer")),
                   error="wrong-product")  # fmt: skip
    add_revocation("revocation-restricted-key-every-product",
                   "A list for every product signed by a key certified for one product only.",
                   revocation_document(key=VIEWER_ISSUING,
                                       cert=certificate(pub(VIEWER_ISSUING), products=("acme-viewer",))),
                   error="wrong-product")  # fmt: skip
    for name, claims, code in (
        ("number-zero", revocation_claims(0), "malformed"),
        ("number-missing", revocation_claims(number=None), "malformed"),
        ("activations-unsorted", revocation_claims(activations=["B-1", "A-1"]), "malformed"),
        ("activations-duplicate", revocation_claims(activations=["A-1", "A-1"]), "malformed"),
        ("activations-empty", revocation_claims(activations=[]), "malformed"),
        ("versions-empty", revocation_claims(licenses={"L-1": []}), "malformed"),
        ("versions-false", revocation_claims(licenses={"L-1": False}), "malformed"),
        ("key-id-short", revocation_claims(keys=[b"short"]), "malformed"),
        ("license-id-bad", revocation_claims(licenses={"-bad": True}), "malformed"),
        ("unknown-term", revocation_claims(reason="refund"), "unsupported"),
        ("version-1", revocation_claims(v=1), "unsupported"),
    ):  # fmt: skip
        add_revocation(f"revocation-{name}", f"Payload defect: {name.replace('-', ' ')}.",
                       revocation_document(claims), error=code)  # fmt: skip
    add_revocation("revocation-non-canonical", "Claims map keys out of order (format §3.1).",
                   revocation_document(payload=unsorted(revocation_claims())), error="malformed")  # fmt: skip
    add_revocation("revocation-from-the-future", "Signed more than an hour after now (§13.2).",
                   revocation_document(), now=NOW - 3 * 3600, error="not-yet-valid")  # fmt: skip


def self_check() -> None:
    """The generator's own COSE assembly must agree with the format's encoder byte for byte."""
    payload = F.encode_license_payload(terms())
    mine = sign1(license_header(), {13: KCWT}, payload, signer(ISSUING))
    if mine != license_document(terms()):
        raise SystemExit("generate.py: cbor2-assembled COSE_Sign1 differs from licverify's encoder")
    # The same for a device-signed kind (empty unprotected header), and §6.1 key ids.
    payload = F.encode_canonical(request_claims(request_fields()))
    header = {1: EDDSA, 3: F.ACTIVATION_REQUEST.content_type, 4: kid_of(pub(DEVICE))}
    if sign1(header, {}, payload, signer(DEVICE)) != device_signed(
        F.ACTIVATION_REQUEST, payload=payload
    ):
        raise SystemExit("generate.py: cbor2-assembled request differs from licverify's encoder")
    if kid_of(pub(DEVICE)) != F.key_id(pub(DEVICE)):
        raise SystemExit("generate.py: key ids disagree with licverify (format §6.1)")


def expiry_strategy_vectors() -> None:
    """at_expiry and expires_after_activation on a license alone (issue 9; format §7.1, §7.2)."""
    for name, end, days in (("last-grace-second", NOW - 14 * DAY + 1, 1),
                            ("first-grace-second", NOW, 14)):  # fmt: skip
        t = terms(id="L-VECT-MNTN-0001", expires=end, grace_seconds=14 * DAY, at_expiry="maintain")
        add(
            f"maintain-grace-{name}",
            f"at_expiry maintain, 14 days of grace, at its {name.replace('-', ' ')}: status "
            "grace, like any license.",
            license_document(t),
            valid=t,
            grace_days_left=days,
        )
    for name, end, grace in (("at-grace-end", NOW - 14 * DAY, 14 * DAY),
                             ("long-expired", NOW - 400 * DAY, 0)):  # fmt: skip
        t = terms(id="L-VECT-MNTN-0002", issued_at=NOW - 500 * DAY, not_before=NOW - 500 * DAY,
                  expires=end, grace_seconds=grace, at_expiry="maintain")  # fmt: skip
        add(
            f"maintained-{name}",
            "at_expiry maintain, past its expiry and grace: it still verifies, with status "
            "maintained (restrict would be expired).",
            license_document(t),
            valid=t,
        )

    def resigned(
        mutate: Callable[[dict[Any, Any]], None], t: F.LicenseTerms | None = None
    ) -> bytes:
        return license_document(payload=payload_with(mutate, t))

    after = terms(id="L-VECT-EAA-0001", type="trial", expires=None, activation_required=True,
                  expires_after_activation_seconds=30 * DAY)  # fmt: skip
    add(
        "not-activated-expires-after-activation",
        "A trial of 30 days from its first activation, verified without an activation: it "
        "requires one (the activation fixes its expiry).",
        license_document(after),
        error="not-activated",
    )
    defects: list[tuple[str, str, Callable[[dict[Any, Any]], None], F.LicenseTerms | None, str]] = [
        ("malformed-at-expiry-restrict", "at_expiry \"restrict\" written: the default must be "
         "left out (one encoding per set of terms).",
         lambda c: c[TERMS].__setitem__("at_expiry", "restrict"), None, "malformed"),
        ("unsupported-at-expiry-unknown", "at_expiry \"extend\": a strategy this verifier does "
         "not know is refused, not guessed.",
         lambda c: c[TERMS].__setitem__("at_expiry", "extend"), None, "unsupported"),
        ("malformed-at-expiry-not-text", "at_expiry true.",
         lambda c: c[TERMS].__setitem__("at_expiry", True), None, "malformed"),
        ("malformed-at-expiry-without-expiry", "A perpetual license with at_expiry maintain: "
         "nothing expires.", lambda c: c[TERMS].__setitem__("at_expiry", "maintain"),
         terms(type="perpetual", expires=None), "malformed"),
        ("malformed-expires-after-activation-with-exp", "expires_after_activation and an exp "
         "claim together.", lambda c: c.__setitem__(EXP, NOW + DAY), after, "malformed"),
        ("malformed-expires-after-activation-without-activation", "expires_after_activation "
         "without activation_required: nothing would fix the start.",
         lambda c: c[TERMS].pop("activation_required"), after, "malformed"),
        ("malformed-expires-after-activation-below-an-hour", "expires_after_activation of 3599 "
         "seconds (the minimum is 3600).",
         lambda c: c[TERMS].__setitem__("expires_after_activation", 3599), after, "malformed"),
        ("malformed-expires-after-activation-perpetual", "A perpetual license with "
         "expires_after_activation.", lambda c: c[TERMS].__setitem__("type", "perpetual"), after,
         "malformed"),
    ]  # fmt: skip
    for name, description, mutate, t, code in defects:
        add(name, description + " Re-signed.", resigned(mutate, t), error=code)


def build() -> str:
    """The full vectors file as text."""
    VECTORS.clear()
    self_check()
    valid_vectors()
    invalid_vectors()
    expiry_strategy_vectors()
    activation_vectors()
    revocation_vectors()
    document = {
        "format": FORMAT_NAME,
        "description": (
            "licsign conformance vectors, generated by tests/vectors/generate.py (do not edit). "
            "For each vector, call the verifier with the document (hex of the exact bytes given: "
            "binary COSE_Sign1, or ASCII armor for *-armored*), trusted_roots (32-byte Ed25519 "
            "keys, hex), product, now (ISO 8601 UTC), and app_version and fingerprint (component "
            "-> hex digest) when present. It must return 'expected' (status, grace_days_left and "
            "License.to_json() as 'terms') or fail with the stable error code in 'error'. "
            "'activation_vectors' (format §11) name an 'operation': verify_request, "
            "verify_receipt or verify_response (with trusted_roots) of the document, or "
            "verify_license_with_activation: verify the 'license' (hex) with trusted_roots, "
            "product, now and fingerprint, passing the document as the activation and "
            "'device_key' (hex) as the device key. Each must return 'expected' (the object's "
            "to_json(); License.to_json() for verify_license_with_activation) or fail with "
            "the code in 'error'. "
            "All keys are derived from public seeds: never trust them."
        ),
        "vectors": VECTORS,
        "activation_vectors": ACTIVATION_VECTORS,
        # Format §13: verify_revocation_list(document, trusted_roots, product, now) must
        # return 'expected' (RevocationList.to_json()) or fail with the code in 'error'.
        "revocation_vectors": REVOCATION_VECTORS,
    }
    return json.dumps(document, sort_keys=True, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if vectors.json has drifted")
    args = parser.parse_args(argv)
    text = build()
    if args.check:
        try:
            current = OUTPUT.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            what = "is missing" if current is None else "differs from what generate.py produces"
            print(f"{OUTPUT.name} {what}; run: python tests/vectors/generate.py", file=sys.stderr)
            return 1
        print(
            f"{OUTPUT.name} is up to date ({len(VECTORS)} license vectors, "
            f"{len(ACTIVATION_VECTORS)} activation vectors, "
            f"{len(REVOCATION_VECTORS)} revocation vectors)"
        )
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(
        f"wrote {len(VECTORS)} license vectors, {len(ACTIVATION_VECTORS)} activation "
        f"vectors and {len(REVOCATION_VECTORS)} revocation vectors to {OUTPUT}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
