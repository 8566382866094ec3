"""Key files at rest: encryption, authenticated parameters, and every refusal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nacl.signing
import pytest

import licsign._keyfile as keyfile
from licsign import InvalidInputError, KeyFileError, WrongPassphraseError

PASSPHRASE = b"key file test passphrase"


@pytest.fixture
def key_path(tmp_path: Path, unsafe_fast_kdf: dict[str, int]) -> Path:
    path = tmp_path / "k.key"
    keyfile.write_key_file(str(path), nacl.signing.SigningKey(b"\x07" * 32), "issuing", PASSPHRASE)
    return path


def read(path: Path, passphrase: bytes = PASSPHRASE, role: str = "issuing") -> nacl.signing.SigningKey:
    return keyfile.read_key_file(str(path), role, lambda: passphrase)


def rewrite(path: Path, **changes: object) -> None:
    body = json.loads(path.read_text())
    for dotted, value in changes.items():
        target = body
        *parents, leaf = dotted.split("__")
        for p in parents:
            target = target[p]
        target[leaf] = value
    path.write_text(json.dumps(body))
    os.chmod(path, 0o600)


def test_round_trip_and_file_mode(key_path: Path) -> None:
    assert bytes(read(key_path)) == b"\x07" * 32
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert "07070707" not in key_path.read_text()  # the seed is not stored in clear


def test_real_cost_is_the_floor() -> None:
    assert keyfile.KDF_MEMORY >= 256 * 1024 * 1024 and keyfile.MIN_KDF_MEMORY >= 256 * 1024 * 1024


def test_wrong_passphrase(key_path: Path) -> None:
    with pytest.raises(WrongPassphraseError) as info:
        read(key_path, b"guess")
    assert "guess" not in str(info.value)


def test_wrong_role(key_path: Path) -> None:
    with pytest.raises(KeyFileError, match="holds a issuing key, not a root key"):
        read(key_path, role="root")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_world_access_is_refused(key_path: Path, mode: int) -> None:
    os.chmod(key_path, mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read(key_path)


@pytest.mark.parametrize(
    "changes, message",
    [
        pytest.param({"kdf__ops": 0}, "weaker", id="kdf-ops-lowered"),
        pytest.param({"kdf__mem": 1024}, "weaker", id="kdf-memory-lowered"),
        pytest.param({"kdf__mem": 2**40}, "more key-derivation work", id="kdf-memory-absurd"),
        pytest.param({"kdf__ops": 10**6}, "more key-derivation work", id="kdf-ops-absurd"),
        pytest.param({"kdf__salt": "00" * 8}, "damaged", id="salt-short"),
        pytest.param({"nonce": "00" * 12}, "damaged", id="nonce-short"),
        pytest.param({"aead": "aes-256-gcm"}, "unknown format", id="aead-unknown"),
        pytest.param({"format": "licsign-key-v2"}, "unknown format", id="format-unknown"),
        pytest.param({"kdf__alg": "scrypt"}, "unknown format", id="kdf-unknown"),
        pytest.param({"public_key": "zz"}, "damaged", id="public-key-not-hex"),
        pytest.param({"ciphertext": 5}, "damaged", id="ciphertext-wrong-type"),
    ],
)
def test_damaged_or_downgraded_files_are_refused(key_path: Path, changes: dict[str, object], message: str) -> None:
    rewrite(key_path, **changes)
    with pytest.raises(KeyFileError, match=message):
        read(key_path)


def test_authenticated_header_detects_a_swapped_public_key(key_path: Path) -> None:
    other = bytes(nacl.signing.SigningKey(b"\x08" * 32).verify_key).hex()
    rewrite(key_path, public_key=other)
    with pytest.raises(WrongPassphraseError, match="or the file was altered"):
        read(key_path)


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"\xff\xfe", b"{}"])
def test_garbage_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        read(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="missing"):
        read(tmp_path / "none.key")


def test_passphrase_is_not_asked_before_the_file_checks_out(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("{}")
    os.chmod(path, 0o644)
    asked = []
    with pytest.raises(KeyFileError):
        keyfile.read_key_file(str(path), "issuing", lambda: asked.append(1) or b"x")
    assert asked == []


def test_empty_passphrase_is_refused(tmp_path: Path, unsafe_fast_kdf: dict[str, int]) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        keyfile.write_key_file(str(tmp_path / "k"), nacl.signing.SigningKey(b"\x01" * 32), "root", b"")
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize(
    "passphrase",
    [b"secret", b"eleven char", "\u00e9t\u00e9 \u00e9t\u00e9 \u00e9".encode()],  # 11 characters (13 bytes)
    ids=["6-chars", "11-chars", "11-chars-13-bytes"],
)
def test_a_new_key_with_a_passphrase_under_12_characters_is_refused(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int], passphrase: bytes
) -> None:
    with pytest.raises(InvalidInputError, match="at least 12 characters"):
        keyfile.write_key_file(str(tmp_path / "k"), nacl.signing.SigningKey(b"\x01" * 32), "root", passphrase)
    assert not (tmp_path / "k").exists()


def test_twelve_characters_are_enough(tmp_path: Path, unsafe_fast_kdf: dict[str, int]) -> None:
    keyfile.write_key_file(str(tmp_path / "k"), nacl.signing.SigningKey(b"\x01" * 32), "root", b"twelve chars")
    assert bytes(read(tmp_path / "k", b"twelve chars", role="root")) == b"\x01" * 32


def test_a_new_key_with_a_passphrase_that_is_not_utf8_is_refused_without_echo(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int]
) -> None:
    with pytest.raises(InvalidInputError) as info:
        keyfile.write_key_file(str(tmp_path / "k"), nacl.signing.SigningKey(b"\x01" * 32), "root",
                               b"long enough \xff passphrase")  # fmt: skip
    message = str(info.value)
    assert "UTF-8" in message and "xff" not in message and "long enough" not in message
    assert not (tmp_path / "k").exists()


def test_an_existing_key_with_a_short_passphrase_still_opens(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keys made before the 12-character rule keep working: the rule is for new keys.
    with monkeypatch.context() as patch:
        patch.setattr(keyfile, "MIN_PASSPHRASE_CHARS", 1)
        keyfile.write_key_file(str(tmp_path / "old.key"), nacl.signing.SigningKey(b"\x02" * 32), "issuing", b"pw")
    assert keyfile.MIN_PASSPHRASE_CHARS == 12
    assert bytes(read(tmp_path / "old.key", b"pw")) == b"\x02" * 32
