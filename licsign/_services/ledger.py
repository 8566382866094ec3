"""Ledger maintenance: migrate the schema, verify the ledger, back it up and restore it.

``verify_ledger`` walks the hash-chained history, checks it against the head
the workspace recorded (truncation), checks that every row follows from the
history and that every stored license and issuing-key certificate verifies
with licverify against the workspace's root key (docs/adr/0018-ledger-integrity.md).
``backup_ledger`` and ``restore_ledger`` move a whole ledger through one
portable file (a SQLite ledger) on either engine.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from licsign._errors import LicsignError, RefusedError
from licsign._ledger import (
    ChainHead,
    DeviceRecord,
    KeyRecord,
    Ledger,
    LedgerIntegrityError,
    LicenseRecord,
    Problem,
)
from licsign._ledger import integrity as rules
from licsign._workspace import Workspace
from licverify import LicenseError, TrustedRoots, UntrustedKeyError
from licverify._verify import (
    certificate_from_bytes,
    check_chain,
    check_issuing_window,
    check_product,
    check_signature,
    expect_kind,
    open_envelope,
)
from licverify.format import (
    LICENSE,
    ROOT_ROLLOVER,
    decode_license_payload,
    decode_rollover_payload,
    key_id,
    parse_unverified,
    terms_to_json,
)

Progress = Callable[[str], None]
#: Problems a check lists (the first names the first bad row); the rest are only counted.
MAX_PROBLEMS = 100
#: A progress line every this many events or rows.
_EVERY = 10000


def _quiet(message: str) -> None:
    pass


def _every(line: Callable[[int], str], progress: Progress) -> Callable[[int], None]:
    """A counter's progress: one line every ``_EVERY``."""

    def report(count: int) -> None:
        if count % _EVERY == 0:
            progress(line(count))

    return report


@dataclass(frozen=True)
class LedgerInfo:
    """Where the ledger lives and what its schema is, after a migration if one ran."""

    #: The SQLite file or the PostgreSQL URL (without its password).
    location: str
    #: ``sqlite`` or ``postgresql``.
    engine: str
    schema_version: int
    #: Migrations this call applied (empty: it was up to date).
    applied: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        """The result as ``--json`` prints it."""
        return {"ledger": self.location, "engine": self.engine,
                "schema_version": self.schema_version, "applied": list(self.applied)}  # fmt: skip


def migrate_ledger(ws: Workspace) -> LedgerInfo:
    """Apply the ledger's missing migrations (each in its own unit of work).

    Safe to run twice, or from two desks at once: each migration re-reads the
    version under the ledger's write lock.

    Raises:
        LedgerError: the ledger is unreachable, damaged, or newer than this licsign.
    """
    applied = ws.migrate_ledger()
    ledger = ws.ledger
    return LedgerInfo(ledger.location, ledger.dialect, ledger.schema_version(), tuple(applied))


# --- verify -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerCheck:
    """What ``licsign ledger verify`` found: counts, heads, and every problem (first: the first bad row)."""

    location: str
    engine: str
    #: Events in the history, and the newest of them (None: empty).
    events: int
    head: ChainHead | None
    #: The head this workspace had recorded before the check (None: none yet).
    anchor: ChainHead | None
    #: What became of the workspace's recorded head: ``matched`` (the ledger holds it and
    #: nothing newer), ``advanced`` (to the ledger's newer head), ``recorded`` (none was),
    #: ``accepted`` (``--accept-head`` replaced one the ledger does not hold), ``kept``
    #: (problems were found), ``unwritable`` (the head file could not be written).
    anchor_state: str
    #: Rows per tracked table, each compared with the history.
    rows: dict[str, int]
    #: Stored license documents and issuing-key certificates verified against the root key.
    licenses: int
    certificates: int
    #: Tables no rule ties to the history, and kinds of events no rule knows (with counts).
    unchecked_tables: tuple[str, ...]
    unknown_kinds: dict[str, int]
    problems: tuple[Problem, ...]
    #: Problems found beyond the listed ones.
    more_problems: int = 0
    #: With ``--accept-head``: why the recorded head was replaced.
    replaced_because: str | None = None

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The result as ``--json`` prints it."""
        return {
            "ledger": self.location, "engine": self.engine, "ok": self.ok, "events": self.events,
            "head": None if self.head is None else self.head.to_json(),
            "anchor": None if self.anchor is None else self.anchor.to_json(),
            "anchor_state": self.anchor_state, "replaced_because": self.replaced_because,
            "rows": self.rows, "licenses": self.licenses, "certificates": self.certificates,
            "unchecked_tables": list(self.unchecked_tables), "unknown_kinds": self.unknown_kinds,
            "problems": [p.to_json() for p in self.problems], "more_problems": self.more_problems,
        }  # fmt: skip


@dataclass
class _Findings:
    """One check of a ledger (the workspace's, or a backup's before it is restored)."""

    walk: rules.HistoryWalk
    rows: dict[str, int]
    licenses: int = 0
    certificates: int = 0
    problems: list[Problem] = field(default_factory=list)
    anchor_problem: Problem | None = None
    unknown: Counter[str] = field(default_factory=Counter)
    unchecked: tuple[str, ...] = ()


def check_ledger(
    ledger: Ledger, root: bytes, *, known: ChainHead | None = None, progress: Progress = _quiet
) -> _Findings:
    """Every check of ``verify_ledger`` on one ledger, in one read snapshot."""
    with ledger.read_snapshot():
        total = ledger.event_count()
        replay = rules.Replay()
        progress(f"checking the history ({total} events)")
        walk = ledger.walk_history(
            replay.feed, _every(lambda n: f"checked {n} of {total} events", progress)
        )
        anchor = None
        if known is not None:
            why = ledger.anchor_problem(known)
            anchor = None if why is None else Problem("events", f"event {known.seq}", why)
        progress("checking every row against the history")
        rows = ledger.check_rows(
            replay, lambda t, n: _every(lambda k: f"checked {k} rows of {t}", progress)(n)
        )
        found = _Findings(walk, rows, anchor_problem=anchor, unknown=replay.unknown)
        found.problems = [*walk.problems, *replay.problems]
        progress("verifying the stored documents against the root key")
        _check_documents(ledger, root, found, progress)
        found.unchecked = ledger.unchecked_tables()
    return found


def _check_documents(ledger: Ledger, root: bytes, found: _Findings, progress: Progress) -> None:
    """Keys (the root is the workspace's; certificates verify), licenses (each version's
    document verifies and says what its row says), devices (the key hashes to the id)."""
    roots = _ledger_roots(ledger.table_rows("keys"), root)
    for row in ledger.table_rows("keys"):
        where = f"keys row key_id={row['key_id']!r}"
        why = _guarded(_key_problem, row, root, roots)
        found.certificates += row["role"] != "root"
        if why is not None:
            found.problems.append(Problem("keys", where, f"{where}: {why}"))
    for row in ledger.table_rows("licenses"):
        found.licenses += 1
        where = f"licenses row id={row['id']!r}, version={row['version']!r}"
        why = _guarded(_license_problem, row, roots)
        if why is not None:
            found.problems.append(Problem("licenses", where, f"{where}: {why}"))
        if found.licenses % _EVERY == 0:
            progress(f"verified {found.licenses} license documents")
    for row in ledger.table_rows("devices"):
        where = f"devices row license_id={row['license_id']!r}, id={row['id']!r}"
        device = DeviceRecord.from_row(row)
        if key_id(device.device_key).hex() != device.id:
            found.problems.append(
                Problem("devices", where, f"{where}: its device key does not hash to its id")
            )


def _guarded(check: Callable[..., str | None], *args: Any) -> str | None:
    """A check's finding; any failure inside it is a finding too (fail closed)."""
    try:
        return check(*args)
    except LicenseError as exc:
        return f"its document fails verification: {exc}"
    except LicsignError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - whatever breaks a check is a bad row, not a crash
        return f"it cannot be checked ({exc.__class__.__name__})"


def _ledger_roots(rows: Any, root: bytes) -> TrustedRoots:
    """The workspace's root and every root the ledger's rollovers chain to it (format §6.5)."""
    pending = [KeyRecord.from_row(r) for r in rows if r["role"] == "root"]
    trusted = [root]
    grew = True
    while grew:
        grew = False
        for key in list(pending):
            try:
                _vouched_root(key, TrustedRoots(trusted))
            except LicenseError:
                continue
            trusted.append(key.public_key)
            pending.remove(key)
            grew = True
    return TrustedRoots(trusted)


def _vouched_root(key: KeyRecord, roots: TrustedRoots) -> None:
    """Check that ``key``'s rollover, signed by one of ``roots``, vouches for it.

    Raises:
        LicenseError: it has none, or it does not verify, or it names another key.
    """
    if key.certificate is None:
        raise UntrustedKeyError("no rollover vouches for it")
    envelope = parse_unverified(key.certificate)
    expect_kind(envelope, ROOT_ROLLOVER)
    signer = roots.get(envelope.kid)
    if signer is None:
        raise UntrustedKeyError(
            f"its rollover is signed by root {envelope.kid.hex()[:16]}, not ours"
        )
    check_signature(envelope, signer, "root rollover")
    if decode_rollover_payload(envelope.payload, envelope.kid).public_key != key.public_key:
        raise UntrustedKeyError("its rollover vouches for another key")


def _key_problem(row: dict[str, Any], root: bytes, roots: TrustedRoots) -> str | None:
    key = KeyRecord.from_row(row)
    if key_id(key.public_key).hex() != key.key_id:
        return "its key id is not its public key's"
    if key.role == "root":
        if key.public_key == root or roots.get(bytes.fromhex(key.key_id)) == key.public_key:
            return None
        try:
            _vouched_root(key, roots)
        except LicenseError as exc:
            return f"it is not this workspace's root key (keys/root.key), and {exc}"
        return None
    if key.certificate is None:
        return "it has no certificate"
    try:
        certificate = certificate_from_bytes(key.certificate, roots)
    except LicenseError as exc:
        return f"its certificate fails verification against the root key: {exc}"
    signed = {"public_key": certificate.public_key, "not_before": certificate.not_before,
              "not_after": certificate.not_after, "products": certificate.products}  # fmt: skip
    for column, value in signed.items():
        if getattr(key, column) != value:
            return f"its {column} is not what its certificate says"
    return None


def _license_problem(row: dict[str, Any], roots: TrustedRoots) -> str | None:
    lic = LicenseRecord.from_row(row)
    if hashlib.sha256(lic.document).hexdigest() != lic.digest:
        return "its document does not match its digest"
    envelope, _ = open_envelope(lic.document)
    expect_kind(envelope, LICENSE)
    certificate = check_chain(envelope, roots)  # the embedded certificate, under the root key
    terms = decode_license_payload(envelope.payload)
    check_issuing_window(terms, certificate)
    check_product(terms, certificate, terms.product)
    if envelope.kid.hex() != lic.key_id:
        return f"its document is signed by key {envelope.kid.hex()}, not its key_id {lic.key_id}"
    signed = {
        "id": terms.id, "version": terms.version, "product_id": terms.product,
        "customer_id": terms.customer, "type": terms.type, "issued_at": terms.issued_at,
        "expires": terms.expires, "terms": json.loads(json.dumps(terms_to_json(terms))),
    }  # fmt: skip
    for column, value in signed.items():
        if getattr(lic, column) != value:
            return f"its {column} is not what its signed document says ({rules.show_value(value)})"
    return None


def verify_ledger(
    ws: Workspace, *, accept_head: bool = False, progress: Progress = _quiet
) -> LedgerCheck:
    """Check the whole ledger; record its head in the workspace when all is well.

    Checks the history (every event numbered, linked and hashed as written),
    that it still holds the head this workspace recorded (so removed newest
    events show), that every row of every tracked table follows from the
    history and the other way round, and that every stored license and
    issuing-key certificate verifies against the workspace's root key.

    Args:
        ws: the workspace.
        accept_head: when the only problem is the recorded head (the ledger was
            restored from an older backup on purpose, or the head file was
            lost or damaged), record the ledger's head in its place.
        progress: called with a short line now and then on long work.

    Returns:
        The findings; ``ok`` is False when a problem was found, the first of
        ``problems`` naming the first bad row.

    Raises:
        LedgerError: the ledger cannot be read.
    """
    head_file = ws.head_file
    try:
        known, head_error = head_file.load(), None
    except LedgerIntegrityError as exc:
        known, head_error = None, Problem("workspace", "ledger-head.json", str(exc))
    ledger = ws.ledger
    found = check_ledger(ledger, ws.root_public_key(), known=known, progress=progress)
    anchored = [p for p in (head_error, found.anchor_problem) if p is not None]
    problems = list(found.walk.problems) + ([] if accept_head else anchored)
    problems += found.problems[len(found.walk.problems) :]
    state = "kept" if problems else _advance(head_file, found.walk.head, known, bool(anchored))
    return LedgerCheck(
        ledger.location, ledger.dialect, found.walk.events, found.walk.head, known, state,
        found.rows, found.licenses, found.certificates, found.unchecked,
        dict(sorted(found.unknown.items())), tuple(problems[:MAX_PROBLEMS]),
        max(0, len(problems) - MAX_PROBLEMS),
        str(anchored[0]) if accept_head and anchored else None,
    )  # fmt: skip


def _advance(
    head_file: rules.HeadFile, head: ChainHead | None, known: ChainHead | None, replace: bool
) -> str:
    """Record the verified head in the workspace; say what became of the recorded one."""
    if head is None:
        return "matched" if known is None else "kept"
    if not replace and known is not None and head.seq <= known.seq:
        return "matched"
    try:
        head_file.record(head, replace=replace)
    except OSError:
        return "unwritable"
    return "accepted" if replace else "recorded" if known is None else "advanced"


# --- backup and restore -----------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerBackup:
    """A backup written (``backup_ledger``) or restored (``restore_ledger``)."""

    #: The backup file.
    path: str
    #: The ledger it was taken from or restored into (without a password), and its engine.
    location: str
    engine: str
    #: The newest event in the backup (None: an empty history).
    head: ChainHead | None
    #: Rows per table in the backup.
    rows: dict[str, int]
    size: int
    #: Restore only: the ledger's newest event before (None: it was empty or unreadable),
    #: and whether ``--force`` let an older backup replace a newer history.
    replaced: ChainHead | None = None
    forced: bool = False

    def to_json(self) -> dict[str, Any]:
        """The result as ``--json`` prints it."""
        return {
            "file": self.path, "ledger": self.location, "engine": self.engine,
            "head": None if self.head is None else self.head.to_json(),
            "events": self.rows.get("events", 0), "rows": self.rows, "size": self.size,
            "replaced": None if self.replaced is None else self.replaced.to_json(),
            "forced": self.forced,
        }  # fmt: skip


def backup_ledger(
    ws: Workspace, path: str, *, overwrite: bool = False, progress: Progress = _quiet
) -> LedgerBackup:
    """Write a consistent backup of the ledger to ``path`` while other commands go on.

    The backup is a SQLite ledger file (0600) on either engine; ``path`` holds
    a whole backup or is left as it was.

    Raises:
        AlreadyExistsError: ``path`` exists and not ``overwrite``.
        LedgerError: the ledger cannot be read, or ``path`` is the ledger itself.
    """
    from licsign._ledger.backup import write_backup

    ledger = ws.ledger
    done = write_backup(ledger, path, overwrite=overwrite, progress=progress)
    return LedgerBackup(done.path, ledger.location, ledger.dialect, done.head, done.rows, done.size)


def restore_ledger(
    ws: Workspace, path: str, *, force: bool = False, progress: Progress = _quiet
) -> LedgerBackup:
    """Make the workspace's ledger the backup at ``path``, after checking the backup in full.

    SQLite: the workspace's ledger file is replaced (a missing one by a rename;
    an existing one has every table emptied and refilled in one write
    transaction). PostgreSQL: only into an empty database or empty ledger.
    Either way the workspace then records the backup's head.

    Raises:
        RefusedError: the backup fails any check of ``verify_ledger``, belongs to
            another workspace (another root key), or is older than (or diverges
            from) the head this workspace knows, unless ``force``.
        LedgerError: the backup is not a ledger; the PostgreSQL database is not empty.
    """
    from licsign._ledger import backup, is_postgres_url

    staged = backup.StagedBackup(path, ws.home, progress)
    try:
        root = ws.root_public_key()
        _check_same_vendor(staged.ledger, root, path)
        summary = backup.summarize(staged.path)
        found = check_ledger(staged.ledger, root, progress=progress)
        if found.problems:
            raise RefusedError(f"{path} fails its check, nothing was restored: {found.problems[0]}")
        current = _known_head(ws, force)
        _check_not_older(staged.ledger, path, found.walk.head, current, force)
        ws.close()
        if is_postgres_url(ws.ledger_location):
            backup.restore_postgres(ws.ledger_location, staged, progress)
        else:
            backup.restore_sqlite(ws.ledger_location, staged, progress)
        if found.walk.head is not None:
            ws.head_file.record(found.walk.head, replace=True)
    finally:
        staged.close()
    ledger = ws.ledger
    return LedgerBackup(
        staged.source, ledger.location, ledger.dialect, summary.head, summary.rows,
        _size(staged.source), None if current is None else current[0], force,
    )  # fmt: skip


def _check_same_vendor(staged: Ledger, root: bytes, path: str) -> None:
    """Refuse a backup of another workspace's ledger (another root key): never forced."""
    roots = [k for k in staged.keys() if k.role == "root"]
    if not roots or roots[0].public_key != root:
        theirs = f"{roots[0].key_id[:16]}..." if roots else "missing"
        raise RefusedError(
            f"{path} is a backup of another workspace's ledger (its root key is {theirs}, this"
            f" workspace's is {key_id(root).hex()[:16]}...); nothing was restored"
        )


def _known_head(ws: Workspace, force: bool) -> tuple[ChainHead, str] | None:
    """The newest head this workspace knows, and where from: the head it recorded, or the
    ledger's own when that is newer and still holds the recorded one."""
    try:
        known = ws.head_file.load()
    except LedgerIntegrityError as exc:
        if not force:
            raise RefusedError(f"{exc}; or restore with --force") from None
        known = None
    try:
        ledger = ws.ledger
        head = ledger.chain_head()
        sound = known is None or ledger.anchor_problem(known) is None
    except LicsignError:  # a missing or damaged ledger: what restore is for
        head, sound = None, False
    if head is not None and sound and (known is None or head.seq > known.seq):
        return head, "the ledger holds"
    return None if known is None else (known, "this workspace recorded")


def _check_not_older(
    staged: Ledger,
    path: str,
    head: ChainHead | None,
    current: tuple[ChainHead, str] | None,
    force: bool,
) -> None:
    """Refuse a backup that ends before the head this workspace knows, or holds another
    history up to it (unless ``force``)."""
    if current is None or force:
        return
    newest, whose = current
    if head is None or head.seq < newest.seq:
        lost = newest.seq - (0 if head is None else head.seq)
        ends = "no event" if head is None else head.describe()
        raise RefusedError(
            f"{path} ends at {ends}, older than {newest.describe()} that {whose}: restoring it"
            f" would lose {lost} events; use --force to restore it anyway"
        )
    if staged.anchor_problem(newest) is not None:
        raise RefusedError(
            f"{path} holds another history: its event {newest.seq} is not {newest.describe()}"
            f" that {whose}; use --force to restore it anyway"
        )


def _size(path: str) -> int:
    import os

    return os.path.getsize(path)
