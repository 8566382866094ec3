"""The main job end to end, in a temporary directory: `make demo`.

Vendor: create a workspace, add a product and a customer, issue a license,
export the trust root. Application: verify the license offline. Then show
what a tampered copy and a wrong product get. Every step prints the command
it runs and what it printed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile

BIN = os.path.dirname(sys.executable)
HERE = os.path.dirname(os.path.abspath(__file__))


def run(title: str, *argv: str, env: dict[str, str], expect: int = 0) -> str:
    print(f"\n== {title}")
    shown = [os.path.basename(argv[0]) if argv[0].startswith(BIN) else argv[0], *argv[1:]]
    print("$ " + " ".join(shlex.quote(a) for a in shown))
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    out = (proc.stdout + proc.stderr).rstrip()
    if out:
        print("  " + out.replace("\n", "\n  "))
    print(f"  (exit status {proc.returncode})")
    if proc.returncode != expect:
        sys.exit(f"demo: step '{title}' exited {proc.returncode}, expected {expect}")
    return proc.stdout


def main() -> None:
    licsign, licverify = os.path.join(BIN, "licsign"), os.path.join(BIN, "licverify")
    with tempfile.TemporaryDirectory(prefix="licsign-demo-") as tmp:
        os.chdir(tmp)
        env = dict(os.environ, LICSIGN_HOME=os.path.join(tmp, "vendor-workspace"),
                   LICSIGN_PASSPHRASE="demo passphrase (use a prompt or --passphrase-file for real)")  # fmt: skip
        print(f"licsign demo in {tmp}")
        print(
            "Key files use Argon2id with 256 MiB: each step that opens a key takes about a second."
        )
        run(
            "Vendor: create the workspace (ledger, root key, issuing key)",
            licsign,
            "init",
            "--vendor",
            "Acme Inc.",
            env=env,
        )
        run("Vendor: add a product", licsign, "product", "add", "acme-cad", "--name", "Acme CAD",
            "--feature", "export-step", "--feature", "render-farm", env=env)  # fmt: skip
        run("Vendor: add a customer", licsign, "customer", "add", "globex", "--name", "Globex Corp.",
            "--email", "it@globex.example", env=env)  # fmt: skip
        run("Vendor: issue a one-year subscription with 14 days of grace", licsign, "issue",
            "--product", "acme-cad", "--customer", "globex", "--type", "subscription",
            "--duration", "365d", "--grace", "14d", "--feature", "export-step",
            "--max-devices", "3", "-o", "globex.lic", env=env)  # fmt: skip
        with open("globex.lic") as fh:
            print(
                "\n== The license file the customer receives\n  "
                + fh.read().rstrip().replace("\n", "\n  ")
            )
        run("Vendor: export the trust root the application embeds", licsign, "key", "export-public",
            "-o", "root.pem", env=env)  # fmt: skip
        run("Vendor: the ledger", licsign, "list", env=env)
        run("End user: check the license offline", licverify, "check", "globex.lic",
            "--trust", "root.pem", "--product", "acme-cad", env=env)  # fmt: skip
        run("Application: verify with the library (examples/app.py)", sys.executable,
            os.path.join(HERE, "app.py"), "globex.lic", "root.pem", env=env)  # fmt: skip
        with open("globex.lic") as fh:
            lines = fh.read().splitlines()
        # Change one base64 character near the end: the license's own terms.
        row = len(lines) - 4
        lines[row] = lines[row][:10] + ("A" if lines[row][10] != "A" else "B") + lines[row][11:]
        with open("tampered.lic", "w") as fh:
            fh.write("\n".join(lines) + "\n")
        run("Attacker: one character changed -> rejected", licverify, "check", "tampered.lic",
            "--trust", "root.pem", "--product", "acme-cad", env=env, expect=1)  # fmt: skip
        run("Application: the tampered copy is refused too", sys.executable,
            os.path.join(HERE, "app.py"), "tampered.lic", "root.pem", env=env, expect=1)  # fmt: skip
        run("End user: the license used for another product -> rejected", licverify, "check",
            "globex.lic", "--trust", "root.pem", "--product", "other-app", env=env, expect=1)  # fmt: skip
        run("End user: after the grace period -> expired", licverify, "check", "globex.lic",
            "--trust", "root.pem", "--product", "acme-cad", "--at", "2099-01-01", env=env, expect=1)  # fmt: skip
        run("Support: inspect explains every check", licsign, "inspect", "tampered.lic", "--product",
            "acme-cad", env=env, expect=1)  # fmt: skip
    print("\nDemo finished: every step behaved as expected.")


if __name__ == "__main__":
    main()
