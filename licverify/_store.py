"""The local store: one directory per application (docs/format.md §12).

It holds the device key, the installed license, the installed activation
response, the nonces of requests still waiting for an answer, and the last
deactivation receipt. Every document is fully verified before anything is
written; writes are atomic (temp file, fsync, rename), files are 0600, and
a file lock serializes the application's processes. Only regular files are
read, never through a symbolic link and never more than one document; the
directory must not be writable by others (format §12.1). A deactivation
commits when its receipt is written (``_receipt_for``).

The device key is not encrypted: whoever controls the machine controls the
key. It proves that requests and receipts come from one installation; it
cannot prove that a machine forgot an activation (docs/security.md).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

from licverify._activation import (
    NONCE_SIZE,
    ActivationRequest,
    DeactivationReceipt,
    decode_receipt_payload,
    decode_response_payload,
    encode_receipt_payload,
    encode_request_payload,
    license_digest,
)
from licverify._armor import armor
from licverify._cbor import MAX_DOCUMENT_SIZE
from licverify._cose import encode_sign1
from licverify._errors import LicenseError, NotActivated, StoreError, WrongMachine
from licverify._keys import TrustedRoots, key_id
from licverify._kinds import ACTIVATION_REQUEST, DEACTIVATION_RECEIPT
from licverify._license import decode_license_payload
from licverify._time import to_timestamp
from licverify._verify import (
    License,
    open_envelope,
    open_response,
    verify_license,
    verify_license_for_import,
)

_DEVICE_KEY = "device.key"
_LICENSE = "license.cose"
_ACTIVATION = "activation.cose"
_PENDING = "pending.json"
_RECEIPT = "receipt.cose"
_LOCK = ".lock"
#: Requests a store remembers; older ones are forgotten (their answers refused).
MAX_PENDING = 16
#: Flags for every file the store opens: never follow a symbolic link, never
#: block on a FIFO or device (the type is checked right after), never make a
#: terminal our controlling one (format §12).
_OPEN_FLAGS = (
    getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)  # fmt: skip
_POSIX = os.name == "posix"


class LocalStore:
    """An application's local licensing state in the directory ``path``.

    The directory is created (0700) on first write; an existing one that
    group or others can write, or that is a symbolic link, is refused
    (``StoreError``). Methods that take ``now`` never read the clock;
    ``fingerprint`` is this machine's (``machine_fingerprint(product)``).
    """

    def __init__(self, path: str) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("path must be a directory path")
        self.path = os.path.abspath(os.fspath(path))

    # --- files --------------------------------------------------------------------------

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def _read(self, name: str) -> bytes | None:
        """A store file's bytes, or None if it does not exist.

        Only a regular file is read, never through a symbolic link, and never
        more than one document's worth: a FIFO, device, directory or link in
        its place is refused at once instead of blocking or being followed.
        """
        path = self._file(name)
        try:
            fd = _open_regular(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            while size <= MAX_DOCUMENT_SIZE:
                chunk = os.read(fd, MAX_DOCUMENT_SIZE + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        if size > MAX_DOCUMENT_SIZE:
            raise StoreError(f"{path} is larger than any licsign document")
        return b"".join(chunks)

    def _write(self, name: str, data: bytes) -> None:
        path = self._file(name)
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.path)  # O_EXCL, 0600
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
        finally:
            if tmp is not None:
                with suppress(OSError):
                    os.unlink(tmp)
        fsync_directory(self.path)

    def _remove(self, name: str) -> None:
        try:
            os.unlink(self._file(name))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot remove {self._file(name)}: {exc.strerror or exc}") from None
        fsync_directory(self.path)

    def _check_directory(self) -> bool:
        """Whether the state directory exists; refuse one that is unsafe to use (format §12).

        The directory itself must not be a symbolic link (give the directory it
        points to), and on POSIX must not be writable by group or others: who
        can write there can swap the device key or the activation.
        """
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(
                f"cannot use the state directory {self.path}: {exc.strerror}"
            ) from None
        if stat.S_ISLNK(info.st_mode):
            raise StoreError(
                f"the state directory {self.path} is a symbolic link; "
                "use the directory it points to instead"
            )
        if not stat.S_ISDIR(info.st_mode):
            raise StoreError(f"the state directory {self.path} is not a directory")
        if _POSIX and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise StoreError(
                f"the state directory {self.path} is writable by other users; "
                f"make it private first: chmod 700 '{self.path}'"
            )
        return True

    def _create_directory(self) -> None:
        """Create the state directory 0700 (whatever the umask or default ACL says)."""
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            os.mkdir(self.path, 0o700)
            os.chmod(self.path, 0o700)
        except FileExistsError:
            pass  # made by another process meanwhile, or something else is there: checked below
        except OSError as exc:
            raise StoreError(
                f"cannot create the state directory {self.path}: {exc.strerror or exc}"
            ) from None
        if not self._check_directory():
            raise StoreError(f"cannot create the state directory {self.path}")

    @contextmanager
    def _locked(
        self, create: bool = False, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> Iterator[None]:
        if not self._check_directory():
            if not create:
                # Only importing a license starts a store; a failed command leaves no trace.
                raise StoreError(f"no licensing state in {self.path}; import a license first")
            self._create_directory()
        try:
            fd = _open_regular(self._file(_LOCK), os.O_RDWR | os.O_CREAT)
        except FileNotFoundError:
            raise StoreError(f"the state directory {self.path} disappeared") from None
        fh = os.fdopen(fd, "r+b")
        try:
            _lock(fh)
            self._finish_deactivation(random_bytes)
            yield
        finally:
            fh.close()  # closing releases the lock

    # --- deactivation ---------------------------------------------------------------------

    def _receipt_for(self, activation: bytes | None) -> bytes | None:
        """The stored receipt if it names the installed ``activation`` (its id and device key).

        Writing the receipt is the single commit point of a deactivation
        (format §12): from then on the activation it names counts as removed,
        even if the cleanup after it (new device key, activation removed) was
        cut short, say by a full disk. The next locked operation finishes it.
        """
        if activation is None:
            return None
        raw = self._read(_RECEIPT)
        if raw is None:
            return None
        try:
            response = decode_response_payload(open_envelope(activation)[0].payload)
        except LicenseError:
            return None  # a damaged activation is refused by verification anyway
        try:
            receipt = decode_receipt_payload(open_envelope(raw)[0].payload)
        except LicenseError:
            raise StoreError(f"{self._file(_RECEIPT)} is damaged") from None
        same = (
            receipt.activation_id == response.activation_id
            and receipt.device_key == response.device_key
        )
        return raw if same else None

    def _finish_deactivation(self, random_bytes: Callable[[int], bytes]) -> None:
        """Complete a deactivation whose receipt was written (idempotent; under the lock)."""
        if self._receipt_for(self._read(_ACTIVATION)) is None:
            return
        # New key first, so the old response can never verify here again; the
        # activation goes last, so an interrupted cleanup is found and redone.
        self._write(_DEVICE_KEY, random_bytes(32))
        self._write(_PENDING, b"{}")
        self._remove(_ACTIVATION)

    # --- device key -----------------------------------------------------------------------

    def _seed(self, random_bytes: Callable[[int], bytes]) -> bytes:
        seed = self._read(_DEVICE_KEY)
        if seed is None:
            seed = random_bytes(32)
            self._write(_DEVICE_KEY, seed)
        if len(seed) != 32:
            raise StoreError(f"device key in {self.path} is damaged")
        return seed

    def device_public_key(self, random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
        """This installation's device public key, creating the device key on first use."""
        with self._locked(create=True, random_bytes=random_bytes):
            return crypto_sign_seed_keypair(self._seed(random_bytes))[0]

    # --- documents ----------------------------------------------------------------------

    def installed_license(self) -> bytes | None:
        """The installed license document (binary), or None."""
        return self._read(_LICENSE) if self._check_directory() else None

    def installed_activation(self) -> bytes | None:
        """The installed activation response (binary), or None (also once deactivated)."""
        if not self._check_directory():
            return None
        activation = self._read(_ACTIVATION)
        return None if self._receipt_for(activation) is not None else activation

    def import_license(
        self,
        document: bytes,
        *,
        trusted_roots: TrustedRoots | Any,
        product: str,
        now: datetime,
        fingerprint: Mapping[str, bytes] | None = None,
    ) -> License:
        """Verify a license and install it (activation is checked later, by ``check``).

        Raises:
            LicenseError: the license does not verify, or an activation for
                another license is installed (deactivate it first).
        """
        lic = verify_license_for_import(
            document, trusted_roots=trusted_roots, product=product, now=now, fingerprint=fingerprint
        )
        with self._locked(create=True):
            current = self._read(_LICENSE)
            if current == lic.document:
                return lic
            activation = self._read(_ACTIVATION)
            if activation is not None and current is not None:
                raise StoreError(
                    "this machine holds an activation for the installed license; "
                    "deactivate it first (licverify deactivate)"
                )
            self._write(_LICENSE, lic.document)
            self._write(_PENDING, b"{}")
        return lic

    def request(
        self,
        *,
        now: datetime,
        fingerprint: Mapping[str, bytes],
        label: str,
        user: str | None = None,
        code: str | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> bytes:
        """Create an armored activation request for the installed license, signed by the device key."""
        at = to_timestamp(now)
        with self._locked(random_bytes=random_bytes):
            document = self._read(_LICENSE)
            if document is None:
                raise StoreError("no license is installed; import one first (licverify import)")
            envelope, _ = open_envelope(document)
            terms = decode_license_payload(envelope.payload)
            seed = self._seed(random_bytes)
            public, secret = crypto_sign_seed_keypair(seed)
            nonce = random_bytes(NONCE_SIZE)
            request = ActivationRequest(
                code=code, created_at=at, device_key=public, fingerprint=dict(fingerprint),
                label=label, license_digest=license_digest(document), license_id=terms.id,
                nonce=nonce, product=terms.product, user=user,
            )  # fmt: skip
            payload = encode_request_payload(request)
            signed = encode_sign1(
                ACTIVATION_REQUEST, key_id(public), payload, lambda m: crypto_sign(m, secret)[:64]
            )
            pending = self._pending()
            # Order by a sequence number, not by time: clocks go back, times tie.
            seq = 1 + max((int(v.get("seq", 0)) for v in pending.values()), default=0)
            pending[nonce.hex()] = {"license": terms.id, "created": at, "seq": seq}
            while len(pending) > MAX_PENDING:
                del pending[min(pending, key=lambda n: int(pending[n].get("seq", 0)))]
            self._write(_PENDING, json.dumps(pending, sort_keys=True).encode())
        return armor(signed, ACTIVATION_REQUEST)

    def _pending(self) -> dict[str, dict[str, Any]]:
        raw = self._read(_PENDING)
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise StoreError(f"{self._file(_PENDING)} is damaged") from None
        if not isinstance(value, dict) or not all(
            isinstance(v, dict) and type(v.get("seq", 0)) is int for v in value.values()
        ):
            raise StoreError(f"{self._file(_PENDING)} is damaged")
        return value

    def install(
        self,
        document: bytes,
        *,
        trusted_roots: TrustedRoots | Any,
        product: str,
        now: datetime,
        fingerprint: Mapping[str, bytes],
    ) -> License:
        """Verify an activation response for this store's request, device and machine; install it.

        Installing the response already installed is harmless.

        Raises:
            LicenseError: it does not verify, answers a request this store did
                not make (or made for another license), names another device or
                machine, or the license with it does not verify.
        """
        roots = TrustedRoots.coerce(trusted_roots)
        response, binary, _ = open_response(bytes(document), roots)
        with self._locked():
            license_document = self._read(_LICENSE)
            if license_document is None:
                raise StoreError("no license is installed; import it before the response")
            seed = self._read(_DEVICE_KEY)
            if seed is None or len(seed) != 32:
                raise NotActivated("this store never made a request; there is nothing to answer")
            public = crypto_sign_seed_keypair(seed)[0]
            if self._read(_ACTIVATION) != binary:
                pending = self._pending()
                if response.nonce.hex() not in pending:
                    raise NotActivated(
                        "this response does not answer a request made here "
                        "(made on another machine, already used, or superseded)"
                    )
                if response.device_key != public:
                    raise WrongMachine("this response is for another device")
            # The full check: license, response for it, device key, machine, lease.
            lic = verify_license(
                license_document, trusted_roots=roots, product=product, now=now,
                fingerprint=fingerprint, activation=binary, device_key=public,
            )  # fmt: skip
            self._write(_ACTIVATION, binary)
            pending = self._pending()
            pending.pop(response.nonce.hex(), None)
            self._write(_PENDING, json.dumps(pending, sort_keys=True).encode())
        return lic

    def check(
        self,
        *,
        trusted_roots: TrustedRoots | Any,
        product: str,
        now: datetime,
        fingerprint: Mapping[str, bytes],
        app_version: str | None = None,
        app_release_date: datetime | None = None,
    ) -> License:
        """The application's check: the installed license, with its activation if any.

        Raises:
            LicenseError: not licensed here (``code`` says why).
        """
        if not self._check_directory():
            raise NotActivated("no license is installed on this machine")
        license_document = self._read(_LICENSE)
        if license_document is None:
            raise NotActivated("no license is installed on this machine")
        activation = self._read(_ACTIVATION)
        device_key = None
        if activation is not None:
            seed = self._read(_DEVICE_KEY)
            if seed is None or len(seed) != 32:
                raise WrongMachine("the device key is missing; this activation cannot be used")
            device_key = crypto_sign_seed_keypair(seed)[0]
        lic = verify_license(
            license_document, trusted_roots=trusted_roots, product=product, now=now,
            fingerprint=fingerprint, app_version=app_version, app_release_date=app_release_date,
            activation=activation, device_key=device_key,
        )  # fmt: skip
        if self._receipt_for(activation) is not None:
            # A deactivation cut short after its receipt was written (format §12).
            raise NotActivated(
                "this machine was deactivated (a receipt was made); request a new activation"
            )
        return lic

    def deactivate(
        self, *, now: datetime, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> bytes:
        """Remove the activation, rotate the device key, and return an armored receipt.

        The receipt is signed by the old device key and kept in the store until
        the next deactivation replaces it, so it can be written out again if it
        gets lost (calling this again without an activation returns it).
        After this, the old response can never be installed again. Writing
        the receipt is the commit point: if a later step fails (a full
        disk), the machine already counts as deactivated and the next call
        finishes the cleanup and returns the same receipt.

        Raises:
            StoreError: nothing is activated (and no receipt is pending).
        """
        at = to_timestamp(now)
        # The lock finishes a deactivation cut short: then the receipt is returned again.
        with self._locked(random_bytes=random_bytes):
            activation = self._read(_ACTIVATION)
            if activation is None:
                pending_receipt = self._read(_RECEIPT)
                if pending_receipt is not None:
                    return armor(pending_receipt, DEACTIVATION_RECEIPT)
                raise StoreError("this machine has no activation to deactivate")
            envelope, _ = open_envelope(activation)
            response = decode_response_payload(envelope.payload)
            seed = self._read(_DEVICE_KEY)
            if seed is None or len(seed) != 32:
                raise StoreError("the device key is missing; ask the vendor to reset this device")
            public, secret = crypto_sign_seed_keypair(seed)
            receipt = DeactivationReceipt(
                activation_id=response.activation_id, created_at=at, device_key=public,
                license_digest=response.license_digest, license_id=response.license_id,
                nonce=random_bytes(NONCE_SIZE),
            )  # fmt: skip
            signed = encode_sign1(
                DEACTIVATION_RECEIPT, key_id(public), encode_receipt_payload(receipt),
                lambda m: crypto_sign(m, secret)[:64],
            )  # fmt: skip
            # The receipt is the one commit point (format §12): once it is on
            # disk the activation it names is void, whatever happens next.
            self._write(_RECEIPT, signed)
            self._finish_deactivation(random_bytes)
        return armor(signed, DEACTIVATION_RECEIPT)

    def pending_receipt(self) -> bytes | None:
        """The last deactivation receipt (armored), if one was ever made here."""
        data = self._read(_RECEIPT) if self._check_directory() else None
        return None if data is None else armor(data, DEACTIVATION_RECEIPT)

    def pending_requests(self) -> dict[str, dict[str, Any]]:
        """Nonces (hex) of requests still waiting for a response."""
        return self._pending() if self._check_directory() else {}


def fsync_directory(path: str) -> None:
    """Make a rename in ``path`` durable (best effort where directories cannot be fsync'd)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _open_regular(path: str, flags: int) -> int:
    """Open a store file: no symbolic link, no blocking, and only a regular file (format §12).

    Raises:
        FileNotFoundError: it does not exist (the caller decides what that means).
        StoreError: anything else in its place, or it cannot be opened.
    """
    if not hasattr(os, "O_NOFOLLOW"):  # Windows: look first (racy, the best there is)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise StoreError(_not_regular(path, stat.S_IFLNK))
        except FileNotFoundError:
            raise
        except OSError:
            pass
    try:
        fd = os.open(path, flags | _OPEN_FLAGS, 0o600)
    except FileNotFoundError:
        raise
    except OSError as exc:
        # ELOOP (EMLINK, EFTYPE on BSDs) for a link under O_NOFOLLOW, ENXIO for a
        # socket, EISDIR for a directory: say what is there, not the errno.
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):
            raise StoreError(_not_regular(path, mode)) from None
        raise StoreError(f"cannot open {path}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot open {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise StoreError(_not_regular(path, mode))
    return fd


def _not_regular(path: str, mode: int) -> str:
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))  # fmt: skip
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return (
        f"{path} is {kind}, not a regular file; the licensing state uses only regular files "
        "(move it away)"
    )


def _lock(fh: Any) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)


__all__ = ["LocalStore"]
