"""A vendor workspace: the ledger, the root key and the issuing keys (docs/issuer.md).

Layout under the workspace directory (0700; the ledger and keys 0600)::

    workspace.json            vendor name, format version
    ledger.sqlite3            the ledger
    ledger-head.json          the ledger's newest event this workspace saw (HMAC)
    keys/ledger-head.key      the key of that HMAC (random, 0600)
    keys/root.key             root key (encrypted): the first root, which
                              applications pin
    keys/root-<id>.key        later roots (encrypted), after 'key rotate-root'
    keys/root-<id>.rollover   the previous root's rollover vouching for each (armored)
    keys/issuing-<id>.key     issuing keys (encrypted)
    keys/issuing-<id>.cert    their certificates (armored)
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import nacl.signing

from licsign._errors import InvalidInputError, NotFoundError, WorkspaceError
from licsign._files import read_regular_file, restrict_mode, write_atomic
from licsign._keyfile import (
    PassphraseSource,
    check_new_passphrase,
    new_signing_key,
    read_key_file,
    read_public_key,
    write_key_file,
)
from licsign._ledger import HeadFile, KeyRecord, Ledger, postgres_url, redact_url
from licsign._validation import vendor_name
from licverify._fileio import fsync_directory
from licverify._time import MAX_TIMESTAMP, from_timestamp, to_timestamp
from licverify.cliutil import Duration
from licverify.format import (
    ISSUING_CERTIFICATE,
    MAX_ROLLOVERS,
    ROOT_ROLLOVER,
    IssuingCertificate,
    RootRollover,
    armor,
    encode_certificate_payload,
    encode_rollover_payload,
    encode_sign1,
    key_id,
    parse_unverified,
)

WORKSPACE_FORMAT = "licsign-workspace-v1"
DEFAULT_ISSUING_VALIDITY = Duration(months=36)


class Workspace:
    """An initialized workspace directory.

    Args:
        home: the workspace directory.

    Args:
        home: the workspace directory.
        ledger: a ``postgresql://`` URL of a shared ledger, overriding the one the
            workspace file names (if any).

    Raises:
        WorkspaceError: ``home`` is not an initialized workspace, or ``ledger``
            is not a PostgreSQL URL.
    """

    def __init__(self, home: str, ledger: str | None = None) -> None:
        self.home = os.path.abspath(home)
        self.config = _read_config(os.path.join(self.home, "workspace.json"), self.home)
        # Workspaces made before 0700 was enforced are tightened, not refused.
        restrict_mode(self.home, 0o700, "workspace directory")
        shared = ledger or self.config.get("ledger")
        #: Where the ledger lives: ``ledger`` if given, else the workspace file's
        #: ``ledger`` URL (a shared PostgreSQL ledger), else ``ledger.sqlite3`` here.
        self.ledger_location = (
            postgres_url(shared) if shared else os.path.join(self.home, "ledger.sqlite3")
        )
        self._ledger: Ledger | None = None

    @property
    def vendor(self) -> str:
        """Vendor name written as the issuer of every license."""
        return str(self.config.get("vendor", "licsign"))

    @property
    def ledger(self) -> Ledger:
        """The ledger, opened on first use."""
        if self._ledger is None:
            self._ledger = Ledger(self.ledger_location)
            self._ledger.anchor = self.head_file
        return self._ledger

    @property
    def head_file(self) -> HeadFile:
        """Where this workspace keeps the ledger's chain head it last saw, signed
        (``ledger-head.json``; docs/adr/0018-ledger-integrity.md)."""
        shared = self.ledger_location != os.path.join(self.home, "ledger.sqlite3")
        return HeadFile(self.home, redact_url(self.ledger_location) if shared else "ledger.sqlite3")

    def migrate_ledger(self) -> list[int]:
        """Apply the ledger's missing migrations; return their numbers (none: up to date)."""
        self.close()
        ledger = Ledger(self.ledger_location, migrate=True)
        ledger.anchor = self.head_file
        self._ledger = ledger
        return ledger.applied

    def close(self) -> None:
        """Close the ledger."""
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    @property
    def root_key_path(self) -> str:
        """Path of the encrypted current root key (the newest active root; format §6.5)."""
        roots = self.root_records()
        current = next((r for r in reversed(roots) if r.status == "active"), None)
        if current is None or current.certificate is None:
            return os.path.join(self.home, "keys", "root.key")
        return os.path.join(self.home, "keys", f"root-{current.key_id}.key")

    def root_records(self) -> list[KeyRecord]:
        """The ledger's root keys, oldest (the one applications pin) first."""
        return [k for k in reversed(self.ledger.keys()) if k.role == "root"]

    def root_public_keys(self) -> list[bytes]:
        """Every root public key this workspace has had, oldest first (format §6.5)."""
        return [r.public_key for r in self.root_records()] or [self.root_public_key()]

    def rollovers_for(self, certificate: bytes) -> tuple[bytes, ...]:
        """The root rollovers leading from the first root to the one that signed ``certificate``.

        At most ``MAX_ROLLOVERS``, the newest: an application pinning only a
        root older than that needs a release with a newer root.
        """
        signer = parse_unverified(certificate).kid.hex()
        chain = []
        for root in self.root_records():
            if root.certificate is not None:
                chain.append(root.certificate)
            if root.key_id == signer:
                return tuple(chain[-MAX_ROLLOVERS:])
        raise WorkspaceError(f"a certificate is signed by root {signer}, which the ledger lacks")

    def issuing_key_path(self, kid_hex: str) -> str:
        """Path of an encrypted issuing key."""
        return os.path.join(self.home, "keys", f"issuing-{kid_hex}.key")

    def root_public_key(self) -> bytes:
        """The first root public key (the trust anchor applications pin; ``keys/root.key``)."""
        return read_public_key(os.path.join(self.home, "keys", "root.key"))

    def new_issuing_key(
        self,
        root_passphrase: PassphraseSource,
        new_passphrase: bytes,
        *,
        now: datetime,
        validity: timedelta | Duration = DEFAULT_ISSUING_VALIDITY,
        products: list[str] | None = None,
        kdf: dict[str, int] | None = None,
    ) -> IssuingCertificate:
        """Create an issuing key, certify it with the root key and record both.

        ``validity`` in months or years is calendar arithmetic from ``now``.

        Raises:
            InvalidInputError: ``new_passphrase`` is shorter than 12 characters or
                not UTF-8; the validity is not positive or ends after 9999.
            WrongPassphraseError: the root passphrase is wrong.
            NotFoundError: a product in ``products`` is unknown.
        """
        at = to_timestamp(now)
        not_after = issuing_key_end(at, validity)
        check_new_passphrase(new_passphrase)
        for product in products or ():
            self.ledger.product(product)
        root = read_key_file(self.root_key_path, "root", root_passphrase)
        return _certify_new_key(self, root, new_passphrase, at, not_after, products, kdf)

    def roll_root(
        self,
        root_passphrase: PassphraseSource,
        new_passphrase: bytes,
        *,
        now: datetime,
        kdf: dict[str, int] | None = None,
    ) -> RootRollover:
        """Create a new root; the current root signs a rollover vouching for it and retires.

        The new root certifies issuing keys from now on; documents signed
        under it carry the rollovers, so applications pinning an older root
        accept them (format §6.5).

        Raises:
            InvalidInputError: ``new_passphrase`` is too short or not UTF-8.
            WrongPassphraseError: the current root's passphrase is wrong.
        """
        at = to_timestamp(now)
        check_new_passphrase(new_passphrase)
        old = read_key_file(self.root_key_path, "root", root_passphrase)
        old_id = key_id(bytes(old.verify_key))
        new = new_signing_key()
        rollover = RootRollover(bytes(new.verify_key), old_id, at)
        document = encode_sign1(
            ROOT_ROLLOVER,
            old_id,
            encode_rollover_payload(rollover),
            lambda m: old.sign(m).signature,
        )
        kid = rollover.key_id.hex()
        write_key_file(
            os.path.join(self.home, "keys", f"root-{kid}.key"), new, "root", new_passphrase,
            **_kdf_args(kdf),
        )  # fmt: skip
        write_atomic(
            os.path.join(self.home, "keys", f"root-{kid}.rollover"), armor(document, ROOT_ROLLOVER)
        )
        with self.ledger.transaction():
            self.ledger.add_key(at, kid, "root", rollover.public_key, document)
            self.ledger.set_key_status(at, old_id.hex(), "retired")
        return rollover

    def issuing_signer(
        self, product: str, at: int, passphrase: PassphraseSource
    ) -> tuple[nacl.signing.SigningKey, bytes, str, tuple[bytes, ...]]:
        """The signing key, certificate bytes, key id and root rollovers to issue for
        ``product`` at ``at``.

        Raises:
            NotFoundError: no active issuing key is valid now for this product.
        """
        row = self.ledger.issuing_key_for(product, at)
        if row is None:
            raise NotFoundError(
                f"no issuing key is valid now for product {product!r}; "
                "create one with 'licsign key new-issuing'"
            )
        key = read_key_file(self.issuing_key_path(row.key_id), "issuing", passphrase)
        if bytes(key.verify_key) != row.public_key or row.certificate is None:
            raise WorkspaceError(f"issuing key file {row.key_id} does not match the ledger")
        return key, row.certificate, row.key_id, self.rollovers_for(row.certificate)


def _certify_new_key(
    ws: Workspace,
    root: nacl.signing.SigningKey,
    passphrase: bytes,
    at: int,
    not_after: int,
    products: list[str] | None,
    kdf: dict[str, int] | None,
) -> IssuingCertificate:
    issuing = new_signing_key()
    root_public = bytes(root.verify_key)
    certificate = IssuingCertificate(
        bytes(issuing.verify_key),
        not_before=at,
        not_after=not_after,
        issued_at=at,
        products=None if not products else tuple(products),
        root_key_id=key_id(root_public),
    )
    document = encode_sign1(
        ISSUING_CERTIFICATE,
        key_id(root_public),
        encode_certificate_payload(certificate),
        lambda message: root.sign(message).signature,
    )
    kid = certificate.key_id.hex()
    write_key_file(ws.issuing_key_path(kid), issuing, "issuing", passphrase, **_kdf_args(kdf))
    write_atomic(
        os.path.join(ws.home, "keys", f"issuing-{kid}.cert"), armor(document, ISSUING_CERTIFICATE)
    )
    with ws.ledger.transaction():
        ws.ledger.add_key(
            at, kid, "issuing", certificate.public_key, document,
            certificate.not_before, certificate.not_after, products or None,
        )  # fmt: skip
    return certificate


def issuing_key_end(at: int, validity: timedelta | Duration) -> int:
    """End of an issuing key's validity starting at ``at`` (calendar months, then seconds).

    Raises:
        InvalidInputError: the validity is not positive or reaches past 9999.
    """
    try:
        end = to_timestamp(Duration.of(validity).add_to(from_timestamp(at)))
    except ValueError:
        raise InvalidInputError("issuing key validity reaches past the year 9999") from None
    if end <= at:
        raise InvalidInputError("issuing key validity must be positive")
    if end > MAX_TIMESTAMP:
        raise InvalidInputError("issuing key validity reaches past the year 9999")
    return end


def _kdf_args(kdf: dict[str, int] | None) -> dict[str, Any]:
    if not kdf:
        return {}
    return {"kdf_ops": kdf.get("ops"), "kdf_memory": kdf.get("memory")}


def init_workspace(
    home: str,
    passphrase: bytes,
    *,
    now: datetime,
    vendor: str = "licsign",
    issuing_validity: timedelta | Duration = DEFAULT_ISSUING_VALIDITY,
    kdf: dict[str, int] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    ledger: str | None = None,
) -> Workspace:
    """Create a workspace: ledger, root key, first issuing key and its certificate.

    All or nothing: the workspace is built in a temporary sibling directory
    (0700) and renamed to ``home`` at the end, so an interrupted init leaves
    ``home`` as it was (absent, or empty) and can simply be run again.

    Args:
        home: directory to create (or an empty existing one, which is replaced
            by the new 0700 directory; a symbolic link to one is followed).
        passphrase: protects both keys; at least 12 characters of UTF-8 text.
        now: creation time (issuing key validity starts here).
        vendor: name written as the issuer of licenses.
        issuing_validity: how long the first issuing key may sign.
        kdf: Argon2id cost override (``{"ops": n, "memory": bytes}``); the
            key file loader refuses anything below the project's floor.
        progress: called with a short message before each slow step.
        ledger: a ``postgresql://`` URL of an empty database to hold the
            ledger (shared by several desks) instead of ``ledger.sqlite3`` in
            the workspace; recorded in the workspace file without its password.

    Raises:
        WorkspaceError: ``home`` already holds a workspace or other files.
        InvalidInputError: a bad vendor name, passphrase or validity.
    """
    at = to_timestamp(now)
    not_after = issuing_key_end(at, issuing_validity)
    home = os.path.abspath(home)
    target = _new_home(home)
    ledger = None if ledger is None else postgres_url(ledger)
    vendor_name(vendor)
    check_new_passphrase(passphrase)
    parent = os.path.dirname(target)
    prefix = f".{os.path.basename(target)}.init-"
    try:
        os.makedirs(parent, exist_ok=True)
        _remove_leftovers(parent, prefix)
        building = tempfile.mkdtemp(prefix=prefix, dir=parent)
    except OSError as exc:
        raise WorkspaceError(f"cannot create {home}: {exc.strerror}") from None
    try:
        _build_workspace(building, passphrase, (at, not_after), vendor, kdf, progress, ledger)
        _move_into_place(building, target, home)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return Workspace(home, ledger)


def _read_config(path: str, home: str) -> dict[str, Any]:
    """The workspace file, checked: a JSON object of this format, its ``ledger`` text if any."""
    if not os.path.exists(path):
        raise WorkspaceError(f"{home} is not a licsign workspace; run 'licsign init' first")
    try:
        config = json.loads(read_regular_file(path, 65536, "workspace file"))
    except (ValueError, InvalidInputError) as exc:
        raise WorkspaceError(f"workspace file is damaged: {exc}") from None
    if not isinstance(config, dict) or not isinstance(config.get("ledger", ""), str):
        raise WorkspaceError(f"workspace file {path!r} is damaged: not a licsign workspace file")
    if config.get("format") != WORKSPACE_FORMAT:
        raise WorkspaceError("workspace was made by an incompatible licsign version")
    return config


def _new_home(home: str) -> str:
    """Where a new workspace goes (``home``, symbolic links resolved); refuse one in use."""
    target = os.path.realpath(home)
    if os.path.exists(os.path.join(target, "workspace.json")):
        raise WorkspaceError(f"{home} is already a licsign workspace")
    if os.path.lexists(target) and not os.path.isdir(target):
        raise WorkspaceError(f"{home} exists and is not a directory")
    if os.path.isdir(target) and os.listdir(target):
        raise WorkspaceError(f"{home} is not empty; choose a new directory")
    return target


def _remove_leftovers(parent: str, prefix: str) -> None:
    """Remove what a killed init left beside the workspace (never a half workspace).

    Two inits of the same directory at once are not supported: the one that
    loses its building directory here fails with one line and leaves nothing.
    """
    for name in os.listdir(parent):
        path = os.path.join(parent, name)
        if name.startswith(prefix) and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)


def _build_workspace(
    directory: str,
    passphrase: bytes,
    window: tuple[int, int],
    vendor: str,
    kdf: dict[str, int] | None,
    progress: Callable[[str], None],
    location: str | None,
) -> None:
    at, not_after = window
    os.mkdir(os.path.join(directory, "keys"), 0o700)
    ledger = Ledger(location or os.path.join(directory, "ledger.sqlite3"), create=True)
    try:
        progress("creating the root key (Argon2id, 256 MiB)")
        root = new_signing_key()
        write_key_file(
            os.path.join(directory, "keys", "root.key"), root, "root", passphrase, **_kdf_args(kdf)
        )
        root_public = bytes(root.verify_key)
        with ledger.transaction():
            if ledger.keys():  # another init got here first (a shared ledger)
                raise WorkspaceError(f"{ledger.location} already holds a licsign ledger")
            ledger.add_key(at, key_id(root_public).hex(), "root", root_public)
    finally:
        ledger.close()
    write_atomic(
        os.path.join(directory, "workspace.json"),
        (json.dumps(_workspace_config(vendor, location), indent=2) + "\n").encode(),
        mode=0o600,
    )
    ws = Workspace(directory, location)
    try:
        progress("creating the first issuing key and its certificate")
        _certify_new_key(ws, root, passphrase, at, not_after, None, kdf)
    finally:
        ws.close()  # before the rename: SQLite must not keep files open under the old name


def _workspace_config(vendor: str, location: str | None) -> dict[str, str]:
    config = {"format": WORKSPACE_FORMAT, "vendor": vendor}
    if location is not None:
        config["ledger"] = redact_url(location)  # passwords belong in ~/.pgpass, not here
    return config


def _move_into_place(building: str, target: str, home: str) -> None:
    """Rename the finished workspace to ``target``; an empty directory there is replaced."""
    try:
        try:
            os.rename(building, target)
        except OSError as exc:
            # Windows cannot rename over a directory; POSIX refuses a non-empty one.
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and os.path.isdir(target):
                if os.listdir(target):
                    raise WorkspaceError(f"{home} is not empty; choose a new directory") from None
                os.rmdir(target)
                os.rename(building, target)
            else:
                raise
    except OSError as exc:
        raise WorkspaceError(f"cannot create {home}: {exc.strerror}") from None
    fsync_directory(os.path.dirname(target))
