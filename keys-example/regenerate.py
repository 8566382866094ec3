#!/usr/bin/env python3
"""Rebuild the INSECURE example workspace, licenses, trust files and activation
documents in keys-example/.

    python keys-example/regenerate.py

Everything it writes is for trying licsign and licverify out. The passphrase
is published in this file, so the keys protect nothing: never ship the root
public key below in a real application. Keys are random, so every run
changes every file.

It uses only the public licsign and licverify APIs (``licsign.activate`` and
``licsign.deactivate`` are what ``licsign activate`` and ``licsign deactivate`` call), with the real
Argon2id cost (256 MiB, about a second per key use), exactly as a vendor would.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import sys
import tempfile
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

import licsign
import licverify
from licsign import activate, deactivate
from licverify import format as F
from licverify._fingerprint import _salt

HERE = Path(__file__).resolve().parent
WORKSPACE = HERE / "workspace"
LICENSES = HERE / "licenses"
ACTIVATION = HERE / "activation"

PASSPHRASE = b"insecure-example-passphrase"
VENDOR = "Example Vendor (INSECURE)"
PRODUCT = "example-app"
CUSTOMER = "example-customer"
FEATURES = ["basic", "export-pdf", "export-step", "plugins", "seats"]
MACHINE_ID = "example-machine-1"  # the simulated machine of activation/
SIMULATED_HOSTNAME = "example-host-1"  # its made-up host name (not the real one)


def passphrase() -> bytes:
    return PASSPHRASE


def requests(now: datetime) -> dict[str, licsign.IssueRequest]:
    """The example licenses, by file name (without .lic)."""
    return {
        "perpetual": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "perpetual",
            features={"basic": None, "export-pdf": None},
            max_version="1.9",
            maintenance_end=now + timedelta(days=365),
        ),
        "subscription": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "subscription",
            duration=timedelta(days=365),
            grace=timedelta(days=14),
            features={"basic": None, "export-pdf": None, "export-step": None, "seats": 5},
        ),
        "trial": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "trial",  # 30 days by default
            features={"basic": None},
        ),
        # Seat limits and leases are enforced through activation only, so a floating
        # license requires it (format §7.2; licsign issue sets it and says so).
        "floating": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "floating",
            lease=timedelta(hours=1),
            features={"basic": None, "plugins": None},
            max_devices=10, activation_required=True,
        ),
        "consumption": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "consumption",
            features={"basic": None, "export-pdf": None},
            counters={"pdf-exports": (1000, 100), "api-calls": (50_000, 0)},
        ),
        "node-locked": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "subscription",
            duration=timedelta(days=365),
            features={"basic": None},
            activation_required=True,  # licsign issue --require-activation
            max_devices=1, max_transfers=3,
        ),
    }  # fmt: skip


def simulated_fingerprint() -> Mapping[str, bytes]:
    """The simulated machine's fingerprint: its ``machine-id`` and a simulated ``hostname``.

    ``machine_fingerprint`` also digests the real host name, CPU model, MAC
    addresses and root filesystem UUID of whoever runs this script. The salt
    comes from the public product id, so low-entropy values (host names,
    MACs) could be recovered from committed files: keep only the machine id
    the simulated machine is defined by, and add a host name made up here
    (a vendor grants only fingerprints of at least two components).
    """
    full = licverify.machine_fingerprint(PRODUCT, machine_id=MACHINE_ID)
    host = hmac.new(_salt(PRODUCT), SIMULATED_HOSTNAME.encode(), hashlib.sha256).digest()[:16]
    return {"machine-id": full["machine-id"], "hostname": host}


class Exchange:
    """The armored documents of one simulated activation and deactivation."""

    def __init__(self, request: bytes, response: bytes, receipt: bytes,
                 checked: licverify.License, granted_id: str, device_id: str,
                 transfers_used: int) -> None:  # fmt: skip
        self.request, self.response, self.receipt = request, response, receipt
        self.checked, self.granted_id, self.device_id = checked, granted_id, device_id
        self.transfers_used = transfers_used


def exchange(ws: licsign.Workspace, lic: licsign.IssuedLicense, root: bytes,
             now: datetime) -> Exchange:  # fmt: skip
    """One machine's round trip, in a temporary store outside keys-example/.

    Import, request, vendor activates, install, check; then deactivate
    (which rotates the device key) and the vendor accepts the receipt, so
    the node-locked license's one seat is free again in the ledger.
    """
    fingerprint = simulated_fingerprint()
    with tempfile.TemporaryDirectory(prefix="licsign-example-machine-") as tmp:
        store = licverify.LocalStore(str(Path(tmp) / "state"))
        store.import_license(
            lic.armored, trusted_roots=[root], product=PRODUCT, now=now, fingerprint=fingerprint
        )
        request = store.request(now=now, fingerprint=fingerprint, label=MACHINE_ID)
        granted = activate(ws, request, passphrase, now=now)
        store.install(
            granted.response, trusted_roots=[root], product=PRODUCT, now=now,
            fingerprint=fingerprint,
        )  # fmt: skip
        checked = store.check(
            trusted_roots=[root], product=PRODUCT, now=now, fingerprint=fingerprint
        )
        receipt = store.deactivate(now=now)
        accepted = deactivate(ws, receipt, now=now)
    assert accepted.activation_id == granted.activation_id, accepted
    return Exchange(request, granted.response, receipt, checked, granted.activation_id,
                    granted.device_id, accepted.transfers_used)  # fmt: skip


def tamper(binary: bytes, terms: F.LicenseTerms) -> bytes:
    """Change one byte of the payload: the expiry's high byte + 1 (about 194 days more)."""
    assert terms.expires is not None and terms.expires < 2**32
    payload = F.parse_unverified(binary).payload
    claim = b"\x04\x1a" + terms.expires.to_bytes(4, "big")  # exp (label 4) as a 4-byte uint
    assert binary.count(payload) == 1 and payload.count(claim) == 1
    position = binary.index(payload) + payload.index(claim) + 2
    out = bytearray(binary)
    out[position] += 1
    return bytes(out)


def readme(now: datetime, root: bytes, issued: dict[str, licsign.IssuedLicense],
           ex: Exchange) -> str:  # fmt: skip
    rows = "\n".join(
        f"| `licenses/{name}.lic` | {lic.terms.type} | `{lic.id}` | "
        f"{'never' if lic.terms.expires is None else _day(lic.terms.expires)} |"
        for name, lic in issued.items()
    )
    return f"""\
# keys-example: an INSECURE example workspace

**Do not use these keys for anything real.** The passphrase of every key in
`workspace/keys/` is published here: `insecure-example-passphrase`. Anyone can
sign licenses that `root-public.*` accepts.

This directory exists so you can try `licsign` and `licverify` without
making keys first, and so documentation has real files to point at.

## What is here

| Path | What it is |
|---|---|
| `workspace/` | a licsign workspace: ledger, encrypted root and issuing keys, certificate |
| `root-public.pem` | the root public key, PEM SubjectPublicKeyInfo (RFC 8410) |
| `root-public.raw` | the same key, 32 raw bytes |
| `root-public.py` | the same key as Python: `TRUSTED_ROOTS = [bytes.fromhex("...")]` |
| `licenses/*.lic` | armored licenses for product `{PRODUCT}`, customer `{CUSTOMER}` |
| `licenses/tampered.lic` | `subscription.lic` with one payload byte changed (below) |
| `licenses/node-locked.lic` | a subscription that needs activation: 1 device, 3 transfers |
| `activation/request.txt` | the activation request of a simulated machine for `node-locked.lic` |
| `activation/response.txt` | the vendor's activation response to it (`licsign activate`) |
| `activation/receipt.txt` | the machine's deactivation receipt (`licverify deactivate`) |
| `regenerate.py` | the script that made all of the above |

Root key id: `{F.key_id(root).hex()}`
Generated: {now.strftime("%Y-%m-%dT%H:%M:%SZ")}

| License | Type | Id | Expires |
|---|---|---|---|
{rows}

`tampered.lic` is `subscription.lic` with one byte of the signed payload
changed, which pushes its expiry about 194 days later, then re-armored. It
must fail with `bad-signature`.

The trial runs out 30 days after generation and the subscription after a
year (plus 14 days of grace): after that `licverify` reports them expired,
which is correct. Run the script again for fresh ones.

`node-locked.lic` was issued with `--require-activation` (1 device, at most
3 transfers): on its own it fails with `not-activated`, and an application
accepts it only together with an activation response for its machine.
`floating.lic` (10 seats, 1-hour leases) requires activation too: seat
limits and leases are enforced only through the activation exchange
(docs/format.md §7.2), so it also fails with `not-activated` on its own.

## The activation documents

`activation/` holds the three documents of one air-gapped exchange
(docs/issuer.md, "Activations") for `licenses/node-locked.lic`. They belong
to a **simulated machine with machine id "{MACHINE_ID}"**: the script gave
it a temporary local store (deleted afterwards; not part of this directory),
and its fingerprint has only two components, the `machine-id` and a
`hostname` made up by the script ("{SIMULATED_HOSTNAME}"), so nothing about
the computer that ran the script is in these files.

| File | Made by | Signed by |
|---|---|---|
| `activation/request.txt` | `licverify request --label {MACHINE_ID}` on the machine | the machine's device key |
| `activation/response.txt` | `licsign activate` at the vendor: activation `{ex.granted_id}`, device `{ex.device_id[:12]}` | the issuing key (chain to `root-public.pem`) |
| `activation/receipt.txt` | `licverify deactivate` on the machine | the machine's old device key |

The machine installed the response and its status check passed
(`{ex.checked.status.value}`); then it deactivated, which replaced its device
key, and the vendor accepted the receipt. So the ledger in `workspace/`
records the activation as ended, the license's one seat is free again and
{ex.transfers_used} of its 3 transfers is used. `response.txt` can never be
installed again anywhere (the device key it names is gone): the files are
for reading.

To inspect them, from this directory:

```sh
licverify inspect activation/request.txt
licverify inspect activation/response.txt --trust root-public.pem --product example-app
licverify inspect activation/receipt.txt
```

A request and a receipt are signed by the device key they name, so they
need no trust anchor; a response is signed by the vendor, so inspecting it
needs `--trust` to check its chain.

## How it was made

`python keys-example/regenerate.py` deletes `workspace/`, `licenses/` and
`activation/`, then:

1. `licsign.init_workspace` for vendor "{VENDOR}", with the
   real Argon2id cost (256 MiB; about a second per key use): a root key and
   a first issuing key, certified by the root for three years;
2. adds product `{PRODUCT}` and customer `{CUSTOMER}` to the ledger
   (features: {", ".join(FEATURES)});
3. issues a perpetual, a subscription (with 14 days of grace), a trial, a
   floating, a consumption license (with counters) and a node-locked
   subscription (activation required) with `licsign.issue_license`, and
   writes them armored;
4. simulates one machine (machine id "{MACHINE_ID}") in a temporary
   `licverify.LocalStore`: import `node-locked.lic`, request, activate in
   the ledger (`licsign.activate`), install, check; then
   deactivate and accept the receipt (`licsign.deactivate`),
   and writes the request, response and receipt to `activation/`;
5. writes the root public key in the three forms above and the tampered copy;
6. verifies every license with `licverify.verify_license`, and the
   activation documents with `licverify.verify_request`, `verify_response`
   and `verify_receipt`, as a check.

Keys are random, so **every file changes each time the script runs**:
licenses from an older run do not verify against a newer `root-public.*`.

## How to verify

From this directory:

```sh
licverify check licenses/subscription.lic --trust root-public.pem --product example-app
licverify check licenses/tampered.lic --trust root-public.pem --product example-app   # fails
```

Or from Python:

```python
from datetime import datetime, timezone
import licverify

roots = licverify.load_public_keys(open("root-public.pem", "rb").read())
lic = licverify.verify_license(
    open("licenses/subscription.lic", "rb").read(),
    trusted_roots=roots,
    product="example-app",
    now=datetime.now(timezone.utc),
)
print(lic.status.value, sorted(lic.features))
```

An application would rather embed the key in its code: copy `root-public.py`
into it as a module (say `license_roots.py`) and pass `TRUSTED_ROOTS`.

## Using the workspace with licsign

Git does not keep file permissions other than the executable bit, and
licsign refuses key files that group or others can read. After a fresh
checkout run `chmod 600 workspace/keys/*.key` before signing with them.

### Running the activation exchange yourself

This plays both sides on one computer, from the repository root: the
machine keeps its state in a directory you choose (`--state-dir`) and
`--machine-id` stands in for the OS machine id. It changes
`keys-example/workspace/ledger.sqlite3`; `git checkout keys-example` or
re-running the script undoes that.

```sh
chmod 600 keys-example/workspace/keys/*.key    # after a git checkout
export LICSIGN_HOME=keys-example/workspace
export LICSIGN_PASSPHRASE=insecure-example-passphrase
M="--state-dir /tmp/licsign-example-state --machine-id example-machine-2 --product example-app"
T="--trust keys-example/root-public.pem"

# on the machine
licverify import keys-example/licenses/node-locked.lic $T $M
licverify request -o /tmp/request.txt --label example-machine-2 $M
# at the vendor
licsign activate /tmp/request.txt -o /tmp/response.txt
# on the machine
licverify install /tmp/response.txt $T $M
licverify status $T $M                          # exit status 0: licensed
```

To free the seat again (the license has one device and 3 transfers; the
script used {ex.transfers_used}, and `licsign deactivate --force` overrides the limit):

```sh
licverify deactivate -o /tmp/receipt.txt $M     # on the machine
licsign deactivate /tmp/receipt.txt             # at the vendor
```
"""


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d")


def main() -> int:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for old in (WORKSPACE, LICENSES, ACTIVATION):
        if old.exists():
            shutil.rmtree(old)
    LICENSES.mkdir()
    ACTIVATION.mkdir()

    print("creating the workspace (Argon2id, 256 MiB: about a second per key)...")
    ws = licsign.init_workspace(
        str(WORKSPACE), PASSPHRASE, now=now, vendor=VENDOR, progress=lambda m: print("  " + m)
    )
    try:
        licsign.add_product(ws, PRODUCT, now=now, name="Example App", features=FEATURES)
        licsign.add_customer(
            ws, CUSTOMER, now=now, name="Example Customer", email="licensing@customer.example"
        )
        issued: dict[str, licsign.IssuedLicense] = {}
        for name, request in requests(now).items():
            print(f"issuing {name}...")
            issued[name] = licsign.issue_license(ws, request, passphrase, now=now)
            (LICENSES / f"{name}.lic").write_bytes(issued[name].armored)
        root = ws.root_public_key()
        print(
            f"simulating machine {MACHINE_ID!r}: import, request, activate, install, check, "
            "deactivate..."
        )
        ex = exchange(ws, issued["node-locked"], root, now)
    finally:
        ws.close()
    (ACTIVATION / "request.txt").write_bytes(ex.request)
    (ACTIVATION / "response.txt").write_bytes(ex.response)
    (ACTIVATION / "receipt.txt").write_bytes(ex.receipt)

    subscription = issued["subscription"]
    tampered = tamper(subscription.document, subscription.terms)
    (LICENSES / "tampered.lic").write_bytes(F.armor(tampered, F.LICENSE))

    (HERE / "root-public.pem").write_text(F.public_key_pem(root), encoding="ascii")
    (HERE / "root-public.raw").write_bytes(root)
    (HERE / "root-public.py").write_text(
        '"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""\n\n'
        f'TRUSTED_ROOTS = [bytes.fromhex("{root.hex()}")]\n',
        encoding="ascii",
    )
    (HERE / "README.md").write_text(readme(now, root, issued, ex), encoding="utf-8")

    # Check what was written, through the same files an application would read.
    for name in ("pem", "raw", "py"):
        assert licverify.load_public_keys((HERE / f"root-public.{name}").read_bytes()) == [root]
    for path in sorted(LICENSES.glob("*.lic")):
        try:
            lic = licverify.verify_license(
                path.read_bytes(), trusted_roots=[root], product=PRODUCT, now=now
            )
        except licverify.LicenseError as exc:
            print(f"{path.name}: {exc.code}: {exc}")
            expected = {
                "tampered.lic": "bad-signature",
                "node-locked.lic": "not-activated",
                "floating.lic": "not-activated",
            }
            if expected.get(path.name) != exc.code:
                return 1
        else:
            print(f"{path.name}: {lic.type} {lic.id} {lic.status.value}")
            if path.name in ("tampered.lic", "node-locked.lic", "floating.lic"):
                return 1
    return check_activation(root, issued["node-locked"], ex)


def check_activation(root: bytes, lic: licsign.IssuedLicense, ex: Exchange) -> int:
    """Verify the written activation documents and the store's check before deactivation."""
    checked = ex.checked
    assert checked.id == lic.id and checked.activation is not None, checked
    assert checked.activation.activation_id == ex.granted_id
    print(f"store check before deactivation: {checked.id} {checked.status.value}, "
          f"activation {checked.activation.activation_id}")  # fmt: skip
    request = licverify.verify_request((ACTIVATION / "request.txt").read_bytes())
    response = licverify.verify_response(
        (ACTIVATION / "response.txt").read_bytes(), trusted_roots=[root]
    )
    receipt = licverify.verify_receipt((ACTIVATION / "receipt.txt").read_bytes())
    fingerprint = simulated_fingerprint()
    assert request.license_id == lic.id and request.label == MACHINE_ID
    assert request.fingerprint == fingerprint
    assert request.device_id == ex.device_id
    assert response.activation_id == ex.granted_id and response.license_id == lic.id
    assert response.nonce == request.nonce and response.device_key == request.device_key
    assert response.fingerprint == fingerprint
    assert receipt.activation_id == ex.granted_id and receipt.license_id == lic.id
    assert receipt.device_key == request.device_key
    assert receipt.license_digest == request.license_digest == response.license_digest
    print(
        f"request.txt: {request.license_id} label {request.label} device {request.device_id[:12]}"
    )
    print(f"response.txt: activation {response.activation_id} for device {ex.device_id[:12]}")
    print(f"receipt.txt: deactivates {receipt.activation_id} "
          f"(transfers used: {ex.transfers_used})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
