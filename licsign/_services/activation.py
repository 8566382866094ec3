"""Activation services: grant, deactivate, reset a device (docs/issuer.md).

Every limit is checked and the decision recorded inside one
``BEGIN IMMEDIATE`` transaction, so concurrent activations cannot race past a
seat limit (DESIGN §4). The issuing key is opened before the transaction
(Argon2id takes about a second) and the response is signed inside it.

What binds (issue 6, docs/security.md "Activations"):

- A device key is tied to the fingerprint it was first activated with: a
  renewal must match it under the license's ``device_match``, so a copied
  store cannot renew itself onto another machine.
- A request must carry the machine-id component and at least the product's
  minimum number of components (two by default).
- A floating seat is held only while its lease runs: the limit counts
  activations whose lease has not ended, and a returned lease is not a
  transfer.
- With ``refresh``, every response expires; a reset device comes back only
  by taking a seat again.
- A trial is taken once per machine and product (issue 9): the machine-id
  component of the fingerprint names the machine, and a new seat on any
  trial license is refused to a machine that took one before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licsign._errors import InvalidInputError, NotFoundError, RefusedError
from licsign._keyfile import PassphraseSource
from licsign._ledger import (
    ActivationRecord,
    Ledger,
    LicenseRecord,
    NewSeat,
    ProductRecord,
    Seat,
    TrialRecord,
)
from licsign._services.issuing import new_license_id
from licsign._services.keyring import KeyRing, Signer
from licsign._services.shares import SeatAdmission, seat_admitter, sharers
from licsign._validation import MIN_COMPONENTS, device_label
from licsign._workspace import Workspace
from licverify import ActivationRequest, DeactivationReceipt, verify_receipt, verify_request
from licverify._fingerprint import COMPONENTS, MACHINE_ID, fingerprint_matches
from licverify._time import iso, to_timestamp
from licverify.format import (
    ACTIVATION_RESPONSE,
    ActivationResponse,
    LicenseTerms,
    armor,
    decode_license_payload,
    encode_response_payload,
    encode_sign1,
    key_id,
    parse_unverified,
)


@dataclass(frozen=True)
class Granted:
    """A granted activation: the armored response and what the ledger recorded."""

    response: bytes
    activation_id: str
    device_id: str
    #: True when the device already held this seat (a renewal, no new seat taken).
    reused: bool
    #: When the response stops working (lease end or refresh deadline), or None.
    expires: int | None = None
    #: The license the seat belongs to (which revocation list rides along, docs/adr/0021).
    license_id: str = ""


@dataclass(frozen=True)
class SeatFreed:
    """A seat freed by a receipt (``deactivate``) or by the vendor (``reset_device``)."""

    license_id: str
    activation_id: str
    device_id: str
    #: Transfers the license has used, this one included if it counted.
    transfers_used: int
    #: Whether this counted as a transfer (a floating seat never does).
    transfer: bool
    #: Reset only: until when the old machine keeps working offline (its
    #: response's expiry), or None when nothing stops it.
    works_offline_until: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The result as ``--json`` prints it."""
        out: dict[str, Any] = {
            "license": self.license_id, "activation": self.activation_id,
            "device": self.device_id, "transfers_used": self.transfers_used,
            "transfer": self.transfer,
        }  # fmt: skip
        return out


def _license_terms(row: LicenseRecord) -> LicenseTerms:
    return decode_license_payload(parse_unverified(row.document).payload)


def holds_seat(row: ActivationRecord, at: int) -> bool:
    """A floating activation gives its seat back by itself when its lease ends."""
    return row.holds_seat(at)


def _holders(rows: list[Seat]) -> str:
    names = [
        f"{r.label} ({r.activation.device_id[:8]}{', ' + r.activation.user if r.activation.user else ''})"
        for r in rows
    ]
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _normalized_user(user: str | None) -> str | None:
    """The user as the ledger compares it (case, NFC, whitespace), or a refusal."""
    if user is None:
        return None
    from licverify._fields import normalize_user

    try:
        return normalize_user(user)
    except ValueError as exc:
        raise RefusedError(f"the request's user is not acceptable: {exc}") from None


def _check_request(
    ws: Workspace, request: ActivationRequest, user: str | None, at: int
) -> LicenseTerms:
    row = ws.ledger.license(request.license_id)
    if row.product_id != request.product:
        raise RefusedError(
            f"license {row.id} is for product {row.product_id!r}, not {request.product!r}"
        )
    if row.status != "active":
        raise RefusedError(f"license {row.id} is {row.status}")
    if bytes.fromhex(row.digest) != request.license_digest:
        raise RefusedError(
            f"the request names a different document than license {row.id} version "
            f"{row.version}; install the current license file and make a new request"
        )
    terms = _license_terms(row)
    expired = terms.expires is not None and at >= terms.expires + terms.grace_seconds
    if expired and terms.at_expiry != "maintain":  # a maintained license keeps its seats
        raise RefusedError(f"license {row.id} expired on {iso(terms.expires)}")
    # Allowed users are stored normalized at issue (licsign._issue), like ``user`` here; a
    # sharer (``licsign share``) is not one of the owner's users.
    shared = user is not None and ws.ledger.license_share(row.id, user) is not None
    if terms.allowed_users and user not in terms.allowed_users and not shared:
        who = "no user" if user is None else f"user {user!r}"
        raise RefusedError(
            f"license {row.id} does not allow {who} (allowed: {', '.join(terms.allowed_users)})"
        )
    limits = terms.limits
    if user is None and (limits.max_users is not None or limits.max_devices_per_user is not None):
        raise RefusedError(f"license {row.id} counts users; make the request with --user")
    if request.lease is not None and terms.lease_seconds is None:
        raise RefusedError(
            f"license {row.id} is not floating: it has no lease to reserve; make the request "
            "without one (licverify request)"
        )
    return terms


def check_fingerprint_policy(product: ProductRecord, fingerprint: Mapping[str, bytes]) -> None:
    """Refuse a fingerprint that is too thin to tell machines apart (issue 6 item 2).

    The client chooses what it sends: a request with only the CPU model would
    make every machine with that CPU the same machine.
    """
    required = set(product.required_components) | {MACHINE_ID}
    minimum = max(MIN_COMPONENTS, product.min_components)
    missing = sorted(required - set(fingerprint))
    # Only components licverify computes (or the product names) count: any
    # other name is whatever the sender chose to put there.
    counted = sorted(set(fingerprint) & (set(COMPONENTS) | required))
    if not missing and len(counted) >= minimum:
        return
    have = ", ".join(counted) or "none"
    raise RefusedError(
        f"the request's fingerprint has {len(counted)} known component(s) ({have}); product "
        f"{product.id} needs at least {minimum} including {', '.join(sorted(required))}"
        + (f" (missing: {', '.join(missing)})" if missing else "")
        + "; make the request on the machine itself (containers: --machine-id)"
    )


def _check_same_machine(seat: Seat, request: ActivationRequest, terms: LicenseTerms) -> None:
    """A device key stays on the machine it was first activated on (issue 6 item 1)."""
    recorded = json.loads(seat.activation.fingerprint or seat.first_fingerprint)
    first = {name: bytes.fromhex(value) for name, value in recorded.items()}
    # device_match tolerates a replaced disk or NIC; the machine id must not change.
    same_os = first.get(MACHINE_ID) == request.fingerprint.get(MACHINE_ID)
    if same_os and fingerprint_matches(first, request.fingerprint, terms.device_match):
        return
    raise RefusedError(
        f"device key {request.device_id[:12]} was activated on another machine (its fingerprint "
        f"does not match the one recorded at activation {seat.activation.id}); deactivate it there, or "
        f"reset it with 'licsign device reset {terms.id} {request.device_id[:12]}' "
        "(counts as a transfer)"
    )


def _check_limits(
    terms: LicenseTerms,
    holders: list[Seat],
    user: str | None,
    user_cap: int | None = None,
    shared: frozenset[str] = frozenset(),
) -> None:
    """Refuse a new seat past any limit, naming the limit and who holds the seats.

    ``user_cap`` is the user's own device cap from their assignment (``licsign user
    assign --max-devices``), applied with the license's devices-per-user cap. ``shared``:
    the license's sharers, whose seats count toward its devices but not its users (one
    sharer device at a time is ``shares.seat_admitter``'s rule).
    """
    limits = terms.limits
    if limits.max_devices is not None and len(holders) >= limits.max_devices:
        raise RefusedError(
            f"license {terms.id} is activated on {len(holders)} of {limits.max_devices} "
            f"devices: {_holders(holders)}; deactivate one or ask the vendor to reset it"
        )
    users = {r.activation.user for r in holders if r.activation.user is not None} - shared
    if user in shared:
        return
    if limits.max_users is not None and user not in users and len(users) >= limits.max_users:
        raise RefusedError(
            f"license {terms.id} has {len(users)} of {limits.max_users} users: "
            f"{', '.join(sorted(users))}"
        )
    per_user = [r for r in holders if user is not None and r.activation.user == user]
    caps = [c for c in (limits.max_devices_per_user, user_cap) if c is not None]
    cap = min(caps) if caps else None
    if cap is not None and len(per_user) >= cap:
        raise RefusedError(
            f"user {user} has {len(per_user)} of {cap} devices on license "
            f"{terms.id}: {_holders(per_user)}"
        )


def _expiries(
    terms: LicenseTerms, at: int, asked: int | None = None
) -> tuple[int | None, int | None, int | None]:
    """Lease end (the lease ``asked`` for, at most the license's), refresh deadline, and the
    response's expiry (the earlier of the two)."""
    seconds = terms.lease_seconds
    if seconds is not None and asked is not None:
        seconds = min(seconds, asked)
    lease = None if seconds is None else at + seconds
    refresh = None if terms.refresh_seconds is None else at + terms.refresh_seconds
    ends = [t for t in (lease, refresh) if t is not None]
    return lease, refresh, min(ends) if ends else None


def _license_expiry(
    ledger: Ledger, terms: LicenseTerms, request: ActivationRequest, at: int
) -> int | None:
    """The license's expiry a response fixes (``expires_after_activation``), or None.

    It counts from the license's first activation in the ledger, on any device,
    so neither a renewal, a transfer nor another device extends it; a trial
    counts from this machine's trial (``trials.taken_at``), each machine its
    own period. Refused once expired, unless the license is maintained
    (``at_expiry``). Call inside the unit of work, after the seat is taken.
    """
    seconds = terms.expires_after_activation_seconds
    if seconds is None:
        return None
    start = None
    digest = request.fingerprint.get(MACHINE_ID)
    if terms.type == "trial" and digest is not None:
        trial = ledger.trial_of(terms.product, digest.hex())
        if trial is not None and trial.license_id == terms.id:
            start = trial.taken_at
    if start is None:
        first = ledger.activations_of(terms.id)
        start = min((a.created_at for a in first), default=at)
    end = start + seconds
    if terms.at_expiry != "maintain" and at >= end + terms.grace_seconds:
        raise RefusedError(
            f"license {terms.id} expired on {iso(end)} ({seconds // 86400} days after its "
            f"first activation, {iso(start)})"
        )
    return end


def _take_seat(
    ledger: Ledger,
    terms: LicenseTerms,
    request: ActivationRequest,
    user: str | None,
    at: int,
    new_id: Callable[[], str],
    admit: Callable[[bool], SeatAdmission],
) -> tuple[str, bool]:
    """This device's activation id, and whether it already existed; RefusedError past a limit.

    The product's fingerprint policy applies when a device takes a new seat;
    a renewal is held to the fingerprint recorded when its seat was taken.
    On a user-based license ``admit(need_code)`` says whether the user may take
    a seat (a new one needs their one-time code, used here). Call inside the
    ledger's transaction.
    """
    open_rows = ledger.open_activations(terms.id)
    mine = next((r for r in open_rows if r.activation.device_id == request.device_id), None)
    holders = [r for r in open_rows if r is not mine and holds_seat(r.activation, at)]
    shared = sharers(ledger, terms.id)
    if mine is not None:
        _check_same_machine(mine, request, terms)
        if holds_seat(mine.activation, at):
            if mine.activation.user != user:
                # Switching users could slip past the user limits; make it explicit.
                raise RefusedError(
                    f"device {request.device_id[:12]} holds a seat for user "
                    f"{mine.activation.user or '(none)'}; deactivate it before activating it for another user"
                )
        else:  # its lease ended: the seat may be taken, and it may come back for another user
            admission = admit(mine.activation.user != user)  # another user: a new seat
            _check_limits(terms, holders, user, admission.max_devices, shared)
            ledger.set_activation_user(mine.activation.id, user)
            admission.redeem(ledger, at, mine.activation.id)
        return mine.activation.id, True
    admission = admit(True)
    check_fingerprint_policy(ledger.product(terms.product), request.fingerprint)
    _check_limits(terms, holders, user, admission.max_devices, shared)
    activation_id = new_id()
    fingerprint = json.dumps({k: v.hex() for k, v in request.fingerprint.items()}, sort_keys=True)
    seat = NewSeat(
        request.device_id, request.device_key, fingerprint, request.label, user,
        request.nonce, request.license_digest,
    )  # fmt: skip
    ledger.add_activation(activation_id, terms.id, seat, at)
    admission.redeem(ledger, at, activation_id)
    return activation_id, False


def _claim_trial(
    ledger: Ledger,
    terms: LicenseTerms,
    request: ActivationRequest,
    activation_id: str,
    at: int,
    reused: bool,
) -> None:
    """For a new seat on a trial license (not ``reused``), record that this machine takes
    its one trial of the product, or refuse a second.

    The machine is the request's ``machine-id`` digest, salted per product
    (docs/security.md "Trials: once per machine"). Call inside the unit of
    work that takes the new seat: a refusal undoes the seat too.
    """
    if terms.type != "trial" or reused:
        return
    digest = request.fingerprint.get(MACHINE_ID)
    if digest is None:  # the fingerprint policy requires it for every new seat
        raise RefusedError("a trial needs the request's machine-id component")
    machine = digest.hex()
    earlier = ledger.trial_of(terms.product, machine)
    if earlier is not None:
        raise RefusedError(
            f"this machine already had a trial of product {terms.product}: license "
            f"{earlier.license_id}, activated {iso(earlier.taken_at)}; a machine gets one trial "
            "per product (issue it a license of another type instead)"
        )
    ledger.add_trial(
        TrialRecord(terms.product, machine, terms.id, activation_id, request.device_id, at)
    )
    ledger.append_event(
        at, "trial.taken", terms.id,
        {"product": terms.product, "machine": machine, "activation": activation_id,
         "device": request.device_id},
    )  # fmt: skip


def _seat(
    ws: Workspace,
    terms: LicenseTerms,
    request: ActivationRequest,
    user: str | None,
    at: int,
    random_bytes: Callable[[int], bytes],
) -> tuple[str, bool]:
    """``_take_seat`` with this workspace's activation ids and license users (inside the unit)."""
    return _take_seat(
        ws.ledger, terms, request, user, at, lambda: "A" + new_license_id(random_bytes)[1:],
        seat_admitter(ws, terms, user, request.code, at),
    )  # fmt: skip


def activate(
    ws: Workspace,
    request_document: bytes,
    passphrase: PassphraseSource,
    *,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
    keys: KeyRing | None = None,
    counters: Mapping[str, int] | None = None,
) -> Granted:
    """Answer an activation request: enforce every limit, record, sign the response.

    Re-activating a device that holds a seat gives a fresh response for the
    same activation and takes no second seat, if the request comes from the
    machine the device was first activated on. ``keys``: issuing keys already
    opened for a batch (``activate_many``); without it the key is opened here.
    ``counters``: units of the license's counters granted on top of its own (§11.2).

    Raises:
        LicenseError: the request file does not verify.
        NotFoundError: the license is not in this ledger.
        RefusedError: a limit or rule forbids it (the message names it and who holds the seats).
    """
    at = to_timestamp(now)
    request = verify_request(request_document)
    try:
        device_label(request.label)
    except InvalidInputError as exc:
        raise RefusedError(
            f"{exc}; make the request again with licverify request --label"
        ) from None
    user = _normalized_user(request.user)
    terms = _check_request(ws, request, user, at)
    granted = _grants(terms, counters)
    signer = (keys or KeyRing(ws, passphrase)).signer(terms.product, at)
    lease, refresh, expires = _expiries(terms, at, request.lease)
    ledger = ws.ledger
    with ledger.transaction():
        # Re-check inside the write lock: the license row cannot change under us now.
        _check_request(ws, request, user, at)
        activation_id, reused = _seat(ws, terms, request, user, at, random_bytes)
        ledger.renew_activation(
            activation_id, at, (lease, refresh), request.nonce, request.license_digest
        )
        ledger.append_event(
            at, "activation.renewed" if reused else "activation.created", terms.id,
            {"activation": activation_id, "device": request.device_id, "label": request.label,
             "user": user, "lease_expires": lease, "refresh_by": refresh,
             **({"counters": granted} if granted else {})},
        )  # fmt: skip
        _claim_trial(ledger, terms, request, activation_id, at, reused)
        response = ActivationResponse(
            activation_id=activation_id, device_key=request.device_key,
            fingerprint=request.fingerprint, issued_at=at, lease_expires=expires,
            license_digest=request.license_digest, license_id=terms.id, nonce=request.nonce,
            user=user, license_expires=_license_expiry(ledger, terms, request, at),
            counters=granted,
        )  # fmt: skip
        armored = _signed(signer, response)
    return Granted(armored, activation_id, request.device_id, reused, expires, request.license_id)


def _signed(signer: Signer, response: ActivationResponse) -> bytes:
    """The response signed by the issuing key, its certificate and rollovers embedded, armored."""
    key, certificate, kid, rollovers = signer
    document = encode_sign1(
        ACTIVATION_RESPONSE, bytes.fromhex(kid), encode_response_payload(response),
        lambda m: key.sign(m).signature, certificate, rollovers,
    )  # fmt: skip
    return armor(document, ACTIVATION_RESPONSE)


def _grants(terms: LicenseTerms, counters: Mapping[str, int] | None) -> dict[str, int]:
    """The counter grants of an activation, checked: counters the license states, 1 or more."""
    out = dict(counters or {})
    for name, units in out.items():
        if name not in terms.counters:
            raise InvalidInputError(f"license {terms.id} has no counter {name!r} to grant")
        if type(units) is not int or not 1 <= units <= 2**63 - 1:
            raise InvalidInputError(f"grant a positive whole number of {name!r}")
    return out


def _end_activation(ws: Workspace, activation: ActivationRecord, at: int, reason: str,
                    force: bool) -> tuple[int, bool]:  # fmt: skip
    """End an activation; returns the transfers used and whether this one counted.

    A floating seat is not a transfer: it comes back by itself when its lease
    ends, so returning it early (or resetting it) never counts or is refused.
    """
    terms = _license_terms(ws.ledger.license(activation.license_id))
    counts = terms.type != "floating"
    limit = terms.limits.max_transfers
    used = ws.ledger.transfers_used(activation.license_id)
    if counts and limit is not None and used >= limit and not force:
        raise RefusedError(
            f"license {activation.license_id} has used {used} of {limit} transfers; "
            "the vendor can override with --force"
        )
    ws.ledger.end_activation(activation.id, at, reason, counts)
    return used + int(counts), counts


def deactivate(
    ws: Workspace, receipt_document: bytes, *, now: datetime, force: bool = False
) -> SeatFreed:
    """Accept a deactivation receipt (once): free the seat and count a transfer.

    Returning a floating lease frees the seat and is not a transfer.

    Raises:
        LicenseError: the receipt does not verify.
        NotFoundError: unknown activation.
        RefusedError: the receipt was used already, names another device, or the
            transfer limit is reached (unless ``force``).
    """
    at = to_timestamp(now)
    receipt: DeactivationReceipt = verify_receipt(receipt_document)
    device_id = key_id(receipt.device_key).hex()
    ledger = ws.ledger
    with ledger.transaction():
        activation = ledger.activation(receipt.activation_id)
        if activation is None or activation.license_id != receipt.license_id:
            raise NotFoundError(
                f"no activation {receipt.activation_id} of license {receipt.license_id}"
            )
        if activation.device_id != device_id:
            raise RefusedError("the receipt is signed by another device than the one activated")
        if activation.license_digest != receipt.license_digest:
            raise RefusedError("the receipt names another license document than the one activated")
        if ledger.receipt_seen(receipt.nonce):
            raise RefusedError("this receipt was already accepted")
        if activation.ended_at is not None:
            raise RefusedError(
                f"activation {activation.id} already ended ({activation.end_reason} "
                f"{iso(activation.ended_at)})"
            )
        used, counted = _end_activation(ws, activation, at, "deactivated", force)
        ledger.add_receipt(receipt.nonce, activation.id, at)
        ledger.append_event(
            at, "activation.deactivated", receipt.license_id,
            {"activation": activation.id, "device": device_id, "transfers_used": used,
             "transfer": counted, "forced": force},
        )  # fmt: skip
    return SeatFreed(receipt.license_id, activation.id, device_id, used, counted)


def reset_device(
    ws: Workspace, license_id: str, device: str, *, now: datetime, force: bool = False
) -> SeatFreed:
    """Free a lost machine's seat without a receipt (counted as a transfer, recorded).

    ``device`` is a device id or a unique prefix of at least 4 characters.
    The result says until when the old machine may keep working offline
    (``works_offline_until``: its response's expiry), or None when nothing stops it.

    Raises:
        NotFoundError: no open activation for that device.
        InvalidInputError: the prefix is too short or ambiguous.
        RefusedError: the transfer limit is reached (unless ``force``).
    """
    at = to_timestamp(now)
    if len(device) < 4:
        raise InvalidInputError("give at least 4 characters of the device id")
    ledger = ws.ledger
    ledger.license(license_id)
    with ledger.transaction():
        rows = [
            r
            for r in ledger.open_activations(license_id)
            if r.activation.device_id.startswith(device.lower())
        ]
        if not rows:
            raise NotFoundError(f"no active device {device!r} on license {license_id}")
        if len(rows) > 1:
            raise InvalidInputError(f"device id {device!r} is ambiguous on license {license_id}")
        seat = rows[0].activation
        used, counted = _end_activation(ws, seat, at, "reset", force)
        ledger.append_event(
            at, "device.reset", license_id,
            {"activation": seat.id, "device": seat.device_id, "forced": force,
             "transfers_used": used, "transfer": counted},
        )  # fmt: skip
    ends = [t for t in (seat.lease_expires, seat.refresh_by) if t is not None]
    return SeatFreed(
        license_id, seat.id, seat.device_id, used, counted, min(ends) if ends else None
    )
