"""Revocation lists (docs/format.md §13, docs/adr/0020-revocation-lists.md).

A revocation list is signed by an issuing key (certified by a trusted root,
carried in kcwt like a license's) and names revoked licenses (every version,
or some versions), activations and issuing keys. Its ``number`` only grows:
a store keeps the highest it has seen and refuses a lower one, so an old
list cannot be replayed to bring a revoked license back.

Loaded lazily (``import licverify`` does not import it): an application
without revocation lists never pays for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from licverify._activation import _checked, _claims, _only
from licverify._cbor import encode_canonical
from licverify._errors import MalformedError, RevokedError
from licverify._fields import ID_CHARS, int_field, text_field
from licverify._keys import KEY_ID_SIZE
from licverify._license import FORMAT_VERSION, MAX_COUNT, Frozen
from licverify._time import iso

if TYPE_CHECKING:
    from licverify._activation import ActivationResponse
    from licverify._verify import License

# CWT claims used here (RFC 8392 §3.1) and the private terms claim.
ISS, IAT, TERMS = 1, 6, -65537
#: Highest list number: a signed 64-bit integer, so every language's decoder reads it.
MAX_NUMBER = 2**63 - 1
#: Highest license version a list names (the bound of a license's ``version``, format §7).
MAX_VERSION = MAX_COUNT
#: Entries per kind. A 64 KiB document holds about 4,000 short ids; the cap keeps
#: the sets built at verification small whatever the signer wrote.
MAX_ENTRIES = 4096
#: Versions listed for one license.
MAX_VERSIONS = 64

_CLAIMS = frozenset({ISS, IAT, TERMS})
_TERMS = frozenset({"v", "number", "product", "licenses", "activations", "keys"})


class RevocationList(Frozen):
    """A verified (or about to be signed) revocation list.

    Attributes:
        number: the list's number; a later list has a higher one.
        issued_at: when it was signed (NumericDate).
        issuer: the vendor's name, or None.
        product: the one product it is for, or None for every product.
        licenses: license id → None (every version revoked) or the revoked versions.
        activations: revoked activation ids.
        keys: revoked issuing key ids (16 bytes each).
        key_id: the issuing key that signed it (set by verification, else None).
        document: the binary document as verified (else None).
    """

    __slots__ = (
        "activations", "document", "issued_at", "issuer", "key_id", "keys", "licenses",
        "number", "product",
    )  # fmt: skip
    activations: frozenset[str]
    document: bytes | None
    issued_at: int
    issuer: str | None
    key_id: bytes | None
    keys: frozenset[bytes]
    licenses: Mapping[str, frozenset[int] | None]
    number: int
    product: str | None

    def __init__(
        self,
        *,
        number: int,
        issued_at: int,
        issuer: str | None = None,
        product: str | None = None,
        licenses: Mapping[str, frozenset[int] | None] | None = None,
        activations: frozenset[str] | set[str] = frozenset(),
        keys: frozenset[bytes] | set[bytes] = frozenset(),
        key_id: bytes | None = None,
        document: bytes | None = None,
    ) -> None:
        self._set(
            number=number, issued_at=issued_at, issuer=issuer, product=product,
            licenses=MappingProxyType(dict(licenses or {})), activations=frozenset(activations),
            keys=frozenset(keys), key_id=key_id, document=document,
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if type(other) is not RevocationList:
            return NotImplemented
        return all(
            getattr(self, s) == getattr(other, s)
            for s in self.__slots__
            if s not in ("key_id", "document", "licenses")
        ) and dict(self.licenses) == dict(other.licenses)

    __hash__ = Frozen.__hash__

    def license_revoked(self, license_id: str, version: int) -> bool:
        """Whether this version of the license is revoked."""
        if license_id not in self.licenses:
            return False
        versions = self.licenses[license_id]
        return versions is None or version in versions

    def check(self, lic: License) -> None:
        """Refuse a verified license revoked by this list (format §13.3).

        Checks the license (id and version), the issuing key that signed it and,
        if the license was verified with an activation, that activation. A list
        for another product does not apply and passes.

        Raises:
            RevokedError: the license, its issuing key or its activation is revoked.
        """
        if self.product is not None and self.product != lic.product:
            return
        if self.license_revoked(lic.id, lic.version):
            raise RevokedError(f"license {lic.id} (version {lic.version}) has been revoked")
        signer = lic.certificate.key_id
        if signer in self.keys:
            raise RevokedError(
                f"license {lic.id} is signed by issuing key {signer.hex()}, which has been revoked"
            )
        if lic.activation is not None:
            self.check_activation(lic.activation)

    def check_response(self, document: bytes) -> None:
        """Refuse an activation response this list revokes: its activation, or the issuing key
        that signed it (a revoked key must not keep answering requests).

        Call it after the response verified (``verify_license(activation=...)`` or
        ``LocalStore.check``): the signer's key id is then read from the document,
        where verification has bound it to the certified key.

        Raises:
            RevokedError: the activation or its signer is listed.
        """
        from licverify._activation import decode_response_payload
        from licverify._verify import open_envelope

        envelope, _ = open_envelope(document)
        if envelope.kid in self.keys:
            raise RevokedError(
                f"the activation response is signed by issuing key {envelope.kid.hex()},"
                " which has been revoked"
            )
        self.check_activation(decode_response_payload(envelope.payload))

    def check_activation(self, response: ActivationResponse) -> None:
        """Refuse a revoked activation.

        Raises:
            RevokedError: the activation is listed.
        """
        if response.activation_id in self.activations:
            raise RevokedError(f"activation {response.activation_id} has been revoked")

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "number": self.number, "issued_at": iso(self.issued_at), "issuer": self.issuer,
            "product": self.product,
            "licenses": {
                k: (None if v is None else sorted(v)) for k, v in sorted(self.licenses.items())
            },
            "activations": sorted(self.activations), "keys": sorted(k.hex() for k in self.keys),
            "key_id": None if self.key_id is None else self.key_id.hex(),
        }  # fmt: skip


def encode_revocation_payload(revocations: RevocationList) -> bytes:
    """Deterministic payload bytes for a list; checked by decoding them back."""
    terms: dict[str, Any] = {"v": FORMAT_VERSION, "number": revocations.number}
    if revocations.product is not None:
        terms["product"] = revocations.product
    if revocations.licenses:
        terms["licenses"] = {
            k: True if v is None else sorted(v) for k, v in revocations.licenses.items()
        }
    if revocations.activations:
        terms["activations"] = sorted(revocations.activations, key=_text_order)
    if revocations.keys:
        terms["keys"] = sorted(revocations.keys)
    claims: dict[int, Any] = {IAT: revocations.issued_at, TERMS: terms}
    if revocations.issuer is not None:
        claims[ISS] = revocations.issuer
    return _checked(
        encode_canonical(claims), decode_revocation_payload, revocations, "revocation list"
    )


def _text_order(text: str) -> bytes:
    return text.encode("utf-8")


def _increasing(items: list[Any], what: str) -> None:
    """Sorted and unique: each list has exactly one encoding (format §13.1)."""
    for i in range(1, len(items)):
        if not items[i - 1] < items[i]:
            raise MalformedError(f"{what} must be sorted and without duplicates")


def _array(value: Any, what: str, most: int) -> list[Any]:
    if type(value) is not list or not value or len(value) > most:
        raise MalformedError(f"{what} must be a non-empty array of at most {most} entries")
    return value


def decode_revocation_payload(payload: bytes) -> RevocationList:
    """Decode and check a revocation list's payload (format §13.1)."""
    what = "revocation list"
    claims, terms = _claims(payload, what, _CLAIMS)
    _only(terms, _TERMS, what)
    issuer = None
    if ISS in claims:
        issuer = text_field(claims[ISS], "issuer")
    product = None
    if "product" in terms:
        product = text_field(terms["product"], "product", ID_CHARS)
    licenses: dict[str, frozenset[int] | None] = {}
    if "licenses" in terms:
        entries = terms["licenses"]
        if type(entries) is not dict or not entries or len(entries) > MAX_ENTRIES:
            raise MalformedError(
                f"revoked licenses must be a non-empty map of at most {MAX_ENTRIES} entries"
            )
        for license_id, versions in entries.items():
            text_field(license_id, "revoked license id", ID_CHARS)
            if versions is True:
                licenses[license_id] = None
                continue
            listed = _array(versions, "revoked versions (or true)", MAX_VERSIONS)
            for version in listed:
                int_field(version, "revoked license version", 1, MAX_VERSION)
            _increasing(listed, "revoked versions")
            licenses[license_id] = frozenset(listed)
    activations: list[str] = []
    if "activations" in terms:
        activations = _array(terms["activations"], "revoked activations", MAX_ENTRIES)
        for activation in activations:
            text_field(activation, "revoked activation id", ID_CHARS)
        _increasing([_text_order(a) for a in activations], "revoked activations")
    keys: list[bytes] = []
    if "keys" in terms:
        keys = _array(terms["keys"], "revoked keys", MAX_ENTRIES)
        for kid in keys:
            if type(kid) is not bytes or len(kid) != KEY_ID_SIZE:
                raise MalformedError(f"a revoked key id must be {KEY_ID_SIZE} bytes")
        _increasing(keys, "revoked keys")
    return RevocationList(
        number=int_field(terms.get("number"), "revocation list number", 1, MAX_NUMBER),
        issued_at=int_field(claims.get(IAT), "revocation list time"),
        issuer=issuer, product=product, licenses=licenses, activations=frozenset(activations),
        keys=frozenset(keys),
    )  # fmt: skip


__all__ = ["RevocationList", "decode_revocation_payload", "encode_revocation_payload"]
