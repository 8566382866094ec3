"""The vendor's ledger: SQLite, migrations by ``user_version``, hash-chained events.

Every change runs in one ``BEGIN IMMEDIATE`` transaction (see DESIGN §4: the
write lock is taken up front, so limits checked inside it cannot be raced)
and appends an event whose hash covers the previous event's hash.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from licsign._errors import AlreadyExists, NotFound, WorkspaceError
from licsign._ledger.activations import ActivationRecords

_MIGRATIONS = [
    """
    CREATE TABLE keys (
        key_id      TEXT PRIMARY KEY,
        role        TEXT NOT NULL CHECK (role IN ('root', 'issuing')),
        public_key  BLOB NOT NULL,
        certificate BLOB,
        not_before  INTEGER,
        not_after   INTEGER,
        products    TEXT,
        created_at  INTEGER NOT NULL,
        status      TEXT NOT NULL DEFAULT 'active'
    );
    CREATE TABLE products (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        features    TEXT NOT NULL DEFAULT '[]',
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE customers (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        email       TEXT,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE licenses (
        id          TEXT NOT NULL,
        version     INTEGER NOT NULL,
        product_id  TEXT NOT NULL REFERENCES products(id),
        customer_id TEXT NOT NULL REFERENCES customers(id),
        type        TEXT NOT NULL,
        issued_at   INTEGER NOT NULL,
        expires     INTEGER,
        terms       TEXT NOT NULL,
        document    BLOB NOT NULL,
        digest      TEXT NOT NULL UNIQUE,
        key_id      TEXT NOT NULL REFERENCES keys(key_id),
        status      TEXT NOT NULL DEFAULT 'active',
        PRIMARY KEY (id, version)
    );
    CREATE INDEX licenses_by_customer ON licenses(customer_id);
    CREATE TABLE events (
        seq         INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        kind        TEXT NOT NULL,
        subject     TEXT NOT NULL,
        data        TEXT NOT NULL,
        prev_hash   BLOB NOT NULL,
        hash        BLOB NOT NULL
    );
    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
    """,
    # 2: devices and activations (air-gapped activation exchange).
    """
    CREATE TABLE devices (
        license_id  TEXT NOT NULL,
        id          TEXT NOT NULL,
        device_key  BLOB NOT NULL,
        fingerprint TEXT NOT NULL,
        label       TEXT NOT NULL,
        user        TEXT,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        PRIMARY KEY (license_id, id)
    );
    CREATE TABLE activations (
        id            TEXT PRIMARY KEY,
        license_id    TEXT NOT NULL,
        device_id     TEXT NOT NULL,
        user          TEXT,
        request_nonce BLOB NOT NULL,
        license_digest BLOB NOT NULL,
        created_at    INTEGER NOT NULL,
        renewed_at    INTEGER NOT NULL,
        lease_expires INTEGER,
        ended_at      INTEGER,
        end_reason    TEXT CHECK (end_reason IN ('deactivated', 'reset'))
    );
    CREATE UNIQUE INDEX one_open_activation_per_device
        ON activations(license_id, device_id) WHERE ended_at IS NULL;
    CREATE INDEX activations_by_license ON activations(license_id, ended_at);
    CREATE TABLE receipts (
        nonce         BLOB PRIMARY KEY,
        activation_id TEXT NOT NULL REFERENCES activations(id),
        received_at   INTEGER NOT NULL
    );
    """,
    # 3: every signed term binds (issue 6). The fingerprint an activation was
    # first granted for (renewals must match it), the refresh deadline, whether
    # an ended activation counts as a transfer (a returned lease does not), and
    # each product's fingerprint policy.
    """
    ALTER TABLE activations ADD COLUMN fingerprint TEXT;
    ALTER TABLE activations ADD COLUMN refresh_by INTEGER;
    ALTER TABLE activations ADD COLUMN counts_transfer INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE products ADD COLUMN min_components INTEGER NOT NULL DEFAULT 2;
    ALTER TABLE products ADD COLUMN required_components TEXT NOT NULL DEFAULT '["machine-id"]';
    """,
]
SCHEMA_VERSION = len(_MIGRATIONS)
_GENESIS = b"\x00" * 32


class Ledger(ActivationRecords):
    """A connection to the ledger database.

    Args:
        path: the SQLite file. Created (and migrated) if ``create`` is True.
    """

    def __init__(self, path: str, create: bool = False) -> None:
        import os

        from licsign._files import create_private_file, restrict_mode

        if not create and not os.path.exists(path):
            raise WorkspaceError(f"no ledger at {path!r}; run 'licsign init' first")
        # The ledger holds customer names, e-mails and fingerprints: 0600. SQLite
        # gives its -wal and -shm files the database file's mode, so the file is
        # made 0600 before SQLite sees it; older, looser files are tightened.
        if create:
            create_private_file(path)
        for suffix in ("", "-wal", "-shm", "-journal"):
            restrict_mode(path + suffix, 0o600, "ledger file")
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"ledger {path!r} cannot be opened: {exc}") from None

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying connection, for reads by other licsign modules."""
        return self._db

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _migrate(self) -> None:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise WorkspaceError("the ledger was written by a newer licsign; upgrade licsign")
        for number in range(current, SCHEMA_VERSION):
            with self.transaction():
                for statement in _MIGRATIONS[number].split(";\n"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- events -------------------------------------------------------------------------

    def append_event(self, at: int, kind: str, subject: str, data: dict[str, Any]) -> None:
        """Append a hash-chained event; call inside ``transaction()``."""
        row = self._db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row["seq"] + 1, row["hash"]) if row else (1, _GENESIS)
        body = json.dumps(data, sort_keys=True, separators=(",", ":"))
        digest = _event_hash(prev, seq, at, kind, subject, body)
        self._db.execute(
            "INSERT INTO events (seq, at, kind, subject, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
            (seq, at, kind, subject, body, prev, digest),
        )

    def verify_events(self) -> int:
        """Recompute the event chain; return the number of events.

        Raises:
            WorkspaceError: an event was altered, removed or reordered.
        """
        prev = _GENESIS
        count = 0
        for row in self._db.execute("SELECT * FROM events ORDER BY seq"):
            count += 1
            expected = _event_hash(
                prev, row["seq"], row["at"], row["kind"], row["subject"], row["data"]
            )
            if row["seq"] != count or row["prev_hash"] != prev or row["hash"] != expected:
                raise WorkspaceError(f"ledger history is broken at event {row['seq']}")
            prev = row["hash"]
        return count

    # --- keys ---------------------------------------------------------------------------

    def add_key(self, at: int, key_id: str, role: str, public_key: bytes, certificate: bytes | None = None,
                not_before: int | None = None, not_after: int | None = None,
                products: list[str] | None = None) -> None:  # fmt: skip
        """Record a key (call inside ``transaction()``)."""
        self._db.execute(
            "INSERT INTO keys (key_id, role, public_key, certificate, not_before, not_after,"
            " products, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (key_id, role, public_key, certificate, not_before, not_after,
             None if products is None else json.dumps(products), at),
        )  # fmt: skip
        self.append_event(at, "key.created", key_id, {"role": role, "not_after": not_after})

    def keys(self) -> list[sqlite3.Row]:
        """All keys, root first, then issuing keys newest first."""
        return self._db.execute(
            "SELECT * FROM keys ORDER BY role = 'issuing', created_at DESC, rowid DESC"
        ).fetchall()

    def issuing_key_for(self, product: str, at: int) -> sqlite3.Row | None:
        """The newest active issuing key valid at ``at`` that may sign for ``product``."""
        for row in self._db.execute(
            "SELECT * FROM keys WHERE role = 'issuing' AND status = 'active'"
            " AND not_before <= ? AND not_after > ? ORDER BY created_at DESC, rowid DESC",
            (at, at),
        ):
            if row["products"] is None or product in json.loads(row["products"]):
                return row  # type: ignore[no-any-return]
        return None

    # --- products and customers ---------------------------------------------------------

    def add_product(
        self,
        at: int,
        product_id: str,
        name: str,
        features: list[str],
        min_components: int = 2,
        required_components: list[str] | None = None,
    ) -> None:
        """Add a product; raise AlreadyExists if the id is taken.

        ``min_components`` and ``required_components`` are the fingerprint
        policy activation requests must meet (machine-id is always required).
        """
        required = sorted({"machine-id", *(required_components or [])})
        with self.transaction():
            if self._db.execute("SELECT 1 FROM products WHERE id = ?", (product_id,)).fetchone():
                raise AlreadyExists(f"product {product_id!r} already exists")
            self._db.execute(
                "INSERT INTO products (id, name, features, created_at, min_components,"
                " required_components) VALUES (?,?,?,?,?,?)",
                (product_id, name, json.dumps(features), at, min_components, json.dumps(required)),
            )
            self.append_event(
                at, "product.added", product_id,
                {"name": name, "features": features, "min_components": min_components,
                 "required_components": required},
            )  # fmt: skip

    def set_product_policy(
        self, at: int, product_id: str, min_components: int, required_components: list[str]
    ) -> None:
        """Replace a product's fingerprint policy (machine-id stays required)."""
        required = sorted({"machine-id", *required_components})
        with self.transaction():
            self.product(product_id)
            self._db.execute(
                "UPDATE products SET min_components = ?, required_components = ? WHERE id = ?",
                (min_components, json.dumps(required), product_id),
            )
            self.append_event(
                at, "product.policy", product_id,
                {"min_components": min_components, "required_components": required},
            )  # fmt: skip

    def product(self, product_id: str) -> sqlite3.Row:
        """The product row; raise NotFound if unknown."""
        row = self._db.execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
        if row is None:
            known = [r[0] for r in self._db.execute("SELECT id FROM products ORDER BY id LIMIT 10")]
            hint = (
                f" (known: {', '.join(known)})"
                if known
                else " (add one with 'licsign product add')"
            )
            raise NotFound(f"unknown product {product_id!r}{hint}")
        return row  # type: ignore[no-any-return]

    def products(self) -> list[sqlite3.Row]:
        """All products by id."""
        return self._db.execute("SELECT * FROM products ORDER BY id").fetchall()

    def add_customer(self, at: int, customer_id: str, name: str, email: str | None) -> None:
        """Add a customer; raise AlreadyExists if the id is taken."""
        with self.transaction():
            if self._db.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone():
                raise AlreadyExists(f"customer {customer_id!r} already exists")
            self._db.execute(
                "INSERT INTO customers (id, name, email, created_at) VALUES (?,?,?,?)",
                (customer_id, name, email, at),
            )
            self.append_event(at, "customer.added", customer_id, {"name": name, "email": email})

    def customer(self, customer_id: str) -> sqlite3.Row:
        """The customer row; raise NotFound if unknown."""
        row = self._db.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
        if row is None:
            raise NotFound(
                f"unknown customer {customer_id!r} (add one with 'licsign customer add')"
            )
        return row  # type: ignore[no-any-return]

    def customers(self) -> list[sqlite3.Row]:
        """All customers by id."""
        return self._db.execute("SELECT * FROM customers ORDER BY id").fetchall()

    # --- licenses -----------------------------------------------------------------------

    def add_license(self, at: int, row: dict[str, Any]) -> None:
        """Record an issued license (call inside ``transaction()``)."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._db.execute(f"INSERT INTO licenses ({columns}) VALUES ({marks})", tuple(row.values()))
        self.append_event(
            at, "license.issued", row["id"],
            {"version": row["version"], "digest": row["digest"], "key_id": row["key_id"]},
        )  # fmt: skip

    def license_exists(self, license_id: str) -> bool:
        """True if any version of ``license_id`` exists."""
        return (
            self._db.execute("SELECT 1 FROM licenses WHERE id = ?", (license_id,)).fetchone()
            is not None
        )

    def licenses(
        self, product: str | None = None, customer: str | None = None
    ) -> list[sqlite3.Row]:
        """The newest version of every license, newest first, optionally filtered."""
        sql = (
            "SELECT l.* FROM licenses l WHERE l.version = "
            "(SELECT MAX(version) FROM licenses WHERE id = l.id)"
        )
        args: list[str] = []
        if product:
            sql += " AND l.product_id = ?"
            args.append(product)
        if customer:
            sql += " AND l.customer_id = ?"
            args.append(customer)
        return self._db.execute(sql + " ORDER BY l.issued_at DESC, l.id", args).fetchall()

    def license(self, license_id: str) -> sqlite3.Row:
        """The newest version of a license; raise NotFound if unknown."""
        row = self._db.execute(
            "SELECT * FROM licenses WHERE id = ? ORDER BY version DESC LIMIT 1", (license_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"unknown license {license_id!r}")
        return row  # type: ignore[no-any-return]

    def license_history(self, license_id: str) -> list[sqlite3.Row]:
        """Events about a license, oldest first."""
        return self._db.execute(
            "SELECT at, kind, data FROM events WHERE subject = ? ORDER BY seq", (license_id,)
        ).fetchall()


def _event_hash(prev: bytes, seq: int, at: int, kind: str, subject: str, body: str) -> bytes:
    text = json.dumps([seq, at, kind, subject, body], separators=(",", ":")).encode()
    return hashlib.sha256(prev + text).digest()
