"""One arrow (STYLE §1): licsign imports licverify, never the reverse; `import licverify` stays small.

The import checks run in a fresh interpreter, so nothing this test process
has already imported (pytest, hypothesis, cwt, cryptography) can hide a leak.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import licverify

PACKAGE_DIR = Path(licverify.__file__).parent
#: Imported by `import licverify`: the standard library plus exactly these distributions.
ALLOWED_THIRD_PARTY = {"licverify", "nacl", "cbor2", "_cbor2", "_cffi_backend", "_sodium"}
FORBIDDEN = [
    "click",
    "cryptography",
    "platformdirs",
    "licsign",
    "sqlite3",
    "psycopg",
    "dataclasses",
    "importlib.metadata",
]
#: Modules `import licverify` adds once its dependencies (nacl.signing, nacl.bindings, cbor2)
#: are loaded. Measured on 2026-11-30 (issue 7): 13, licverify itself and its 12 eagerly
#: imported private modules (_armor _cbor _certificate _cose _errors _fields _fingerprint
#: _keys _kinds _license _time _verify); every stdlib module it needs is already loaded by
#: its dependencies. A budget, not a target: lower it when a change loads less. Time is
#: measured by bench/verify.py, never asserted here (house rule).
IMPORT_MODULE_BUDGET = 13
#: Modules of the licverify package that are *not* loaded by `import licverify` (the CLI
#: package and its helpers), as paths relative to the package.
CLI_MODULES = ("cli/", "cliutil.py")


def modules_after(statement: str, tmp_path: Path) -> dict[str, list[str]]:
    """Run ``statement`` in a fresh interpreter; return sys.modules before and after it."""
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "after = set(sys.modules)\n"
        "print(json.dumps({'before': sorted(before), 'after': sorted(after)}))\n"
    )
    # -I: ignore PYTHON* variables and the user site; run from an empty directory so the
    # checkout itself is not on sys.path ahead of the installed package.
    result = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            check=True, timeout=60)  # fmt: skip
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def loaded(name: str, modules: list[str]) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_import_licverify_loads_only_stdlib_nacl_and_cbor2(tmp_path: Path) -> None:
    mods = modules_after("import licverify", tmp_path)
    after = mods["after"]
    assert "licverify" in after and "nacl.bindings" in after and "cbor2" in after
    for name in FORBIDDEN:
        assert not loaded(name, after), f"`import licverify` loaded {name}"
    new_top_level = {m.split(".")[0] for m in set(after) - set(mods["before"])}
    third_party = {m for m in new_top_level if m not in sys.stdlib_module_names}
    assert third_party <= ALLOWED_THIRD_PARTY, third_party - ALLOWED_THIRD_PARTY


def test_import_licverify_stays_within_its_module_budget(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "import nacl.signing, nacl.bindings, cbor2\n"
        "deps = set(sys.modules)\n"
        "import licverify\n"
        "print(json.dumps(sorted(set(sys.modules) - deps)))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, check=True, timeout=60)  # fmt: skip
    added = json.loads(result.stdout)
    assert "licverify" in added
    assert len(added) <= IMPORT_MODULE_BUDGET, (
        f"`import licverify` loads {len(added)} modules (budget {IMPORT_MODULE_BUDGET}): {added}"
    )


def test_verifying_a_license_loads_nothing_more(tmp_path: Path) -> None:
    # Using the verifier (not just importing it), on the success, failure and inspect paths,
    # must not pull in heavy modules lazily.
    sys_path = str(Path(__file__).parent)
    statement = (
        f"sys.path.insert(0, {sys_path!r})\n"
        "from factory import UnsafeFactory, T0\n"  # the factory itself imports only licverify + nacl
        "import licverify\n"
        "from datetime import datetime, timezone\n"
        "f = UnsafeFactory()\n"
        "doc = f.license()\n"
        "licverify.verify_license(doc, trusted_roots=f.roots, product='acme-cad',\n"
        "    now=datetime.fromtimestamp(T0, timezone.utc))\n"
        "try:\n"
        "    licverify.verify_license(doc[:-1] + b'x', trusted_roots=f.roots, product='acme-cad',\n"
        "        now=datetime.fromtimestamp(T0, timezone.utc))\n"
        "except licverify.BadSignatureError:\n"
        "    pass\n"
        "licverify.inspect_document(licverify.format.armor(doc, licverify.format.LICENSE),\n"
        "    trusted_roots=f.roots, product='acme-cad', now=datetime.fromtimestamp(T0, timezone.utc))"
    )
    after = modules_after(statement, tmp_path)["after"]
    for name in FORBIDDEN:
        assert not loaded(name, after), f"verifying a license loaded {name}"


def test_import_licsign_imports_licverify(tmp_path: Path) -> None:
    after = modules_after("import licsign", tmp_path)["after"]
    assert "licsign" in after and "licverify" in after


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module named by an import statement in ``path``, at any depth (lazy imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "__import__", "import_module"
        ):  # fmt: skip
            found += [
                (node.lineno, a.value)
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
    return found


SOURCES = sorted(PACKAGE_DIR.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE_DIR).as_posix()


def test_sources_found() -> None:
    names = {_relative(p) for p in SOURCES}
    assert {"__init__.py", "_verify.py", "_cose.py", "_cbor.py", "_license.py"} <= names
    assert {"cli/__init__.py", "_store/__init__.py", "_fileio.py"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=_relative)
def test_licverify_never_imports_licsign(path: Path) -> None:
    offenders = [
        (line, name)
        for line, name in _imports(path)
        if name == "licsign" or name.startswith("licsign.")
    ]
    assert not offenders, f"{path.name} imports licsign at {offenders}"
    text = path.read_text(encoding="utf-8")
    for line_no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        assert not (stripped.startswith(("import licsign", "from licsign"))), (
            f"{path.name}:{line_no}"
        )


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if not _relative(p).startswith(CLI_MODULES)], ids=_relative
)
def test_verifier_modules_import_only_stdlib_nacl_cbor2(path: Path) -> None:
    # Static check, covering imports inside functions that the subprocess test cannot see.
    for line, name in _imports(path):
        top = name.split(".")[0]
        assert top in sys.stdlib_module_names or top in {"licverify", "nacl", "cbor2"}, (
            f"{path.name}:{line} {name}"
        )
        assert name not in FORBIDDEN, f"{path.name}:{line} {name}"


def test_package_init_does_not_import_cli_modules(tmp_path: Path) -> None:
    after = modules_after("import licverify", tmp_path)["after"]
    assert (
        "licverify.cli" not in after
        and "licverify.cliutil" not in after
        and "licverify.format" not in after
    )


#: Never loaded by the application's check (issue 9): json and tempfile cost milliseconds
#: of a fresh process's start, and only the store's other operations need json.
NOT_ON_THE_CHECK_PATH = ("json", "tempfile")


def _activated_store(path: Path) -> None:
    """A store with an activated license, as a machine gets one: import, request, and
    install the vendor's response (signed here with the test issuing key)."""
    from datetime import datetime, timezone

    from factory import ISSUING, T0, UnsafeFactory, activated_terms, public, signer

    from licverify import format as F

    f = UnsafeFactory()
    now = datetime.fromtimestamp(T0, timezone.utc)
    fingerprint = licverify.machine_fingerprint("acme-cad", machine_id="boundary-machine")
    document = f.license(activated_terms())
    store = licverify.LocalStore(path)
    store.import_license(document, trusted_roots=f.roots, product="acme-cad", now=now)
    request = licverify.verify_request(store.request(now=now, fingerprint=fingerprint, label="x"))
    payload = F.encode_response_payload(F.ActivationResponse(
        activation_id="A-1", device_key=request.device_key, fingerprint=dict(fingerprint),
        issued_at=T0, lease_expires=None, license_digest=F.license_digest(document),
        license_id=request.license_id, nonce=request.nonce, user=None,
    ))  # fmt: skip
    response = F.encode_sign1(F.ACTIVATION_RESPONSE, F.key_id(public(ISSUING)), payload,
                              signer(ISSUING), f.certificate())  # fmt: skip
    store.install(response, trusted_roots=f.roots, product="acme-cad", now=now,
                  fingerprint=fingerprint)  # fmt: skip


def test_the_applications_check_loads_neither_json_nor_tempfile(tmp_path: Path) -> None:
    from factory import T0, UnsafeFactory

    state = tmp_path / "state"
    _activated_store(state)
    # The child reports with repr, not json (importing json to report would hide a leak).
    # Two checks: one at the ratchet (reads only), one a day later (the ratchet follows
    # the clock: the check takes the lock and writes the store's head).
    code = (
        "import sys\n"
        "import licverify\n"
        "from datetime import datetime, timezone\n"
        f"store = licverify.LocalStore({str(state)!r})\n"
        f"for at in ({T0}, {T0 + 86400}):\n"
        f"    lic = store.check(trusted_roots=[bytes.fromhex({UnsafeFactory().roots[0].hex()!r})],\n"
        "        product='acme-cad', now=datetime.fromtimestamp(at, timezone.utc),\n"
        "        fingerprint=licverify.machine_fingerprint('acme-cad', machine_id='boundary-machine'))\n"
        "    assert lic.activation is not None, lic\n"
        f"print(repr([m for m in {NOT_ON_THE_CHECK_PATH!r} if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ast.literal_eval(result.stdout.strip()) == [], (
        f"the application's check loaded {result.stdout.strip()}"
    )
