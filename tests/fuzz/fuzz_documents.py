"""Coverage-guided fuzzing of everything that reads untrusted bytes (atheris).

Run it directly for as long as you like::

    python tests/fuzz/fuzz_documents.py -max_total_time=600 [CORPUS_DIR ...]

The property: for any input, each reader either accepts or raises its
documented error (LicenseError, or ValueError for fingerprint text), never
anything else and never an InternalError. ``tests/test_fuzz.py`` runs a short,
fixed number of iterations in ``make test``, seeded with the conformance vectors.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "vectors.json"
NOW = datetime(2026, 9, 21, 14, 13, 20, tzinfo=timezone.utc)


def seeds() -> list[bytes]:
    """Every document of the conformance vectors: valid and invalid, all kinds."""
    data = json.loads(VECTORS.read_text())
    out = [bytes.fromhex(v["document"]) for v in data["vectors"]]
    out += [bytes.fromhex(v["document"]) for v in data.get("activation_vectors", [])]
    return out


def make_target() -> Any:
    """The function to fuzz. Imports licverify here, so a fuzzer can instrument it."""
    import licverify
    from licverify import InternalError, LicenseError
    from licverify._cbor import decode_canonical
    from licverify._errors import MalformedError

    data = json.loads(VECTORS.read_text())
    roots = licverify.TrustedRoots(
        sorted({bytes.fromhex(k) for v in data["vectors"] for k in v["trusted_roots"]})
    )

    def check_one(document: bytes) -> None:
        readers = (
            lambda: licverify.verify_license(
                document, trusted_roots=roots, product="acme-cad", now=NOW
            ),
            lambda: licverify.verify_certificate(document, trusted_roots=roots, now=NOW),
            lambda: licverify.verify_request(document),
            lambda: licverify.verify_receipt(document),
            lambda: licverify.verify_response(document, trusted_roots=roots),
            lambda: licverify.inspect_document(
                document, trusted_roots=roots, product="acme-cad", now=NOW
            ),
        )
        for read in readers:
            try:
                read()
            except InternalError as exc:  # an unexpected error inside verification
                raise AssertionError(f"internal error on {document.hex()}: {exc!r}") from exc
            except LicenseError:
                pass
        try:
            decode_canonical(document, "fuzz")
        except MalformedError:
            pass
        try:
            licverify.parse_fingerprint(document.decode("latin-1"))
        except ValueError:
            pass

    return check_one


def main() -> None:
    import atheris

    # Instrument only our package: instrumenting the whole standard library
    # would cost tens of seconds at start for no useful coverage.
    with atheris.instrument_imports(include=["licverify"]):
        check_one = make_target()
    atheris.Setup(sys.argv, lambda data: check_one(bytes(data)))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
