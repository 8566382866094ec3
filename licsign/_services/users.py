"""License users: who may use a user-based license, and their one-time activation codes.

What ``licsign user ...`` does (docs/issuer.md, "License users and codes"). A
license is user-based when it names or counts its users (max users, allowed
users, or a per-user device cap); its users are assigned here, each with a
one-time code (``licsign._services.codes``) that lets them take one new seat
(``licsign._services.activation``). Each change is one unit of work with its
events in the hash-chained history; freeing a user's seats counts transfers
exactly as ``licsign device reset`` does.

Only ``assign_user``, ``new_user_code`` and ``reassign_user`` (which assigns)
return a code: the ledger keeps only its keyed hash, so it is shown once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licsign import _validation as check
from licsign._errors import AlreadyExistsError, NotFoundError, RefusedError
from licsign._ledger import LicenseUserRecord, UserCodeRecord
from licsign._services.activation import SeatFreed, _end_activation, holds_seat
from licsign._services.codes import (
    CodeKey,
    check_ledger_key,
    code_key,
    is_user_based,
    new_code,
    show_code,
)
from licsign._workspace import Workspace
from licverify._time import iso, to_timestamp
from licverify.format import LicenseTerms, decode_license_payload, parse_unverified

#: What became of a user's newest code (``LicenseUser.code``).
CODE_STATES = ("unused", "used", "removed", "none")


@dataclass(frozen=True)
class LicenseUser:
    """A user of a user-based license, their seats and the state of their code."""

    license_id: str
    #: Normalized (trimmed, NFC, case-folded): what activation requests are compared with.
    email: str
    name: str | None
    #: Their own device cap (within the license's), or None: the license's alone.
    max_devices: int | None
    added_at: int
    removed_at: int | None
    #: Seats they hold now (open activations whose lease, if any, runs).
    seats: int
    #: Their newest code: ``unused`` (may take a seat), ``used``, ``removed`` or ``none``.
    code: str

    def to_json(self) -> dict[str, Any]:
        """The user as ``licsign user list --json`` prints them (times in ISO 8601)."""
        return {
            "license": self.license_id, "email": self.email, "name": self.name,
            "max_devices": self.max_devices, "added_at": iso(self.added_at),
            "removed_at": iso(self.removed_at), "seats": self.seats, "code": self.code,
        }  # fmt: skip


@dataclass(frozen=True)
class UserCode:
    """A new one-time activation code (shown once: the ledger keeps only its hash)."""

    license_id: str
    email: str
    #: Grouped for reading aloud (``7K2M-QX4D-9RTB``).
    code: str
    created_at: int
    #: Whether an unused code was replaced (it no longer works).
    replaced: bool

    def to_json(self) -> dict[str, Any]:
        """The code as ``licsign user new-code --json`` prints it."""
        return {
            "license": self.license_id, "email": self.email, "code": self.code,
            "created_at": iso(self.created_at), "replaced": self.replaced,
        }  # fmt: skip


@dataclass(frozen=True)
class UserAssigned:
    """A user assigned to a license, with their first one-time activation code."""

    user: LicenseUser
    #: Grouped for reading aloud (``7K2M-QX4D-9RTB``); shown once.
    code: str

    def to_json(self) -> dict[str, Any]:
        """The result as ``licsign user assign --json`` prints it."""
        return {**self.user.to_json(), "activation_code": self.code}


@dataclass(frozen=True)
class UserSeatsFreed:
    """The seats a user held, freed by ``user reset`` or ``user remove`` (each counted as
    ``licsign device reset`` counts it)."""

    license_id: str
    email: str
    #: True when the user was removed from the license as well.
    removed: bool
    seats: tuple[SeatFreed, ...]

    @property
    def transfers_used(self) -> int | None:
        """Transfers the license has used after this, or None if no seat was freed."""
        return self.seats[-1].transfers_used if self.seats else None

    def to_json(self) -> dict[str, Any]:
        """The result as ``licsign user reset|remove --json`` prints it."""
        return {
            "license": self.license_id, "email": self.email, "removed": self.removed,
            "transfers_used": self.transfers_used,
            "seats": [
                {**s.to_json(), "works_offline_until": iso(s.works_offline_until)}
                for s in self.seats
            ],
        }  # fmt: skip


@dataclass(frozen=True)
class UserReassigned:
    """A license's seat given from one user to another: the old one removed (seats freed),
    the new one assigned with a one-time activation code."""

    removed: UserSeatsFreed
    assigned: UserAssigned

    def to_json(self) -> dict[str, Any]:
        """The result as ``licsign user reassign --json`` prints it."""
        return {"removed": self.removed.to_json(), "assigned": self.assigned.to_json()}


# --- reading ------------------------------------------------------------------------------------


def _terms(ws: Workspace, license_id: str) -> LicenseTerms:
    """The signed terms of the license's newest version (NotFoundError if unknown)."""
    record = ws.ledger.license(license_id)
    return decode_license_payload(parse_unverified(record.document).payload)


def _infos(
    ws: Workspace, license_id: str, users: list[LicenseUserRecord], at: int
) -> list[LicenseUser]:
    """Each user with the seats they hold at ``at`` and their newest code's state."""
    seats: dict[str, int] = {}
    for seat in ws.ledger.open_activations(license_id):
        if seat.activation.user is not None and holds_seat(seat.activation, at):
            seats[seat.activation.user] = seats.get(seat.activation.user, 0) + 1
    newest: dict[int, UserCodeRecord] = {c.user_id: c for c in ws.ledger.codes_of(license_id)}
    out = []
    for u in users:
        code = newest.get(u.id)
        state = "none" if code is None else (code.end_reason or "unused")
        out.append(LicenseUser(
            u.license_id, u.email, u.name, u.max_devices, u.added_at, u.removed_at,
            0 if u.removed_at is not None else seats.get(u.email, 0), state,
        ))  # fmt: skip
    return out


def _info(ws: Workspace, user: LicenseUserRecord, at: int) -> LicenseUser:
    return _infos(ws, user.license_id, [user], at)[0]


def license_users(
    ws: Workspace, license_id: str, *, now: datetime, removed: bool = False
) -> list[LicenseUser]:
    """The users of a license, oldest first, with their seats and code state at ``now``.

    Args:
        ws: the workspace.
        license_id: the license.
        now: the time leases are judged at (a lapsed lease holds no seat).
        removed: list removed users too.

    Raises:
        NotFoundError: unknown license.
    """
    ws.ledger.license(license_id)
    users = ws.ledger.license_users(license_id, removed=removed)
    return _infos(ws, license_id, users, to_timestamp(now))


def _assigned(ws: Workspace, license_id: str, email: str) -> LicenseUserRecord:
    """The user ``email`` of the license now; NotFoundError naming who is assigned otherwise."""
    ws.ledger.license(license_id)
    user = ws.ledger.license_user(license_id, email)
    if user is None:
        others = [u.email for u in ws.ledger.license_users(license_id)]
        shown = ", ".join(others[:10]) + (
            f" and {len(others) - 10} more" if len(others) > 10 else ""
        )
        raise NotFoundError(
            f"user {email} is not assigned to license {license_id} (assigned: {shown or 'none'})"
        )
    return user


# --- assigning ----------------------------------------------------------------------------------


def _check_assignable(ws: Workspace, terms: LicenseTerms, email: str, cap: int | None) -> None:
    """Refuse a user the license cannot take: not user-based, not allowed, one too many,
    or a device cap that does not fit the license's."""
    limits, license_id = terms.limits, terms.id
    if not is_user_based(terms):
        raise RefusedError(
            f"license {license_id} is not user-based (it has no max users, allowed users or "
            "devices-per-user cap); issue one with --max-users, --user or --max-devices-per-user"
        )
    if terms.allowed_users and email not in terms.allowed_users:
        raise RefusedError(f"license {license_id} does not allow user {email!r} "
                           f"(allowed: {', '.join(terms.allowed_users)})")  # fmt: skip
    if ws.ledger.license_user(license_id, email) is not None:
        raise AlreadyExistsError(f"user {email} is already assigned to license {license_id}")
    if ws.ledger.license_share(license_id, email) is not None:
        raise RefusedError(f"license {license_id} is shared with {email}; unshare it first "
                           f"('licsign unshare {license_id} --with {email}')")  # fmt: skip
    users = ws.ledger.license_users(license_id)
    if limits.max_users is not None and len(users) >= limits.max_users:
        raise RefusedError(
            f"license {license_id} has {len(users)} of {limits.max_users} users: "
            f"{', '.join(u.email for u in users)}; remove one first"
        )
    _check_cap(terms, cap, users)


def _check_cap(terms: LicenseTerms, cap: int | None, others: list[LicenseUserRecord]) -> None:
    """Refuse a user's device cap that passes the license's per-user cap, or that with the
    caps of ``others`` would pass its device total."""
    limits, license_id = terms.limits, terms.id
    if cap is None:
        return
    if limits.max_devices_per_user is not None and cap > limits.max_devices_per_user:
        raise RefusedError(f"license {license_id} allows {limits.max_devices_per_user} devices "
                           f"per user; a cap of {cap} does not fit")  # fmt: skip
    capped = [(u.email, u.max_devices) for u in others if u.max_devices is not None]
    total = cap + sum(n for _, n in capped)
    if limits.max_devices is not None and total > limits.max_devices:
        held = ", ".join(f"{e} {n}" for e, n in capped) or "none"
        raise RefusedError(
            f"per-user device caps on license {license_id} would total {total}, more than its "
            f"{limits.max_devices} devices (caps held: {held})"
        )


def set_user_max_devices(
    ws: Workspace, license_id: str, email: str, max_devices: int | None, *, now: datetime
) -> LicenseUser:
    """Set an assigned user's own device cap (None: none; the license's limits still apply).

    Raises:
        NotFoundError: unknown license, or the user is not assigned to it.
        InvalidInputError: a bad cap.
        RefusedError: the cap passes the license's per-user cap or, with the other users'
            caps, its device total; or the user holds more seats than it allows now.
    """
    at = to_timestamp(now)
    address = check.user_email(email)
    cap = check.limit(max_devices, "max devices")
    with ws.ledger.transaction():
        user = _assigned(ws, license_id, address)
        others = [u for u in ws.ledger.license_users(license_id) if u.id != user.id]
        _check_cap(_terms(ws, license_id), cap, others)
        held = _info(ws, user, at).seats
        if cap is not None and held > cap:
            raise RefusedError(f"user {address} holds {held} seats on license {license_id}, "
                               f"more than {cap}; reset them first")  # fmt: skip
        ws.ledger.set_license_user_cap(at, user, cap)
        return _info(ws, _assigned(ws, license_id, address), at)


def _add_with_code(
    ws: Workspace,
    terms: LicenseTerms,
    user: tuple[str, str | None, int | None],
    secret: tuple[CodeKey, str],
    at: int,
) -> UserAssigned:
    """Assign ``user`` (email, name, cap) with a first code; inside the caller's unit of work."""
    email, name, cap = user
    key, code = secret
    _check_assignable(ws, terms, email, cap)
    check_ledger_key(ws, key)
    record = ws.ledger.add_license_user(at, terms.id, email, name, cap)
    ws.ledger.add_user_code(at, record, key.digest(terms.id, record.id, code), key.key_id)
    return UserAssigned(_info(ws, record, at), show_code(code))


def assign_user(
    ws: Workspace,
    license_id: str,
    email: str,
    *,
    now: datetime,
    name: str | None = None,
    max_devices: int | None = None,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> UserAssigned:
    """Assign a user to a user-based license and make their one-time activation code.

    Args:
        ws: the workspace.
        license_id: a license with max users, allowed users or a per-user device cap.
        email: the user, as their activation requests will name them (normalized).
        now: when (recorded in the history).
        name: their display name.
        max_devices: their own device cap: at most the license's devices per
            user, and all users' caps together at most its max devices.
        random_bytes: the source of the code (and of the workspace's
            user-code key, made on first use).

    Returns:
        The user and their code (shown once: the ledger keeps only its keyed hash).

    Raises:
        NotFoundError: unknown license.
        AlreadyExistsError: the user is assigned already.
        RefusedError: the license is not user-based, does not allow this user,
            has all its users, or the cap does not fit.
        InvalidInputError: a bad e-mail, name or cap (``InvalidFieldError``).
        WorkspaceError: the ledger's codes were made with another desk's key.
    """
    at = to_timestamp(now)
    address = check.user_email(email)
    display = None if name is None else check.display_name(name)
    cap = check.user_max_devices(max_devices)
    _check_assignable(ws, _terms(ws, license_id), address, cap)  # before making a key
    secret = (code_key(ws, random_bytes), new_code(random_bytes))
    with ws.ledger.transaction():
        return _add_with_code(ws, _terms(ws, license_id), (address, display, cap), secret, at)


def new_user_code(
    ws: Workspace,
    license_id: str,
    email: str,
    *,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> UserCode:
    """Make a new one-time activation code for an assigned user; their unused one stops working.

    Raises:
        NotFoundError: unknown license, or the user is not assigned to it.
        WorkspaceError: the ledger's codes were made with another desk's key.
    """
    at = to_timestamp(now)
    address = check.user_email(email)
    _assigned(ws, license_id, address)  # before making a key
    key, code = code_key(ws, random_bytes), new_code(random_bytes)
    with ws.ledger.transaction():
        user = _assigned(ws, license_id, address)
        check_ledger_key(ws, key)
        replaced = ws.ledger.unused_code(user.id) is not None
        ws.ledger.add_user_code(at, user, key.digest(license_id, user.id, code), key.key_id)
    return UserCode(license_id, address, show_code(code), at, replaced)


# --- changing -----------------------------------------------------------------------------------


def rename_user(
    ws: Workspace, license_id: str, email: str, name: str, *, now: datetime
) -> LicenseUser:
    """Change an assigned user's display name.

    Raises:
        NotFoundError: unknown license, or the user is not assigned to it.
        InvalidInputError: a bad name (``InvalidFieldError``).
    """
    at = to_timestamp(now)
    address, display = check.user_email(email), check.display_name(name)
    with ws.ledger.transaction():
        user = _assigned(ws, license_id, address)
        ws.ledger.rename_license_user(at, user, display)
        return _info(ws, ws.ledger.license_user(license_id, address) or user, at)


def change_user_email(
    ws: Workspace, license_id: str, old: str, new: str, *, now: datetime
) -> LicenseUser:
    """Give an assigned user another e-mail: the same person, their seats and unused code kept.

    The seats they hold now count against the new e-mail; their machines
    name it in their next request (``licverify request --user NEW``).

    Raises:
        NotFoundError: unknown license, or ``old`` is not assigned to it.
        AlreadyExistsError: ``new`` is assigned already.
        RefusedError: the license's allowed users do not include ``new``.
        InvalidInputError: a bad e-mail, or the same one (``InvalidFieldError``).
    """
    at = to_timestamp(now)
    before, after = check.user_email(old), check.user_email(new)
    if before == after:
        raise check.InvalidFieldError("user", f"user {before} already has that e-mail")
    with ws.ledger.transaction():
        user = _assigned(ws, license_id, before)
        terms = _terms(ws, license_id)
        if terms.allowed_users and after not in terms.allowed_users:
            raise RefusedError(f"license {license_id} does not allow user {after!r} "
                               f"(allowed: {', '.join(terms.allowed_users)})")  # fmt: skip
        if ws.ledger.license_user(license_id, after) is not None:
            raise AlreadyExistsError(f"user {after} is already assigned to license {license_id}")
        ws.ledger.change_license_user_email(at, user, after)
        return _info(ws, ws.ledger.license_user(license_id, after) or user, at)


# --- freeing seats ------------------------------------------------------------------------------


def _free_seats(
    ws: Workspace, user: LicenseUserRecord, at: int, force: bool, why: str
) -> tuple[SeatFreed, ...]:
    """End every open activation of ``user`` as ``licsign device reset`` would (counted as a
    transfer but on floating licenses, refused past the transfer limit unless ``force``)."""
    freed = []
    for seat in ws.ledger.open_activations(user.license_id):
        activation = seat.activation
        if activation.user != user.email:
            continue
        used, counted = _end_activation(ws, activation, at, "reset", force)
        ws.ledger.append_event(
            at, "device.reset", user.license_id,
            {"activation": activation.id, "device": activation.device_id, "forced": force,
             "transfers_used": used, "transfer": counted, "user": user.email, "reason": why},
        )  # fmt: skip
        ends = [t for t in (activation.lease_expires, activation.refresh_by) if t is not None]
        freed.append(SeatFreed(
            user.license_id, activation.id, activation.device_id, used, counted,
            min(ends) if ends else None,
        ))  # fmt: skip
    return tuple(freed)


def reset_user(
    ws: Workspace, license_id: str, email: str, *, now: datetime, force: bool = False
) -> UserSeatsFreed:
    """Free every seat an assigned user holds (a crash, a lost machine); they stay assigned.

    Each seat counts as a transfer, as ``licsign device reset`` counts it. A
    new seat then needs a new code (``new_user_code``).

    Raises:
        NotFoundError: unknown license, or the user is not assigned to it.
        RefusedError: the license's transfer limit is reached (unless ``force``).
    """
    at = to_timestamp(now)
    address = check.user_email(email)
    with ws.ledger.transaction():
        user = _assigned(ws, license_id, address)
        freed = _free_seats(ws, user, at, force, "user reset")
        if freed:
            ws.ledger.append_event(
                at, "user.reset", license_id,
                {"user_id": user.id, "email": address, "activations": [s.activation_id for s in freed]},
            )  # fmt: skip
    return UserSeatsFreed(license_id, address, False, freed)


def remove_user(
    ws: Workspace, license_id: str, email: str, *, now: datetime, force: bool = False
) -> UserSeatsFreed:
    """Remove a user from a license: their seats are freed (counted) and their code ends.

    Raises:
        NotFoundError: unknown license, or the user is not assigned to it.
        RefusedError: the license's transfer limit is reached (unless ``force``).
    """
    at = to_timestamp(now)
    address = check.user_email(email)
    with ws.ledger.transaction():
        user = _assigned(ws, license_id, address)
        freed = _free_seats(ws, user, at, force, "user removed")
        ws.ledger.remove_license_user(at, user, {"activations": [s.activation_id for s in freed]})
    return UserSeatsFreed(license_id, address, True, freed)


def reassign_user(
    ws: Workspace,
    license_id: str,
    old: str,
    new: str,
    *,
    now: datetime,
    name: str | None = None,
    max_devices: int | None = None,
    force: bool = False,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> UserReassigned:
    """Give a user's place on a license to another user, in one unit of work.

    ``old`` is removed (their seats freed and counted, as ``remove_user``);
    ``new`` is assigned with a one-time code, keeping ``old``'s device cap
    unless ``max_devices`` is given.

    Raises:
        NotFoundError: unknown license, or ``old`` is not assigned to it.
        AlreadyExistsError: ``new`` is assigned already.
        RefusedError: the license does not allow ``new``, or the transfer
            limit is reached (unless ``force``).
        InvalidInputError: a bad e-mail, name or cap, or the same user twice.
    """
    at = to_timestamp(now)
    before, after = check.user_email(old), check.user_email(new)
    display = None if name is None else check.display_name(name)
    cap = check.user_max_devices(max_devices)
    if before == after:
        raise check.InvalidFieldError("user", f"{before} would be reassigned to themselves")
    _assigned(ws, license_id, before)  # before making a key
    secret = (code_key(ws, random_bytes), new_code(random_bytes))
    with ws.ledger.transaction():
        previous = _assigned(ws, license_id, before)
        removed = remove_user(ws, license_id, before, now=now, force=force)
        keep = previous.max_devices if cap is None else cap
        added = _add_with_code(ws, _terms(ws, license_id), (after, display, keep), secret, at)
    return UserReassigned(removed, added)
