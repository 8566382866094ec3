"""The conformance vectors (tests/vectors/vectors.json) run against licverify (STYLE §11)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import licverify
from licverify import format as F

VECTORS_DIR = Path(__file__).parent / "vectors"
FILE = json.loads((VECTORS_DIR / "vectors.json").read_text(encoding="utf-8"))
VECTORS = FILE["vectors"]
VALID = [v for v in VECTORS if "expected" in v]
ACTIVATION = FILE["activation_vectors"]
ACTIVATION_VALID = [v for v in ACTIVATION if "expected" in v]
OPERATIONS = {
    "verify_request", "verify_receipt", "verify_response", "verify_license_with_activation",
    "verify_usage_report", "verify_counter_refill", "verify_clock_reset",
}  # fmt: skip
#: Each code's exact class: a WrongKind must not pass for a Malformed, or the reverse.
ERROR_CLASSES: dict[str, type[licverify.LicenseError]] = {
    cls.code: cls
    for cls in (
        licverify.Malformed, licverify.WrongKind, licverify.Unsupported, licverify.UntrustedKey,
        licverify.BadSignature, licverify.NotYetValid, licverify.Expired,
        licverify.WrongProduct, licverify.WrongMachine, licverify.NotActivated,
        licverify.VersionNotAllowed,
    )
}  # fmt: skip


def parse_now(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def run(vector: dict[str, Any], document: bytes | None = None) -> licverify.License:
    fingerprint = vector.get("fingerprint")
    return licverify.verify_license(
        bytes.fromhex(vector["document"]) if document is None else document,
        trusted_roots=[bytes.fromhex(k) for k in vector["trusted_roots"]],
        product=vector["product"],
        now=parse_now(vector["now"]),
        app_version=vector.get("app_version"),
        fingerprint=None
        if fingerprint is None
        else {k: bytes.fromhex(v) for k, v in fingerprint.items()},
    )


def test_file_shape() -> None:
    assert FILE["format"] == "licsign-test-vectors-v2"
    names = [v["name"] for v in VECTORS + ACTIVATION]
    assert len(names) == len(set(names))
    for v in VECTORS + ACTIVATION:
        assert ("expected" in v) != ("error" in v), v["name"]
    for v in ACTIVATION:
        keys = {"name", "description", "operation", "document", "expected" if "expected" in v
                else "error"}  # fmt: skip
        if v["operation"] in ("verify_response", "verify_license_with_activation",
                              "verify_counter_refill", "verify_clock_reset"):  # fmt: skip
            keys.add("trusted_roots")
        if v["operation"] in ("verify_counter_refill", "verify_clock_reset"):
            keys.add("product")
        if v["operation"] == "verify_license_with_activation":
            keys |= {"license", "now", "product", "device_key", "fingerprint"}
        assert set(v) == keys, v["name"]


def test_every_verification_error_code_is_covered() -> None:
    codes = {v["error"] for v in VECTORS if "error" in v}
    assert codes == {
        "malformed", "wrong-kind", "unsupported", "untrusted-key", "bad-signature",
        "not-yet-valid", "expired", "wrong-product", "wrong-machine", "not-activated",
        "version-not-allowed",
    }  # fmt: skip
    # A floating license needs activation (format §7.2), so its valid vectors are activation ones.
    with_activation = {
        v["expected"]["type"]
        for v in ACTIVATION_VALID
        if v["operation"] == "verify_license_with_activation"
    }
    assert {v["expected"]["terms"]["type"] for v in VALID} == set(F.LICENSE_TYPES) - {"floating"}
    assert "floating" in with_activation
    assert {v["expected"]["status"] for v in VALID} == {"valid", "grace", "maintained"}


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    if "error" in vector:
        with pytest.raises(licverify.LicenseError) as info:
            run(vector)
        assert info.value.code == vector["error"], str(info.value)
        return
    lic = run(vector)
    expected = vector["expected"]
    assert lic.status.value == expected["status"]
    assert lic.grace_days_left == expected["grace_days_left"]
    assert lic.to_json() == expected["terms"]


def test_activation_vectors_cover_every_operation_and_code() -> None:
    by_operation: dict[str, set[str]] = {op: set() for op in OPERATIONS}
    for v in ACTIVATION:
        by_operation[v["operation"]].add(v.get("error", "valid"))
    assert set(by_operation) == OPERATIONS
    for operation, outcomes in by_operation.items():
        # every operation has valid vectors, and refuses a flipped bit and the wrong kind
        assert {"valid", "bad-signature", "wrong-kind"} <= outcomes, operation
    for operation in ("verify_request", "verify_receipt", "verify_response"):
        assert {"malformed", "unsupported", "untrusted-key"} <= by_operation[operation]
    assert {"wrong-product", "wrong-machine", "not-activated", "untrusted-key"} <= by_operation[
        "verify_license_with_activation"
    ]
    codes = {v["error"] for v in ACTIVATION if "error" in v}
    assert codes == {
        "malformed", "wrong-kind", "unsupported", "untrusted-key", "bad-signature",
        "wrong-product", "wrong-machine", "not-activated", "expired",
    }  # fmt: skip
    # with and without the optional parts: user/code, lease
    requests = [v["expected"] for v in ACTIVATION_VALID if v["operation"] == "verify_request"]
    assert {r["user"] is None for r in requests} == {True, False}
    assert {r["code"] is None for r in requests} == {True, False}
    responses = [v["expected"] for v in ACTIVATION_VALID if v["operation"] == "verify_response"]
    assert {r["lease_expires"] is None for r in responses} == {True, False}
    licenses = [
        v["expected"]
        for v in ACTIVATION_VALID
        if v["operation"] == "verify_license_with_activation"
    ]
    assert all(lic["activation"] is not None for lic in licenses)
    # leases and refresh dates both end activations (format §11.4 step 6)
    assert {lic["refresh_seconds"] is None for lic in licenses} == {True, False}
    assert {lic["lease_seconds"] is None for lic in licenses} == {True, False}


def test_vectors_cover_issue_6_format_changes() -> None:
    """Null claims, terms that need activation, refresh, and kcwt as registered (issue 6)."""
    names = {v["name"] for v in VECTORS + ACTIVATION}
    for claim in ("iss", "nbf", "exp", "lease", "refresh"):
        assert f"malformed-null-{claim}" in names
    for what in ("limit", "users", "floating", "refresh"):
        assert f"malformed-{what}-without-activation" in names
    assert {"valid-kcwt-embedded", "unsupported-kcwt-wrapped-in-bstr",
            "unsupported-format-version-1-document", "activation-valid-refresh",
            "activation-refresh-due", "activation-refresh-without-expiry"} <= names  # fmt: skip
    for v in VECTORS:
        document, _ = F.dearmor(bytes.fromhex(v["document"]))
        if "expected" in v:  # every valid license embeds its certificate as is (a1 0d d2 84 ...)
            envelope = F.parse_unverified(document)
            certificate = envelope.certificate
            head = b"\xa2\x0d" if envelope.rollovers else b"\xa1\x0d"  # + root rollovers (§6.5)
            assert certificate is not None and head + certificate in document


def test_vectors_cover_root_rollovers() -> None:
    """Rollovers walked from the pinned root or a later one; a gap, disorder or flip refused."""
    by_name = {v["name"]: v for v in VECTORS}
    for name in ("valid-root-rollover", "valid-root-rollover-pinned-later"):
        document = bytes.fromhex(by_name[name]["document"])
        assert len(F.parse_unverified(document).rollovers) == 2 and "expected" in by_name[name]
    for name, code in (("untrusted-root-rollover-missing-link", "untrusted-key"),
                       ("untrusted-root-rollover-reordered", "untrusted-key"),
                       ("bad-signature-root-rollover-bit", "bad-signature")):  # fmt: skip
        assert by_name[name]["error"] == code


def run_activation(vector: dict[str, Any], document: bytes | None = None) -> Any:
    """Run one activation vector through the operation it names; return the verified object."""
    data = bytes.fromhex(vector["document"]) if document is None else document
    operation = vector["operation"]
    if operation == "verify_request":
        return licverify.verify_request(data)
    if operation == "verify_receipt":
        return licverify.verify_receipt(data)
    if operation == "verify_usage_report":
        return licverify.verify_usage_report(data)
    roots = [bytes.fromhex(k) for k in vector["trusted_roots"]]
    if operation in ("verify_counter_refill", "verify_clock_reset"):
        verify = getattr(licverify, operation)
        return verify(data, trusted_roots=roots, product=vector["product"])
    if operation == "verify_response":
        return licverify.verify_response(data, trusted_roots=roots)
    assert operation == "verify_license_with_activation", operation
    return licverify.verify_license(
        bytes.fromhex(vector["license"]),
        trusted_roots=roots,
        product=vector["product"],
        now=parse_now(vector["now"]),
        fingerprint={k: bytes.fromhex(v) for k, v in vector["fingerprint"].items()},
        activation=data,
        device_key=bytes.fromhex(vector["device_key"]),
    )


@pytest.mark.parametrize("vector", ACTIVATION, ids=[v["name"] for v in ACTIVATION])
def test_activation_vector(vector: dict[str, Any]) -> None:
    if "error" in vector:
        with pytest.raises(licverify.LicenseError) as info:
            run_activation(vector)
        assert info.value.code == vector["error"], str(info.value)
        assert type(info.value) is ERROR_CLASSES[vector["error"]], str(info.value)
        return
    assert run_activation(vector).to_json() == vector["expected"]


@pytest.mark.parametrize("vector", ACTIVATION_VALID, ids=[v["name"] for v in ACTIVATION_VALID])
def test_valid_activation_vector_armored_and_binary_agree(vector: dict[str, Any]) -> None:
    """Either form of a valid activation document verifies to the same result (format §5)."""
    data = bytes.fromhex(vector["document"])
    binary, _ = F.dearmor(data)
    kind = F.parse_unverified(binary).kind
    other = binary if F.is_armored(data) else F.armor(binary, kind)
    assert other != data
    assert run_activation(vector, other).to_json() == vector["expected"]


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector_armored_and_binary_agree(vector: dict[str, Any]) -> None:
    """Armored and binary forms are the same document (format §5)."""
    lic = run(vector)
    other = (
        lic.document
        if F.is_armored(bytes.fromhex(vector["document"]))
        else F.armor(lic.document, F.LICENSE)
    )
    assert run(vector, other).to_json() == lic.to_json()


def test_generator_check_passes() -> None:
    """vectors.json is exactly what the checked-in generator writes (no drift)."""
    result = subprocess.run(
        [sys.executable, str(VECTORS_DIR / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
