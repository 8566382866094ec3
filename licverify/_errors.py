"""The verifier's exceptions: one root, one stable code per failure."""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "Expired",
    "InternalError",
    "LicenseError",
    "Malformed",
    "NotActivated",
    "NotYetValid",
    "Revoked",
    "StoreError",
    "Unsupported",
    "UntrustedKey",
    "VersionNotAllowed",
    "WrongKind",
    "WrongMachine",
    "WrongProduct",
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


class Malformed(LicenseError):
    """The bytes are not a well-formed, strictly encoded document."""

    code = "malformed"


class WrongKind(Malformed):
    """A well-formed document of another kind (for example a certificate)."""

    code = "wrong-kind"


class Unsupported(LicenseError):
    """Well-formed, but uses an algorithm, format version or critical term we do not know."""

    code = "unsupported"


class UntrustedKey(LicenseError):
    """The signing key does not chain to a trusted root, or is not allowed to sign this."""

    code = "untrusted-key"


class BadSignature(LicenseError):
    """A signature does not verify over the bytes as received."""

    code = "bad-signature"


class NotYetValid(LicenseError):
    """The license (or its issuing key) is not valid yet at the given time."""

    code = "not-yet-valid"


class Expired(LicenseError):
    """The license is past its expiry and its grace period."""

    code = "expired"


class WrongProduct(LicenseError):
    """The license is for another product, or its issuing key may not sign this product."""

    code = "wrong-product"


class WrongMachine(LicenseError):
    """The license is bound to devices and this machine is not one of them."""

    code = "wrong-machine"


class NotActivated(LicenseError):
    """The license requires an activation that this machine does not have."""

    code = "not-activated"


class Revoked(LicenseError):
    """The license or its issuing key has been revoked."""

    code = "revoked"


class VersionNotAllowed(LicenseError):
    """The application version (or release date) is outside what the license allows."""

    code = "version-not-allowed"


class StoreError(LicenseError):
    """The local store cannot do what was asked (nothing installed, state unreadable)."""

    code = "store-error"


class InternalError(LicenseError):
    """Verification hit an unexpected error; the license is treated as invalid (fail closed)."""

    code = "internal-error"


#: Every code, for documentation and for tests that the mapping stays stable.
ERROR_CODES = {cls.code: cls for cls in (globals()[name] for name in __all__)}
