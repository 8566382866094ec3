"""Strict, bounded CBOR: the verifier's parsing boundary (docs/format.md §3).

Two tools live here:

* a tiny head reader for the fixed-shape outer envelope, used *before* any
  signature is checked, so untrusted bytes never reach a general decoder;
* ``decode_canonical``, a strict decoder for the deterministic subset of
  CBOR the payloads use; it accepts exactly one encoding of each value.

cbor2 (pinned to 5.9, docs/adr/0002-cbor2-line.md) is used only to encode.
"""

from __future__ import annotations

from typing import Any

import cbor2

from licverify._errors import MalformedError

#: Largest document we read at all. A license with its certificate is well
#: under 2 KiB; metadata is capped at 4 KiB. 64 KiB leaves room for future
#: kinds (usage reports) while bounding memory and time on hostile input.
MAX_DOCUMENT_SIZE = 64 * 1024

#: Deepest nesting any payload needs (claims → terms → counters → entry → 2
#: spare). cbor2's default of 400 is far more than a license needs.
MAX_DEPTH = 6


def read_head(buf: bytes, pos: int) -> tuple[int, int, int]:
    """Read one CBOR item head at ``pos``.

    Returns ``(major_type, argument, position_after_head)``. Rejects
    indefinite lengths, reserved values and non-minimal arguments
    (RFC 8949 §4.2.1 "preferred serialization" for heads).

    Raises:
        MalformedError: truncated or non-canonical head.
    """
    if pos >= len(buf):
        raise MalformedError("truncated document")
    initial = buf[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if info < 24:
        return major, info, pos
    if info > 27:
        raise MalformedError("indefinite length or reserved CBOR value")
    size = 1 << (info - 24)
    end = pos + size
    if end > len(buf):
        raise MalformedError("truncated document")
    arg = int.from_bytes(buf[pos:end], "big")
    if arg < (24 if size == 1 else 1 << (4 * size)):
        raise MalformedError("non-minimal CBOR integer or length")
    return major, arg, end


def read_bstr(buf: bytes, pos: int) -> tuple[int, int, int]:
    """Read a definite byte string at ``pos``.

    Returns ``(start_of_item, start_of_content, end_of_content)`` so callers
    keep the exact bytes as received.
    """
    major, length, start = read_head(buf, pos)
    if major != 2:
        raise MalformedError("expected a byte string")
    end = start + length
    if end > len(buf):
        raise MalformedError("truncated document")
    return pos, start, end


def decode_canonical(data: bytes, what: str) -> Any:
    """Decode one deterministically encoded CBOR item that fills ``data`` exactly.

    This is the strict decoder (docs/format.md §3). It accepts only unsigned
    and negative integers, byte and text strings, arrays, maps with integer
    or text keys, and the simple values false, true and null; and only their
    deterministic encoding (RFC 8949 §4.2.1): definite lengths, minimal
    heads, map keys unique and in bytewise order of their encodings, valid
    UTF-8, nesting at most ``MAX_DEPTH``, nothing after the item. Tags,
    floats and other simple values are refused. It never calls cbor2, so
    strictness does not depend on a library's defaults.

    Raises:
        MalformedError: the bytes are anything else.
    """
    if type(data) is not bytes:
        raise TypeError("data must be bytes")
    if len(data) > MAX_DOCUMENT_SIZE:
        raise MalformedError(f"{what} is larger than the format allows")
    try:
        value, end = _item(data, 0, 0)
    except IndexError:
        raise MalformedError(f"{what} is truncated") from None
    except MalformedError as exc:
        raise MalformedError(f"{what}: {exc}") from None
    if end != len(data):
        raise MalformedError(f"{what} has unexpected bytes after it")
    return value


_SIMPLE = {0xF4: False, 0xF5: True, 0xF6: None}
_KEY_MAJORS = (0, 1, 3)


def _item(buf: bytes, pos: int, depth: int) -> tuple[Any, int]:
    initial = buf[pos]
    pos += 1
    # Fast paths for the most common items: small unsigned ints and short text.
    if initial < 0x18:
        return initial, pos
    if 0x60 <= initial < 0x78:
        end = pos + initial - 0x60
        if end > len(buf):
            raise IndexError
        try:
            return buf[pos:end].decode("utf-8"), end
        except UnicodeDecodeError:
            raise MalformedError("text is not valid UTF-8") from None
    major = initial >> 5
    info = initial & 0x1F
    if major == 7:
        if initial in _SIMPLE:
            return _SIMPLE[initial], pos
        raise MalformedError(
            "floats and simple values other than false, true, null are not allowed"
        )
    if info < 24:
        arg = info
    elif info < 28:
        end = pos + (1 << (info - 24))
        if end > len(buf):
            raise IndexError
        arg = int.from_bytes(buf[pos:end], "big")
        if arg < (24 if info == 24 else 1 << (4 << (info - 24))):
            raise MalformedError("non-minimal integer or length")
        pos = end
    else:
        raise MalformedError("indefinite lengths are not allowed")
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major == 2 or major == 3:
        end = pos + arg
        if end > len(buf):
            raise IndexError
        if major == 2:
            return buf[pos:end], end
        try:
            return buf[pos:end].decode("utf-8"), end
        except UnicodeDecodeError:
            raise MalformedError("text is not valid UTF-8") from None
    if major == 6:
        raise MalformedError("tags are not allowed")
    if depth >= MAX_DEPTH:
        raise MalformedError("nesting is too deep")
    depth += 1
    if major == 4:
        items = []
        for _ in range(arg):
            value, pos = _item(buf, pos, depth)
            items.append(value)
        return items, pos
    result: dict[Any, Any] = {}
    previous = b""
    size = len(buf)
    for _ in range(arg):
        # Keys and values are mostly small ints and short text: decoded inline,
        # because a call per item is most of this function's cost.
        start = pos
        initial = buf[pos]
        if 0x60 <= initial < 0x78:
            pos += 1 + initial - 0x60
            if pos > size:
                raise IndexError
            try:
                key: Any = buf[start + 1 : pos].decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedError("text is not valid UTF-8") from None
        elif initial >> 5 in _KEY_MAJORS:
            key, pos = _item(buf, pos, depth)
        else:
            raise MalformedError("map keys must be integers or text")
        encoded = buf[start:pos]
        if encoded <= previous:
            raise MalformedError("map keys are duplicated or not in deterministic order")
        previous = encoded
        initial = buf[pos]
        if initial < 0x18:
            result[key] = initial
            pos += 1
        else:
            result[key], pos = _item(buf, pos, depth)
    return result, pos


def encode_canonical(value: Any) -> bytes:
    """Deterministic CBOR for the key shapes this format allows.

    cbor2's ``canonical=True`` orders map keys length-first (RFC 8949 §4.2.3),
    which equals the §4.2.1 bytewise order whenever the keys of one map are
    all text, or all integers with non-negative keys below 24 (format §3.2).
    Every encoder in this package decodes its output with ``decode_canonical``
    before signing, so a value outside that rule is refused, never signed.
    """
    return cbor2.dumps(value, canonical=True)
