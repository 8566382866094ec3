"""Counters on the vendor's side: usage reports in, refills out (docs/format.md §14).

What ``licsign usage import`` and ``licsign counter refill`` do. A report is
verified (signed by the device key it carries), refused when it is not newer
than the last one from that device, and recorded with what it says; totals
lower than the last report's are recorded with a warning, because offline
that is how a restored state directory shows. A refill is signed for the
device's open activation and recorded in the same unit of work.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licsign._errors import InvalidInputError, NotFoundError, RefusedError
from licsign._keyfile import PassphraseSource
from licsign._ledger import RefillRecord, UsageReportRecord
from licsign._workspace import Workspace
from licverify._time import iso, to_timestamp
from licverify._usage import (
    ClockReset,
    CounterRefill,
    UsageReport,
    encode_clock_reset_payload,
    encode_refill_payload,
    open_usage_report,
)
from licverify._verify import open_envelope
from licverify.format import (
    CLOCK_RESET,
    COUNTER_REFILL,
    armor,
    decode_license_payload,
    encode_sign1,
)


@dataclass(frozen=True)
class UsageImported:
    """A usage report recorded, with what the vendor should look at."""

    report: UsageReport
    #: One line each: totals that went down, a device the ledger never activated.
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """As ``licsign usage import --json`` prints it."""
        return {**self.report.to_json(), "warnings": list(self.warnings)}


def import_usage_report(ws: Workspace, document: bytes, *, now: datetime) -> UsageImported:
    """Verify a usage report and record it.

    Raises:
        licverify.LicenseError: the report does not verify (one line says why).
        NotFoundError: the license is unknown here.
        RefusedError: it is for another product, or not newer than the last
            report from that device (an older or replayed report).
    """
    report, _ = open_usage_report(document)
    record = ws.ledger.license(report.license_id)
    if record.product_id != report.product:
        raise RefusedError(
            f"the report names product {report.product!r}; license {record.id} is for "
            f"{record.product_id!r}"
        )
    at = to_timestamp(now)
    with ws.ledger.transaction():
        last = ws.ledger.last_usage_report(report.license_id, report.device_id)
        if last is not None and report.seq <= last.seq:
            raise RefusedError(
                f"report {report.seq} of device {report.device_id[:12]} is not newer than report "
                f"{last.seq} ({iso(last.issued_at)}) the ledger has: an older or replayed report"
            )
        warnings = _warnings(ws, report, last)
        ws.ledger.add_usage_report(UsageReportRecord(
            report.license_id, report.device_id, report.seq, report.issued_at, at,
            report.records, report.head.hex(), dict(report.totals), dict(report.refilled),
            report.clock,
        ))  # fmt: skip
    return UsageImported(report, warnings)


def _warnings(
    ws: Workspace, report: UsageReport, last: UsageReportRecord | None
) -> tuple[str, ...]:
    out = []
    if last is not None:
        down = [c for c, n in last.totals.items() if report.totals.get(c, 0) < n]
        if down or report.records < last.records:
            out.append(
                f"device {report.device_id[:12]} reports less than its report {last.seq} did "
                f"({', '.join(down) or 'log records'}): its state was restored from a copy?"
            )
    known = {d.id for d, _ in ws.ledger.devices_of(report.license_id)}
    if report.device_id not in known:
        out.append(f"device {report.device_id[:12]} never activated license {report.license_id}")
    return tuple(out)


@dataclass(frozen=True)
class Refilled:
    """A signed refill (armored) and what it adds."""

    armored: bytes
    refill: CounterRefill

    def to_json(self) -> dict[str, Any]:
        """As ``licsign counter refill --json`` prints it."""
        return self.refill.to_json()


def refill_counter(
    ws: Workspace,
    license_id: str,
    device: str,
    passphrase: PassphraseSource,
    *,
    counter: str,
    amount: int,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> Refilled:
    """Sign a refill of ``amount`` units of ``counter`` for a device's open activation.

    Args:
        ws: the workspace.
        license_id: the license.
        device: the device id or a unique prefix of at least 4 characters.
        passphrase: yields the issuing key's passphrase.
        counter: one of the license's counters.
        amount: units to add (at least 1).
        now: when it is signed.
        random_bytes: the refill id's source.

    Raises:
        NotFoundError: unknown license, counter, or no open activation for that device.
        InvalidInputError: a bad amount, or a prefix too short or ambiguous.
    """
    record = ws.ledger.license(license_id)
    terms = decode_license_payload(open_envelope(record.document)[0].payload)
    if counter not in terms.counters:
        raise NotFoundError(f"license {license_id} has no counter {counter!r}")
    if type(amount) is not int or not 1 <= amount <= 2**63 - 1:
        raise InvalidInputError("the refill amount must be a positive whole number")
    at = to_timestamp(now)
    seat, device_key = _open_seat(ws, license_id, device)
    refill = CounterRefill(
        issued_at=at, refill_id=random_bytes(16), license_id=license_id, product=terms.product,
        activation_id=seat, device_key=device_key, counter=counter, amount=amount,
    )  # fmt: skip
    key, certificate, kid, rollovers = ws.issuing_signer(terms.product, at, passphrase)
    document = encode_sign1(
        COUNTER_REFILL, bytes.fromhex(kid), encode_refill_payload(refill),
        lambda m: key.sign(m).signature, certificate, rollovers,
    )  # fmt: skip
    with ws.ledger.transaction():
        ws.ledger.add_refill(RefillRecord(
            refill.refill_id.hex(), license_id, seat, _device_id(device_key), counter, amount, at,
        ))  # fmt: skip
    return Refilled(armor(document, COUNTER_REFILL), refill)


def _open_seat(ws: Workspace, license_id: str, device: str) -> tuple[str, bytes]:
    """The open activation of the device ``device`` names, and its device key."""
    if len(device) < 4:
        raise InvalidInputError("give at least 4 characters of the device id")
    seats = [s for s in ws.ledger.open_activations(license_id)
             if s.activation.device_id.startswith(device.lower())]  # fmt: skip
    if not seats:
        raise NotFoundError(f"no active device {device!r} on license {license_id}")
    if len(seats) > 1:
        raise InvalidInputError(f"device id {device!r} is ambiguous on license {license_id}")
    activation = seats[0].activation
    keys = {d.id: d.device_key for d, _ in ws.ledger.devices_of(license_id)}
    return activation.id, keys[activation.device_id]


def _device_id(device_key: bytes) -> str:
    from licverify.format import key_id

    return key_id(device_key).hex()


@dataclass(frozen=True)
class ClockResetIssued:
    """A signed clock reset (armored) for one device."""

    armored: bytes
    reset: ClockReset

    def to_json(self) -> dict[str, Any]:
        """As ``licsign clock-reset --json`` prints it."""
        return self.reset.to_json()


def clock_reset(
    ws: Workspace,
    license_id: str,
    device: str,
    passphrase: PassphraseSource,
    *,
    now: datetime,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> ClockResetIssued:
    """Sign a one-time clock reset for a device's open activation (format §14.3): the machine's
    clock ratchet goes back to ``now``. Recorded in the history (``clock.reset``).

    Raises:
        NotFoundError: unknown license, or no open activation for that device.
        InvalidInputError: the prefix is too short or ambiguous.
    """
    record = ws.ledger.license(license_id)
    at = to_timestamp(now)
    seat, device_key = _open_seat(ws, license_id, device)
    reset = ClockReset(
        issued_at=at, reset_id=random_bytes(16), license_id=license_id,
        product=record.product_id, activation_id=seat, device_key=device_key,
    )  # fmt: skip
    key, certificate, kid, rollovers = ws.issuing_signer(record.product_id, at, passphrase)
    document = encode_sign1(
        CLOCK_RESET, bytes.fromhex(kid), encode_clock_reset_payload(reset),
        lambda m: key.sign(m).signature, certificate, rollovers,
    )  # fmt: skip
    with ws.ledger.transaction():
        ws.ledger.append_event(at, "clock.reset", license_id, {
            "reset": reset.reset_id.hex(), "activation": seat, "device": _device_id(device_key),
        })  # fmt: skip
    return ClockResetIssued(armor(document, CLOCK_RESET), reset)
