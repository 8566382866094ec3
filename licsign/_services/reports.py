"""Reports: what ``licsign list``, ``show`` and ``device list`` print.

Read-only services over the ledger; a dashboard shows the same data. Every
report takes an explicit ``now`` (statuses depend on it) and returns typed,
immutable results with ``to_json()`` for ``--json``. A license's status is the
verifier's own verdict on time (``license_status``); the key list is in
``licsign._services.keys``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from licsign import _validation as check
from licsign._errors import InvalidInputError, NotFoundError
from licsign._ledger import (
    ActivationRecord,
    DeviceRecord,
    EventRecord,
    LedgerError,
    LicenseRecord,
)
from licsign._services.activation import holds_seat
from licsign._services.codes import is_user_based
from licsign._services.orders import ManagerInfo, OrderInfo
from licsign._services.shares import ShareInfo, license_shares
from licsign._services.users import LicenseUser, license_users
from licsign._workspace import Workspace
from licverify import ExpiredError, LicenseError, NotYetValidError, Status
from licverify._time import MAX_TIMESTAMP, from_timestamp, iso, to_timestamp
from licverify._verify import check_time, judge_expiry
from licverify.cliutil import Duration
from licverify.format import (
    LICENSE,
    LicenseTerms,
    armor,
    decode_license_payload,
    parse_unverified,
    terms_to_json,
)

#: What ``licsign list`` and ``show`` call the verifier's verdicts at a time
#: (``licverify._verify.check_time``: not before, expiry, grace).
ACTIVE, IN_GRACE, EXPIRED, NOT_YET_VALID = "active", "in-grace", "expired", "not-yet-valid"
#: The vendor revoked it (``licsign revoke``): whatever its dates say.
REVOKED = "revoked"
#: The statuses ``licsign list --status`` selects.
LICENSE_STATUSES = (ACTIVE, IN_GRACE, EXPIRED, NOT_YET_VALID, REVOKED)
#: The recorded document cannot be decoded (a ledger row from an older format).
UNREADABLE = "unreadable"
#: What ``list`` and ``show`` call a license that names or counts its users, and one
#: that counts devices only (``licsign._services.codes.is_user_based``).
USER_BASED, COMPUTER_BASED = "user", "computer"


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
    return [_device_report(d, a, at) for d, a in ws.ledger.devices_of(license_id)]


def license_status(record: LicenseRecord, at: int) -> str:
    """What the verifier says of the license's validity at ``at``, whatever the machine.

    The verifier's own time check (``check_time``: not-before, expiry, grace
    period; format §9) runs on the terms decoded from the signed document the
    ledger holds, so ``licsign list`` and ``show`` agree with
    ``licverify.verify_license`` at every instant. Machine, activation and
    version checks depend on where the license is used and are not judged.

    A license the vendor revoked is ``revoked`` whatever its dates say.

    Returns:
        ``active``, ``in-grace``, ``expired``, ``not-yet-valid``, ``revoked``, or
        ``unreadable`` if the recorded document does not decode.
    """
    if record.status == REVOKED:
        return REVOKED
    terms = _decoded(record)
    return UNREADABLE if terms is None else _time_status(terms, at)


def fixed_expiry(terms: LicenseTerms | None, first_activation: int | None) -> int | None:
    """The expiry a license with ``expires_after_activation`` got from its first activation
    (what every activation response for it says, format §11.2), or None: no such term, not
    activated yet, or a trial (each machine's own trial fixes its own)."""
    if terms is None or first_activation is None or terms.type == "trial":
        return None
    seconds = terms.expires_after_activation_seconds
    return None if seconds is None else first_activation + seconds


def _fixed_status(record: LicenseRecord, terms: LicenseTerms | None, fixed: int, at: int) -> str:
    """``license_status`` judged at the expiry the first activation fixed."""
    if record.status == REVOKED or terms is None:
        return license_status(record, at)
    try:
        status, _ = judge_expiry(terms, fixed, at)
    except ExpiredError:
        return EXPIRED
    if status is Status.MAINTAINED:
        return EXPIRED
    return IN_GRACE if status is Status.GRACE else ACTIVE


def _decoded(record: LicenseRecord) -> LicenseTerms | None:
    """The terms of the recorded document, or None if it does not decode."""
    try:  # our own ledger's document: decoded without verifying the signature again
        return decode_license_payload(parse_unverified(record.document).payload)
    except LicenseError:
        return None


def _time_status(terms: LicenseTerms, at: int) -> str:
    """The verifier's time verdict on ``terms`` at ``at`` (see ``license_status``)."""
    try:
        status, _ = check_time(terms, at)
    except NotYetValidError:
        return NOT_YET_VALID
    except ExpiredError:
        return EXPIRED
    if status is Status.MAINTAINED:  # past expiry and grace, kept working by at_expiry
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
    #: ``user`` (names or counts its users) or ``computer`` (counts devices only).
    basis: str = COMPUTER_BASED
    #: Devices holding a seat now, and the most allowed (None: unlimited).
    devices_used: int = 0
    max_devices: int | None = None
    #: Users assigned now, and the most allowed (None: unlimited).
    users_used: int = 0
    max_users: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary as ``licsign list --json`` prints it (times in ISO 8601)."""
        return {
            "id": self.id, "version": self.version, "product": self.product,
            "customer": self.customer, "type": self.type, "status": self.status,
            "issued_at": iso(self.issued_at), "expires": iso(self.expires),
            "basis": self.basis, "devices_used": self.devices_used,
            "max_devices": self.max_devices, "users_used": self.users_used,
            "max_users": self.max_users,
        }  # fmt: skip


def _summary(record: LicenseRecord, at: int, seats: int, users: int) -> LicenseSummary:
    """One line of ``licsign list``: ``seats`` and ``users`` counted for the whole list at once."""
    terms = _decoded(record)
    if terms is None:
        return LicenseSummary(record.id, record.version, record.product_id, record.customer_id,
                              record.type, UNREADABLE, record.issued_at, record.expires)  # fmt: skip
    limits = terms.limits
    return LicenseSummary(
        record.id, record.version, record.product_id, record.customer_id, record.type,
        REVOKED if record.status == REVOKED else _time_status(terms, at),
        record.issued_at, record.expires, USER_BASED if is_user_based(terms) else COMPUTER_BASED,
        seats, limits.max_devices, users, limits.max_users,
    )  # fmt: skip


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
    limit: int | None = None,
    after: str | None = None,
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
        limit: at most this many licenses (None: all), read from the ledger;
            the verifier's verdict may drop some of them when ``status`` is given.
        after: only those listed after this license (the last of the previous
            page; keyset paging on issue time and id, fast at any depth).

    Raises:
        InvalidInputError: an unknown status or type (``InvalidFieldError``:
            ``status``, ``type``), or a limit below 1.
        NotFoundError: ``after`` names no license.
    """
    at = to_timestamp(now)
    if status is not None:
        check.one_of(status, LICENSE_STATUSES, "status")
    if type is not None:
        check.license_type(type)
    if limit is not None and limit < 1:
        raise InvalidInputError("the page size must be at least 1")
    cursor = None
    if after is not None:
        last = ws.ledger.license(after)
        cursor = (last.issued_at, last.id)
    found = ws.ledger.licenses(
        product, customer, order=order, type=type, status=status, at=at,
        expires_by=None if expiring_within is None else _horizon(at, expiring_within),
        limit=limit, after=cursor,
    )  # fmt: skip
    # One grouped query each for the whole list, not one per license (large ledgers).
    ids = [r.id for r in found]
    seats = ws.ledger.seats_held(at, ids) if found else {}
    users = ws.ledger.user_counts(ids) if found else {}
    rows = [_summary(r, at, seats.get(r.id, 0), users.get(r.id, 0)) for r in found]
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
    #: When more licenses match than the page held: the id to list ``after`` next.
    next_after: str | None = None

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
    limit: int | None = None,
    after: str | None = None,
) -> LicenseList:
    """``licenses`` with the same filters and paging, telling "nothing matched" from "nothing
    issued yet", and where the next page starts.

    Raises:
        InvalidInputError, NotFoundError: as ``licenses``.
    """
    found = licenses(
        ws, now=now, product=product, customer=customer, order=order, status=status, type=type,
        expiring_within=expiring_within, limit=None if limit is None else limit + 1, after=after,
    )  # fmt: skip
    more = limit is not None and len(found) > limit
    page = found[:limit] if more else found
    return LicenseList(
        tuple(page), bool(found) or ws.ledger.any_license(), page[-1].id if more else None
    )


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
class ActivationEntry:
    """One activation of a license (a seat held now or once), naming its device."""

    id: str
    device_id: str
    #: The device's label (as its latest request gave it).
    label: str
    user: str | None
    created_at: int
    #: When the device last got a response for this seat.
    renewed_at: int
    ended_at: int | None
    #: ``deactivated`` (a receipt), ``reset`` (by the vendor), or None while open.
    end_reason: str | None
    lease_expires: int | None
    refresh_by: int | None
    counts_transfer: bool

    @classmethod
    def of(cls, a: ActivationRecord, label: str) -> ActivationEntry:
        """The entry for an activation of a device labelled ``label``."""
        return cls(a.id, a.device_id, label, a.user, a.created_at, a.renewed_at, a.ended_at,
                   a.end_reason, a.lease_expires, a.refresh_by, a.counts_transfer)  # fmt: skip

    @property
    def device_name(self) -> str:
        """How people are shown the device: its label and short id."""
        return device_name(self.label, self.device_id)

    def to_json(self) -> dict[str, Any]:
        """The entry as ``--json`` prints it (times in ISO 8601)."""
        return {
            "activation": self.id, "device": self.device_id, "label": self.label,
            "user": self.user, "created_at": iso(self.created_at),
            "renewed_at": iso(self.renewed_at), "ended_at": iso(self.ended_at),
            "end_reason": self.end_reason, "lease_expires": iso(self.lease_expires),
            "refresh_by": iso(self.refresh_by),
            # Whether ending it counted as a transfer: None while it is open.
            "transfer": None if self.ended_at is None else self.counts_transfer,
        }  # fmt: skip


def device_name(label: str, device_id: str) -> str:
    """A device as people see it: ``label (first 8 characters of its id)``."""
    return f"{label} ({device_id[:8]})"


@dataclass(frozen=True)
class Lifecycle:
    """When a license was made, first used, ends; which versions it replaced or was replaced by."""

    #: When its first version was issued.
    created: int
    #: When the version shown was issued.
    issued: int
    first_activated: int | None
    expires: int | None
    #: When the grace period after expiry ends (None: never expires).
    grace_ends: int | None
    #: The version the one shown supersedes, and the one that superseded it (None: none).
    supersedes: int | None
    superseded_by: int | None
    #: Every version in the ledger: (version, issued at, ledger status), oldest first.
    versions: tuple[tuple[int, int, str], ...]

    def to_json(self) -> dict[str, Any]:
        """The lifecycle as ``licsign show --json`` prints it (times in ISO 8601)."""
        return {
            "created": iso(self.created), "issued": iso(self.issued),
            "first_activated": iso(self.first_activated), "expires": iso(self.expires),
            "grace_ends": iso(self.grace_ends), "supersedes": self.supersedes,
            "superseded_by": self.superseded_by,
            "versions": [{"version": v, "issued_at": iso(t), "status": st}
                         for v, t, st in self.versions],
        }  # fmt: skip


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
    #: ``user`` or ``computer`` (as ``LicenseSummary.basis``).
    basis: str = COMPUTER_BASED
    lifecycle: Lifecycle | None = None
    #: The usage rules (``usage_rules``): limits, transfers used, allowed devices, refresh.
    usage: dict[str, Any] = field(default_factory=dict)
    #: Its users (a user-based license's), with their seats and code state.
    users: tuple[LicenseUser, ...] = ()
    #: Every activation, oldest first, naming its device.
    activations: tuple[ActivationEntry, ...] = ()
    #: Who it is shared with (``licsign share``), removed shares too, oldest first.
    shares: tuple[ShareInfo, ...] = ()
    #: The latest usage report of each device (format §14.1), and every refill signed.
    usage_reports: tuple[dict[str, Any], ...] = ()
    refills: tuple[dict[str, Any], ...] = ()

    @property
    def last_usage_report(self) -> str | None:
        """When a usage report last arrived (ISO 8601; None: never)."""
        return max((r["received_at"] for r in self.usage_reports), default=None)

    @property
    def last_activation(self) -> int | None:
        """When a device last took or renewed a seat (None: never)."""
        return max((a.renewed_at for a in self.activations), default=None)

    @property
    def last_deactivation(self) -> int | None:
        """When a seat was last freed, by a receipt or a reset (None: never)."""
        return max((a.ended_at for a in self.activations if a.ended_at is not None), default=None)

    def device_names(self) -> dict[str, str]:
        """Each device's id, and how people are shown it (label and short id)."""
        return {d.device_id: device_name(d.label, d.device_id) for d in self.devices}

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
            "id": self.id, "version": self.version, "basis": self.basis,
            "lifecycle": None if self.lifecycle is None else self.lifecycle.to_json(),
            "usage": _copy(self.usage), "users": [u.to_json() for u in self.users],
            "activations": [a.to_json() for a in self.activations],
            "last_seen": {"activation": iso(self.last_activation),
                          "deactivation": iso(self.last_deactivation),
                          "usage_report": self.last_usage_report},
            "shares": [s.to_json() for s in self.shares],
            "usage_reports": [_copy(r) for r in self.usage_reports],
            "refills": [_copy(r) for r in self.refills],
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
    terms = signed_terms(record)
    decoded = _decoded(record)
    device_list = tuple(devices(ws, license_id, now=now))
    labels = {d.device_id: d.label for d in device_list}
    entries = tuple(
        ActivationEntry.of(a, labels.get(a.device_id, "?"))
        for a in ws.ledger.activations_of(license_id)
    )
    user_based = decoded is not None and is_user_based(decoded)
    at = to_timestamp(now)
    fixed = fixed_expiry(decoded, min((a.created_at for a in entries), default=None))
    status = (
        license_status(record, at) if fixed is None else _fixed_status(record, decoded, fixed, at)
    )
    return LicenseDetails(
        record.id, record.version, status, terms,
        record.key_id, record.digest, record.document, device_list,
        tuple(HistoryEntry.from_event(e) for e in ws.ledger.license_history(license_id)),
        order=order, managers=managers, basis=USER_BASED if user_based else COMPUTER_BASED,
        lifecycle=_lifecycle(ws, record, terms, entries, fixed),
        usage=usage_rules(terms, ws.ledger.transfers_used(license_id)),
        users=tuple(license_users(ws, license_id, now=now, removed=True)),
        activations=entries,
        shares=tuple(license_shares(ws, license_id, now=now, removed=True)),
        usage_reports=_latest_reports(ws, license_id), refills=tuple(
            {"refill": r.id, "device_id": r.device_id, "activation": r.activation_id,
             "counter": r.counter, "amount": r.amount, "issued_at": iso(r.issued_at)}
            for r in ws.ledger.refills(license_id)),
    )  # fmt: skip


def _latest_reports(ws: Workspace, license_id: str) -> tuple[dict[str, Any], ...]:
    """The newest usage report of each device, as ``show`` gives them."""
    latest = {r.device_id: r for r in ws.ledger.usage_reports(license_id)}
    return tuple(
        {"device_id": r.device_id, "seq": r.seq, "reported_at": iso(r.issued_at),
         "received_at": iso(r.received_at), "totals": dict(r.totals),
         "refilled": dict(r.refilled)}
        for r in sorted(latest.values(), key=lambda r: r.received_at)
    )  # fmt: skip


def _lifecycle(
    ws: Workspace,
    record: LicenseRecord,
    terms: dict[str, Any],
    entries: tuple[ActivationEntry, ...],
    fixed: int | None = None,
) -> Lifecycle:
    """The license's dates and its place among its versions (the ledger's ``licenses`` rows);
    ``fixed``: the expiry its first activation fixed (``fixed_expiry``), if any."""
    versions = tuple(ws.ledger.license_versions(record.id))
    numbers = [v for v, _, _ in versions]
    earlier = [v for v in numbers if v < record.version]
    later = [v for v in numbers if v > record.version]
    grace = int(terms.get("grace_seconds") or 0)
    expires = record.expires if fixed is None else fixed
    return Lifecycle(
        versions[0][1] if versions else record.issued_at, record.issued_at,
        min((a.created_at for a in entries), default=None), expires,
        None if expires is None else expires + grace,
        max(earlier, default=None), min(later, default=None), versions,
    )  # fmt: skip


def usage_rules(terms: dict[str, Any], transfers_used: int) -> dict[str, Any]:
    """What the license allows (its signed terms) and the transfers it has used."""
    limits = terms["limits"]
    return {
        "max_devices": limits.get("max_devices"), "max_users": limits.get("max_users"),
        "max_devices_per_user": limits.get("max_devices_per_user"),
        "max_transfers": limits.get("max_transfers"), "transfers_used": transfers_used,
        "allowed_devices": len(terms["allowed_devices"]),
        "allowed_users": list(terms["allowed_users"]),
        "activation_required": terms["activation_required"],
        "refresh_seconds": terms.get("refresh_seconds"), "lease_seconds": terms.get("lease_seconds"),
    }  # fmt: skip


@dataclass(frozen=True)
class DeviceDetails:
    """What ``licsign device show`` prints: one device of a license and its every activation."""

    license_id: str
    device: DeviceReport
    #: The fingerprint it first activated with, and the latest one seen (name -> hex digest).
    first_fingerprint: dict[str, str]
    latest_fingerprint: dict[str, str]
    activations: tuple[ActivationEntry, ...]

    @property
    def components(self) -> list[str]:
        """The names of the fingerprint's components, first and latest together."""
        return sorted(set(self.first_fingerprint) | set(self.latest_fingerprint))

    @property
    def changed(self) -> list[str]:
        """Components whose digest differs between the first and the latest fingerprint."""
        first, latest = self.first_fingerprint, self.latest_fingerprint
        return [c for c in self.components if first.get(c) != latest.get(c)]

    def to_json(self) -> dict[str, Any]:
        """The details as ``licsign device show --json`` prints them."""
        return {
            "license": self.license_id, **self.device.to_json(),
            "fingerprint": {"components": self.components, "changed": self.changed,
                            "first": dict(self.first_fingerprint),
                            "latest": dict(self.latest_fingerprint)},
            "activations": [a.to_json() for a in self.activations],
        }  # fmt: skip


def device_details(ws: Workspace, license_id: str, device: str, *, now: datetime) -> DeviceDetails:
    """One device of a license: label, user, fingerprints, dates and every activation.

    Args:
        ws: the workspace.
        license_id: the license.
        device: the device id or a unique prefix of at least 4 characters.
        now: the time its status is judged at.

    Raises:
        NotFoundError: unknown license, or no such device on it.
        InvalidInputError: the prefix is too short or ambiguous.
    """
    if len(device) < 4:
        raise InvalidInputError("give at least 4 characters of the device id")
    ws.ledger.license(license_id)
    found = [(d, a) for d, a in ws.ledger.devices_of(license_id) if d.id.startswith(device.lower())]
    if not found:
        raise NotFoundError(f"no device {device!r} on license {license_id}")
    if len(found) > 1:
        raise InvalidInputError(f"device id {device!r} is ambiguous on license {license_id}")
    record, latest = found[0]
    report = _device_report(record, latest, to_timestamp(now))
    mine = [a for a in ws.ledger.activations_of(license_id) if a.device_id == record.id]
    seen = [a.fingerprint for a in mine if a.fingerprint is not None]
    return DeviceDetails(
        license_id,
        report,
        _fingerprint(record.fingerprint),
        _fingerprint(seen[-1] if seen else record.fingerprint),
        tuple(ActivationEntry.of(a, record.label) for a in mine),
    )


def _device_report(d: DeviceRecord, a: ActivationRecord | None, at: int) -> DeviceReport:
    return DeviceReport(
        d.id, d.label, d.user, d.first_seen, d.last_seen, a.id if a else None,
        device_status(a, at), a.lease_expires if a else None, a.refresh_by if a else None,
    )  # fmt: skip


def _fingerprint(text: str) -> dict[str, str]:
    """A fingerprint as the ledger keeps it (JSON: component name -> hex digest)."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


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
