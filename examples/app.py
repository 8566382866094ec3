"""A licensed application's check, in a few lines (what `make demo` runs as "the application").

Usage: python examples/app.py LICENSE_FILE ROOT_PUBLIC_KEY_FILE
"""

import sys
from datetime import datetime, timezone

import licverify

PRODUCT = "acme-cad"


def main(license_path: str, root_path: str) -> int:
    with open(root_path, "rb") as fh:
        roots = licverify.TrustedRoots(
            licverify.load_public_keys(fh.read())
        )  # embed these in real apps
    with open(license_path, "rb") as fh:
        document = fh.read()
    try:
        lic = licverify.verify_license(
            document, trusted_roots=roots, product=PRODUCT, now=datetime.now(timezone.utc)
        )
    except licverify.LicenseError as exc:
        print(f"app: not licensed ({exc.code}): {exc}")
        return 1
    until = "with no expiry" if lic.expires is None else f"until {lic.expires:%Y-%m-%d}"
    grace = f", {lic.grace_days_left} days of grace left" if lic.grace_days_left is not None else ""
    print(f"app: licensed to {lic.customer} {until} ({lic.status.value}{grace})")
    print(f"app: STEP export {'enabled' if lic.has_feature('export-step') else 'disabled'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python examples/app.py LICENSE_FILE ROOT_PUBLIC_KEY_FILE", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
