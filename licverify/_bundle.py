"""Bundles: several armored documents in one file (docs/format.md §5.1).

A renewal or an activation response can carry the vendor's latest
revocation list in the same file, so the list reaches an air-gapped machine
without an extra trip. No signed payload changes: each block is an ordinary
armored document, verified on its own. Loaded lazily (only the store and
the CLI need it), so ``import licverify`` stays small.
"""

from __future__ import annotations

from licverify._armor import armor, dearmor, is_armored
from licverify._cbor import MAX_DOCUMENT_SIZE
from licverify._errors import MalformedError
from licverify._kinds import REVOCATION_LIST, Kind

#: At most this many blocks in a bundle: a main document and a few lists is all a
#: vendor sends; a bound keeps a hostile file from making the reader verify many.
MAX_BUNDLE_BLOCKS = 4
#: A bundle is bounded like one armored document (§5): 2 x 64 KiB in all, so every
#: reader keeps its one input bound and a bundle costs no more memory than a document.
MAX_BUNDLE_SIZE = 2 * MAX_DOCUMENT_SIZE

_BEGIN = b"-----BEGIN "
_END = b"-----END "


def split_bundle(data: bytes) -> list[tuple[bytes, Kind | None]]:
    """Split a file into its documents: ``[(binary, kind_named_in_armor), ...]``.

    Binary input is one document (kind None, as ``dearmor`` gives). Armored
    input is one or more armored blocks separated by blank lines; each block
    is dearmored on its own (known label, strict base64).

    Raises:
        MalformedError: the file is too large, has anything but whitespace
            between or around blocks, a block without its END line, more
            than ``MAX_BUNDLE_BLOCKS`` blocks, or a damaged block.
    """
    if len(data) > MAX_BUNDLE_SIZE:
        raise MalformedError("file is larger than a bundle of documents may be")
    if not is_armored(data):
        return [dearmor(data)]
    blocks: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in data.splitlines():
        text = line.strip()
        if current is None:
            if not text:
                continue  # blank lines between blocks
            if not text.startswith(_BEGIN):
                raise MalformedError("bundle has text between its armored documents")
            if len(blocks) == MAX_BUNDLE_BLOCKS:
                raise MalformedError(f"bundle has more than {MAX_BUNDLE_BLOCKS} armored documents")
            current = [text]
            blocks.append(current)
        else:
            current.append(text)
            if text.startswith(_END):
                current = None
            elif text.startswith(_BEGIN):
                raise MalformedError("armored document in a bundle has no END line")
    if current is not None:
        raise MalformedError("last armored document in the bundle has no END line (truncated?)")
    return [dearmor(b"\n".join(block) + b"\n") for block in blocks]


def split_main_and_lists(data: bytes) -> tuple[bytes, list[bytes]]:
    """The main document of a bundle (armored block or binary) and the revocation lists after it.

    Every block after the first must be labelled as a revocation list; the
    main document is returned as bytes its own verifier accepts (its label
    is checked there against its content).

    Raises:
        MalformedError: as ``split_bundle``, or a later block that is not a
            revocation list.
    """
    if not is_armored(data) or data.count(_BEGIN) < 2:
        # Binary input, or one armored document: its own reader checks it as before (§5).
        return bytes(data), []
    documents = split_bundle(data)
    for _, kind in documents[1:]:
        if kind is not REVOCATION_LIST:
            label = "unlabelled" if kind is None else kind.armor_label
            raise MalformedError(
                f"bundle carries a {label} after its first document; only revocation lists may"
                " ride along"
            )
    binary, kind = documents[0]
    assert kind is not None  # an armored block always names its kind
    main = armor(binary, kind)
    return main, [armor(b, REVOCATION_LIST) for b, _ in documents[1:]]


__all__ = ["MAX_BUNDLE_BLOCKS", "MAX_BUNDLE_SIZE", "split_bundle", "split_main_and_lists"]
