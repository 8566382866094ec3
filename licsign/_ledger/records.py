"""Typed, immutable records of the ledger's rows (what its reads return).

Rows come back from either engine as dicts; ``from_row`` keeps only the
columns a record declares (PostgreSQL tables carry an explicit ``rowid``) and
decodes the JSON columns once, here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, TypeVar

R = TypeVar("R")


def _columns(cls: type[R], row: dict[str, Any]) -> dict[str, Any]:
    return {f.name: row[f.name] for f in fields(cls) if f.name in row}  # type: ignore[arg-type]


def _json(row: dict[str, Any], column: str, table: str, kind: type) -> Any:
    """A JSON column, decoded; a damaged one is a LedgerError naming the row, not a crash."""
    from licsign._ledger.engine import LedgerError

    text = row[column]
    try:
        value = None if text is None else json.loads(text)
    except (TypeError, ValueError):
        value = ...
    if value is not None and not isinstance(value, kind):
        key = row.get("id", row.get("key_id", "?"))
        raise LedgerError(
            f"the ledger's {table} row {key!r} is damaged (column {column}); restore it from a backup"
        )
    return value


def _json_list(row: dict[str, Any], column: str, table: str) -> tuple[str, ...] | None:
    value = _json(row, column, table, list)
    return None if value is None else tuple(str(v) for v in value)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A root or issuing key the ledger knows."""

    key_id: str
    role: str
    public_key: bytes
    certificate: bytes | None
    not_before: int | None
    not_after: int | None
    products: tuple[str, ...] | None
    created_at: int
    status: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> KeyRecord:
        """Build from a ``keys`` row."""
        values = _columns(cls, row)
        values["public_key"] = bytes(values["public_key"])
        if values["certificate"] is not None:
            values["certificate"] = bytes(values["certificate"])
        values["products"] = _json_list(row, "products", "keys")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """A product, its features and its fingerprint policy."""

    id: str
    name: str
    features: tuple[str, ...]
    created_at: int
    min_components: int
    required_components: tuple[str, ...]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ProductRecord:
        """Build from a ``products`` row."""
        values = _columns(cls, row)
        values["features"] = _json_list(row, "features", "products") or ()
        values["required_components"] = _json_list(row, "required_components", "products") or ()
        return cls(**values)


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer."""

    id: str
    name: str
    email: str | None
    created_at: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CustomerRecord:
        """Build from a ``customers`` row."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True, slots=True)
class LicenseRecord:
    """One version of an issued license, with its signed document."""

    id: str
    version: int
    product_id: str
    customer_id: str
    type: str
    issued_at: int
    expires: int | None
    terms: dict[str, Any]
    document: bytes
    digest: str
    key_id: str
    status: str
    #: The order it was issued under (``licsign issue --order``), if any.
    order_id: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> LicenseRecord:
        """Build from a ``licenses`` row."""
        values = _columns(cls, row)
        values["terms"] = _json(row, "terms", "licenses", dict) or {}
        values["document"] = bytes(values["document"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device that activated a license (kept across its activations)."""

    license_id: str
    id: str
    device_key: bytes
    fingerprint: str
    label: str
    user: str | None
    first_seen: int
    last_seen: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DeviceRecord:
        """Build from a ``devices`` row."""
        values = _columns(cls, row)
        values["device_key"] = bytes(values["device_key"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ActivationRecord:
    """One seat a device held or holds: created, renewed, ended."""

    id: str
    license_id: str
    device_id: str
    user: str | None
    request_nonce: bytes
    license_digest: bytes
    created_at: int
    renewed_at: int
    lease_expires: int | None
    ended_at: int | None
    end_reason: str | None
    fingerprint: str | None
    refresh_by: int | None
    counts_transfer: bool

    def holds_seat(self, at: int) -> bool:
        """Whether it holds its seat at ``at``: a floating lease gives it back when it ends."""
        return self.lease_expires is None or self.lease_expires > at

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ActivationRecord:
        """Build from an ``activations`` row."""
        values = _columns(cls, row)
        values["request_nonce"] = bytes(values["request_nonce"])
        values["license_digest"] = bytes(values["license_digest"])
        values["counts_transfer"] = bool(values["counts_transfer"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class NewSeat:
    """What an activation request brings to a new seat (``Ledger.add_activation``)."""

    device_id: str
    device_key: bytes
    #: The request's fingerprint as JSON text (component name -> hex digest).
    fingerprint: str
    label: str
    user: str | None
    request_nonce: bytes
    license_digest: bytes


@dataclass(frozen=True, slots=True)
class Seat:
    """An open activation with its device's label and first fingerprint."""

    activation: ActivationRecord
    label: str
    first_fingerprint: str


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    """An accepted deactivation receipt (each nonce is accepted once)."""

    nonce: bytes
    activation_id: str
    received_at: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReceiptRecord:
        """Build from a ``receipts`` row."""
        values = _columns(cls, row)
        values["nonce"] = bytes(values["nonce"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One entry of the hash-chained history."""

    seq: int
    at: int
    kind: str
    subject: str
    data: dict[str, Any]
    prev_hash: bytes
    hash: bytes
    #: The event's body exactly as hashed (canonical JSON text).
    body: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EventRecord:
        """Build from an ``events`` row."""
        return cls(
            seq=int(row["seq"]), at=int(row["at"]), kind=row["kind"], subject=row["subject"],
            data=_json(row, "data", "events", dict) or {}, prev_hash=bytes(row["prev_hash"]),
            hash=bytes(row["hash"]), body=row["data"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order: a customer's purchase, under which licenses are issued."""

    id: str
    customer_id: str
    #: Free text the vendor gave (an invoice or shop number), as given.
    reference: str | None
    created_at: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OrderRecord:
        """Build from an ``orders`` row."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True, slots=True)
class ManagerRecord:
    """A license manager of an order: added, and perhaps removed since."""

    order_id: str
    #: Normalized as users are (``licverify._fields.normalize_user``).
    email: str
    name: str | None
    added_at: int
    removed_at: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ManagerRecord:
        """Build from an ``order_managers`` row."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True, slots=True)
class LicenseUserRecord:
    """A user assigned to a user-based license: added, and perhaps removed since.

    A user removed and assigned again is a new row (with a new ``id``): the old
    one keeps its dates, and codes made for it never work for the new one.
    """

    id: int
    license_id: str
    #: Normalized as requests are compared (``licverify._fields.normalize_user``).
    email: str
    name: str | None
    #: The user's own device cap (within the license's), or None: the license's alone.
    max_devices: int | None
    added_at: int
    removed_at: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> LicenseUserRecord:
        """Build from a ``license_users`` row."""
        values = _columns(cls, row)
        values["id"] = int(values["id"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class UserCodeRecord:
    """A one-time user activation code, kept only as a keyed hash (docs/adr/0017-user-codes.md)."""

    id: int
    #: The ``license_users`` row it was made for.
    user_id: int
    #: HMAC-SHA-256 of the code under the workspace's user-code key.
    code_hash: bytes
    #: Which user-code key made the hash (not the key: a digest of it).
    key_id: str
    created_at: int
    ended_at: int | None
    #: ``used`` (it took a seat), ``replaced`` (by a newer code) or ``removed`` (with its user).
    end_reason: str | None
    #: The activation it took, once used.
    activation_id: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> UserCodeRecord:
        """Build from a ``user_codes`` row."""
        values = _columns(cls, row)
        values["id"], values["user_id"] = int(values["id"]), int(values["user_id"])
        values["code_hash"] = bytes(values["code_hash"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """A license shared with another user (``licsign share``), and its one-time code.

    A share removed and made again is a new row (with a new ``id``).
    """

    id: int
    license_id: str
    #: Normalized as requests are compared (``licverify._fields.normalize_user``).
    email: str
    added_at: int
    removed_at: int | None
    #: The keyed hash of the sharer's newest activation code (ADR 0017), and its key's id.
    code_hash: bytes | None
    key_id: str | None
    code_at: int | None
    #: When the code took a seat, and which activation it took (None: unused).
    code_used_at: int | None
    code_activation: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ShareRecord:
        """Build from a ``license_shares`` row."""
        values = _columns(cls, row)
        values["id"] = int(values["id"])
        if values["code_hash"] is not None:
            values["code_hash"] = bytes(values["code_hash"])
        return cls(**values)
