"""The installed activation and its end: install, check, deactivate (format §12).

``activation.cose`` holds the vendor's response; ``receipt.cose`` the last
deactivation receipt. Writing the receipt is the single commit point of a
deactivation (``receipt_for``): from then on the activation it names counts
as removed, and every locked operation first finishes the cleanup
(``finish_deactivation``) if it was cut short.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from licverify._activation import (
    NONCE_SIZE,
    ActivationResponse,
    DeactivationReceipt,
    decode_receipt_payload,
    decode_response_payload,
    encode_receipt_payload,
)
from licverify._errors import LicenseError, NotActivatedError, StoreError, WrongMachineError
from licverify._keys import TrustedRoots
from licverify._kinds import DEACTIVATION_RECEIPT
from licverify._store import device, pending
from licverify._store.files import ACTIVATION, LICENSE, RECEIPT, StoreFiles
from licverify._verify import License, open_envelope, verify_license


def installed(files: StoreFiles) -> bytes | None:
    """The installed activation response (binary), or None (also once deactivated)."""
    activation = files._read(ACTIVATION)
    return None if receipt_for(files, activation) is not None else activation


def last_receipt(files: StoreFiles) -> bytes | None:
    """The last deactivation receipt (binary), if one was ever made here."""
    return files._read(RECEIPT)


def receipt_for(
    files: StoreFiles, activation: bytes | None, response: ActivationResponse | None = None
) -> bytes | None:
    """The stored receipt if it names the installed ``activation`` (its id and device key).

    ``response`` is ``activation`` decoded already (verified by the caller), if it is.

    Writing the receipt is the single commit point of a deactivation
    (format §12): from then on the activation it names counts as removed,
    even if the cleanup after it (new device key, activation removed) was
    cut short, say by a full disk. The next locked operation finishes it.
    """
    if activation is None:
        return None
    raw = files._read(RECEIPT)
    if raw is None:
        return None
    if response is None:
        try:
            response = decode_response_payload(open_envelope(activation)[0].payload)
        except LicenseError:
            return None  # a damaged activation is refused by verification anyway
    names = _receipt_names(files, raw)
    return raw if names == (response.activation_id, response.device_key) else None


#: The activation id and device key each receipt read in this process names, by its exact
#: bytes: a machine that was ever deactivated keeps its last receipt, and the application's
#: check would otherwise decode it at every call (about 20 µs). Bounded; cleared when full.
_RECEIPTS: dict[bytes, tuple[str, bytes]] = {}
_RECEIPTS_MAX = 16


def _receipt_names(files: StoreFiles, raw: bytes) -> tuple[str, bytes]:
    """(activation id, device key) that the receipt ``raw`` names.

    Raises:
        StoreError: the receipt is damaged.
    """
    names = _RECEIPTS.get(raw)
    if names is None:
        try:
            receipt = decode_receipt_payload(open_envelope(raw)[0].payload)
        except LicenseError:
            raise StoreError(f"{files._file(RECEIPT)} is damaged") from None
        names = (receipt.activation_id, receipt.device_key)
        if len(_RECEIPTS) >= _RECEIPTS_MAX:
            _RECEIPTS.clear()
        _RECEIPTS[raw] = names
    return names


def finish_deactivation(files: StoreFiles, random_bytes: Callable[[int], bytes]) -> None:
    """Complete a deactivation whose receipt was written (idempotent; under the lock)."""
    if receipt_for(files, files._read(ACTIVATION)) is None:
        return
    # New key first, so the old response can never verify here again; the
    # activation goes last, so an interrupted cleanup is found and redone.
    device.replace(files, random_bytes)
    pending.clear(files)
    files._remove(ACTIVATION)


def install(
    files: StoreFiles,
    response: ActivationResponse,
    binary: bytes,
    *,
    roots: TrustedRoots,
    product: str,
    now: datetime,
    fingerprint: Mapping[str, bytes],
) -> License:
    """Install a response whose chain and signature verified (under the lock).

    Raises:
        LicenseError: see ``LocalStore.install``.
    """
    license_document = files._read(LICENSE)
    if license_document is None:
        raise StoreError("no license is installed; import it before the response")
    key = device.load(files)
    if key is None:
        raise NotActivatedError("this store never made a request; there is nothing to answer")
    if files._read(ACTIVATION) != binary:
        if response.nonce.hex() not in pending.load(files):
            raise NotActivatedError(
                "this response does not answer a request made here "
                "(made on another machine, already used, or superseded)"
            )
        if response.device_key != key.public:
            raise WrongMachineError("this response is for another device")
    # The full check: license, response for it, device key, machine, lease.
    lic = verify_license(
        license_document, trusted_roots=roots, product=product, now=now,
        fingerprint=fingerprint, activation=binary, device_key=key.public,
    )  # fmt: skip
    files._write(ACTIVATION, binary)
    pending.forget(files, response.nonce)
    return lic


def check(
    files: StoreFiles,
    *,
    trusted_roots: TrustedRoots | Any,
    product: str,
    now: datetime,
    fingerprint: Mapping[str, bytes],
    app_version: str | None,
    app_release_date: datetime | None,
) -> License:
    """The installed license, verified with the installed activation if any (no lock needed).

    Raises:
        LicenseError: not licensed here (``code`` says why).
    """
    license_document = files._read(LICENSE)
    if license_document is None:
        raise NotActivatedError("no license is installed on this machine")
    activation = files._read(ACTIVATION)
    device_key = None
    if activation is not None:
        device_key = device.public_key(files)
        if device_key is None:
            raise WrongMachineError("the device key is missing; this activation cannot be used")
    lic = verify_license(
        license_document, trusted_roots=trusted_roots, product=product, now=now,
        fingerprint=fingerprint, app_version=app_version, app_release_date=app_release_date,
        activation=activation, device_key=device_key,
    )  # fmt: skip
    if receipt_for(files, activation, lic.activation) is not None:
        # A deactivation cut short after its receipt was written (format §12).
        raise NotActivatedError(
            "this machine was deactivated (a receipt was made); request a new activation"
        )
    return lic


def deactivate(files: StoreFiles, at: int, random_bytes: Callable[[int], bytes]) -> bytes:
    """Sign a receipt for the installed activation, commit it, clean up (under the lock).

    Returns the binary receipt; without an activation, the last receipt made.

    Raises:
        StoreError: nothing is activated (and no receipt was ever made).
    """
    activation = files._read(ACTIVATION)
    if activation is None:
        receipt = files._read(RECEIPT)
        if receipt is not None:
            return receipt
        raise StoreError("this machine has no activation to deactivate")
    response = decode_response_payload(open_envelope(activation)[0].payload)
    key = device.load(files)
    if key is None:
        raise StoreError("the device key is missing; ask the vendor to reset this device")
    receipt_terms = DeactivationReceipt(
        activation_id=response.activation_id, created_at=at, device_key=key.public,
        license_digest=response.license_digest, license_id=response.license_id,
        nonce=random_bytes(NONCE_SIZE),
    )  # fmt: skip
    signed = key.sign(DEACTIVATION_RECEIPT, encode_receipt_payload(receipt_terms))
    # The receipt is the one commit point (format §12): once it is on disk
    # the activation it names is void, whatever happens next.
    files._write(RECEIPT, signed)
    finish_deactivation(files, random_bytes)
    return signed
