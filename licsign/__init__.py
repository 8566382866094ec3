"""licsign: issue Ed25519-signed licenses offline and keep a ledger of them.

The vendor side of the toolkit. It uses ``licverify`` for the wire format,
so what licsign writes is exactly what licverify reads.
"""

from licsign._errors import (
    AlreadyExists,
    InvalidInput,
    KeyFileError,
    LicsignError,
    NotFound,
    WorkspaceError,
    WrongPassphrase,
)
from licsign._issue import IssuedLicense, IssueRequest, issue_license, new_license_id
from licsign._keyfile import read_key_file, write_key_file
from licsign._ledger import Ledger
from licsign._workspace import Workspace, init_workspace

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "InvalidInput",
    "IssueRequest",
    "IssuedLicense",
    "KeyFileError",
    "Ledger",
    "LicsignError",
    "NotFound",
    "Workspace",
    "WorkspaceError",
    "WrongPassphrase",
    "init_workspace",
    "issue_license",
    "new_license_id",
    "read_key_file",
    "write_key_file",
]
