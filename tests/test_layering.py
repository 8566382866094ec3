"""Only the ledger package speaks SQL (developers' guide, ARCHITECTURE.md)."""

from __future__ import annotations

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
