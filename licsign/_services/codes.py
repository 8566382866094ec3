"""One-time user activation codes: made, shown, hashed and checked (docs/adr/0017-user-codes.md).

A code is the offline counterpart of a portal's initial password: the vendor
gives it to one user of a user-based license (``licsign user assign`` or
``user new-code``), the user's machine carries it in its activation request
(``licverify request --user EMAIL --code CODE``), and it takes one new seat,
once. It is 60 random bits written as 12 Crockford base-32 characters in
three groups (``7K2M-QX4D-9RTB``), easy to read aloud: no I, L, O or U, and
those letters typed by mistake read as 1, 1 and 0.

The ledger keeps only a keyed hash of each code (HMAC-SHA-256 under a
256-bit secret in the workspace directory, ``keys/user-codes.key``), so a
copy of the ledger alone (a backup, a database role that reads it) does not
give the codes away, whatever the computing power spent on them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol

from licsign._errors import AlreadyExistsError, RefusedError, WorkspaceError
from licsign._ledger import Ledger, LicenseUserRecord, UserCodeRecord
from licsign._workspace import Workspace
from licverify._time import iso
from licverify.format import LicenseTerms

#: Crockford's base 32: digits and letters but I, L, O and U (read aloud without doubt).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Characters of a code: 12 x 5 = 60 random bits (at least 40 are asked for: issue 8).
CODE_LENGTH = 12
CODE_BITS = 5 * CODE_LENGTH
#: Characters per group when a code is shown (``XXXX-XXXX-XXXX``).
GROUP = 4
#: The longest text a request's code may be and still be read as one (groups, spaces).
_MAX_TYPED = 64
#: What people type for what they read (Crockford): O is zero, I and L are one.
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
#: The key file, in the workspace's ``keys`` directory; its first line says what it is.
KEY_FILE = "user-codes.key"
_KEY_HEADER = b"licsign user-code key v1\n"
_KEY_BYTES = 32


@dataclass(frozen=True)
class CodeKey:
    """The workspace's secret for hashing user codes (never stored in the ledger)."""

    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        """A name for the key that the ledger records beside each hash (not the key)."""
        return hashlib.sha256(b"licsign user-code key id\x00" + self.secret).hexdigest()[:16]

    def digest(self, license_id: str, holder_id: int, code: str, domain: str = "user") -> bytes:
        """The hash the ledger keeps of ``code`` (canonical) for one holder of one license.

        ``domain`` is ``user`` (a license user) or ``share`` (a sharer): each hashes in
        its own domain, so a user code can never stand for a share code or the reverse.
        """
        message = f"licsign {domain} code v1\x00{license_id}\x00{holder_id}\x00{code}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).digest()


def new_code(random_bytes: Callable[[int], bytes]) -> str:
    """A fresh code, canonical (12 characters of ``ALPHABET``), from 60 random bits."""
    value = int.from_bytes(random_bytes(8), "big") & ((1 << CODE_BITS) - 1)
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(CODE_LENGTH)))


def show_code(code: str) -> str:
    """A canonical code in groups for reading aloud: ``7K2M-QX4D-9RTB``."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def canonical_code(text: str) -> str | None:
    """A code as typed (any case, groups, spaces, O for 0), canonical; None if it is not one."""
    if len(text) > _MAX_TYPED:
        return None
    compact = "".join(text.split()).replace("-", "").upper().translate(_CONFUSABLE)
    if len(compact) != CODE_LENGTH or any(ch not in ALPHABET for ch in compact):
        return None
    return compact


def code_key_path(ws: Workspace) -> str:
    """Where the workspace keeps its user-code key."""
    return os.path.join(ws.home, "keys", KEY_FILE)


def read_code_key(ws: Workspace) -> CodeKey | None:
    """The workspace's user-code key, or None if it has none yet.

    Raises:
        WorkspaceError: the file is damaged, not a regular file, or group or
            others can read it and it cannot be tightened.
    """
    from licsign._errors import InvalidInputError
    from licsign._files import read_regular_file, restrict_mode

    path = code_key_path(ws)
    if not os.path.lexists(path):
        return None
    try:
        data = read_regular_file(path, 1024, "user-code key")
    except InvalidInputError as exc:
        raise WorkspaceError(str(exc)) from None
    restrict_mode(path, 0o600, "user-code key")
    body = data[len(_KEY_HEADER) :].strip()
    try:
        secret = bytes.fromhex(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        secret = b""
    if not data.startswith(_KEY_HEADER) or len(secret) != _KEY_BYTES:
        raise WorkspaceError(f"user-code key {path!r} is damaged; restore it from a backup")
    return CodeKey(secret)


def code_key(ws: Workspace, random_bytes: Callable[[int], bytes]) -> CodeKey:
    """The workspace's user-code key, made (0600) on first use.

    Two processes making it at once end with the same key: the file is created
    only if absent, and the loser reads the winner's. A workspace without the
    key of a ledger that has codes already (a shared ledger's other desk) does
    not make one of its own.

    Raises:
        WorkspaceError: the ledger's codes were made with a key this workspace lacks.
    """
    from licsign._files import write_atomic

    key = read_code_key(ws)
    if key is not None:
        return key
    recorded = ws.ledger.code_key_id()
    if recorded is not None:
        raise other_key_error(code_key_path(ws), recorded, None)
    secret = random_bytes(_KEY_BYTES)
    with suppress(AlreadyExistsError):  # another process made it first: use theirs
        write_atomic(code_key_path(ws), _KEY_HEADER + secret.hex().encode() + b"\n", mode=0o600)
    made = read_code_key(ws)
    if made is None:  # pragma: no cover - removed between the write and the read
        raise WorkspaceError(f"user-code key {code_key_path(ws)!r} vanished as it was made")
    return made


def other_key_error(
    path: str, ledger_key: str, ours: str | None, codes: str = "the ledger's user codes"
) -> WorkspaceError:
    """The refusal of a workspace whose user-code key (``ours``, or none) is not the one
    ``codes`` (say, ``the ledger's share codes``) were made with: copy the key file."""
    have = "has none" if ours is None else f"has key {ours}"
    return WorkspaceError(
        f"{codes} were made with user-code key {ledger_key}, and this "
        f"workspace {have} ({path}); copy keys/{KEY_FILE} from the desk that made them"
    )


def check_ledger_key(ws: Workspace, key: CodeKey) -> None:
    """Refuse to make codes with another key than the ledger's codes use (a shared ledger
    whose desks did not copy the key file). Call inside the unit of work that adds the code.

    Raises:
        WorkspaceError: the ledger's newest code was made with another key.
    """
    recorded = ws.ledger.code_key_id()
    if recorded is not None and recorded != key.key_id:
        raise other_key_error(code_key_path(ws), recorded, key.key_id)


def is_user_based(terms: LicenseTerms) -> bool:
    """A license that names or counts its users: max users, allowed users or a per-user cap."""
    limits = terms.limits
    return bool(
        limits.max_users is not None
        or limits.max_devices_per_user is not None
        or terms.allowed_users
    )


@dataclass(frozen=True)
class Admission:
    """Who a new seat of a user-based license is for, and the code that lets it be taken."""

    user: LicenseUserRecord | None = None
    code: UserCodeRecord | None = None

    @property
    def max_devices(self) -> int | None:
        """The user's own device cap (from their assignment), if any."""
        return None if self.user is None else self.user.max_devices

    def redeem(self, ledger: Ledger, at: int, activation_id: str) -> None:
        """Mark the code used by ``activation_id`` (in the activation's unit of work).

        Raises:
            RefusedError: the code was no longer unused when it was to be marked (the
                activation's unit of work then rolls back: no seat without a code).
        """
        user, code = self.user, self.code
        if user is None or code is None:
            return
        if not ledger.use_user_code(at, user, code, activation_id):
            raise RefusedError(already_used(f"user {user.email}", user.license_id, _user_new(user)))


def admit_user(
    ws: Workspace,
    terms: LicenseTerms,
    user: str | None,
    code: str | None,
    key: CodeKey | None,
    *,
    need_code: bool,
) -> Admission:
    """Who may take a seat of ``terms``' license: on a user-based license, an assigned user,
    with a valid unused code when the seat is new (``need_code``). Call inside the
    activation's unit of work.

    Raises:
        RefusedError: the user is not assigned, or the code is missing, wrong, used or replaced.
        WorkspaceError: the code cannot be checked here (no key, or another desk's key).
    """
    if not is_user_based(terms):
        return Admission()
    if user is None:
        raise RefusedError(f"license {terms.id} is for named users; make the request with --user")
    ledger = ws.ledger
    assigned = ledger.license_user(terms.id, user)
    if assigned is None:
        if not need_code:
            return Admission()  # a seat taken before users were assigned (older ledgers)
        raise RefusedError(
            f"user {user} is not assigned to license {terms.id}; the vendor assigns users with "
            f"'licsign user assign {terms.id} EMAIL'"
        )
    if not need_code:
        return Admission(assigned)
    return Admission(assigned, _valid_code(ws, terms.id, assigned, code, key))


def admitter(
    ws: Workspace, terms: LicenseTerms, user: str | None, code: str | None
) -> Callable[[bool], Admission]:
    """``admit_user`` for one request, as ``admit(need_code)``; the workspace's user-code key
    is read only when a code may have to be checked."""
    key = read_code_key(ws) if is_user_based(terms) and code is not None else None
    return lambda need_code: admit_user(ws, terms, user, code, key, need_code=need_code)


def _user_new(user: LicenseUserRecord) -> str:
    """The command that makes ``user`` a new code, quoted for a message."""
    return f"'licsign user new-code {user.license_id} {user.email}'"


def _valid_code(
    ws: Workspace, license_id: str, user: LicenseUserRecord, code: str | None, key: CodeKey | None
) -> UserCodeRecord:
    """The user's unused code that ``code`` is, or RefusedError saying why not (one line)."""
    unused = ws.ledger.unused_code(user.id)
    check_code(
        ws, code, key,
        CodeCheck(
            license_id, user.id, "user", f"user {user.email}", _user_new(user),
            needs=f"needs user {user.email}'s activation code",
            unused=unused, key_id=None if unused is None else unused.key_id,
            earlier=lambda digest: ws.ledger.code_by_hash(user.id, digest),
            none_left=f"user {user.email} has no unused activation code on license {license_id}",
        ),
    )  # fmt: skip
    assert unused is not None  # check_code passes only a code that matches the unused one
    return unused


class CodeRow(Protocol):
    """A one-time code as the ledger keeps it: a user's ``user_codes`` row, or a sharer's
    code (``StoredCode``)."""

    @property
    def code_hash(self) -> bytes:
        """The keyed hash of the code (``CodeKey.digest``)."""

    @property
    def ended_at(self) -> int | None:
        """When it stopped being usable (used or replaced), or None."""

    @property
    def end_reason(self) -> str | None:
        """``used``, ``replaced`` or ``removed``; None while unused."""

    @property
    def activation_id(self) -> str | None:
        """The activation it took, once used."""


@dataclass(frozen=True)
class StoredCode:
    """A code kept outside ``user_codes`` (a sharer's), in the shape ``check_code`` reads."""

    code_hash: bytes
    ended_at: int | None = None
    end_reason: str | None = None
    activation_id: str | None = None


@dataclass(frozen=True)
class CodeCheck:
    """Whose one-time code ``check_code`` checks, what the ledger holds of it, and how its
    refusals name them."""

    license_id: str
    #: The row the code's hash is bound to (a ``license_users`` or ``license_shares`` id).
    holder_id: int
    #: ``user`` or ``share``: the hash's domain (``CodeKey.digest``).
    domain: str
    #: Who, as messages name them: ``user alice@example.com``, ``sharer ann@example.com``.
    who: str
    #: The command that makes them a new code, quoted.
    new: str
    #: What a request without a code lacks: ``needs user X's activation code``.
    needs: str
    #: Their code that may take a seat now, or None.
    unused: CodeRow | None
    #: The user-code key their codes were made with (None: nothing to compare).
    key_id: str | None
    #: Their code with a hash, used or replaced, or None.
    earlier: Callable[[bytes], CodeRow | None]
    #: The refusal (before "; make one: ...") when they have no unused code, if it differs
    #: from "is not valid".
    none_left: str | None = None
    #: What the codes are, for a key refusal: ``the ledger's user codes``.
    codes: str = "the ledger's user codes"


def already_used(who: str, license_id: str, new: str, old: CodeRow | None = None) -> str:
    """The refusal of a code that was used already (by ``old``'s activation, if known)."""
    by = ""
    if old is not None and old.ended_at is not None:
        by = f" (activation {old.activation_id}, {iso(old.ended_at)})"
    subject = f"the activation code for {who} on license {license_id}"
    return f"{subject} was already used{by}; a new code: {new}"


def check_code(ws: Workspace, code: str | None, key: CodeKey | None, holder: CodeCheck) -> None:
    """Pass if ``code`` (as typed) is ``holder``'s unused code; else refuse in one line: no
    code, a key this workspace lacks, a code used or replaced already, none left, not valid.

    Raises:
        RefusedError: the code is missing, wrong, used or replaced.
        WorkspaceError: the code cannot be checked here (no key, or another desk's key).
    """
    license_id, new = holder.license_id, holder.new
    if code is None:
        raise RefusedError(
            f"a new seat on license {license_id} {holder.needs}: make the request with --user "
            f"and --code (a new code: {new})"
        )
    if holder.key_id is not None and (key is None or key.key_id != holder.key_id):
        ours = None if key is None else key.key_id
        raise other_key_error(code_key_path(ws), holder.key_id, ours, holder.codes)
    typed = canonical_code(code)
    digest = (
        None
        if key is None or typed is None
        else key.digest(license_id, holder.holder_id, typed, holder.domain)
    )
    unused = holder.unused
    if unused is not None and digest is not None and hmac.compare_digest(unused.code_hash, digest):
        return
    old = None if digest is None else holder.earlier(digest)
    subject = f"the activation code for {holder.who} on license {license_id}"
    if old is not None and old.ended_at is not None and old.end_reason == "used":
        raise RefusedError(already_used(holder.who, license_id, new, old))
    if old is not None and old.ended_at is not None:
        raise RefusedError(
            f"{subject} was replaced by a newer code on {iso(old.ended_at)}; use the newer "
            f"one, or make another: {new}"
        )
    if unused is None and holder.none_left is not None:
        raise RefusedError(f"{holder.none_left}; make one: {new}")
    raise RefusedError(f"{subject} is not valid; check it, or make a new one: {new}")
