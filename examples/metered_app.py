"""A licensed application that counts what it does: each export consumes one unit.

Usage: python examples/metered_app.py STATE_DIR ROOT_PUBLIC_KEY_FILE (export|status) [--at TIME]

The license lives in the local store (imported and activated with
``licverify``); the application checks it there, as the vendor's ledger and
its own clock ratchet allow, and consumes from the license's ``exports``
counter. ``--at`` stands in for the machine's clock (to show a clock set back).
"""

import os
import sys
from datetime import datetime, timezone

import licverify

PRODUCT = "acme-cad"
COUNTER = "exports"


def main(state_dir: str, root_path: str, action: str, at: datetime) -> int:
    with open(root_path, "rb") as fh:
        roots = licverify.TrustedRoots(licverify.load_public_keys(fh.read()))
    store = licverify.LocalStore(state_dir)
    fingerprint = licverify.machine_fingerprint(
        PRODUCT, machine_id=os.environ.get("LICVERIFY_MACHINE_ID")
    )  # once per process in a real application
    try:
        lic = store.check(trusted_roots=roots, product=PRODUCT, now=at, fingerprint=fingerprint)
        if action == "export":
            left = store.consume(COUNTER, 1, license=lic, now=at)
            print(f"app: exported one drawing; {left} exports left")
        else:
            print(f"app: licensed to {lic.customer}; {store.remaining(COUNTER, license=lic)} "
                  "exports left")  # fmt: skip
    except licverify.LicenseError as exc:
        print(f"app: refused ({exc.code}): {exc}")
        return 1
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    when = datetime.now(timezone.utc)
    if len(args) == 5 and args[3] == "--at":
        when = datetime.fromisoformat(args.pop(4).replace("Z", "+00:00"))
        args.pop(3)
    if len(args) != 3 or args[2] not in ("export", "status"):
        print(__doc__.splitlines()[2], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(args[0], args[1], args[2], when))
