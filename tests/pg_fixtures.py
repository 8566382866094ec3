"""Fixtures for running ledger tests on both engines (SQLite and PostgreSQL).

``postgres_admin_url`` is the private server ``make test`` started
(tests/pgserver.py, ``$LICSIGN_TEST_POSTGRES``), or one started here for the
session when pytest runs alone. It is never skipped: a server that cannot
start fails the tests that need it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pgserver import ENV, ServerError, private_server

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """The admin URL of a private PostgreSQL server for this test session."""
    if os.environ.get(ENV):
        yield os.environ[ENV]
        return
    stack = contextlib.ExitStack()
    try:
        url = stack.enter_context(private_server())
    except ServerError as exc:
        pytest.fail(f"the PostgreSQL test server did not start: {exc}")
    with stack:
        yield url


def _admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url, autocommit=True)


@pytest.fixture
def new_postgres_database(postgres_admin_url: str) -> Iterator[Callable[[], str]]:
    """A maker of new, empty databases (their URLs), all dropped after the test."""
    names: list[str] = []

    def make() -> str:
        names.append(f"t_{secrets.token_hex(6)}")
        with _admin(postgres_admin_url) as admin:
            admin.execute(f"CREATE DATABASE {names[-1]}")
        return postgres_admin_url.replace("/postgres?", f"/{names[-1]}?", 1)

    yield make
    with _admin(postgres_admin_url) as admin:
        for name in names:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def postgres_url(new_postgres_database: Callable[[], str]) -> str:
    """The URL of a new, empty database, dropped after the test."""
    return new_postgres_database()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each test that asks for it runs once per ledger engine."""
    return str(request.param)


@pytest.fixture
def ledger_location(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty ledger location on ``engine``: a SQLite path or a PostgreSQL URL."""
    if engine == "sqlite":
        return str(tmp_path / "ledger.sqlite3")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def shared_ledger(engine: str, request: pytest.FixtureRequest) -> str | None:
    """For workspace-level tests: None (the workspace's own SQLite file) or a PostgreSQL URL."""
    if engine == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))
