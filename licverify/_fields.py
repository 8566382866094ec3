"""Typed field checks shared by every payload decoder (docs/format.md §7.3).

Each helper returns the value if it has exactly the expected type and lies
within bounds, and raises MalformedError naming the field otherwise. Exact types
matter: in Python ``True == 1``, and a CBOR ``true`` must never pass for 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from licverify._errors import MalformedError
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


def _fail(what: str) -> MalformedError:
    return MalformedError(what)


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


#: Space-like, invisible or joining code points that are not in categories C*, Z*
#: but render as nothing (Unicode Default_Ignorable_Code_Point outside Cf/Cn):
#: combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian
#: variation selectors, variation selectors (supplement); and the blank Braille
#: pattern (So), the best-known "invisible user name" character.
_INVISIBLE = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164, 0xFFA0),
        0x2800,
        *range(0xFE00, 0xFE10),
        *range(0xE0100, 0xE01F0),
    ]
)
_REFUSED_CATEGORIES = frozenset(["Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"])


def normalize_user(text: str) -> str:
    """The one form of a user identity (an e-mail or a name) that is stored and compared.

    Surrounding ASCII whitespace is removed, then the text is put in Unicode
    NFC and case-folded (``"Alice@Example.COM "`` becomes
    ``"alice@example.com"``; precomposed and decomposed accents are equal).
    Text with an invisible or control character anywhere is refused rather
    than normalized, so two identities never differ, or match, by something
    a person cannot see.

    Args:
        text: the identity as given.

    Returns:
        The normalized identity.

    Raises:
        TypeError: ``text`` is not a str.
        ValueError: it is empty, or contains a control, format (zero-width,
            bidi, soft hyphen), private-use, surrogate or unassigned code
            point, a line or paragraph separator, a space other than U+0020,
            or another invisible character.
    """
    import unicodedata  # lazily: not needed by verification (import cost, STYLE)

    if not isinstance(text, str):
        raise TypeError("a user must be text")
    value = text.strip(" \t\r\n\f\v")
    if not value:
        raise ValueError("a user must not be empty")
    for ch in value:
        category = unicodedata.category(ch)
        if (
            category in _REFUSED_CATEGORIES
            or (category == "Zs" and ch != " ")
            or ord(ch) in _INVISIBLE
        ):
            raise ValueError(
                f"user '{_visible(value)}' contains an invisible or control character "
                f"(U+{ord(ch):04X}); type it again without it"
            )
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())
    return folded


def _visible(text: str) -> str:
    """``text`` with every non-printable character shown as ``\\uXXXX`` (for messages)."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text[:80])


def normalize_users(users: Iterable[str]) -> tuple[str, ...]:
    """Each user through ``normalize_user``, in order; two that normalize alike are refused.

    Raises:
        ValueError: a user is refused by ``normalize_user``, or two users are
            the same after normalization (``Ann@x`` and ``ann@x ``).
    """
    seen: dict[str, str] = {}
    for user in users:
        normal = normalize_user(user)
        if normal in seen:
            raise ValueError(
                f"user '{normal}' is repeated: '{seen[normal].strip()}' and '{user.strip()}'"
                " are the same user; give each user once"
            )
        seen[normal] = user
    return tuple(seen)
