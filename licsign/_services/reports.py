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
from datetime import datetime, timedelta
from typing import Any

from licsign import _validation as check
from licsign._ledger import ActivationRecord, EventRecord, LedgerError, LicenseRecord
from licsign._services.activation import holds_seat
from licsign._services.orders import ManagerInfo, OrderInfo
from licsign._workspace import Workspace
from licverify import ExpiredError, LicenseError, NotYetValidError, Status
from licverify._time import MAX_TIMESTAMP, from_timestamp, iso, to_timestamp
from licverify._verify import check_time
from licverify.cliutil import Duration
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
#: The statuses ``licsign list --status`` selects.
LICENSE_STATUSES = (ACTIVE, IN_GRACE, EXPIRED, NOT_YET_VALID)
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
    ws: Workspace,
    *,
    now: datetime,
    product: str | None = None,
    customer: str | None = None,
    order: str | None = None,
    status: str | None = None,
    type: str | None = None,
    expiring_within: timedelta | Duration | None = None,
) -> list[LicenseSummary]:
    """The newest version of every license, newest first, with its status at ``now``.

    Every filter is a lookup the ledger answers from an index; the status of
    each license found is then the verifier's own verdict (``license_status``).

    Args:
        ws: the workspace.
        now: the time statuses (and ``expiring_within``) are judged at.
        product: only this product's licenses.
        customer: only this customer's licenses.
        order: only those issued under this order.
        status: only those ``active``, ``in-grace``, ``expired`` or ``not-yet-valid``.
        type: only licenses of this type (``perpetual``, ``subscription`` ...).
        expiring_within: only those that expire after ``now`` and at the latest
            this long after it (calendar months counted from ``now``).

    Raises:
        InvalidInputError: an unknown status or type (``InvalidFieldError``:
            ``status``, ``type``).
    """
    at = to_timestamp(now)
    if status is not None:
        check.one_of(status, LICENSE_STATUSES, "status")
    if type is not None:
        check.license_type(type)
    found = ws.ledger.licenses(
        product, customer, order=order, type=type, status=status, at=at,
        expires_by=None if expiring_within is None else _horizon(at, expiring_within),
    )  # fmt: skip
    rows = [
        LicenseSummary(r.id, r.version, r.product_id, r.customer_id, r.type,
                       license_status(r, at), r.issued_at, r.expires)
        for r in found
    ]  # fmt: skip
    return [r for r in rows if status is None or r.status == status]


def _horizon(at: int, within: timedelta | Duration) -> int:
    """``within`` after ``at``, in seconds (the format's last second if past the year 9999)."""
    try:
        return at + Duration.of(within).seconds_from(from_timestamp(at))
    except ValueError:
        return MAX_TIMESTAMP


@dataclass(frozen=True)
class LicenseList:
    """What ``licsign list`` prints: the licenses that matched, and whether there are any at all."""

    licenses: tuple[LicenseSummary, ...]
    #: Whether the ledger holds any license: an empty list then means that nothing matched.
    any_issued: bool

    def to_json(self) -> list[dict[str, Any]]:
        """The licenses as ``licsign list --json`` prints them."""
        return [s.to_json() for s in self.licenses]


def license_list(
    ws: Workspace,
    *,
    now: datetime,
    product: str | None = None,
    customer: str | None = None,
    order: str | None = None,
    status: str | None = None,
    type: str | None = None,
    expiring_within: timedelta | Duration | None = None,
) -> LicenseList:
    """``licenses`` with the same filters, telling "nothing matched" from "nothing issued yet".

    Raises:
        InvalidInputError: as ``licenses``.
    """
    found = licenses(
        ws, now=now, product=product, customer=customer, order=order, status=status, type=type,
        expiring_within=expiring_within,
    )  # fmt: skip
    return LicenseList(tuple(found), bool(found) or ws.ledger.any_license())


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
    #: The order it was issued under, if any.
    order: OrderInfo | None = None
    #: The order's current license managers (they manage every license of the order).
    managers: tuple[ManagerInfo, ...] = ()

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
            "order": None if self.order is None else self.order.to_json(),
            "managers": [m.to_json() for m in self.managers],
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
    order, managers = _order_of(ws, record)
    return LicenseDetails(
        record.id, record.version, license_status(record, to_timestamp(now)), signed_terms(record),
        record.key_id, record.digest, record.document, tuple(devices(ws, license_id, now=now)),
        tuple(HistoryEntry.from_event(e) for e in ws.ledger.license_history(license_id)),
        order=order, managers=managers,
    )  # fmt: skip


def _order_of(
    ws: Workspace, record: LicenseRecord
) -> tuple[OrderInfo | None, tuple[ManagerInfo, ...]]:
    """The order a license was issued under, and its current managers (none without an order)."""
    if record.order_id is None:
        return None, ()
    managers = tuple(ManagerInfo.from_record(m) for m in ws.ledger.managers(record.order_id))
    return OrderInfo.from_record(ws.ledger.order(record.order_id)), managers


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
