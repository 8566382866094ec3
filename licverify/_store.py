"""The local store: one directory per application (docs/format.md §12).

It holds the device key, the installed license, the installed activation
response, the nonces of requests still waiting for an answer, and the last
deactivation receipt. Every document is fully verified before anything is
written; writes are atomic (temp file, fsync, rename), files are 0600, and
a file lock serializes the application's processes.

The device key is not encrypted: whoever controls the machine controls the
key. It proves that requests and receipts come from one installation; it
cannot prove that a machine forgot an activation (docs/security.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

from licverify._activation import (
    NONCE_SIZE,
    ActivationRequest,
    DeactivationReceipt,
    decode_response_payload,
    encode_receipt_payload,
    encode_request_payload,
    license_digest,
)
from licverify._armor import armor
from licverify._cbor import MAX_DOCUMENT_SIZE
from licverify._cose import encode_sign1
from licverify._errors import NotActivated, StoreError, WrongMachine
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


class LocalStore:
    """An application's local licensing state in the directory ``path``.

    The directory is created (0700) on first write. Methods that take
    ``now`` never read the clock; ``fingerprint`` is this machine's
    (``machine_fingerprint(product)``).
    """

    def __init__(self, path: str) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError("path must be a directory path")
        self.path = os.path.abspath(os.fspath(path))

    # --- files --------------------------------------------------------------------------

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def _read(self, name: str) -> bytes | None:
        try:
            with open(self._file(name), "rb") as fh:
                data = fh.read(MAX_DOCUMENT_SIZE + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {self._file(name)}: {exc.strerror}") from None
        if len(data) > MAX_DOCUMENT_SIZE:
            raise StoreError(f"{self._file(name)} is larger than any licsign document")
        return data

    def _write(self, name: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.path)
        try:
            os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._file(name))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        fsync_directory(self.path)

    def _remove(self, name: str) -> None:
        try:
            os.unlink(self._file(name))
        except FileNotFoundError:
            return
        fsync_directory(self.path)

    @contextmanager
    def _locked(self, create: bool = False) -> Iterator[None]:
        if not create and not os.path.isdir(self.path):
            # Only importing a license starts a store; a failed command leaves no trace.
            raise StoreError(f"no licensing state in {self.path}; import a license first")
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
            fd = os.open(self._file(_LOCK), os.O_RDWR | os.O_CREAT, 0o600)
            fh = os.fdopen(fd, "r+b")
        except OSError as exc:
            raise StoreError(
                f"cannot use the state directory {self.path}: {exc.strerror}"
            ) from None
        try:
            _lock(fh)
            yield
        finally:
            fh.close()  # closing releases the lock

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
        with self._locked(create=True):
            return crypto_sign_seed_keypair(self._seed(random_bytes))[0]

    # --- documents ----------------------------------------------------------------------

    def installed_license(self) -> bytes | None:
        """The installed license document (binary), or None."""
        return self._read(_LICENSE)

    def installed_activation(self) -> bytes | None:
        """The installed activation response (binary), or None."""
        return self._read(_ACTIVATION)

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
        with self._locked():
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
        return verify_license(
            license_document, trusted_roots=trusted_roots, product=product, now=now,
            fingerprint=fingerprint, app_version=app_version, app_release_date=app_release_date,
            activation=activation, device_key=device_key,
        )  # fmt: skip

    def deactivate(
        self, *, now: datetime, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> bytes:
        """Remove the activation, rotate the device key, and return an armored receipt.

        The receipt is signed by the old device key and kept in the store until
        the next deactivation replaces it, so it can be written out again if it
        gets lost (calling this again without an activation returns it).
        After this, the old response can never be installed again.

        Raises:
            StoreError: nothing is activated (and no receipt is pending).
        """
        at = to_timestamp(now)
        with self._locked():
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
            # Receipt first, so it is never lost; then the new key, so the old
            # response can never verify here again; then the response itself.
            self._write(_RECEIPT, signed)
            self._write(_DEVICE_KEY, random_bytes(32))
            self._remove(_ACTIVATION)
            self._write(_PENDING, b"{}")
        return armor(signed, DEACTIVATION_RECEIPT)

    def pending_receipt(self) -> bytes | None:
        """The last deactivation receipt (armored), if one was ever made here."""
        data = self._read(_RECEIPT)
        return None if data is None else armor(data, DEACTIVATION_RECEIPT)

    def pending_requests(self) -> dict[str, dict[str, Any]]:
        """Nonces (hex) of requests still waiting for a response."""
        return self._pending()


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


def _lock(fh: Any) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)


__all__ = ["LocalStore"]
