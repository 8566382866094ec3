"""Activation requests made here and still waiting for an answer (``pending.json``, format §12).

A request is signed by the device key and remembered by its nonce; only a
response to a remembered nonce is installed, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from licverify._activation import (
    NONCE_SIZE,
    ActivationRequest,
    encode_request_payload,
    license_digest,
)
from licverify._errors import StoreError
from licverify._kinds import ACTIVATION_REQUEST
from licverify._license import decode_license_payload
from licverify._store import device
from licverify._store.files import LICENSE, PENDING, StoreFiles
from licverify._verify import open_envelope

#: Requests a store remembers; older ones are forgotten (their answers refused).
MAX_PENDING = 16


def make_request(
    files: StoreFiles,
    *,
    at: int,
    fingerprint: Mapping[str, bytes],
    label: str,
    user: str | None,
    code: str | None,
    random_bytes: Callable[[int], bytes],
    lease: int | None = None,
) -> bytes:
    """Sign a request for the installed license and remember its nonce (under the lock).

    Returns the binary COSE document.

    Raises:
        StoreError: no license is installed, or a store file is damaged.
    """
    document = files._read(LICENSE)
    if document is None:
        raise StoreError("no license is installed; import one first (licverify import)")
    envelope, _ = open_envelope(document)
    terms = decode_license_payload(envelope.payload)
    key = device.load_or_create(files, random_bytes)
    nonce = random_bytes(NONCE_SIZE)
    request = ActivationRequest(
        code=code, created_at=at, device_key=key.public, fingerprint=dict(fingerprint),
        label=label, license_digest=license_digest(document), license_id=terms.id,
        nonce=nonce, product=terms.product, user=user, lease=lease,
    )  # fmt: skip
    signed = key.sign(ACTIVATION_REQUEST, encode_request_payload(request))
    _remember(files, nonce, terms.id, at)
    return signed


def load(files: StoreFiles) -> dict[str, dict[str, Any]]:
    """The pending requests by nonce (hex); empty if there are none.

    Raises:
        StoreError: ``pending.json`` is damaged.
    """
    raw = files._read(PENDING)
    if not raw:
        return {}
    import json  # here, not at the top: the application's check never loads json

    try:
        value = json.loads(raw)
    except ValueError:
        raise StoreError(f"{files._file(PENDING)} is damaged") from None
    if not isinstance(value, dict) or not all(
        isinstance(v, dict) and type(v.get("seq", 0)) is int for v in value.values()
    ):
        raise StoreError(f"{files._file(PENDING)} is damaged")
    return value


def forget(files: StoreFiles, nonce: bytes) -> None:
    """Drop the request with ``nonce`` (answered): its response is installed once."""
    pending = load(files)
    pending.pop(nonce.hex(), None)
    _save(files, pending)


def clear(files: StoreFiles) -> None:
    """Forget every request (a new license, or a new device key, makes them moot)."""
    files._write(PENDING, b"{}")


def _remember(files: StoreFiles, nonce: bytes, license_id: str, at: int) -> None:
    pending = load(files)
    # Order by a sequence number, not by time: clocks go back, times tie.
    seq = 1 + max((int(v.get("seq", 0)) for v in pending.values()), default=0)
    pending[nonce.hex()] = {"license": license_id, "created": at, "seq": seq}
    while len(pending) > MAX_PENDING:
        del pending[min(pending, key=lambda n: int(pending[n].get("seq", 0)))]
    _save(files, pending)


def _save(files: StoreFiles, pending: Mapping[str, Any]) -> None:
    import json

    files._write(PENDING, json.dumps(pending, sort_keys=True).encode())
