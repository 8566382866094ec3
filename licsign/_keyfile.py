"""Private keys at rest: Argon2id + XChaCha20-Poly1305 (docs/format.md §10, ADR 0004).

A key file is JSON: the public part (role, public key, KDF parameters,
nonce) is the AEAD's associated data, so it cannot be altered (to weaken
the KDF, say) without the decryption failing. Files are created 0600 and a
file that group or others can read is refused.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping

import nacl.pwhash
import nacl.signing
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_core_ed25519_is_valid_point,
)
from nacl.exceptions import CryptoError

from licsign._errors import InvalidInputError, KeyFileError, WrongPassphraseError
from licsign._files import read_regular_file, write_atomic

FORMAT = "licsign-key-v1"
#: Argon2id cost. 256 MiB is the floor the project promises (DESIGN §3); at
#: 3 passes it takes about a second here, once per command that signs.
KDF_MEMORY = 256 * 1024 * 1024
KDF_OPS = 3
#: Refuse files whose parameters are weaker than this (a downgraded file).
MIN_KDF_MEMORY = KDF_MEMORY
MIN_KDF_OPS = 2
#: Refuse files that would make us allocate absurd memory or spin for minutes.
MAX_KDF_OPS = 64
MAX_KDF_MEMORY = 4 * 1024 * 1024 * 1024
MAX_KEY_FILE = 4096
AEAD = "xchacha20poly1305-ietf"

#: Shortest passphrase accepted when a key is created (characters of its UTF-8
#: text). Argon2id slows each guess; it cannot make a 6-letter word safe.
#: Existing keys open whatever their passphrase (docs/security.md).
MIN_PASSPHRASE_CHARS = 12

PassphraseSource = Callable[[], bytes]


def check_new_passphrase(passphrase: bytes) -> None:
    """Refuse a passphrase for a new key that is not UTF-8 or shorter than 12 characters.

    The message never shows the passphrase or any of its bytes.

    Raises:
        InvalidInputError: the passphrase is empty, not valid UTF-8 text, or too short.
    """
    if not passphrase:
        raise InvalidInputError("the passphrase must not be empty")
    try:
        length = len(passphrase.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInputError("the passphrase is not valid UTF-8 text") from None
    if length < MIN_PASSPHRASE_CHARS:
        raise InvalidInputError(
            f"the passphrase for a new key must be at least {MIN_PASSPHRASE_CHARS} characters"
            " (a few words are easy to remember)"
        )


def _aad(header: Mapping[str, object]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def _derive(passphrase: bytes, salt: bytes, ops: int, mem: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem)


def write_key_file(
    path: str,
    signing_key: nacl.signing.SigningKey,
    role: str,
    passphrase: bytes,
    *,
    kdf_ops: int | None = None,
    kdf_memory: int | None = None,
) -> None:
    """Encrypt ``signing_key`` under ``passphrase`` and write it to ``path`` (0600, atomic).

    Raises:
        InvalidInputError: the passphrase is empty, not UTF-8 or shorter than 12 characters.
        AlreadyExistsError: ``path`` exists.
    """
    check_new_passphrase(passphrase)
    ops = KDF_OPS if kdf_ops is None else kdf_ops
    mem = KDF_MEMORY if kdf_memory is None else kdf_memory
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    nonce = nacl.utils.random(24)
    header = {
        "format": FORMAT,
        "role": role,
        "public_key": bytes(signing_key.verify_key).hex(),
        "kdf": {"alg": "argon2id", "ops": ops, "mem": mem, "salt": salt.hex()},
        "aead": AEAD,
        "nonce": nonce.hex(),
    }
    key = _derive(passphrase, salt, ops, mem)
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(
        bytes(signing_key), _aad(header), nonce, key
    )
    body = dict(header, ciphertext=sealed.hex())
    write_atomic(path, (json.dumps(body, indent=2) + "\n").encode(), mode=0o600)


def read_key_file(path: str, role: str, passphrase: PassphraseSource) -> nacl.signing.SigningKey:
    """Decrypt the key at ``path``; ``passphrase`` is called only after the file checks out.

    Raises:
        KeyFileError: unsafe permissions, damaged file, wrong role, weak parameters.
        WrongPassphraseError: the passphrase does not open it.
    """
    try:
        info = os.stat(path)
    except OSError:
        raise KeyFileError(f"key file {path!r} is missing") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path!r} is accessible by group or others; run: chmod 600 {path}"
        )
    try:
        raw = read_regular_file(path, MAX_KEY_FILE, "key file")
    except InvalidInputError as exc:
        raise KeyFileError(str(exc)) from None
    try:
        body = json.loads(raw)
        header = {k: body[k] for k in ("format", "role", "public_key", "kdf", "aead", "nonce")}
        kdf = header["kdf"]
        salt, nonce = bytes.fromhex(kdf["salt"]), bytes.fromhex(header["nonce"])
        ops, mem = int(kdf["ops"]), int(kdf["mem"])
        sealed, public = bytes.fromhex(body["ciphertext"]), bytes.fromhex(header["public_key"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyFileError(f"key file {path!r} is damaged") from None
    if header["format"] != FORMAT or kdf.get("alg") != "argon2id" or header["aead"] != AEAD:
        raise KeyFileError(f"key file {path!r} has an unknown format")
    if len(salt) != nacl.pwhash.argon2id.SALTBYTES or len(nonce) != 24 or len(public) != 32:
        raise KeyFileError(f"key file {path!r} is damaged")
    if ops > MAX_KDF_OPS or mem > MAX_KDF_MEMORY:
        raise KeyFileError(
            f"key file {path!r} asks for more key-derivation work than this tool allows"
        )
    if header["role"] != role:
        raise KeyFileError(f"key file {path!r} holds a {header['role']} key, not a {role} key")
    if ops < MIN_KDF_OPS or mem < MIN_KDF_MEMORY:
        raise KeyFileError(f"key file {path!r} uses key derivation weaker than this tool accepts")
    key = _derive(passphrase(), salt, ops, mem)
    try:
        seed = crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, _aad(header), nonce, key)
    except CryptoError:
        raise WrongPassphraseError(
            f"wrong passphrase for {path!r} (or the file was altered)"
        ) from None
    signing_key = nacl.signing.SigningKey(seed)
    if bytes(signing_key.verify_key) != public:
        raise KeyFileError(f"key file {path!r} is inconsistent")
    return signing_key


def read_public_key(path: str) -> bytes:
    """The public key recorded in a key file, without decrypting anything."""
    raw = read_regular_file(path, MAX_KEY_FILE, "key file")
    try:
        return bytes.fromhex(json.loads(raw)["public_key"])
    except (ValueError, KeyError, TypeError):
        raise KeyFileError(f"key file {path!r} is damaged") from None


def new_signing_key() -> nacl.signing.SigningKey:
    """A fresh Ed25519 key whose public point passes libsodium's full validity check."""
    while True:
        key = nacl.signing.SigningKey.generate()
        if crypto_core_ed25519_is_valid_point(bytes(key.verify_key)):
            return key
