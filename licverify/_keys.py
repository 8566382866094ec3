"""Public keys: identifiers, sanity checks and the application's trust roots (format §6)."""

from __future__ import annotations

import binascii
from collections.abc import Iterable

from nacl.bindings import crypto_hash_sha256

from licverify._errors import UntrustedKeyError

__all__ = ["TrustedRoots", "check_public_key", "key_id", "load_public_keys", "public_key_pem"]

PUBLIC_KEY_SIZE = 32
KEY_ID_SIZE = 16

_P = 2**255 - 19
# y-coordinates of the 8 points of small order on edwards25519 (order 1, 2, 4, 8).
# Any key on this list lets a forger produce signatures that some libraries
# accept for every message; libsodium refuses them, and so do we, explicitly.
_SMALL_ORDER_Y = (
    0,
    1,
    _P - 1,
    2707385501144840649318225287225658788936804267575313519463743609750303402022,
    55188659117513257062467267217118295137698188065244968500265048394206261417927,
)
_SMALL_ORDER = frozenset(
    (y | (sign << 255)).to_bytes(32, "little") for y in _SMALL_ORDER_Y for sign in (0, 1)
)

# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4).
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def key_id(public_key: bytes) -> bytes:
    """The 16-byte key id of an Ed25519 public key: SHA-256 of the key, truncated.

    Key ids are hints for finding a key, never a substitute for it.
    """
    return crypto_hash_sha256(public_key)[:KEY_ID_SIZE]  # libsodium: hashlib costs ~4 ms to import


def check_public_key(public_key: object) -> bytes:
    """Return the key if it is a usable Ed25519 public key read from data.

    Rejects wrong sizes, non-canonical encodings (y ≥ p) and the small-order
    points (format §6.2).

    Raises:
        UntrustedKeyError: the key is unusable.
    """
    if type(public_key) is not bytes or len(public_key) != PUBLIC_KEY_SIZE:
        raise UntrustedKeyError("public key is not 32 bytes")
    if public_key in _SMALL_ORDER:
        raise UntrustedKeyError("public key is a small-order point")
    if int.from_bytes(public_key, "little") & ((1 << 255) - 1) >= _P:
        raise UntrustedKeyError("public key is not canonically encoded")
    return public_key


class TrustedRoots:
    """The root public keys an application trusts, indexed by key id.

    Build it once and reuse it: it checks each key on construction.

    Args:
        keys: 32-byte Ed25519 public keys. At least one.

    Raises:
        ValueError: no key given, or a key is malformed.
    """

    __slots__ = ("_by_id", "cache_key")

    def __init__(self, keys: Iterable[bytes]) -> None:
        if isinstance(keys, (bytes, bytearray, str)):
            raise TypeError("trusted roots must be an iterable of public keys, not one value")
        by_id: dict[bytes, bytes] = {}
        for key in keys:
            if not isinstance(key, (bytes, bytearray)):
                raise TypeError("each trusted root must be 32 bytes")
            key = bytes(key)
            try:
                check_public_key(key)
            except UntrustedKeyError as exc:
                raise ValueError(f"trusted root rejected: {exc}") from None
            by_id[key_id(key)] = key
        if not by_id:
            raise ValueError("trusted roots must hold at least one key")
        self._by_id = by_id
        #: The set of keys, hashable: what a verified certificate is remembered under.
        self.cache_key = frozenset(by_id.values())

    @classmethod
    def coerce(cls, value: TrustedRoots | Iterable[bytes]) -> TrustedRoots:
        """Return ``value`` if it already is a TrustedRoots, else build one."""
        return value if isinstance(value, TrustedRoots) else cls(value)

    def get(self, kid: bytes) -> bytes | None:
        """The trusted key with this key id, or None."""
        return self._by_id.get(kid)

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The trusted public keys."""
        return tuple(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        ids = ", ".join(k.hex() for k in self._by_id)
        return f"TrustedRoots([{ids}])"


def public_key_pem(public_key: bytes) -> str:
    """PEM SubjectPublicKeyInfo text for an Ed25519 public key (RFC 8410)."""
    b64 = binascii.b2a_base64(_SPKI_PREFIX + public_key, newline=False).decode()
    return f"-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n"


def load_public_keys(data: bytes) -> list[bytes]:
    """Parse public keys from the contents of a trust file.

    Accepts what ``licsign key export-public`` writes: raw (32 bytes), PEM
    (one or more ``PUBLIC KEY`` blocks) or Python source / hex text (every
    64-digit hex string is a key).

    Raises:
        ValueError: no key found, or a key is malformed.
    """
    import re

    if len(data) == PUBLIC_KEY_SIZE:
        keys = [data]  # raw; no text form of a key is exactly 32 bytes long
    elif b"-----BEGIN PUBLIC KEY-----" in data:
        keys = []
        blocks = re.findall(
            rb"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", data, re.DOTALL
        )
        for block in blocks:
            try:
                der = binascii.a2b_base64(b"".join(block.split()))
            except binascii.Error:
                raise ValueError("damaged PEM public key") from None
            if len(der) != 44 or not der.startswith(_SPKI_PREFIX):
                raise ValueError("PEM public key is not an Ed25519 key")
            keys.append(der[12:])
    else:
        keys = [
            bytes.fromhex(h.decode())
            for h in re.findall(rb"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])", data)
        ]
    if not keys:
        raise ValueError("no public key found (expected PEM, raw 32 bytes, or hex)")
    for key in keys:
        try:
            check_public_key(key)
        except UntrustedKeyError as exc:
            raise ValueError(str(exc)) from None
    return keys
