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

Every failure raises a subclass of ``LicenseError`` with a stable ``code``.
"""

from typing import TYPE_CHECKING

from licverify._certificate import IssuingCertificate
from licverify._errors import (
    BadSignature,
    Expired,
    InternalError,
    LicenseError,
    Malformed,
    NotActivated,
    NotYetValid,
    Revoked,
    StoreError,
    Unsupported,
    UntrustedKey,
    VersionNotAllowed,
    WrongKind,
    WrongMachine,
    WrongProduct,
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
    verify_certificate,
    verify_license,
    verify_receipt,
    verify_request,
    verify_response,
)

if TYPE_CHECKING:  # loaded lazily at run time, see __getattr__
    from licverify._activation import ActivationRequest, ActivationResponse, DeactivationReceipt
    from licverify._inspect import Check, InspectReport, inspect_document
    from licverify._store import LocalStore

__version__ = "0.1.0"

_LAZY = {"Check": "_inspect", "InspectReport": "_inspect", "inspect_document": "_inspect",
         "LocalStore": "_store", "ActivationRequest": "_activation",
         "ActivationResponse": "_activation", "DeactivationReceipt": "_activation"}  # fmt: skip


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
    "BadSignature",
    "Check",
    "Counter",
    "DeactivationReceipt",
    "Expired",
    "InspectReport",
    "InternalError",
    "IssuingCertificate",
    "License",
    "LicenseError",
    "Limits",
    "LocalStore",
    "Malformed",
    "NotActivated",
    "NotYetValid",
    "Revoked",
    "Status",
    "StoreError",
    "TrustedRoots",
    "Unsupported",
    "UntrustedKey",
    "VersionNotAllowed",
    "WrongKind",
    "WrongMachine",
    "WrongProduct",
    "fingerprint_matches",
    "format_fingerprint",
    "inspect_document",
    "load_public_keys",
    "machine_fingerprint",
    "parse_fingerprint",
    "verify_certificate",
    "verify_license",
    "verify_receipt",
    "verify_request",
    "verify_response",
]
