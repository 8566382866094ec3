"""Issuing licenses: build terms, sign with an issuing key, record in the ledger."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nacl.signing import SigningKey

from licsign import _validation as check
from licsign._errors import InvalidInputError
from licsign._keyfile import PassphraseSource
from licsign._ledger import LicenseRecord, ProductRecord
from licsign._services.orders import check_order
from licsign._workspace import Workspace
from licverify import LicenseError
from licverify._time import from_timestamp, to_timestamp
from licverify.cliutil import Duration
from licverify.format import (
    LICENSE,
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
    """What a vendor asks for. Every field maps to one license term (docs/format.md §7).

    Checked when built (``licsign._validation``, on the verifier's rules): what
    does not depend on the ledger or the time of issue is refused here.

    Raises:
        InvalidInputError: an unknown type, a bad feature, counter, version,
            device match, limit or user, or terms that contradict each other
            (an ``InvalidFieldError`` naming the field).
    """

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
        order: str | None = None,
        at_expiry: str = "restrict",
        expires_after_activation: timedelta | Duration | None = None,
    ) -> None:
        self.product, self.customer, self.type = product, customer, check.license_type(type)
        self.expires, self.duration, self.not_before, self.grace = (
            expires, duration, not_before, grace)  # fmt: skip
        self.features = dict(features or {})
        check.features(self.features)
        self.max_version = None if max_version is None else check.version(max_version)
        self.maintenance_end = maintenance_end
        self.limits = Limits(
            check.limit(max_devices, "max devices"), check.limit(max_users, "max users"),
            check.limit(max_devices_per_user, "max devices per user"),
            check.limit(max_transfers, "max transfers"),
        )  # fmt: skip
        # Stored in one form (case, NFC, no invisible characters): format §7.
        self.users = list(check.users(users or []))
        self.devices = list(devices or [])
        self.device_match = check.device_match(device_match)
        self.activation_required = activation_required
        self.counters = dict(counters or {})
        for name, (limit, overage) in self.counters.items():
            check.counter(name, limit, overage)
        self.lease, self.refresh = lease, refresh
        self.metadata = dict(metadata or {})
        self.at_expiry, self.expires_after_activation = (
            check.at_expiry(at_expiry), expires_after_activation)  # fmt: skip
        #: The order it is issued under (recorded in the ledger, not in the document).
        self.order = None if order is None else check.order_id(order)
        check.combination(
            self.type, expires=expires is not None, duration=duration is not None,
            lease=lease is not None, counters=bool(self.counters),
            after_activation=expires_after_activation is not None, maintain=at_expiry == "maintain",
        )  # fmt: skip


@dataclass(frozen=True)
class IssuedLicense:
    """Result of issuing: the id, the binary document, its armored text and the terms.

    ``activation_implied_by`` names the terms that made the license require
    activation although the request did not ask for it (empty otherwise).
    """

    id: str
    document: bytes
    armored: bytes
    terms: LicenseTerms
    activation_implied_by: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The issued terms, as ``licsign issue --json`` prints them."""
        return terms_to_json(self.terms)


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
        ("expiry after activation", req.expires_after_activation),
    ]  # fmt: skip
    reasons = [name for name, value in named if value is not None]
    if req.users:
        reasons.append("allowed users")
    if req.type == "floating":
        reasons.append("floating lease")
    return tuple(reasons)


def request_from_terms(terms: LicenseTerms, order: str | None, **changes: Any) -> IssueRequest:
    """The request that issues ``terms`` again (a renewal's starting point), with ``changes``
    (``IssueRequest`` keyword arguments, and ``customer``) applied; the start of validity
    stays the original one, so a renewal covers the time since."""
    limits = terms.limits
    args: dict[str, Any] = {
        "expires": None if terms.expires is None else from_timestamp(terms.expires),
        "not_before": None if terms.not_before is None else from_timestamp(terms.not_before),
        "grace": timedelta(seconds=terms.grace_seconds) if terms.grace_seconds else None,
        "features": dict(terms.features), "max_version": terms.max_version,
        "maintenance_end": None
        if terms.maintenance_end is None else from_timestamp(terms.maintenance_end),
        "max_devices": limits.max_devices, "max_users": limits.max_users,
        "max_devices_per_user": limits.max_devices_per_user,
        "max_transfers": limits.max_transfers, "users": list(terms.allowed_users),
        "devices": [dict(d) for d in terms.allowed_devices], "device_match": terms.device_match,
        "activation_required": terms.activation_required,
        "counters": {n: (c.limit, c.overage) for n, c in terms.counters.items()},
        "lease": None if terms.lease_seconds is None else timedelta(seconds=terms.lease_seconds),
        "metadata": dict(terms.metadata),
        "refresh": None
        if terms.refresh_seconds is None else timedelta(seconds=terms.refresh_seconds),
        "order": order,
        "at_expiry": terms.at_expiry,
        "expires_after_activation": None if terms.expires_after_activation_seconds is None
        else timedelta(seconds=terms.expires_after_activation_seconds),
    }  # fmt: skip
    customer = changes.pop("customer", terms.customer)
    args.update(changes)
    return IssueRequest(terms.product, customer, terms.type, **args)


def new_license_id(random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A license id like ``L-7K3M-9QXA-W2RT``: 60 random bits in Crockford base32."""
    value = int.from_bytes(random_bytes(8), "big") >> 4
    chars = "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(12))
    return f"L-{chars[0:4]}-{chars[4:8]}-{chars[8:12]}"


class Lookups:
    """The catalog reads issuing makes (product, customer, order), each made once per
    ``Lookups``: bulk issuance shares one across its rows; a single license uses its own."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws
        self._products: dict[str, ProductRecord] = {}
        self._customers: set[str] = set()
        self._orders: set[tuple[str, str]] = set()

    def product(self, product_id: str) -> ProductRecord:
        """The product; NotFoundError if unknown."""
        if product_id not in self._products:
            self._products[product_id] = self._ws.ledger.product(product_id)
        return self._products[product_id]

    def customer(self, customer_id: str) -> None:
        """Check that the customer exists; NotFoundError if not."""
        if customer_id not in self._customers:
            self._ws.ledger.customer(customer_id)
            self._customers.add(customer_id)

    def order(self, order_id: str, customer_id: str) -> None:
        """Check that the order exists and is the customer's; NotFoundError or RefusedError."""
        if (order_id, customer_id) not in self._orders:
            check_order(self._ws, order_id, customer_id)
            self._orders.add((order_id, customer_id))


@dataclass(frozen=True)
class PreparedLicense:
    """A license that passed every check needing no key: its terms, encoded, not yet signed."""

    request: IssueRequest
    terms: LicenseTerms
    payload: bytes


def prepare_license(
    ws: Workspace,
    request: IssueRequest,
    license_id: str,
    at: int,
    lookups: Lookups | None = None,
    *,
    version: int = 1,
) -> PreparedLicense:
    """Build and encode the terms of ``request`` as license ``license_id`` issued at ``at``
    (``version``: higher for a renewal, ``licsign._services.renewals``).

    Raises:
        NotFoundError: unknown product, customer or order.
        RefusedError: the order belongs to another customer.
        InvalidInputError: contradictory or out-of-range terms.
    """
    lookups = lookups or Lookups(ws)
    terms = _build_terms(ws, request, license_id, at, lookups, version)
    if request.order is not None:
        lookups.order(request.order, request.customer)
    try:
        payload = encode_license_payload(terms)
    except LicenseError as exc:
        raise InvalidInputError(str(exc)) from None
    return PreparedLicense(request, terms, payload)


def sign_license(
    prepared: PreparedLicense, signer: tuple[SigningKey, bytes, str, tuple[bytes, ...]], at: int
) -> tuple[IssuedLicense, LicenseRecord]:
    """Sign a prepared license with ``signer`` (key, certificate, key id, root rollovers):
    the license and the ledger record to add (``Ledger.add_license``, ``add_licenses``)."""
    key, certificate, kid, rollovers = signer
    terms, request = prepared.terms, prepared.request
    document = encode_sign1(
        LICENSE, bytes.fromhex(kid), prepared.payload, lambda m: key.sign(m).signature,
        certificate, rollovers,
    )  # fmt: skip
    record = LicenseRecord(
        id=terms.id, version=terms.version, product_id=terms.product,
        customer_id=terms.customer, type=terms.type, issued_at=at, expires=terms.expires,
        terms=terms_to_json(terms), document=document,
        digest=hashlib.sha256(document).hexdigest(), key_id=kid, status="active",
        order_id=request.order,
    )  # fmt: skip
    issued = IssuedLicense(
        terms.id, document, armor(document, LICENSE), terms,
        () if request.activation_required else activation_implied_by(request),
    )  # fmt: skip
    return issued, record


def _build_terms(
    ws: Workspace, req: IssueRequest, license_id: str, at: int, lookups: Lookups, version: int = 1
) -> LicenseTerms:
    """The terms of ``req`` issued at ``at``: what needs the ledger and the clock is checked here."""
    product = lookups.product(req.product)
    lookups.customer(req.customer)
    check.product_features(req.features, product.features, req.product)
    start = at if req.not_before is None else to_timestamp(req.not_before, "not before")
    expires = _expiry(req, start)
    after_activation = req.expires_after_activation
    check.grace(bool(req.grace), expires, after_activation is not None)
    lease = req.lease
    if req.type == "floating" and lease is None:
        lease = DEFAULT_LEASE
    return LicenseTerms(
        id=check.license_id(license_id),
        version=version,
        issuer=ws.vendor,
        customer=req.customer,
        product=req.product,
        type=req.type,
        issued_at=at,
        not_before=start,
        expires=expires,
        grace_seconds=0 if not req.grace else _span(req.grace, start if expires is None else expires),
        features=req.features,
        max_version=req.max_version,
        maintenance_end=None
        if req.maintenance_end is None
        else to_timestamp(req.maintenance_end, "maintenance end"),
        limits=req.limits,
        allowed_users=tuple(req.users),
        allowed_devices=tuple(req.devices),
        device_match=req.device_match,
        activation_required=req.activation_required or bool(activation_implied_by(req)),
        counters={name: Counter(limit, overage) for name, (limit, overage) in req.counters.items()},
        lease_seconds=None if lease is None else _span(lease, at),
        metadata=req.metadata,
        extensions={},
        refresh_seconds=None if req.refresh is None else check.refresh(_span(req.refresh, at)),
        at_expiry=req.at_expiry,
        expires_after_activation_seconds=None
        if after_activation is None else check.activation_term(_span(after_activation, start)),
    )  # fmt: skip


def _expiry(req: IssueRequest, start: int) -> int | None:
    """The expiry the request asks for (a date, or a duration from ``start``), checked."""
    expires = None
    if req.expires is not None:
        expires = to_timestamp(req.expires, "expires")
    elif req.duration is not None:
        expires = start + _span(req.duration, start)  # calendar months from the start
    elif req.expires_after_activation is not None:
        return None  # counted from the first activation (combination() refused a date with it)
    elif req.type == "trial":
        expires = start + int(DEFAULT_TRIAL.total_seconds())
    check.expiry(req.type, start, expires)
    return expires


def _span(period: Any, start: int) -> int:
    """Seconds in ``period`` (a timedelta, or a calendar Duration counted from ``start``)."""
    if isinstance(period, timedelta):
        return int(period.total_seconds())
    try:
        return int(period.seconds_from(from_timestamp(start)))
    except ValueError as exc:  # past the year 9999
        raise InvalidInputError(str(exc)) from None


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
    it again with ``licsign show ID --export FILE``) but never a file without
    a row. The record is one unit of work; inside a caller's
    ``ws.ledger.transaction()`` it is part of the caller's (several licenses
    issued all or none). The passphrase is asked for only once every check
    that needs no key has passed.

    Args:
        ws: the workspace.
        request: the terms asked for (checked when it was built).
        passphrase: yields the issuing key's passphrase when the key is opened.
        now: the time of issue (validity starts here unless ``not_before``).
        random_bytes: randomness for the license id.

    Returns:
        The issued license (``to_json()`` is what ``licsign issue --json`` prints).

    Raises:
        NotFoundError: unknown product, customer or order, or no usable issuing key.
        RefusedError: the order belongs to another customer.
        InvalidInputError: contradictory or out-of-range terms.
        WrongPassphraseError: the issuing key's passphrase is wrong.
    """
    at = to_timestamp(now)
    license_id = new_license_id(random_bytes)
    while ws.ledger.license_exists(license_id):
        license_id = new_license_id(random_bytes)
    # The same steps as bulk issuance (licsign._services.bulk.issue_many), for one license.
    prepared = prepare_license(ws, request, license_id, at)
    issued, record = sign_license(prepared, ws.issuing_signer(request.product, at, passphrase), at)
    with ws.ledger.transaction():
        ws.ledger.add_license(at, record)
    return issued
