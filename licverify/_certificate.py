"""Issuing-key certificates and root rollovers: a root key vouches for a key (format §6).

A certificate's payload is a CWT whose ``cnf`` claim (RFC 8747) carries
the issuing public key as a COSE_Key, with a validity window and,
optionally, the products the key may sign licenses for. A root rollover's
``cnf`` carries the next root key instead, so that applications pinning the
old root accept certificates of the new one.
"""

from __future__ import annotations

from typing import Any

from licverify._cbor import decode_canonical, encode_canonical
from licverify._errors import MalformedError, UnsupportedError
from licverify._fields import ID_CHARS as _ID_RE
from licverify._keys import check_public_key, key_id
from licverify._license import FORMAT_VERSION, Frozen
from licverify._time import MAX_TIMESTAMP, iso

EXP, NBF, IAT, CNF, TERMS = 4, 5, 6, 8, -65537
_COSE_KEY = 1
# COSE_Key labels and values (RFC 9052 §7, RFC 9053 §7.2): kty OKP, crv Ed25519.
_KTY, _KEY_ALG, _CRV, _X = 1, 3, -1, -2
_OKP, _ED25519, _EDDSA = 1, 6, -8
MAX_PRODUCTS = 1000


class IssuingCertificate(Frozen):
    """A decoded issuing-key certificate.

    Attributes:
        public_key: the issuing key's 32-byte Ed25519 public key.
        key_id: its 16-byte key id.
        not_before, not_after: validity window (NumericDate) for signing.
        issued_at: when the root signed the certificate.
        products: products the key may sign for, or None for any product.
        root_key_id: key id of the root that signed it (filled in by the verifier).
    """

    __slots__ = (
        "issued_at",
        "key_id",
        "not_after",
        "not_before",
        "products",
        "public_key",
        "root_key_id",
    )
    public_key: bytes
    key_id: bytes
    not_before: int
    not_after: int
    issued_at: int
    products: tuple[str, ...] | None
    root_key_id: bytes

    def __init__(
        self,
        public_key: bytes,
        not_before: int,
        not_after: int,
        issued_at: int,
        products: tuple[str, ...] | None = None,
        root_key_id: bytes = b"",
    ) -> None:
        self._set(
            public_key=public_key,
            key_id=key_id(public_key),
            not_before=not_before,
            not_after=not_after,
            issued_at=issued_at,
            products=products,
            root_key_id=root_key_id,
        )

    def allows_product(self, product: str) -> bool:
        """True if this key may sign licenses for ``product``."""
        return self.products is None or product in self.products

    def covers(self, when: int) -> bool:
        """True if ``when`` (NumericDate) lies within the validity window.

        Like a CWT ``exp`` (RFC 8392 §3.1.4), ``not_after`` itself is outside.
        """
        return self.not_before <= when < self.not_after

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "key_id": self.key_id.hex(),
            "public_key": self.public_key.hex(),
            "root_key_id": self.root_key_id.hex() or None,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "issued_at": iso(self.issued_at),
            "products": list(self.products) if self.products is not None else None,
        }


def decode_certificate_payload(payload: bytes, root_key_id: bytes = b"") -> IssuingCertificate:
    """Decode and check a certificate payload.

    Raises:
        MalformedError: wrong shape or types.
        UnsupportedError: unknown claims, key type or format version.
        UntrustedKeyError: the certified public key is unusable.
    """
    claims = decode_canonical(payload, "certificate payload")
    if type(claims) is not dict:
        raise MalformedError("certificate payload is not a map")
    if set(claims) - {EXP, NBF, IAT, CNF, TERMS}:
        raise UnsupportedError("certificate has unknown claims")
    public_key = _confirmation_key(claims, "certificate")
    terms = _terms(claims, "certificate")
    if set(terms) - {"v", "products"}:
        raise UnsupportedError("certificate has unknown critical terms")
    products = None
    if "products" in terms:
        raw = terms["products"]
        if type(raw) is not list or not raw or len(raw) > MAX_PRODUCTS:
            raise MalformedError("certificate products must be a non-empty list")
        for p in raw:
            if type(p) is not str or not _ID_RE.match(p):
                raise MalformedError("certificate names an invalid product id")
        if len(set(raw)) != len(raw):
            raise MalformedError("certificate names a product twice")
        products = tuple(raw)
    times = []
    for label, what in ((NBF, "not-before"), (EXP, "expiry"), (IAT, "issued-at")):
        value = claims.get(label)
        if type(value) is not int or not 0 <= value <= MAX_TIMESTAMP:
            raise MalformedError(f"certificate {what} must be a NumericDate")
        times.append(value)
    if times[1] <= times[0]:
        raise MalformedError("certificate expires before it starts")
    return IssuingCertificate(public_key, times[0], times[1], times[2], products, root_key_id)


def _confirmation_key(claims: dict[Any, Any], what: str) -> bytes:
    """The Ed25519 public key in the ``cnf`` claim (RFC 8747 §3.1), checked (§6.2)."""
    cnf = claims.get(CNF)
    if type(cnf) is not dict or set(cnf) != {_COSE_KEY} or type(cnf[_COSE_KEY]) is not dict:
        raise MalformedError(f"{what} lacks its confirmation key")
    cose_key = cnf[_COSE_KEY]
    if set(cose_key) != {_KTY, _KEY_ALG, _CRV, _X}:
        raise MalformedError(f"{what} key has unexpected parameters")
    params = (cose_key[_KTY], cose_key[_KEY_ALG], cose_key[_CRV])
    if any(type(p) is not int for p in params) or params != (_OKP, _EDDSA, _ED25519):
        raise UnsupportedError(f"{what} key is not an Ed25519 EdDSA key")
    return check_public_key(cose_key[_X])


def _terms(claims: dict[Any, Any], what: str) -> dict[Any, Any]:
    terms = claims.get(TERMS)
    if type(terms) is not dict or type(terms.get("v")) is not int or terms["v"] != FORMAT_VERSION:
        raise UnsupportedError(f"{what} format version is not supported")
    return terms


def _cnf(public_key: bytes) -> dict[int, Any]:
    return {_COSE_KEY: {_KTY: _OKP, _KEY_ALG: _EDDSA, _CRV: _ED25519, _X: public_key}}


class RootRollover(Frozen):
    """A decoded root rollover: an old root vouches for a new one (docs/format.md §6.5).

    Attributes:
        public_key: the new root's 32-byte Ed25519 public key.
        key_id: its 16-byte key id.
        previous_key_id: key id of the root that signed the rollover.
        issued_at: when the old root signed it.
    """

    __slots__ = ("issued_at", "key_id", "previous_key_id", "public_key")
    public_key: bytes
    key_id: bytes
    previous_key_id: bytes
    issued_at: int

    def __init__(self, public_key: bytes, previous_key_id: bytes, issued_at: int) -> None:
        self._set(
            public_key=public_key,
            key_id=key_id(public_key),
            previous_key_id=previous_key_id,
            issued_at=issued_at,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "key_id": self.key_id.hex(),
            "public_key": self.public_key.hex(),
            "previous_key_id": self.previous_key_id.hex(),
            "issued_at": iso(self.issued_at),
        }


def decode_rollover_payload(payload: bytes, previous_key_id: bytes) -> RootRollover:
    """Decode and check a root rollover's payload: ``{iat, cnf, terms: {"v": 2}}``.

    Raises:
        MalformedError: wrong shape or types, or the new root is the old one.
        UnsupportedError: unknown claims or terms, key type or format version.
        UntrustedKeyError: the new root's public key is unusable.
    """
    claims = decode_canonical(payload, "root rollover payload")
    if type(claims) is not dict:
        raise MalformedError("root rollover payload is not a map")
    if set(claims) - {IAT, CNF, TERMS}:
        raise UnsupportedError("root rollover has unknown claims")
    public_key = _confirmation_key(claims, "root rollover")
    if set(_terms(claims, "root rollover")) != {"v"}:
        raise UnsupportedError("root rollover has unknown critical terms")
    issued_at = claims.get(IAT)
    if type(issued_at) is not int or not 0 <= issued_at <= MAX_TIMESTAMP:
        raise MalformedError("root rollover issued-at must be a NumericDate")
    if key_id(public_key) == previous_key_id:
        raise MalformedError("root rollover names the root that signed it")
    return RootRollover(public_key, previous_key_id, issued_at)


def encode_rollover_payload(rollover: RootRollover) -> bytes:
    """Deterministic payload bytes for ``rollover``; checked by decoding them back."""
    claims = {IAT: rollover.issued_at, CNF: _cnf(rollover.public_key), TERMS: {"v": FORMAT_VERSION}}
    payload = encode_canonical(claims)
    if decode_rollover_payload(payload, rollover.previous_key_id) != rollover:
        raise MalformedError("root rollover does not survive encoding; check its values")
    return payload


def encode_certificate_payload(cert: IssuingCertificate) -> bytes:
    """Deterministic payload bytes for ``cert``; checked by decoding them back."""
    terms: dict[str, Any] = {"v": FORMAT_VERSION}
    if cert.products is not None:
        terms["products"] = list(cert.products)
    claims = {
        NBF: cert.not_before,
        EXP: cert.not_after,
        IAT: cert.issued_at,
        CNF: _cnf(cert.public_key),
        TERMS: terms,
    }
    payload = encode_canonical(claims)
    decoded = decode_certificate_payload(payload, cert.root_key_id)
    if decoded != cert:
        raise MalformedError("certificate does not survive encoding; check its values")
    return payload
