"""The Verifier object (issue 7), its one fail-closed wrapper, and the renamed errors.

The module-level functions are covered by test_verify.py and friends; here the
Verifier must agree with them verdict for verdict, check its own arguments
once, stay immutable, and fail closed on every entry point.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from factory import ISSUING, T0, UnsafeFactory, default_terms, key_from_seed, public, signer

import licverify
from licverify import (
    ExpiredError,
    InternalError,
    License,
    LicenseError,
    NotActivatedError,
    TrustedRoots,
    UntrustedKeyError,
    Verifier,
    VersionNotAllowedError,
    WrongKindError,
    WrongMachineError,
    WrongProductError,
)
from licverify import _errors as errors
from licverify import _verify as verify_module
from licverify import format as F
from licverify._activation import (
    ActivationRequest,
    DeactivationReceipt,
    encode_receipt_payload,
    encode_request_payload,
)

DAY = 86400
PRODUCT = "acme-cad"
FACTORY = UnsafeFactory()
NOW = datetime.fromtimestamp(T0, timezone.utc)
DEVICE = key_from_seed("verifier-device")
DEVICE_KEY = public(DEVICE)
MACHINE = {"cpu": b"\xa1" * 16, "machine-id": b"\xa4" * 16}
OTHER_MACHINE = {"cpu": b"\xb1" * 16, "machine-id": b"\xb4" * 16}


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def lic(**overrides: Any) -> bytes:
    return FACTORY.license(default_terms(**overrides))


def verifier(**kwargs: Any) -> Verifier:
    kwargs.setdefault("trusted_roots", FACTORY.roots)
    kwargs.setdefault("product", PRODUCT)
    return Verifier(**kwargs)


def response_for(doc: bytes, fingerprint: dict[str, bytes], expires: int | None = None) -> bytes:
    """An activation response for ``doc`` on DEVICE_KEY, signed by the factory's issuing key."""
    response = F.ActivationResponse(
        activation_id="A-VERIFIER-1", device_key=DEVICE_KEY, fingerprint=fingerprint,
        issued_at=T0 - 60, lease_expires=expires, license_digest=F.license_digest(doc),
        license_id=F.decode_license_payload(F.parse_unverified(doc).payload).id,
        nonce=b"\x0b" * 16, user=None,
    )  # fmt: skip
    return F.encode_sign1(F.ACTIVATION_RESPONSE, F.key_id(public(ISSUING)),
                          F.encode_response_payload(response), signer(ISSUING),
                          FACTORY.certificate())  # fmt: skip


def request_document() -> bytes:
    request = ActivationRequest(
        code=None, created_at=T0, device_key=DEVICE_KEY, fingerprint=MACHINE, label="desk",
        license_digest=b"\x01" * 32, license_id="L-TEST-0000-0001", nonce=b"\x02" * 16,
        product=PRODUCT, user=None,
    )  # fmt: skip
    return F.encode_sign1(F.ACTIVATION_REQUEST, F.key_id(DEVICE_KEY),
                          encode_request_payload(request), signer(DEVICE))  # fmt: skip


def receipt_document() -> bytes:
    receipt = DeactivationReceipt(
        activation_id="A-VERIFIER-1", created_at=T0, device_key=DEVICE_KEY,
        license_digest=b"\x01" * 32, license_id="L-TEST-0000-0001", nonce=b"\x03" * 16,
    )  # fmt: skip
    return F.encode_sign1(F.DEACTIVATION_RECEIPT, F.key_id(DEVICE_KEY),
                          encode_receipt_payload(receipt), signer(DEVICE))  # fmt: skip


def outcome(call: Callable[[], object]) -> object:
    """The result, or the failure as (class, code, message), so two paths can be compared."""
    try:
        return call()
    except LicenseError as exc:
        return (type(exc), exc.code, exc.message)


# --- the Verifier agrees with the functions, verdict for verdict ---------------------------------

ACTIVATED = {"activation_required": True, "limits": F.Limits(max_devices=3)}
CASES: dict[str, tuple[bytes, dict[str, Any], dict[str, Any]]] = {
    # name: (document, Verifier arguments, per-call arguments)
    "valid": (lic(), {}, {}),
    "armored": (F.armor(lic(), F.LICENSE), {}, {}),
    "grace": (lic(), {}, {"now": at(T0 + 366 * DAY)}),
    "expired": (lic(), {}, {"now": at(T0 + 400 * DAY)}),
    "not-yet-valid": (lic(not_before=T0 + DAY), {}, {}),
    "wrong-product": (lic(), {"product": "acme-cam"}, {}),
    "untrusted-root": (lic(), {"trusted_roots": [public(key_from_seed("stranger"))]}, {}),
    "wrong-kind": (FACTORY.certificate(), {}, {}),
    "version-ok": (lic(max_version="2.4"), {"app_version": "2.4.0"}, {}),
    "version-too-new": (lic(max_version="2.4"), {"app_version": "2.5"}, {}),
    "released-after-maintenance": (
        lic(maintenance_end=T0 + DAY), {"app_release": at(T0 + 2 * DAY)}, {},
    ),
    "bound-no-fingerprint": (lic(allowed_devices=(MACHINE,)), {}, {}),
    "bound-other-machine": (lic(allowed_devices=(MACHINE,)), {}, {"fingerprint": OTHER_MACHINE}),
    "bound-this-machine": (lic(allowed_devices=(MACHINE,)), {}, {"fingerprint": MACHINE}),
    "needs-activation": (lic(**ACTIVATED), {}, {"fingerprint": MACHINE}),
}  # fmt: skip


def _activated_case(name: str) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    doc = lic(**ACTIVATED)
    fingerprint = OTHER_MACHINE if name == "activated-other-machine" else MACHINE
    expires = T0 - 1 if name == "activation-expired" else None
    call = {"fingerprint": fingerprint, "activation": response_for(doc, MACHINE, expires),
            "device_key": DEVICE_KEY}  # fmt: skip
    return doc, {}, call


for _name in ("activated", "activated-other-machine"):
    CASES[_name] = _activated_case(_name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_verifier_and_function_give_the_same_verdict(name: str) -> None:
    doc, config, call = CASES[name]
    call = {"now": NOW, **call}
    config = {"trusted_roots": FACTORY.roots, "product": PRODUCT, **config}
    by_object = outcome(lambda: Verifier(**config).verify_license(doc, **call))
    function_config = dict(config)
    if "app_release" in function_config:
        function_config["app_release_date"] = function_config.pop("app_release")
    by_function = outcome(lambda: licverify.verify_license(doc, **function_config, **call))
    assert by_object == by_function
    if isinstance(by_object, License):
        assert by_object.document == F.dearmor(doc)[0]


def test_the_expected_verdicts() -> None:
    # The comparison above would pass if both paths were broken alike: pin a few verdicts.
    expected = {"valid": "valid", "grace": "grace", "expired": "expired",
                "wrong-product": "wrong-product", "untrusted-root": "untrusted-key",
                "wrong-kind": "wrong-kind", "version-too-new": "version-not-allowed",
                "released-after-maintenance": "version-not-allowed",
                "bound-other-machine": "wrong-machine", "needs-activation": "not-activated",
                "activated": "valid", "activated-other-machine": "wrong-machine"}  # fmt: skip
    assert {name: _verdict(name) for name in expected} == expected


def _verdict(name: str) -> str:
    doc, config, call = CASES[name]
    try:
        return verifier(**config).verify_license(doc, **{"now": NOW, **call}).status.value
    except LicenseError as exc:
        return exc.code


def test_one_verifier_serves_many_documents_and_times() -> None:
    v = verifier()
    doc = lic()
    assert v.verify_license(doc, now=NOW).status is licverify.Status.VALID
    with pytest.raises(ExpiredError):
        v.verify_license(doc, now=at(T0 + 400 * DAY))
    with pytest.raises(WrongProductError):
        v.verify_license(FACTORY.license(default_terms(product="acme-cam")), now=NOW)
    assert v.verify_license(bytearray(doc), now=NOW) == v.verify_license(memoryview(doc), now=NOW)  # type: ignore[arg-type]


def test_verify_response_certificate_request_receipt() -> None:
    v = verifier()
    doc = lic(**ACTIVATED)
    response = response_for(doc, MACHINE)
    assert (
        v.verify_response(response).to_json()
        == licverify.verify_response(response, trusted_roots=FACTORY.roots).to_json()
    )
    assert v.verify_certificate(FACTORY.certificate(), now=NOW) == licverify.verify_certificate(
        FACTORY.certificate(), trusted_roots=FACTORY.roots, now=NOW
    )
    with pytest.raises(ExpiredError):
        v.verify_certificate(FACTORY.certificate(), now=at(T0 + 4 * 365 * DAY))
    request, receipt = request_document(), receipt_document()
    assert v.verify_request(request) == licverify.verify_request(request)
    assert v.verify_receipt(receipt) == licverify.verify_receipt(receipt)
    with pytest.raises(WrongKindError):
        v.verify_request(receipt)
    stranger = Verifier(trusted_roots=[public(key_from_seed("stranger"))], product=PRODUCT)
    with pytest.raises(UntrustedKeyError):
        stranger.verify_response(response)


def test_activation_checks_through_the_verifier() -> None:
    v = verifier()
    doc = lic(**ACTIVATED)
    with pytest.raises(NotActivatedError):
        v.verify_license(doc, now=NOW, fingerprint=MACHINE,
                         activation=response_for(doc, MACHINE, expires=T0 - 1),
                         device_key=DEVICE_KEY)  # fmt: skip
    with pytest.raises(WrongMachineError):
        v.verify_license(doc, now=NOW, fingerprint=MACHINE, activation=response_for(doc, MACHINE),
                         device_key=public(key_from_seed("another-device")))  # fmt: skip


# --- arguments: checked once, at construction, as programmer errors -----------------------------


def test_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Verifier(FACTORY.roots, PRODUCT)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        verifier().verify_license(lic(), NOW)  # type: ignore[call-arg]
    for name in ("verify_license", "verify_certificate"):
        params = inspect.signature(getattr(Verifier, name)).parameters
        assert [p.kind for p in params.values()][2:] == [inspect.Parameter.KEYWORD_ONLY] * (
            len(params) - 2
        )


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"trusted_roots": []}, ValueError),
        ({"trusted_roots": iter([])}, ValueError),
        ({"trusted_roots": public(ISSUING)}, TypeError),
        ({"trusted_roots": [bytes(32)]}, ValueError),
        ({"product": ""}, ValueError),
        ({"product": None}, TypeError),
        ({"product": b"acme-cad"}, TypeError),
        ({"app_version": "2.x"}, ValueError),
        ({"app_version": 2}, TypeError),
        ({"app_release": datetime(2026, 1, 1)}, ValueError),
        ({"app_release": T0}, TypeError),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_bad_construction_arguments(kwargs: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        verifier(**kwargs)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"now": datetime(2026, 9, 21)}, ValueError),
        ({"now": T0}, TypeError),
        ({"fingerprint": [b"x"]}, TypeError),
        ({"activation": "text", "device_key": DEVICE_KEY}, TypeError),
        ({"activation": b"x", "device_key": None}, ValueError),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_bad_call_arguments_are_not_license_errors(
    kwargs: dict[str, Any], exc: type[Exception]
) -> None:
    call = {"now": NOW, **kwargs}
    with pytest.raises(exc) as info:
        verifier().verify_license(lic(), **call)
    assert not isinstance(info.value, LicenseError)
    with pytest.raises(TypeError):
        verifier().verify_license(lic().hex(), now=NOW)  # type: ignore[arg-type]


def test_attributes_and_repr() -> None:
    roots = TrustedRoots(FACTORY.roots)
    release = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    v = Verifier(trusted_roots=roots, product=PRODUCT, app_version="2.4.1", app_release=release)
    assert v.trusted_roots is roots and v.product == PRODUCT and v.app_version == "2.4.1"
    assert v.app_release == release
    text = repr(v)
    assert text.startswith("Verifier(") and "\n" not in text
    assert "'acme-cad'" in text and "'2.4.1'" in text and "'2026-01-01T00:00:00Z'" in text
    assert F.key_id(FACTORY.roots[0]).hex() in text
    assert FACTORY.roots[0].hex() not in text  # ids, not keys: short enough to log
    assert "app_version=None" in repr(verifier())


def test_roots_given_as_keys_are_coerced_once() -> None:
    v = verifier()
    assert isinstance(v.trusted_roots, TrustedRoots) and v.trusted_roots.keys == tuple(
        FACTORY.roots
    )


def test_verifier_is_immutable() -> None:
    v = verifier()
    for name in ("trusted_roots", "product", "app_version", "app_release", "_release", "new"):
        with pytest.raises(AttributeError):
            setattr(v, name, None)
    with pytest.raises(AttributeError):
        del v.product
    assert not hasattr(v, "__dict__")
    assert v == verifier(trusted_roots=v.trusted_roots) and hash(v) == hash(
        verifier(trusted_roots=v.trusted_roots)
    )
    assert v != verifier(trusted_roots=v.trusted_roots, product="acme-cam")


def test_public_names_have_docstrings() -> None:
    assert licverify.Verifier.__doc__ and "Verifier(" in (licverify.__doc__ or "")
    for name in ("verify_license", "verify_response", "verify_request", "verify_receipt",
                 "verify_certificate"):  # fmt: skip
        doc = getattr(Verifier, name).__doc__
        assert doc and "Raises:" in doc, name


# --- one fail-closed wrapper, on every entry point ------------------------------------------------


class Surprise(Exception):
    """Stands for a bug: an exception that is not a LicenseError."""


def _boom(*args: object, **kwargs: object) -> Any:
    raise Surprise("a bug")


#: entry point → (stage to break, call)
ENTRY_POINTS: dict[str, tuple[str, Callable[[], object]]] = {
    "Verifier.verify_license": (
        "decode_license_payload", lambda: verifier().verify_license(lic(), now=NOW)),
    "verify_license": ("decode_license_payload", lambda: licverify.verify_license(
        lic(), trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)),
    "verify_license_for_import": ("check_machine", lambda: verify_module.verify_license_for_import(
        lic(), trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)),
    "Verifier.verify_certificate": (
        "certificate_from_bytes", lambda: verifier().verify_certificate(FACTORY.certificate(), now=NOW)),
    "verify_certificate": ("certificate_from_bytes", lambda: licverify.verify_certificate(
        FACTORY.certificate(), trusted_roots=FACTORY.roots, now=NOW)),
    "Verifier.verify_response": (
        "open_response", lambda: verifier().verify_response(response_for(lic(**ACTIVATED), MACHINE))),
    "verify_response": ("open_response", lambda: licverify.verify_response(
        response_for(lic(**ACTIVATED), MACHINE), trusted_roots=FACTORY.roots)),
    "Verifier.verify_request": ("open_device_signed", lambda: verifier().verify_request(request_document())),
    "verify_request": ("open_device_signed", lambda: licverify.verify_request(request_document())),
    "Verifier.verify_receipt": ("open_device_signed", lambda: verifier().verify_receipt(receipt_document())),
    "verify_receipt": ("open_device_signed", lambda: licverify.verify_receipt(receipt_document())),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_every_entry_point_fails_closed(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stage, call = ENTRY_POINTS[name]
    call()  # works before the stage is broken
    monkeypatch.setattr(verify_module, stage, _boom)
    with pytest.raises(InternalError) as info:
        call()
    assert info.value.code == "internal-error" and "Surprise" in info.value.message
    assert isinstance(info.value.__cause__, Surprise)


def test_a_type_error_inside_the_stages_is_internal_not_type_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Argument checks raise TypeError before the wrapper; inside it, a TypeError is a bug.
    def broken(*args: object) -> None:
        raise TypeError("bug")

    monkeypatch.setattr(verify_module, "check_time", broken)
    with pytest.raises(InternalError):
        verifier().verify_license(lic(), now=NOW)


def test_license_errors_pass_through_the_wrapper_unchanged() -> None:
    with pytest.raises(ExpiredError) as info:
        verifier().verify_license(lic(), now=at(T0 + 400 * DAY))
    assert info.value.__cause__ is None and type(info.value) is ExpiredError


def test_there_is_one_fail_closed_handler() -> None:
    # Issue 7: the "except Exception → InternalError" handler exists once, in _fail_closed.
    source = Path(verify_module.__file__).read_text(encoding="utf-8")
    handlers = [
        node for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ExceptHandler)
        and isinstance(node.type, ast.Name) and node.type.id in ("Exception", "BaseException")
    ]  # fmt: skip
    assert len(handlers) == 1
    assert source.count("raise InternalError(") == 1


def test_functions_in_the_verify_module_stay_short() -> None:
    # House rule: functions of at most 60 lines.
    source = Path(verify_module.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= 60, f"{node.name} is {length} lines"


# --- error names end in Error; the old names are aliases for one release -------------------------

RENAMED = {
    "Malformed": "MalformedError", "WrongKind": "WrongKindError",
    "Unsupported": "UnsupportedError", "UntrustedKey": "UntrustedKeyError",
    "BadSignature": "BadSignatureError", "NotYetValid": "NotYetValidError",
    "Expired": "ExpiredError", "WrongProduct": "WrongProductError",
    "WrongMachine": "WrongMachineError", "NotActivated": "NotActivatedError",
    "Revoked": "RevokedError", "VersionNotAllowed": "VersionNotAllowedError",
}  # fmt: skip


@pytest.mark.parametrize("old, new", sorted(RENAMED.items()))
def test_old_error_name_is_the_new_class(old: str, new: str) -> None:
    cls = getattr(licverify, new)
    assert getattr(licverify, old) is cls
    assert getattr(errors, old) is getattr(errors, new) is cls
    assert cls.__name__ == new and issubclass(cls, LicenseError)
    assert old in licverify.__all__ and new in licverify.__all__
    assert old in errors.__all__ and new in errors.__all__


def test_every_exported_error_name_ends_in_error_except_the_aliases() -> None:
    names = [n for n in licverify.__all__
             if isinstance(getattr(licverify, n), type) and issubclass(getattr(licverify, n), Exception)]  # fmt: skip
    assert {n for n in names if not n.endswith("Error")} == set(RENAMED)


def test_codes_are_unchanged_by_the_rename() -> None:
    codes = {"MalformedError": "malformed", "WrongKindError": "wrong-kind",
             "UnsupportedError": "unsupported", "UntrustedKeyError": "untrusted-key",
             "BadSignatureError": "bad-signature", "NotYetValidError": "not-yet-valid",
             "ExpiredError": "expired", "WrongProductError": "wrong-product",
             "WrongMachineError": "wrong-machine", "NotActivatedError": "not-activated",
             "RevokedError": "revoked", "VersionNotAllowedError": "version-not-allowed"}  # fmt: skip
    assert {name: getattr(licverify, name).code for name in codes} == codes
    assert issubclass(licverify.WrongKindError, licverify.MalformedError)
    assert sorted(errors.ERROR_CODES) == sorted([*codes.values(), "license-error", "store-error",
                                                 "internal-error", "clock-rolled-back",
                                                 "limit-reached"])  # fmt: skip


def test_except_old_name_still_catches() -> None:
    caught = None
    try:
        verifier().verify_license(lic(), now=at(T0 + 400 * DAY))
    except licverify.Expired as exc:  # the 0.1 spelling
        caught = exc
    assert isinstance(caught, ExpiredError) and caught.code == "expired"
    try:
        verifier().verify_license(lic(max_version="1.0"), now=NOW)
    except VersionNotAllowedError:
        raise AssertionError("no app_version given: the gate is not checked") from None
    with pytest.raises(licverify.VersionNotAllowed):
        verifier(app_version="1.1").verify_license(lic(max_version="1.0"), now=NOW)
    with pytest.raises(licverify.WrongMachine):
        verifier().verify_license(lic(allowed_devices=(MACHINE,)), now=NOW)


# --- verified certificates are remembered per process (issue 9's repeat verify) ----------------


def test_a_repeat_verification_checks_the_certificate_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The certificate's signature is checked once per (bytes, rollovers, roots); the
    license's own signature every time; other roots or other bytes are checked in full."""
    verify_module._VERIFIED.clear()
    calls: list[bytes] = []
    real = verify_module.crypto_sign_open

    def counting(message: bytes, key: bytes) -> bytes:
        calls.append(key)
        return real(message, key)

    monkeypatch.setattr(verify_module, "crypto_sign_open", counting)
    factory = UnsafeFactory()
    document = factory.license(default_terms())
    now = datetime.fromtimestamp(T0, timezone.utc)
    verifier = licverify.Verifier(trusted_roots=factory.roots, product="acme-cad")
    for _ in range(3):
        verifier.verify_license(document, now=now)
    root, issuing = factory.roots[0], public(factory.issuing)
    assert calls == [root, issuing, issuing, issuing]
    # the same certificate under roots that lack its signer: refused, not remembered
    stranger = licverify.Verifier(trusted_roots=[public(key_from_seed("x"))], product="acme-cad")
    with pytest.raises(licverify.UntrustedKeyError):
        stranger.verify_license(document, now=now)
    # a tampered license with the same certificate still fails its own signature
    tampered = bytearray(document)
    tampered[-1] ^= 1
    with pytest.raises(licverify.BadSignatureError):
        verifier.verify_license(bytes(tampered), now=now)


def test_the_certificate_cache_is_bounded() -> None:
    verify_module._VERIFIED.clear()
    now = datetime.fromtimestamp(T0, timezone.utc)
    for i in range(verify_module._VERIFIED_MAX + 3):
        factory = UnsafeFactory(not_before=T0 - 86400 - i)  # another certificate each time
        licverify.verify_license(
            factory.license(default_terms()), trusted_roots=factory.roots, product="acme-cad",
            now=now,
        )  # fmt: skip
    assert 0 < len(verify_module._VERIFIED) <= verify_module._VERIFIED_MAX
