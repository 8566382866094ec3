"""Many licenses at once, and many activation requests at once (issue 8, "The ledger").

``issue_many`` checks every request before it opens a key or writes a row,
opens each issuing key once, and records every license in one unit of work:
all of them or none. ``issue_from_csv`` reads the rows from a CSV file
(columns named as ``licsign issue``'s options), names a bad row by its line
and column, and writes one license file per row and a manifest into a
directory, after the ledger committed. ``activate_many`` answers several
activation requests with each issuing key opened once, each request in its
own unit of work.

The license files are written after the commit and are not flushed to disk
one by one (that would cost more than issuing them): the ledger, committed
first, is the durable record, and the manifest, written last and flushed,
says the directory is complete. A crash (or a full disk) after the commit
leaves the licenses recorded and the directory without a manifest;
``licsign show ID --export FILE`` writes any of them again (docs/issuer.md,
"Many licenses at once").
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licsign import _validation as check
from licsign._errors import (
    AlreadyExistsError,
    InvalidInputError,
    LicsignError,
    NotFoundError,
    RefusedError,
)
from licsign._keyfile import PassphraseSource
from licsign._services.activation import Granted, activate
from licsign._services.issuing import (
    IssuedLicense,
    IssueRequest,
    Lookups,
    PreparedLicense,
    new_license_id,
    prepare_license,
    sign_license,
)
from licsign._services.keyring import KeyRing, Signer
from licsign._validation import InvalidFieldError
from licsign._workspace import Workspace
from licverify import LicenseError, verify_request
from licverify._time import to_timestamp

#: The largest CSV file ``issue_from_csv`` reads: 10,000 rows of a few hundred bytes
#: need 5 MiB; 64 MiB leaves room for long user lists without reading anything unbounded.
MAX_CSV_BYTES = 64 * 1024 * 1024
#: The most rows of one batch. Signing and recording them is one unit of work holding the
#: ledger's write lock, which other desks wait for at most 30 s (ADR 0015): 50,000 rows
#: hold it about 10 s on the reference 2-core machine (rows are checked before it is taken).
MAX_CSV_ROWS = 50_000
#: The longest cell: no term of a license is longer than a whole license document
#: (``licverify.format.MAX_DOCUMENT_SIZE``, 64 KiB).
MAX_CELL_CHARS = 64 * 1024
#: The manifest written beside the license files (``MANIFEST_COLUMNS``, one row per license).
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("line", "license", "product", "customer", "file", "sha256")
#: Licenses signed and recorded per batch of statements (and per progress report).
_CHUNK = 250

_TEXT, _WHEN, _SPAN, _COUNT, _LIST, _FLAG = "text", "when", "span", "count", "list", "flag"
#: The CSV columns: ``licsign issue``'s options, named without ``--`` (``-`` or ``_``),
#: the repeatable ones plural with ``;`` between items; what each cell holds.
CSV_COLUMNS: dict[str, str] = {
    "product": _TEXT, "customer": _TEXT, "type": _TEXT, "expires": _WHEN,
    "duration": _SPAN, "not_before": _WHEN, "grace": _SPAN, "features": _LIST,
    "max_version": _TEXT, "maintenance_end": _WHEN, "max_devices": _COUNT,
    "max_users": _COUNT, "max_devices_per_user": _COUNT, "max_transfers": _COUNT,
    "users": _LIST, "devices": _LIST, "device_match": _TEXT,
    "require_activation": _FLAG, "counters": _LIST, "lease": _SPAN, "refresh": _SPAN,
    "meta": _LIST, "order": _TEXT, "at_expiry": _TEXT, "expires_after_activation": _SPAN,
}  # fmt: skip
#: Header names also accepted: the singular option names.
_ALIASES = {"feature": "features", "user": "users", "device": "devices", "counter": "counters"}
_REQUIRED = ("product", "customer", "type")
#: Where a field a check refused (``InvalidFieldError.field``) was given in the file.
_FIELD_COLUMNS = {
    "product_id": "product", "product": "product", "customer_id": "customer",
    "customer": "customer", "type": "type", "feature": "features",
    "product_features": "features", "counter": "counters", "counters": "counters",
    "max_version": "max_version", "device_match": "device_match", "user": "users",
    "users": "users", "expires": "expires", "grace": "grace", "lease": "lease",
    "refresh": "refresh", "order_id": "order", "order": "order", "component": "devices",
    "at_expiry": "at_expiry", "expires_after_activation": "expires_after_activation",
}  # fmt: skip
_FLAGS = {"": False, "true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class BatchRowError(InvalidInputError):
    """One request of a batch is refused: nothing was signed or recorded.

    Attributes:
        index: the request's position in the batch (from 0).
        field: what was refused (an ``InvalidFieldError`` field, ``product``,
            ``customer`` or ``order``), or None.
        cause: the refusal as the one-license service raised it.
    """

    def __init__(self, index: int, cause: LicsignError, field: str | None = None) -> None:
        super().__init__(f"request {index + 1}: {cause}")
        self.index, self.cause, self.field = index, cause, field


class CsvError(InvalidInputError):
    """A line of a CSV file is refused: nothing was signed, recorded or written.

    Attributes:
        line: the line in the file (the header is line 1).
        column: the column's position (from 1), or None when the whole line is refused.
        name: the column's name as the header gives it, or None.
        reason: what is wrong, without the place.
    """

    def __init__(
        self, line: int, reason: str, column: int | None = None, name: str | None = None
    ) -> None:
        where = f"line {line}" if column is None else f"line {line}, column {column} ({name})"
        super().__init__(f"{where}: {reason}")
        self.line, self.column, self.name, self.reason = line, column, name, reason


class BatchExportError(LicsignError):
    """The licenses are issued and recorded, but writing their files failed.

    Attributes:
        license_ids: every license of the batch (each can be exported again
            with ``licsign show ID --export FILE``).
    """

    code = "export-failed"

    def __init__(self, message: str, license_ids: Sequence[str]) -> None:
        super().__init__(message)
        self.license_ids = tuple(license_ids)


# --- issuing many licenses ---------------------------------------------------------------------


def issue_many(
    ws: Workspace,
    requests: Sequence[IssueRequest],
    passphrase: PassphraseSource,
    *,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
    progress: Callable[[int, int], None] | None = None,
) -> list[IssuedLicense]:
    """Issue many licenses in one unit of work: all of them or none.

    Every request is checked (product, customer, order, terms) before any
    key is opened; each issuing key the batch needs is then opened once (the
    passphrase source is called once per distinct key), and every license is
    signed and recorded, one ``license.issued`` event each, in one
    ``ws.ledger.transaction()`` (inside a caller's, part of it). License ids
    are unique within the batch and new to the ledger.

    Args:
        ws: the workspace.
        requests: the licenses asked for, in order.
        passphrase: yields an issuing key's passphrase when that key is opened.
        now: the time of issue of every license.
        random_bytes: randomness for the license ids.
        progress: called with (licenses signed and recorded, total): first with
            0 once the keys are open, then after each batch of statements, and
            with (total, total) once the unit of work is committed.

    Returns:
        The issued licenses, in the order of ``requests``.

    Raises:
        BatchRowError: a request is refused (its index, and the refusal as
            ``issue_license`` words it); nothing was recorded.
        NotFoundError: no usable issuing key for a product.
        WrongPassphraseError: an issuing key's passphrase is wrong.
    """
    at = to_timestamp(now)
    requests = list(requests)
    ids = _new_ids(ws, len(requests), random_bytes)
    lookups = Lookups(ws)
    prepared = [
        _prepare_row(ws, index, request, ids[index], at, lookups)
        for index, request in enumerate(requests)
    ]
    if not prepared:
        return []
    signers = _open_keys(ws, sorted({r.product for r in requests}), at, passphrase)
    return _sign_and_record(ws, prepared, signers, at, progress or (lambda done, total: None))


def _sign_and_record(
    ws: Workspace,
    prepared: list[PreparedLicense],
    signers: dict[str, Signer],
    at: int,
    progress: Callable[[int, int], None],
) -> list[IssuedLicense]:
    """Sign and record every license in one unit of work, a batch of statements at a time."""
    total = len(prepared)
    progress(0, total)
    issued: list[IssuedLicense] = []
    with ws.ledger.transaction():
        for start in range(0, total, _CHUNK):
            signed = [
                sign_license(p, signers[p.request.product], at)
                for p in prepared[start : start + _CHUNK]
            ]
            ws.ledger.add_licenses(at, [record for _, record in signed])
            issued += [license for license, _ in signed]
            if len(issued) < total:
                progress(len(issued), total)
    progress(total, total)  # the last report: committed
    return issued


def _new_ids(ws: Workspace, count: int, random_bytes: Callable[[int], bytes]) -> list[str]:
    """``count`` distinct license ids the ledger does not hold (one query per 500 ids)."""
    ids: list[str] = []
    drawn: set[str] = set()
    while len(ids) < count:
        fresh: list[str] = []
        while len(ids) + len(fresh) < count:
            license_id = new_license_id(random_bytes)
            if license_id not in drawn:
                drawn.add(license_id)
                fresh.append(license_id)
        taken = ws.ledger.existing_license_ids(fresh)
        ids += [i for i in fresh if i not in taken]
    return ids


def _prepare_row(
    ws: Workspace, index: int, request: IssueRequest, license_id: str, at: int, lookups: Lookups
) -> PreparedLicense:
    """``prepare_license`` for the ``index``-th request; a refusal names the request."""
    for field, lookup in (("product", lookups.product), ("customer", lookups.customer)):
        try:
            lookup(getattr(request, field))
        except NotFoundError as exc:
            raise BatchRowError(index, exc, field) from None
    try:
        return prepare_license(ws, request, license_id, at, lookups)
    except InvalidFieldError as exc:
        raise BatchRowError(index, exc, exc.field) from None
    except (NotFoundError, RefusedError) as exc:  # the order: unknown, or another customer's
        raise BatchRowError(index, exc, "order") from None
    except InvalidInputError as exc:
        raise BatchRowError(index, exc) from None


def _open_keys(
    ws: Workspace, products: list[str], at: int, passphrase: PassphraseSource
) -> dict[str, Signer]:
    """The signer of each product, each distinct issuing key opened once."""
    ring = KeyRing(ws, passphrase)
    return {product: ring.signer(product, at) for product in products}


# --- the CSV file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvRow:
    """One license asked for by a CSV file: its line (the header is line 1) and request."""

    line: int
    request: IssueRequest


@dataclass(frozen=True)
class IssueCsv:
    """A CSV file of licenses to issue, read and checked (``read_issue_csv``)."""

    #: The columns, by canonical name, as the header orders them.
    columns: tuple[str, ...]
    #: The header's own spelling of each column.
    header: tuple[str, ...]
    rows: tuple[CsvRow, ...]

    def error(self, row: int, reason: str, field: str | None) -> CsvError:
        """A refusal of the ``row``-th row (from 0), placed at the column ``field`` came from."""
        return _placed(self.rows[row].line, reason, field, self.columns, self.header)


def _placed(
    line: int, reason: str, field: str | None, columns: Sequence[str], header: Sequence[str]
) -> CsvError:
    """A refusal on ``line``, at the column that gave ``field`` if the file has it."""
    column = _FIELD_COLUMNS.get(field or "", field or "")
    if column == "expires" and "expires" not in columns:
        column = "duration"  # "a subscription needs an expiry": the one expiry column given
    if column not in columns:
        return CsvError(line, reason)
    position = list(columns).index(column)
    return CsvError(line, reason, position + 1, header[position].strip())


def read_issue_csv(data: bytes) -> IssueCsv:
    """Read a CSV file of licenses to issue (docs/issuer.md, "Many licenses at once").

    UTF-8 (a byte-order mark is allowed); a header row naming the columns
    (``CSV_COLUMNS``: ``licsign issue``'s option names, ``-`` or ``_``, any
    case); one license per row, an empty cell meaning the option is not
    given; in ``features``, ``users``, ``devices``, ``counters`` and ``meta``
    items separated by ``;``. Rows whose cells are all empty are skipped.

    Raises:
        CsvError: the file, its header or a cell is not acceptable (the line,
            and the column where there is one); or there is no row at all.
    """
    if len(data) > MAX_CSV_BYTES:
        raise CsvError(1, f"the file is larger than {MAX_CSV_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvError(data[: exc.start].count(b"\n") + 1, "not UTF-8 text") from None
    records = _records(text)
    header = next(records, None)
    if header is None or not any(cell.strip() for cell in header[1]):
        raise CsvError(1, "the first line must name the columns, e.g. product,customer,type")
    columns = _columns(header[1])
    rows: list[CsvRow] = []
    parsed: dict[tuple[str, str], Any] = {}  # a batch repeats its values: parse each once
    for line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) == MAX_CSV_ROWS:
            raise CsvError(line, f"more than {MAX_CSV_ROWS} licenses in one file; split it")
        rows.append(CsvRow(line, _row_request(line, cells, columns, header[1], parsed)))
    if not rows:
        raise CsvError(1, "no licenses: the file has a header and no rows")
    return IssueCsv(tuple(columns), tuple(c.strip() for c in header[1]), tuple(rows))


def _records(text: str) -> Any:
    """(first line, cells) of each record; a cell may span lines inside quotes."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvError(line, f"not a well-formed CSV line: {exc}") from None
        yield line, cells
        line = reader.line_num + 1


def _columns(names: list[str]) -> list[str]:
    """The canonical name of each header cell; CsvError for an unknown or repeated one."""
    columns: list[str] = []
    for position, raw in enumerate(names, 1):
        name = raw.strip().lower().replace("-", "_")
        name = _ALIASES.get(name, name)
        if name not in CSV_COLUMNS:
            raise CsvError(
                1, f"unknown column {raw.strip()[:40]!r}; the columns are {', '.join(CSV_COLUMNS)}",
                position, raw.strip()[:40],
            )  # fmt: skip
        if name in columns:
            raise CsvError(1, "this column is named twice", position, raw.strip()[:40])
        columns.append(name)
    missing = [name for name in _REQUIRED if name not in columns]
    if missing:
        raise CsvError(1, f"the header must name the columns {', '.join(missing)}")
    return columns


def _row_request(
    line: int,
    cells: list[str],
    columns: list[str],
    header: list[str],
    parsed: dict[tuple[str, str], Any],
) -> IssueRequest:
    """The request one CSV row asks for; CsvError naming the line and column of a bad cell.

    ``parsed`` remembers each cell's value by column and text (``IssueRequest``
    copies what it keeps, so rows may share them).
    """
    if len(cells) != len(columns):
        raise CsvError(line, f"{len(cells)} cells, but the header names {len(columns)} columns")
    values: dict[str, Any] = {}
    for position, (name, cell) in enumerate(zip(columns, cells, strict=True), 1):
        try:
            if len(cell) > MAX_CELL_CHARS:
                raise ValueError(f"longer than {MAX_CELL_CHARS} characters")
            if "\x00" in cell:  # no term may hold one, and PostgreSQL text cannot
                raise ValueError("a NUL character")
            key = (name, cell.strip())
            value = parsed[key] if key in parsed else parsed.setdefault(key, _cell(*key))
        except (ValueError, InvalidInputError) as exc:
            raise CsvError(line, str(exc), position, header[position - 1].strip()) from None
        if value is not None:
            values[name] = value
    for name in _REQUIRED:
        if name not in values:
            position = columns.index(name) + 1
            raise CsvError(
                line, f"a license needs a {name}", position, header[position - 1].strip()
            )
    try:
        return _request(values)
    except InvalidInputError as exc:
        raise _placed(line, str(exc), getattr(exc, "field", None), columns, header) from None


def _cell(name: str, text: str) -> Any:
    """One cell's value, parsed as ``licsign issue`` parses that option (None: not given)."""
    from licverify import parse_fingerprint
    from licverify.cliutil import parse_duration, parse_when

    kind = CSV_COLUMNS[name]
    if kind == _FLAG:
        if text.lower() not in _FLAGS:
            raise ValueError(f"{text[:40]!r}: use true or false")
        return _FLAGS[text.lower()] or None
    if not text:
        return None
    if kind == _WHEN:
        return parse_when(text)
    if kind == _SPAN:
        return parse_duration(text)
    if kind == _COUNT:
        if not re.fullmatch(r"\d{1,10}", text) or int(text) > check.MAX_LIMIT:
            raise ValueError(f"{text[:40]!r}: give a whole number from 0 to {check.MAX_LIMIT}")
        return int(text)
    if kind == _LIST:
        items = [item.strip() for item in text.split(";") if item.strip()]
        if name == "devices":
            return [parse_fingerprint(item) for item in items]
        if name == "features":
            return dict(feature_spec(item) for item in items)
        if name == "counters":
            return {n: (limit, overage) for n, limit, overage in map(check.counter_spec, items)}
        if name == "meta":
            return dict(_pair(item) for item in items)
        return items
    return text


def feature_spec(text: str) -> tuple[str, Any]:
    """A feature written ``NAME`` or ``NAME=VALUE``, as ``licsign issue --feature`` reads it:
    a value of up to 18 digits is an integer, ``true`` and ``false`` are booleans."""
    name, sep, value = text.partition("=")
    if not name:
        raise ValueError(f"{text[:40]!r}: use NAME or NAME=VALUE")
    if not sep:
        return name, None
    if re.fullmatch(r"-?\d{1,18}", value):
        return name, int(value)
    if value in ("true", "false"):
        return name, value == "true"
    return name, value


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not key or not sep:
        raise ValueError(f"{text[:40]!r}: use KEY=VALUE")
    return key, value


def request_from_fields(fields: Mapping[str, str]) -> IssueRequest:
    """The request that text fields named as the CSV columns ask for (the portal's issue
    form): each parsed as ``licsign issue`` parses that option, empty ones not given.

    Raises:
        InvalidInputError: a field that does not parse (named), a missing product,
            customer or type, or terms the issuer refuses.
    """
    values: dict[str, Any] = {}
    for name, text in fields.items():
        if name not in CSV_COLUMNS or not text.strip():
            continue
        try:
            value = _cell(name, text.strip())
        except ValueError as exc:
            raise InvalidInputError(f"{name.replace('_', ' ')}: {exc}") from None
        if value is not None:
            values[name] = value
    for name in _REQUIRED:
        if name not in values:
            raise InvalidInputError(f"a license needs a {name}")
    return _request(values)


def _request(values: dict[str, Any]) -> IssueRequest:
    """The ``IssueRequest`` of one row's parsed cells."""
    options = {
        "activation_required" if k == "require_activation" else "metadata" if k == "meta" else k: v
        for k, v in values.items()
        if k not in _REQUIRED
    }
    return IssueRequest(values["product"], values["customer"], values["type"], **options)


# --- the license files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchLicense:
    """One license of a CSV batch: the line that asked for it, the license, its file's name."""

    line: int
    license: IssuedLicense
    #: The file's name in the batch's directory (``L-XXXX-XXXX-XXXX.lic``).
    file: str

    def to_json(self) -> dict[str, Any]:
        """The manifest row, as ``--json`` prints it."""
        terms = self.license.terms
        return {
            "line": self.line, "id": self.license.id, "product": terms.product,
            "customer": terms.customer, "type": terms.type, "file": self.file,
        }  # fmt: skip


@dataclass(frozen=True)
class IssuedBatch:
    """The result of ``issue_from_csv``: where the files went, and each license."""

    directory: str
    #: The manifest's path (``MANIFEST`` in ``directory``).
    manifest: str
    licenses: tuple[BatchLicense, ...]

    def to_json(self) -> dict[str, Any]:
        """What ``licsign issue --from-csv --json`` prints."""
        return {
            "directory": self.directory, "manifest": self.manifest,
            "count": len(self.licenses), "licenses": [b.to_json() for b in self.licenses],
        }  # fmt: skip


def issue_from_csv(
    ws: Workspace,
    data: bytes,
    directory: str,
    passphrase: PassphraseSource,
    *,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
    progress: Callable[[int, int], None] | None = None,
    binary: bool = False,
) -> IssuedBatch:
    """Issue the licenses a CSV file asks for (``read_issue_csv``) and write their files.

    All or nothing: every row is checked, and ``directory`` too (new, or an
    empty directory), before any key is opened; the licenses are recorded in
    one unit of work (``issue_many``). Then ``directory`` gets one file per
    license, named by its id (armored, or CBOR if ``binary``), and
    ``manifest.csv`` last (``MANIFEST_COLUMNS``).

    Raises:
        CsvError: a bad line or cell (the file's line and column); nothing recorded.
        InvalidInputError, AlreadyExistsError: ``directory`` cannot take the files.
        NotFoundError, WrongPassphraseError: as ``issue_many``; nothing recorded.
        BatchExportError: recorded, but the files could not all be written.
    """
    table = read_issue_csv(data)
    check_output_directory(directory)
    try:
        issued = issue_many(
            ws, [row.request for row in table.rows], passphrase,
            now=now, random_bytes=random_bytes, progress=progress,
        )  # fmt: skip
    except BatchRowError as exc:
        raise table.error(exc.index, str(exc.cause), exc.field) from None
    batch = tuple(
        BatchLicense(row.line, license, f"{license.id}.lic")
        for row, license in zip(table.rows, issued, strict=True)
    )
    try:
        manifest = _write_batch(directory, batch, binary)
    except (OSError, LicsignError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BatchExportError(
            f"the {len(batch)} licenses are issued and recorded ({batch[0].license.id} to "
            f"{batch[-1].license.id}), but writing {directory!r} failed: {reason}; write each "
            "again with 'licsign show ID --export FILE'",
            [b.license.id for b in batch],
        ) from None
    return IssuedBatch(directory, manifest, batch)


def check_output_directory(directory: str) -> None:
    """Refuse a directory a batch's files cannot go to, before anything is recorded.

    Raises:
        AlreadyExistsError: it holds files already (each batch gets its own).
        InvalidInputError: it is a link or not a directory, or cannot be created or written.
    """
    try:
        mode = os.lstat(directory).st_mode
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(directory))
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
            raise InvalidInputError(
                f"cannot create {directory!r}: {parent!r} is not a directory this user may write"
            ) from None
        return
    except OSError as exc:
        raise InvalidInputError(f"cannot use {directory!r}: {exc.strerror}") from None
    if stat.S_ISLNK(mode):
        raise InvalidInputError(f"{directory!r} is a symbolic link; give the directory itself")
    if not stat.S_ISDIR(mode):
        raise InvalidInputError(f"{directory!r} exists and is not a directory")
    if os.listdir(directory):
        raise AlreadyExistsError(
            f"{directory!r} is not empty; give a new or empty directory for the license files"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidInputError(f"cannot write in {directory!r}")


def _write_batch(directory: str, batch: Sequence[BatchLicense], binary: bool) -> str:
    """Write each license's file, then the manifest (the one file flushed: see the module)."""
    from licsign._files import write_atomic
    from licverify._fileio import fsync_directory

    os.makedirs(directory, mode=0o755, exist_ok=True)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for entry in batch:
        license = entry.license
        data = license.document if binary else license.armored
        _write_new(directory, entry.file, data)
        writer.writerow([
            entry.line, license.id, license.terms.product, license.terms.customer, entry.file,
            hashlib.sha256(data).hexdigest(),
        ])  # fmt: skip
    fsync_directory(directory)
    manifest = os.path.join(directory, MANIFEST)
    write_atomic(manifest, out.getvalue().encode("utf-8"), mode=0o644)
    return manifest


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def _write_new(directory: str, name: str, data: bytes) -> None:
    """Create ``name`` (never replacing a file) and write ``data``.

    Straight under its name, not through a temporary file and a rename: creating
    the file is most of the cost of a batch's files (an inode each), and the
    manifest, written last, is what says the directory is complete.
    """
    fd = os.open(os.path.join(directory, name), _NEW_FILE, 0o644)
    try:
        if hasattr(os, "fchmod"):  # the exact mode, whatever the umask says
            os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


# --- answering many activation requests --------------------------------------------------------


@dataclass(frozen=True)
class ActivationAnswer:
    """What one request of ``activate_many`` got: a grant, or a refusal in one line."""

    #: The request's position in the batch (from 0).
    index: int
    granted: Granted | None = None
    #: The refusal's stable code (``refused``, ``not-found``, a licverify code ...).
    code: str | None = None
    #: The refusal, one line naming the limit and who holds it.
    reason: str | None = None


def activate_many(
    ws: Workspace,
    documents: Sequence[bytes],
    passphrase: PassphraseSource,
    *,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> list[ActivationAnswer]:
    """Answer several activation requests, each issuing key opened once for all of them.

    Each request is answered as ``activate`` answers it, in its own unit of
    work: a refused one (a limit, an unknown license, a request that does
    not verify) undoes nothing of the others. The keys of the products the
    requests name are opened first, once each, so a wrong passphrase stops
    the batch before anything is recorded.

    Returns:
        One answer per request, in order.

    Raises:
        WrongPassphraseError: an issuing key's passphrase is wrong (nothing recorded).
    """
    at = to_timestamp(now)
    keys = KeyRing(ws, passphrase)
    products = set()
    for document in documents:
        try:
            products.add(verify_request(document).product)
        except LicenseError:
            continue  # refused below, with its reason
    for product in sorted(products):
        try:
            keys.signer(product, at)
        except NotFoundError:
            continue  # an unknown product, or none of its keys valid: refused below
    answers = []
    for index, document in enumerate(documents):
        try:
            granted = activate(
                ws, document, passphrase, now=now, random_bytes=random_bytes, keys=keys
            )
        except (LicsignError, LicenseError) as exc:
            code = str(getattr(exc, "code", "refused"))
            answers.append(ActivationAnswer(index, code=code, reason=str(exc)))
            continue
        answers.append(ActivationAnswer(index, granted=granted))
    return answers
