"""Shared fixtures: thin wrappers around the scenario harness (harness.py).

The suite runs on POSIX systems (CI is Linux): file modes, FIFOs, sockets and
symbolic links are asserted as POSIX defines them, never skipped.

Key derivation is made cheap only through ``harness.lower_kdf_floor`` (STYLE §8).
The harness is imported inside the fixtures, so that a harness which cannot
be imported (a library module it uses moved) fails only the tests that use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# The harness asserts on behalf of the tests: give its failures pytest's detail too.
pytest.register_assert_rewrite("harness", "cli_runner")
sys.path.insert(0, str(Path(__file__).parent))

from factory import UnsafeFactory  # noqa: E402

#: The engine fixtures (``engine``, ``ledger_location``, ``shared_ledger``, a private PostgreSQL).
pytest_plugins = ["pg_fixtures"]

if TYPE_CHECKING:
    from harness import Site, Vendor


@pytest.fixture
def unsafe_fast_kdf(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Lower the key-file floor for this test so workspaces build in milliseconds."""
    from harness import lower_kdf_floor

    return lower_kdf_floor(monkeypatch)


@pytest.fixture
def factory() -> UnsafeFactory:
    return UnsafeFactory()


@pytest.fixture
def now() -> datetime:
    """``harness.NOW``, the fixed time of the library-level tests (``factory.T0``)."""
    from harness import NOW

    return NOW


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 000: file modes must come from licsign and licverify, not the caller's umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def vendor(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int], shared_ledger: str | None
) -> Iterator[Vendor]:
    """The library-level vendor (``harness.Vendor.create``) at ``NOW``; closed after the test.

    Each test using it runs on both ledger engines (SQLite, then PostgreSQL).
    """
    from harness import Vendor

    with Vendor.create(tmp_path, unsafe_fast_kdf, ledger_url=shared_ledger) as v:
        yield v


@pytest.fixture
def site(
    unsafe_fast_kdf: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: Any,
    shared_ledger: str | None,
) -> Site:
    """Both command lines (``harness.Site.create``): a workspace; trust and product in the
    environment. Each test using it runs on both ledger engines."""
    from harness import Site

    return Site.create(monkeypatch, tmp_path, capsys, ledger_url=shared_ledger)
