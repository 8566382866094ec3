"""A private, throwaway PostgreSQL server for the test suite.

``make test`` runs ``python tests/pgserver.py run -- pytest …``: it
initialises a cluster in a temporary directory, starts it on a Unix socket
only (no TCP port, nothing shared with the machine's own server), exports
``LICSIGN_TEST_POSTGRES`` (the admin URL) to the command, and stops and
removes the cluster afterwards, whatever the command's outcome. Run as root,
the server runs as the unprivileged ``postgres`` user (or ``nobody``), since
PostgreSQL refuses to run as root. ``tests/conftest.py`` uses the same code
when pytest is started without it. A server that cannot start is an error,
never a reason to skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

ENV = "LICSIGN_TEST_POSTGRES"
SUPERUSER = "licsign"


class ServerError(RuntimeError):
    """The private PostgreSQL server could not be set up."""


def _binary(name: str) -> str:
    """``initdb`` or ``pg_ctl``: from PATH, else the newest /usr/lib/postgresql/N/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if not candidates:
        raise ServerError(f"PostgreSQL's {name} is not installed (make test installs it)")
    return candidates[-1]


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ServerError("running as root and no unprivileged 'postgres' or 'nobody' account")


def _command(account: pwd.struct_passwd | None, args: list[str]) -> list[str]:
    if account is None:
        return args
    return [shutil.which("runuser") or "/sbin/runuser", "-u", account.pw_name, "--", *args]


def _check(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServerError(f"{what} failed: {(done.stderr or done.stdout).strip()[-2000:]}")


@contextlib.contextmanager
def private_server() -> Iterator[str]:
    """Start a throwaway cluster; yield its admin URL; stop and remove it."""
    account = _run_as()
    base = tempfile.mkdtemp(prefix="licsign-pg-")
    os.chmod(base, 0o755)
    data, socket_dir = os.path.join(base, "data"), os.path.join(base, "run")
    os.mkdir(socket_dir, 0o755)
    os.mkdir(data, 0o700)
    if account is not None:
        for path in (socket_dir, data):
            os.chown(path, account.pw_uid, account.pw_gid)
    log = os.path.join(socket_dir, "server.log")
    pg_ctl = _binary("pg_ctl")
    try:
        _check(_command(account, [_binary("initdb"), "-D", data, "-U", SUPERUSER,
                                  "--auth=trust", "--no-sync", "-E", "UTF8"]), "initdb")  # fmt: skip
        options = f"-k {socket_dir} -c listen_addresses='' -c fsync=off -c max_connections=100"
        _check(
            _command(account, [pg_ctl, "-D", data, "-o", options, "-l", log, "-w", "start"]),
            "starting PostgreSQL",
        )
        try:
            yield f"postgresql:///postgres?host={socket_dir}&user={SUPERUSER}"
        finally:
            subprocess.run(
                _command(account, [pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"]),
                capture_output=True, check=False,
            )  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> int:
    """``run -- COMMAND…``: run COMMAND with a private server (its URL in $LICSIGN_TEST_POSTGRES)."""
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        print("usage: pgserver.py run -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    try:
        with private_server() as url:
            return subprocess.run(argv[2:], env={**os.environ, ENV: url}, check=False).returncode
    except ServerError as exc:
        print(f"pgserver: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
