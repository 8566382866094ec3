"""The issuer's exceptions: one root with a stable code, subclasses per failure."""

from __future__ import annotations


class LicsignError(Exception):
    """Root of every issuer-side failure; ``str()`` is one line for people."""

    code = "licsign-error"


class WorkspaceError(LicsignError):
    """The workspace is missing, incomplete or already initialized."""

    code = "workspace"


class KeyFileError(LicsignError):
    """A key file is unreadable, damaged, or has unsafe permissions."""

    code = "key-file"


class WrongPassphraseError(KeyFileError):
    """The passphrase does not open the key file."""

    code = "wrong-passphrase"


class NotFoundError(LicsignError):
    """A product, customer, license or key does not exist in the ledger."""

    code = "not-found"


class AlreadyExistsError(LicsignError):
    """A product, customer or file with that name already exists."""

    code = "already-exists"


class InvalidInputError(LicsignError):
    """An argument or input file is not acceptable."""

    code = "invalid-input"


class RefusedError(LicsignError):
    """The ledger refuses the request: a limit is reached or a rule forbids it."""

    code = "refused"


# Old names, kept for one release (0.x); removed in the next.
WrongPassphrase = WrongPassphraseError
NotFound = NotFoundError
AlreadyExists = AlreadyExistsError
InvalidInput = InvalidInputError
Refused = RefusedError
