"""Only the ledger package speaks SQL (developers' guide, ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEDGER = ROOT / "licsign" / "_ledger"
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE)\b|\.execute\(")


def test_no_sql_outside_the_ledger_package() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "licsign").rglob("*.py"))
        if LEDGER not in path.parents
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SQL.search(line)
    ]
    assert offenders == []


def test_the_pattern_finds_sql() -> None:
    assert SQL.search('db.execute("SELECT 1")') and SQL.search('"UPDATE devices SET x = 1"')
    assert not SQL.search("select the product")


#: Functions allowed past 60 lines, each with the ADR that says why.
LONG_FUNCTIONS = {("licverify/_cbor.py", "_item"): "docs/adr/0012-decoder-item-reader-stays-whole.md"}
CLI_LEDGER = re.compile(r"\.ledger\.|\bLedger\(|\bsqlite3\b|\bpsycopg\b")


def test_functions_stay_short() -> None:
    """The house rule: about 60 lines at most, unless an ADR says why (developers' guide)."""
    long = {}
    for package in ("licsign", "licverify"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 60:
                        long[(str(path.relative_to(ROOT)), node.name)] = length
    assert set(long) == set(LONG_FUNCTIONS), long
    assert all((ROOT / adr).exists() for adr in LONG_FUNCTIONS.values())


def test_commands_reach_the_ledger_only_through_services() -> None:
    """Each CLI command parses, calls one service, renders (ADR 0016)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "licsign" / "cli").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if CLI_LEDGER.search(line)
    ]
    assert offenders == []


def test_no_sql_in_the_tests_but_the_ledgers_own() -> None:
    """Tests read ledger state through the ledger package (issue 7); only the tests of the
    ledger itself (and of its SQLite file) touch the database directly."""
    allowed = {"test_ledger.py", "test_ledger_hardening.py", "pg_fixtures.py", "test_layering.py",
               "test_ledger_verify.py"}  # fmt: skip
    offenders = [
        f"{path.name}:{number}"
        for path in sorted((ROOT / "tests").glob("*.py"))
        if path.name not in allowed
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SQL.search(line) or "sqlite3.connect" in line
    ]
    assert offenders == []


def test_examples_use_only_the_public_issuer_api() -> None:
    """examples/ and keys-example/ import ``licsign`` names, never its private modules (issue 7)."""
    private = re.compile(r"^\s*(from|import)\s+licsign\.(_\w+|cli\._)")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("examples", "keys-example")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert offenders == []
