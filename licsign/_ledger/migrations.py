"""The ledger's schema, as numbered migrations run on SQLite and PostgreSQL alike.

Each migration is a list of statements written once in SQLite's dialect;
``render`` adapts types for PostgreSQL (BIGINT timestamps, BYTEA blobs, an
explicit ``rowid`` where SQLite has an implicit one). Where the engines truly
differ (the append-only triggers) a statement gives both forms.

Migrations run only from ``licsign init`` and ``licsign ledger migrate``
(``Ledger(..., migrate=True)``); opening a ledger never changes its schema.
"""

from __future__ import annotations

import re

from licsign._ledger.engine import Database, LedgerError, SqliteDatabase

Statement = str | dict[str, list[str]]

_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events"
        " BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
        "CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events"
        " BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$",
        "CREATE TRIGGER events_append_only_update BEFORE UPDATE OR DELETE ON events"
        " FOR EACH ROW EXECUTE FUNCTION events_append_only()",
        "CREATE TRIGGER events_append_only_truncate BEFORE TRUNCATE ON events"
        " FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()",
    ],
}

#: Fills the validity columns of licenses issued before they existed, from the ledger's
#: JSON copy of the signed terms (ISO 8601 UTC times, ``grace_seconds``): the one
#: statement whose JSON and date functions differ between the engines.
_VALIDITY_BACKFILL = {
    "sqlite": [
        "UPDATE licenses SET"
        " not_before = CAST(strftime('%s', json_extract(terms, '$.not_before')) AS INTEGER),"
        " grace_ends = expires + COALESCE(json_extract(terms, '$.grace_seconds'), 0)"
    ],
    "postgresql": [
        "UPDATE licenses SET"
        " not_before = CAST(EXTRACT(EPOCH FROM CAST(CAST(terms AS json)->>'not_before'"
        " AS timestamptz)) AS BIGINT),"
        " grace_ends = expires + COALESCE(CAST(CAST(terms AS json)->>'grace_seconds' AS BIGINT), 0)"
    ],
}

MIGRATIONS: list[list[Statement]] = [
    # 1: keys, products, customers, licenses and the hash-chained events.
    [
        """CREATE TABLE keys (
            {rowid}
            key_id      TEXT PRIMARY KEY,
            role        TEXT NOT NULL CHECK (role IN ('root', 'issuing')),
            public_key  BLOB NOT NULL,
            certificate BLOB,
            not_before  INTEGER,
            not_after   INTEGER,
            products    TEXT,
            created_at  INTEGER NOT NULL,
            status      TEXT NOT NULL DEFAULT 'active'
        )""",
        """CREATE TABLE products (
            id          TEXT PRIMARY KEY,
            name        TEXT NOT NULL,
            features    TEXT NOT NULL DEFAULT '[]',
            created_at  INTEGER NOT NULL
        )""",
        """CREATE TABLE customers (
            id          TEXT PRIMARY KEY,
            name        TEXT NOT NULL,
            email       TEXT,
            created_at  INTEGER NOT NULL
        )""",
        """CREATE TABLE licenses (
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
        )""",
        "CREATE INDEX licenses_by_customer ON licenses(customer_id)",
        """CREATE TABLE events (
            seq         INTEGER PRIMARY KEY,
            at          INTEGER NOT NULL,
            kind        TEXT NOT NULL,
            subject     TEXT NOT NULL,
            data        TEXT NOT NULL,
            prev_hash   BLOB NOT NULL,
            hash        BLOB NOT NULL
        )""",
        _APPEND_ONLY,
    ],
    # 2: devices and activations (air-gapped activation exchange).
    [
        """CREATE TABLE devices (
            license_id  TEXT NOT NULL,
            id          TEXT NOT NULL,
            device_key  BLOB NOT NULL,
            fingerprint TEXT NOT NULL,
            label       TEXT NOT NULL,
            "user"      TEXT,
            first_seen  INTEGER NOT NULL,
            last_seen   INTEGER NOT NULL,
            PRIMARY KEY (license_id, id)
        )""",
        """CREATE TABLE activations (
            {rowid}
            id            TEXT PRIMARY KEY,
            license_id    TEXT NOT NULL,
            device_id     TEXT NOT NULL,
            "user"        TEXT,
            request_nonce BLOB NOT NULL,
            license_digest BLOB NOT NULL,
            created_at    INTEGER NOT NULL,
            renewed_at    INTEGER NOT NULL,
            lease_expires INTEGER,
            ended_at      INTEGER,
            end_reason    TEXT CHECK (end_reason IN ('deactivated', 'reset'))
        )""",
        "CREATE UNIQUE INDEX one_open_activation_per_device"
        " ON activations(license_id, device_id) WHERE ended_at IS NULL",
        "CREATE INDEX activations_by_license ON activations(license_id, ended_at)",
        """CREATE TABLE receipts (
            nonce         BLOB PRIMARY KEY,
            activation_id TEXT NOT NULL REFERENCES activations(id),
            received_at   INTEGER NOT NULL
        )""",
    ],
    # 3: every signed term binds (issue 6). The fingerprint an activation was
    # first granted for (renewals must match it), the refresh deadline, whether
    # an ended activation counts as a transfer (a returned lease does not), and
    # each product's fingerprint policy.
    [
        "ALTER TABLE activations ADD COLUMN fingerprint TEXT",
        "ALTER TABLE activations ADD COLUMN refresh_by INTEGER",
        "ALTER TABLE activations ADD COLUMN counts_transfer INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE products ADD COLUMN min_components INTEGER NOT NULL DEFAULT 2",
        "ALTER TABLE products ADD COLUMN required_components TEXT NOT NULL"
        " DEFAULT '[\"machine-id\"]'",
    ],
    # 4: every lookup has an index (issue 8): a license's history, its devices and
    # activations, and the licenses of a product, without scanning.
    [
        "CREATE INDEX events_by_subject ON events(subject, seq)",
        "CREATE INDEX activations_by_device ON activations(license_id, device_id)",
        "CREATE INDEX licenses_by_product ON licenses(product_id)",
        "CREATE INDEX devices_by_first_seen ON devices(license_id, first_seen)",
    ],
    # 5: orders and their license managers (issue 8), a license's order, and the instants a
    # license's status changes (start of validity, end of grace), so `licsign list
    # --order/--status/--expiring-within` is an indexed query, not a scan in Python.
    [
        """CREATE TABLE orders (
            id          TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL REFERENCES customers(id),
            reference   TEXT,
            created_at  INTEGER NOT NULL
        )""",
        "CREATE INDEX orders_by_customer ON orders(customer_id, id)",
        # A manager removed and added again is a new row: the old one keeps its dates.
        """CREATE TABLE order_managers (
            {rowid}
            order_id    TEXT NOT NULL REFERENCES orders(id),
            email       TEXT NOT NULL,
            name        TEXT,
            added_at    INTEGER NOT NULL,
            removed_at  INTEGER
        )""",
        "CREATE UNIQUE INDEX one_current_manager ON order_managers(order_id, email)"
        " WHERE removed_at IS NULL",
        "ALTER TABLE licenses ADD COLUMN order_id TEXT REFERENCES orders(id)",
        "CREATE INDEX licenses_by_order ON licenses(order_id)",
        # NULL not_before: valid from the start; NULL grace_ends: never expires.
        "ALTER TABLE licenses ADD COLUMN not_before INTEGER",
        "ALTER TABLE licenses ADD COLUMN grace_ends INTEGER",
        _VALIDITY_BACKFILL,
        "CREATE INDEX licenses_by_not_before ON licenses(not_before)",
        "CREATE INDEX licenses_by_expiry ON licenses(expires)",
        "CREATE INDEX licenses_by_grace_end ON licenses(grace_ends)",
    ],
    # License users and their one-time activation codes (issue 8, docs/adr/0017-user-codes.md).
    # Ids are given by the ledger under its write lock; a user removed and assigned again is
    # a new row. A code is stored only as a keyed hash; at most one unused code per user.
    [
        """CREATE TABLE license_users (
            id          INTEGER PRIMARY KEY,
            license_id  TEXT NOT NULL,
            email       TEXT NOT NULL,
            name        TEXT,
            max_devices INTEGER,
            added_at    INTEGER NOT NULL,
            removed_at  INTEGER
        )""",
        "CREATE UNIQUE INDEX one_current_user ON license_users(license_id, email)"
        " WHERE removed_at IS NULL",
        "CREATE INDEX license_users_by_license ON license_users(license_id, added_at)",
        """CREATE TABLE user_codes (
            id            INTEGER PRIMARY KEY,
            user_id       INTEGER NOT NULL REFERENCES license_users(id),
            code_hash     BLOB NOT NULL,
            key_id        TEXT NOT NULL,
            created_at    INTEGER NOT NULL,
            ended_at      INTEGER,
            end_reason    TEXT CHECK (end_reason IN ('used', 'replaced', 'removed')),
            activation_id TEXT
        )""",
        "CREATE UNIQUE INDEX one_unused_code_per_user ON user_codes(user_id) WHERE ended_at IS NULL",
        "CREATE INDEX user_codes_by_user ON user_codes(user_id, code_hash)",
    ],
    # License shares (issue 8, docs/issuer.md "Sharing a license"): another user may use a
    # license, one sharer device at a time. A share removed and made again is a new row. Its
    # one-time activation code is kept only as a keyed hash (as user codes: ADR 0017).
    [
        """CREATE TABLE license_shares (
            id              INTEGER PRIMARY KEY,
            license_id      TEXT NOT NULL,
            email           TEXT NOT NULL,
            added_at        INTEGER NOT NULL,
            removed_at      INTEGER,
            code_hash       BLOB,
            key_id          TEXT,
            code_at         INTEGER,
            code_used_at    INTEGER,
            code_activation TEXT
        )""",
        "CREATE UNIQUE INDEX one_current_share ON license_shares(license_id, email)"
        " WHERE removed_at IS NULL",
        "CREATE INDEX license_shares_by_license ON license_shares(license_id, email, added_at)",
    ],
    # Revocations (issue 8, docs/format.md §13, docs/adr/0020-revocation-lists.md): each
    # revoked license (all versions, or one), activation or issuing key, numbered in the
    # order revoked; and each signed revocation list exported, whose number only grows.
    [
        """CREATE TABLE revocations (
            number      INTEGER PRIMARY KEY,
            kind        TEXT NOT NULL CHECK (kind IN ('license', 'activation', 'key')),
            subject     TEXT NOT NULL,
            version     INTEGER,
            reason      TEXT,
            at          INTEGER NOT NULL
        )""",
        "CREATE INDEX revocations_by_subject ON revocations(kind, subject)",
        """CREATE TABLE revocation_lists (
            number      INTEGER PRIMARY KEY,
            issued_at   INTEGER NOT NULL,
            key_id      TEXT NOT NULL,
            product     TEXT,
            digest      TEXT NOT NULL
        )""",
    ],
    # 9: the two `licsign list` filters that still read every license row (measured at a
    # million licenses, bench/ledger_scale.py): --type, and --status revoked (a few rows:
    # a partial index). Each in list order, so the matches need no sort.
    [
        "CREATE INDEX licenses_by_type ON licenses(type, issued_at DESC, id)",
        "CREATE INDEX licenses_revoked ON licenses(issued_at DESC, id) WHERE status = 'revoked'",
    ],
    # 10: `licsign list` in list order, a page at a time (--limit, --after): walked in this
    # order until the page is full, instead of sorting every match (8 s at a million).
    ["CREATE INDEX licenses_in_list_order ON licenses(issued_at DESC, id)"],
    # 11: trials, once per machine (issue 9, docs/security.md "Trials: once per machine"): per
    # product, each machine that took a trial, named by the machine-id component of its
    # request's fingerprint (salted per product already; hex), with the trial license, its
    # activation and device, and when. The key refuses a second trial of a machine.
    [
        """CREATE TABLE trials (
            product_id    TEXT NOT NULL,
            machine       TEXT NOT NULL,
            license_id    TEXT NOT NULL,
            activation_id TEXT NOT NULL,
            device_id     TEXT NOT NULL,
            taken_at      INTEGER NOT NULL,
            PRIMARY KEY (product_id, machine)
        )""",
    ],
    # 12: counters (issue 9, docs/format.md §14): the usage reports devices sent (one per
    # license, device and report number) and the refills signed for activations.
    [
        """CREATE TABLE usage_reports (
            license_id  TEXT NOT NULL,
            device_id   TEXT NOT NULL,
            seq         INTEGER NOT NULL,
            issued_at   INTEGER NOT NULL,
            received_at INTEGER NOT NULL,
            records     INTEGER NOT NULL,
            head        TEXT NOT NULL,
            totals      TEXT NOT NULL,
            refilled    TEXT NOT NULL,
            clock       INTEGER NOT NULL,
            PRIMARY KEY (license_id, device_id, seq)
        )""",
        """CREATE TABLE refills (
            id            TEXT PRIMARY KEY,
            license_id    TEXT NOT NULL,
            activation_id TEXT NOT NULL,
            device_id     TEXT NOT NULL,
            counter       TEXT NOT NULL,
            amount        INTEGER NOT NULL,
            issued_at     INTEGER NOT NULL
        )""",
        "CREATE INDEX refills_by_license ON refills(license_id, issued_at)",
    ],
    # 13: a page of one product's licenses in list order (`licsign list --product`, the
    # portal's filter): walked in order until the page is full, not every match sorted
    # (87 ms at 300,000 licenses, 250 ms at a million, bench/portal.py).
    ["CREATE INDEX licenses_by_product_in_order ON licenses(product_id, issued_at DESC, id)"],
]

#: The schema version this licsign writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)


def render(statement: Statement, dialect: str) -> list[str]:
    """The SQL text of one migration statement for ``dialect``."""
    if isinstance(statement, dict):
        return statement[dialect]
    if dialect == "sqlite":
        return [statement.replace("{rowid}", "")]
    # An identity column, not BIGSERIAL: a role with table privileges alone can insert.
    text = statement.replace("{rowid}", "rowid BIGINT GENERATED BY DEFAULT AS IDENTITY,")
    return [re.sub(r"\bBLOB\b", "BYTEA", re.sub(r"\bINTEGER\b", "BIGINT", text))]


#: The tables every licsign ledger has (from migration 1 on).
LEDGER_TABLES = {"keys", "products", "customers", "licenses", "events"}
_NEWER = "the ledger was written by a newer licsign; upgrade licsign"


def is_ledger(db: Database) -> bool:
    """Whether ``db`` holds a licsign ledger (its version, marker and tables), not another
    application's database that happens to have a schema version."""
    if db.schema_version() == 0 or not db.tables() >= LEDGER_TABLES:
        return False
    if isinstance(db, SqliteDatabase):
        return db.application_id() in (0, SqliteDatabase.APPLICATION_ID)
    return True


def check_version(db: Database, location: str) -> None:
    """Refuse a database that is not a ledger at this licsign's schema (never changes it)."""
    if not is_ledger(db):
        raise LedgerError(f"{location} holds no licsign ledger; run 'licsign init' first")
    current = db.schema_version()
    if current > SCHEMA_VERSION:
        raise LedgerError(_NEWER)
    if current < SCHEMA_VERSION:
        raise LedgerError(
            f"the ledger's schema is version {current}, this licsign needs {SCHEMA_VERSION}:"
            " back it up, then run 'licsign ledger migrate'"
        )


def create(db: Database, location: str) -> list[int]:
    """Build a new ledger in an empty database (``licsign init``); return the migrations applied.

    Raises:
        LedgerError: the database already holds a ledger or any other table.
    """
    if db.tables():
        what = "a licsign ledger" if is_ledger(db) else "other tables"
        raise LedgerError(f"{location} already holds {what}; give licsign init an empty database")
    return migrate(db, location, from_empty=True)


def migrate(db: Database, location: str, from_empty: bool = False) -> list[int]:
    """Apply the missing migrations, each in its own write transaction; return their numbers.

    Only an existing ledger is migrated (``from_empty`` is ``create``'s). Concurrent
    migrations are safe: each re-reads the version under the write lock.
    """
    if not from_empty and not is_ledger(db):
        raise LedgerError(f"{location} holds no licsign ledger; run 'licsign init' first")
    applied: list[int] = []
    while True:
        db.begin_write()
        try:
            current = db.schema_version()
            if current > SCHEMA_VERSION:
                raise LedgerError(_NEWER)
            if current == SCHEMA_VERSION:
                db.rollback()
                return applied
            for statement in MIGRATIONS[current]:
                for sql in render(statement, db.dialect):
                    db.run(sql)
            db.set_schema_version(current + 1)
        except BaseException:
            db.rollback()
            raise
        db.commit()
        applied.append(current + 1)
