"""Terminal injection: text from a document or a customer never reaches a terminal raw.

A customer writes the label, user and code of an activation request; a
license carries metadata, feature values and names. Printed raw, an escape
sequence in them can clear or rewrite the vendor's screen, and a bidi
override can make text read backwards. Every human-readable line goes
through ``licverify.cliutil.escape_text``; JSON output stays exact.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from factory import T0, UnsafeFactory, default_terms
from harness import PRODUCT, Result, Site, run_entry
from hypothesis import given, settings
from hypothesis import strategies as st

import licverify
import licverify.cli as lvcli
from licverify.cliutil import escape_text

#: Clears the screen, then turns the rest of the line around.
EVIL = "lab\x1b[2J\u202eel"
EVIL_SHOWN = "lab\\x1b[2J\\u202eel"
#: Characters that must never reach a terminal raw.
RAW = ("\x1b", "\u202e", "\u2066", "\u200f", "\r", "\x08", "\x7f", "\x9b", "\u2028")


def assert_escaped(result: Result, *shown: str) -> None:
    """No raw control or bidi character anywhere; each escaped form somewhere."""
    text = result.out + result.err
    for ch in RAW:
        assert ch not in text, (ch, text)
    for expected in shown:
        assert expected in text, (expected, text)


# --- the helper ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text", "plain text"),
        ("Zoë Åström 東京 Ωmega", "Zoë Åström 東京 Ωmega"),  # non-ASCII letters pass
        ("no\u00a0break and\u3000wide", "no\u00a0break and\u3000wide"),  # space separators pass
        ("C:\\Users\\x", "C:\\Users\\x"),  # backslashes are not doubled
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("cr\rbs\x08del\x7fnul\x00tab\tnl\n", "cr\\x0dbs\\x08del\\x7fnul\\x00tab\\x09nl\\x0a"),
        ("c1\x85\x9b", "c1\\x85\\x9b"),
        ("\u202aL\u202bR\u202cP\u202dO\u202eR", "\\u202aL\\u202bR\\u202cP\\u202dO\\u202eR"),
        ("\u2066i\u2067i\u2068i\u2069", "\\u2066i\\u2067i\\u2068i\\u2069"),
        ("\u200el\u200fr\u061ca", "\\u200el\\u200fr\\u061ca"),
        ("zw\u200bj\u200dbom\ufeff", "zw\\u200bj\\u200dbom\\ufeff"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("lone\udcff", "lone\\udcff"),
    ],
)
def test_escape_text(text: str, shown: str) -> None:
    assert escape_text(text) == shown


def test_escape_text_converts_other_values() -> None:
    assert escape_text(5) == "5"
    assert escape_text(None) == "None"
    assert escape_text({"k": "\u202e"}) == "{'k': '\\u202e'}"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_escaped_text_has_no_control_or_format_character(text: str) -> None:
    out = escape_text(text)
    for ch in out:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
    if text.isprintable():
        assert out == text


# --- the vendor: licsign --------------------------------------------------------------------------


def unsafe_request(site: Site, license_name: str, machine: str, **fields: Any) -> Path:
    """Machine ``machine`` imports the license (CLI), then makes a request through the store
    itself: the CLI refuses such labels, a customer need not use it."""
    customer = site.machine(machine)
    customer.ok("import", str(site.tmp / license_name))
    return customer.unsafe_request(**fields)


def test_request_label_is_escaped_by_every_vendor_command(site: Site) -> None:
    license_id = site.issue("one.lic", "--max-devices", "1")
    request = unsafe_request(site, "one.lic", "a", label=EVIL)

    inspected = site.licsign("inspect", str(request))
    assert_escaped(inspected, f"label: {EVIL_SHOWN}")

    response = site.tmp / "response-a.txt"
    granted = site.vendor_ok("activate", str(request), "-o", str(response))
    assert_escaped(granted)

    listed = site.vendor_ok("device", "list", license_id)
    assert_escaped(listed, EVIL_SHOWN)
    row = next(line for line in listed.out.splitlines()[1:])
    assert row.split()[1] == EVIL_SHOWN

    shown = site.vendor_ok("show", license_id)
    assert_escaped(shown, EVIL_SHOWN)

    # JSON stays exact: a program gets the label as the customer wrote it.
    rows = json.loads(site.vendor_ok("device", "list", license_id, "--json").out)
    assert rows[0]["label"] == EVIL
    assert EVIL in json.loads(site.vendor_ok("show", license_id, "--json").out)["devices"][0]["label"]

    # A refusal that names the holder of the seat escapes its label too.
    other = unsafe_request(site, "one.lic", "b", label="desktop-b")
    refused = site.licsign("activate", str(other), "-o", str(site.tmp / "response-b.txt"))
    assert refused.code == 1 and refused.out == ""
    assert refused.err.count("\n") == 1
    assert_escaped(refused, EVIL_SHOWN)


def test_request_user_and_code_are_escaped(site: Site) -> None:
    site.issue("one.lic")
    request = unsafe_request(site, "one.lic", "a", label="laptop", user="\u202eevil@example.com\x1b[2J",
                             code="C\x1b]0;owned\x07")  # fmt: skip
    inspected = site.licsign("inspect", str(request))
    assert_escaped(inspected, "\\u202eevil@example.com\\x1b[2J", "C\\x1b]0;owned\\x07")
    # The vendor refuses such a user or records it; either way nothing raw is printed.
    result = site.licsign("activate", str(request), "-o", str(site.tmp / "response.txt"))
    assert result.code in (0, 1)
    assert_escaped(result)


# --- the customer: licverify ---------------------------------------------------------------------


@pytest.fixture
def evil_license(tmp_path: Path, factory: UnsafeFactory) -> tuple[Path, Path]:
    """A license whose issuer, feature value and metadata carry escape sequences."""
    terms = default_terms(
        issuer="Acme\x1b[2J\u202e Inc.",
        features={"export": None, "tier": "gold\x1b]0;owned\x07"},
        metadata={"note": EVIL, "\u2066key": "v"},
    )
    lic = tmp_path / "evil.lic"
    lic.write_bytes(licverify.format.armor(factory.license(terms), licverify.format.LICENSE))
    trust = tmp_path / "root.hex"
    trust.write_text(factory.roots[0].hex())
    return lic, trust


AT = datetime.fromtimestamp(T0, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_licverify_check_escapes_license_text(evil_license: tuple[Path, Path], capsys: Any) -> None:
    lic, trust = evil_license
    result = run_entry(capsys, lvcli.main, ("check", str(lic), "--trust", str(trust), "--product",
                                            PRODUCT, "--at", AT))  # fmt: skip
    assert result.code == 0, result
    assert_escaped(result, "Issuer:      Acme\\x1b[2J\\u202e Inc.", "tier=gold\\x1b]0;owned\\x07")
    data = json.loads(run_entry(capsys, lvcli.main, ("check", str(lic), "--trust", str(trust),
                                                     "--product", PRODUCT, "--at", AT, "--json")).out)  # fmt: skip
    assert data["issuer"] == "Acme\x1b[2J\u202e Inc."


def test_licverify_inspect_escapes_every_field(evil_license: tuple[Path, Path], capsys: Any) -> None:
    lic, trust = evil_license
    for args in ((), ("--trust", str(trust), "--product", PRODUCT, "--at", AT)):
        result = run_entry(capsys, lvcli.main, ("inspect", str(lic), *args))
        assert_escaped(result, "Acme\\x1b[2J\\u202e Inc.", EVIL_SHOWN, "\\u2066key")
    result = run_entry(capsys, lvcli.main, ("inspect", str(lic), "--json"))
    assert json.loads(result.out)["fields"]["metadata"]["note"] == EVIL


def test_licsign_inspect_escapes_license_fields(site: Site, evil_license: tuple[Path, Path]) -> None:
    lic, _ = evil_license
    assert_escaped(site.licsign("inspect", str(lic)), EVIL_SHOWN, "\\u2066key")


def test_not_valid_line_is_escaped(
    evil_license: tuple[Path, Path], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lic, trust = evil_license

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise licverify.MalformedError(f"metadata value {EVIL} is not allowed")

    monkeypatch.setattr(licverify, "verify_license", refuse)
    result = run_entry(capsys, lvcli.main, ("check", str(lic), "--trust", str(trust), "--product", PRODUCT))
    assert result.code == 1 and result.out.count("\n") == 1
    assert_escaped(result, f"NOT VALID: malformed: metadata value {EVIL_SHOWN}")
    result = run_entry(capsys, lvcli.main, ("check", str(lic), "--trust", str(trust), "--product",
                                            PRODUCT, "--json"))  # fmt: skip
    assert json.loads(result.out)["reason"] == f"metadata value {EVIL} is not allowed"


@pytest.mark.parametrize("prog", ["licverify", "licsign"])
def test_error_lines_are_escaped(prog: str, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_click prints every failure of both CLIs: a library error, a usage error, an OSError."""
    import click

    from licverify.cliutil import run_click

    failures: list[Exception] = [
        licverify.StoreError(f"no license for {EVIL}"),
        click.UsageError(f"bad value {EVIL}"),
        FileNotFoundError(2, "No such file", f"/tmp/{EVIL}"),
        RuntimeError(f"boom {EVIL}"),
    ]
    for failure in failures:

        @click.command()
        def command(failure: Exception = failure) -> None:
            raise failure

        capsys.readouterr()
        code = run_click(command, prog, [])
        out, err = capsys.readouterr()
        assert code != 0 and out == "" and err.count("\n") == 1
        assert_escaped(Result(code, out, err), EVIL_SHOWN)


def test_licverify_import_escapes_the_customer_line(
    tmp_path: Path, capsys: Any, factory: UnsafeFactory
) -> None:
    """'import' prints names from the license; a path given by the user is escaped as well."""
    terms = default_terms(issuer="\u202eAcme")
    lic = tmp_path / "x.lic"
    lic.write_bytes(factory.license(terms))
    trust = tmp_path / "root.hex"
    trust.write_text(factory.roots[0].hex())
    state = tmp_path / "state\x1b[2J"
    result = run_entry(capsys, lvcli.main, ("import", str(lic), "--trust", str(trust), "--product", PRODUCT,
                                            "--state-dir", str(state), "--at", AT, "--machine-id", "m"))  # fmt: skip
    assert result.code == 0, result
    assert_escaped(result, "state\\x1b[2J")
