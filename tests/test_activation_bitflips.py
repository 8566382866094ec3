"""Exhaustive single-bit flips of activation documents: none may verify (DESIGN §2).

Samples come from a real exchange (harness.Vendor and Machine, on both
ledger engines), in binary form: a request with a user and a code, a
floating-license response (with a lease, so every claim is present) and a
deactivation receipt. Every bit of
every byte is flipped, not a sample of them. Each mutant must fail with a
LicenseError that is *not* InternalError: an unexpected exception inside
the verifier is a bug even though it fails closed. Truncations are checked
the same way. Finally the installed ``activation.cose`` file is flipped bit by
bit under ``LocalStore.check``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from factory import T0
from harness import Vendor, at

import licverify
from licverify import InternalError, LicenseError
from licverify import format as F


class Exchange:
    """A completed exchange (harness.Vendor and two Machines): request, response, receipt
    (binary) and a machine left activated."""

    def __init__(self, vendor: Vendor) -> None:
        lic = vendor.issue("floating", lease=timedelta(hours=8), max_users=3)
        self.roots = vendor.roots
        # The sample machine: activated, and left activated for the file test.
        self.machine = vendor.machine("bitflip")
        self.machine.import_license(lic)
        self.code = vendor.assign(lic, "alice")  # a real one-time code (tests/test_users.py)
        request = self.machine.request(label="bitflip host", user="alice", code=self.code)
        granted = vendor.activate(request, at(1))
        # A second machine gives the receipt sample.
        other = vendor.machine("other")
        other.import_license(lic.document)
        bob = vendor.assign(lic, "bob")
        other.install(vendor.activate(other.request(label="o", user="bob", code=bob)).response)
        receipt = other.deactivate(at(2))
        self.request = F.dearmor(request)[0]
        self.response = F.dearmor(granted.response)[0]
        self.receipt = F.dearmor(receipt)[0]
        self.machine.install(self.response, at(2))

    def check(self) -> licverify.License:
        return self.machine.check(at(3))


@pytest.fixture
def exchange(vendor: Vendor) -> Exchange:
    return Exchange(vendor)


def bit_flips(doc: bytes) -> Iterator[tuple[str, bytes]]:
    for i in range(len(doc)):
        for bit in range(8):
            mutant = bytearray(doc)
            mutant[i] ^= 1 << bit
            yield f"byte {i} bit {bit}", bytes(mutant)


def truncations(doc: bytes) -> Iterator[tuple[str, bytes]]:
    for n in range(len(doc)):
        yield f"first {n} bytes", doc[:n]


def outcomes(
    mutants: Iterator[tuple[str, bytes]], check: Callable[[bytes], Any]
) -> tuple[int, list[str]]:
    """(number of mutants, those that verified or failed with something but a plain LicenseError)."""
    bad, count = [], 0
    for where, mutant in mutants:
        count += 1
        try:
            check(mutant)
        except InternalError as exc:
            bad.append(f"{where}: internal error {exc.__cause__!r}")
        except LicenseError:
            continue
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            bad.append(f"{where}: escaped {exc!r}")
        else:
            bad.append(f"{where}: ACCEPTED")
    return count, bad


def test_samples_verify(exchange: Exchange) -> None:
    request = licverify.verify_request(exchange.request)
    response = licverify.verify_response(exchange.response, trusted_roots=exchange.roots)
    receipt = licverify.verify_receipt(exchange.receipt)
    assert (
        request.user == "alice" and request.code == exchange.code and request.label == "bitflip host"
    )
    assert response.nonce == request.nonce and response.user == "alice"
    assert response.lease_expires == T0 + 1 + 8 * 3600
    assert receipt.activation_id != response.activation_id
    assert F.parse_unverified(exchange.response).certificate is not None
    assert exchange.check().activation == response
    # Big enough that "exhaustive" means something.
    assert (
        len(exchange.request) > 300 and len(exchange.response) > 500 and len(exchange.receipt) > 200
    )


def test_every_bit_flip_of_a_request_is_rejected(exchange: Exchange) -> None:
    count, bad = outcomes(bit_flips(exchange.request), licverify.verify_request)
    assert count == 8 * len(exchange.request)
    assert bad == []


def test_every_bit_flip_of_a_response_is_rejected(exchange: Exchange) -> None:
    count, bad = outcomes(
        bit_flips(exchange.response),
        lambda doc: licverify.verify_response(doc, trusted_roots=exchange.roots),
    )
    assert count == 8 * len(exchange.response)
    assert bad == []


def test_every_bit_flip_of_a_receipt_is_rejected(exchange: Exchange) -> None:
    count, bad = outcomes(bit_flips(exchange.receipt), licverify.verify_receipt)
    assert count == 8 * len(exchange.receipt)
    assert bad == []


def test_every_truncation_is_rejected(exchange: Exchange) -> None:
    checks: dict[str, tuple[bytes, Callable[[bytes], Any]]] = {
        "request": (exchange.request, licverify.verify_request),
        "response": (
            exchange.response,
            lambda doc: licverify.verify_response(doc, trusted_roots=exchange.roots),
        ),
        "receipt": (exchange.receipt, licverify.verify_receipt),
    }
    for name, (doc, check) in checks.items():
        count, bad = outcomes(truncations(doc), check)
        assert count == len(doc)
        assert bad == [], name


def test_every_bit_flip_of_the_installed_activation_fails_check(exchange: Exchange) -> None:
    path = os.path.join(exchange.machine.path, "activation.cose")
    with open(path, "rb") as fh:
        original = fh.read()
    assert original == exchange.response

    def check_with(mutant: bytes) -> Any:
        with open(path, "wb") as fh:
            fh.write(mutant)
        return exchange.check()

    try:
        count, bad = outcomes(bit_flips(original), check_with)
    finally:
        with open(path, "wb") as out:
            out.write(original)
    assert count == 8 * len(original)
    assert bad == []
    assert exchange.check().activation is not None  # restored: activated again
