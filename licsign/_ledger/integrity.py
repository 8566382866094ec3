"""Ledger integrity: the chain head kept outside the ledger, and what ``ledger verify`` walks.

Three parts (docs/adr/0018-ledger-integrity.md):

- **The anchored head.** After every committed unit of work the ledger's newest
  event (seq, hash, time) is written to the workspace's ``ledger-head.json``,
  authenticated with HMAC-SHA256 under ``keys/ledger-head.key`` (32 random
  bytes, 0600). When a unit of work begins, under the write lock, the ledger
  checks that the event the workspace recorded is still there, same hash:
  removing newest events (which the chain alone cannot see) or rewriting the
  history up to it stops every writing command. ``HeadFile`` keeps it;
  ``Integrity._after_begin`` / ``_before_commit`` / ``_after_commit`` (called by
  ``UnitOfWork.transaction``) check and advance it.
- **The walk** (``Integrity.walk_history``): seq contiguous from 1, each event
  linked to the one before, each hash matching its contents.
- **Rows against the history** (``Replay``, ``Integrity.check_rows``): every
  kind of event says what it did to which rows (``on``); replaying the whole
  history gives what every tracked table (``track``) must hold, compared with
  what it holds, both ways. Tables and kinds register here with a line each::

      track("orders", key=("id",))
      on("order.added", Change("orders", (SUBJECT,), MAKE, customer_id="customer",
                               reference="reference", created_at=AT))

  A kind whose effect is not a plain mapping registers a function instead
  (``on(kind, handler)``, ``handler(event, replay)`` calling ``replay.apply``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from licsign._errors import LicsignError
from licsign._ledger.engine import LedgerError, Row
from licsign._ledger.events import GENESIS, Events, event_hash
from licsign._ledger.records import EventRecord
from licverify import _fileio
from licverify._time import iso


class LedgerIntegrityError(LedgerError):
    """The ledger's history does not match the head this workspace recorded (or its head file
    fails its check): writes are refused until ``licsign ledger verify`` says why."""

    code = "integrity"


@dataclass(frozen=True, slots=True)
class ChainHead:
    """An event of the history as the chain names it: its number, hash and time."""

    seq: int
    hash: bytes
    at: int

    def to_json(self) -> dict[str, Any]:
        """As ``--json`` prints it (hash in hex, time in ISO 8601)."""
        return {"seq": self.seq, "hash": self.hash.hex(), "at": iso(self.at)}

    def describe(self) -> str:
        """``event 12 (2026-09-21T14:13:20Z, 3fa2c1d9e0b7a6f5)`` for messages."""
        return f"event {self.seq} ({iso(self.at)}, {self.hash.hex()[:16]})"


@dataclass(frozen=True, slots=True)
class Problem:
    """One way the ledger disagrees with itself, naming the row (``str()`` is one line)."""

    #: The table of the bad row (``events`` for the history, ``workspace`` for the head file).
    table: str
    #: The row, as people read it (``event 7``, ``licenses row id='L-…', version=1``).
    row: str
    message: str

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, str]:
        """As ``--json`` prints it."""
        return {"table": self.table, "row": self.row, "problem": self.message}


# --- the head a workspace recorded -------------------------------------------------------------

HEAD_FORMAT = "licsign-ledger-head-v1"
#: The head file holds one small entry per ledger the workspace used.
_MAX_HEAD_FILE = 1 << 20


class HeadFile:
    """The chain head a workspace recorded for a ledger, authenticated with its head key.

    Args:
        home: the workspace directory (``ledger-head.json``, ``keys/ledger-head.key``).
        ledger: names the ledger in the file (``ledger.sqlite3``, or a URL without password).
        random_bytes: randomness for the key, made on first use.
    """

    def __init__(
        self, home: str, ledger: str, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> None:
        self.path = os.path.join(home, "ledger-head.json")
        self.key_path = os.path.join(home, "keys", "ledger-head.key")
        self._lock_path = os.path.join(home, ".ledger-head.lock")
        self.ledger = ledger
        self._random_bytes = random_bytes

    def load(self) -> ChainHead | None:
        """The head recorded for this ledger, or None if none was.

        Raises:
            LedgerIntegrityError: the file is damaged, edited, or its key is missing.
        """
        if not os.path.lexists(self.path):
            return None
        key = self._key(create=False)
        if key is None:
            raise self._damaged("its key keys/ledger-head.key is missing")
        return self._entries(key).get(self.ledger)

    def record(self, head: ChainHead, *, replace: bool = False) -> None:
        """Record ``head``: only if newer than the one recorded, unless ``replace``.

        Several processes of one workspace commit one after another but may
        write here in another order: the newest (highest seq) wins.

        Raises:
            LedgerIntegrityError: the file is damaged (and not ``replace``).
            OSError: the file cannot be written.
        """
        try:
            with _fileio.exclusive_lock(self._lock_path):
                key = self._key(create=True)
                if key is None:
                    raise OSError(f"cannot make {self.key_path}")
                try:
                    entries = self._entries(key) if os.path.lexists(self.path) else {}
                except LedgerIntegrityError:
                    if not replace:
                        raise
                    entries = {}
                known = entries.get(self.ledger)
                if known is not None and known.seq >= head.seq and not replace:
                    return
                entries[self.ledger] = head
                _replace_file(self.path, self._encode(key, entries))
        except _fileio.FileProblem as problem:
            raise OSError(str(problem)) from None

    def _encode(self, key: bytes, entries: dict[str, ChainHead]) -> bytes:
        body = {"format": HEAD_FORMAT, "ledgers": {
            name: {"seq": h.seq, "hash": h.hash.hex(), "at": h.at} for name, h in entries.items()
        }}  # fmt: skip
        mac = hmac.new(key, _canonical(body), hashlib.sha256).hexdigest()
        return (json.dumps({**body, "mac": mac}, indent=2, sort_keys=True) + "\n").encode()

    def _entries(self, key: bytes) -> dict[str, ChainHead]:
        try:
            data = json.loads(_fileio.read_regular(self.path, _MAX_HEAD_FILE))
            body = {"format": data["format"], "ledgers": data["ledgers"]}
            mac = bytes.fromhex(data["mac"])
        except (_fileio.FileProblem, ValueError, TypeError, KeyError):
            raise self._damaged("it is not a head file") from None
        if body["format"] != HEAD_FORMAT:
            raise self._damaged("it is not a head file of this licsign")
        if not hmac.compare_digest(mac, hmac.new(key, _canonical(body), hashlib.sha256).digest()):
            raise self._damaged("it was edited, or signed with another key")
        try:
            return {
                str(name): ChainHead(int(e["seq"]), bytes.fromhex(e["hash"]), int(e["at"]))
                for name, e in body["ledgers"].items()
            }
        except (ValueError, TypeError, KeyError, AttributeError):
            raise self._damaged("an entry is damaged") from None

    def _key(self, create: bool) -> bytes | None:
        """The head key (None if missing and not ``create``); made on first use, 0600."""
        key = self._read_key()
        if key is not None or not create:
            return key
        try:  # two processes may race to make it: the first one's stays
            new = (self._random_bytes(32).hex() + "\n").encode()
            _fileio.write_atomic(self.key_path, new, mode=0o600, overwrite=False)
        except _fileio.FileProblem as problem:
            if problem.reason != _fileio.EXISTS:
                raise OSError(str(problem)) from None
        return self._read_key()

    def _read_key(self) -> bytes | None:
        try:
            key = bytes.fromhex(_fileio.read_regular(self.key_path, 256).decode("ascii").strip())
        except _fileio.FileProblem as problem:
            if problem.reason == _fileio.MISSING:
                return None
            raise self._damaged(f"its key cannot be read ({problem})") from None
        except ValueError:  # UnicodeDecodeError too
            key = b""
        if len(key) != 32:
            raise self._damaged("its key keys/ledger-head.key is damaged")
        return key

    def _damaged(self, why: str) -> LedgerIntegrityError:
        return LedgerIntegrityError(
            f"the workspace's ledger head file {self.path} fails its check: {why}; if the ledger"
            " itself is sound, 'licsign ledger verify --accept-head' records its head anew"
        )


def _replace_file(path: str, data: bytes) -> None:
    """Write ``path`` anew (0600): a temp file, fsync'd, renamed over it. The directory is not
    fsync'd (about half the cost, on every commit): after a crash the file is the old one or
    the new one, each whole, and an old one only lags, which is safe."""
    temp = f"{path}.{os.urandom(6).hex()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# --- what each kind of event does to the rows ---------------------------------------------------


class _Source:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name.upper()


#: The event's time; the event's subject (a license, product, customer or key id).
AT, SUBJECT = _Source("at"), _Source("subject")
#: How a ``Change`` finds its row: the event makes it (it must not exist yet), changes it
#: (it must exist), or puts it (makes it if missing, changes it otherwise).
MAKE, CHANGE, PUT = "make", "change", "put"
_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class Fixed:
    """A column value the event implies without stating it (``status='active'``)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Field:
    """A field of the event's data, with a default when the event lacks it."""

    name: str
    default: Any = _REQUIRED


@dataclass(frozen=True, slots=True)
class First:
    """A column set only by the event that makes the row (a device's ``first_seen``)."""

    source: Any


class _MissingField(Exception):
    pass


def _resolve(source: Any, event: EventRecord) -> Any:
    """The value ``source`` names in ``event``: AT, SUBJECT, Fixed, Field or a data field name."""
    if isinstance(source, First):
        source = source.source
    if source is AT:
        return event.at
    if source is SUBJECT:
        return event.subject
    if isinstance(source, Fixed):
        return source.value
    wanted = Field(source) if isinstance(source, str) else source
    if wanted.name in event.data:
        return event.data[wanted.name]
    if wanted.default is _REQUIRED:
        raise _MissingField(wanted.name)
    return wanted.default


class Change:
    """What one kind of event does to one row of one table.

    ``Change("activations", ("activation",), CHANGE, ended_at=AT, end_reason=Fixed("reset"))``:
    the row is found by the key's sources (resolved like column values), and
    each named column takes the value its source gives: ``AT``, ``SUBJECT``,
    ``Fixed(v)``, ``Field(name, default)``, ``First(source)`` or a plain data
    field name.
    """

    __slots__ = ("columns", "key", "mode", "table")

    def __init__(self, table: str, key: Sequence[Any], mode: str, /, **columns: Any) -> None:
        if mode not in (MAKE, CHANGE, PUT):
            raise ValueError(f"unknown mode {mode!r}")
        self.table, self.key, self.mode, self.columns = table, tuple(key), mode, columns

    def __call__(self, event: EventRecord, replay: Replay) -> None:
        key = tuple(_resolve(k, event) for k in self.key)
        values = {
            c: _resolve(s, event) for c, s in self.columns.items() if not isinstance(s, First)
        }
        first = {c: _resolve(s, event) for c, s in self.columns.items() if isinstance(s, First)}
        replay.apply(event, self.table, key, self.mode, values, first)


Handler = Callable[[EventRecord, "Replay"], None]


@dataclass(frozen=True, slots=True)
class TableRule:
    """A table whose rows follow from the history, and how to name and read its rows."""

    table: str
    #: The columns that name a row (unique), in the order a ``Change`` gives its key.
    key: tuple[str, ...]
    #: Unique columns to read the table in batches by (default: ``key``).
    order: tuple[str, ...]
    #: Columns holding JSON text, compared decoded.
    json_columns: frozenset[str] = field(default_factory=frozenset)


_TABLES: dict[str, TableRule] = {}
_HANDLERS: dict[str, list[Handler]] = {}
#: Tables whose rows are not made by events: the history itself, the schema marker.
UNTRACKED = frozenset({"events", "licsign_schema"})


def track(
    table: str,
    key: Sequence[str],
    *,
    order: Sequence[str] | None = None,
    json: Sequence[str] = (),
) -> None:
    """Declare that every row of ``table`` must follow from the history (``ledger verify``)."""
    _TABLES[table] = TableRule(table, tuple(key), tuple(order or key), frozenset(json))


def on(kind: str, *handlers: Handler) -> None:
    """Declare what events of ``kind`` do to rows (no handler: they change no row)."""
    _HANDLERS.setdefault(kind, []).extend(handlers)


def tracked_tables() -> dict[str, TableRule]:
    """Every tracked table's rule, in the order they were declared."""
    return dict(_TABLES)


def known_kinds() -> frozenset[str]:
    """The kinds of event ``ledger verify`` knows the effect of."""
    return frozenset(_HANDLERS)


class _Expected:
    __slots__ = ("made", "values")

    def __init__(self, made: int) -> None:
        self.made = made
        #: column -> (value, seq and kind of the event that set it)
        self.values: dict[str, tuple[Any, int, str]] = {}


class Replay:
    """The rows the history says the tracked tables hold, built event by event."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple[Any, ...], _Expected]] = {t: {} for t in _TABLES}
        self.problems: list[Problem] = []
        #: Events of kinds no rule knows, by kind (still hash-chained, but not replayed).
        self.unknown: Counter[str] = Counter()

    def feed(self, event: EventRecord) -> None:
        """Apply one event (in history order)."""
        handlers = _HANDLERS.get(event.kind)
        if handlers is None:
            self.unknown[event.kind] += 1
            return
        for handler in handlers:
            try:
                handler(event, self)
            except _MissingField as missing:
                self._problem(event, f"lacks its {missing.args[0]!r} field")
            except (TypeError, ValueError, KeyError, AttributeError):
                self._problem(event, "is not in the form this licsign writes")

    def apply(
        self,
        event: EventRecord,
        table: str,
        key: tuple[Any, ...],
        mode: str,
        values: dict[str, Any],
        first: dict[str, Any] | None = None,
    ) -> None:
        """Record what ``event`` did to row ``key`` of ``table`` (see ``Change``)."""
        rows = self.rows.get(table)
        if rows is None:  # a rule's mistake, not the ledger's
            raise RuntimeError(f"internal error: no rule tracks table {table!r}")
        row = rows.get(key)
        if row is None:
            if mode == CHANGE:
                shown = show_key(_TABLES[table], key)
                self._problem(event, f"changes {table} row {shown}, which no earlier event made")
                return
            row = rows[key] = _Expected(event.seq)
            values = {**(first or {}), **values}
        elif mode == MAKE:
            shown = show_key(_TABLES[table], key)
            self._problem(event, f"makes {table} row {shown} again (event {row.made} made it)")
            return
        for column, value in values.items():
            row.values[column] = (value, event.seq, event.kind)

    def _problem(self, event: EventRecord, what: str) -> None:
        self.problems.append(
            Problem("events", f"event {event.seq}", f"event {event.seq} ({event.kind}) {what}")
        )


def show_key(rule: TableRule, key: Sequence[Any]) -> str:
    """``id='L-7K3M', version=1``: a row's key for messages."""
    return ", ".join(
        f"{column}={show_value(value)}" for column, value in zip(rule.key, key, strict=False)
    )


def show_value(value: Any, limit: int = 60) -> str:
    """A value for a one-line message: bytes in hex, long text cut."""
    if isinstance(value, (bytes, memoryview)):
        value = bytes(value).hex()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


# --- the ledger's side: anchoring, walking, comparing --------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryWalk:
    """What walking the history found."""

    events: int
    #: The newest event, or None for an empty history.
    head: ChainHead | None
    problems: tuple[Problem, ...]


class Integrity(Events):
    """Mixed into ``Ledger``: the anchored head, the walk of the history, rows against it."""

    #: Where the workspace keeps the head it recorded, or None (a ledger opened on its own).
    anchor: HeadFile | None = None
    #: Events and rows read per query when walking a table.
    BATCH = 2000

    def chain_head(self) -> ChainHead | None:
        """The newest event of the history, or None if it is empty."""
        row = self._db.one("SELECT seq, hash, at FROM events ORDER BY seq DESC LIMIT 1")
        return (
            None if row is None else ChainHead(int(row["seq"]), bytes(row["hash"]), int(row["at"]))
        )

    def anchor_problem(self, known: ChainHead) -> str | None:
        """Why the history does not hold the event ``known`` names, or None if it does."""
        head = self.chain_head()
        if head is None or head.seq < known.seq:
            last = "is empty" if head is None else f"ends at event {head.seq}"
            return (
                f"the ledger's history {last}, but this workspace recorded {known.describe()}:"
                " its newest events were removed, or an older backup was restored"
            )
        row = self._db.one("SELECT hash FROM events WHERE seq = ?", (known.seq,))
        if row is None or bytes(row["hash"]) != known.hash:
            return (
                f"event {known.seq} of the ledger is not the one this workspace recorded"
                f" ({known.describe()}): the history up to it was rewritten"
            )
        return None

    def _after_begin(self) -> None:
        if self.anchor is None:
            return
        known = self.anchor.load()
        if known is not None:
            problem = self.anchor_problem(known)
            if problem is not None:
                raise LedgerIntegrityError(
                    f"{problem}; nothing was changed: run 'licsign ledger verify'"
                )

    def _before_commit(self) -> ChainHead | None:
        return None if self.anchor is None else self.chain_head()

    def _after_commit(self, token: Any) -> None:
        if self.anchor is None or token is None:
            return
        # Committed already: if the head cannot be written it lags, which 'ledger verify' shows.
        with suppress(OSError, LicsignError):
            self.anchor.record(token)

    @contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Every read inside sees the ledger at one instant; writers carry on meanwhile."""
        if self.in_transaction:
            raise LedgerError("internal error: a snapshot inside a unit of work")
        postgres = self._db.dialect == "postgresql"
        self._db.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if postgres else "BEGIN")
        try:
            yield
        finally:
            self._db.rollback()

    def table_rows(self, table: str, order: Sequence[str] | None = None) -> Iterator[Row]:
        """Every row of ``table``, in batches ordered by unique columns (the tracked table's
        ``order`` unless given)."""
        columns = tuple(order or _TABLES[table].order)
        yield from pages(self._db, table, columns, self.BATCH)

    def walk_history(
        self, feed: Callable[[EventRecord], None], progress: Callable[[int], None]
    ) -> HistoryWalk:
        """Check every event (numbered from 1 without a gap, linked, hashed over its contents),
        handing each to ``feed``; ``progress`` gets the count so far after each batch."""
        problems: list[Problem] = []
        prev, expected, count, head = GENESIS, 1, 0, None
        for row in self.table_rows("events", ("seq",)):
            seq = int(row["seq"])
            problem, event = _check_event(row, seq, expected, prev)
            if problem is not None:
                problems.append(Problem("events", f"event {seq}", problem))
            prev, expected, count = bytes(row["hash"]), seq + 1, count + 1
            head = ChainHead(seq, prev, int(row["at"]))
            if event is not None:
                feed(event)
            if count % self.BATCH == 0:
                progress(count)
        return HistoryWalk(count, head, tuple(problems))

    def unchecked_tables(self) -> tuple[str, ...]:
        """Tables of the ledger no rule ties to the history (``track``), by name."""
        present = set(self._db.tables()) - UNTRACKED
        return tuple(sorted(t for t in present if t not in _TABLES))

    def check_rows(self, replay: Replay, progress: Callable[[str, int], None]) -> dict[str, int]:
        """Compare every tracked table with what ``replay`` says it holds, both ways; add
        the problems to ``replay.problems``; return how many rows each table has."""
        counts = {}
        present = self._db.tables()
        for table, rule in _TABLES.items():
            if table in present:
                counts[table] = self._check_table(rule, replay, progress)
        return counts

    def _check_table(
        self, rule: TableRule, replay: Replay, progress: Callable[[str, int], None]
    ) -> int:
        expected = replay.rows[rule.table]
        seen: set[tuple[Any, ...]] = set()
        count = 0
        for row in self.table_rows(rule.table):
            count += 1
            key = tuple(_plain(row.get(c)) for c in rule.key)
            where = f"{rule.table} row {show_key(rule, key)}"
            if key in seen:
                replay.problems.append(Problem(rule.table, where, f"{where} appears twice"))
                continue
            seen.add(key)
            want = expected.pop(key, None)
            if want is None:
                replay.problems.append(
                    Problem(rule.table, where, f"{where} has no event that made it")
                )
                continue
            problem = _compare(rule, row, want)
            if problem is not None:
                replay.problems.append(Problem(rule.table, where, f"{where}: {problem}"))
            if count % self.BATCH == 0:
                progress(rule.table, count)
        for key, want in expected.items():
            where = f"{rule.table} row {show_key(rule, key)}"
            message = f"event {want.made} made {where}, which is missing"
            replay.problems.append(Problem(rule.table, where, message))
        return count


def _check_event(
    row: Row, seq: int, expected: int, prev: bytes
) -> tuple[str | None, EventRecord | None]:
    """What is wrong with one event of the walk (or None), and the event if it decodes."""
    try:
        event = EventRecord.from_row(row)
    except LedgerError:
        return f"event {seq} is damaged (its data is not a JSON object)", None
    if seq != expected:
        gone = f"event {expected}" if seq == expected + 1 else f"events {expected} to {seq - 1}"
        return f"{gone} missing: the history jumps from event {expected - 1} to event {seq}", event
    if event.prev_hash != prev:
        return (
            f"event {seq} does not follow event {seq - 1}: an earlier event was rewritten,"
            " or events were removed or reordered", event,
        )  # fmt: skip
    recomputed = event_hash(event.prev_hash, seq, event.at, event.kind, event.subject, event.body)
    if event.hash != recomputed:
        return (
            f"event {seq} ({event.kind} {event.subject}) was altered: its hash does not match its contents",
            event,
        )
    return None, event


def _compare(rule: TableRule, row: Row, want: _Expected) -> str | None:
    """The first column of ``row`` that differs from what the history says, or None."""
    for column, (value, seq, kind) in want.values.items():
        if column not in row:
            return f"it has no column {column}, which event {seq} ({kind}) sets"
        actual = _plain(row[column])
        if column in rule.json_columns and actual is not None:
            try:
                actual = json.loads(actual)
            except (TypeError, ValueError):
                return f"its {column} is not JSON"
        if actual != value:
            return f"its {column} is {show_value(actual)}, but event {seq} ({kind}) says {show_value(value)}"
    return None


def pages(db: Any, table: str, order: Sequence[str], batch: int) -> Iterator[Row]:
    """Every row of ``table`` in ``order`` (unique columns), ``batch`` rows per query (keyset
    pagination: the same cost per batch however far in)."""
    columns = ", ".join(f'"{c}"' for c in order)
    select = (
        "SELECT rowid AS rowid, *" if "rowid" in order and db.dialect == "sqlite" else "SELECT *"
    )
    after = f"({columns}) > ({', '.join('?' * len(order))})" if len(order) > 1 else f"{columns} > ?"
    last: tuple[Any, ...] | None = None
    while True:
        where = "" if last is None else f" WHERE {after}"
        rows = db.all(
            f"{select} FROM {table}{where} ORDER BY {columns} LIMIT {int(batch)}", last or ()
        )
        yield from rows
        if len(rows) < batch:
            return
        last = tuple(rows[-1][c] for c in order)


# --- the tables of issue 7 and what their events do ----------------------------------------------

track("keys", key=("key_id",))
track("products", key=("id",), json=("features", "required_components"))
track("customers", key=("id",))
track("licenses", key=("id", "version"))
track("devices", key=("license_id", "id"))
track("activations", key=("id",))
# One receipt per deactivation: named by its activation (events do not carry the nonce).
track("receipts", key=("activation_id",), order=("nonce",))

on("key.created", Change("keys", (SUBJECT,), MAKE, role="role", not_after="not_after",
                         created_at=AT, status=Fixed("active")))  # fmt: skip
# Fields an older licsign did not write yet default to what its migrations filled in.
on("product.added", Change("products", (SUBJECT,), MAKE, name="name", features="features",
                           min_components=Field("min_components", 2),
                           required_components=Field("required_components", ["machine-id"]),
                           created_at=AT))  # fmt: skip
on("product.policy", Change("products", (SUBJECT,), CHANGE, min_components="min_components",
                            required_components="required_components"))  # fmt: skip
on("customer.added", Change("customers", (SUBJECT,), MAKE, name="name", email="email",
                            created_at=AT))  # fmt: skip
on("license.issued", Change("licenses", (SUBJECT, "version"), MAKE, key_id="key_id",
                            digest="digest", status=Fixed("active")))  # fmt: skip
on("activation.created",
   Change("activations", ("activation",), MAKE, license_id=SUBJECT, device_id="device",
          user="user", created_at=AT, renewed_at=AT, lease_expires="lease_expires",
          refresh_by=Field("refresh_by", None), ended_at=Fixed(None), end_reason=Fixed(None),
          counts_transfer=Fixed(1)),
   Change("devices", (SUBJECT, "device"), PUT, label="label", user="user", last_seen=AT,
          first_seen=First(AT)))  # fmt: skip
on("activation.renewed",
   Change("activations", ("activation",), CHANGE, user="user", renewed_at=AT,
          lease_expires="lease_expires", refresh_by=Field("refresh_by", None)),
   Change("devices", (SUBJECT, "device"), CHANGE, last_seen=AT))  # fmt: skip
on("activation.deactivated",
   Change("activations", ("activation",), CHANGE, ended_at=AT, end_reason=Fixed("deactivated"),
          counts_transfer=Field("transfer", True)),
   Change("receipts", ("activation",), MAKE, received_at=AT))  # fmt: skip
on("device.reset", Change("activations", ("activation",), CHANGE, ended_at=AT,
                          end_reason=Fixed("reset"),
                          counts_transfer=Field("transfer", True)))  # fmt: skip
