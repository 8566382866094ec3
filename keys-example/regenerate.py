#!/usr/bin/env python3
"""Rebuild the INSECURE example workspace, licenses and trust files in keys-example/.

    python keys-example/regenerate.py

Everything it writes is for trying licsign and licverify out. The passphrase
is published in this file, so the keys protect nothing: never ship the root
public key below in a real application. Keys are random, so every run
changes every file.

It uses only the public licsign and licverify APIs, with the real Argon2id
cost (256 MiB, about a second per key use), exactly as a vendor would.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import licsign
import licverify
from licverify import format as F

HERE = Path(__file__).resolve().parent
WORKSPACE = HERE / "workspace"
LICENSES = HERE / "licenses"

PASSPHRASE = b"insecure-example-passphrase"
VENDOR = "Example Vendor (INSECURE)"
PRODUCT = "example-app"
CUSTOMER = "example-customer"
FEATURES = ["basic", "export-pdf", "export-step", "plugins", "seats"]


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
            max_devices=2,
        ),
        "subscription": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "subscription",
            duration=timedelta(days=365),
            grace=timedelta(days=14),
            features={"basic": None, "export-pdf": None, "export-step": None, "seats": 5},
            max_devices=5, max_users=5,
        ),
        "trial": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "trial",  # 30 days by default
            features={"basic": None},
            max_devices=1,
        ),
        "floating": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "floating",
            lease=timedelta(hours=1),
            features={"basic": None, "plugins": None},
            max_devices=10,
        ),
        "consumption": licsign.IssueRequest(
            PRODUCT, CUSTOMER, "consumption",
            features={"basic": None, "export-pdf": None},
            counters={"pdf-exports": (1000, 100), "api-calls": (50_000, 0)},
        ),
    }  # fmt: skip


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


def readme(now: datetime, root: bytes, issued: dict[str, licsign.IssuedLicense]) -> str:
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

## How it was made

`python keys-example/regenerate.py` deletes `workspace/` and `licenses/`, then:

1. `licsign.init_workspace` for vendor "{VENDOR}", with the
   real Argon2id cost (256 MiB; about a second per key use): a root key and
   a first issuing key, certified by the root for three years;
2. adds product `{PRODUCT}` and customer `{CUSTOMER}` to the ledger
   (features: {", ".join(FEATURES)});
3. issues a perpetual, a subscription (with 14 days of grace), a trial, a
   floating and a consumption license (with counters) with
   `licsign.issue_license`, and writes them armored;
4. writes the root public key in the three forms above and the tampered copy;
5. verifies every license with `licverify.verify_license` as a check.

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
"""


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d")


def main() -> int:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for old in (WORKSPACE, LICENSES):
        if old.exists():
            shutil.rmtree(old)
    LICENSES.mkdir()

    print("creating the workspace (Argon2id, 256 MiB: about a second per key)...")
    ws = licsign.init_workspace(
        str(WORKSPACE), PASSPHRASE, now=now, vendor=VENDOR, progress=lambda m: print("  " + m)
    )
    try:
        at = int(now.timestamp())
        ws.ledger.add_product(at, PRODUCT, "Example App", FEATURES)
        ws.ledger.add_customer(at, CUSTOMER, "Example Customer", "licensing@customer.example")
        issued: dict[str, licsign.IssuedLicense] = {}
        for name, request in requests(now).items():
            print(f"issuing {name}...")
            issued[name] = licsign.issue_license(ws, request, passphrase, now=now)
            (LICENSES / f"{name}.lic").write_bytes(issued[name].armored)
        root = ws.root_public_key()
    finally:
        ws.close()

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
    (HERE / "README.md").write_text(readme(now, root, issued), encoding="utf-8")

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
            if path.name != "tampered.lic" or exc.code != "bad-signature":
                return 1
        else:
            print(f"{path.name}: {lic.type} {lic.id} {lic.status.value}")
            if path.name == "tampered.lic":
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
