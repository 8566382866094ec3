"""Conversions between aware datetimes and CWT NumericDate (integer seconds, UTC)."""

from __future__ import annotations

from datetime import datetime, timezone

UTC = timezone.utc
#: Latest time the format can express (year 9999), so every stored time converts back.
MAX_TIMESTAMP = 253402300799


def to_timestamp(when: datetime, what: str = "now") -> int:
    """Whole seconds since the epoch for an aware datetime.

    Raises:
        TypeError: ``when`` is not a datetime.
        ValueError: ``when`` is naive (a programmer error: the zone is unknown).
    """
    if not isinstance(when, datetime):
        raise TypeError(f"{what} must be a timezone-aware datetime")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (for example datetime.now(timezone.utc))")
    return int(when.timestamp() // 1)


def from_timestamp(seconds: int) -> datetime:
    """The aware UTC datetime for a NumericDate."""
    return datetime.fromtimestamp(seconds, UTC)


def iso(seconds: int | None) -> str | None:
    """ISO 8601 text (UTC, ``Z``) for a NumericDate, or None."""
    if seconds is None:
        return None
    return from_timestamp(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")
