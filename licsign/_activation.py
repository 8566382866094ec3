"""The vendor's side of the activation exchange: grant, deactivate, reset (docs/issuer.md).

Every limit is checked and the decision recorded inside one
``BEGIN IMMEDIATE`` transaction, so concurrent activations cannot race past a
seat limit (DESIGN §4). The issuing key is opened before the transaction
(Argon2id takes about a second) and the response is signed inside it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from licsign._errors import InvalidInput, LicsignError, NotFound
from licsign._issue import new_license_id
from licsign._keyfile import PassphraseSource
from licsign._workspace import Workspace
from licverify import ActivationRequest, DeactivationReceipt, verify_receipt, verify_request
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

    def __init__(self, response: bytes, activation_id: str, device_id: str, reused: bool) -> None:
        self.response, self.activation_id, self.device_id, self.reused = (
            response,
            activation_id,
            device_id,
            reused,
        )


def _license_terms(row: sqlite3.Row) -> LicenseTerms:
    return decode_license_payload(parse_unverified(row["document"]).payload)


def _open_activations(db: sqlite3.Connection, license_id: str) -> list[sqlite3.Row]:
    return db.execute(
        "SELECT a.*, d.label FROM activations a JOIN devices d"
        " ON d.license_id = a.license_id AND d.id = a.device_id"
        " WHERE a.license_id = ? AND a.ended_at IS NULL ORDER BY a.created_at, a.rowid",
        (license_id,),
    ).fetchall()


def transfers_used(db: sqlite3.Connection, license_id: str) -> int:
    """Activations of this license ended by a deactivation receipt or a reset."""
    return int(
        db.execute(
            "SELECT COUNT(*) FROM activations WHERE license_id = ? AND ended_at IS NOT NULL",
            (license_id,),
        ).fetchone()[0]
    )


def _holders(rows: list[sqlite3.Row]) -> str:
    names = [
        f"{r['label']} ({r['device_id'][:8]}{', ' + r['user'] if r['user'] else ''})" for r in rows
    ]
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _check_request(ws: Workspace, request: ActivationRequest, at: int) -> LicenseTerms:
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
    if terms.allowed_users and request.user not in terms.allowed_users:
        who = "no user" if request.user is None else f"user {request.user!r}"
        raise Refused(
            f"license {row['id']} does not allow {who} (allowed: {', '.join(terms.allowed_users)})"
        )
    limits = terms.limits
    if request.user is None and (
        limits.max_users is not None or limits.max_devices_per_user is not None
    ):
        raise Refused(f"license {row['id']} counts users; make the request with --user")
    return terms


def activate(
    ws: Workspace,
    request_document: bytes,
    passphrase: PassphraseSource,
    *,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> Granted:
    """Answer an activation request: enforce every limit, record, sign the response.

    Re-activating a device that already holds a seat gives a fresh response
    for the same activation and takes no second seat.

    Raises:
        LicenseError: the request file does not verify.
        NotFound: the license is not in this ledger.
        Refused: a limit or rule forbids it (the message names it and who holds the seats).
    """
    at = to_timestamp(now)
    request = verify_request(request_document)
    terms = _check_request(ws, request, at)
    key, certificate, kid = ws.issuing_signer(terms.product, at, passphrase)
    device_id = request.device_id
    limits = terms.limits
    lease = None if terms.lease_seconds is None else at + terms.lease_seconds
    ledger = ws.ledger
    with ledger.transaction() as db:
        # Re-check inside the write lock: the license row cannot change under us now.
        _check_request(ws, request, at)
        open_rows = _open_activations(db, terms.id)
        mine = [r for r in open_rows if r["device_id"] == device_id]
        if mine:
            if mine[0]["user"] != request.user:
                # Switching users could slip past the user limits; make it explicit.
                raise Refused(
                    f"device {device_id[:12]} holds a seat for user {mine[0]['user'] or '(none)'}; "
                    "deactivate it before activating it for another user"
                )
            activation_id, reused = mine[0]["id"], True
            db.execute(
                "UPDATE activations SET renewed_at = ?, lease_expires = ?, request_nonce = ?,"
                " license_digest = ? WHERE id = ?",
                (at, lease, request.nonce, request.license_digest, activation_id),
            )
        else:
            if limits.max_devices is not None and len(open_rows) >= limits.max_devices:
                raise Refused(
                    f"license {terms.id} is activated on {len(open_rows)} of {limits.max_devices} "
                    f"devices: {_holders(open_rows)}; deactivate one or ask the vendor to reset it"
                )
            users = {r["user"] for r in open_rows if r["user"] is not None}
            if (
                limits.max_users is not None
                and request.user not in users
                and len(users) >= limits.max_users
            ):
                raise Refused(
                    f"license {terms.id} has {len(users)} of {limits.max_users} users: "
                    f"{', '.join(sorted(users))}"
                )
            per_user = [
                r for r in open_rows if r["user"] == request.user and request.user is not None
            ]
            cap = limits.max_devices_per_user
            if cap is not None and len(per_user) >= cap:
                raise Refused(
                    f"user {request.user} has {len(per_user)} of {cap} devices on license "
                    f"{terms.id}: {_holders(per_user)}"
                )
            activation_id, reused = "A" + new_license_id(random_bytes)[1:], False
            db.execute(
                "INSERT INTO devices (license_id, id, device_key, fingerprint, label, user, first_seen,"
                " last_seen) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (license_id, id) DO UPDATE SET"
                " last_seen = excluded.last_seen, label = excluded.label, user = excluded.user",
                (terms.id, device_id, request.device_key,
                 json.dumps({k: v.hex() for k, v in request.fingerprint.items()}, sort_keys=True),
                 request.label, request.user, at, at),
            )  # fmt: skip
            db.execute(
                "INSERT INTO activations (id, license_id, device_id, user, request_nonce,"
                " license_digest, created_at, renewed_at, lease_expires) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    activation_id,
                    terms.id,
                    device_id,
                    request.user,
                    request.nonce,
                    request.license_digest,
                    at,
                    at,
                    lease,
                ),
            )
        db.execute(
            "UPDATE devices SET last_seen = ? WHERE license_id = ? AND id = ?",
            (at, terms.id, device_id),
        )
        ledger.append_event(
            at, "activation.renewed" if reused else "activation.created", terms.id,
            {"activation": activation_id, "device": device_id, "label": request.label,
             "user": request.user, "lease_expires": lease},
        )  # fmt: skip
        response = ActivationResponse(
            activation_id=activation_id, device_key=request.device_key,
            fingerprint=request.fingerprint, issued_at=at, lease_expires=lease,
            license_digest=request.license_digest, license_id=terms.id, nonce=request.nonce,
            user=request.user,
        )  # fmt: skip
        document = encode_sign1(
            ACTIVATION_RESPONSE, bytes.fromhex(kid), encode_response_payload(response),
            lambda m: key.sign(m).signature, certificate,
        )  # fmt: skip
    return Granted(armor(document, ACTIVATION_RESPONSE), activation_id, device_id, reused)


def _end_activation(ws: Workspace, db: sqlite3.Connection, activation: sqlite3.Row, at: int,
                    reason: str, force: bool) -> int:  # fmt: skip
    row = ws.ledger.license(activation["license_id"])
    limit = _license_terms(row).limits.max_transfers
    used = transfers_used(db, activation["license_id"])
    if limit is not None and used >= limit and not force:
        raise Refused(
            f"license {activation['license_id']} has used {used} of {limit} transfers; "
            "the vendor can override with --force"
        )
    db.execute(
        "UPDATE activations SET ended_at = ?, end_reason = ? WHERE id = ?",
        (at, reason, activation["id"]),
    )
    return used + 1


def deactivate(
    ws: Workspace, receipt_document: bytes, *, now: datetime, force: bool = False
) -> dict[str, Any]:
    """Accept a deactivation receipt (once): free the seat and count a transfer.

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
    with ledger.transaction() as db:
        activation = db.execute(
            "SELECT * FROM activations WHERE id = ?", (receipt.activation_id,)
        ).fetchone()
        if activation is None or activation["license_id"] != receipt.license_id:
            raise NotFound(f"no activation {receipt.activation_id} of license {receipt.license_id}")
        if activation["device_id"] != device_id:
            raise Refused("the receipt is signed by another device than the one activated")
        if activation["license_digest"] != receipt.license_digest:
            raise Refused("the receipt names another license document than the one activated")
        if db.execute("SELECT 1 FROM receipts WHERE nonce = ?", (receipt.nonce,)).fetchone():
            raise Refused("this receipt was already accepted")
        if activation["ended_at"] is not None:
            raise Refused(
                f"activation {activation['id']} already ended ({activation['end_reason']} "
                f"{iso(activation['ended_at'])})"
            )
        used = _end_activation(ws, db, activation, at, "deactivated", force)
        db.execute(
            "INSERT INTO receipts (nonce, activation_id, received_at) VALUES (?,?,?)",
            (receipt.nonce, activation["id"], at),
        )
        ledger.append_event(
            at, "activation.deactivated", receipt.license_id,
            {"activation": activation["id"], "device": device_id, "transfers_used": used,
             "forced": force},
        )  # fmt: skip
    return {"license": receipt.license_id, "activation": activation["id"], "device": device_id,
            "transfers_used": used}  # fmt: skip


def reset_device(
    ws: Workspace, license_id: str, device: str, *, now: datetime, force: bool = False
) -> dict[str, Any]:
    """Free a lost machine's seat without a receipt (counted as a transfer, recorded).

    ``device`` is a device id or a unique prefix of at least 4 characters.

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
    with ledger.transaction() as db:
        rows = [
            r
            for r in _open_activations(db, license_id)
            if r["device_id"].startswith(device.lower())
        ]
        if not rows:
            raise NotFound(f"no active device {device!r} on license {license_id}")
        if len(rows) > 1:
            raise InvalidInput(f"device id {device!r} is ambiguous on license {license_id}")
        used = _end_activation(ws, db, rows[0], at, "reset", force)
        ledger.append_event(
            at, "device.reset", license_id,
            {"activation": rows[0]["id"], "device": rows[0]["device_id"], "forced": force,
             "transfers_used": used},
        )  # fmt: skip
    return {"license": license_id, "activation": rows[0]["id"], "device": rows[0]["device_id"],
            "transfers_used": used}  # fmt: skip


def devices(ws: Workspace, license_id: str) -> list[dict[str, Any]]:
    """Every device that ever activated ``license_id``, with its latest activation."""
    ws.ledger.license(license_id)
    db = ws.ledger.connection
    out = []
    for d in db.execute(
        "SELECT * FROM devices WHERE license_id = ? ORDER BY first_seen, id", (license_id,)
    ):
        a = db.execute(
            "SELECT * FROM activations WHERE license_id = ? AND device_id = ?"
            " ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (license_id, d["id"]),
        ).fetchone()
        out.append({
            "device": d["id"], "label": d["label"], "user": d["user"],
            "first_seen": iso(d["first_seen"]), "last_seen": iso(d["last_seen"]),
            "activation": a["id"] if a else None,
            "status": "active" if a and a["ended_at"] is None else (a["end_reason"] if a else "none"),
            "lease_expires": iso(a["lease_expires"]) if a else None,
        })  # fmt: skip
    return out
