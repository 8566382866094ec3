"""Explain a document: what it is, every field, and every check with its result.

This is the support path, not the hot path: it runs the verifier's stages
one at a time and records each outcome instead of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from licverify._activation import decode_response_payload
from licverify._armor import is_armored
from licverify._certificate import decode_certificate_payload, decode_rollover_payload
from licverify._errors import LicenseError, MalformedError, UnsupportedError, UntrustedKeyError
from licverify._keys import TrustedRoots
from licverify._kinds import (
    ACTIVATION_REQUEST,
    ACTIVATION_RESPONSE,
    DEACTIVATION_RECEIPT,
    ISSUING_CERTIFICATE,
    LICENSE,
    REVOCATION_LIST,
    ROOT_ROLLOVER,
)
from licverify._license import decode_license_payload, terms_to_json
from licverify._time import to_timestamp
from licverify._verify import (
    certificate_from_bytes,
    check_activation_required,
    check_chain,
    check_gate,
    check_issuing_window,
    check_machine,
    check_product,
    check_signature,
    check_time,
    open_device_signed,
    open_envelope,
    open_response,
    open_revocation_list,
)

PASS, FAIL, SKIP = "pass", "fail", "skip"


class Check:
    """One check: its name, ``pass``/``fail``/``skip``, the reason, and the error code on failure."""

    __slots__ = ("code", "detail", "name", "result")

    def __init__(self, name: str, result: str, detail: str, code: str | None = None) -> None:
        self.name, self.result, self.detail, self.code = name, result, detail, code

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {"name": self.name, "result": self.result, "detail": self.detail, "code": self.code}


class InspectReport:
    """What ``inspect_document`` found.

    Attributes:
        kind: document kind name, or None if the bytes are not a document.
        armored: whether the input was armored text.
        size: size of the binary document in bytes.
        key_id: signer's key id (hex), or None.
        fields: decoded fields (unverified unless ``verified`` is True).
        checks: every check in order.
        verdict: ``"valid"``, ``"grace"``, or the code of the first failure.
    """

    def __init__(self) -> None:
        self.kind: str | None = None
        self.armored = False
        self.size = 0
        self.key_id: str | None = None
        self.fields: dict[str, Any] = {}
        self.checks: list[Check] = []
        self.verdict = "unknown"

    @property
    def verified(self) -> bool:
        """True if every check that ran passed and none that matters was skipped."""
        return self.verdict in ("valid", "grace")

    def run(self, name: str, step: Callable[[], Any], ok: str) -> Any:
        """Run ``step``; record pass with ``ok`` or fail with the error's message."""
        try:
            value = step()
        except LicenseError as exc:
            self.checks.append(Check(name, FAIL, exc.message, exc.code))
            if self.verdict in ("unknown", "valid", "grace"):
                self.verdict = exc.code
            return None
        self.checks.append(Check(name, PASS, ok))
        return value if value is not None else True

    def skip(self, name: str, why: str) -> None:
        """Record a check that could not run."""
        self.checks.append(Check(name, SKIP, why))

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "kind": self.kind,
            "armored": self.armored,
            "size": self.size,
            "key_id": self.key_id,
            "verdict": self.verdict,
            "fields": self.fields,
            "checks": [c.to_json() for c in self.checks],
        }


def inspect_document(
    document: bytes,
    *,
    trusted_roots: TrustedRoots | Iterable[bytes] | None = None,
    product: str | None = None,
    now: datetime | None = None,
) -> InspectReport:
    """Describe any licsign document and check it as far as the inputs allow.

    Without ``trusted_roots`` the signatures cannot be judged, so the fields
    are shown as unverified; without ``product`` or ``now`` those checks are
    skipped. Never raises LicenseError: failures are recorded in the report.
    """
    if not isinstance(document, (bytes, bytearray, memoryview)):
        raise TypeError("document must be bytes")
    roots = None if trusted_roots is None else TrustedRoots.coerce(trusted_roots)
    at = None if now is None else to_timestamp(now)
    report = InspectReport()
    report.armored = is_armored(bytes(document))
    opened = report.run(
        "encoding", lambda: open_envelope(bytes(document)), "well-formed COSE_Sign1"
    )
    if opened is None:
        return report
    envelope, binary = opened
    report.kind, report.size, report.key_id = envelope.kind.name, len(binary), envelope.kid.hex()
    if envelope.kind is LICENSE:
        _inspect_license(report, envelope, roots, product, at)
    elif envelope.kind is ISSUING_CERTIFICATE:
        _inspect_certificate(report, binary, envelope, roots, at)
    elif envelope.kind in (ACTIVATION_REQUEST, DEACTIVATION_RECEIPT):
        signed = report.run(
            "signature",
            lambda: open_device_signed(binary, envelope.kind)[0],
            "signed by the device key it names",
        )
        if signed:
            report.fields = signed.to_json()
            report.verdict = "valid"
    elif envelope.kind is ACTIVATION_RESPONSE:
        _inspect_response(report, binary, envelope, roots, at)
    elif envelope.kind is REVOCATION_LIST:
        _inspect_revocations(report, binary, envelope, roots, product)
    elif envelope.kind is ROOT_ROLLOVER:
        _inspect_rollover(report, envelope, roots)
    else:
        report.run(
            "kind",
            lambda: _raise(UnsupportedError(f"{envelope.kind.name} is not implemented yet")),
            "",
        )
    if report.verdict == "unknown":
        report.verdict = "unverified"
    return report


def _raise(exc: Exception) -> None:
    raise exc


def _inspect_license(
    report: InspectReport, envelope: Any, roots: Any, product: Any, at: Any
) -> None:
    # verify_license's order (format §9): chain and signature over the bytes as
    # received, then the claims, so both report the same first failure. The
    # claims are decoded even after a failed signature, to show them unverified.
    certificate = None
    if roots is not None:
        certificate = report.run(
            "signature",
            lambda: check_chain(envelope, roots),
            "certificate chains to a trusted root; signature verifies",
        )
    terms = report.run(
        "claims", lambda: decode_license_payload(envelope.payload), "terms decode strictly"
    )
    if terms:
        report.fields = terms_to_json(terms)
    if envelope.certificate is not None:
        try:
            cert = decode_certificate_payload(parse_cert_payload(envelope.certificate))
            report.fields["issuing_key"] = cert.to_json()
        except (LicenseError, ValueError):
            pass
    if roots is None:
        report.skip("signature", "no trusted root given (--trust); fields above are unverified")
        return
    if not certificate or not terms:
        return
    report.fields["issuing_key"] = certificate.to_json()
    report.run(
        "issuing-window",
        lambda: check_issuing_window(terms, certificate),
        "issued while its key was valid",
    )
    if product is None:
        report.skip("product", "no product given")
    else:
        report.run(
            "product", lambda: check_product(terms, certificate, product), f"licensed for {product}"
        )
    if at is None:
        report.skip("validity", "no time given")
    else:
        status = report.run("validity", lambda: check_time(terms, at), "within its validity period")
        if status and report.verdict == "unknown":
            report.verdict = status[0].value
            if status[1] is not None:
                report.checks[-1].detail = f"expired; in grace for {status[1]} more day(s)"
    report.run(
        "version-gate", lambda: check_gate(terms, None, None), "no application version given"
    )
    report.run("machine", lambda: check_machine(terms, None) if terms.allowed_devices else None,
               "not bound to devices")  # fmt: skip
    report.run("activation", lambda: check_activation_required(terms), "no activation required")


def _inspect_response(
    report: InspectReport, binary: bytes, envelope: Any, roots: Any, at: Any
) -> None:
    if roots is None:
        response = report.run(
            "claims", lambda: decode_response_payload(envelope.payload), "claims decode strictly"
        )
        if response:
            report.fields = response.to_json()
        report.skip("signature", "no trusted root given (--trust); fields above are unverified")
        return
    # verify_response's order: chain and signature, then the claims (format §11).
    signed = report.run(
        "signature",
        lambda: check_chain(envelope, roots),
        "certificate chains to a trusted root; signature verifies",
    )
    verified = report.run(
        "claims",
        lambda: (
            open_response(binary, roots)[0] if signed else decode_response_payload(envelope.payload)
        ),
        "claims decode strictly; issued while its key was valid",
    )
    if verified:
        report.fields = verified.to_json()
    if not signed or not verified:
        return
    if at is not None and verified.lease_expires is not None:
        ok = at < verified.lease_expires
        detail = "before its expiry (lease end or refresh-by)" if ok else "past its expiry"
        report.checks.append(
            Check("expiry", PASS if ok else FAIL, detail, None if ok else "not-activated")
        )
        if not ok:
            report.verdict = "not-activated"
    if report.verdict == "unknown":
        report.verdict = "valid"


def _inspect_revocations(
    report: InspectReport, binary: bytes, envelope: Any, roots: Any, product: Any
) -> None:
    """A revocation list (format §13.2): its entries, verified when a root is given."""
    from licverify._revocation import decode_revocation_payload

    if roots is None:
        decoded = report.run(
            "claims", lambda: decode_revocation_payload(envelope.payload), "claims decode strictly"
        )
        if decoded:
            report.fields = decoded.to_json()
        report.skip("signature", "no trusted root given (--trust); fields above are unverified")
        return
    verified = report.run(
        "signature",
        lambda: open_revocation_list(binary, roots, product),
        "certificate chains to a trusted root; signature verifies; claims decode strictly",
    )
    if verified:
        report.fields = verified.to_json()
        report.verdict = "valid"


def _inspect_rollover(report: InspectReport, envelope: Any, roots: Any) -> None:
    """A root rollover (format §6.5): signed by a trusted root; the new root it vouches for."""
    if roots is not None:
        report.run(
            "signature",
            lambda: check_signature(envelope, _trusted_root(roots, envelope.kid), "root rollover"),
            "signed by a trusted root",
        )
    rollover = report.run(
        "claims",
        lambda: decode_rollover_payload(envelope.payload, envelope.kid),
        "claims decode strictly",
    )
    if rollover:
        report.fields = rollover.to_json()
    if roots is None:
        report.skip("signature", "no trusted root given (--trust); fields above are unverified")
    elif report.verdict == "unknown":
        report.verdict = "valid"


def _trusted_root(roots: Any, kid: bytes) -> bytes:
    root = roots.get(kid)
    if root is None:
        raise UntrustedKeyError(f"signed by root {kid.hex()[:16]}, which is not trusted")
    return bytes(root)


def parse_cert_payload(data: bytes) -> bytes:
    """Payload bytes of an embedded certificate, unverified (for display only)."""
    from licverify._cose import parse_unverified

    return parse_unverified(data).payload


def _inspect_certificate(
    report: InspectReport, binary: bytes, envelope: Any, roots: Any, at: Any
) -> None:
    verified = None
    if roots is not None:
        # verify_certificate's order: shape, root, signature, then the claims.
        verified = report.run(
            "signature", lambda: certificate_from_bytes(binary, roots), "signed by a trusted root"
        )
    if roots is None or not verified:
        if envelope.certificate is not None:
            report.run(
                "shape",
                lambda: _raise(MalformedError("a certificate cannot embed a certificate")),
                "",
            )
        cert = report.run(
            "claims", lambda: decode_certificate_payload(envelope.payload), "claims decode strictly"
        )
        if cert:
            report.fields = cert.to_json()
    if roots is None:
        report.skip("signature", "no trusted root given (--trust); fields above are unverified")
        return
    if verified:
        report.fields = verified.to_json()
        if at is not None:
            ok = verified.covers(at)
            detail = "valid now" if ok else "outside its validity window"
            code = "not-yet-valid" if at < verified.not_before else "expired"
            report.checks.append(
                Check("validity", PASS if ok else FAIL, detail, None if ok else code)
            )
            if not ok and report.verdict == "unknown":
                report.verdict = code
        if report.verdict == "unknown":
            report.verdict = "valid"
