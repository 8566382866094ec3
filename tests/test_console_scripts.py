"""End to end through the console-script entry points, in subprocesses, at the real KDF cost.

Nothing is patched here: the keys are protected with the production Argon2id
parameters (256 MiB), so each key use costs about a second. The test keeps
to the steps a vendor and a customer take on day one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import licverify


def _script(package: str) -> list[str]:
    return [sys.executable, "-c", f"from {package}.cli import main; main()"]


@pytest.mark.slow
def test_issue_and_verify_through_the_console_scripts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LICSIGN_", "LICVERIFY_"))}
    env.update(LICSIGN_HOME=str(tmp_path / "ws"), LICSIGN_PASSPHRASE="a long vendor passphrase")

    def run(package: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*_script(package), *args], check=False, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert "Traceback" not in result.stdout + result.stderr
        assert result.returncode == expect, (args, result.stdout, result.stderr)
        return result

    init = run("licsign", "init", "--vendor", "Acme Inc.")
    assert "Workspace created in" in init.stdout
    run("licsign", "product", "add", "acme-cad", "--feature", "export")
    run("licsign", "customer", "add", "globex", "--email", "it@globex.example")
    issued = run("licsign", "issue", "--product", "acme-cad", "--customer", "globex", "--type", "subscription",
                 "--duration", "365d", "--feature", "export", "-o", "acme.lic")  # fmt: skip
    license_id = issued.stdout.split()[2]
    run("licsign", "key", "export-public", "-o", "root.pem")
    root = licverify.load_public_keys((tmp_path / "root.pem").read_bytes())[0]
    assert root.hex() in init.stdout
    # The key files carry the production KDF cost.
    assert '"mem": 268435456' in (tmp_path / "ws" / "keys" / "root.key").read_text()

    ok = run("licverify", "check", "acme.lic", "--trust", "root.pem", "--product", "acme-cad")
    assert ok.stdout.splitlines()[0] == "VALID"
    assert f"License:     {license_id} (version 1)" in ok.stdout
    assert "Features:    export" in ok.stdout

    lines = (tmp_path / "acme.lic").read_bytes().split(b"\n")
    lines[2] = lines[2][:5] + (b"A" if lines[2][5:6] != b"A" else b"B") + lines[2][6:]
    (tmp_path / "tampered.lic").write_bytes(b"\n".join(lines))
    bad = run("licverify", "check", "tampered.lic", "--trust", "root.pem", "--product", "acme-cad", expect=1)
    assert bad.stdout.startswith("NOT VALID: ") and bad.stdout.count("\n") == 1
    assert bad.stderr == ""
