"""The device key: this installation's Ed25519 key, kept as a 32-byte seed (format §12).

It signs activation requests and deactivation receipts. It is not
encrypted: whoever controls the machine controls the key. It proves that
requests and receipts come from one installation; it cannot prove that a
machine forgot an activation (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Callable

from nacl.bindings import crypto_hash_sha256, crypto_sign, crypto_sign_seed_keypair

from licverify._cose import encode_sign1
from licverify._errors import StoreError
from licverify._keys import key_id
from licverify._kinds import Kind
from licverify._store.files import DEVICE_KEY, StoreFiles

_SEED_SIZE = 32
#: Device public keys derived in this process, by the SHA-256 of their seed (the seed
#: itself is not kept): the application's check compares the installed activation's
#: device key with this one at every call, and deriving it costs about 20 µs. Bounded.
_PUBLIC: dict[bytes, bytes] = {}
_PUBLIC_MAX = 16


class DeviceKey:
    """The key pair derived from a device key seed."""

    __slots__ = ("_secret", "public")

    def __init__(self, seed: bytes) -> None:
        self.public, self._secret = crypto_sign_seed_keypair(seed)

    def sign(self, kind: Kind, payload: bytes) -> bytes:
        """A COSE_Sign1 document of ``kind`` over ``payload``, signed with this key."""
        secret = self._secret
        return encode_sign1(
            kind, key_id(self.public), payload, lambda m: crypto_sign(m, secret)[:64]
        )


def load_or_create(files: StoreFiles, random_bytes: Callable[[int], bytes]) -> DeviceKey:
    """The device key, created on first use (call under the lock).

    Raises:
        StoreError: the stored key is damaged.
    """
    seed = files._read(DEVICE_KEY)
    if seed is None:
        seed = random_bytes(_SEED_SIZE)
        files._write(DEVICE_KEY, seed)
    if len(seed) != _SEED_SIZE:
        raise StoreError(f"device key in {files.path} is damaged")
    return DeviceKey(seed)


def load(files: StoreFiles) -> DeviceKey | None:
    """The device key, or None if there is none or it is damaged (never creates one)."""
    seed = files._read(DEVICE_KEY)
    return None if seed is None or len(seed) != _SEED_SIZE else DeviceKey(seed)


def public_key(files: StoreFiles) -> bytes | None:
    """The device public key, or None if there is none or it is damaged (as ``load``);
    derived once per process for each seed."""
    seed = files._read(DEVICE_KEY)
    if seed is None or len(seed) != _SEED_SIZE:
        return None
    digest = crypto_hash_sha256(seed)
    public = _PUBLIC.get(digest)
    if public is None:
        public = crypto_sign_seed_keypair(seed)[0]
        if len(_PUBLIC) >= _PUBLIC_MAX:
            _PUBLIC.clear()
        _PUBLIC[digest] = public
    return public


def replace(files: StoreFiles, random_bytes: Callable[[int], bytes]) -> None:
    """Put a new device key in place: nothing signed for the old one verifies here again."""
    files._write(DEVICE_KEY, random_bytes(_SEED_SIZE))
