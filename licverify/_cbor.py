"""Strict, bounded CBOR: the verifier's parsing boundary (docs/format.md §3).

Two tools live here:

* a tiny head reader for the fixed-shape outer envelope, used *before* any
  signature is checked, so untrusted bytes never reach a general decoder;
* ``decode_canonical`` for signed payloads: cbor2 with every built-in
  leniency closed off, then a re-encode that must reproduce the bytes.

The project pins cbor2 5.9 (docs/adr/0002-cbor2-line.md); strictness comes
from these checks, not from the library's defaults.
"""

from __future__ import annotations

from typing import Any

import cbor2

from licverify._errors import Malformed

#: Largest document we read at all. A license with its certificate is well
#: under 2 KiB; metadata is capped at 4 KiB. 64 KiB leaves room for future
#: kinds (usage reports) while bounding memory and time on hostile input.
MAX_DOCUMENT_SIZE = 64 * 1024

#: Deepest nesting any payload needs (claims → terms → counters → entry).
#: cbor2's default of 400 is far more than a license needs (CVE-2026-26209).
MAX_DEPTH = 6


def _reject_tag(decoder: object, tag: object) -> Any:
    raise Malformed("unexpected CBOR tag inside a signed payload")


def read_head(buf: bytes, pos: int) -> tuple[int, int, int]:
    """Read one CBOR item head at ``pos``.

    Returns ``(major_type, argument, position_after_head)``. Rejects
    indefinite lengths, reserved values and non-minimal arguments
    (RFC 8949 §4.2.1 "preferred serialization" for heads).

    Raises:
        Malformed: truncated or non-canonical head.
    """
    if pos >= len(buf):
        raise Malformed("truncated document")
    initial = buf[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        return major, info, pos
    if info > 27:
        raise Malformed("indefinite length or reserved CBOR value")
    size = 1 << (info - 24)
    end = pos + size
    if end > len(buf):
        raise Malformed("truncated document")
    arg = int.from_bytes(buf[pos:end], "big")
    if arg < (24 if size == 1 else 1 << (4 * size)):
        raise Malformed("non-minimal CBOR integer or length")
    return major, arg, end


def read_bstr(buf: bytes, pos: int) -> tuple[int, int, int]:
    """Read a definite byte string at ``pos``.

    Returns ``(start_of_item, start_of_content, end_of_content)`` so callers
    keep the exact bytes as received.
    """
    major, length, start = read_head(buf, pos)
    if major != 2:
        raise Malformed("expected a byte string")
    end = start + length
    if end > len(buf):
        raise Malformed("truncated document")
    return pos, start, end


def decode_canonical(data: bytes, what: str) -> Any:
    """Decode deterministically encoded CBOR, or raise Malformed.

    The value must use only definite lengths, no tags, minimal integers,
    sorted unique map keys and nothing after the item: re-encoding the
    decoded value must give back exactly ``data``. Callers still check
    every field's type; this function only guarantees one encoding per value.

    Callers must type-check the result *before* calling ``require_canonical``
    when the data is unauthenticated, because shared-reference tags could
    make re-encoding expensive; signed payloads come from a trusted key.
    """
    try:
        value = cbor2.loads(data, tag_hook=_reject_tag, max_depth=MAX_DEPTH)
    except Malformed:
        raise
    except Exception as exc:  # cbor2 raises several types; all mean "bad bytes"
        raise Malformed(f"{what} is not valid CBOR ({exc.__class__.__name__})") from None
    return value


def require_canonical(value: Any, data: bytes, what: str) -> None:
    """Raise Malformed unless ``value`` re-encodes to exactly ``data`` (RFC 8949 §4.2).

    This one comparison rejects duplicate or unsorted map keys, non-minimal
    integers and lengths, indefinite lengths, semantic tags that cbor2
    decodes silently, and trailing bytes.
    """
    try:
        again = encode_canonical(value)
    except Exception:
        raise Malformed(f"{what} holds values outside the format") from None
    if again != data:
        raise Malformed(f"{what} is not deterministically encoded")


def encode_canonical(value: Any) -> bytes:
    """Deterministic CBOR for the key shapes this format allows.

    cbor2's ``canonical=True`` orders map keys length-first (RFC 8949 §4.2.3),
    which equals the §4.2.1 bytewise order whenever the keys of one map are
    all text, or all integers with non-negative keys below 24 (format §3.2).
    ``tests/test_cbor.py`` checks this for every document we produce.
    """
    return cbor2.dumps(value, canonical=True)
