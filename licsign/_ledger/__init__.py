"""The vendor's ledger, on SQLite (embedded default) or PostgreSQL (shared).

The only package of licsign that speaks SQL (tests/test_layering.py checks).
One module per entity (keys, products, customers, licenses, activations,
events), typed frozen records (``records``), numbered migrations
(``migrations``) and the two engines (``engine``).

Every change runs in one unit of work, ``Ledger.transaction()``: it takes the
ledger's write lock up front (SQLite ``BEGIN IMMEDIATE``, PostgreSQL an
advisory transaction lock; docs/adr/0015-ledger-engines.md), so limits
checked inside it cannot be raced, and it nests (savepoints), so a service
that calls other services is still one atomic step. Every change appends an
event whose hash covers the previous event's hash; ``integrity`` keeps the
newest one in the workspace (checked when a unit begins, recorded after it
commits) and holds what ``ledger verify`` checks; ``backup`` writes and
restores whole ledgers (docs/adr/0018-ledger-integrity.md).
"""

from __future__ import annotations

import os
import stat
from typing import Any

from licsign._errors import WorkspaceError
from licsign._ledger import migrations
from licsign._ledger.activations import Activations
from licsign._ledger.customers import Customers
from licsign._ledger.engine import (
    Database,
    LedgerBusyError,
    LedgerError,
    SqliteDatabase,
    connect,
    is_postgres_url,
    postgres_url,
    redact_url,
)
from licsign._ledger.events import Events
from licsign._ledger.integrity import ChainHead, HeadFile, Integrity, LedgerIntegrityError, Problem
from licsign._ledger.keys import Keys
from licsign._ledger.licenses import Licenses
from licsign._ledger.migrations import SCHEMA_VERSION
from licsign._ledger.orders import Orders
from licsign._ledger.products import Products
from licsign._ledger.records import (
    ActivationRecord,
    CustomerRecord,
    DeviceRecord,
    EventRecord,
    KeyRecord,
    LicenseRecord,
    LicenseUserRecord,
    ManagerRecord,
    NewSeat,
    OrderRecord,
    ProductRecord,
    ReceiptRecord,
    Seat,
    UserCodeRecord,
)
from licsign._ledger.revocations import RevocationListRecord, RevocationRecord, Revocations
from licsign._ledger.shares import Shares
from licsign._ledger.trials import TrialRecord, Trials
from licsign._ledger.usage import RefillRecord, Usage, UsageReportRecord
from licsign._ledger.users import Users

__all__ = [
    "SCHEMA_VERSION",
    "ActivationRecord",
    "ChainHead",
    "CustomerRecord",
    "DeviceRecord",
    "EventRecord",
    "HeadFile",
    "KeyRecord",
    "Ledger",
    "LedgerBusyError",
    "LedgerError",
    "LedgerIntegrityError",
    "LicenseRecord",
    "LicenseUserRecord",
    "ManagerRecord",
    "NewSeat",
    "OrderRecord",
    "Problem",
    "ProductRecord",
    "ReceiptRecord",
    "RefillRecord",
    "RevocationListRecord",
    "RevocationRecord",
    "Seat",
    "TrialRecord",
    "UsageReportRecord",
    "UserCodeRecord",
    "is_postgres_url",
    "postgres_url",
    "redact_url",
]


class Ledger(
    Keys,
    Products,
    Customers,
    Licenses,
    Activations,
    Orders,
    Users,
    Shares,
    Revocations,
    Trials,
    Usage,
    Integrity,
    Events,
):
    """A connection to the ledger.

    Args:
        location: a SQLite file path or a ``postgresql://`` URL.
        create: create the SQLite file (0600) if it does not exist; with
            PostgreSQL the database must exist (and may be empty).
        migrate: apply missing migrations (``licsign init`` and
            ``licsign ledger migrate``); otherwise a ledger whose schema is
            not this licsign's is refused and left unchanged.

    Raises:
        LedgerError: the ledger is missing, damaged, unreachable, or at
            another schema version.
    """

    def __init__(self, location: str, create: bool = False, migrate: bool = False) -> None:
        location = os.fspath(location)
        sqlite = "://" not in location
        if sqlite:
            _check_sqlite_path(location, create)
        self._db: Database = connect(location)
        self.location = self._db.location
        try:
            #: Migrations this open applied (empty unless ``create`` or ``migrate``).
            self.applied: list[int] = []
            if create:
                self.applied = migrations.create(self._db, self.location)
            elif migrate:
                self.applied = migrations.migrate(self._db, self.location)
            migrations.check_version(self._db, self.location)
            if isinstance(self._db, SqliteDatabase):  # a ledger: now it may be written
                _tighten_sqlite_files(location)
                self._db.use_wal()
        except BaseException:
            self._db.close()
            raise

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._db.dialect

    def schema_version(self) -> int:
        """The number of migrations applied to this ledger."""
        return self._db.schema_version()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, in a fixed order: to show a ledger unchanged, on any engine."""
        out = {}
        for table, order in _TABLES.items():
            rows = self._db.all(f"SELECT * FROM {table} ORDER BY {order}")
            out[table] = [{k: v for k, v in r.items() if k != "rowid"} for r in rows]
        return out


#: The ledger's tables and a total order of each one's rows (for ``dump``).
_TABLES = {
    "keys": "key_id", "products": "id", "customers": "id", "licenses": "id, version",
    "devices": "license_id, id", "activations": "id", "receipts": "nonce", "events": "seq",
    "orders": "id", "order_managers": "order_id, email, added_at",
    "license_users": "id", "user_codes": "id", "license_shares": "id",
    "revocations": "number", "revocation_lists": "number", "trials": "product_id, machine",
    "usage_reports": "license_id, device_id, seq", "refills": "id",
}  # fmt: skip


def _check_sqlite_path(path: str, create: bool) -> None:
    """Refuse a path that is not a regular file (a link, a directory, a FIFO); create a new
    ledger file 0600 before SQLite sees it (SQLite gives its -wal and -shm files its mode)."""
    from licsign._files import create_private_file

    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        if not create:
            raise WorkspaceError(f"no ledger at {path!r}; run 'licsign init' first") from None
        create_private_file(path)
        return
    except OSError as exc:
        raise LedgerError(f"ledger {path!r} cannot be opened: {exc.strerror}") from None
    if stat.S_ISLNK(mode):
        raise LedgerError(f"ledger {path!r} is a symbolic link; give the file itself")
    if not stat.S_ISREG(mode):
        raise LedgerError(f"ledger {path!r} is not a regular file")


def _tighten_sqlite_files(path: str) -> None:
    """The ledger holds customer names, e-mails and fingerprints: its files are 0600 (older,
    looser ones are tightened). A -wal, -shm or -journal file that is a link is refused."""
    from licsign._files import restrict_mode

    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            mode = os.lstat(path + suffix).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(mode):
            raise LedgerError(f"ledger file {path + suffix!r} is not a regular file")
        restrict_mode(path + suffix, 0o600, "ledger file")
