"""Shared fixtures. Key derivation is made cheap here, and only here (STYLE §8)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from factory import T0, UnsafeFactory  # noqa: E402

#: Argon2id settings for tests: the real floor (256 MiB) costs ~1 s per key use.
UNSAFE_TEST_KDF = {"ops": 1, "memory": 8 * 1024 * 1024}


@pytest.fixture
def unsafe_fast_kdf(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Lower the key-file floor for this test so workspaces build in milliseconds."""
    import licsign._keyfile as keyfile

    monkeypatch.setattr(keyfile, "MIN_KDF_MEMORY", UNSAFE_TEST_KDF["memory"])
    monkeypatch.setattr(keyfile, "MIN_KDF_OPS", UNSAFE_TEST_KDF["ops"])
    monkeypatch.setattr(keyfile, "KDF_MEMORY", UNSAFE_TEST_KDF["memory"])
    monkeypatch.setattr(keyfile, "KDF_OPS", UNSAFE_TEST_KDF["ops"])
    return UNSAFE_TEST_KDF


@pytest.fixture
def factory() -> UnsafeFactory:
    return UnsafeFactory()


@pytest.fixture
def now() -> datetime:
    return datetime.fromtimestamp(T0, timezone.utc)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 000: file modes must come from licsign and licverify, not the caller's umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)
