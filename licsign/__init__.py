"""licsign: issue Ed25519-signed licenses offline and keep a ledger of them.

The vendor side of the toolkit. It uses ``licverify`` for the wire format,
so what licsign writes is exactly what licverify reads. The public API::

    import licsign

    ws = licsign.init_workspace(home, passphrase, now=now, vendor="Acme Inc.")
    with ws.ledger.transaction():          # one atomic step, however many changes
        licsign.add_product(ws, "acme-cad", name="Acme CAD", features=["export"], now=now)
        licsign.add_customer(ws, "globex", name="Globex Corp", now=now)
    issued = licsign.issue_license(
        ws, licsign.IssueRequest("acme-cad", "globex", "perpetual", max_devices=2),
        lambda: passphrase, now=now,
    )
    granted = licsign.activate(ws, request_bytes, lambda: passphrase, now=now)

Every service takes an explicit ``now`` (and its randomness where it draws
any), and every failure is a ``LicsignError`` with a stable ``code``.
"""

from licsign._errors import (
    AlreadyExists,
    AlreadyExistsError,
    InvalidInput,
    InvalidInputError,
    KeyFileError,
    LicsignError,
    NotFound,
    NotFoundError,
    Refused,
    RefusedError,
    WorkspaceError,
    WrongPassphrase,
    WrongPassphraseError,
)
from licsign._keyfile import read_key_file, write_key_file
from licsign._ledger import (
    ActivationRecord,
    CustomerRecord,
    DeviceRecord,
    EventRecord,
    KeyRecord,
    Ledger,
    LedgerError,
    LicenseRecord,
    ProductRecord,
    ReceiptRecord,
)
from licsign._services.activation import Granted, SeatFreed, activate, deactivate, reset_device
from licsign._services.catalog import (
    CustomerInfo,
    ProductInfo,
    add_customer,
    add_product,
    customers,
    products,
    set_product_policy,
)
from licsign._services.issuing import IssuedLicense, IssueRequest, issue_license, new_license_id
from licsign._services.keys import (
    TRUST_ROOT_FORMATS,
    KeyInfo,
    key_status,
    keys,
    new_issuing_key,
    trust_root,
    trusted_roots,
)
from licsign._services.ledger import LedgerInfo, migrate_ledger
from licsign._services.reports import (
    DeviceReport,
    HistoryEntry,
    LicenseDetails,
    LicenseSummary,
    devices,
    license_details,
    license_status,
    licenses,
)
from licsign._validation import MAX_COMPONENTS, MAX_LIMIT, MIN_COMPONENTS, InvalidFieldError
from licsign._workspace import Workspace, init_workspace

__version__ = "0.1.0"

__all__ = [
    "MAX_COMPONENTS",
    "MAX_LIMIT",
    "MIN_COMPONENTS",
    "TRUST_ROOT_FORMATS",
    "ActivationRecord",
    "AlreadyExists",
    "AlreadyExistsError",
    "CustomerInfo",
    "CustomerRecord",
    "DeviceRecord",
    "DeviceReport",
    "EventRecord",
    "Granted",
    "HistoryEntry",
    "InvalidFieldError",
    "InvalidInput",
    "InvalidInputError",
    "IssueRequest",
    "IssuedLicense",
    "KeyFileError",
    "KeyInfo",
    "KeyRecord",
    "Ledger",
    "LedgerError",
    "LedgerInfo",
    "LicenseDetails",
    "LicenseRecord",
    "LicenseSummary",
    "LicsignError",
    "NotFound",
    "NotFoundError",
    "ProductInfo",
    "ProductRecord",
    "ReceiptRecord",
    "Refused",
    "RefusedError",
    "SeatFreed",
    "Workspace",
    "WorkspaceError",
    "WrongPassphrase",
    "WrongPassphraseError",
    "activate",
    "add_customer",
    "add_product",
    "customers",
    "deactivate",
    "devices",
    "init_workspace",
    "issue_license",
    "key_status",
    "keys",
    "license_details",
    "license_status",
    "licenses",
    "migrate_ledger",
    "new_issuing_key",
    "new_license_id",
    "products",
    "read_key_file",
    "reset_device",
    "set_product_policy",
    "trust_root",
    "trusted_roots",
    "write_key_file",
]
