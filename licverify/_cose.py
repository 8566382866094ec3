"""COSE_Sign1 envelopes, parsed by hand and strictly (docs/format.md §4).

Nothing here trusts the bytes: the outer structure has one fixed shape and
is read with a head reader, so no general-purpose decoder sees unverified
data, and the signed bytes are sliced from the input exactly as received.
"""

from __future__ import annotations

from collections.abc import Callable

from licverify._cbor import MAX_DOCUMENT_SIZE, read_bstr, read_head
from licverify._errors import MalformedError, UnsupportedError
from licverify._keys import KEY_ID_SIZE
from licverify._kinds import KINDS, Kind, kind_by_content_type

#: COSE algorithm EdDSA (RFC 9053 §2.2), pinned: the only value accepted.
#: See docs/adr/0003-cose-profile.md for why -8 rather than -19.
ALG_EDDSA = -8
SIGNATURE_SIZE = 64

_TAG_SIGN1 = b"\xd2"  # tag 18
_ARRAY4 = b"\x84"
# Header labels (RFC 9052 §3.1; kcwt: RFC 9528 §3.5.3.1).
_ALG, _CRIT, _CONTENT_TYPE, _KID, _KCWT = 1, 2, 3, 4, 13
# Sig_structure prefix: ["Signature1", protected, external_aad = h'', payload].
_SIG_STRUCTURE_PREFIX = b"\x84\x6aSignature1"
#: Private-use header label (RFC 9052 §3.1: below -65536) of the root rollovers
#: a document carries beside its certificate (format §6.5), and how many at most.
ROLLOVERS_LABEL = -65537
MAX_ROLLOVERS = 4
_ROLLOVERS_HEAD = b"\x3a\x00\x01\x00\x00"  # -65537
_IN_KCWT = "the certificate in kcwt"
_ONLY_CERTIFICATE = "unprotected header may hold only the certificate and root rollovers"
_EMPTY_BSTR = b"\x40"


class Envelope:
    """An unverified COSE_Sign1: the parts needed to verify it, nothing decoded.

    Attributes:
        kind: document kind named by the protected content type.
        kid: key id of the signer (a hint, never trusted on its own).
        payload: payload bytes as received.
        signature: 64-byte signature.
        certificate: the issuing-key certificate embedded in kcwt (its tagged
            COSE_Sign1, the exact bytes as received), or None.
        to_be_signed: the Sig_structure the signature covers.
        rollovers: the root rollovers carried beside the certificate (each a
            tagged COSE_Sign1 as received, oldest first; format §6.5), or ().
    """

    __slots__ = (
        "certificate",
        "kid",
        "kind",
        "payload",
        "rollovers",
        "signature",
        "to_be_signed",
    )

    def __init__(
        self,
        kind: Kind,
        kid: bytes,
        payload: bytes,
        signature: bytes,
        certificate: bytes | None,
        to_be_signed: bytes,
        rollovers: tuple[bytes, ...] = (),
    ) -> None:
        self.kind = kind
        self.kid = kid
        self.payload = payload
        self.signature = signature
        self.certificate = certificate
        self.to_be_signed = to_be_signed
        self.rollovers = rollovers


def parse_unverified(data: bytes) -> Envelope:
    """Split a binary COSE_Sign1 into its parts, checking shape and encoding only.

    Raises:
        MalformedError: wrong size, shape, tag, or non-canonical encoding.
        UnsupportedError: an algorithm, critical header or kind this verifier does not know.
    """
    if type(data) is not bytes:
        raise TypeError("document must be bytes")
    if len(data) > MAX_DOCUMENT_SIZE:
        raise MalformedError("document is larger than the format allows")
    if not data:
        raise MalformedError("document is empty")
    if data[:1] != _TAG_SIGN1 or data[1:2] != _ARRAY4:
        raise MalformedError("not a licsign document (expected a COSE_Sign1, CBOR tag 18)")
    p_item, p_start, p_end = read_bstr(data, 2)
    kind, kid = _parse_protected(data[p_start:p_end])
    certificate, rollovers, pos = _parse_unprotected(data, p_end)
    y_item, y_start, y_end = read_bstr(data, pos)
    _, s_start, s_end = read_bstr(data, y_end)
    if s_end - s_start != SIGNATURE_SIZE:
        raise MalformedError("signature is not 64 bytes")
    if s_end != len(data):
        raise MalformedError("unexpected bytes after the document")
    to_be_signed = _SIG_STRUCTURE_PREFIX + data[p_item:p_end] + _EMPTY_BSTR + data[y_item:y_end]
    return Envelope(
        kind, kid, data[y_start:y_end], data[s_start:s_end], certificate, to_be_signed, rollovers
    )


def _parse_protected(header: bytes) -> tuple[Kind, bytes]:
    # Fast path: the one canonical layout, {1: -8, 3: content type, 4: kid}.
    kind = _CANONICAL_PROTECTED.get(header[:-KEY_ID_SIZE])
    if kind is not None:
        return kind, header[-KEY_ID_SIZE:]
    # Anything else is read item by item, to say precisely what is wrong.
    major, count, pos = read_head(header, 0)
    if major != 5:
        raise MalformedError("protected header is not a map")
    alg = content_type = kid = None
    last_label = 0
    for _ in range(count):
        major, label, pos = read_head(header, pos)
        if major != 0 or label <= last_label:
            raise MalformedError("protected header labels are not sorted unsigned integers")
        last_label = label
        if label == _ALG:
            major, arg, pos = read_head(header, pos)
            if major not in (0, 1):
                raise MalformedError("algorithm is not an integer")
            alg = arg if major == 0 else -1 - arg
        elif label == _CONTENT_TYPE:
            major, length, start = read_head(header, pos)
            if major != 3 or start + length > len(header):
                raise MalformedError("content type is not a text string")
            pos = start + length
            try:
                content_type = header[start:pos].decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedError("content type is not UTF-8") from None
        elif label == _KID:
            _, start, pos = read_bstr(header, pos)
            kid = header[start:pos]
        elif label == _CRIT:
            raise UnsupportedError("document marks header parameters as critical")
        else:
            raise MalformedError(f"unexpected protected header parameter {label}")
    if pos != len(header):
        raise MalformedError("unexpected bytes after the protected header")
    if alg is None or content_type is None or kid is None:
        raise MalformedError("protected header lacks algorithm, content type or key id")
    if alg != ALG_EDDSA:
        raise UnsupportedError(f"signature algorithm {alg} is not allowed (only EdDSA, -8)")
    kind = kind_by_content_type(content_type)
    if kind is None:
        raise UnsupportedError(f"unknown document kind {content_type[:80]!r}")
    if len(kid) != KEY_ID_SIZE:
        raise MalformedError("key id is not 16 bytes")
    return kind, kid


def _protected_prefix(kind: Kind) -> bytes:
    return b"\xa3\x01\x27\x03" + _tstr(kind.content_type) + b"\x04" + _head(2, KEY_ID_SIZE)


def _parse_unprotected(data: bytes, pos: int) -> tuple[bytes | None, tuple[bytes, ...], int]:
    major, count, pos = read_head(data, pos)
    if major != 5:
        raise MalformedError("unprotected header is not a map")
    if count == 0:
        return None, (), pos
    if count > 2:
        raise MalformedError(_ONLY_CERTIFICATE)
    major, label, pos = read_head(data, pos)
    if major != 0 or label != _KCWT:
        raise MalformedError(_ONLY_CERTIFICATE)
    end = _skip_embedded(data, pos, _IN_KCWT)
    certificate = data[pos:end]
    if count == 1:
        return certificate, (), end
    major, label, pos = read_head(data, end)
    if major != 1 or label != -1 - ROLLOVERS_LABEL:
        raise MalformedError(_ONLY_CERTIFICATE)
    major, links, pos = read_head(data, pos)
    if major != 4 or not 1 <= links <= MAX_ROLLOVERS:
        raise MalformedError(f"root rollovers must be a list of 1 to {MAX_ROLLOVERS} documents")
    rollovers = []
    for _ in range(links):
        end = _skip_embedded(data, pos, "a root rollover")
        rollovers.append(data[pos:end])
        pos = end
    return certificate, tuple(rollovers), pos


def _skip_embedded(data: bytes, pos: int, what: str) -> int:
    """Walk a document embedded in the unprotected header and return where it ends.

    The certificate in kcwt and each root rollover are embedded the same way.
    kcwt's registered value type is COSE_Messages (RFC 9528 §3.5.3.1): the
    certificate's COSE_Sign1 itself, tag 18 included, not a byte string
    holding it. Only the fixed shape is checked here: tag 18, an array of
    four, a protected byte string, an EMPTY unprotected map (an embedded
    document embeds nothing, so nesting stops at one level), a payload byte
    string and a 64-byte signature. The caller keeps the bytes exactly as
    received, so the embedded signature is checked over them
    (``parse_unverified`` parses them again, fully, before they are trusted).
    """
    if what == _IN_KCWT and data[pos : pos + 1] and data[pos] >> 5 == 2:
        # Format version 1 wrapped the certificate in a byte string (ADR 0008).
        raise UnsupportedError(
            "format version 1 document (its certificate is wrapped in a byte string); "
            "this verifier reads format version 2: ask the vendor to reissue it"
        )
    if data[pos : pos + 2] != _TAG_SIGN1 + _ARRAY4:
        raise MalformedError(f"{what} must be a COSE_Sign1 itself (CBOR tag 18), embedded as is")
    _, _, end = read_bstr(data, pos + 2)
    major, count, end = read_head(data, end)
    if major != 5 or count != 0:
        raise MalformedError(f"{what} must have an empty unprotected header")
    _, _, end = read_bstr(data, end)
    _, s_start, end = read_bstr(data, end)
    if end - s_start != SIGNATURE_SIZE:
        raise MalformedError(f"{what} has a signature that is not 64 bytes")
    return end


def encode_sign1(
    kind: Kind,
    kid: bytes,
    payload: bytes,
    sign: Callable[[bytes], bytes],
    certificate: bytes | None = None,
    rollovers: tuple[bytes, ...] = (),
) -> bytes:
    """Build and sign a COSE_Sign1 in the format's canonical layout.

    ``sign`` receives the Sig_structure bytes and returns a 64-byte signature;
    the private key never enters this module. ``rollovers`` (root rollover
    documents, oldest first) ride beside ``certificate`` and need one.
    """
    if len(kid) != KEY_ID_SIZE:
        raise ValueError("key id must be 16 bytes")
    if rollovers and (certificate is None or len(rollovers) > MAX_ROLLOVERS):
        raise ValueError(f"root rollovers need a certificate, and at most {MAX_ROLLOVERS} fit")
    protected = _protected_prefix(kind) + kid
    protected_item = _bstr(protected)
    payload_item = _bstr(payload)
    signature = sign(_SIG_STRUCTURE_PREFIX + protected_item + _EMPTY_BSTR + payload_item)
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError("signer returned a signature that is not 64 bytes")
    # kcwt carries the certificate's COSE_Sign1 itself, not wrapped (format §4.3).
    if certificate is None:
        unprotected = b"\xa0"
    elif not rollovers:
        unprotected = b"\xa1\x0d" + certificate
    else:
        links = _head(4, len(rollovers)) + b"".join(rollovers)
        unprotected = b"\xa2\x0d" + certificate + _ROLLOVERS_HEAD + links
    return _TAG_SIGN1 + _ARRAY4 + protected_item + unprotected + payload_item + _bstr(signature)


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")
    raise ValueError("length too large")


def _bstr(b: bytes) -> bytes:
    return _head(2, len(b)) + b


def _tstr(s: str) -> bytes:
    raw = s.encode("utf-8")
    return _head(3, len(raw)) + raw


_CANONICAL_PROTECTED = {_protected_prefix(kind): kind for kind in KINDS}
