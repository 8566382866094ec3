"""Armored text form of documents (docs/format.md §5)."""

from __future__ import annotations

import base64
import binascii

from licverify._cbor import MAX_DOCUMENT_SIZE
from licverify._errors import MalformedError
from licverify._kinds import Kind, kind_by_armor_label

_BEGIN = b"-----BEGIN "
_END = b"-----END "
_DASHES = b"-----"
_LINE = 64


def armor(data: bytes, kind: Kind) -> bytes:
    """Return the armored text form of a binary document, ending in a newline."""
    b64 = binascii.b2a_base64(data, newline=False)
    lines = [b64[i : i + _LINE] for i in range(0, len(b64), _LINE)]
    label = kind.armor_label.encode()
    return b"\n".join([_BEGIN + label + _DASHES, *lines, _END + label + _DASHES]) + b"\n"


def is_armored(data: bytes) -> bool:
    """True if ``data`` looks like armored text rather than binary CBOR."""
    return data.lstrip()[:11] == _BEGIN


def dearmor(data: bytes) -> tuple[bytes, Kind | None]:
    """Return ``(binary, kind_named_in_armor)`` for armored or binary input.

    Binary input is returned as is with kind None. Armored input must be one
    block: a known BEGIN line, strict base64 lines, the matching END line,
    and nothing but whitespace around it.

    Raises:
        MalformedError: anything else.
    """
    if len(data) > 2 * MAX_DOCUMENT_SIZE:
        raise MalformedError("document is larger than the format allows")
    if not is_armored(data):
        return data, None
    lines = data.strip().splitlines()
    if len(lines) < 3:
        raise MalformedError("armored document is truncated")
    first, last = lines[0].strip(), lines[-1].strip()
    if not (first.startswith(_BEGIN) and first.endswith(_DASHES) and len(first) > 16):
        raise MalformedError("armored document has a damaged BEGIN line")
    label = first[len(_BEGIN) : -len(_DASHES)]
    if last != _END + label + _DASHES:
        raise MalformedError("armored document has no matching END line (truncated?)")
    try:
        kind = kind_by_armor_label(label.decode("ascii"))
    except UnicodeDecodeError:
        kind = None
    if kind is None:
        raise MalformedError(f"unknown armor label {label.decode('ascii', 'replace')!r}")
    body = b"".join(line.strip() for line in lines[1:-1])
    try:
        binary = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError("armored document has damaged base64") from None
    if binascii.b2a_base64(binary, newline=False) != body:
        raise MalformedError("armored document has non-canonical base64")
    return binary, kind
