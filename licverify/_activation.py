"""Activation documents: request, response and deactivation receipt (docs/format.md §11).

A request and a receipt are signed by the device key they carry (proof of
possession; the key is created in the local store and never leaves it). A
response is signed by an issuing key, carries its certificate like a
license does, and binds license, request nonce, device key and fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from nacl.bindings import crypto_hash_sha256

from licverify._cbor import decode_canonical, encode_canonical
from licverify._errors import MalformedError, UnsupportedError, UntrustedKeyError
from licverify._fields import (
    ID_CHARS,
    NAME_CHARS,
    fingerprint_field,
    int_field,
    map_field,
    text_field,
)
from licverify._keys import check_public_key, key_id
from licverify._license import FORMAT_VERSION, Frozen
from licverify._time import iso

# CWT claims used here (RFC 8392 §3.1) and the private terms claim.
EXP, IAT, CTI, TERMS = 4, 6, 7, -65537
NONCE_SIZE = 16
DIGEST_SIZE = 32


def license_digest(document: bytes) -> bytes:
    """SHA-256 of a license's binary document: how activation documents name it exactly."""
    return crypto_hash_sha256(document)


def _bytes(value: Any, what: str, size: int) -> bytes:
    if type(value) is not bytes or len(value) != size:
        raise MalformedError(f"{what} must be {size} bytes")
    return value


def _claims(
    payload: bytes, what: str, allowed: frozenset[int]
) -> tuple[dict[int, Any], dict[str, Any]]:
    claims = decode_canonical(payload, f"{what} payload")
    if type(claims) is not dict:
        raise MalformedError(f"{what} payload is not a map")
    if not allowed.issuperset(claims):
        raise UnsupportedError(f"{what} has unknown claims")
    terms = claims.get(TERMS)
    if type(terms) is not dict:
        raise MalformedError(f"{what} payload lacks its terms")
    version = terms.get("v")
    if type(version) is not int:
        raise MalformedError(f"{what} lacks the format version")
    if version != FORMAT_VERSION:
        raise UnsupportedError(f"{what} format version {version} is not supported")
    return claims, terms


def _only(terms: dict[str, Any], known: frozenset[str], what: str) -> None:
    if not known.issuperset(terms):
        unknown = sorted(str(k) for k in set(terms) - known)[:3]
        raise UnsupportedError(f"{what} has unknown critical terms {unknown}")


def _checked(payload: bytes, decode: Any, value: Any, what: str) -> bytes:
    """The issuer decodes what it encoded before signing: the two can never disagree."""
    if decode(payload) != value:
        raise MalformedError(f"{what} does not survive encoding; check its values")
    return payload


def _optional_text(terms: dict[str, Any], name: str, what: str) -> str | None:
    return None if name not in terms else text_field(terms[name], what)


def _device_key(value: Any, what: str) -> bytes:
    return check_public_key(_bytes(value, f"{what} device key", 32))


# --- request ----------------------------------------------------------------------------------


class ActivationRequest(Frozen):
    """A device asks for an activation of an installed license (signed by its device key)."""

    __slots__ = (
        "code", "created_at", "device_key", "fingerprint", "label", "lease", "license_digest",
        "license_id", "nonce", "product", "user",
    )  # fmt: skip
    code: str | None
    #: A floating seat's lease asked for, in seconds (``licverify reserve --for``), or None.
    lease: int | None
    created_at: int
    device_key: bytes
    fingerprint: Mapping[str, bytes]
    label: str
    license_digest: bytes
    license_id: str
    nonce: bytes
    product: str
    user: str | None

    def __init__(self, **fields: Any) -> None:
        fields.setdefault("lease", None)
        self._set(**fields)

    @property
    def device_id(self) -> str:
        """The device's id: hex of its key id (a new id after each deactivation)."""
        return key_id(self.device_key).hex()

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (``lease_seconds`` only when the request asks for a lease)."""
        out: dict[str, Any] = {
            "license": self.license_id, "license_digest": self.license_digest.hex(),
            "product": self.product, "device_id": self.device_id,
            "device_key": self.device_key.hex(), "nonce": self.nonce.hex(),
            "created_at": iso(self.created_at), "label": self.label, "user": self.user,
            "code": self.code, "fingerprint": {k: v.hex() for k, v in self.fingerprint.items()},
        }  # fmt: skip
        if self.lease is not None:
            out["lease_seconds"] = self.lease
        return out


_REQUEST_CLAIMS = frozenset({IAT, CTI, TERMS})
_REQUEST_TERMS = frozenset(
    {
        "v",
        "license",
        "license_digest",
        "product",
        "device_key",
        "fingerprint",
        "label",
        "user",
        "code",
        "lease",
    }
)
#: A lease asked for: as a floating license's lease may be (format §7.3).
MIN_LEASE, MAX_LEASE = 60, 31622400


def encode_request_payload(request: ActivationRequest) -> bytes:
    """Deterministic payload bytes for a request; checked by decoding them back."""
    terms: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "license": request.license_id,
        "license_digest": request.license_digest,
        "product": request.product,
        "device_key": request.device_key,
        "fingerprint": dict(request.fingerprint),
        "label": request.label,
    }
    if request.user is not None:
        terms["user"] = request.user
    if request.code is not None:
        terms["code"] = request.code
    if request.lease is not None:
        terms["lease"] = request.lease
    payload = encode_canonical({IAT: request.created_at, CTI: request.nonce, TERMS: terms})
    return _checked(payload, decode_request_payload, request, "activation request")


def decode_request_payload(payload: bytes) -> ActivationRequest:
    """Decode and check an activation request's payload (format §11.1)."""
    what = "activation request"
    claims, terms = _claims(payload, what, _REQUEST_CLAIMS)
    _only(terms, _REQUEST_TERMS, what)
    return ActivationRequest(
        code=_optional_text(terms, "code", "user activation code"),
        created_at=int_field(claims.get(IAT), "request time"),
        device_key=_device_key(terms.get("device_key"), what),
        fingerprint=fingerprint_field(terms.get("fingerprint")),
        label=text_field(terms.get("label"), "device label"),
        license_digest=_bytes(terms.get("license_digest"), "license digest", DIGEST_SIZE),
        license_id=text_field(terms.get("license"), "license id", ID_CHARS),
        nonce=_bytes(claims.get(CTI), "request nonce", NONCE_SIZE),
        product=text_field(terms.get("product"), "product", ID_CHARS),
        user=_optional_text(terms, "user", "user"),
        lease=None if "lease" not in terms else int_field(
            terms["lease"], "lease asked for", MIN_LEASE, MAX_LEASE),
    )  # fmt: skip


# --- response ---------------------------------------------------------------------------------


class ActivationResponse(Frozen):
    """The vendor's answer: this license is activated on this device (signed by an issuing key)."""

    __slots__ = (
        "activation_id", "counters", "device_key", "fingerprint", "issued_at", "lease_expires",
        "license_digest", "license_expires", "license_id", "nonce", "user",
    )  # fmt: skip
    activation_id: str
    #: Units of the license's counters this activation grants the machine on top of the
    #: license's own (format §11.2 ``counters``; ``licsign activate --counter``).
    counters: Mapping[str, int]
    device_key: bytes
    fingerprint: Mapping[str, bytes]
    issued_at: int
    lease_expires: int | None
    license_digest: bytes
    #: The license's expiry, fixed by its first activation, for a license with
    #: ``expires_after_activation`` (format §11.2 ``license_expires``); else None.
    license_expires: int | None
    license_id: str
    nonce: bytes
    user: str | None

    def __init__(self, **fields: Any) -> None:
        fields["counters"] = MappingProxyType(dict(fields.get("counters") or {}))
        self._set(**{"license_expires": None, **fields})

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (``counters`` only when the response grants some)."""
        out: dict[str, Any] = {
            "activation": self.activation_id, "license": self.license_id,
            "license_digest": self.license_digest.hex(), "device_id": key_id(self.device_key).hex(),
            "device_key": self.device_key.hex(), "nonce": self.nonce.hex(),
            "issued_at": iso(self.issued_at), "lease_expires": iso(self.lease_expires),
            "license_expires": iso(self.license_expires),
            "user": self.user, "fingerprint": {k: v.hex() for k, v in self.fingerprint.items()},
        }  # fmt: skip
        if self.counters:
            out["counters"] = dict(self.counters)
        return out


_RESPONSE_CLAIMS = frozenset({EXP, IAT, CTI, TERMS})
_RESPONSE_TERMS = frozenset(
    {"v", "license", "license_digest", "nonce", "device_key", "fingerprint", "user",
     "license_expires", "counters"}
)  # fmt: skip
#: The most counters a response grants (as a license holds, format §7.3).
MAX_GRANTED = 64


def encode_response_payload(response: ActivationResponse) -> bytes:
    """Deterministic payload bytes for a response; checked by decoding them back."""
    terms: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "license": response.license_id,
        "license_digest": response.license_digest,
        "nonce": response.nonce,
        "device_key": response.device_key,
        "fingerprint": dict(response.fingerprint),
    }
    if response.user is not None:
        terms["user"] = response.user
    if response.license_expires is not None:
        terms["license_expires"] = response.license_expires
    if response.counters:
        terms["counters"] = dict(response.counters)
    claims: dict[int, Any] = {
        IAT: response.issued_at,
        CTI: response.activation_id.encode("ascii", "replace"),
        TERMS: terms,
    }
    if response.lease_expires is not None:
        claims[EXP] = response.lease_expires
    return _checked(
        encode_canonical(claims), decode_response_payload, response, "activation response"
    )


def decode_response_payload(payload: bytes) -> ActivationResponse:
    """Decode and check an activation response's payload (format §11.2)."""
    what = "activation response"
    claims, terms = _claims(payload, what, _RESPONSE_CLAIMS)
    _only(terms, _RESPONSE_TERMS, what)
    cti = claims.get(CTI)
    if type(cti) is not bytes or not cti.isascii():
        raise MalformedError("activation id must be ASCII bytes")
    issued_at = int_field(claims.get(IAT), "response time")
    lease = None
    if EXP in claims:  # present means an integer: null is not a second way to say "no lease"
        lease = int_field(claims[EXP], "lease expiry")
        if lease <= issued_at:
            raise MalformedError("lease expires before the response was issued")
    return ActivationResponse(
        activation_id=text_field(cti.decode("ascii"), "activation id", ID_CHARS),
        device_key=_device_key(terms.get("device_key"), what),
        fingerprint=fingerprint_field(terms.get("fingerprint")),
        issued_at=issued_at,
        lease_expires=lease,
        license_digest=_bytes(terms.get("license_digest"), "license digest", DIGEST_SIZE),
        # No bound against iat: a maintained license may be re-activated after it expired.
        license_expires=(
            int_field(terms["license_expires"], "license expiry")
            if "license_expires" in terms
            else None
        ),
        license_id=text_field(terms.get("license"), "license id", ID_CHARS),
        nonce=_bytes(terms.get("nonce"), "request nonce", NONCE_SIZE),
        user=_optional_text(terms, "user", "user"),
        counters=_granted(terms),
    )


def _granted(terms: dict[str, Any]) -> dict[str, int]:
    """The response's ``counters``: 1 to 64 names, each granting 1 to 2^63 - 1 units; absent
    when none (one encoding per response)."""
    if "counters" not in terms:
        return {}
    granted = map_field(terms["counters"], "granted counters", MAX_GRANTED)
    out = {}
    for name, units in granted.items():
        name = text_field(name, "counter name", NAME_CHARS)
        if len(name) > 64:
            raise MalformedError("a granted counter's name is longer than 64 characters")
        out[name] = int_field(units, f"units of {name!r}", 1, 2**63 - 1)
    return out


# --- receipt ----------------------------------------------------------------------------------


class DeactivationReceipt(Frozen):
    """Proof that a device removed its activation (signed by the device key it had)."""

    __slots__ = (
        "activation_id",
        "created_at",
        "device_key",
        "license_digest",
        "license_id",
        "nonce",
    )
    activation_id: str
    created_at: int
    device_key: bytes
    license_digest: bytes
    license_id: str
    nonce: bytes

    def __init__(self, **fields: Any) -> None:
        self._set(**fields)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "activation": self.activation_id, "license": self.license_id,
            "license_digest": self.license_digest.hex(), "device_id": key_id(self.device_key).hex(),
            "device_key": self.device_key.hex(), "nonce": self.nonce.hex(),
            "created_at": iso(self.created_at),
        }  # fmt: skip


_RECEIPT_CLAIMS = frozenset({IAT, CTI, TERMS})
_RECEIPT_TERMS = frozenset({"v", "license", "license_digest", "activation", "device_key"})


def encode_receipt_payload(receipt: DeactivationReceipt) -> bytes:
    """Deterministic payload bytes for a receipt; checked by decoding them back."""
    terms = {
        "v": FORMAT_VERSION,
        "license": receipt.license_id,
        "license_digest": receipt.license_digest,
        "activation": receipt.activation_id,
        "device_key": receipt.device_key,
    }
    payload = encode_canonical({IAT: receipt.created_at, CTI: receipt.nonce, TERMS: terms})
    return _checked(payload, decode_receipt_payload, receipt, "deactivation receipt")


def decode_receipt_payload(payload: bytes) -> DeactivationReceipt:
    """Decode and check a deactivation receipt's payload (format §11.3)."""
    what = "deactivation receipt"
    claims, terms = _claims(payload, what, _RECEIPT_CLAIMS)
    _only(terms, _RECEIPT_TERMS, what)
    return DeactivationReceipt(
        activation_id=text_field(terms.get("activation"), "activation id", ID_CHARS),
        created_at=int_field(claims.get(IAT), "receipt time"),
        device_key=_device_key(terms.get("device_key"), what),
        license_digest=_bytes(terms.get("license_digest"), "license digest", DIGEST_SIZE),
        license_id=text_field(terms.get("license"), "license id", ID_CHARS),
        nonce=_bytes(claims.get(CTI), "receipt nonce", NONCE_SIZE),
    )


def require_self_signed(kid: bytes, device_key: bytes, what: str) -> None:
    """A device-signed document's kid must name the device key it carries."""
    if kid != key_id(device_key):
        raise UntrustedKeyError(f"{what} is signed by a key other than the device key it names")


__all__ = [
    "ActivationRequest",
    "ActivationResponse",
    "DeactivationReceipt",
    "decode_receipt_payload",
    "decode_request_payload",
    "decode_response_payload",
    "encode_receipt_payload",
    "encode_request_payload",
    "encode_response_payload",
    "license_digest",
]
