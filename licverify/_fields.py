"""Typed field checks shared by every payload decoder (docs/format.md §7.3).

Each helper returns the value if it has exactly the expected type and lies
within bounds, and raises Malformed naming the field otherwise. Exact types
matter: in Python ``True == 1``, and a CBOR ``true`` must never pass for 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from licverify._errors import Malformed
from licverify._time import MAX_TIMESTAMP

MAX_TEXT = 256
MAX_LIST = 1000

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class Charset:
    """A cheap stand-in for a regex (compiling regexes costs import time):
    1 to 64 characters from ``chars``, the first one a letter or digit."""

    __slots__ = ("chars",)

    def __init__(self, chars: str) -> None:
        self.chars = chars

    def match(self, text: str) -> bool:
        return 0 < len(text) <= 64 and text[0] in _ALNUM and not text.strip(self.chars)


class Version:
    """Dotted version: 1 to 4 parts of 1 to 9 digits."""

    @staticmethod
    def match(text: str) -> bool:
        parts = text.split(".")
        return len(parts) <= 4 and all(
            0 < len(p) <= 9 and p.isascii() and p.isdigit() for p in parts
        )


def version_text_ok(text: str) -> bool:
    """True for a dotted version of 1 to 4 parts of 1 to 9 ASCII digits (``2.4.1``)."""
    return Version.match(text)


ID_CHARS = Charset(_ALNUM + "._-")
NAME_CHARS = Charset(_ALNUM + "._:/-")
VERSION_TEXT = Version()


def _fail(what: str) -> Malformed:
    return Malformed(what)


def int_field(value: Any, what: str, lo: int = 0, hi: int = MAX_TIMESTAMP) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise _fail(f"{what} must be an integer from {lo} to {hi}")
    return value


def text_field(value: Any, what: str, pattern: Charset | Version | None = None) -> str:
    if type(value) is not str or not value or len(value) > MAX_TEXT:
        raise _fail(f"{what} must be non-empty text of at most {MAX_TEXT} characters")
    if pattern is not None and not pattern.match(value):
        raise _fail(f"{what} {value[:40]!r} has characters the format does not allow")
    return value


def map_field(value: Any, what: str, max_items: int) -> dict[Any, Any]:
    if type(value) is not dict or not value or len(value) > max_items:
        raise _fail(f"{what} must be a non-empty map of at most {max_items} entries")
    return value


def scalar_field(value: Any, what: str) -> Any:
    if (
        value is None
        or type(value) in (bool, int)
        or (type(value) is str and len(value) <= MAX_TEXT)
    ):
        if type(value) is int and not -(2**63) <= value < 2**63:
            raise _fail(f"{what} is out of range")
        return value
    raise _fail(f"{what} must be null, a boolean, an integer or short text")


def list_field(value: Any, what: str) -> list[Any]:
    if type(value) is not list or not value or len(value) > MAX_LIST:
        raise _fail(f"{what} must be a non-empty list of at most {MAX_LIST} entries")
    return value


def fingerprint_field(value: Any) -> Mapping[str, bytes]:
    entries = map_field(value, "device fingerprint", 64)
    for name, digest in entries.items():
        text_field(name, "fingerprint component", NAME_CHARS)
        if type(digest) is not bytes or not 16 <= len(digest) <= 64:
            raise _fail("fingerprint components must be 16 to 64 bytes")
    return MappingProxyType(dict(entries))
