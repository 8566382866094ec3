"""Usage reports, counter refills and clock resets (docs/format.md §14).

A usage report is signed by the device key it carries, like an activation
request: what the store's counter log says (totals, refills taken, record
count and last HMAC, a report number that only grows, the clock ratchet).
A counter refill is signed by an issuing key, carries its certificate like
a license, and adds units to one counter of one activation, once; a clock
reset, signed the same way, sets one activation's clock ratchet back to the
vendor's time, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from licverify._activation import (
    CTI,
    IAT,
    NONCE_SIZE,
    TERMS,
    _bytes,
    _checked,
    _claims,
    _device_key,
    _only,
    require_self_signed,
)
from licverify._cbor import encode_canonical
from licverify._errors import MalformedError
from licverify._fields import ID_CHARS, NAME_CHARS, int_field, map_field, text_field
from licverify._keys import key_id
from licverify._kinds import CLOCK_RESET, COUNTER_REFILL, USAGE_REPORT
from licverify._license import FORMAT_VERSION, MAX_COUNTERS, Frozen
from licverify._time import MAX_TIMESTAMP, iso

HEAD_SIZE = 32
MAX_NAME = 64
#: The most units one refill adds, and the most a counter can count (u64 in the log, §12.5).
MAX_UNITS = 2**63 - 1


class UsageReport(Frozen):
    """What one store reports of its counters (format §14.1)."""

    __slots__ = ("clock", "device_key", "head", "issued_at", "license_id", "product", "records",
                 "refilled", "seq", "totals")  # fmt: skip
    issued_at: int
    license_id: str
    product: str
    device_key: bytes
    #: The report's number in this store: 1, 2, 3 ... (a report never repeats one).
    seq: int
    #: The counter log's record count and last HMAC (format §12.5).
    records: int
    head: bytes
    #: Units consumed and units refilled, per counter of the license.
    totals: Mapping[str, int]
    refilled: Mapping[str, int]
    #: The store's clock ratchet (format §12.4).
    clock: int

    def __init__(self, **fields: Any) -> None:
        fields["totals"] = MappingProxyType(dict(fields["totals"]))
        fields["refilled"] = MappingProxyType(dict(fields["refilled"]))
        self._set(**fields)

    @property
    def device_id(self) -> str:
        """The device id (hex of the device key's key id), as the vendor's ledger names it."""
        return key_id(self.device_key).hex()

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "license": self.license_id, "product": self.product, "device_id": self.device_id,
            "seq": self.seq, "records": self.records, "head": self.head.hex(),
            "totals": dict(self.totals), "refilled": dict(self.refilled),
            "clock": iso(self.clock), "issued_at": iso(self.issued_at),
        }  # fmt: skip


_REPORT_CLAIMS = frozenset({IAT, TERMS})
_REPORT_TERMS = frozenset({"v", "license", "product", "device_key", "seq", "records", "head",
                           "totals", "refilled", "clock"})  # fmt: skip


def encode_usage_payload(report: UsageReport) -> bytes:
    """Deterministic payload bytes for a usage report; checked by decoding them back."""
    terms: dict[str, Any] = {
        "v": FORMAT_VERSION, "license": report.license_id, "product": report.product,
        "device_key": report.device_key, "seq": report.seq, "records": report.records,
        "head": report.head, "clock": report.clock,
    }  # fmt: skip
    for name in ("totals", "refilled"):
        if getattr(report, name):
            terms[name] = dict(getattr(report, name))
    payload = encode_canonical({IAT: report.issued_at, TERMS: terms})
    return _checked(payload, decode_usage_payload, report, "usage report")


def decode_usage_payload(payload: bytes) -> UsageReport:
    """Decode and check a usage report's payload (format §14.1)."""
    what = "usage report"
    claims, terms = _claims(payload, what, _REPORT_CLAIMS)
    _only(terms, _REPORT_TERMS, what)
    return UsageReport(
        issued_at=int_field(claims.get(IAT), "report time"),
        license_id=text_field(terms.get("license"), "license id", ID_CHARS),
        product=text_field(terms.get("product"), "product", ID_CHARS),
        device_key=_device_key(terms.get("device_key"), what),
        seq=int_field(terms.get("seq"), "report number", 1, MAX_UNITS),
        records=int_field(terms.get("records"), "record count", 0, MAX_UNITS),
        head=_bytes(terms.get("head"), "log head", HEAD_SIZE),
        totals=_units(terms, "totals", 0),
        refilled=_units(terms, "refilled", 1),
        clock=int_field(terms.get("clock"), "clock", 0, MAX_TIMESTAMP),
    )


def _units(terms: dict[str, Any], name: str, least: int) -> dict[str, int]:
    """A map counter name -> units; absent when empty (one encoding per report)."""
    if name not in terms:
        return {}
    units = map_field(terms[name], name, MAX_COUNTERS)
    return {
        _counter(counter): int_field(n, f"{name} of {counter!r}", least, MAX_UNITS)
        for counter, n in units.items()
    }


def _counter(value: Any) -> str:
    """A counter name, as a license names its counters (format §7.1: at most 64 characters)."""
    name = text_field(value, "counter name", NAME_CHARS)
    if len(name) > MAX_NAME:
        raise MalformedError(f"counter name {name[:20]!r}... is longer than {MAX_NAME} characters")
    return name


class CounterRefill(Frozen):
    """Units added to one counter of one activation, once (format §14.2)."""

    __slots__ = ("activation_id", "amount", "counter", "device_key", "issued_at", "license_id",
                 "product", "refill_id")  # fmt: skip
    issued_at: int
    refill_id: bytes
    license_id: str
    product: str
    activation_id: str
    device_key: bytes
    counter: str
    amount: int

    def __init__(self, **fields: Any) -> None:
        self._set(**fields)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "refill": self.refill_id.hex(), "license": self.license_id, "product": self.product,
            "activation": self.activation_id, "device_id": key_id(self.device_key).hex(),
            "counter": self.counter, "amount": self.amount, "issued_at": iso(self.issued_at),
        }  # fmt: skip


_REFILL_CLAIMS = frozenset({IAT, CTI, TERMS})
_REFILL_TERMS = frozenset({"v", "license", "product", "activation", "device_key", "add"})


def encode_refill_payload(refill: CounterRefill) -> bytes:
    """Deterministic payload bytes for a refill; checked by decoding them back."""
    terms = {
        "v": FORMAT_VERSION, "license": refill.license_id, "product": refill.product,
        "activation": refill.activation_id, "device_key": refill.device_key,
        "add": {refill.counter: refill.amount},
    }  # fmt: skip
    payload = encode_canonical({IAT: refill.issued_at, CTI: refill.refill_id, TERMS: terms})
    return _checked(payload, decode_refill_payload, refill, "counter refill")


def decode_refill_payload(payload: bytes) -> CounterRefill:
    """Decode and check a counter refill's payload (format §14.2)."""
    what = "counter refill"
    claims, terms = _claims(payload, what, _REFILL_CLAIMS)
    _only(terms, _REFILL_TERMS, what)
    add = map_field(terms.get("add"), "refill", 1)
    ((counter, amount),) = add.items()
    return CounterRefill(
        **_bound(claims, terms, what), refill_id=_bytes(claims.get(CTI), "refill id", NONCE_SIZE),
        counter=_counter(counter), amount=int_field(amount, "refill amount", 1, MAX_UNITS),
    )  # fmt: skip


def _bound(claims: dict[int, Any], terms: dict[str, Any], what: str) -> dict[str, Any]:
    """The fields a refill and a clock reset share: when, and the activation they are for."""
    return {
        "issued_at": int_field(claims.get(IAT), f"{what} time"),
        "license_id": text_field(terms.get("license"), "license id", ID_CHARS),
        "product": text_field(terms.get("product"), "product", ID_CHARS),
        "activation_id": text_field(terms.get("activation"), "activation id", ID_CHARS),
        "device_key": _device_key(terms.get("device_key"), what),
    }


def open_usage_report(document: bytes) -> tuple[UsageReport, bytes]:
    """Verify a usage report: signed by the device key it carries. Returns it and its bytes."""
    from licverify._verify import check_signature, expect_kind, open_envelope

    envelope, binary = open_envelope(document)
    expect_kind(envelope, USAGE_REPORT)
    if envelope.certificate is not None:
        raise MalformedError("a usage report cannot carry a certificate")
    report = decode_usage_payload(envelope.payload)
    require_self_signed(envelope.kid, report.device_key, "usage report")
    check_signature(envelope, report.device_key, "usage report")
    return report, binary


def open_refill(document: bytes, roots: Any, product: str) -> tuple[CounterRefill, bytes]:
    """Verify a counter refill (see ``open_issuing_signed``)."""
    refill, binary = open_issuing_signed(document, roots, product, COUNTER_REFILL)
    return refill, binary


class ClockReset(Frozen):
    """A one-time reset of one activation's clock ratchet to the vendor's time (format §14.3)."""

    __slots__ = ("activation_id", "device_key", "issued_at", "license_id", "product", "reset_id")
    issued_at: int
    reset_id: bytes
    license_id: str
    product: str
    activation_id: str
    device_key: bytes

    def __init__(self, **fields: Any) -> None:
        self._set(**fields)

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "reset": self.reset_id.hex(), "license": self.license_id, "product": self.product,
            "activation": self.activation_id, "device_id": key_id(self.device_key).hex(),
            "issued_at": iso(self.issued_at),
        }  # fmt: skip


_RESET_TERMS = frozenset({"v", "license", "product", "activation", "device_key"})


def encode_clock_reset_payload(reset: ClockReset) -> bytes:
    """Deterministic payload bytes for a clock reset; checked by decoding them back."""
    terms = {
        "v": FORMAT_VERSION, "license": reset.license_id, "product": reset.product,
        "activation": reset.activation_id, "device_key": reset.device_key,
    }  # fmt: skip
    payload = encode_canonical({IAT: reset.issued_at, CTI: reset.reset_id, TERMS: terms})
    return _checked(payload, decode_clock_reset_payload, reset, "clock reset")


def decode_clock_reset_payload(payload: bytes) -> ClockReset:
    """Decode and check a clock reset's payload (format §14.3)."""
    what = "clock reset"
    claims, terms = _claims(payload, what, _REFILL_CLAIMS)
    _only(terms, _RESET_TERMS, what)
    return ClockReset(
        **_bound(claims, terms, what), reset_id=_bytes(claims.get(CTI), "reset id", NONCE_SIZE)
    )


def open_issuing_signed(document: bytes, roots: Any, product: str, kind: Any) -> tuple[Any, bytes]:
    """Verify a refill or a clock reset: its certificate chains to ``roots``, it was signed
    inside the certificate's window, for ``product``. Returns it and its bytes."""
    from licverify._errors import UntrustedKeyError, WrongProductError
    from licverify._verify import check_chain, expect_kind, open_envelope

    envelope, binary = open_envelope(document)
    expect_kind(envelope, kind)
    certificate = check_chain(envelope, roots)
    decode = decode_refill_payload if kind is COUNTER_REFILL else decode_clock_reset_payload
    value = decode(envelope.payload)
    if not certificate.covers(value.issued_at):
        raise UntrustedKeyError(f"{kind.name} was signed outside its issuing key's validity")
    if value.product != product or not certificate.allows_product(product):
        raise WrongProductError(
            f"this {kind.name} is for product {value.product!r}, not {product!r}"
        )
    return value, binary


# --- public entry points (fail closed, like every verify_*) ---------------------------------------


def verify_usage_report(document: bytes) -> UsageReport:
    """Verify a usage report (armored or binary): signed by the device key it carries.

    Raises:
        LicenseError: it does not verify (``code`` says why); anything unexpected is
            ``internal-error``.
        TypeError: ``document`` is not bytes.
    """
    from licverify._verify import _as_bytes, _fail_closed

    data = _as_bytes(document)
    return _fail_closed(lambda: open_usage_report(data)[0])()


def verify_counter_refill(document: bytes, *, trusted_roots: Any, product: str) -> CounterRefill:
    """Verify a counter refill (armored or binary) against the trusted roots, for ``product``.

    Raises:
        LicenseError: as ``verify_usage_report``.
        TypeError, ValueError: bad arguments.
    """
    refill: CounterRefill = _issuing_signed(document, trusted_roots, product, COUNTER_REFILL)
    return refill


def verify_clock_reset(document: bytes, *, trusted_roots: Any, product: str) -> ClockReset:
    """Verify a clock reset (armored or binary) against the trusted roots, for ``product``.

    Raises:
        LicenseError: as ``verify_usage_report``.
        TypeError, ValueError: bad arguments.
    """
    reset: ClockReset = _issuing_signed(document, trusted_roots, product, CLOCK_RESET)
    return reset


def _issuing_signed(document: bytes, trusted_roots: Any, product: str, kind: Any) -> Any:
    from licverify._keys import TrustedRoots
    from licverify._verify import _as_bytes, _check_product, _fail_closed

    data, roots = _as_bytes(document), TrustedRoots.coerce(trusted_roots)
    chosen = _check_product(product)
    return _fail_closed(lambda: open_issuing_signed(data, roots, chosen, kind)[0])()
