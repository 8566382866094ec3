"""licverify: verify licsign licenses offline.

The minimal library an application embeds. It imports only the standard
library, PyNaCl (libsodium) and cbor2::

    from datetime import datetime, timezone
    import licverify

    roots = licverify.TrustedRoots([ROOT_PUBLIC_KEY])
    lic = licverify.verify_license(
        open("app.lic", "rb").read(),
        trusted_roots=roots,
        product="acme-cad",
        now=datetime.now(timezone.utc),
    )
    if lic.has_feature("export-step"):
        ...

Verifier: an application that checks its license more than once (at start-up,
then periodically, or for several files) builds one ``Verifier`` holding its
trust roots, product and version, and reuses it. It checks those arguments
once and is immutable, so it can be shared between threads::

    verifier = licverify.Verifier(
        trusted_roots=[ROOT_PUBLIC_KEY],
        product="acme-cad",
        app_version="2.4.1",
    )
    lic = verifier.verify_license(data, now=datetime.now(timezone.utc))
    response = verifier.verify_response(activation_bytes)

Every failure raises a subclass of ``LicenseError`` with a stable ``code``
(``ExpiredError``, ``WrongMachineError``, ...). The names without the
``Error`` suffix (``Expired``, ``WrongMachine``, ...) are aliases of the same
classes, kept for one release (0.x).
"""

from typing import TYPE_CHECKING

from licverify._certificate import IssuingCertificate
from licverify._errors import (
    BadSignature,
    BadSignatureError,
    ClockRolledBackError,
    Expired,
    ExpiredError,
    InternalError,
    LicenseError,
    LimitReachedError,
    Malformed,
    MalformedError,
    NotActivated,
    NotActivatedError,
    NotYetValid,
    NotYetValidError,
    Revoked,
    RevokedError,
    StoreError,
    Unsupported,
    UnsupportedError,
    UntrustedKey,
    UntrustedKeyError,
    VersionNotAllowed,
    VersionNotAllowedError,
    WrongKind,
    WrongKindError,
    WrongMachine,
    WrongMachineError,
    WrongProduct,
    WrongProductError,
)
from licverify._fingerprint import (
    fingerprint_matches,
    format_fingerprint,
    machine_fingerprint,
    parse_fingerprint,
)
from licverify._keys import TrustedRoots, load_public_keys
from licverify._license import Counter, Limits
from licverify._verify import (
    License,
    Status,
    Verifier,
    verify_certificate,
    verify_license,
    verify_receipt,
    verify_request,
    verify_response,
    verify_revocation_list,
)

if TYPE_CHECKING:  # loaded lazily at run time, see __getattr__
    from licverify._activation import ActivationRequest, ActivationResponse, DeactivationReceipt
    from licverify._inspect import Check, InspectReport, inspect_document
    from licverify._revocation import RevocationList
    from licverify._store import LocalStore
    from licverify._usage import (
        ClockReset,
        CounterRefill,
        UsageReport,
        verify_clock_reset,
        verify_counter_refill,
        verify_usage_report,
    )

__version__ = "0.1.0"

_LAZY = {"Check": "_inspect", "InspectReport": "_inspect", "inspect_document": "_inspect",
         "LocalStore": "_store", "ActivationRequest": "_activation",
         "ActivationResponse": "_activation", "DeactivationReceipt": "_activation",
         "RevocationList": "_revocation", "UsageReport": "_usage", "CounterRefill": "_usage",
         "ClockReset": "_usage", "verify_usage_report": "_usage",
         "verify_counter_refill": "_usage", "verify_clock_reset": "_usage"}  # fmt: skip


def __getattr__(name: str) -> object:
    # The support path (inspect), the store (json, tempfile) and activation
    # documents are loaded on first use, to keep import → verdict time low.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"licverify.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'licverify' has no attribute {name!r}")


__all__ = [
    "ActivationRequest",
    "ActivationResponse",
    "BadSignature",  # old name of BadSignatureError, kept for one release (0.x)
    "BadSignatureError",
    "Check",
    "ClockReset",
    "ClockRolledBackError",
    "Counter",
    "CounterRefill",
    "DeactivationReceipt",
    "Expired",  # old name of ExpiredError, kept for one release (0.x)
    "ExpiredError",
    "InspectReport",
    "InternalError",
    "IssuingCertificate",
    "License",
    "LicenseError",
    "LimitReachedError",
    "Limits",
    "LocalStore",
    "Malformed",  # old name of MalformedError, kept for one release (0.x)
    "MalformedError",
    "NotActivated",  # old name of NotActivatedError, kept for one release (0.x)
    "NotActivatedError",
    "NotYetValid",  # old name of NotYetValidError, kept for one release (0.x)
    "NotYetValidError",
    "RevocationList",
    "Revoked",  # old name of RevokedError, kept for one release (0.x)
    "RevokedError",
    "Status",
    "StoreError",
    "TrustedRoots",
    "Unsupported",  # old name of UnsupportedError, kept for one release (0.x)
    "UnsupportedError",
    "UntrustedKey",  # old name of UntrustedKeyError, kept for one release (0.x)
    "UntrustedKeyError",
    "UsageReport",
    "Verifier",
    "VersionNotAllowed",  # old name of VersionNotAllowedError, kept for one release (0.x)
    "VersionNotAllowedError",
    "WrongKind",  # old name of WrongKindError, kept for one release (0.x)
    "WrongKindError",
    "WrongMachine",  # old name of WrongMachineError, kept for one release (0.x)
    "WrongMachineError",
    "WrongProduct",  # old name of WrongProductError, kept for one release (0.x)
    "WrongProductError",
    "fingerprint_matches",
    "format_fingerprint",
    "inspect_document",
    "load_public_keys",
    "machine_fingerprint",
    "parse_fingerprint",
    "verify_certificate",
    "verify_clock_reset",
    "verify_counter_refill",
    "verify_license",
    "verify_receipt",
    "verify_request",
    "verify_response",
    "verify_revocation_list",
    "verify_usage_report",
]
