"""License terms: the payload of a license document (docs/format.md §7).

``encode_license_payload`` and ``decode_license_payload`` are the only two
places that know the wire layout of a license, so the issuer and the
verifier cannot disagree: the issuer decodes what it encoded before signing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from licverify._cbor import decode_canonical, encode_canonical
from licverify._errors import MalformedError, UnsupportedError
from licverify._fields import (
    ID_CHARS as _ID_RE,
)
from licverify._fields import (
    NAME_CHARS as _NAME_RE,
)
from licverify._fields import (
    VERSION_TEXT as _VERSION_RE,
)
from licverify._fields import (
    fingerprint_field as _fingerprint,
)
from licverify._fields import (
    int_field as _int,
)
from licverify._fields import (
    list_field as _list,
)
from licverify._fields import (
    map_field as _map,
)
from licverify._fields import (
    scalar_field as _scalar,
)
from licverify._fields import (
    text_field as _text,
)
from licverify._time import MAX_TIMESTAMP, iso

# CWT claim keys (RFC 8392 §3.1) and our private-use claim (§3.1 "private use" < -65536).
ISS, SUB, AUD, EXP, NBF, IAT, CTI = 1, 2, 3, 4, 5, 6, 7
TERMS = -65537
#: Version 2: kcwt carries the certificate's COSE_Sign1 itself (format §4.3,
#: docs/adr/0008-kcwt-as-registered.md); version-1 documents are refused.
FORMAT_VERSION = 2

LICENSE_TYPES = ("perpetual", "time-limited", "subscription", "trial", "consumption", "floating")
#: Types that must carry an expiry.
EXPIRING_TYPES = frozenset({"time-limited", "subscription", "trial"})
LIMIT_NAMES = ("devices", "users", "devices_per_user", "transfers")
DEVICE_MATCH_WORDS = ("all", "most")

#: Bounds on what a license may carry, so a verifier's memory and time stay
#: small whatever the issuer wrote (format §7.3).
MAX_NAME = 64
MAX_FEATURES = 256
MAX_COUNTERS = 64
MAX_METADATA_BYTES = 4096
MAX_COUNT = 2**32 - 1
#: Bounds of the "refresh" term in seconds: an hour to ten years (format §7.1).
MIN_REFRESH = 3600
MAX_REFRESH = 10 * 366 * 86400
#: What a license does once exp + grace has passed (format §7.1 "at_expiry"):
#: stop ("restrict", the default, never written) or keep working, flagged ("maintain").
AT_EXPIRY = ("restrict", "maintain")
#: Bounds of "expires_after_activation" in seconds: an hour to ten years (format §7.1).
MIN_ACTIVATION_TERM = 3600
MAX_ACTIVATION_TERM = 10 * 366 * 86400

_CLAIMS = frozenset({ISS, SUB, AUD, EXP, NBF, IAT, CTI, TERMS})

_KNOWN_TERMS = frozenset(
    {
        "v", "version", "type", "grace", "features", "gate", "limits", "users", "devices",
        "device_match", "activation_required", "counters", "lease", "refresh", "metadata",
        "at_expiry", "expires_after_activation",
    }
)  # fmt: skip


class Frozen:
    """Base for immutable value objects (cheaper to import than dataclasses)."""

    __slots__: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _set(self, **fields: object) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(repr(getattr(self, s)) for s in self.__slots__))

    def __repr__(self) -> str:
        inner = ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__)
        return f"{type(self).__name__}({inner})"


class Counter(Frozen):
    """A consumption counter: ``limit`` units, plus ``overage`` units allowed beyond it."""

    __slots__ = ("limit", "overage")
    limit: int
    overage: int

    def __init__(self, limit: int, overage: int = 0) -> None:
        self._set(limit=limit, overage=overage)


class Limits(Frozen):
    """Seat limits; None means unlimited."""

    __slots__ = ("max_devices", "max_devices_per_user", "max_transfers", "max_users")
    max_devices: int | None
    max_users: int | None
    max_devices_per_user: int | None
    max_transfers: int | None

    def __init__(
        self,
        max_devices: int | None = None,
        max_users: int | None = None,
        max_devices_per_user: int | None = None,
        max_transfers: int | None = None,
    ) -> None:
        self._set(
            max_devices=max_devices,
            max_users=max_users,
            max_devices_per_user=max_devices_per_user,
            max_transfers=max_transfers,
        )


class LicenseTerms(Frozen):
    """Everything a license says, decoded and type-checked, but not yet judged.

    Times are NumericDate integers here; ``License`` exposes datetimes.
    """

    __slots__ = (
        "activation_required",
        "allowed_devices",
        "allowed_users",
        "at_expiry",
        "counters",
        "customer",
        "device_match",
        "expires",
        "expires_after_activation_seconds",
        "extensions",
        "features",
        "grace_seconds",
        "id",
        "issued_at",
        "issuer",
        "lease_seconds",
        "limits",
        "maintenance_end",
        "max_version",
        "metadata",
        "not_before",
        "product",
        "refresh_seconds",
        "type",
        "version",
    )  # fmt: skip

    id: str
    version: int
    issuer: str | None
    customer: str
    product: str
    type: str
    issued_at: int
    not_before: int | None
    expires: int | None
    grace_seconds: int
    features: Mapping[str, Any]
    max_version: str | None
    maintenance_end: int | None
    limits: Limits
    allowed_users: tuple[str, ...]
    allowed_devices: tuple[Mapping[str, bytes], ...]
    device_match: str | int
    activation_required: bool
    counters: Mapping[str, Counter]
    lease_seconds: int | None
    refresh_seconds: int | None
    metadata: Mapping[str, Any]
    extensions: Mapping[str, Any]
    #: "restrict" (stop at exp + grace) or "maintain" (keep working, status maintained).
    at_expiry: str
    #: Seconds from the license's first activation to its expiry, or None.
    expires_after_activation_seconds: int | None

    def __init__(self, **fields: Any) -> None:
        # Terms added later may be left out by callers; they then take their default.
        fields = {**_TERM_DEFAULTS, **fields}
        if len(fields) != len(self.__slots__) or not _TERM_FIELDS.issuperset(fields):
            missing = sorted(_TERM_FIELDS.symmetric_difference(fields))
            raise TypeError(f"missing or unknown terms: {', '.join(missing)}")
        for name, value in fields.items():
            object.__setattr__(self, name, value)


_TERM_FIELDS = frozenset(LicenseTerms.__slots__)
_TERM_DEFAULTS: dict[str, Any] = {"at_expiry": "restrict", "expires_after_activation_seconds": None}
_NO_LIMITS = Limits()


# --- decoding -------------------------------------------------------------------------------


def _fail(what: str) -> MalformedError:
    return MalformedError(f"license terms: {what}")


def decode_license_payload(payload: bytes) -> LicenseTerms:
    """Decode and check the claims of a license payload.

    One helper per term group below; each returns the group's default when
    the term is absent.

    Raises:
        MalformedError: not canonical CBOR, a wrong type, an out-of-range value,
            or terms that contradict each other.
        UnsupportedError: a newer format version or an unknown critical term.
    """
    claims, terms, extensions = _open_payload(payload)
    # An optional claim or term is absent or holds a value: null is never a
    # second way to say "absent" (format §3.1, one encoding per set of terms).
    license_type = terms.get("type")
    if license_type not in LICENSE_TYPES:
        raise _fail(f"type must be one of {', '.join(LICENSE_TYPES)}")
    max_version, maintenance_end = _gate(terms)
    users, devices, device_match, activation_required = _binding(terms)
    result = LicenseTerms(
        id=_license_id(claims),
        version=_int(terms.get("version"), "version", 1, MAX_COUNT),
        issuer=_text(claims[ISS], "issuer") if ISS in claims else None,
        customer=_text(claims.get(SUB), "customer", _ID_RE),
        product=_text(claims.get(AUD), "product", _ID_RE),
        type=license_type,
        issued_at=_int(claims.get(IAT), "issued-at"),
        not_before=_int(claims[NBF], "not-before") if NBF in claims else None,
        expires=_int(claims[EXP], "expires") if EXP in claims else None,
        grace_seconds=_int(terms["grace"], "grace", 1, 10 * 366 * 86400) if "grace" in terms else 0,
        features=_features(terms),
        max_version=max_version,
        maintenance_end=maintenance_end,
        limits=_limits(terms),
        allowed_users=users,
        allowed_devices=devices,
        device_match=device_match,
        activation_required=activation_required,
        counters=_counters(terms),
        lease_seconds=_int(terms["lease"], "lease", 60, 366 * 86400) if "lease" in terms else None,
        refresh_seconds=(
            _int(terms["refresh"], "refresh", MIN_REFRESH, MAX_REFRESH)
            if "refresh" in terms
            else None
        ),
        metadata=_metadata(terms),
        extensions=MappingProxyType(extensions),
        at_expiry=_at_expiry(terms),
        expires_after_activation_seconds=_activation_term(terms),
    )
    check_consistency(result)
    return result


def _open_payload(payload: bytes) -> tuple[dict[Any, Any], dict[Any, Any], dict[str, Any]]:
    """The claims, the terms map, and the x- extensions; unknown critical names refused."""
    claims = decode_canonical(payload, "license payload")
    if type(claims) is not dict:
        raise MalformedError("license payload is not a map")
    if not _CLAIMS.issuperset(claims):
        unknown = sorted(set(claims) - _CLAIMS, key=repr)[:5]
        raise UnsupportedError(f"license has unknown claims {unknown}")
    terms = claims.get(TERMS)
    if type(terms) is not dict:
        raise MalformedError("license payload lacks its terms")
    version = terms.get("v")
    if type(version) is not int:  # exact type: True == 1 in Python
        raise MalformedError("license terms lack the format version")
    if version != FORMAT_VERSION:
        raise UnsupportedError(f"license format version {version} is not supported")
    extensions = {}
    if not _KNOWN_TERMS.issuperset(terms):
        for name in terms:
            if type(name) is not str:
                raise MalformedError("license term names must be text")
            if name.startswith("x-"):
                extensions[name] = _scalar(terms[name], f"extension {name!r}")
            elif name not in _KNOWN_TERMS:
                raise UnsupportedError(f"license has an unknown critical term {name[:40]!r}")
    return claims, terms, extensions


def _license_id(claims: dict[Any, Any]) -> str:
    cti = claims.get(CTI)
    if type(cti) is not bytes:
        raise _fail("id (cti) must be a byte string")
    try:
        license_id = cti.decode("ascii")
    except UnicodeDecodeError:
        raise _fail("id is not ASCII") from None
    return _text(license_id, "id", _ID_RE)


def _features(terms: dict[Any, Any]) -> Mapping[str, Any]:
    features = {}
    if "features" in terms:
        for name, value in _map(terms["features"], "features", MAX_FEATURES).items():
            features[_text(name, "feature name", _NAME_RE)] = _scalar(value, f"feature {name!r}")
    return MappingProxyType(features)


def _gate(terms: dict[Any, Any]) -> tuple[str | None, int | None]:
    max_version = maintenance_end = None
    if "gate" in terms:
        gate = _map(terms["gate"], "gate", 2)
        if set(gate) - {"max_version", "maintenance_end"}:
            raise UnsupportedError("license has an unknown version gate")
        if "max_version" in gate:
            max_version = _text(gate["max_version"], "maximum version", _VERSION_RE)
        if "maintenance_end" in gate:
            maintenance_end = _int(gate["maintenance_end"], "maintenance end")
    return max_version, maintenance_end


def _at_expiry(terms: dict[Any, Any]) -> str:
    """What happens at exp + grace: "maintain" written, or the default "restrict" left out."""
    if "at_expiry" not in terms:
        return "restrict"
    value = terms["at_expiry"]
    if type(value) is not str:
        raise _fail("at_expiry must be text")
    if value == "restrict":
        raise _fail("at_expiry 'restrict' is the default and must be left out")
    if value != "maintain":
        # A later format may add strategies: refuse one we do not know rather than guess.
        raise UnsupportedError(f"license has an unknown at_expiry strategy {value[:40]!r}")
    return value


def _activation_term(terms: dict[Any, Any]) -> int | None:
    """Seconds from the first activation to the expiry ("expires_after_activation"), or None."""
    if "expires_after_activation" not in terms:
        return None
    value = terms["expires_after_activation"]
    return _int(value, "expires_after_activation", MIN_ACTIVATION_TERM, MAX_ACTIVATION_TERM)


def _limits(terms: dict[Any, Any]) -> Limits:
    if "limits" not in terms:
        return _NO_LIMITS
    raw = _map(terms["limits"], "limits", len(LIMIT_NAMES))
    if set(raw) - set(LIMIT_NAMES):
        raise UnsupportedError("license has an unknown limit")
    return Limits(
        *[_int(raw[n], f"limit {n}", 0, MAX_COUNT) if n in raw else None for n in LIMIT_NAMES]
    )


def _binding(
    terms: dict[Any, Any],
) -> tuple[tuple[str, ...], tuple[Mapping[str, bytes], ...], str | int, bool]:
    """Allowed users, listed devices, device_match and activation_required."""
    users: tuple[str, ...] = ()
    if "users" in terms:
        users = tuple(_text(u, "allowed user") for u in _list(terms["users"], "users"))
        if len(set(users)) != len(users):
            raise _fail("allowed users repeat")
    devices: tuple[Mapping[str, bytes], ...] = ()
    if "devices" in terms:
        devices = tuple(_fingerprint(d) for d in _list(terms["devices"], "devices"))
    device_match: str | int = "all"
    if "device_match" in terms:
        device_match = terms["device_match"]
        if device_match not in DEVICE_MATCH_WORDS and not (
            type(device_match) is int and 1 <= device_match <= 64
        ):
            raise _fail("device_match must be 'all', 'most' or a count from 1 to 64")
        if device_match == "all":
            raise _fail("device_match 'all' is the default and must be left out")
    activation_required = terms.get("activation_required", False)
    if "activation_required" in terms and activation_required is not True:
        raise _fail("activation_required must be true when present (false is the default)")
    if device_match != "all" and not devices and not activation_required:
        # Fingerprints are matched only against listed devices or an activation.
        raise _fail("device_match needs devices or activation_required")
    return users, devices, device_match, activation_required


def _counters(terms: dict[Any, Any]) -> Mapping[str, Counter]:
    counters = {}
    if "counters" in terms:
        for name, entry in _map(terms["counters"], "counters", MAX_COUNTERS).items():
            _text(name, "counter name", _NAME_RE)
            entry = _map(entry, f"counter {name!r}", 2)
            if set(entry) - {"limit", "overage"} or "limit" not in entry:
                raise _fail(f"counter {name!r} must hold a limit and optionally an overage")
            counters[name] = Counter(
                _int(entry["limit"], f"counter {name!r} limit", 0, 2**63 - 1),
                _int(entry["overage"], f"counter {name!r} overage", 1, 2**63 - 1)
                if "overage" in entry
                else 0,
            )
    return MappingProxyType(counters)


def _metadata(terms: dict[Any, Any]) -> Mapping[str, Any]:
    metadata = {}
    if "metadata" in terms:
        raw_meta = _map(terms["metadata"], "metadata", 256)
        for key, value in raw_meta.items():
            metadata[_text(key, "metadata key")] = _scalar(value, f"metadata {key!r}")
        if len(encode_canonical(raw_meta)) > MAX_METADATA_BYTES:
            raise _fail(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    return MappingProxyType(metadata)


def check_consistency(terms: LicenseTerms) -> None:
    """Raise MalformedError if the terms contradict each other (format §7.2)."""
    start = terms.not_before if terms.not_before is not None else terms.issued_at
    after_activation = terms.expires_after_activation_seconds is not None
    if terms.type == "perpetual" and (terms.expires is not None or after_activation):
        raise _fail("a perpetual license cannot expire")
    if terms.type in EXPIRING_TYPES and terms.expires is None and not after_activation:
        raise _fail(f"a {terms.type} license needs an expiry")
    if terms.expires is not None and after_activation:
        raise _fail("a license expires at exp or after its first activation, not both")
    if terms.expires is not None and terms.expires <= start:
        raise _fail("expiry is not after the start of validity")
    if terms.grace_seconds and terms.expires is None and not after_activation:
        raise _fail("a grace period needs an expiry")
    if terms.at_expiry != "restrict" and terms.expires is None and not after_activation:
        raise _fail("at_expiry needs an expiry (exp or expires_after_activation)")
    if terms.grace_seconds + (terms.expires or 0) > MAX_TIMESTAMP:
        raise _fail("grace period ends beyond the year 9999")
    if (terms.type == "floating") != (terms.lease_seconds is not None):
        raise _fail("a lease duration is required for, and only for, floating licenses")
    if terms.type == "consumption" and not terms.counters:
        raise _fail("a consumption license needs at least one counter")
    if isinstance(terms.device_match, int) and terms.allowed_devices:
        smallest = min(len(d) for d in terms.allowed_devices)
        if terms.device_match > smallest:
            raise _fail("device_match asks for more components than a listed device has")
    if not terms.activation_required and (
        terms.limits != _NO_LIMITS
        or terms.allowed_users
        or terms.type == "floating"
        or terms.refresh_seconds is not None
    ):
        # Only the activation exchange can enforce these (the vendor's ledger
        # counts seats and users, responses carry leases and refresh-by dates);
        # without it they would be promises nothing keeps. Devices listed at
        # issue time are checked by the verifier itself and need no exchange.
        raise _fail("seat limits, allowed users, leases and refresh need activation_required")
    if after_activation and not terms.activation_required:
        # The activation response fixes the start: without the exchange there is none.
        raise _fail("expires_after_activation needs activation_required")


# --- encoding (issuer side) -----------------------------------------------------------------


def encode_license_payload(terms: LicenseTerms) -> bytes:
    """Deterministic payload bytes for ``terms``; checked by decoding them back.

    Raises:
        MalformedError: the terms would not decode to themselves (invalid terms).
    """
    claims: dict[int, Any] = {
        SUB: terms.customer,
        AUD: terms.product,
        IAT: terms.issued_at,
        CTI: terms.id.encode("ascii", "replace"),
        TERMS: _encode_terms(terms),
    }
    if terms.issuer is not None:
        claims[ISS] = terms.issuer
    if terms.not_before is not None:
        claims[NBF] = terms.not_before
    if terms.expires is not None:
        claims[EXP] = terms.expires
    payload = encode_canonical(claims)
    if decode_license_payload(payload) != terms:
        raise MalformedError("license terms do not survive encoding; check their values")
    return payload


def _encode_terms(terms: LicenseTerms) -> dict[str, Any]:
    """The private terms map: every default left out (one encoding per set of terms)."""
    limits = terms.limits
    limit_values = (
        limits.max_devices, limits.max_users, limits.max_devices_per_user, limits.max_transfers
    )  # fmt: skip
    gate = {"max_version": terms.max_version, "maintenance_end": terms.maintenance_end}
    optional: dict[str, Any] = {
        "grace": terms.grace_seconds or None,
        "features": dict(terms.features) or None,
        "gate": {k: v for k, v in gate.items() if v is not None} or None,
        "limits": {
            n: v for n, v in zip(LIMIT_NAMES, limit_values, strict=True) if v is not None
        } or None,
        "users": list(terms.allowed_users) or None,
        "devices": [dict(d) for d in terms.allowed_devices] or None,
        "device_match": None if terms.device_match == "all" else terms.device_match,
        "activation_required": True if terms.activation_required else None,
        "counters": {
            name: ({"limit": c.limit, "overage": c.overage} if c.overage else {"limit": c.limit})
            for name, c in terms.counters.items()
        } or None,
        "lease": terms.lease_seconds,
        "refresh": terms.refresh_seconds,
        "metadata": dict(terms.metadata) or None,
        "at_expiry": None if terms.at_expiry == "restrict" else terms.at_expiry,
        "expires_after_activation": terms.expires_after_activation_seconds,
    }  # fmt: skip
    inner: dict[str, Any] = {"v": FORMAT_VERSION, "version": terms.version, "type": terms.type}
    inner.update((name, value) for name, value in optional.items() if value is not None)
    inner.update(terms.extensions)
    return inner


def terms_to_json(terms: LicenseTerms) -> dict[str, Any]:
    """A JSON-friendly dict of the terms (times as ISO 8601 UTC, bytes as hex)."""
    return {
        "id": terms.id,
        "version": terms.version,
        "issuer": terms.issuer,
        "customer": terms.customer,
        "product": terms.product,
        "type": terms.type,
        "issued_at": iso(terms.issued_at),
        "not_before": iso(terms.not_before),
        "expires": iso(terms.expires),
        "grace_seconds": terms.grace_seconds,
        "features": dict(terms.features),
        "max_version": terms.max_version,
        "maintenance_end": iso(terms.maintenance_end),
        "limits": {
            "max_devices": terms.limits.max_devices,
            "max_users": terms.limits.max_users,
            "max_devices_per_user": terms.limits.max_devices_per_user,
            "max_transfers": terms.limits.max_transfers,
        },
        "allowed_users": list(terms.allowed_users),
        "allowed_devices": [{k: v.hex() for k, v in d.items()} for d in terms.allowed_devices],
        "device_match": terms.device_match,
        "activation_required": terms.activation_required,
        "counters": {
            n: {"limit": c.limit, "overage": c.overage} for n, c in terms.counters.items()
        },
        "lease_seconds": terms.lease_seconds,
        "refresh_seconds": terms.refresh_seconds,
        "metadata": dict(terms.metadata),
        "extensions": dict(terms.extensions),
        "at_expiry": terms.at_expiry,
        "expires_after_activation_seconds": terms.expires_after_activation_seconds,
    }


__all__ = [
    "AT_EXPIRY",
    "LICENSE_TYPES",
    "Counter",
    "LicenseTerms",
    "Limits",
    "decode_license_payload",
    "encode_license_payload",
    "terms_to_json",
]
