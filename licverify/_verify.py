"""Verification: from bytes to a verified, immutable License (docs/format.md §9).

Order matters and is fixed: shape → kind → trust chain → signature over the
bytes as received → decode the claims from those same bytes → judge them
(product, time, version, machine, activation). ``inspect_document`` runs the
same stages one by one and reports each, for people and support tools.

``Verifier`` holds what stays the same for an application (trusted roots,
product, version) and checks it once; the module-level ``verify_*`` functions
build one per call. Every entry point runs its stages through ``_fail_closed``,
the one place where an unexpected exception becomes InternalError
(docs/adr/0013-verifier-object.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from nacl.bindings import crypto_hash_sha256, crypto_sign_open
from nacl.exceptions import BadSignatureError as _NaclBadSignature

from licverify._armor import dearmor

if TYPE_CHECKING:  # imported lazily below: applications without activations never load it
    from licverify._activation import ActivationRequest, ActivationResponse, DeactivationReceipt
    from licverify._revocation import RevocationList
from licverify._certificate import (
    IssuingCertificate,
    decode_certificate_payload,
    decode_rollover_payload,
)
from licverify._cose import Envelope, parse_unverified
from licverify._errors import (
    BadSignatureError,
    ExpiredError,
    InternalError,
    LicenseError,
    MalformedError,
    NotActivatedError,
    NotYetValidError,
    UntrustedKeyError,
    VersionNotAllowedError,
    WrongKindError,
    WrongMachineError,
    WrongProductError,
)
from licverify._fields import version_text_ok
from licverify._fingerprint import MACHINE_ID, fingerprint_matches
from licverify._keys import TrustedRoots, key_id
from licverify._kinds import (
    ACTIVATION_REQUEST,
    ACTIVATION_RESPONSE,
    DEACTIVATION_RECEIPT,
    ISSUING_CERTIFICATE,
    LICENSE,
    REVOCATION_LIST,
    ROOT_ROLLOVER,
    Kind,
)
from licverify._license import (
    Frozen,
    LicenseTerms,
    decode_license_payload,
    terms_to_json,
)
from licverify._time import from_timestamp, iso, to_timestamp

_DAY = 86400
#: How far a revocation list's iat may lie after ``now``: clocks of issuer and
#: customer differ by minutes, and daylight-saving mistakes by an hour.
_CLOCK_SKEW = 3600
_P = ParamSpec("_P")
_T = TypeVar("_T")


class Status(str, Enum):
    """Verdict of a license that verified: usable, usable within its grace period, or
    past its expiry and grace but kept working by its ``at_expiry`` term ("maintain";
    format §7.1): the application keeps working and should say the license expired."""

    VALID = "valid"
    GRACE = "grace"
    MAINTAINED = "maintained"


def _term(name: str, doc: str) -> Any:
    return property(lambda self: getattr(self._terms, name), doc=doc)


def _time_term(name: str, doc: str) -> Any:
    def get(self: License) -> datetime | None:
        value = getattr(self._terms, name)
        return None if value is None else from_timestamp(value)

    return property(get, doc=doc)


class License(Frozen):
    """A verified license. Only ``Verifier.verify_license`` (and ``verify_license``) creates one.

    Term attributes are read from the verified terms on access (times as aware
    UTC datetimes); see ``LicenseTerms`` and docs/format.md §7 for each.

    Attributes:
        status: Status.VALID, Status.GRACE, or Status.MAINTAINED (expired, kept
            working by ``at_expiry`` "maintain"; flag it to the user).
        grace_days_left: whole days (rounded up) left in grace, else None.
        certificate: the issuing-key certificate that vouched for the signer.
        document: the binary document as verified.
        activation: the verified activation response, if one was checked.
    """

    __slots__ = ("_terms", "activation", "certificate", "document", "grace_days_left", "status")

    _terms: LicenseTerms
    activation: ActivationResponse | None
    certificate: IssuingCertificate
    document: bytes
    status: Status
    grace_days_left: int | None

    def __init__(
        self,
        terms: LicenseTerms,
        certificate: IssuingCertificate,
        document: bytes,
        status: Status,
        grace_days_left: int | None,
        activation: ActivationResponse | None = None,
    ) -> None:
        init = object.__setattr__  # Frozen; one call per slot, no **kwargs: this is the warm path
        init(self, "_terms", terms)
        init(self, "certificate", certificate)
        init(self, "document", document)
        init(self, "status", status)
        init(self, "grace_days_left", grace_days_left)
        init(self, "activation", activation)

    id = _term("id", "License id (stable across renewals).")
    version = _term("version", "License version; a renewal has a higher one.")
    issuer = _term("issuer", "Vendor name, or None.")
    customer = _term("customer", "Customer id.")
    product = _term("product", "Product id.")
    type = _term(
        "type", "One of perpetual, time-limited, subscription, trial, consumption, floating."
    )
    features = _term("features", "Feature name → value (None for an on/off feature).")
    max_version = _term("max_version", "Newest application version allowed, or None.")
    limits = _term("limits", "Seat limits (enforced by the vendor's ledger at activation).")
    allowed_users = _term("allowed_users", "Users allowed at issue time (empty: any).")
    allowed_devices = _term("allowed_devices", "Device fingerprints bound at issue time.")
    device_match = _term("device_match", "How many fingerprint components must match.")
    activation_required = _term("activation_required", "Whether an activation exchange is needed.")
    counters = _term("counters", "Counter name → Counter(limit, overage).")
    metadata = _term("metadata", "Free-form metadata.")
    extensions = _term("extensions", "Informational x- terms.")
    issued_at = _time_term("issued_at", "When the license was signed.")
    not_before = _time_term("not_before", "Start of validity, or None.")
    expires = _time_term("expires", "Expiry, or None for no expiry.")
    maintenance_end = _time_term("maintenance_end", "Releases after this are not covered, or None.")

    @property
    def grace(self) -> timedelta:
        """Grace period after ``expires``."""
        return timedelta(seconds=self._terms.grace_seconds)

    @property
    def at_expiry(self) -> str:
        """What happens once expiry and grace have passed: "restrict" or "maintain"."""
        return self._terms.at_expiry

    @property
    def expires_after_activation(self) -> timedelta | None:
        """Validity counted from the license's first activation, else None."""
        seconds = self._terms.expires_after_activation_seconds
        return None if seconds is None else timedelta(seconds=seconds)

    @property
    def effective_expires(self) -> datetime | None:
        """When it expires: ``expires``, or the date its activation fixed
        (``expires_after_activation``); None if neither is known."""
        if self._terms.expires is not None:
            return from_timestamp(self._terms.expires)
        fixed = None if self.activation is None else self.activation.license_expires
        return None if fixed is None else from_timestamp(fixed)

    @property
    def lease(self) -> timedelta | None:
        """Lease duration for floating licenses, else None."""
        seconds = self._terms.lease_seconds
        return None if seconds is None else timedelta(seconds=seconds)

    @property
    def refresh(self) -> timedelta | None:
        """How often an activation must be refreshed (format §7.1 "refresh"), else None.

        Activation responses for such a license carry an expiry; the machine
        needs a new response (a new request) before it.
        """
        seconds = self._terms.refresh_seconds
        return None if seconds is None else timedelta(seconds=seconds)

    @property
    def digest(self) -> str:
        """SHA-256 of the binary document, hex."""
        return crypto_hash_sha256(self.document).hex()

    @property
    def terms(self) -> LicenseTerms:
        """The decoded terms (NumericDate integers rather than datetimes)."""
        return self._terms

    def has_feature(self, name: str) -> bool:
        """True if the license grants feature ``name``: it is listed and its value is not false."""
        return self._terms.features.get(name, False) is not False

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict of the verdict and every term."""
        data: dict[str, Any] = {
            "status": self.status.value,
            "grace_days_left": self.grace_days_left,
        }
        data.update(terms_to_json(self._terms))
        data["key_id"] = self.certificate.key_id.hex()
        data["activation"] = None if self.activation is None else self.activation.to_json()
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
        raise MalformedError(
            f"armor says {armor_kind.name} but the document inside is {_a(envelope.kind.name)}"
        )
    return envelope, binary


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def expect_kind(envelope: Envelope, kind: Kind) -> None:
    """Raise WrongKindError unless the envelope is of ``kind``."""
    if envelope.kind is not kind:
        raise WrongKindError(f"this is {_a(envelope.kind.name)}, not {_a(kind.name)}")


def check_signature(envelope: Envelope, public_key: bytes, what: str) -> None:
    """Verify the envelope's signature over the bytes as received (libsodium, strict)."""
    try:
        crypto_sign_open(envelope.signature + envelope.to_be_signed, public_key)
    except _NaclBadSignature:
        raise BadSignatureError(
            f"{what} signature does not verify (tampered or wrong key)"
        ) from None


def certificate_from_bytes(
    data: bytes, roots: TrustedRoots, rollovers: tuple[bytes, ...] = ()
) -> IssuingCertificate:
    """Verify an issuing-key certificate against the trusted roots and decode it.

    A certificate signed by a root the application does not pin is accepted
    when ``rollovers`` lead to that root from a pinned one (format §6.5).
    """
    envelope = parse_unverified(data)
    if envelope.kind is not ISSUING_CERTIFICATE:
        raise WrongKindError(f"embedded certificate is {_a(envelope.kind.name)}")
    if envelope.certificate is not None:
        raise MalformedError("an issuing-key certificate cannot embed another certificate")
    root = roots.get(envelope.kid)
    if root is None:
        root = rolled_over_root(envelope.kid, rollovers, roots)
    check_signature(envelope, root, "issuing-key certificate")
    return decode_certificate_payload(envelope.payload, envelope.kid)


def rolled_over_root(kid: bytes, rollovers: tuple[bytes, ...], roots: TrustedRoots) -> bytes:
    """The root ``kid`` names, reached from a trusted root through ``rollovers`` (oldest first).

    The walk starts at the newest rollover whose signer is trusted and
    verifies every later one in order; each must be signed by the root the
    previous one vouched for, and the last must vouch for ``kid``.

    Raises:
        UntrustedKeyError: no trusted root leads to ``kid``.
    """
    links = [_rollover_envelope(link) for link in rollovers]
    start = next((i for i in range(len(links) - 1, -1, -1) if roots.get(links[i].kid)), None)
    if start is None:
        raise UntrustedKeyError(
            f"issuing key is certified by root {kid.hex()[:16]}, which is not trusted"
            + (" (nor is any root that vouches for it)" if links else "")
        )
    root = roots.get(links[start].kid) or b""
    for link in links[start:]:
        if link.kid != key_id(root):
            raise UntrustedKeyError("root rollovers are not a chain (each signed by the last root)")
        check_signature(link, root, "root rollover")
        root = decode_rollover_payload(link.payload, link.kid).public_key
    if key_id(root) != kid:
        raise UntrustedKeyError(
            f"root rollovers do not lead to root {kid.hex()[:16]}, which certified the issuing key"
        )
    return root


def _rollover_envelope(data: bytes) -> Envelope:
    envelope = parse_unverified(data)
    if envelope.kind is not ROOT_ROLLOVER:
        raise WrongKindError(f"a root rollover slot holds {_a(envelope.kind.name)}")
    return envelope


#: Certificates verified in this process, by their exact bytes, the rollovers
#: that led to their root and the trusted roots. A document signed by the same
#: issuing key skips the certificate's decode and signature check; anything
#: else (other bytes, chain or roots) is verified in full. Only successes are
#: kept, and the whole cache is dropped when it is full.
_VERIFIED: dict[tuple[bytes, tuple[bytes, ...], frozenset[bytes]], IssuingCertificate] = {}
_VERIFIED_MAX = 256


def verified_certificate(
    data: bytes, roots: TrustedRoots, rollovers: tuple[bytes, ...] = ()
) -> IssuingCertificate:
    """``certificate_from_bytes``, remembered per process (see ``_VERIFIED``)."""
    key = (data, rollovers, roots.cache_key)
    certificate = _VERIFIED.get(key)
    if certificate is None:
        certificate = certificate_from_bytes(data, roots, rollovers)
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[key] = certificate
    return certificate


def check_chain(envelope: Envelope, roots: TrustedRoots) -> IssuingCertificate:
    """Verify the embedded certificate, that it names the signer, and the signature."""
    if envelope.certificate is None:
        raise UntrustedKeyError(f"{envelope.kind.name} carries no issuing-key certificate")
    certificate = verified_certificate(envelope.certificate, roots, envelope.rollovers)
    if certificate.key_id != envelope.kid:
        raise UntrustedKeyError(
            f"{envelope.kind.name} is signed by a key its certificate does not name"
        )
    check_signature(envelope, certificate.public_key, envelope.kind.name)
    return certificate


def check_issuing_window(terms: LicenseTerms, certificate: IssuingCertificate) -> None:
    """The license must have been issued while its issuing key was valid."""
    if not certificate.covers(terms.issued_at):
        raise UntrustedKeyError(
            f"license was issued at {iso(terms.issued_at)}, outside its issuing key's validity "
            f"({iso(certificate.not_before)} to {iso(certificate.not_after)})"
        )


def check_product(terms: LicenseTerms, certificate: IssuingCertificate, product: str) -> None:
    """The license must be for ``product`` and its key allowed to sign for it."""
    if terms.product != product:
        raise WrongProductError(f"license is for product {terms.product!r}, not {product!r}")
    if not certificate.allows_product(product):
        raise WrongProductError(
            f"issuing key {certificate.key_id.hex()[:16]} may not sign for {product!r}"
        )


def check_time(terms: LicenseTerms, now: int) -> tuple[Status, int | None]:
    """Judge validity at ``now``: not before, expiry, grace. Returns the status and grace days."""
    if terms.not_before is not None and now < terms.not_before:
        raise NotYetValidError(f"license is not valid before {iso(terms.not_before)}")
    return judge_expiry(terms, terms.expires, now)


def judge_expiry(terms: LicenseTerms, expires: int | None, now: int) -> tuple[Status, int | None]:
    """Valid before ``expires``, then grace, then expired, or maintained (``at_expiry``)."""
    if expires is None or now < expires:
        return Status.VALID, None
    end = expires + terms.grace_seconds
    if now < end:
        return Status.GRACE, -(-(end - now) // _DAY)
    if terms.at_expiry == "maintain":
        return Status.MAINTAINED, None
    if terms.grace_seconds:
        raise ExpiredError(f"license expired on {iso(expires)} and its grace ended {iso(end)}")
    raise ExpiredError(f"license expired on {iso(expires)}")


def check_activation_expiry(
    terms: LicenseTerms, response: ActivationResponse, now: int
) -> tuple[Status, int | None] | None:
    """Stage 11, step 7 (format §11.4): the expiry an activation fixed for a license with
    ``expires_after_activation``, judged like exp; None for a license without that term."""
    fixed = response.license_expires
    seconds = terms.expires_after_activation_seconds
    if seconds is None:
        if fixed is not None:
            raise NotActivatedError(
                "the activation fixes a license expiry, and the license counts none from activation"
            )
        return None
    if fixed is None:
        raise NotActivatedError(
            "the activation does not fix the license's expiry (expires_after_activation)"
        )
    if fixed > response.issued_at + seconds:
        raise NotActivatedError(
            "the activation's license expiry is later than the license's term allows"
        )
    return judge_expiry(terms, fixed, now)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (4 - len(parts))


def check_gate(terms: LicenseTerms, app_version: str | None, app_release: int | None) -> None:
    """Refuse an application version or release date the license does not cover."""
    if (
        terms.max_version is not None
        and app_version is not None
        and _version_tuple(app_version) > _version_tuple(terms.max_version)
    ):
        raise VersionNotAllowedError(
            f"application version {app_version} is newer than the licensed {terms.max_version}"
        )
    if (
        terms.maintenance_end is not None
        and app_release is not None
        and app_release > terms.maintenance_end
    ):
        raise VersionNotAllowedError(
            f"this release ({iso(app_release)}) came after maintenance ended "
            f"({iso(terms.maintenance_end)})"
        )


def check_machine(terms: LicenseTerms, fingerprint: Mapping[str, bytes] | None) -> None:
    """A license bound to devices at issue time must match this machine."""
    if not terms.allowed_devices:
        return
    if fingerprint is None:
        raise WrongMachineError("license is bound to devices, and no machine fingerprint was given")
    for listed in terms.allowed_devices:
        if fingerprint_matches(listed, fingerprint, terms.device_match):
            return
    raise WrongMachineError("this machine is not one of the devices the license is bound to")


def check_activation_required(terms: LicenseTerms) -> None:
    """Refuse a license that needs an activation when none is installed."""
    if terms.activation_required:
        raise NotActivatedError("license requires activation, and this machine has none")


def check_activation(
    terms: LicenseTerms,
    license_document: bytes,
    activation: bytes | None,
    device_key: bytes | None,
    fingerprint: Mapping[str, bytes] | None,
    roots: TrustedRoots,
    now: int,
) -> ActivationResponse | None:
    """Check the activation response installed for this license on this device (format §11.4)."""
    if activation is None:
        check_activation_required(terms)
        return None
    from licverify._activation import license_digest

    response, _, certificate = open_response(activation, roots)
    if not certificate.allows_product(terms.product):
        raise WrongProductError(
            f"the activation's issuing key may not sign for product {terms.product!r}"
        )
    if response.license_id != terms.id or response.license_digest != license_digest(
        license_document
    ):
        raise NotActivatedError("the activation installed here is for another license")
    if response.device_key != device_key:
        raise WrongMachineError(
            "the activation belongs to another device (copied from another machine?)"
        )
    if fingerprint is None:
        raise WrongMachineError(
            "an activation is bound to a machine, and no machine fingerprint was given"
        )
    if not fingerprint_matches(response.fingerprint, fingerprint, terms.device_match):
        raise WrongMachineError("this machine does not match the one the license was activated on")
    activated_id = response.fingerprint.get(MACHINE_ID)
    if activated_id is not None and fingerprint.get(MACHINE_ID) != activated_id:
        # device_match tolerates replaced parts, never another OS installation: a
        # copied store would otherwise pass on easily set components (hostname, CPU).
        raise WrongMachineError(
            "this machine's machine-id is not the one the license was activated on "
            "(a copied state directory?)"
        )
    expiry = response.lease_expires  # the response's exp: lease end or refresh-by (§11.4)
    if expiry is None:
        if terms.lease_seconds is not None or terms.refresh_seconds is not None:
            raise NotActivatedError("the activation has no expiry but the license requires one")
    elif now >= expiry:
        if terms.type == "floating":
            raise NotActivatedError(f"the lease ended {iso(expiry)}; ask for a new one")
        raise NotActivatedError(
            f"the activation had to be refreshed by {iso(expiry)}; make a new request "
            "(licverify request) and send it to your vendor"
        )
    return response


def open_response(
    document: bytes, roots: TrustedRoots
) -> tuple[ActivationResponse, bytes, IssuingCertificate]:
    """Verify an activation response's chain and signature and decode it."""
    from licverify._activation import decode_response_payload

    envelope, binary = open_envelope(document)
    expect_kind(envelope, ACTIVATION_RESPONSE)
    certificate = check_chain(envelope, roots)
    response = decode_response_payload(envelope.payload)
    if not certificate.covers(response.issued_at):
        raise UntrustedKeyError("activation response was issued outside its issuing key's validity")
    return response, binary, certificate


def open_revocation_list(
    document: bytes, roots: TrustedRoots, product: str | None
) -> RevocationList:
    """Verify a revocation list's chain and signature and decode it (format §13.2).

    The signer's certificate must have been valid when the list was signed;
    a list for one product must be signed by a key allowed to sign for it, a
    list for every product by a key allowed to sign for any. ``product`` (an
    application's) refuses a list for another product.
    """
    from licverify._revocation import RevocationList, decode_revocation_payload

    envelope, binary = open_envelope(document)
    expect_kind(envelope, REVOCATION_LIST)
    certificate = check_chain(envelope, roots)
    decoded = decode_revocation_payload(envelope.payload)
    if not certificate.covers(decoded.issued_at):
        raise UntrustedKeyError("revocation list was issued outside its issuing key's validity")
    if decoded.product is None:
        if certificate.products is not None:
            raise WrongProductError(
                "a revocation list for every product must be signed by a key for every product"
            )
    elif not certificate.allows_product(decoded.product):
        raise WrongProductError(
            f"issuing key {certificate.key_id.hex()[:16]} may not sign for {decoded.product!r}"
        )
    if product is not None and decoded.product is not None and decoded.product != product:
        raise WrongProductError(
            f"revocation list is for product {decoded.product!r}, not {product!r}"
        )
    return RevocationList(
        number=decoded.number, issued_at=decoded.issued_at, issuer=decoded.issuer,
        product=decoded.product, licenses=decoded.licenses, activations=decoded.activations,
        keys=decoded.keys, key_id=certificate.key_id, document=binary,
    )  # fmt: skip


def open_device_signed(document: bytes, kind: Kind) -> tuple[Any, bytes]:
    """Verify a request or receipt: signed by the device key it carries."""
    from licverify._activation import (
        decode_receipt_payload,
        decode_request_payload,
        require_self_signed,
    )

    envelope, binary = open_envelope(document)
    expect_kind(envelope, kind)
    if envelope.certificate is not None:
        raise MalformedError(f"{kind.name} cannot carry a certificate")
    decode = decode_request_payload if kind is ACTIVATION_REQUEST else decode_receipt_payload
    # Decoding before the signature check is safe here: the strict decoder is
    # bounded, and the key to check with is inside the payload.
    document_value = decode(envelope.payload)
    require_self_signed(envelope.kid, document_value.device_key, kind.name)
    check_signature(envelope, document_value.device_key, kind.name)
    return document_value, binary


# --- fail closed ------------------------------------------------------------------------------


def _fail_closed(stages: Callable[_P, _T]) -> Callable[_P, _T]:
    """Run ``stages`` so that any failure is a LicenseError: the one fail-closed wrapper.

    A LicenseError passes through unchanged; any other exception (a bug, a
    decoder surprise, MemoryError) becomes InternalError, so a caller that
    catches LicenseError never treats an unexpected failure as "licensed".
    Every entry point runs its stages through a function decorated with this;
    argument checks stay outside it, so a wrong argument is still a
    TypeError or ValueError (STYLE §6).
    """

    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return stages(*args, **kwargs)
        except LicenseError:
            raise
        except Exception as exc:  # fail closed: any surprise means "not licensed"
            raise InternalError(
                f"verification failed unexpectedly ({exc.__class__.__name__})"
            ) from exc

    guarded.__name__, guarded.__qualname__ = stages.__name__, stages.__qualname__
    guarded.__doc__ = stages.__doc__
    return guarded


@_fail_closed
def _certificate(document: bytes, roots: TrustedRoots, at: int) -> IssuingCertificate:
    envelope, binary = open_envelope(document)
    expect_kind(envelope, ISSUING_CERTIFICATE)
    certificate = certificate_from_bytes(binary, roots)
    if at < certificate.not_before:
        raise NotYetValidError(f"issuing key is not valid before {iso(certificate.not_before)}")
    if at >= certificate.not_after:
        raise ExpiredError(f"issuing key expired on {iso(certificate.not_after)}")
    return certificate


@_fail_closed
def _response(document: bytes, roots: TrustedRoots) -> ActivationResponse:
    return open_response(document, roots)[0]


@_fail_closed
def _revocation_list(document: bytes, roots: TrustedRoots, product: str | None) -> RevocationList:
    return open_revocation_list(document, roots, product)


@_fail_closed
def _device_signed(document: bytes, kind: Kind) -> Any:
    return open_device_signed(document, kind)[0]


# --- argument checks (outside the fail-closed wrapper: programmer errors stay TypeError) --------


def _as_bytes(document: object, what: str = "document") -> bytes:
    if type(document) is bytes:  # the usual case: no copy, no isinstance on a tuple
        return document
    if not isinstance(document, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes")
    return bytes(document)


def _check_product(product: object) -> str:
    if not isinstance(product, str):
        raise TypeError("product must be a string")
    if not product:
        raise ValueError("product must not be empty")
    return product


def _check_app_version(app_version: object) -> str | None:
    if app_version is not None:
        if not isinstance(app_version, str):
            raise TypeError("app_version must be a string like '2.4.1'")
        if not version_text_ok(app_version):
            raise ValueError("app_version must look like '2.4.1' (1 to 4 parts of ASCII digits)")
    return app_version


def _check_fingerprint(fingerprint: object) -> None:
    if fingerprint is not None and not isinstance(fingerprint, Mapping):
        raise TypeError(
            "fingerprint must be a mapping of component name to digest "
            "(machine_fingerprint() or parse_fingerprint(text))"
        )


def _check_activation(activation: object, device_key: object) -> bytes:
    data = _as_bytes(activation, "activation")
    if not isinstance(device_key, bytes) or len(device_key) != 32:
        raise ValueError("device_key (32 bytes) is required with an activation")
    return data


# --- the Verifier -----------------------------------------------------------------------------


class Verifier(Frozen):
    """Verifies documents for one application: its trusted roots, product and version.

    Build one at start-up and reuse it. The arguments are checked here, once,
    rather than on every verification, and the object is immutable, so one
    instance can be shared between threads. ``verify_license`` and the other
    module-level functions are shorthands that build a Verifier per call.

    Args:
        trusted_roots: root public keys the application trusts (a TrustedRoots,
            or an iterable of 32-byte keys). At least one.
        product: the product id this application is.
        app_version: the application's version (``"2.4.1"``), checked against
            a license's version gate; None skips that check.
        app_release: the application's release date (an aware datetime),
            checked against a license's maintenance end; None skips that check.

    Raises:
        TypeError, ValueError: an argument is wrong (empty trust set, naive
            datetime, malformed version).

    Example::

        verifier = licverify.Verifier(trusted_roots=[ROOT_KEY], product="acme-cad",
                                      app_version="2.4.1")
        lic = verifier.verify_license(data, now=datetime.now(timezone.utc))
    """

    __slots__ = ("_release", "app_release", "app_version", "product", "trusted_roots")

    trusted_roots: TrustedRoots
    product: str
    app_version: str | None
    app_release: datetime | None
    _release: int | None  # app_release as a NumericDate, converted once

    def __init__(
        self,
        *,
        trusted_roots: TrustedRoots | Iterable[bytes],
        product: str,
        app_version: str | None = None,
        app_release: datetime | None = None,
    ) -> None:
        # The order of the checks is the one verify_license always had.
        init = object.__setattr__  # Frozen: every attribute is set once, here
        init(self, "product", _check_product(product))
        init(self, "app_version", _check_app_version(app_version))
        init(self, "trusted_roots", TrustedRoots.coerce(trusted_roots))
        release = None if app_release is None else to_timestamp(app_release, "app_release")
        init(self, "app_release", app_release)
        init(self, "_release", release)

    def __repr__(self) -> str:
        return (
            f"Verifier(product={self.product!r}, app_version={self.app_version!r}, "
            f"app_release={iso(self._release)!r}, trusted_roots={self.trusted_roots!r})"
        )

    def verify_license(
        self,
        document: bytes,
        *,
        now: datetime,
        fingerprint: Mapping[str, bytes] | None = None,
        activation: bytes | None = None,
        device_key: bytes | None = None,
    ) -> License:
        """Verify a license document offline and return it, or raise.

        Args:
            document: the license file's contents, armored or binary.
            now: the time to judge validity at (an aware datetime). Pass
                ``datetime.now(timezone.utc)`` to use the system clock.
            fingerprint: this machine's fingerprint (``machine_fingerprint(product)``);
                required only for licenses bound to devices.
            activation: the activation response installed on this machine, if
                any (the local store keeps it; see ``LocalStore.check``).
            device_key: this machine's device public key; required with ``activation``.

        Returns:
            The verified License; ``status`` says VALID, GRACE or MAINTAINED.

        Raises:
            LicenseError: a subclass naming the failure (``error.code``).
            TypeError, ValueError: the arguments themselves are wrong.
        """
        data = _as_bytes(document)
        _check_fingerprint(fingerprint)
        if activation is not None:
            activation = _check_activation(activation, device_key)
        # Positional: a keyword dict per call would cost more than every check above.
        return self._verify_license(data, to_timestamp(now), fingerprint, activation, device_key)

    @_fail_closed
    def _verify_license(
        self,
        document: bytes,
        at: int,
        fingerprint: Mapping[str, bytes] | None,
        activation: bytes | None,
        device_key: bytes | None,
        *,
        for_import: bool = False,
    ) -> License:
        """The stages, in the order of format §9, for one call's inputs (checked already).

        The options that stay the same (roots, product, version) are the
        Verifier's own; ``for_import`` stops before the activation step.
        """
        envelope, binary = open_envelope(document)
        expect_kind(envelope, LICENSE)
        certificate = check_chain(envelope, self.trusted_roots)
        terms = decode_license_payload(envelope.payload)
        check_issuing_window(terms, certificate)
        check_product(terms, certificate, self.product)
        status, grace_days = check_time(terms, at)
        check_gate(terms, self.app_version, self._release)
        check_machine(terms, fingerprint)
        response = None
        if not for_import:
            response = check_activation(
                terms, binary, activation, device_key, fingerprint, self.trusted_roots, at
            )
            fixed = None if response is None else check_activation_expiry(terms, response, at)
            if fixed is not None:
                status, grace_days = fixed
        return License(terms, certificate, binary, status, grace_days, response)

    def verify_response(self, document: bytes) -> ActivationResponse:
        """Verify an activation response's signature chain and decode it.

        Whether it answers this machine's request is the local store's check
        (``LocalStore.install``); whether it is still valid, and whether its
        issuing key may sign for this product, ``verify_license``'s (with
        ``activation=``).

        Raises:
            LicenseError: a subclass naming the failure.
        """
        return _response(_as_bytes(document), self.trusted_roots)

    def verify_request(self, document: bytes) -> ActivationRequest:
        """Verify an activation request (armored or binary): well-formed and signed by its device key.

        Raises:
            LicenseError: a subclass naming the failure.
        """
        return verify_request(document)

    def verify_receipt(self, document: bytes) -> DeactivationReceipt:
        """Verify a deactivation receipt (armored or binary): intact and signed by its device key.

        Raises:
            LicenseError: a subclass naming the failure.
        """
        return verify_receipt(document)

    def verify_certificate(self, document: bytes, *, now: datetime) -> IssuingCertificate:
        """Verify an issuing-key certificate against the trusted roots; it must be valid at ``now``.

        Raises:
            LicenseError: a subclass naming the failure.
        """
        return _certificate(_as_bytes(document), self.trusted_roots, to_timestamp(now))

    def verify_revocation_list(self, document: bytes, *, now: datetime) -> RevocationList:
        """Verify a revocation list (armored or binary) for this application's product.

        ``RevocationList.check(license)`` then refuses a license it revokes.
        Whether the list is newer than one seen before is the caller's check
        (``LocalStore.import_revocations`` keeps the highest number).

        Args:
            document: the list, armored or binary.
            now: when it is checked (an aware datetime); a list signed after
                ``now`` is refused (``not-yet-valid``): a clock set back.

        Raises:
            LicenseError: a subclass naming the failure.
        """
        data = _as_bytes(document)
        at = to_timestamp(now)
        revocations = _revocation_list(data, self.trusted_roots, self.product)
        if revocations.issued_at > at + _CLOCK_SKEW:
            raise NotYetValidError(
                f"revocation list was signed at {iso(revocations.issued_at)}, after now"
            )
        return revocations


# --- module-level functions: one Verifier per call ------------------------------------------


def verify_license(
    document: bytes,
    *,
    trusted_roots: TrustedRoots | Iterable[bytes],
    product: str,
    now: datetime,
    fingerprint: Mapping[str, bytes] | None = None,
    app_version: str | None = None,
    app_release_date: datetime | None = None,
    activation: bytes | None = None,
    device_key: bytes | None = None,
) -> License:
    """Verify a license document offline and return it, or raise.

    The same as ``Verifier(trusted_roots=..., product=..., app_version=...,
    app_release=app_release_date).verify_license(document, now=..., ...)``;
    an application that checks more than once can build the Verifier once.

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
        activation: the activation response installed on this machine, if
            any (the local store keeps it; see ``LocalStore.check``).
        device_key: this machine's device public key; required with ``activation``.

    Returns:
        The verified License; ``status`` says VALID, GRACE or MAINTAINED.

    Raises:
        LicenseError: a subclass naming the failure (``error.code``).
        TypeError, ValueError: the arguments themselves are wrong.
    """
    data = _as_bytes(document)  # a wrong document type is reported first, as it always was
    if app_release_date is not None:  # a wrong date is reported under this function's name for it
        to_timestamp(app_release_date, "app_release_date")
    verifier = Verifier(trusted_roots=trusted_roots, product=product, app_version=app_version,
                        app_release=app_release_date)  # fmt: skip
    return verifier.verify_license(
        data, now=now, fingerprint=fingerprint, activation=activation, device_key=device_key
    )


def verify_license_for_import(
    document: bytes,
    *,
    trusted_roots: TrustedRoots | Iterable[bytes],
    product: str,
    now: datetime,
    fingerprint: Mapping[str, bytes] | None = None,
) -> License:
    """``verify_license`` without the activation step: for a store importing a
    license that will be activated afterwards."""
    data = _as_bytes(document)
    verifier = Verifier(trusted_roots=trusted_roots, product=product)
    _check_fingerprint(fingerprint)
    return verifier._verify_license(data, to_timestamp(now), fingerprint, None, None,
                                    for_import=True)  # fmt: skip


def verify_certificate(
    document: bytes, *, trusted_roots: TrustedRoots | Iterable[bytes], now: datetime
) -> IssuingCertificate:
    """Verify an issuing-key certificate (armored or binary) and check it is valid at ``now``.

    Raises:
        LicenseError: a subclass naming the failure.
    """
    data = _as_bytes(document)
    return _certificate(data, TrustedRoots.coerce(trusted_roots), to_timestamp(now))


def verify_request(document: bytes) -> ActivationRequest:
    """Verify an activation request (armored or binary): well-formed and signed by its device key.

    The vendor's ledger decides whether to grant it; this only proves the
    request is intact and that its sender holds the device key it names.

    Raises:
        LicenseError: a subclass naming the failure.
    """
    return _device_signed(_as_bytes(document), ACTIVATION_REQUEST)  # type: ignore[no-any-return]


def verify_receipt(document: bytes) -> DeactivationReceipt:
    """Verify a deactivation receipt (armored or binary): intact and signed by its device key.

    Raises:
        LicenseError: a subclass naming the failure.
    """
    return _device_signed(_as_bytes(document), DEACTIVATION_RECEIPT)  # type: ignore[no-any-return]


def verify_response(
    document: bytes, *, trusted_roots: TrustedRoots | Iterable[bytes]
) -> ActivationResponse:
    """Verify an activation response's signature chain and decode it.

    Whether it answers this machine's request is the local store's check
    (``LocalStore.install``); whether it is still valid, ``verify_license``'s.

    Raises:
        LicenseError: a subclass naming the failure.
    """
    data = _as_bytes(document)
    return _response(data, TrustedRoots.coerce(trusted_roots))


def verify_revocation_list(
    document: bytes,
    *,
    trusted_roots: TrustedRoots | Iterable[bytes],
    product: str,
    now: datetime,
) -> RevocationList:
    """Verify a revocation list (armored or binary) for ``product``.

    The same as ``Verifier(trusted_roots=..., product=...).verify_revocation_list``.

    Raises:
        LicenseError: a subclass naming the failure.
    """
    data = _as_bytes(document)
    verifier = Verifier(trusted_roots=trusted_roots, product=product)
    return verifier.verify_revocation_list(data, now=now)
