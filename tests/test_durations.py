"""Durations (issue 6 §6): ``m`` is refused, ``mo`` and ``y`` are calendar terms.

Regression: ``licsign issue --duration 1m`` meant one minute, so a vendor who
meant a month issued a license that expired after 60 seconds; ``1y`` was 365
days, so a yearly license issued on 29 Feb 2028 ended on 28 Feb 2029 only by
luck and one issued on 1 Mar 2027 a day early.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from harness import CLI_PASSPHRASE, PRODUCT, Site

import licverify
from licsign import IssueRequest, Workspace, issue_license
from licsign.cli import LEDGER_ENV
from licverify._time import from_timestamp
from licverify.cliutil import Duration, format_duration, parse_duration

UTC = timezone.utc


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, months, seconds",
    [
        ("90s", 0, 90),
        ("15min", 0, 900),
        ("12h", 0, 12 * 3600),
        ("14d", 0, 14 * 86400),
        ("2w", 0, 14 * 86400),
        ("1mo", 1, 0),
        ("18mo", 18, 0),
        ("1y", 12, 0),
        ("1y6mo", 18, 0),
        ("1d12h", 0, 36 * 3600),
        (" 3MO ", 3, 0),
        ("0d", 0, 0),
    ],
)
def test_units(text: str, months: int, seconds: int) -> None:
    assert parse_duration(text) == Duration(months, seconds)


@pytest.mark.parametrize("text, number", [("1m", "1"), ("30m", "30"), ("1M", "1"), ("1h30m", "30")])
def test_a_bare_m_is_refused_with_a_hint(text: str, number: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == (
        f"'{number}m' is ambiguous: use {number}min for minutes or {number}mo for months"
    )


@pytest.mark.parametrize("text", ["", "d", "10", "10x", "1mi", "1.5d", "-1d", "1 d", "1234567d", "1yr"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration; use a number and s, min, h, d, w, mo or y"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["90s", "15min", "12h", "3d", "2w", "1mo", "11mo", "1y", "2y3mo", "1y2d", "0s"])
def test_text_round_trips(text: str) -> None:
    assert str(parse_duration(text)) == text
    assert format_duration(parse_duration(text)) == text


def test_format_duration_still_takes_a_timedelta() -> None:
    assert format_duration(timedelta(days=14)) == "2w"
    assert format_duration(timedelta(minutes=90)) == "90min"
    assert format_duration(timedelta(seconds=61)) == "61s"


# --- calendar arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, text, end",
    [
        (at(2027, 1, 31), "1mo", at(2027, 2, 28)),  # clamped to the month's last day
        (at(2028, 1, 31), "1mo", at(2028, 2, 29)),  # leap year
        (at(2100, 1, 31), "1mo", at(2100, 2, 28)),  # 2100 is not a leap year
        (at(2000, 1, 31), "1mo", at(2000, 2, 29)),  # 2000 is
        (at(2027, 3, 31), "1mo", at(2027, 4, 30)),
        (at(2027, 12, 31), "2mo", at(2028, 2, 29)),  # across the year end
        (at(2027, 1, 15, 10, 30), "1mo", at(2027, 2, 15, 10, 30)),  # time of day kept
        (at(2028, 2, 29), "1y", at(2029, 2, 28)),
        (at(2028, 2, 29), "4y", at(2032, 2, 29)),
        (at(2027, 3, 1), "1y", at(2028, 3, 1)),  # 366 days: not 365
        (at(2027, 1, 31), "12mo", at(2028, 1, 31)),
        (at(2027, 1, 31), "1mo1d", at(2027, 3, 1)),  # months first, then seconds
        (at(2027, 1, 31), "30d", at(2027, 3, 2)),  # days are fixed lengths
    ],
)
def test_add_to_uses_calendar_months(start: datetime, text: str, end: datetime) -> None:
    duration = parse_duration(text)
    assert duration.add_to(start) == end
    assert duration.seconds_from(start) == int((end - start).total_seconds())


def test_past_the_year_9999_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="past the year 9999"):
        parse_duration("999999y").add_to(at(2027, 1, 1))
    with pytest.raises(ValueError, match="past the year 9999"):
        parse_duration("2d").add_to(at(9999, 12, 31))


def test_fixed_refuses_calendar_terms() -> None:
    assert parse_duration("2w").fixed() == timedelta(weeks=2)
    with pytest.raises(ValueError, match="calendar term"):
        parse_duration("1mo").fixed()


def test_duration_is_small_immutable_and_compares_with_timedelta() -> None:
    d = parse_duration("14d")
    assert d == timedelta(days=14) and hash(d) == hash(timedelta(days=14))
    assert parse_duration("1mo") != timedelta(days=30)
    assert Duration.of(timedelta(hours=1)) == Duration(0, 3600)
    assert not Duration() and parse_duration("1s")
    with pytest.raises(AttributeError):
        d.months = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        Duration(1.5)  # type: ignore[arg-type]
    assert repr(parse_duration("1y")) == "Duration(months=12, seconds=0)"


# --- issuing ------------------------------------------------------------------------------------


@pytest.fixture
def site(unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any,
         shared_ledger: str | None) -> Site:  # fmt: skip
    """conftest's ``site`` (both ledger engines), with a first issuing key valid for a century:
    the library-level tests here issue and certify at dates years from now."""
    return Site.create(monkeypatch, tmp_path, capsys, init_options=("--issuing-validity", "100y"),
                       ledger_url=shared_ledger)  # fmt: skip


def workspace(site: Site) -> Workspace:
    """The site's workspace, opened at library level (close it)."""
    return Workspace(str(site.home), site.ledger_url)


def issue_json(site: Site, *args: str) -> dict[str, Any]:
    return site.issue_with("out.lic", *args, "--force")


def test_cli_duration_1m_is_refused_not_one_minute(site: Site) -> None:
    result = site.licsign("issue", "--product", PRODUCT, "--customer", "globex", "--type", "subscription",
                          "--duration", "1m", "-o", "out.lic")  # fmt: skip
    assert result.code == 2 and result.out == ""
    assert "'1m' is ambiguous: use 1min for minutes or 1mo for months" in result.err
    assert result.err.count("\n") == 1
    assert not Path("out.lic").exists()


@pytest.mark.parametrize("option", ["--grace", "--lease"])
def test_cli_grace_and_lease_refuse_a_bare_m(site: Site, option: str) -> None:
    result = site.licsign("issue", "--product", PRODUCT, "--customer", "globex", "--type", "floating",
                          "--expires", "2090-01-01", option, "5m", "-o", "out.lic")  # fmt: skip
    assert result.code == 2 and "ambiguous" in result.err and option in result.err


@pytest.mark.parametrize(
    "not_before, duration, expires",
    [
        ("2090-01-31", "1mo", "2090-02-28T00:00:00Z"),
        ("2092-01-31", "1mo", "2092-02-29T00:00:00Z"),
        ("2088-02-29", "1y", "2089-02-28T00:00:00Z"),
        ("2090-03-01", "1y", "2091-03-01T00:00:00Z"),
        ("2090-01-01", "2w", "2090-01-15T00:00:00Z"),
    ],
)
def test_cli_monthly_and_yearly_terms_end_on_the_calendar_date(
    site: Site, not_before: str, duration: str, expires: str
) -> None:
    terms = issue_json(site, "--type", "subscription", "--not-before", not_before, "--duration", duration)
    assert terms["expires"] == expires


def test_cli_grace_in_months_counts_from_the_expiry(site: Site) -> None:
    terms = issue_json(site, "--type", "subscription", "--not-before", "2090-01-01", "--duration", "1mo",
                       "--grace", "1mo")  # fmt: skip
    # expires 2090-02-01; one calendar month later is 2090-03-01: 28 days of grace.
    assert terms["expires"] == "2090-02-01T00:00:00Z"
    assert terms["grace_seconds"] == 28 * 86400


def test_cli_lease_in_minutes(site: Site) -> None:
    terms = issue_json(site, "--type", "floating", "--lease", "30min")
    assert terms["lease_seconds"] == 1800


def test_issue_request_takes_a_timedelta_or_a_duration(site: Site) -> None:
    ws = workspace(site)
    try:
        start = at(2090, 1, 31)
        old = issue_license(ws, IssueRequest(PRODUCT, "globex", "subscription", not_before=start,
                                             duration=timedelta(days=30), grace=timedelta(days=7)),
                            lambda: CLI_PASSPHRASE.encode(), now=at(2030, 1, 1))  # fmt: skip
        assert from_timestamp(old.terms.expires) == at(2090, 3, 2)
        assert old.terms.grace_seconds == 7 * 86400
        new = issue_license(ws, IssueRequest(PRODUCT, "globex", "subscription", not_before=start,
                                             duration=parse_duration("1mo"), grace=parse_duration("1w")),
                            lambda: CLI_PASSPHRASE.encode(), now=at(2030, 1, 1))  # fmt: skip
        assert from_timestamp(new.terms.expires) == at(2090, 2, 28)
        assert new.terms.grace_seconds == 7 * 86400
    finally:
        ws.close()


def test_issuing_key_validity_in_calendar_years(site: Site) -> None:
    ws = workspace(site)
    try:
        cert = ws.new_issuing_key(lambda: CLI_PASSPHRASE.encode(), CLI_PASSPHRASE.encode(), now=at(2028, 2, 29),
                                  validity=parse_duration("1y"))  # fmt: skip
        assert from_timestamp(cert.not_after) == at(2029, 2, 28)
    finally:
        ws.close()


def test_cli_issuing_validity_in_months(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LEDGER_ENV, raising=False)  # ws2's own ledger: the site's database holds one
    result = site.licsign("--home", str(tmp_path / "ws2"), "init", "--issuing-validity", "6mo", "--json")
    assert result.code == 0, result
    keys = site.licsign("--home", str(tmp_path / "ws2"), "key", "list", "--json")
    issuing = next(k for k in json.loads(keys.out) if k["role"] == "issuing")
    start = datetime.fromisoformat(issuing["not_before"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(issuing["not_after"].replace("Z", "+00:00"))
    assert end == parse_duration("6mo").add_to(start)


def test_cli_issuing_validity_refuses_a_bare_m(site: Site, tmp_path: Path) -> None:
    result = site.licsign("--home", str(tmp_path / "ws2"), "init", "--issuing-validity", "1m")
    assert result.code == 2 and "ambiguous" in result.err
    assert not (tmp_path / "ws2").exists()


def test_verifier_sees_the_calendar_expiry(site: Site, tmp_path: Path) -> None:
    issue_json(site, "--type", "subscription", "--not-before", "2090-01-31", "--duration", "1mo")
    root = site.licsign("key", "export-public", "--format", "hex").out.strip()
    lic = licverify.verify_license((tmp_path / "out.lic").read_bytes(), trusted_roots=[bytes.fromhex(root)],
                                   product=PRODUCT, now=at(2090, 2, 27))  # fmt: skip
    assert lic.expires == at(2090, 2, 28)
