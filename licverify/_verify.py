"""Verification: from bytes to a verified, immutable License (docs/format.md §9).

Order matters and is fixed: shape → kind → trust chain → signature over the
bytes as received → decode the claims from those same bytes → judge them
(product, time, version, machine, activation). ``inspect_document`` runs the
same stages one by one and reports each, for people and support tools.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Iterable, Mapping

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from licverify._armor import dearmor
from licverify._certificate import IssuingCertificate, decode_certificate_payload
from licverify._cose import Envelope, parse_unverified
from licverify._errors import (
    BadSignature,
    Expired,
    LicenseError,
    Malformed,
    NotActivated,
    NotYetValid,
    UntrustedKey,
    VersionNotAllowed,
    WrongKind,
    WrongMachine,
    WrongProduct,
)
from licverify._fingerprint import fingerprint_matches
from licverify._keys import TrustedRoots
from licverify._kinds import ISSUING_CERTIFICATE, LICENSE, Kind
from licverify._license import Counter, Frozen, LicenseTerms, Limits, decode_license_payload, terms_to_json
from licverify._time import from_timestamp, iso, to_timestamp

_DAY = 86400


class Status(str, Enum):
    """Verdict of a license that verified: usable, or usable within its grace period."""

    VALID = "valid"
    GRACE = "grace"


class InternalError(LicenseError):
    """Verification hit an unexpected error; the license is treated as invalid (fail closed)."""

    code = "internal-error"


class License(Frozen):
    """A verified license. Only ``verify_license`` creates one.

    Attributes:
        id, version, issuer, customer, product, type: identity of the license.
        issued_at, not_before, expires: aware UTC datetimes (the last two may be None).
        grace: period after ``expires`` during which the license still works.
        features: feature name → value (None for a plain on/off feature).
        max_version, maintenance_end: version gate, if any.
        limits: seat limits (enforced by the vendor's ledger at activation).
        allowed_users, allowed_devices, device_match: binding at issue time.
        activation_required: whether an activation exchange is needed.
        counters: counter name → Counter(limit, overage).
        lease: lease duration for floating licenses, else None.
        metadata, extensions: free-form text fields.
        status: Status.VALID or Status.GRACE.
        grace_days_left: whole days (rounded up) left in grace, else None.
        certificate: the issuing-key certificate that vouched for the signer.
        digest: SHA-256 of the binary document, hex.
        document: the binary document as verified.
    """

    __slots__ = (
        "id", "version", "issuer", "customer", "product", "type", "issued_at", "not_before",
        "expires", "grace", "features", "max_version", "maintenance_end", "limits",
        "allowed_users", "allowed_devices", "device_match", "activation_required", "counters",
        "lease", "metadata", "extensions", "status", "grace_days_left", "certificate",
        "digest", "document", "_terms",
    )  # fmt: skip

    id: str
    version: int
    issuer: str | None
    customer: str
    product: str
    type: str
    issued_at: datetime
    not_before: datetime | None
    expires: datetime | None
    grace: timedelta
    features: Mapping[str, Any]
    max_version: str | None
    maintenance_end: datetime | None
    limits: Limits
    allowed_users: tuple[str, ...]
    allowed_devices: tuple[Mapping[str, bytes], ...]
    device_match: str | int
    activation_required: bool
    counters: Mapping[str, Counter]
    lease: timedelta | None
    metadata: Mapping[str, Any]
    extensions: Mapping[str, Any]
    status: Status
    grace_days_left: int | None
    certificate: IssuingCertificate
    digest: str
    document: bytes

    def __init__(
        self,
        terms: LicenseTerms,
        certificate: IssuingCertificate,
        document: bytes,
        status: Status,
        grace_days_left: int | None,
    ) -> None:
        t = terms
        self._set(
            id=t.id, version=t.version, issuer=t.issuer, customer=t.customer, product=t.product,
            type=t.type, issued_at=from_timestamp(t.issued_at),
            not_before=None if t.not_before is None else from_timestamp(t.not_before),
            expires=None if t.expires is None else from_timestamp(t.expires),
            grace=timedelta(seconds=t.grace_seconds), features=t.features,
            max_version=t.max_version,
            maintenance_end=None if t.maintenance_end is None else from_timestamp(t.maintenance_end),
            limits=t.limits, allowed_users=t.allowed_users, allowed_devices=t.allowed_devices,
            device_match=t.device_match, activation_required=t.activation_required,
            counters=t.counters,
            lease=None if t.lease_seconds is None else timedelta(seconds=t.lease_seconds),
            metadata=t.metadata, extensions=t.extensions, status=status,
            grace_days_left=grace_days_left, certificate=certificate,
            digest=hashlib.sha256(document).hexdigest(), document=document, _terms=t,
        )  # fmt: skip

    @property
    def terms(self) -> LicenseTerms:
        """The decoded terms (NumericDate integers rather than datetimes)."""
        return self._terms  # type: ignore[no-any-return]

    def has_feature(self, name: str) -> bool:
        """True if the license grants feature ``name``."""
        return name in self.features

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict of the verdict and every term."""
        data = {"status": self.status.value, "grace_days_left": self.grace_days_left}
        data.update(terms_to_json(self._terms))
        data["key_id"] = self.certificate.key_id.hex()
        data["digest"] = self.digest
        return data

    def __repr__(self) -> str:
        return f"License(id={self.id!r}, product={self.product!r}, status={self.status.value!r})"


# --- stages -----------------------------------------------------------------------------------


def open_envelope(document: bytes) -> tuple[Envelope, bytes]:
    """Dearmor and parse a document without trusting it. Returns the envelope and binary bytes."""
    binary, armor_kind = dearmor(document)
    envelope = parse_unverified(binary)
    if armor_kind is not None and armor_kind is not envelope.kind:
        raise Malformed(
            f"armor says {armor_kind.name} but the document inside is a {envelope.kind.name}"
        )
    return envelope, binary


def expect_kind(envelope: Envelope, kind: Kind) -> None:
    """Raise WrongKind unless the envelope is of ``kind``."""
    if envelope.kind is not kind:
        raise WrongKind(f"this is a {envelope.kind.name}, not a {kind.name}")


def check_signature(envelope: Envelope, public_key: bytes, what: str) -> None:
    """Verify the envelope's signature over the bytes as received (libsodium, strict)."""
    try:
        crypto_sign_open(envelope.signature + envelope.to_be_signed, public_key)
    except BadSignatureError:
        raise BadSignature(f"{what} signature does not verify (tampered or wrong key)") from None


def certificate_from_bytes(data: bytes, roots: TrustedRoots) -> IssuingCertificate:
    """Verify an issuing-key certificate against the trusted roots and decode it."""
    envelope = parse_unverified(data)
    if envelope.kind is not ISSUING_CERTIFICATE:
        raise WrongKind(f"embedded certificate is a {envelope.kind.name}")
    if envelope.certificate is not None:
        raise Malformed("an issuing-key certificate cannot embed another certificate")
    root = roots.get(envelope.kid)
    if root is None:
        raise UntrustedKey(
            f"issuing key is certified by root {envelope.kid.hex()[:16]}, which is not trusted"
        )
    check_signature(envelope, root, "issuing-key certificate")
    return decode_certificate_payload(envelope.payload, envelope.kid)


def check_chain(envelope: Envelope, roots: TrustedRoots) -> IssuingCertificate:
    """Verify the embedded certificate, that it names the signer, and the signature."""
    if envelope.certificate is None:
        raise UntrustedKey(f"{envelope.kind.name} carries no issuing-key certificate")
    certificate = certificate_from_bytes(envelope.certificate, roots)
    if certificate.key_id != envelope.kid:
        raise UntrustedKey(f"{envelope.kind.name} is signed by a key its certificate does not name")
    check_signature(envelope, certificate.public_key, envelope.kind.name)
    return certificate


def check_issuing_window(terms: LicenseTerms, certificate: IssuingCertificate) -> None:
    """The license must have been issued while its issuing key was valid."""
    if not certificate.covers(terms.issued_at):
        raise UntrustedKey(
            f"license was issued at {iso(terms.issued_at)}, outside its issuing key's validity "
            f"({iso(certificate.not_before)} to {iso(certificate.not_after)})"
        )


def check_product(terms: LicenseTerms, certificate: IssuingCertificate, product: str) -> None:
    """The license must be for ``product`` and its key allowed to sign for it."""
    if terms.product != product:
        raise WrongProduct(f"license is for product {terms.product!r}, not {product!r}")
    if not certificate.allows_product(product):
        raise WrongProduct(f"issuing key {certificate.key_id.hex()[:16]} may not sign for {product!r}")


def check_time(terms: LicenseTerms, now: int) -> tuple[Status, int | None]:
    """Judge validity at ``now``: not before, expiry, grace. Returns the status and grace days."""
    if terms.not_before is not None and now < terms.not_before:
        raise NotYetValid(f"license is not valid before {iso(terms.not_before)}")
    if terms.expires is None or now < terms.expires:
        return Status.VALID, None
    end = terms.expires + terms.grace_seconds
    if now < end:
        return Status.GRACE, -(-(end - now) // _DAY)
    if terms.grace_seconds:
        raise Expired(f"license expired on {iso(terms.expires)} and its grace ended {iso(end)}")
    raise Expired(f"license expired on {iso(terms.expires)}")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (4 - len(parts))


def check_gate(terms: LicenseTerms, app_version: str | None, app_release: int | None) -> None:
    """Refuse an application version or release date the license does not cover."""
    if terms.max_version is not None and app_version is not None:
        if _version_tuple(app_version) > _version_tuple(terms.max_version):
            raise VersionNotAllowed(
                f"application version {app_version} is newer than the licensed {terms.max_version}"
            )
    if terms.maintenance_end is not None and app_release is not None:
        if app_release > terms.maintenance_end:
            raise VersionNotAllowed(
                f"this release ({iso(app_release)}) came after maintenance ended "
                f"({iso(terms.maintenance_end)})"
            )


def check_machine(terms: LicenseTerms, fingerprint: Mapping[str, bytes] | None) -> None:
    """A license bound to devices at issue time must match this machine."""
    if not terms.allowed_devices:
        return
    if fingerprint is None:
        raise WrongMachine("license is bound to devices, and no machine fingerprint was given")
    for listed in terms.allowed_devices:
        if fingerprint_matches(listed, fingerprint, terms.device_match):
            return
    raise WrongMachine("this machine is not one of the devices the license is bound to")


def check_activation(terms: LicenseTerms) -> None:
    """Activation exchange files arrive with the activation issue; until then, refuse."""
    if terms.activation_required:
        raise NotActivated("license requires activation, and this machine has none")


# --- public entry point -----------------------------------------------------------------------


def _check_arguments(
    document: object, product: object, app_version: object
) -> None:
    if not isinstance(document, (bytes, bytearray, memoryview)):
        raise TypeError("document must be bytes")
    if not isinstance(product, str):
        raise TypeError("product must be a string")
    if not product:
        raise ValueError("product must not be empty")
    if app_version is not None:
        if not isinstance(app_version, str):
            raise TypeError("app_version must be a string like '2.4.1'")
        import re

        if not re.fullmatch(r"\d{1,9}(\.\d{1,9}){0,3}", app_version):
            raise ValueError("app_version must look like '2.4.1'")


def verify_license(
    document: bytes,
    *,
    trusted_roots: "TrustedRoots | Iterable[bytes]",
    product: str,
    now: datetime,
    fingerprint: Mapping[str, bytes] | None = None,
    app_version: str | None = None,
    app_release_date: datetime | None = None,
) -> License:
    """Verify a license document offline and return it, or raise.

    Args:
        document: the license file's contents, armored or binary.
        trusted_roots: root public keys the application trusts (a TrustedRoots,
            or an iterable of 32-byte keys).
        product: the product id this application is.
        now: the time to judge validity at (an aware datetime). Pass
            ``datetime.now(timezone.utc)`` to use the system clock.
        fingerprint: this machine's fingerprint (``machine_fingerprint(product)``);
            required only for licenses bound to devices.
        app_version: the application's version, checked against a version gate.
        app_release_date: the application's release date, checked against a
            maintenance end date.

    Returns:
        The verified License; ``status`` says VALID or GRACE.

    Raises:
        LicenseError: a subclass naming the failure (``error.code``).
        TypeError, ValueError: the arguments themselves are wrong.
    """
    _check_arguments(document, product, app_version)
    roots = TrustedRoots.coerce(trusted_roots)
    at = to_timestamp(now)
    release = None if app_release_date is None else to_timestamp(app_release_date, "app_release_date")
    try:
        envelope, binary = open_envelope(bytes(document))
        expect_kind(envelope, LICENSE)
        certificate = check_chain(envelope, roots)
        terms = decode_license_payload(envelope.payload)
        check_issuing_window(terms, certificate)
        check_product(terms, certificate, product)
        status, grace_days = check_time(terms, at)
        check_gate(terms, app_version, release)
        check_machine(terms, fingerprint)
        check_activation(terms)
        return License(terms, certificate, binary, status, grace_days)
    except LicenseError:
        raise
    except Exception as exc:  # fail closed: any surprise means "not licensed"
        raise InternalError(f"verification failed unexpectedly ({exc.__class__.__name__})") from exc


def verify_certificate(
    document: bytes, *, trusted_roots: "TrustedRoots | Iterable[bytes]", now: datetime
) -> IssuingCertificate:
    """Verify an issuing-key certificate (armored or binary) and check it is valid at ``now``.

    Raises:
        LicenseError: a subclass naming the failure.
    """
    if not isinstance(document, (bytes, bytearray, memoryview)):
        raise TypeError("document must be bytes")
    roots = TrustedRoots.coerce(trusted_roots)
    at = to_timestamp(now)
    try:
        envelope, binary = open_envelope(bytes(document))
        expect_kind(envelope, ISSUING_CERTIFICATE)
        certificate = certificate_from_bytes(binary, roots)
    except LicenseError:
        raise
    except Exception as exc:
        raise InternalError(f"verification failed unexpectedly ({exc.__class__.__name__})") from exc
    if at < certificate.not_before:
        raise NotYetValid(f"issuing key is not valid before {iso(certificate.not_before)}")
    if at > certificate.not_after:
        raise Expired(f"issuing key expired on {iso(certificate.not_after)}")
    return certificate
