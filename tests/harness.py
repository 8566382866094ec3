"""The one scenario harness of the tests: a vendor, its customers' machines, both command lines.

Three actors, each built on the real code paths, every time injected:

* ``Vendor``: the vendor at library level. A real workspace (``tmp/ws``) with
  products ``PRODUCT`` and ``OTHER_PRODUCT`` and customer ``CUSTOMER``;
  issuing and activating through ``licsign``, and read-only views of the
  ledger through the ledger package (never raw SQL), on SQLite or on a
  PostgreSQL database (``ledger_url``).
* ``Machine``: one simulated customer machine at library level, with its own
  ``LocalStore`` directory (``tmp/machines/NAME``) and its own fingerprint.
* ``Site``: the same story through both command lines, in-process. The
  vendor runs ``licsign`` on ``LICSIGN_HOME`` (``tmp/ws``); each customer
  machine (``CliMachine``) runs ``licverify`` with its own ``--state-dir``
  (``tmp/state-NAME``) and ``--machine-id`` (``id-NAME``). Files travel
  between them as they would on a USB stick.

The fixtures in conftest.py (``vendor``, ``site``, ``unsafe_fast_kdf``) are
thin wrappers around this module; a test that needs another starting point
calls ``Vendor.create`` or ``Site.create`` itself (``Site.isolated``: a site
before ``licsign init``). Beside them: fixed times (``NOW``, ``at``), views
of a directory (``snapshot``, ``tree``), ``deadline`` for code that might
hang, and what a command-line run must look like (``error_line`` and the rest).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import nacl.signing
import pytest
from cli_runner import Result, _exit_status, run_entry
from factory import T0

import licverify
import licverify.cli as lvcli
from licsign import (
    Granted,
    IssuedLicense,
    IssueRequest,
    Ledger,
    NotFoundError,
    Workspace,
    activate,
    init_workspace,
    issue_license,
)
from licsign.cli import HOME_ENV, LEDGER_ENV, PASSPHRASE_ENV
from licsign.cli import main as licsign_main
from licverify import LocalStore, machine_fingerprint
from licverify import format as F

if TYPE_CHECKING:
    from licverify._activation import ActivationResponse

__all__ = [
    "CLI_PASSPHRASE",
    "CUSTOMER",
    "ENV_PREFIXES",
    "NOW",
    "OTHER_PRODUCT",
    "PRODUCT",
    "PW",
    "UNSAFE_TEST_KDF",
    "VENDOR_NAME",
    "CliMachine",
    "Machine",
    "Result",
    "Site",
    "Vendor",
    "at",
    "deadline",
    "error_line",
    "error_line_after_progress",
    "lower_kdf_floor",
    "older_ledger",
    "run_entry",
    "snapshot",
    "tree",
    "usage_line",
    "verdict_line",
]

PRODUCT = "acme-cad"
OTHER_PRODUCT = "acme-cam"
CUSTOMER = "globex"
VENDOR_NAME = "Acme Inc."
#: The library-level vendor's passphrase (``Vendor``).
PW = b"activation test passphrase"
#: The command-line vendor's passphrase (``Site``), given through ``LICSIGN_PASSPHRASE``.
CLI_PASSPHRASE = "vendor passphrase"
#: The fixed "now" of the library-level tests (``factory.T0``, 2026-09-21T14:13:20Z).
NOW = datetime.fromtimestamp(T0, timezone.utc)
#: Argon2id settings for tests: the real floor (256 MiB) costs ~1 s per key use.
UNSAFE_TEST_KDF = {"ops": 1, "memory": 8 * 1024 * 1024}
#: Environment variables of both command lines: a site starts with none of them set...
ENV_PREFIXES = ("LICSIGN_", "LICVERIFY_")
#: ...but the settings of the test run itself (e.g. ``LICSIGN_TEST_POSTGRES``).
TEST_RUN_PREFIX = "LICSIGN_TEST_"


def lower_kdf_floor(patch: pytest.MonkeyPatch) -> dict[str, int]:
    """Lower the key-file floor (through ``patch``) so workspaces build in milliseconds.

    The only place the tests make key derivation cheap (STYLE §8); the
    ``unsafe_fast_kdf`` fixture wraps it.

    Args:
        patch: undoes the change when its test (or context) ends.

    Returns:
        ``UNSAFE_TEST_KDF``, the settings to pass as ``kdf=`` where one is taken.
    """
    import licsign._keyfile as keyfile

    patch.setattr(keyfile, "MIN_KDF_MEMORY", UNSAFE_TEST_KDF["memory"])
    patch.setattr(keyfile, "MIN_KDF_OPS", UNSAFE_TEST_KDF["ops"])
    patch.setattr(keyfile, "KDF_MEMORY", UNSAFE_TEST_KDF["memory"])
    patch.setattr(keyfile, "KDF_OPS", UNSAFE_TEST_KDF["ops"])
    return UNSAFE_TEST_KDF


def older_ledger(location: str, version: int) -> None:
    """Make ``location`` (a SQLite path or an empty PostgreSQL database) a ledger written
    by an older licsign: only its first ``version`` migrations applied."""
    from licsign._ledger import engine, migrations

    if not engine.is_postgres_url(location):
        Path(location).touch()
    db = engine.connect(location)
    db.begin_write()
    for number in range(version):
        for statement in migrations.MIGRATIONS[number]:
            for sql in migrations.render(statement, db.dialect):
                db.run(sql)
    db.set_schema_version(version)
    db.commit()
    db.close()


def at(seconds: int) -> datetime:
    """``NOW`` plus ``seconds`` (times are always injected)."""
    return NOW + timedelta(seconds=seconds)


def snapshot(path: str) -> dict[str, tuple[bytes, int, int, int]]:
    """Every file in a store directory: bytes, mode, inode and mtime (a rewrite shows)."""
    out = {}
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        st = os.stat(full)
        with open(full, "rb") as fh:
            out[name] = (fh.read(), stat.S_IMODE(st.st_mode), st.st_ino, st.st_mtime_ns)
    return out


def tree(top: Path) -> dict[str, tuple[int, int] | None]:
    """Every entry under ``top``, never opened: files (and links) by size and mtime, directories by name.

    Directory mtimes are left out: SQLite creates and removes its -wal and
    -shm files next to the ledger whenever it is opened, even to read.
    """
    found: dict[str, tuple[int, int] | None] = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs:
            found[os.path.relpath(os.path.join(directory, name), top)] = None
        for name in files:
            info = os.lstat(os.path.join(directory, name))
            found[os.path.relpath(os.path.join(directory, name), top)] = (
                info.st_size,
                info.st_mtime_ns,
            )
    return found


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail with ``TimeoutError`` instead of hanging (e.g. on opening a FIFO). POSIX only (SIGALRM)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"blocked for more than {seconds} s (did it open a FIFO?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- library level: the vendor and its customers' machines ---------------------------------------


class Vendor:
    """The vendor at library level: a workspace and its ledger, and helpers around licsign.

    Build one with ``Vendor.create`` (the ``vendor`` fixture does). A Vendor
    made directly over an existing workspace (``Vendor(home, tmp)``, e.g. one
    the licsign CLI built: see ``Site.vendor``) is not opened: only its
    ledger reads work. Every ``when`` defaults to ``now``.

    Attributes:
        home: the workspace directory.
        tmp: the test's directory; machines keep their stores under ``tmp/machines``.
        now: the default time of every operation.
        roots: the trusted root keys a customer is given (empty if not opened here).
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        tmp: str | os.PathLike[str],
        *,
        ws: Workspace | None = None,
        now: datetime = NOW,
        ledger_url: str | None = None,
    ) -> None:
        self.home, self.tmp, self.now = os.fspath(home), os.fspath(tmp), now
        #: A PostgreSQL ledger's URL, or None for the workspace's own SQLite file.
        self.ledger_url = ledger_url
        self._ws = ws
        self.roots: list[bytes] = [] if ws is None else [ws.root_public_key()]

    @classmethod
    def create(
        cls,
        tmp: str | os.PathLike[str],
        kdf: Mapping[str, int],
        *,
        now: datetime = NOW,
        ledger_url: str | None = None,
    ) -> Vendor:
        """A new workspace ``tmp/ws``, made an hour before ``now``, with two products and a customer.

        Args:
            tmp: the test's directory.
            kdf: the key-file settings (``unsafe_fast_kdf``).
            now: the vendor's default time from then on.
            ledger_url: a PostgreSQL database for the ledger (None: SQLite in the workspace).

        Returns:
            The vendor, its workspace open (close it, or use it as a context manager).
        """
        before = now - timedelta(hours=1)
        ws = init_workspace(
            os.path.join(os.fspath(tmp), "ws"), PW, now=before, vendor=VENDOR_NAME, kdf=dict(kdf),
            ledger=ledger_url,
        )
        try:
            seconds = int(before.timestamp())
            ws.ledger.add_product(seconds, PRODUCT, "Acme CAD", [])
            ws.ledger.add_product(seconds, OTHER_PRODUCT, "Acme CAM", [])
            ws.ledger.add_customer(seconds, CUSTOMER, "Globex Corp.", None)
            return cls(ws.home, tmp, ws=ws, now=now, ledger_url=ledger_url)
        except BaseException:
            ws.close()
            raise

    def __enter__(self) -> Vendor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the workspace (before a fork: no connection may cross it). Ledger reads still work."""
        if self._ws is not None:
            self._ws.close()
            self._ws = None

    @property
    def ws(self) -> Workspace:
        """The open workspace.

        Raises:
            AssertionError: the workspace is closed, or was never opened here.
        """
        assert self._ws is not None, f"the workspace {self.home} is not open"
        return self._ws

    def _when(self, when: datetime | None) -> datetime:
        return self.now if when is None else when

    # issuing and the exchange

    def issue(
        self,
        type: str = "subscription",
        *,
        product: str = PRODUCT,
        when: datetime | None = None,
        **terms: Any,
    ) -> IssuedLicense:
        """Issue a license to ``CUSTOMER``.

        Activation is required unless ``activation_required=False`` is given;
        a subscription or time-limited license runs a year unless given an
        expiry or a duration.

        Args:
            type: the license type.
            product: the product.
            when: the time of issue.
            **terms: the other ``IssueRequest`` fields.

        Returns:
            The issued license.

        Raises:
            licsign.InvalidInput: the issuer refuses these terms.
        """
        if type in ("subscription", "time-limited") and not {"expires", "duration"} & set(terms):
            terms["duration"] = timedelta(days=365)
        terms.setdefault("activation_required", True)
        request = IssueRequest(product, CUSTOMER, type, **terms)
        return issue_license(self.ws, request, lambda: PW, now=self._when(when))

    def activate(self, request: bytes, when: datetime | None = None) -> Granted:
        """Answer an activation request (``licsign.activate``).

        Raises:
            licsign.RefusedError: the ledger refuses it.
        """
        return activate(self.ws, request, lambda: PW, now=self._when(when))

    def assign(
        self, lic: IssuedLicense | str, user: str, when: datetime | None = None, **options: Any
    ) -> str:
        """Assign ``user`` to a user-based license (``licsign.assign_user``; ``options``: its
        ``name`` and ``max_devices``); return their one-time activation code."""
        from licsign import assign_user

        license_id = lic if isinstance(lic, str) else lic.id
        return assign_user(self.ws, license_id, user, now=self._when(when), **options).code

    def new_code(self, lic: IssuedLicense | str, user: str, when: datetime | None = None) -> str:
        """A new one-time activation code for an assigned user (``licsign.new_user_code``)."""
        from licsign import new_user_code

        license_id = lic if isinstance(lic, str) else lic.id
        return new_user_code(self.ws, license_id, user, now=self._when(when)).code

    def sign_response(
        self, response: ActivationResponse, key: nacl.signing.SigningKey | None = None
    ) -> bytes:
        """A response signed with the workspace's real issuing key (a vendor-side forgery)."""
        issuing, certificate, kid, _ = self.ws.issuing_signer(PRODUCT, response.issued_at, lambda: PW)
        signer = key or issuing
        return F.encode_sign1(
            F.ACTIVATION_RESPONSE,
            bytes.fromhex(kid),
            F.encode_response_payload(response),
            lambda m: signer.sign(m).signature,
            certificate,
        )

    def machine(
        self,
        name: str,
        fingerprint: Mapping[str, bytes] | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> Machine:
        """A customer machine with its own store directory (see ``Machine``).

        Args:
            name: names its store directory, fingerprint and label.
            fingerprint: the machine's fingerprint, if not the one made from ``name``.
            path: the store directory, if not ``tmp/machines/NAME`` (e.g. a
                symbolic link to another machine's, or a copy of it).
        """
        return Machine(self, name, fingerprint, path=path)

    # the ledger, read through the ledger package (any engine), as plain dicts

    @contextlib.contextmanager
    def _ledger(self) -> Iterator[Ledger]:
        # The open workspace's connection sees every committed change; a
        # closed (or never opened here) workspace gets a connection of its own.
        if self._ws is not None:
            yield self._ws.ledger
            return
        ledger = Ledger(Workspace(self.home, self.ledger_url).ledger_location)
        try:
            yield ledger
        finally:
            ledger.close()

    def events(self, subject: str | None = None) -> list[dict[str, Any]]:
        """The ledger's events (about one license or activation, if given), oldest first.

        Each has ``seq``, ``at``, ``kind``, ``subject`` and ``data`` (the JSON
        text the event chain hashes).
        """
        with self._ledger() as ledger:
            return [{**asdict(e), "data": e.body} for e in ledger.events(subject)]

    def event_kinds(self, license_id: str) -> list[str]:
        """The kinds of the events about one license, oldest first."""
        return [event["kind"] for event in self.events(license_id)]

    def event_count(self, kind: str | None = None) -> int:
        """How many events the ledger holds (of ``kind`` only, if given)."""
        return sum(1 for e in self.events() if kind is None or e["kind"] == kind)

    def activations(self, license_id: str | None = None) -> list[dict[str, Any]]:
        """Every activation (of one license, if given), in the order they were created."""
        with self._ledger() as ledger:
            ids = [license_id] if license_id else [lic.id for lic in ledger.licenses()]
            found = [asdict(a) for i in ids for a in ledger.activations_of(i)]
        return sorted(found, key=lambda a: a["created_at"]) if license_id is None else found

    def open_activations(self, license_id: str | None = None) -> list[dict[str, Any]]:
        """The activations not ended (by a receipt or a reset), as ``activations``."""
        return [a for a in self.activations(license_id) if a["ended_at"] is None]

    def open_seats(self, license_id: str | None = None) -> int:
        """How many seats are taken (of one license, if given)."""
        return len(self.open_activations(license_id))

    def receipts(self) -> list[dict[str, Any]]:
        """Every deactivation receipt the ledger accepted, oldest first."""
        with self._ledger() as ledger:
            return [asdict(r) for r in ledger.receipts()]

    def device_record(self, device_id: str) -> dict[str, Any]:
        """What the ledger stored about a device (its key and the fingerprint it first sent).

        Raises:
            AssertionError: the ledger has no such device.
        """
        with self._ledger() as ledger:
            rows = [r for r in ledger.dump()["devices"] if r["id"] == device_id]
        assert rows, f"no device {device_id} in the ledger"
        return {**rows[0], "device_key": bytes(rows[0]["device_key"])}

    def license_record(self, license_id: str) -> dict[str, Any]:
        """What the ledger recorded about the newest version of a license (``terms``: JSON text).

        Raises:
            AssertionError: the ledger has no such license.
        """
        with self._ledger() as ledger:
            try:
                record = ledger.license(license_id)
            except NotFoundError:
                raise AssertionError(f"no license {license_id} in the ledger") from None
        return {**asdict(record), "terms": json.dumps(record.terms, sort_keys=True)}

    def product_record(self, product_id: str) -> dict[str, Any]:
        """What the ledger recorded about a product (its fingerprint policy too).

        Raises:
            AssertionError: the ledger has no such product.
        """
        with self._ledger() as ledger:
            try:
                record = ledger.product(product_id)
            except NotFoundError:
                raise AssertionError(f"no product {product_id} in the ledger") from None
        return {**asdict(record), "features": json.dumps(list(record.features)),
                "required_components": json.dumps(list(record.required_components))}  # fmt: skip

    def ledger_dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of the ledger (sees every committed change), on either engine."""
        with self._ledger() as ledger:
            return ledger.dump()


class Machine:
    """One simulated customer machine: its own store directory and its own fingerprint.

    Every ``when`` defaults to the vendor's ``now``; every ``fingerprint``
    to the machine's own (``fp``).

    Attributes:
        path: the store directory, ``tmp/machines/NAME`` unless given.
        store: the ``LocalStore`` on it.
        fp: the fingerprint (default: ``machine_fingerprint`` of ``machine-id-NAME``).
        label: the label its requests carry (``host-NAME``).
    """

    def __init__(
        self,
        vendor: Vendor,
        name: str,
        fingerprint: Mapping[str, bytes] | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.vendor, self.name = vendor, name
        self.path = (
            os.path.join(vendor.tmp, "machines", name) if path is None else os.fspath(path)
        )
        self.store = LocalStore(self.path)
        self.fp = (
            machine_fingerprint(PRODUCT, machine_id=f"machine-id-{name}")
            if fingerprint is None
            else fingerprint
        )
        self.label = f"host-{name}"

    def _when(self, when: datetime | None) -> datetime:
        return self.vendor.now if when is None else when

    def import_license(
        self, lic: IssuedLicense | bytes, when: datetime | None = None
    ) -> licverify.License:
        """Import a license (armored if an ``IssuedLicense``) into the store."""
        document = lic.armored if isinstance(lic, IssuedLicense) else lic
        return self.store.import_license(
            document,
            trusted_roots=self.vendor.roots,
            product=PRODUCT,
            now=self._when(when),
            fingerprint=self.fp,
        )

    def request(
        self,
        when: datetime | None = None,
        *,
        user: str | None = None,
        fingerprint: Mapping[str, bytes] | None = None,
        label: str | None = None,
        code: str | None = None,
    ) -> bytes:
        """An activation request (armored), labelled ``label`` (default: the machine's),
        for ``user`` and with the activation ``code``, if given."""
        return self.store.request(
            now=self._when(when),
            fingerprint=self.fp if fingerprint is None else fingerprint,
            label=self.label if label is None else label,
            user=user,
            code=code,
        )

    def install(
        self,
        response: bytes,
        when: datetime | None = None,
        fingerprint: Mapping[str, bytes] | None = None,
    ) -> licverify.License:
        """Install an activation response."""
        return self.store.install(
            response,
            trusted_roots=self.vendor.roots,
            product=PRODUCT,
            now=self._when(when),
            fingerprint=self.fp if fingerprint is None else fingerprint,
        )

    def check(
        self, when: datetime | None = None, fingerprint: Mapping[str, bytes] | None = None
    ) -> licverify.License:
        """The application's check: the installed license, verified here and now."""
        return self.store.check(
            trusted_roots=self.vendor.roots,
            product=PRODUCT,
            now=self._when(when),
            fingerprint=self.fp if fingerprint is None else fingerprint,
        )

    def activate(
        self,
        lic: IssuedLicense | None = None,
        when: datetime | None = None,
        user: str | None = None,
        code: str | None = None,
    ) -> Granted:
        """Import (if given), request (for ``user``, with their activation ``code``), have the
        vendor grant it, install."""
        if lic is not None:
            self.import_license(lic, when)
        granted = self.vendor.activate(self.request(when, user=user, code=code), when)
        self.install(granted.response, when)
        return granted

    def deactivate(self, when: datetime | None = None) -> bytes:
        """Deactivate here; return the receipt (armored) for the vendor."""
        return self.store.deactivate(now=self._when(when))

    def snapshot(self) -> dict[str, tuple[bytes, int, int, int]]:
        """Every file of the store (see ``snapshot``)."""
        return snapshot(self.path)


# --- both command lines --------------------------------------------------------------------------


class Site:
    """The vendor's workspace and the customers' machines, driven through the two CLIs in-process.

    Build one with ``Site.create`` (the ``site`` fixture does), or with
    ``Site.isolated`` where the test runs ``licsign init`` itself. Without
    ``capsys`` (e.g. in a module-scoped fixture) output is captured by
    redirecting ``sys.stdout`` and ``sys.stderr``.

    Attributes:
        tmp: the test's directory (and the working directory, once created).
        home: the workspace, ``tmp/ws`` unless given.
        trust: the exported root public key, ``tmp/root.pem`` unless given.
        licenses: the JSON terms of every license issued through ``issue_with``, by file name.
    """

    def __init__(
        self,
        capsys: Any | None,
        tmp: Path,
        *,
        home: Path | None = None,
        trust: Path | None = None,
        ledger_url: str | None = None,
    ) -> None:
        self.capsys, self.tmp, self.ledger_url = capsys, tmp, ledger_url
        self.home = tmp / "ws" if home is None else home
        self.trust = tmp / "root.pem" if trust is None else trust
        self.licenses: dict[str, dict[str, Any]] = {}

    @classmethod
    def create(
        cls,
        patch: pytest.MonkeyPatch,
        tmp: Path,
        capsys: Any | None = None,
        *,
        home: Path | None = None,
        trust: Path | None = None,
        passphrase: str = CLI_PASSPHRASE,
        customer_env: bool = True,
        init_options: Sequence[str] = (),
        product_options: Sequence[str] = (),
        customer_options: Sequence[str] = (),
        ledger_url: str | None = None,
    ) -> Site:
        """A new workspace with product ``PRODUCT`` and customer ``CUSTOMER``; its root key exported.

        Args:
            patch: sets the environment (see ``isolate``) until its test (or context) ends.
            tmp: the test's directory.
            capsys: pytest's capture fixture, or None (see the class).
            home: the workspace directory (default ``tmp/ws``).
            trust: where to export the root public key (default ``tmp/root.pem``).
            passphrase: the vendor's passphrase, from the environment.
            customer_env: whether licverify gets the trust root and the product
                from the environment (``use_customer_env``).
            init_options: more ``licsign init`` options.
            product_options: more ``licsign product add`` options.
            customer_options: more ``licsign customer add`` options.
            ledger_url: a PostgreSQL database for the ledger, given to licsign
                through ``LICSIGN_LEDGER`` (None: SQLite in the workspace).

        Returns:
            The site.
        """
        site = cls.isolated(
            patch, tmp, capsys, home=home, trust=trust, passphrase=passphrase, ledger_url=ledger_url
        )
        site.vendor_ok("init", "--vendor", VENDOR_NAME, *init_options)
        site.vendor_ok("product", "add", PRODUCT, *product_options)
        site.vendor_ok("customer", "add", CUSTOMER, *customer_options)
        site.vendor_ok("key", "export-public", "-o", str(site.trust))
        if customer_env:
            site.use_customer_env(patch)
        return site

    @classmethod
    def isolated(
        cls,
        patch: pytest.MonkeyPatch,
        tmp: Path,
        capsys: Any | None = None,
        *,
        home: Path | None = None,
        trust: Path | None = None,
        passphrase: str | None = None,
        ledger_url: str | None = None,
    ) -> Site:
        """A site whose workspace does not exist yet: the environment set (``isolate``), nothing run.

        For the tests that run (or break) ``licsign init`` themselves; the
        arguments are those of ``create``, but the passphrase: none unless given.
        """
        site = cls(capsys, tmp, home=home, trust=trust, ledger_url=ledger_url)
        site.isolate(patch, passphrase)
        return site

    def isolate(self, patch: pytest.MonkeyPatch, passphrase: str | None = None) -> None:
        """Let both command lines see this site only (undone by ``patch``).

        Every ``LICSIGN_*`` and ``LICVERIFY_*`` variable is removed (but
        ``LICSIGN_TEST_*``, the test run's own settings), then the
        workspace (``home``) and the passphrase (if given) are set; default
        state directories land under ``tmp/data``, never in the real home; the
        working directory is ``tmp``.
        """
        import platformdirs

        for name in list(os.environ):
            if name.startswith(ENV_PREFIXES) and not name.startswith(TEST_RUN_PREFIX):
                patch.delenv(name)
        patch.setenv(HOME_ENV, str(self.home))
        if self.ledger_url is not None:
            patch.setenv(LEDGER_ENV, self.ledger_url)
        if passphrase is not None:
            patch.setenv(PASSPHRASE_ENV, passphrase)
        tmp = self.tmp
        patch.setattr(
            platformdirs,
            "user_data_dir",
            lambda appname=None, appauthor=None, *a, **k: str(tmp / "data" / str(appname)),
        )
        patch.chdir(tmp)

    def use_customer_env(self, patch: pytest.MonkeyPatch) -> None:
        """licverify's trust root (``trust``) and product (``PRODUCT``) from the environment."""
        patch.setenv(lvcli.TRUST_ENV, str(self.trust))
        patch.setenv(lvcli.PRODUCT_ENV, PRODUCT)

    # the vendor: licsign

    def licsign(self, *args: str) -> Result:
        """Run ``licsign ARGS``; its exit status and output (never a traceback)."""
        return run_entry(self.capsys, licsign_main, args)

    def licsign_bytes(self, capsysbinary: Any, *args: str) -> tuple[int, bytes, bytes]:
        """Run ``licsign ARGS`` for the bytes it writes (``issue --binary -o -``).

        Output is captured by ``capsysbinary``, which a test cannot have beside
        ``capsys``: such a site is made without ``capsys``.

        Returns:
            The exit status, stdout and stderr (never a traceback).
        """
        capsysbinary.readouterr()
        code = _exit_status(licsign_main, args)
        out, err = capsysbinary.readouterr()
        assert b"Traceback" not in out + err
        assert isinstance(code, int)
        return code, out, err

    def vendor_ok(self, *args: str) -> Result:
        """Run ``licsign ARGS``, which must succeed."""
        result = self.licsign(*args)
        assert result.code == 0, result
        return result

    def issue(self, name: str, *args: str) -> str:
        """Issue an activation-required perpetual license to ``tmp/name``; return its id."""
        return str(
            self.issue_with(name, "--type", "perpetual", "--require-activation", *args)["id"]
        )

    def issue_with(self, name: str, *args: str, product: str | None = PRODUCT) -> dict[str, Any]:
        """Issue a license to ``CUSTOMER`` with options ``args`` to ``tmp/name``.

        Args:
            name: the file name; the terms are kept in ``licenses[name]``.
            *args: the other ``licsign issue`` options.
            product: the product, or None when ``args`` name it.

        Returns:
            The license's terms (``licsign issue --json``).
        """
        chosen = () if product is None else ("--product", product)
        out = self.vendor_ok(
            "issue", *chosen, "--customer", CUSTOMER, *args, "-o", str(self.tmp / name), "--json"
        ).out
        self.licenses[name] = json.loads(out)
        return self.licenses[name]

    def ledger(self) -> object:
        """The ledger's state, to show that a refusal changed nothing: the SQLite
        file's bytes, or every row of a PostgreSQL ledger."""
        if self.ledger_url is None:
            return (self.home / "ledger.sqlite3").read_bytes()
        return self.vendor.ledger_dump()

    @property
    def vendor(self) -> Vendor:
        """This workspace as a library-level ``Vendor``, not opened: for its ledger reads."""
        return Vendor(self.home, self.tmp, ledger_url=self.ledger_url)

    # the customers: licverify

    def licverify(self, *args: str) -> Result:
        """Run ``licverify ARGS``; its exit status and output (never a traceback)."""
        return run_entry(self.capsys, lvcli.main, args)

    def check(self, name: str, *args: str) -> Result:
        """``licverify check tmp/name`` with the trust root and the product on the command line."""
        return self.licverify(
            "check", str(self.tmp / name), "--trust", str(self.trust), "--product", PRODUCT, *args
        )

    def machine(self, name: str) -> CliMachine:
        """A customer machine (see ``CliMachine``)."""
        return CliMachine(self, name)

    @property
    def root(self) -> bytes:
        """The root public key, as exported to ``trust``."""
        return licverify.load_public_keys(self.trust.read_bytes())[0]


class CliMachine:
    """A customer machine on the command line: a state directory and a machine id.

    Both are given to every licverify run, except the machine id to
    ``deactivate`` (which takes none).

    Attributes:
        state: the state directory, ``tmp/state-NAME``.
        machine_id: ``id-NAME``.
    """

    def __init__(self, site: Site, name: str) -> None:
        self.site, self.name = site, name
        self.state = site.tmp / f"state-{name}"
        self.machine_id = f"id-{name}"

    def argv(self, command: str, *args: str) -> list[str]:
        """The licverify arguments that run ``command ARGS`` on this machine."""
        return [command, *args, "--state-dir", str(self.state), *self.machine_args(command)]

    def machine_args(self, command: str) -> list[str]:
        return [] if command == "deactivate" else ["--machine-id", self.machine_id]

    def __call__(self, command: str, *args: str) -> Result:
        """Run ``licverify COMMAND ARGS`` on this machine."""
        return self.site.licverify(*self.argv(command, *args))

    def ok(self, command: str, *args: str) -> Result:
        """As a call, and it must succeed."""
        result = self(command, *args)
        assert result.code == 0, result
        return result

    def path(self, name: str) -> Path:
        """A file of this machine's, outside its state directory: ``tmp/NAME-name``."""
        return self.site.tmp / f"{self.name}-{name}"

    def unsafe_request(self, **fields: Any) -> Path:
        """A request made through the store itself, written to ``tmp/request-NAME.txt``.

        The CLI refuses some labels, users and codes; a customer need not use
        the CLI. ``fields`` go to ``LocalStore.request`` (label: the machine's
        name unless given).
        """
        fields.setdefault("label", self.name)
        data = LocalStore(str(self.state)).request(
            now=datetime.now(timezone.utc),
            fingerprint=machine_fingerprint(PRODUCT, machine_id=self.machine_id),
            **fields,
        )
        path = self.site.tmp / f"request-{self.name}.txt"
        path.write_bytes(data)
        return path


# --- what a command-line run must look like ------------------------------------------------------


def error_line(result: Result, prog: str, code: int) -> str:
    """Exit ``code``, nothing on stdout, exactly one line on stderr starting with ``prog:``."""
    assert result.code == code, result
    assert result.out == ""
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"{prog}: ")
    return result.err


def error_line_after_progress(result: Result, prog: str, code: int) -> str:
    """As ``error_line``, past licsign's progress lines on stderr (``... opening the root key``).

    Returns:
        The one error line, without its newline.
    """
    assert result.code == code, result
    assert result.out == ""
    lines = [line for line in result.err.splitlines() if not line.startswith("... ")]
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"{prog}: "), result.err
    return lines[0]


def usage_line(result: Result, prog: str = "licverify") -> str:
    """Exit 2, nothing on stdout, exactly one ``prog: error: ...`` line on stderr."""
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith(f"{prog}: error: ")
    return result.err


def verdict_line(result: Result, code: str) -> str:
    """Exit 1, nothing on stderr, exactly one ``NOT VALID: code: ...`` line on stdout."""
    assert result.code == 1, result
    assert result.err == ""
    assert result.out.count("\n") == 1, result.out
    assert result.out.startswith(f"NOT VALID: {code}: ")
    return result.out
