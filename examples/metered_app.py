"""A licensed application that counts what it does, and deals with its vendor by files.

Usage: python examples/metered_app.py STATE_DIR ROOT_PUBLIC_KEY_FILE ACTION [ARG] [--at TIME]

Actions: ``export`` (one unit of the ``exports`` counter), ``status``,
``report OUT`` (a usage report for the vendor), ``refill FILE`` (install the
vendor's refill), ``reserve DAYS OUT`` (ask for a floating seat for DAYS
days), ``return OUT`` (give the seat back: a receipt for the vendor).

The license lives in the local store (imported with ``licverify import``,
activated by installing the vendor's response); the application checks it
there, judged by the store's clock ratchet, and consumes from its
``exports`` counter. ``--at`` stands in for the machine's clock.
"""

import os
import sys
from datetime import datetime, timedelta, timezone

import licverify

PRODUCT = "acme-cad"
COUNTER = "exports"


def main(state_dir: str, root_path: str, action: list[str], at: datetime) -> int:
    with open(root_path, "rb") as fh:
        roots = licverify.TrustedRoots(licverify.load_public_keys(fh.read()))
    store = licverify.LocalStore(state_dir)
    fingerprint = licverify.machine_fingerprint(
        PRODUCT, machine_id=os.environ.get("LICVERIFY_MACHINE_ID")
    )  # once per process in a real application
    try:
        print("app: " + run(store, roots, fingerprint, action, at))
    except licverify.LicenseError as exc:
        print(f"app: refused ({exc.code}): {exc}")
        return 1
    except (OSError, ValueError) as exc:  # a file that cannot be read or written, bad DAYS
        print(f"app: {exc}", file=sys.stderr)
        return 2
    return 0


def run(store, roots, fingerprint, action, at):  # type: ignore[no-untyped-def]
    """Do ``action``; return what to tell the user."""
    name, args = action[0], action[1:]
    if name == "reserve":
        data = store.request(now=at, fingerprint=fingerprint, label="metered-app",
                             lease=timedelta(days=int(args[0])))  # fmt: skip
        return _write(args[1], data, "reservation request for your vendor")
    if name == "return":
        return _write(args[0], store.deactivate(now=at), "receipt for your vendor")
    if name == "refill":
        with open(args[0], "rb") as fh:
            done = store.import_refill(fh.read(), trusted_roots=roots, product=PRODUCT, now=at)
        return f"{done.amount} more {done.counter} installed"
    lic = store.check(trusted_roots=roots, product=PRODUCT, now=at, fingerprint=fingerprint)
    if name == "export":
        return f"exported one drawing; {store.consume(COUNTER, 1, license=lic, now=at)} left"
    if name == "report":
        return _write(args[0], store.usage_report(now=at), "usage report for your vendor")
    if COUNTER not in lic.terms.counters:
        until = "" if lic.activation is None else f" (seat held until {_when(lic)})"
        return f"licensed to {lic.customer}{until}"
    return f"licensed to {lic.customer}; {store.remaining(COUNTER, license=lic)} exports left"


def _when(lic: licverify.License) -> str:
    end = None if lic.activation is None else lic.activation.lease_expires
    return (
        "no end" if end is None else f"{datetime.fromtimestamp(end, timezone.utc):%Y-%m-%d %H:%M}Z"
    )


def _write(path: str, data: bytes, what: str) -> str:
    with open(path, "wb") as fh:
        fh.write(data)
    return f"wrote a {what} to {path}"


ARGS = {"export": 0, "status": 0, "report": 1, "refill": 1, "reserve": 2, "return": 1}

if __name__ == "__main__":
    argv = sys.argv[1:]
    when = datetime.now(timezone.utc)
    if len(argv) >= 2 and argv[-2] == "--at":
        when = datetime.fromisoformat(argv.pop().replace("Z", "+00:00"))
        argv.pop()
    if len(argv) < 3 or argv[2] not in ARGS or len(argv) != 3 + ARGS[argv[2]]:
        print(__doc__.splitlines()[2], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(argv[0], argv[1], argv[2:], when))
