"""Reports: what ``licsign list``, ``show`` and ``device list`` print.

Read-only services over the ledger; a dashboard shows the same data. Every
report takes an explicit ``now`` (statuses depend on it) and returns typed,
immutable results with ``to_json()`` for ``--json``. A license's status is the
verifier's own verdict on time (``license_status``); the key list is in
``licsign._services.keys``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licsign._ledger import ActivationRecord, EventRecord, LedgerError, LicenseRecord
from licsign._services.activation import holds_seat
from licsign._workspace import Workspace
from licverify import ExpiredError, LicenseError, NotYetValidError, Status
from licverify._time import iso, to_timestamp
from licverify._verify import check_time
from licverify.format import (
    LICENSE,
    armor,
    decode_license_payload,
    parse_unverified,
    terms_to_json,
)

#: What ``licsign list`` and ``show`` call the verifier's verdicts at a time
#: (``licverify._verify.check_time``: not before, expiry, grace).
ACTIVE, IN_GRACE, EXPIRED, NOT_YET_VALID = "active", "in-grace", "expired", "not-yet-valid"
#: The recorded document cannot be decoded (a ledger row from an older format).
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class DeviceReport:
    """A device that activated a license, with the state of its latest activation."""

    device_id: str
    label: str
    user: str | None
    first_seen: int
    last_seen: int
    activation_id: str | None
    #: active, lease-ended, refresh-overdue, deactivated, reset or none.
    status: str
    lease_expires: int | None
    refresh_by: int | None

    def to_json(self) -> dict[str, Any]:
        """The report as ``--json`` prints it (times in ISO 8601)."""
        return {
            "device": self.device_id, "label": self.label, "user": self.user,
            "first_seen": iso(self.first_seen), "last_seen": iso(self.last_seen),
            "activation": self.activation_id, "status": self.status,
            "lease_expires": iso(self.lease_expires), "refresh_by": iso(self.refresh_by),
        }  # fmt: skip


def device_status(activation: ActivationRecord | None, at: int) -> str:
    """What a device's latest activation amounts to at ``at``."""
    if activation is None:
        return "none"
    if activation.ended_at is not None:
        return str(activation.end_reason)
    if not holds_seat(activation, at):
        return "lease-ended"
    if activation.refresh_by is not None and activation.refresh_by <= at:
        return "refresh-overdue"
    return "active"


def devices(ws: Workspace, license_id: str, *, now: datetime) -> list[DeviceReport]:
    """Every device that ever activated ``license_id``, with its latest activation.

    ``now`` decides whether a lease has ended or a refresh is overdue.

    Raises:
        NotFoundError: unknown license.
    """
    ws.ledger.license(license_id)
    at = to_timestamp(now)
    out = []
    for d, a in ws.ledger.devices_of(license_id):
        out.append(DeviceReport(
            d.id, d.label, d.user, d.first_seen, d.last_seen, a.id if a else None,
            device_status(a, at), a.lease_expires if a else None, a.refresh_by if a else None,
        ))  # fmt: skip
    return out


def license_status(record: LicenseRecord, at: int) -> str:
    """What the verifier says of the license's validity at ``at``, whatever the machine.

    The verifier's own time check (``check_time``: not-before, expiry, grace
    period; format §9) runs on the terms decoded from the signed document the
    ledger holds, so ``licsign list`` and ``show`` agree with
    ``licverify.verify_license`` at every instant. Machine, activation and
    version checks depend on where the license is used and are not judged.

    Returns:
        ``active``, ``in-grace``, ``expired``, ``not-yet-valid``, or
        ``unreadable`` if the recorded document does not decode.
    """
    try:  # our own ledger's document: decoded without verifying the signature again
        terms = decode_license_payload(parse_unverified(record.document).payload)
    except LicenseError:
        return UNREADABLE
    try:
        status, _ = check_time(terms, at)
    except NotYetValidError:
        return NOT_YET_VALID
    except ExpiredError:
        return EXPIRED
    return IN_GRACE if status is Status.GRACE else ACTIVE


@dataclass(frozen=True)
class LicenseSummary:
    """One line of ``licsign list``: the newest version of a license and its status."""

    id: str
    version: int
    product: str
    customer: str
    type: str
    #: active, in-grace, expired or not-yet-valid at the time asked (``license_status``).
    status: str
    issued_at: int
    expires: int | None

    def to_json(self) -> dict[str, Any]:
        """The summary as ``licsign list --json`` prints it (times in ISO 8601)."""
        return {
            "id": self.id, "version": self.version, "product": self.product,
            "customer": self.customer, "type": self.type, "status": self.status,
            "issued_at": iso(self.issued_at), "expires": iso(self.expires),
        }  # fmt: skip


def licenses(
    ws: Workspace, *, now: datetime, product: str | None = None, customer: str | None = None
) -> list[LicenseSummary]:
    """The newest version of every license, newest first, with its status at ``now``.

    Args:
        ws: the workspace.
        now: the time statuses are judged at.
        product: only this product's licenses.
        customer: only this customer's licenses.
    """
    at = to_timestamp(now)
    return [
        LicenseSummary(r.id, r.version, r.product_id, r.customer_id, r.type,
                       license_status(r, at), r.issued_at, r.expires)
        for r in ws.ledger.licenses(product, customer)
    ]  # fmt: skip


@dataclass(frozen=True)
class HistoryEntry:
    """One event of a license's history (issued, activated, deactivated ...)."""

    at: int
    #: The event's kind, e.g. ``license.issued``.
    event: str
    data: dict[str, Any]

    @classmethod
    def from_event(cls, event: EventRecord) -> HistoryEntry:
        """The entry for a ledger event."""
        return cls(event.at, event.kind, _copy(event.data))

    def to_json(self) -> dict[str, Any]:
        """The entry as ``licsign show --json`` prints it: time, kind, then the event's data."""
        return {"at": iso(self.at), "event": self.event, **_copy(self.data)}


@dataclass(frozen=True)
class LicenseDetails:
    """What ``licsign show`` prints: a license's identity, terms, status, devices, history."""

    id: str
    version: int
    #: As ``LicenseSummary.status``.
    status: str
    #: The terms of the signed document (``licverify.format.terms_to_json``), not the
    #: ledger's JSON copy of them: what the customer's verifier will read.
    terms: dict[str, Any]
    #: Hex id of the issuing key that signed it.
    key_id: str
    #: SHA-256 of the binary document, hex.
    digest: str
    #: The signed document as issued (binary).
    document: bytes
    devices: tuple[DeviceReport, ...]
    history: tuple[HistoryEntry, ...]

    @property
    def armored(self) -> bytes:
        """The document as armored text, as ``licsign issue`` writes it."""
        return armor(self.document, LICENSE)

    @property
    def active_seats(self) -> int:
        """Devices whose latest activation holds a seat now."""
        return sum(1 for d in self.devices if d.status == "active")

    def to_json(self) -> dict[str, Any]:
        """The details as ``licsign show --json`` prints them."""
        return {
            "status": self.status, "terms": _copy(self.terms),
            "devices": [d.to_json() for d in self.devices], "key_id": self.key_id,
            "digest": self.digest, "history": [h.to_json() for h in self.history],
        }  # fmt: skip


def license_details(ws: Workspace, license_id: str, *, now: datetime) -> LicenseDetails:
    """The newest version of a license with its status, devices and history at ``now``.

    Args:
        ws: the workspace.
        license_id: the license.
        now: the time the status, leases and refresh deadlines are judged at.

    Raises:
        NotFoundError: unknown license.
    """
    record = ws.ledger.license(license_id)
    return LicenseDetails(
        record.id, record.version, license_status(record, to_timestamp(now)), signed_terms(record),
        record.key_id, record.digest, record.document, tuple(devices(ws, license_id, now=now)),
        tuple(HistoryEntry.from_event(e) for e in ws.ledger.license_history(license_id)),
    )  # fmt: skip


def signed_terms(record: LicenseRecord) -> dict[str, Any]:
    """The terms of the license's signed document, as JSON data.

    Raises:
        LedgerError: the ledger's copy of the document does not decode (damaged).
    """
    try:  # our own ledger's document: decoded without verifying the signature again
        terms = terms_to_json(decode_license_payload(parse_unverified(record.document).payload))
    except LicenseError:
        raise LedgerError(
            f"the ledger's licenses row {record.id!r} is damaged (column document); "
            "restore it from a backup"
        ) from None
    # Keys sorted, as the ledger's copy has always been (features print in name order).
    return json.loads(json.dumps(terms, sort_keys=True))  # type: ignore[no-any-return]


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of JSON data, so a result cannot be changed through what it returns."""
    return json.loads(json.dumps(data))  # type: ignore[no-any-return]
