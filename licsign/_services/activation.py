"""The vendor's side of the activation exchange: grant, deactivate, reset (docs/issuer.md).

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
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from licsign._errors import InvalidInput, LicsignError, NotFound
from licsign._issue import new_license_id
from licsign._keyfile import PassphraseSource
from licsign._ledger import Ledger
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


class Refused(LicsignError):
    """The ledger refuses the request: a limit is reached or a rule forbids it."""

    code = "refused"


class Granted:
    """A granted activation: the armored response and what the ledger recorded."""

    def __init__(
        self,
        response: bytes,
        activation_id: str,
        device_id: str,
        reused: bool,
        expires: int | None = None,
    ) -> None:
        self.response, self.activation_id, self.device_id, self.reused = (
            response,
            activation_id,
            device_id,
            reused,
        )
        #: When the response stops working (lease end or refresh deadline), or None.
        self.expires = expires


def _license_terms(row: sqlite3.Row) -> LicenseTerms:
    return decode_license_payload(parse_unverified(row["document"]).payload)


def _holds_seat(row: sqlite3.Row, at: int) -> bool:
    """A floating activation gives its seat back by itself when its lease ends."""
    return row["lease_expires"] is None or row["lease_expires"] > at


def _holders(rows: list[sqlite3.Row]) -> str:
    names = [
        f"{r['label']} ({r['device_id'][:8]}{', ' + r['user'] if r['user'] else ''})" for r in rows
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
        raise Refused(f"the request's user is not acceptable: {exc}") from None


def _check_request(
    ws: Workspace, request: ActivationRequest, user: str | None, at: int
) -> LicenseTerms:
    row = ws.ledger.license(request.license_id)
    if row["product_id"] != request.product:
        raise Refused(
            f"license {row['id']} is for product {row['product_id']!r}, not {request.product!r}"
        )
    if row["status"] != "active":
        raise Refused(f"license {row['id']} is {row['status']}")
    if bytes.fromhex(row["digest"]) != request.license_digest:
        raise Refused(
            f"the request names a different document than license {row['id']} version "
            f"{row['version']}; install the current license file and make a new request"
        )
    terms = _license_terms(row)
    if terms.expires is not None and at >= terms.expires + terms.grace_seconds:
        raise Refused(f"license {row['id']} expired on {iso(terms.expires)}")
    # Allowed users are stored normalized at issue (licsign._issue), like ``user`` here.
    if terms.allowed_users and user not in terms.allowed_users:
        who = "no user" if user is None else f"user {user!r}"
        raise Refused(
            f"license {row['id']} does not allow {who} (allowed: {', '.join(terms.allowed_users)})"
        )
    limits = terms.limits
    if user is None and (limits.max_users is not None or limits.max_devices_per_user is not None):
        raise Refused(f"license {row['id']} counts users; make the request with --user")
    return terms


def check_fingerprint_policy(product: sqlite3.Row, fingerprint: Mapping[str, bytes]) -> None:
    """Refuse a fingerprint that is too thin to tell machines apart (issue 6 item 2).

    The client chooses what it sends: a request with only the CPU model would
    make every machine with that CPU the same machine.
    """
    required = set(json.loads(product["required_components"])) | {MACHINE_ID}
    minimum = max(2, int(product["min_components"]))
    missing = sorted(required - set(fingerprint))
    # Only components licverify computes (or the product names) count: any
    # other name is whatever the sender chose to put there.
    counted = sorted(set(fingerprint) & (set(COMPONENTS) | required))
    if not missing and len(counted) >= minimum:
        return
    have = ", ".join(counted) or "none"
    raise Refused(
        f"the request's fingerprint has {len(counted)} known component(s) ({have}); product "
        f"{product['id']} needs at least {minimum} including {', '.join(sorted(required))}"
        + (f" (missing: {', '.join(missing)})" if missing else "")
        + "; make the request on the machine itself (containers: --machine-id)"
    )


def _check_same_machine(row: sqlite3.Row, request: ActivationRequest, terms: LicenseTerms) -> None:
    """A device key stays on the machine it was first activated on (issue 6 item 1)."""
    recorded = json.loads(row["fingerprint"] or row["first_fingerprint"])
    first = {name: bytes.fromhex(value) for name, value in recorded.items()}
    # device_match tolerates a replaced disk or NIC; the machine id must not change.
    same_os = first.get(MACHINE_ID) == request.fingerprint.get(MACHINE_ID)
    if same_os and fingerprint_matches(first, request.fingerprint, terms.device_match):
        return
    raise Refused(
        f"device key {request.device_id[:12]} was activated on another machine (its fingerprint "
        f"does not match the one recorded at activation {row['id']}); deactivate it there, or "
        f"reset it with 'licsign device reset {terms.id} {request.device_id[:12]}' "
        "(counts as a transfer)"
    )


def _check_limits(terms: LicenseTerms, holders: list[sqlite3.Row], user: str | None) -> None:
    """Refuse a new seat past any limit, naming the limit and who holds the seats."""
    limits = terms.limits
    if limits.max_devices is not None and len(holders) >= limits.max_devices:
        raise Refused(
            f"license {terms.id} is activated on {len(holders)} of {limits.max_devices} "
            f"devices: {_holders(holders)}; deactivate one or ask the vendor to reset it"
        )
    users = {r["user"] for r in holders if r["user"] is not None}
    if limits.max_users is not None and user not in users and len(users) >= limits.max_users:
        raise Refused(
            f"license {terms.id} has {len(users)} of {limits.max_users} users: "
            f"{', '.join(sorted(users))}"
        )
    per_user = [r for r in holders if user is not None and r["user"] == user]
    cap = limits.max_devices_per_user
    if cap is not None and len(per_user) >= cap:
        raise Refused(
            f"user {user} has {len(per_user)} of {cap} devices on license "
            f"{terms.id}: {_holders(per_user)}"
        )


def _expiries(terms: LicenseTerms, at: int) -> tuple[int | None, int | None, int | None]:
    """Lease end, refresh deadline, and the response's expiry (the earlier of the two)."""
    lease = None if terms.lease_seconds is None else at + terms.lease_seconds
    refresh = None if terms.refresh_seconds is None else at + terms.refresh_seconds
    ends = [t for t in (lease, refresh) if t is not None]
    return lease, refresh, min(ends) if ends else None


def _take_seat(
    ledger: Ledger,
    terms: LicenseTerms,
    request: ActivationRequest,
    user: str | None,
    at: int,
    new_id: Callable[[], str],
) -> tuple[str, bool]:
    """This device's activation id, and whether it already existed; Refused past a limit.

    The product's fingerprint policy applies when a device takes a new seat;
    a renewal is held to the fingerprint recorded when its seat was taken.
    Call inside the ledger's transaction.
    """
    open_rows = ledger.open_activations(terms.id)
    mine = next((r for r in open_rows if r["device_id"] == request.device_id), None)
    holders = [r for r in open_rows if r is not mine and _holds_seat(r, at)]
    if mine is not None:
        _check_same_machine(mine, request, terms)
        if _holds_seat(mine, at):
            if mine["user"] != user:
                # Switching users could slip past the user limits; make it explicit.
                raise Refused(
                    f"device {request.device_id[:12]} holds a seat for user "
                    f"{mine['user'] or '(none)'}; deactivate it before activating it for another user"
                )
        else:  # its lease ended: the seat may be taken, and it may come back for another user
            _check_limits(terms, holders, user)
            ledger.set_activation_user(mine["id"], user)
        return str(mine["id"]), True
    check_fingerprint_policy(ledger.product(terms.product), request.fingerprint)
    _check_limits(terms, holders, user)
    activation_id = new_id()
    fingerprint = json.dumps({k: v.hex() for k, v in request.fingerprint.items()}, sort_keys=True)
    device = {"id": request.device_id, "key": request.device_key, "fingerprint": fingerprint,
              "label": request.label, "user": user, "nonce": request.nonce,
              "digest": request.license_digest}  # fmt: skip
    ledger.add_activation(activation_id, terms.id, device, at)
    return activation_id, False


def activate(
    ws: Workspace,
    request_document: bytes,
    passphrase: PassphraseSource,
    *,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> Granted:
    """Answer an activation request: enforce every limit, record, sign the response.

    Re-activating a device that holds a seat gives a fresh response for the
    same activation and takes no second seat, if the request comes from the
    machine the device was first activated on.

    Raises:
        LicenseError: the request file does not verify.
        NotFound: the license is not in this ledger.
        Refused: a limit or rule forbids it (the message names it and who holds the seats).
    """
    at = to_timestamp(now)
    request = verify_request(request_document)
    user = _normalized_user(request.user)
    terms = _check_request(ws, request, user, at)
    key, certificate, kid = ws.issuing_signer(terms.product, at, passphrase)
    lease, refresh, expires = _expiries(terms, at)
    ledger = ws.ledger
    with ledger.transaction():
        # Re-check inside the write lock: the license row cannot change under us now.
        _check_request(ws, request, user, at)
        activation_id, reused = _take_seat(
            ledger, terms, request, user, at, lambda: "A" + new_license_id(random_bytes)[1:]
        )
        ledger.renew_activation(
            activation_id, at, (lease, refresh), request.nonce, request.license_digest
        )
        ledger.append_event(
            at, "activation.renewed" if reused else "activation.created", terms.id,
            {"activation": activation_id, "device": request.device_id, "label": request.label,
             "user": user, "lease_expires": lease, "refresh_by": refresh},
        )  # fmt: skip
        response = ActivationResponse(
            activation_id=activation_id, device_key=request.device_key,
            fingerprint=request.fingerprint, issued_at=at, lease_expires=expires,
            license_digest=request.license_digest, license_id=terms.id, nonce=request.nonce,
            user=user,
        )  # fmt: skip
        document = encode_sign1(
            ACTIVATION_RESPONSE, bytes.fromhex(kid), encode_response_payload(response),
            lambda m: key.sign(m).signature, certificate,
        )  # fmt: skip
    armored = armor(document, ACTIVATION_RESPONSE)
    return Granted(armored, activation_id, request.device_id, reused, expires)


def _end_activation(ws: Workspace, activation: sqlite3.Row, at: int, reason: str,
                    force: bool) -> tuple[int, bool]:  # fmt: skip
    """End an activation; returns the transfers used and whether this one counted.

    A floating seat is not a transfer: it comes back by itself when its lease
    ends, so returning it early (or resetting it) never counts or is refused.
    """
    terms = _license_terms(ws.ledger.license(activation["license_id"]))
    counts = terms.type != "floating"
    limit = terms.limits.max_transfers
    used = ws.ledger.transfers_used(activation["license_id"])
    if counts and limit is not None and used >= limit and not force:
        raise Refused(
            f"license {activation['license_id']} has used {used} of {limit} transfers; "
            "the vendor can override with --force"
        )
    ws.ledger.end_activation(activation["id"], at, reason, counts)
    return used + int(counts), counts


def deactivate(
    ws: Workspace, receipt_document: bytes, *, now: datetime, force: bool = False
) -> dict[str, Any]:
    """Accept a deactivation receipt (once): free the seat and count a transfer.

    Returning a floating lease frees the seat and is not a transfer.

    Raises:
        LicenseError: the receipt does not verify.
        NotFound: unknown activation.
        Refused: the receipt was used already, names another device, or the
            transfer limit is reached (unless ``force``).
    """
    at = to_timestamp(now)
    receipt: DeactivationReceipt = verify_receipt(receipt_document)
    device_id = key_id(receipt.device_key).hex()
    ledger = ws.ledger
    with ledger.transaction():
        activation = ledger.activation(receipt.activation_id)
        if activation is None or activation["license_id"] != receipt.license_id:
            raise NotFound(f"no activation {receipt.activation_id} of license {receipt.license_id}")
        if activation["device_id"] != device_id:
            raise Refused("the receipt is signed by another device than the one activated")
        if activation["license_digest"] != receipt.license_digest:
            raise Refused("the receipt names another license document than the one activated")
        if ledger.receipt_seen(receipt.nonce):
            raise Refused("this receipt was already accepted")
        if activation["ended_at"] is not None:
            raise Refused(
                f"activation {activation['id']} already ended ({activation['end_reason']} "
                f"{iso(activation['ended_at'])})"
            )
        used, counted = _end_activation(ws, activation, at, "deactivated", force)
        ledger.add_receipt(receipt.nonce, activation["id"], at)
        ledger.append_event(
            at, "activation.deactivated", receipt.license_id,
            {"activation": activation["id"], "device": device_id, "transfers_used": used,
             "transfer": counted, "forced": force},
        )  # fmt: skip
    return {"license": receipt.license_id, "activation": activation["id"], "device": device_id,
            "transfers_used": used, "transfer": counted}  # fmt: skip


def reset_device(
    ws: Workspace, license_id: str, device: str, *, now: datetime, force: bool = False
) -> dict[str, Any]:
    """Free a lost machine's seat without a receipt (counted as a transfer, recorded).

    ``device`` is a device id or a unique prefix of at least 4 characters.
    The result says until when the old machine may keep working offline:
    ``refresh_by`` (its response's expiry), or None when nothing ever stops it.

    Raises:
        NotFound: no open activation for that device.
        InvalidInput: the prefix is too short or ambiguous.
        Refused: the transfer limit is reached (unless ``force``).
    """
    at = to_timestamp(now)
    if len(device) < 4:
        raise InvalidInput("give at least 4 characters of the device id")
    ledger = ws.ledger
    ledger.license(license_id)
    with ledger.transaction():
        rows = [
            r
            for r in ledger.open_activations(license_id)
            if r["device_id"].startswith(device.lower())
        ]
        if not rows:
            raise NotFound(f"no active device {device!r} on license {license_id}")
        if len(rows) > 1:
            raise InvalidInput(f"device id {device!r} is ambiguous on license {license_id}")
        used, counted = _end_activation(ws, rows[0], at, "reset", force)
        ledger.append_event(
            at, "device.reset", license_id,
            {"activation": rows[0]["id"], "device": rows[0]["device_id"], "forced": force,
             "transfers_used": used, "transfer": counted},
        )  # fmt: skip
    ends = [t for t in (rows[0]["lease_expires"], rows[0]["refresh_by"]) if t is not None]
    return {"license": license_id, "activation": rows[0]["id"], "device": rows[0]["device_id"],
            "transfers_used": used, "transfer": counted,
            "works_offline_until": iso(min(ends)) if ends else None}  # fmt: skip


def _device_status(activation: sqlite3.Row | None, at: int) -> str:
    if activation is None:
        return "none"
    if activation["ended_at"] is not None:
        return str(activation["end_reason"])
    if not _holds_seat(activation, at):
        return "lease-ended"
    if activation["refresh_by"] is not None and activation["refresh_by"] <= at:
        return "refresh-overdue"
    return "active"


def devices(ws: Workspace, license_id: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every device that ever activated ``license_id``, with its latest activation.

    ``now`` decides whether a lease has ended or a refresh is overdue (without
    it, neither is judged).
    """
    ws.ledger.license(license_id)
    at = 0 if now is None else to_timestamp(now)
    out = []
    for d, a in ws.ledger.devices_of(license_id):
        out.append({
            "device": d["id"], "label": d["label"], "user": d["user"],
            "first_seen": iso(d["first_seen"]), "last_seen": iso(d["last_seen"]),
            "activation": a["id"] if a else None, "status": _device_status(a, at),
            "lease_expires": iso(a["lease_expires"]) if a else None,
            "refresh_by": iso(a["refresh_by"]) if a else None,
        })  # fmt: skip
    return out
