"""Exhaustive single-bit flips and byte deletions: none may verify (DESIGN §2, "74 of 1,216").

Not sampled: every bit of every byte. A flip that verified would mean two
byte strings verify to a license, which the strict envelope and payload
decoders exist to prevent. Each case must fail with a LicenseError that is
*not* InternalError (an unexpected exception inside the verifier is a bug
even though it fails closed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from factory import T0, F, UnsafeFactory, default_terms

import licverify
from licverify import Counter, InternalError, LicenseError, Limits
from licverify._verify import verify_license_for_import

FACTORY = UnsafeFactory(products=("acme-cad", "acme-cam"))
NOW = datetime.fromtimestamp(T0, timezone.utc)
DEVICE = {"cpu": b"\x01" * 16, "hostname": b"\x02" * 16, "machine-id": b"\x03" * 16}

SAMPLE = FACTORY.license()
RICH = FACTORY.license(
    default_terms(
        type="floating", lease_seconds=600, max_version="3.1", maintenance_end=T0 + 100 * 86400,
        limits=Limits(5, 10, 2, 1), allowed_users=("alice", "bob"), allowed_devices=(DEVICE,),
        device_match="most", activation_required=True, refresh_seconds=30 * 86400, counters={"renders": Counter(100, 5)},
        metadata={"po": "PO-1", "n": 7, "ok": True}, extensions={"x-note": "hi"},
        features={"export": None, "seats": 5, "tier": "gold", "beta": False},
    )
)  # fmt: skip
CERTIFICATE = FACTORY.certificate()


def check_license(doc: bytes) -> Any:
    return licverify.verify_license(doc, trusted_roots=FACTORY.roots, product="acme-cad", now=NOW,
                                    fingerprint=DEVICE, app_version="3.0")  # fmt: skip


def check_license_terms(doc: bytes) -> Any:
    """Every stage but the activation (RICH requires one, and any activation would be bound to
    the original's digest, so checking with one would refuse every mutant for that reason alone)."""
    return verify_license_for_import(doc, trusted_roots=FACTORY.roots, product="acme-cad",
                                     now=NOW, fingerprint=DEVICE)  # fmt: skip


def check_certificate(doc: bytes) -> Any:
    return licverify.verify_certificate(doc, trusted_roots=FACTORY.roots, now=NOW)


def test_samples_verify() -> None:
    assert 450 <= len(SAMPLE) <= 600, len(SAMPLE)
    assert check_license(SAMPLE).id == check_license_terms(RICH).id == "L-TEST-0000-0001"
    assert check_certificate(CERTIFICATE).products == ("acme-cad", "acme-cam")


def _outcomes(mutants: list[tuple[str, bytes]], check: Callable[[bytes], Any]) -> list[str]:
    """Every mutant that verified or failed with something other than a plain LicenseError."""
    bad = []
    for where, mutant in mutants:
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
    return bad


def bit_flips(doc: bytes) -> list[tuple[str, bytes]]:
    out = []
    for i in range(len(doc)):
        for bit in range(8):
            mutant = bytearray(doc)
            mutant[i] ^= 1 << bit
            out.append((f"byte {i} bit {bit}", bytes(mutant)))
    return out


def deletions(doc: bytes) -> list[tuple[str, bytes]]:
    return [(f"delete byte {i}", doc[:i] + doc[i + 1 :]) for i in range(len(doc))]


@pytest.mark.parametrize(
    "doc, check",
    [(SAMPLE, check_license), (RICH, check_license_terms), (CERTIFICATE, check_certificate)],
    ids=["license", "license-with-every-term", "certificate"],
)
def test_every_single_bit_flip_is_refused(doc: bytes, check: Callable[[bytes], Any]) -> None:
    mutants = bit_flips(doc)
    assert len(mutants) == 8 * len(doc)
    bad = _outcomes(mutants, check)
    assert not bad, f"{len(bad)} of {len(mutants)} flips not refused: {bad[:10]}"


@pytest.mark.parametrize(
    "doc, check",
    [(SAMPLE, check_license), (RICH, check_license_terms), (CERTIFICATE, check_certificate)],
    ids=["license", "license-with-every-term", "certificate"],
)
def test_every_byte_deletion_is_refused(doc: bytes, check: Callable[[bytes], Any]) -> None:
    bad = _outcomes(deletions(doc), check)
    assert not bad, bad[:10]


def test_every_byte_duplication_is_refused() -> None:
    mutants = [(f"duplicate byte {i}", SAMPLE[: i + 1] + SAMPLE[i:]) for i in range(len(SAMPLE))]
    assert not _outcomes(mutants, check_license)


def test_certificate_bit_flips_inside_a_license_are_refused() -> None:
    # The embedded certificate is not covered by the license signature; the root's is what protects it.
    start = SAMPLE.index(CERTIFICATE)
    mutants = [(f"certificate {w}", SAMPLE[:start] + m + SAMPLE[start + len(CERTIFICATE):])
               for w, m in bit_flips(CERTIFICATE)]  # fmt: skip
    assert not _outcomes(mutants, check_license)


def test_armored_bit_flips_are_refused_or_harmless() -> None:
    # A flip in the armor may only be accepted if it does not change the binary document
    # (for example a trailing newline turned into other whitespace).
    armored = F.armor(SAMPLE, F.LICENSE)
    changed = []
    for where, mutant in bit_flips(armored):
        try:
            got = check_license(mutant)
        except InternalError as exc:
            changed.append(f"{where}: internal error {exc.__cause__!r}")
        except LicenseError:
            continue
        else:
            if got.document != SAMPLE:
                changed.append(f"{where}: verified a different document")
    assert not changed, changed[:10]


# --- inspect follows verify's order (issue 6: "same verdict everywhere") -------------------------


def _inspect_code(doc: bytes) -> str:
    report = licverify.inspect_document(doc, trusted_roots=FACTORY.roots, product="acme-cad",
                                        now=NOW)  # fmt: skip
    return report.verdict


def _verify_code(doc: bytes) -> str:
    try:
        licverify.verify_license(doc, trusted_roots=FACTORY.roots, product="acme-cad", now=NOW)
    except LicenseError as exc:
        return exc.code
    return "valid"


@pytest.mark.parametrize("change", [0x01, 0x80, 0xFF], ids=["xor-01", "xor-80", "xor-ff"])
def test_inspect_reports_the_code_verify_raises_for_every_byte(change: int) -> None:
    """Regression: inspect decoded the claims before checking the signature, so a tampered
    license was `malformed` there and `bad-signature` for verify_license."""
    disagree = []
    for i in range(len(SAMPLE)):
        mutant = bytearray(SAMPLE)
        mutant[i] ^= change
        got, want = _inspect_code(bytes(mutant)), _verify_code(bytes(mutant))
        if got != want:
            disagree.append(f"byte {i}: inspect {got}, verify {want}")
    assert not disagree, disagree[:10]
