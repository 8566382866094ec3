"""License shares: another user may use a license, one sharer device at a time.

What ``licsign share``, ``unshare`` and ``shares`` do (docs/issuer.md, "Sharing a
license"). A shared license is used by its owner's users plus its sharers. A
sharer's machine asks with ``licverify request --user EMAIL --code CODE``: every
new seat of a sharer needs a one-time code, made by ``share`` (or ``share
--new-code``) as ``user assign`` makes one (``licsign._services.codes``, its
key, its alphabet), on any license, user-based or not: without it anyone who
knew a sharer's e-mail could take the shared seat.

At activation (``seat_admitter``, inside the activation's unit of work), while
any sharer holds a seat, another sharer's new seat, or a second device of the
same sharer, is refused naming who holds it. A sharer's seat counts toward the
license's max devices (the signed total), not toward its users or per-user caps.
Unsharing frees the sharer's seats, counted as ``licsign user reset`` counts them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from licsign import _validation as check
from licsign._errors import AlreadyExistsError, NotFoundError, RefusedError
from licsign._ledger import Ledger
from licsign._ledger.records import ShareRecord
from licsign._services.codes import (
    CodeCheck,
    CodeKey,
    StoredCode,
    admitter,
    already_used,
    check_code,
    check_ledger_key,
    code_key,
    code_key_path,
    new_code,
    other_key_error,
    read_code_key,
    show_code,
)
from licsign._workspace import Workspace
from licverify._time import iso, to_timestamp
from licverify.format import LicenseTerms

if TYPE_CHECKING:  # activation imports this module: no cycle at import time
    from licsign._services.activation import SeatFreed


@dataclass(frozen=True)
class ShareInfo:
    """A share of a license: who, since when, the seat they hold, and their code's state."""

    license_id: str
    #: Normalized (trimmed, NFC, case-folded): what activation requests are compared with.
    email: str
    added_at: int
    removed_at: int | None
    #: Seats the sharer holds now (0 or 1).
    seats: int
    #: Their newest code: ``unused`` (may take the shared seat) or ``used``.
    code: str

    def to_json(self) -> dict[str, Any]:
        """The share as ``licsign shares --json`` prints it (times in ISO 8601)."""
        return {
            "license": self.license_id, "email": self.email, "added_at": iso(self.added_at),
            "removed_at": iso(self.removed_at), "seats": self.seats, "code": self.code,
        }  # fmt: skip


@dataclass(frozen=True)
class Shared:
    """A license shared (or a sharer's new code), with the one-time activation code."""

    share: ShareInfo
    #: Grouped for reading aloud (``7K2M-QX4D-9RTB``); shown once.
    code: str
    #: Whether an unused code was replaced (``--new-code``): it no longer works.
    replaced: bool

    def to_json(self) -> dict[str, Any]:
        """The result as ``licsign share --json`` prints it."""
        return {**self.share.to_json(), "activation_code": self.code, "replaced": self.replaced}


@dataclass(frozen=True)
class Unshared:
    """A share removed; the sharer's seats freed (each counted as ``device reset`` counts it)."""

    license_id: str
    email: str
    seats: tuple[SeatFreed, ...]

    def to_json(self) -> dict[str, Any]:
        """The result as ``licsign unshare --json`` prints it."""
        return {
            "license": self.license_id, "email": self.email,
            "seats": [
                {**s.to_json(), "works_offline_until": iso(s.works_offline_until)}
                for s in self.seats
            ],
        }  # fmt: skip


def _info(ws: Workspace, share: ShareRecord, at: int) -> ShareInfo:
    held = 0
    if share.removed_at is None:
        held = sum(
            1
            for s in ws.ledger.open_activations(share.license_id)
            if s.activation.user == share.email and s.activation.holds_seat(at)
        )
    code = "unused" if share.code_used_at is None else "used"
    return ShareInfo(share.license_id, share.email, share.added_at, share.removed_at, held, code)


def license_shares(
    ws: Workspace, license_id: str, *, now: datetime, removed: bool = False
) -> list[ShareInfo]:
    """The license's sharers, oldest first, with the seat each holds at ``now``.

    Raises:
        NotFoundError: unknown license.
    """
    ws.ledger.license(license_id)
    at = to_timestamp(now)
    return [_info(ws, s, at) for s in ws.ledger.license_shares(license_id, removed=removed)]


def _current(ws: Workspace, license_id: str, email: str) -> ShareRecord:
    ws.ledger.license(license_id)
    share = ws.ledger.license_share(license_id, email)
    if share is None:
        others = [s.email for s in ws.ledger.license_shares(license_id)]
        raise NotFoundError(
            f"license {license_id} is not shared with {email} "
            f"(shared with: {', '.join(others[:10]) or 'nobody'})"
        )
    return share


def _check_shareable(ws: Workspace, license_id: str, email: str, new: bool) -> ShareRecord | None:
    """Refuse a share the license cannot take; the current share if ``new`` (a new code)."""
    record = ws.ledger.license(license_id)
    if new:
        return _current(ws, license_id, email)
    if record.status != "active":
        raise RefusedError(f"license {license_id} is {record.status}; it cannot be shared")
    if ws.ledger.license_user(license_id, email) is not None:
        raise RefusedError(
            f"{email} is already a user of license {license_id}; users need no share"
        )
    share = ws.ledger.license_share(license_id, email)
    if share is not None:
        raise AlreadyExistsError(
            f"license {license_id} is already shared with {email} (since {iso(share.added_at)});"
            " --new-code makes them a new activation code"
        )
    return None


def _check_key(ws: Workspace, key: CodeKey) -> None:
    """Codes of one ledger use one key (ADR 0017): user codes' and share codes' alike."""
    check_ledger_key(ws, key)
    recorded = ws.ledger.share_key_id()
    if recorded is not None and recorded != key.key_id:
        raise other_key_error(code_key_path(ws), recorded, key.key_id, "the ledger's share codes")


def share_license(
    ws: Workspace,
    license_id: str,
    email: str,
    *,
    now: datetime,
    new_code_only: bool = False,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> Shared:
    """Share a license with another user and make their one-time activation code.

    Args:
        ws: the workspace.
        license_id: the license.
        email: the sharer, as their activation requests will name them (normalized).
        now: when (recorded in the history).
        new_code_only: the license is shared with them already: make a new code
            (for their next machine, or a lost code); the previous one stops working.
        random_bytes: the source of the code (and of the workspace's user-code key).

    Returns:
        The share and its code (shown once: the ledger keeps only its keyed hash).

    Raises:
        NotFoundError: unknown license (or, with ``new_code_only``, not shared with them).
        AlreadyExistsError: shared with them already (without ``new_code_only``).
        RefusedError: the license is not active, or they are one of its users.
        InvalidInputError: a bad e-mail (``InvalidFieldError``).
        WorkspaceError: the ledger's codes were made with another desk's key.
    """
    at = to_timestamp(now)
    address = check.user_email(email)
    _check_shareable(ws, license_id, address, new_code_only)  # before making a key
    key, code = code_key(ws, random_bytes), new_code(random_bytes)
    with ws.ledger.transaction():
        share = _check_shareable(ws, license_id, address, new_code_only)
        _check_key(ws, key)
        replaced = share is not None and share.code_used_at is None
        if share is None:
            share_id = ws.ledger.next_share_id()
            digest = key.digest(license_id, share_id, code, "share")
            share = ws.ledger.add_share(at, share_id, license_id, address, digest, key.key_id)
        else:
            digest = key.digest(license_id, share.id, code, "share")
            ws.ledger.new_share_code(at, share, digest, key.key_id)
        info = _info(ws, ws.ledger.license_share(license_id, address) or share, at)
    return Shared(info, show_code(code), replaced)


def unshare_license(
    ws: Workspace, license_id: str, email: str, *, now: datetime, force: bool = False
) -> Unshared:
    """Stop sharing a license with a user: their seats are freed (each counted as
    ``licsign device reset`` counts it) and their code stops working; all recorded.

    Raises:
        NotFoundError: unknown license, or it is not shared with them.
        RefusedError: the license's transfer limit is reached (unless ``force``).
        InvalidInputError: a bad e-mail (``InvalidFieldError``).
    """
    from licsign._services.activation import SeatFreed, _end_activation

    at = to_timestamp(now)
    address = check.user_email(email)
    freed = []
    with ws.ledger.transaction():
        share = _current(ws, license_id, address)
        for seat in ws.ledger.open_activations(license_id):
            activation = seat.activation
            if activation.user != address:
                continue
            used, counted = _end_activation(ws, activation, at, "reset", force)
            ws.ledger.append_event(
                at, "device.reset", license_id,
                {"activation": activation.id, "device": activation.device_id, "forced": force,
                 "transfers_used": used, "transfer": counted, "user": address,
                 "reason": "unshared"},
            )  # fmt: skip
            ends = [t for t in (activation.lease_expires, activation.refresh_by) if t is not None]
            freed.append(SeatFreed(
                license_id, activation.id, activation.device_id, used, counted,
                min(ends) if ends else None,
            ))  # fmt: skip
        ws.ledger.remove_share(at, share, {"activations": [s.activation_id for s in freed]})
    return Unshared(license_id, address, tuple(freed))


# --- at activation ------------------------------------------------------------------------------


class SeatAdmission(Protocol):
    """Who a new seat is for, as the activation service uses it (``codes.Admission`` or a
    sharer's ``ShareAdmission``)."""

    @property
    def max_devices(self) -> int | None:
        """The seat holder's own device cap, if any."""

    def redeem(self, ledger: Ledger, at: int, activation_id: str) -> None:
        """Mark the code that let the seat be taken used (in the activation's unit of work)."""


@dataclass(frozen=True)
class ShareAdmission:
    """A sharer admitted to the shared seat; ``need_code``: a new seat, taken with their code."""

    share: ShareRecord
    need_code: bool

    @property
    def max_devices(self) -> int | None:
        """None: the one-sharer-device rule bounds a sharer, not a cap."""
        return None

    def redeem(self, ledger: Ledger, at: int, activation_id: str) -> None:
        """Mark the sharer's code used by ``activation_id``.

        Raises:
            RefusedError: the code was no longer unused when it was to be marked (the
                activation's unit of work then rolls back).
        """
        if self.need_code and not ledger.use_share_code(at, self.share, activation_id):
            who = f"sharer {self.share.email}"
            raise RefusedError(already_used(who, self.share.license_id, _share_new(self.share)))


def sharers(ledger: Ledger, license_id: str) -> frozenset[str]:
    """The e-mails the license is shared with now (their seats count as no owner's user's)."""
    return frozenset(s.email for s in ledger.license_shares(license_id))


def seat_admitter(
    ws: Workspace, terms: LicenseTerms, user: str | None, code: str | None, at: int
) -> Callable[[bool], SeatAdmission]:
    """Who may take a seat, as ``admit(need_code)``: a current sharer by the share's rules
    (one sharer device at a time, a new seat with their code), anyone else by the license
    users' rules (``codes.admitter``). Call the result inside the activation's unit of work.

    Raises (from the result):
        RefusedError: another sharer's device holds the shared seat, the code is missing,
            wrong or used, or the user's share was removed.
        WorkspaceError: the code cannot be checked here (no key, or another desk's key).
    """
    users_admit = admitter(ws, terms, user, code)

    def admit(need_code: bool) -> SeatAdmission:
        share = None if user is None else ws.ledger.license_share(terms.id, user)
        if share is None:
            if need_code and user is not None:
                _refuse_former_sharer(ws, terms.id, user)
            return users_admit(need_code)
        _check_shared_seat(ws, terms.id, at)
        if need_code:
            _check_share_code(ws, share, code)
        return ShareAdmission(share, need_code)

    return admit


def _refuse_former_sharer(ws: Workspace, license_id: str, user: str) -> None:
    last = ws.ledger.last_share(license_id, user)
    if last is None or last.removed_at is None or ws.ledger.license_user(license_id, user):
        return
    raise RefusedError(
        f"license {license_id} is no longer shared with {user} (unshared "
        f"{iso(last.removed_at)}); the vendor shares it again with "
        f"'licsign share {license_id} --with {user}'"
    )


def _check_shared_seat(ws: Workspace, license_id: str, at: int) -> None:
    """One device at a time across all sharers: refuse while any sharer holds a seat."""
    shared = sharers(ws.ledger, license_id)
    for seat in ws.ledger.open_activations(license_id):
        activation = seat.activation
        if activation.user in shared and seat.activation.holds_seat(at):
            raise RefusedError(
                f"license {license_id}'s shared seat is held by {activation.user} on "
                f"{seat.label} ({activation.device_id[:8]}, activation {activation.id}); one "
                f"sharer device at a time: deactivate it there, or 'licsign unshare "
                f"{license_id} --with {activation.user}'"
            )


def _share_new(share: ShareRecord) -> str:
    """The command that makes the sharer a new code, quoted for a message."""
    return f"'licsign share {share.license_id} --with {share.email} --new-code'"


def _check_share_code(ws: Workspace, share: ShareRecord, code: str | None) -> None:
    """The sharer's unused code is ``code``, or RefusedError saying why not (one line)."""
    stored = None
    if share.code_hash is not None:
        used = share.code_used_at is not None
        stored = StoredCode(
            share.code_hash, share.code_used_at, "used" if used else None, share.code_activation
        )
    check_code(
        ws, code, None if code is None else read_code_key(ws),
        CodeCheck(
            share.license_id, share.id, "share", f"sharer {share.email}", _share_new(share),
            needs=f"for sharer {share.email} needs their activation code",
            unused=stored if stored is not None and stored.ended_at is None else None,
            key_id=share.key_id, earlier=lambda digest: stored,
            codes=f"the share codes of license {share.license_id}",
        ),
    )  # fmt: skip
