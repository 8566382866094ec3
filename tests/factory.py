"""Test-only document factory: deterministic keys, and documents with any defect.

Named ``Unsafe...`` where it bypasses the issuer's checks (STYLE §8): it can
sign payloads the real issuer would refuse to produce, which is exactly what
mutate-and-resign tests need.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import nacl.signing

from licverify import format as F

T0 = 1_790_000_000  # 2026-09-21T14:13:20Z, a fixed "now" for tests


def key_from_seed(label: str) -> nacl.signing.SigningKey:
    """A deterministic Ed25519 key (never use outside tests)."""
    return nacl.signing.SigningKey(hashlib.sha256(b"licsign-test-key:" + label.encode()).digest())


ROOT = key_from_seed("root")
ISSUING = key_from_seed("issuing")
OTHER_ROOT = key_from_seed("other-root")
OTHER_ISSUING = key_from_seed("other-issuing")


def public(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def signer(key: nacl.signing.SigningKey) -> Callable[[bytes], bytes]:
    return lambda message: key.sign(message).signature


def default_terms(**overrides: Any) -> F.LicenseTerms:
    """Valid time-limited terms for product ``acme-cad``; override any field.

    No seat limits: limits, allowed users, floating leases and refresh need
    ``activation_required=True`` (format §7.2); use ``activated_terms`` for those.
    """
    fields: dict[str, Any] = dict(
        id="L-TEST-0000-0001",
        version=1,
        issuer="Acme Inc.",
        customer="globex",
        product="acme-cad",
        type="time-limited",
        issued_at=T0,
        not_before=T0,
        expires=T0 + 365 * 86400,
        grace_seconds=14 * 86400,
        features={"export": None, "seats": 5},
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


def activated_terms(**overrides: Any) -> F.LicenseTerms:
    """``default_terms`` with ``activation_required`` and a seat limit (format §7.2)."""
    fields: dict[str, Any] = {"activation_required": True, "limits": F.Limits(max_devices=3)}
    fields.update(overrides)
    return default_terms(**fields)


class UnsafeFactory:
    """Builds certificates and licenses; every part can be replaced to inject a defect."""

    def __init__(
        self,
        root: nacl.signing.SigningKey = ROOT,
        issuing: nacl.signing.SigningKey = ISSUING,
        not_before: int = T0 - 86400,
        not_after: int = T0 + 3 * 365 * 86400,
        products: tuple[str, ...] | None = None,
    ) -> None:
        self.root, self.issuing = root, issuing
        self.certificate_info = F.IssuingCertificate(
            public(issuing), not_before, not_after, not_before, products, F.key_id(public(root))
        )

    @property
    def roots(self) -> list[bytes]:
        return [public(self.root)]

    def certificate(self, payload: bytes | None = None, kind: F.Kind = F.ISSUING_CERTIFICATE,
                    kid: bytes | None = None, sign_with: nacl.signing.SigningKey | None = None) -> bytes:  # fmt: skip
        """A binary issuing-key certificate, optionally with a raw payload or other defects."""
        if payload is None:
            payload = F.encode_certificate_payload(self.certificate_info)
        return F.encode_sign1(
            kind,
            kid if kid is not None else F.key_id(public(self.root)),
            payload,
            signer(sign_with or self.root),
        )

    def license(self, terms: F.LicenseTerms | None = None, *, payload: bytes | None = None,
                kind: F.Kind = F.LICENSE, kid: bytes | None = None, certificate: bytes | str | None = "default",
                sign_with: nacl.signing.SigningKey | None = None) -> bytes:  # fmt: skip
        """A binary license; ``payload`` bypasses the terms encoder (any bytes get signed)."""
        if payload is None:
            payload = F.encode_license_payload(terms or default_terms())
        cert = self.certificate() if certificate == "default" else certificate
        return F.encode_sign1(
            kind,
            kid if kid is not None else F.key_id(public(self.issuing)),
            payload,
            signer(sign_with or self.issuing),
            cert,  # type: ignore[arg-type]
        )


def sign1_raw(protected: bytes, unprotected: bytes, payload: bytes, key: nacl.signing.SigningKey) -> bytes:
    """Assemble a COSE_Sign1 from raw encoded parts and sign it (for shape defects)."""

    def bstr(b: bytes) -> bytes:
        import cbor2

        return cbor2.dumps(b)

    tbs = b"\x84\x6aSignature1" + bstr(protected) + b"\x40" + bstr(payload)
    return b"\xd2\x84" + bstr(protected) + unprotected + bstr(payload) + bstr(key.sign(tbs).signature)
