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
    assert FILE["format"] == "licsign-test-vectors-v1"
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names))
    for v in VECTORS:
        assert ("expected" in v) != ("error" in v), v["name"]


def test_every_verification_error_code_is_covered() -> None:
    codes = {v["error"] for v in VECTORS if "error" in v}
    assert codes == {
        "malformed", "wrong-kind", "unsupported", "untrusted-key", "bad-signature",
        "not-yet-valid", "expired", "wrong-product", "wrong-machine", "not-activated",
        "version-not-allowed",
    }  # fmt: skip
    assert {v["expected"]["terms"]["type"] for v in VALID} == set(F.LICENSE_TYPES)
    assert {v["expected"]["status"] for v in VALID} == {"valid", "grace"}


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
