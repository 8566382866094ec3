"""Issuing licenses: build terms, sign with an issuing key, record in the ledger."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from licsign._errors import InvalidInput
from licsign._keyfile import PassphraseSource
from licsign._workspace import Workspace
from licverify import LicenseError
from licverify._fields import normalize_users
from licverify._license import MAX_REFRESH, MIN_REFRESH
from licverify._time import from_timestamp, to_timestamp
from licverify.cliutil import Duration
from licverify.format import (
    LICENSE,
    LICENSE_TYPES,
    Counter,
    LicenseTerms,
    Limits,
    armor,
    encode_license_payload,
    encode_sign1,
    terms_to_json,
)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Trials without an explicit end get this long; other expiring types must say.
DEFAULT_TRIAL = timedelta(days=30)
DEFAULT_LEASE = timedelta(hours=1)


class IssueRequest:
    """What a vendor asks for. Every field maps to one license term (docs/format.md §7)."""

    def __init__(
        self,
        product: str,
        customer: str,
        type: str,
        *,
        expires: datetime | None = None,
        duration: timedelta | Duration | None = None,
        not_before: datetime | None = None,
        grace: timedelta | Duration | None = None,
        features: Mapping[str, Any] | None = None,
        max_version: str | None = None,
        maintenance_end: datetime | None = None,
        max_devices: int | None = None,
        max_users: int | None = None,
        max_devices_per_user: int | None = None,
        max_transfers: int | None = None,
        users: list[str] | None = None,
        devices: list[Mapping[str, bytes]] | None = None,
        device_match: str | int = "all",
        activation_required: bool = False,
        counters: Mapping[str, tuple[int, int]] | None = None,
        lease: timedelta | Duration | None = None,
        metadata: Mapping[str, Any] | None = None,
        refresh: timedelta | Duration | None = None,
    ) -> None:
        self.product, self.customer, self.type = product, customer, type
        self.expires, self.duration, self.not_before, self.grace = (
            expires,
            duration,
            not_before,
            grace,
        )
        self.features = dict(features or {})
        self.max_version, self.maintenance_end = max_version, maintenance_end
        self.limits = Limits(max_devices, max_users, max_devices_per_user, max_transfers)
        self.users = list(users or [])
        self.devices = list(devices or [])
        self.device_match = device_match
        self.activation_required = activation_required
        self.counters = dict(counters or {})
        self.lease = lease
        self.metadata = dict(metadata or {})
        self.refresh = refresh


class IssuedLicense:
    """Result of issuing: the id, the binary document and its armored text.

    ``activation_implied_by`` names the terms that made the license require
    activation although the request did not ask for it (empty otherwise).
    """

    def __init__(
        self,
        license_id: str,
        document: bytes,
        armored: bytes,
        terms: LicenseTerms,
        activation_implied_by: tuple[str, ...] = (),
    ) -> None:
        self.id, self.document, self.armored, self.terms = license_id, document, armored, terms
        self.activation_implied_by = activation_implied_by


def activation_implied_by(req: IssueRequest) -> tuple[str, ...]:
    """The requested terms that only the activation exchange can enforce (format §7.2).

    Seat limits, allowed users, floating leases and refresh dates are counted
    or carried by the vendor's answer to an activation request; a license that
    states them without requiring activation would promise what nothing checks.
    """
    limits = req.limits
    named = [
        ("max devices", limits.max_devices), ("max users", limits.max_users),
        ("max devices per user", limits.max_devices_per_user),
        ("max transfers", limits.max_transfers), ("refresh", req.refresh),
    ]  # fmt: skip
    reasons = [name for name, value in named if value is not None]
    if req.users:
        reasons.append("allowed users")
    if req.type == "floating":
        reasons.append("floating lease")
    return tuple(reasons)


def new_license_id(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A license id like ``L-7K3M-9QXA-W2RT``: 60 random bits in Crockford base32."""
    value = int.from_bytes(random_bytes(8), "big") >> 4
    chars = "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(12))
    return f"L-{chars[0:4]}-{chars[4:8]}-{chars[8:12]}"


def _build_terms(ws: Workspace, req: IssueRequest, license_id: str, at: int) -> LicenseTerms:
    if req.type not in LICENSE_TYPES:
        raise InvalidInput(
            f"unknown license type {req.type!r} (one of: {', '.join(LICENSE_TYPES)})"
        )
    product = ws.ledger.product(req.product)
    ws.ledger.customer(req.customer)
    declared = json.loads(product["features"])
    unknown = sorted(set(req.features) - set(declared))
    if declared and unknown:
        raise InvalidInput(
            f"product {req.product!r} has no feature {unknown[0]!r} (known: {', '.join(declared)})"
        )
    start = at if req.not_before is None else to_timestamp(req.not_before, "not before")
    expires = _expiry(req, start)
    lease = req.lease
    if req.type == "floating" and lease is None:
        lease = DEFAULT_LEASE
    if lease is not None and req.type != "floating":
        raise InvalidInput("a lease duration applies only to floating licenses")
    if req.type == "consumption" and not req.counters:
        raise InvalidInput("a consumption license needs at least one --counter NAME=LIMIT")
    if req.grace and expires is None:
        raise InvalidInput("a grace period needs an expiry")
    try:  # stored in one form (case, NFC, no invisible characters): format §7
        users = normalize_users(req.users)
    except ValueError as exc:
        raise InvalidInput(f"--user: {exc}") from None
    return LicenseTerms(
        id=license_id,
        version=1,
        issuer=ws.vendor,
        customer=req.customer,
        product=req.product,
        type=req.type,
        issued_at=at,
        not_before=start,
        expires=expires,
        grace_seconds=0 if not req.grace or expires is None else _span(req.grace, expires),
        features=req.features,
        max_version=req.max_version,
        maintenance_end=None
        if req.maintenance_end is None
        else to_timestamp(req.maintenance_end, "maintenance end"),
        limits=req.limits,
        allowed_users=users,
        allowed_devices=tuple(req.devices),
        device_match=req.device_match,
        activation_required=req.activation_required or bool(activation_implied_by(req)),
        counters={name: Counter(limit, overage) for name, (limit, overage) in req.counters.items()},
        lease_seconds=None if lease is None else _span(lease, at),
        metadata=req.metadata,
        extensions={},
        refresh_seconds=_refresh_seconds(req.refresh, at),
    )


def _expiry(req: IssueRequest, start: int) -> int | None:
    """The expiry the request asks for (a date, or a duration from ``start``), checked."""
    if req.expires is not None and req.duration is not None:
        raise InvalidInput("give either an expiry date or a duration, not both")
    expires = None
    if req.expires is not None:
        expires = to_timestamp(req.expires, "expires")
    elif req.duration is not None:
        expires = start + _span(req.duration, start)  # calendar months from the start
    elif req.type == "trial":
        expires = start + int(DEFAULT_TRIAL.total_seconds())
    if expires is None and req.type in ("time-limited", "subscription"):
        raise InvalidInput(f"a {req.type} license needs --expires or --duration")
    if expires is not None and req.type == "perpetual":
        raise InvalidInput("a perpetual license cannot have an expiry; use type time-limited")
    if expires is not None and expires <= start:
        raise InvalidInput("the expiry must be after the start of validity")
    return expires


def _refresh_seconds(refresh: Any, at: int) -> int | None:
    """The refresh period in seconds, refused with the option's units when out of bounds."""
    if refresh is None:
        return None
    seconds = _span(refresh, at)
    if not MIN_REFRESH <= seconds <= MAX_REFRESH:
        raise InvalidInput("--refresh must be from 1h to 10y (e.g. 30d, 3mo, 1y)")
    return seconds


def _span(period: Any, start: int) -> int:
    """Seconds in ``period`` (a timedelta, or a calendar Duration counted from ``start``)."""
    if isinstance(period, timedelta):
        return int(period.total_seconds())
    try:
        return int(period.seconds_from(from_timestamp(start)))
    except ValueError as exc:  # past the year 9999
        raise InvalidInput(str(exc)) from None


def issue_license(
    ws: Workspace,
    request: IssueRequest,
    passphrase: PassphraseSource,
    *,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> IssuedLicense:
    """Issue a license and record it in the ledger.

    The ledger row (with the document) is committed before the caller writes
    any file, so a crash can leave a recorded license without a file (export
    it again with ``licsign show --document``) but never a file without a row.

    Raises:
        NotFound: unknown product or customer, or no usable issuing key.
        InvalidInput: contradictory or out-of-range terms.
        WrongPassphrase: the issuing key's passphrase is wrong.
    """
    at = to_timestamp(now)
    license_id = new_license_id(random_bytes)
    while ws.ledger.license_exists(license_id):
        license_id = new_license_id(random_bytes)
    terms = _build_terms(ws, request, license_id, at)
    try:
        payload = encode_license_payload(terms)
    except LicenseError as exc:
        raise InvalidInput(str(exc)) from None
    key, certificate, kid = ws.issuing_signer(request.product, at, passphrase)
    document = encode_sign1(
        LICENSE, bytes.fromhex(kid), payload, lambda m: key.sign(m).signature, certificate
    )
    with ws.ledger.transaction():
        ws.ledger.add_license(
            at,
            {
                "id": license_id,
                "version": terms.version,
                "product_id": terms.product,
                "customer_id": terms.customer,
                "type": terms.type,
                "issued_at": at,
                "expires": terms.expires,
                "terms": json.dumps(terms_to_json(terms), sort_keys=True),
                "document": document,
                "digest": hashlib.sha256(document).hexdigest(),
                "key_id": kid,
            },
        )
    return IssuedLicense(
        license_id, document, armor(document, LICENSE), terms,
        () if request.activation_required else activation_implied_by(request),
    )  # fmt: skip
