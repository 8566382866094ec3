"""The main job end to end, in a temporary directory: `make demo`.

Vendor: create a workspace, add a product and a customer, issue a license,
export the trust root. Application: verify the license offline. Then show
what a tampered copy and a wrong product get, an air-gapped activation, a
renewal and a revocation reaching that machine, license users with
one-time codes, and exports counted offline, reported, refilled and kept
safe from a clock set back. Every step prints the command it runs
and what it printed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone

BIN = os.path.dirname(sys.executable)
HERE = os.path.dirname(os.path.abspath(__file__))


def run(title: str, *argv: str, env: dict[str, str], expect: int = 0) -> str:
    if title:
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


def activation_round_trip(licsign: str, licverify: str, env: dict[str, str]) -> None:
    """Two machines, one seat: request, activate, install; move the seat with a receipt."""
    env = dict(env, LICVERIFY_TRUST="root.pem", LICVERIFY_PRODUCT="acme-cad")
    a = ["--state-dir", "machine-a", "--machine-id", "machine-a"]
    b = ["--state-dir", "machine-b", "--machine-id", "machine-b"]
    print(
        "\n#### Air-gapped activation: files carried between the customer's machines and the vendor"
    )
    issued = run("Vendor: one seat, renewed every 90 days (seat limits imply activation)", licsign,
        "issue", "--product", "acme-cad", "--customer", "globex", "--type", "subscription",
        "--duration", "365d", "--max-devices", "1", "--max-transfers", "3", "--refresh", "90d",
        "-o", "node-locked.lic", env=env)  # fmt: skip
    run("Machine A: import the license", licverify, "import", "node-locked.lic", *a, env=env)
    run("Machine A: not activated yet", licverify, "status", *a, env=env, expect=1)
    run("Machine A: make an activation request (signed by A's device key)", licverify, "request",
        *a, "--label", "lab-pc-a", "-o", "request-a.txt", env=env)  # fmt: skip
    run("Vendor: answer it (limits checked in the ledger)", licsign, "activate", "request-a.txt",
        "-o", "response-a.txt", env=env)  # fmt: skip
    run("Machine A: install the response", licverify, "install", "response-a.txt", *a, env=env)
    run("Machine A: licensed", licverify, "status", *a, env=env)
    shutil.copytree("machine-a", "machine-c")
    c = ["--state-dir", "machine-c", "--machine-id", "machine-c"]
    run("Attacker: machine C holds a copy of A's state directory; not licensed there", licverify,
        "status", *c, env=env, expect=1)  # fmt: skip
    run("Attacker: C asks to renew with A's device key", licverify, "request", *c,
        "-o", "request-c.txt", env=env)  # fmt: skip
    run("Vendor: refused, the device key belongs to machine A", licsign, "activate",
        "request-c.txt", "-o", "response-c.txt", env=env, expect=1)  # fmt: skip
    run("Machine B: the same response is refused there", licverify, "import", "node-locked.lic",
        *b, env=env)  # fmt: skip
    run("", licverify, "install", "response-a.txt", *b, env=env, expect=1)
    run("Machine B: ask for a seat", licverify, "request", *b, "--label", "lab-pc-b",
        "-o", "request-b.txt", env=env)  # fmt: skip
    run("Vendor: the only seat is taken", licsign, "activate", "request-b.txt", "-o", "response-b.txt",
        env=env, expect=1)  # fmt: skip
    run("Machine A: deactivate; the receipt proves it", licverify, "deactivate", *a,
        "-o", "receipt-a.txt", env=env)  # fmt: skip
    run("Vendor: accept the receipt (frees the seat, counts a transfer)", licsign, "deactivate",
        "receipt-a.txt", env=env)  # fmt: skip
    run("Vendor: now machine B gets the seat", licsign, "activate", "request-b.txt",
        "-o", "response-b.txt", env=env)  # fmt: skip
    run("Machine B: install and check", licverify, "install", "response-b.txt", *b, env=env)
    run("Machine A: its old response can never be reinstalled", licverify, "install",
        "response-a.txt", *a, env=env, expect=1)  # fmt: skip
    license_id = issued.split()[2]  # "Issued license L-XXXX-XXXX-XXXX to node-locked.lic"
    run("Vendor: the license's devices", licsign, "device", "list", license_id, env=env)
    renewal_and_revocation(licsign, licverify, env, license_id, b)


def renewal_and_revocation(
    licsign: str, licverify: str, env: dict[str, str], license_id: str, b: list[str]
) -> None:
    """A renewal and then a revocation reach machine B as files, with no network."""
    print("\n#### Renewal and revocation, carried to the air-gapped machine")
    run("Vendor: renew for another year (version 2 supersedes version 1)", licsign, "renew",
        license_id, "--extend", "1y", "-o", "node-locked-v2.lic", env=env)  # fmt: skip
    run("Machine B: import the renewal (no deactivation, no transfer spent)", licverify,
        "import", "node-locked-v2.lic", *b, env=env)  # fmt: skip
    run("Machine B: the new version needs its activation renewed", licverify, "status", *b,
        env=env, expect=1)  # fmt: skip
    run("", licverify, "request", *b, "--label", "lab-pc-b", "-o", "request-b2.txt", env=env)
    run("Vendor: the same seat, renewed", licsign, "activate", "request-b2.txt",
        "-o", "response-b2.txt", env=env)  # fmt: skip
    run("Machine B: licensed under version 2", licverify, "install", "response-b2.txt", *b, env=env)
    run("Machine B: version 1 can never come back", licverify, "import", "node-locked.lic", *b,
        env=env, expect=1)  # fmt: skip
    run("Vendor: revoke the license (a chargeback)", licsign, "revoke", license_id,
        "--reason", "chargeback", env=env)  # fmt: skip
    run("Vendor: export the signed revocation list", licsign, "revocations", "export",
        "-o", "revocations.txt", env=env)  # fmt: skip
    run("Machine B: import the list from the USB stick", licverify, "import", "revocations.txt",
        *b, env=env)  # fmt: skip
    run("Machine B: revoked", licverify, "status", *b, env=env, expect=1)


def users_with_codes(licsign: str, licverify: str, env: dict[str, str]) -> None:
    """A user-based license: a seat only for an assigned user with a one-time code."""
    env = dict(env, LICVERIFY_TRUST="root.pem", LICVERIFY_PRODUCT="acme-cad")
    u = ["--state-dir", "machine-u", "--machine-id", "machine-u"]
    v = ["--state-dir", "machine-v", "--machine-id", "machine-v"]
    print("\n#### License users: one-time activation codes (a portal's initial password, offline)")
    issued = run("Vendor: a user-based license for two users", licsign, "issue", "--product",
        "acme-cad", "--customer", "globex", "--type", "perpetual", "--max-users", "2",
        "-o", "team.lic", env=env)  # fmt: skip
    license_id = issued.split()[2]
    assigned = run("Vendor: assign Alice; her one-time code is shown once", licsign, "user",
        "assign", license_id, "alice@globex.example", "--name", "Alice", "--json", env=env)  # fmt: skip
    code = json.loads(assigned)["activation_code"]
    run("Alice's machine: import the license", licverify, "import", "team.lic", *u, env=env)
    run("Alice's machine: a request carrying her code", licverify, "request", *u, "--user",
        "alice@globex.example", "--code", code, "-o", "request-u.txt", env=env)  # fmt: skip
    run("Vendor: granted, and the code is used up", licsign, "activate", "request-u.txt",
        "-o", "response-u.txt", env=env)  # fmt: skip
    run("Alice's machine: install and check", licverify, "install", "response-u.txt", *u, env=env)
    run("Another machine: the same code again", licverify, "import", "team.lic", *v, env=env)
    run("", licverify, "request", *v, "--user", "alice@globex.example", "--code", code,
        "-o", "request-v.txt", env=env)  # fmt: skip
    run("Vendor: refused, a code takes one seat", licsign, "activate", "request-v.txt",
        "-o", "response-v.txt", env=env, expect=1)  # fmt: skip
    run("Vendor: the license's users", licsign, "user", "list", license_id, env=env)
    run("Vendor: the ledger's history and every document still verify", licsign, "ledger",
        "verify", env=env)  # fmt: skip


def counted_exports(licsign: str, licverify: str, env: dict[str, str]) -> None:
    """A consumption license: exports counted offline, reported, refilled; a clock set back."""
    env = dict(env, LICVERIFY_TRUST="root.pem", LICVERIFY_PRODUCT="acme-cad",
               LICVERIFY_MACHINE_ID="machine-m")  # fmt: skip
    m = ["--state-dir", "machine-m"]
    app = [sys.executable, os.path.join(HERE, "metered_app.py"), "machine-m", "root.pem"]
    print("\n#### Counted exports: consumed offline, reported, refilled; a clock set back")
    issued = run("Vendor: 3 exports plus 1 of overage, on one machine", licsign, "issue",
        "--product", "acme-cad", "--customer", "globex", "--type", "consumption",
        "--counter", "exports=3+1", "--max-devices", "1", "-o", "metered.lic", env=env)  # fmt: skip
    license_id = issued.split()[2]
    run("Machine M: import, request, activate, install", licverify, "import", "metered.lic", *m,
        env=env)  # fmt: skip
    run("", licverify, "request", *m, "--label", "plotter-pc", "-o", "request-m.txt", env=env)
    granted = run("", licsign, "activate", "request-m.txt", "-o", "response-m.txt", "--json",
                  env=env)  # fmt: skip
    run("", licverify, "install", "response-m.txt", *m, env=env)
    for _ in range(4):
        run("Application (examples/metered_app.py): export a drawing", *app, "export", env=env)
    run("Application: the fifth is refused (limit plus overage)", *app, "export", env=env,
        expect=1)  # fmt: skip
    run("Application: a usage report for the vendor, signed by the device key", *app, "report",
        "usage-1.txt", env=env)  # fmt: skip
    run("Vendor: record it", licsign, "usage", "import", "usage-1.txt", env=env)
    run("Vendor: the same report again is refused (replayed)", licsign, "usage", "import",
        "usage-1.txt", env=env, expect=1)  # fmt: skip
    device = json.loads(granted)["device"][:12]
    run("Vendor: sign a refill of 10 exports for machine M", licsign, "counter", "refill",
        license_id, "--device", device, "--add", "exports=10", "-o", "refill.txt", env=env)  # fmt: skip
    run("Application: install the refill (once)", *app, "refill", "refill.txt", env=env)
    run("Application: exporting again", *app, "export", env=env)
    back = (datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run("Someone sets the clock back two hours: refused, not fooled", *app, "export", "--at",
        back, env=env, expect=1)  # fmt: skip
    run("Vendor: the license's details, with its usage", licsign, "show", license_id, env=env)
    floating_seat(licsign, licverify, env)


def floating_seat(licsign: str, licverify: str, env: dict[str, str]) -> None:
    """A floating seat reserved for a day from the machine, and returned early."""
    env = dict(env, LICVERIFY_MACHINE_ID="machine-f")
    f = ["--state-dir", "machine-f"]
    app = [sys.executable, os.path.join(HERE, "metered_app.py"), "machine-f", "root.pem"]
    print("\n#### A floating seat: reserved from the application for a day, returned early")
    run("Vendor: one floating seat, leased for a week at most", licsign, "issue", "--product",
        "acme-cad", "--customer", "globex", "--type", "floating", "--lease", "7d",
        "--max-devices", "1", "-o", "floating.lic", env=env)  # fmt: skip
    run("Machine F: import, and the application reserves the seat for a day", licverify,
        "import", "floating.lic", *f, env=env)  # fmt: skip
    run("", *app, "reserve", "1", "reserve-f.txt", env=env)
    run("Vendor: granted for a day (the license allows up to a week)", licsign, "activate",
        "reserve-f.txt", "-o", "lease-f.txt", env=env)  # fmt: skip
    run("Machine F: install; the lease end is shown", licverify, "install", "lease-f.txt", *f,
        env=env)  # fmt: skip
    run("", *app, "status", env=env)
    run("Application: done early, return the seat", *app, "return", "return-f.txt", env=env)
    run("Vendor: the seat is free again (not a transfer)", licsign, "deactivate", "return-f.txt",
        env=env)  # fmt: skip


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
            "-o", "globex.lic", env=env)  # fmt: skip
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
        activation_round_trip(licsign, licverify, env)
        users_with_codes(licsign, licverify, env)
        counted_exports(licsign, licverify, env)
    print("\nDemo finished: every step behaved as expected.")


if __name__ == "__main__":
    main()
