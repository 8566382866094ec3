"""The verifier's exceptions: one root, one stable code per failure.

Every name ends in ``Error`` (STYLE §6). The names without the suffix that
0.1 used (``Malformed``, ``Expired``, ...) are kept as aliases of the same
classes for one release, so ``except licverify.Expired`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "BadSignatureError",
    "Expired",
    "ExpiredError",
    "InternalError",
    "LicenseError",
    "Malformed",
    "MalformedError",
    "NotActivated",
    "NotActivatedError",
    "NotYetValid",
    "NotYetValidError",
    "Revoked",
    "RevokedError",
    "StoreError",
    "Unsupported",
    "UnsupportedError",
    "UntrustedKey",
    "UntrustedKeyError",
    "VersionNotAllowed",
    "VersionNotAllowedError",
    "WrongKind",
    "WrongKindError",
    "WrongMachine",
    "WrongMachineError",
    "WrongProduct",
    "WrongProductError",
]


class LicenseError(Exception):
    """Root of every verification failure.

    ``code`` is stable and meant for programs (JSON output, exit mapping,
    test vectors); ``str(error)`` is one line meant for people.
    """

    code = "license-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedError(LicenseError):
    """The bytes are not a well-formed, strictly encoded document."""

    code = "malformed"


class WrongKindError(MalformedError):
    """A well-formed document of another kind (for example a certificate)."""

    code = "wrong-kind"


class UnsupportedError(LicenseError):
    """Well-formed, but uses an algorithm, format version or critical term we do not know."""

    code = "unsupported"


class UntrustedKeyError(LicenseError):
    """The signing key does not chain to a trusted root, or is not allowed to sign this."""

    code = "untrusted-key"


class BadSignatureError(LicenseError):
    """A signature does not verify over the bytes as received."""

    code = "bad-signature"


class NotYetValidError(LicenseError):
    """The license (or its issuing key) is not valid yet at the given time."""

    code = "not-yet-valid"


class ExpiredError(LicenseError):
    """The license is past its expiry and its grace period."""

    code = "expired"


class WrongProductError(LicenseError):
    """The license is for another product, or its issuing key may not sign this product."""

    code = "wrong-product"


class WrongMachineError(LicenseError):
    """The license is bound to devices and this machine is not one of them."""

    code = "wrong-machine"


class NotActivatedError(LicenseError):
    """The license requires an activation that this machine does not have."""

    code = "not-activated"


class RevokedError(LicenseError):
    """The license or its issuing key has been revoked."""

    code = "revoked"


class VersionNotAllowedError(LicenseError):
    """The application version (or release date) is outside what the license allows."""

    code = "version-not-allowed"


class StoreError(LicenseError):
    """The local store cannot do what was asked (nothing installed, state unreadable)."""

    code = "store-error"


class ClockRolledBackError(LicenseError):
    """The machine's clock is behind a time the store saw (or a document's issue time) by more
    than the tolerance: it was set back (format §12.4)."""

    code = "clock-rolled-back"


class LimitReachedError(LicenseError):
    """Consuming would pass a counter's limit plus its overage (format §12.5)."""

    code = "limit-reached"


class InternalError(LicenseError):
    """Verification hit an unexpected error; the license is treated as invalid (fail closed)."""

    code = "internal-error"


# Old names, kept for one release (0.x); removed in the next.
Malformed = MalformedError
WrongKind = WrongKindError
Unsupported = UnsupportedError
UntrustedKey = UntrustedKeyError
BadSignature = BadSignatureError
NotYetValid = NotYetValidError
Expired = ExpiredError
WrongProduct = WrongProductError
WrongMachine = WrongMachineError
NotActivated = NotActivatedError
Revoked = RevokedError
VersionNotAllowed = VersionNotAllowedError

#: Every code, for documentation and for tests that the mapping stays stable.
ERROR_CODES: dict[str, type[LicenseError]] = {
    cls.code: cls
    for cls in (
        LicenseError, MalformedError, WrongKindError, UnsupportedError, UntrustedKeyError,
        BadSignatureError, NotYetValidError, ExpiredError, WrongProductError, WrongMachineError,
        NotActivatedError, RevokedError, VersionNotAllowedError, StoreError,
        ClockRolledBackError, LimitReachedError, InternalError,
    )
}  # fmt: skip
