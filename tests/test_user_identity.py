"""User identity (issue 6 §7): one form per user; invisible differences are refused.

Regressions: ``licsign issue --user Alice@Example.COM`` stored the text as
typed, so ``licverify request --user alice@example.com`` was "not allowed";
``alice@example.com`` and ``alice\\u200b@example.com`` (a zero-width space)
were two different users that look identical on every screen.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from harness import PRODUCT, Site, Vendor

import licverify
from licsign import InvalidInputError, IssuedLicense
from licverify._fields import normalize_user, normalize_users

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)

INVISIBLE = [
    pytest.param("alice\u200b@example.com", id="zero-width-space"),
    pytest.param("ali\u200dce@example.com", id="zero-width-joiner"),
    pytest.param("ali\u200cce@example.com", id="zero-width-non-joiner"),
    pytest.param("\u202ealice@example.com", id="rtl-override"),
    pytest.param("alice@exam\u2066ple.com", id="ltr-isolate"),
    pytest.param("ali\u00adce@example.com", id="soft-hyphen"),
    pytest.param("\ufeffalice@example.com", id="byte-order-mark"),
    pytest.param("alice\u2060@example.com", id="word-joiner"),
    pytest.param("alice@example.com\u00a0", id="no-break-space-at-the-end"),
    pytest.param("alice\u3000smith", id="ideographic-space"),
    pytest.param("alice\u2028@example.com", id="line-separator"),
    pytest.param("alice\u2029@example.com", id="paragraph-separator"),
    pytest.param("alice\x1b[2J@example.com", id="escape"),
    pytest.param("alice\t@example.com", id="tab-inside"),
    pytest.param("alice\x00@example.com", id="nul"),
    pytest.param("alice\ue000@example.com", id="private-use"),
    pytest.param("alice\u0378@example.com", id="unassigned"),
    pytest.param("alice\ud800@example.com", id="lone-surrogate"),
    pytest.param("alice\u3164@example.com", id="hangul-filler"),
    pytest.param("alice\u2800@example.com", id="braille-blank"),
    pytest.param("alice\ufe0f@example.com", id="variation-selector"),
    pytest.param("alice\u034f@example.com", id="combining-grapheme-joiner"),
]


# --- normalize_user -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, stored",
    [
        ("Alice@Example.COM ", "alice@example.com"),
        ("  alice@example.com\n", "alice@example.com"),
        ("\talice@example.com\r\n", "alice@example.com"),
        ("ALICE SMITH", "alice smith"),
        ("Jos\u00e9@example.com", "jos\u00e9@example.com"),  # NFC input
        ("Jose\u0301@example.com", "jos\u00e9@example.com"),  # NFD input: the same user
        ("\u00c5ngstr\u00f6m", "\u00e5ngstr\u00f6m"),
        ("A\u030angstro\u0308m", "\u00e5ngstr\u00f6m"),
        ("STRASSE", "strasse"),
        ("Stra\u00dfe", "strasse"),  # case folding, not lower(): ß and SS are one user
    ],
)
def test_normalize_user(given: str, stored: str) -> None:
    assert normalize_user(given) == stored
    assert unicodedata.is_normalized("NFC", normalize_user(given))


def test_the_spec_examples() -> None:
    assert normalize_user("Alice@Example.COM ") == normalize_user("alice@example.com")
    nfc = unicodedata.normalize("NFC", "Zo\u00eb@example.com")
    nfd = unicodedata.normalize("NFD", "Zo\u00eb@example.com")
    assert nfc != nfd and normalize_user(nfc) == normalize_user(nfd)


@pytest.mark.parametrize("text", INVISIBLE)
def test_invisible_and_control_characters_are_refused(text: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_user(text)
    message = str(info.value)
    assert "invisible or control character" in message
    # The message shows the character as an escape, never raw (it could rewrite a terminal).
    assert all(ch.isprintable() or ch == " " for ch in message if unicodedata.category(ch) != "Lo")
    assert "\x1b" not in message and "\u202e" not in message


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        normalize_user(text)


def test_not_text_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        normalize_user(b"alice@example.com")  # type: ignore[arg-type]


def test_normalize_users_refuses_duplicates_after_normalization() -> None:
    assert normalize_users(["B@x", "a@x"]) == ("b@x", "a@x")
    with pytest.raises(ValueError, match="are the same user"):
        normalize_users(["Ann@Globex.example", " ann@globex.EXAMPLE"])
    with pytest.raises(ValueError, match="are the same user"):
        normalize_users(["Jos\u00e9", "Jose\u0301"])


# --- at issue -----------------------------------------------------------------------------------


@pytest.fixture
def vendor(unsafe_fast_kdf: dict[str, int], tmp_path: Path) -> Iterator[Vendor]:
    """The harness vendor, at ``NOW`` (2030)."""
    with Vendor.create(tmp_path, unsafe_fast_kdf, now=NOW) as v:
        yield v


def issue(vendor: Vendor, users: list[str]) -> IssuedLicense:
    return vendor.issue("perpetual", users=users)


def test_allowed_users_are_stored_normalized(vendor: Vendor) -> None:
    issued = issue(vendor, ["Alice@Example.COM ", "Jose\u0301@example.com"])
    assert issued.terms.allowed_users == ("alice@example.com", "jos\u00e9@example.com")
    recorded = json.loads(vendor.license_record(issued.id)["terms"])
    assert recorded["allowed_users"] == ["alice@example.com", "jos\u00e9@example.com"]


def test_duplicate_users_after_normalization_are_refused(vendor: Vendor) -> None:
    with pytest.raises(InvalidInputError, match="are the same user"):
        issue(vendor, ["alice@example.com", "ALICE@example.com"])
    assert vendor.ws.ledger.licenses() == []


@pytest.mark.parametrize("text", INVISIBLE[:6])
def test_a_user_with_an_invisible_character_is_refused_at_issue(vendor: Vendor, text: str) -> None:
    with pytest.raises(InvalidInputError, match="invisible or control character"):
        issue(vendor, ["bob@example.com", text])
    assert vendor.ws.ledger.licenses() == []


# --- through the command lines ------------------------------------------------------------------


def test_cli_issue_stores_the_normalized_user(site: Site) -> None:
    result = site.licsign("issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual",
                          "--user", "Ann@Globex.Example ", "-o", "a.lic", "--json")  # fmt: skip
    assert result.code == 0, result
    assert json.loads(result.out)["allowed_users"] == ["ann@globex.example"]


def test_cli_issue_refuses_a_zero_width_user_in_one_line(site: Site) -> None:
    result = site.licsign("issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual",
                          "--user", "ann\u200b@globex.example", "-o", "a.lic")  # fmt: skip
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and "U+200B" in result.err and "\u200b" not in result.err
    assert not (site.tmp / "a.lic").exists()


def test_cli_request_sends_the_normalized_user(site: Site) -> None:
    assert site.licsign("issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual",
                        "--user", "ann@globex.example", "-o", "a.lic").code == 0  # fmt: skip
    state = ["--state-dir", str(site.tmp / "state"), "--machine-id", "m1"]
    assert site.licverify("import", "a.lic", *state).code == 0
    result = site.licverify("request", "--user", " ANN@Globex.example", "-o", "req", *state)
    assert result.code == 0, result
    report = licverify.inspect_document((site.tmp / "req").read_bytes())
    assert report.fields["user"] == "ann@globex.example"


def test_cli_request_refuses_an_invisible_user(site: Site) -> None:
    assert site.licsign("issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual",
                        "--user", "ann@globex.example", "-o", "a.lic").code == 0  # fmt: skip
    state = ["--state-dir", str(site.tmp / "state"), "--machine-id", "m1"]
    assert site.licverify("import", "a.lic", *state).code == 0
    result = site.licverify("request", "--user", "ann@globex.example\u00ad", "-o", "req", *state)
    assert result.code == 2 and "U+00AD" in result.err and "\u00ad" not in result.err
    assert not (site.tmp / "req").exists()


def test_cli_customer_email_is_stored_normalized(site: Site) -> None:
    assert site.licsign("customer", "add", "initech", "--email", " Bill@Initech.Example ").code == 0
    rows = json.loads(site.licsign("customer", "list", "--json").out)
    assert {r["id"]: r["email"] for r in rows}["initech"] == "bill@initech.example"


def test_cli_customer_email_with_a_bidi_override_is_refused(site: Site) -> None:
    result = site.licsign("customer", "add", "evil", "--email", "bill@\u202eelpmaxe.hcetini")
    assert result.code == 2 and "U+202E" in result.err and "\u202e" not in result.err
    assert "evil" not in site.licsign("customer", "list", "--json").out
