"""Machine fingerprints: salted component digests and matching (docs/format.md §8).

No raw identifier leaves the machine: each component is HMAC-SHA-256'd
with a salt derived from the product id, so two products (or two vendors)
see unrelated values for the same machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nacl.bindings import crypto_hash_sha256

from licverify._cbor import decode_canonical, encode_canonical
from licverify._errors import MalformedError

__all__ = [
    "COMPONENTS",
    "MACHINE_ID",
    "fingerprint_matches",
    "format_fingerprint",
    "machine_fingerprint",
    "parse_fingerprint",
]

#: The component that names the OS installation (or the identity a container
#: injects). An activation always requires it to match (format §11.4).
MACHINE_ID = "machine-id"
#: The components this version of licverify computes. Vendors count only these
#: toward a product's minimum (a request can carry any name it likes).
COMPONENTS = (MACHINE_ID, "mac", "disk", "cpu", "hostname")
_PREFIX = "fp1."
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
DIGEST_SIZE = 16


def _salt(product: str) -> bytes:
    return crypto_hash_sha256(b"licsign fingerprint v1\x00" + product.encode("utf-8"))


def _hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA-256 (RFC 2104) of ``message`` under a key of at most 64 bytes, with
    libsodium's SHA-256: the same digest as ``hmac.new(key, message, hashlib.sha256)``,
    without loading hashlib and OpenSSL (about 3 ms of a fresh process's start)."""
    block = int.from_bytes(key.ljust(64, b"\0"), "big")
    inner = crypto_hash_sha256((block ^ _IPAD).to_bytes(64, "big") + message)
    return crypto_hash_sha256((block ^ _OPAD).to_bytes(64, "big") + inner)


_IPAD = int.from_bytes(b"\x36" * 64, "big")
_OPAD = int.from_bytes(b"\x5c" * 64, "big")


def _read_first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            line = fh.readline().strip()
    except OSError:
        return None
    return line or None


def _raw_components(machine_id: str | None) -> dict[str, str]:
    """Raw identifiers of this machine by component name; unreadable ones are left out."""
    import sys

    found: dict[str, str] = {}
    os_id = machine_id or _os_machine_id()
    if os_id:
        found["machine-id"] = os_id
    host = _hostname()
    if host:
        found["hostname"] = host
    if sys.platform.startswith("linux"):
        cpu = _linux_cpu_model()
        if cpu:
            found["cpu"] = cpu
        macs = _linux_physical_macs()
        if macs:
            found["mac"] = ",".join(macs)
        disk = _linux_root_filesystem_uuid()
        if disk:
            found["disk"] = disk
    return found


def _hostname() -> str:
    """``socket.gethostname()``; on Linux, the same name read without loading ``socket``
    (about 2 ms of a fresh process's start): glibc's gethostname is uname's nodename."""
    import os
    import sys

    if sys.platform.startswith("linux"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def _os_machine_id() -> str | None:
    import sys

    if sys.platform == "win32":
        import winreg

        try:
            with winreg.OpenKey(
                winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography"
            ) as key:
                return str(winreg.QueryValueEx(key, "MachineGuid")[0])
        except OSError:
            return None
    if sys.platform == "darwin":
        return _command_value(
            ["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"], '"IOPlatformUUID" = "'
        )
    return _read_first_line("/etc/machine-id") or _read_first_line("/var/lib/dbus/machine-id")


def _command_value(argv: list[str], marker: str) -> str | None:
    import subprocess

    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if marker in line:
            return line.split(marker, 1)[1].split('"', 1)[0] or None
    return None


def _linux_cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return None


def _linux_physical_macs() -> list[str]:
    import os

    macs = []
    try:
        for nic in sorted(os.listdir("/sys/class/net")):
            # Physical NICs have a backing device; bridges, veth and lo do not.
            if os.path.exists(f"/sys/class/net/{nic}/device"):
                mac = _read_first_line(f"/sys/class/net/{nic}/address")
                if mac and mac != "00:00:00:00:00:00":
                    macs.append(mac)
    except OSError:
        pass
    return macs


def _linux_root_filesystem_uuid() -> str | None:
    """UUID of the filesystem mounted at /, from /proc/self/mountinfo and /dev/disk/by-uuid."""
    import os

    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            fields = next((line.split() for line in fh if line.split()[4:5] == ["/"]), None)
        if not fields:
            return None
        major, minor = (int(x) for x in fields[2].split(":"))
        for name in sorted(os.listdir("/dev/disk/by-uuid")):
            device = os.stat(os.path.join("/dev/disk/by-uuid", name)).st_rdev
            if (os.major(device), os.minor(device)) == (major, minor):
                return name
    except (OSError, ValueError, StopIteration):
        return None
    return None


#: ``machine_fingerprint`` results of this process, by (product, machine_id): the
#: machine is read once per process, not at every check (reading it costs about
#: 100 µs on Linux, more than a signature check). Bounded; cleared when full.
_COMPUTED: dict[tuple[str, str | None], Mapping[str, bytes]] = {}
_COMPUTED_MAX = 64


def machine_fingerprint(product: str, *, machine_id: str | None = None) -> Mapping[str, bytes]:
    """This machine's fingerprint for ``product``: component name → salted digest.

    Components that cannot be read are skipped. ``machine_id`` replaces the
    OS machine id (containers and clusters inject the host's identity).

    The machine is read once per process for each ``product`` and
    ``machine_id``; later calls return the same (read-only) mapping, so an
    application can call this at every check. A hardware or host name change
    is seen by the next process.
    """
    key = (product, machine_id)
    found = _COMPUTED.get(key)
    if found is None:
        found = _compute_fingerprint(product, machine_id)
        if len(_COMPUTED) >= _COMPUTED_MAX:
            _COMPUTED.clear()
        _COMPUTED[key] = found
    return found


def _compute_fingerprint(product: str, machine_id: str | None) -> Mapping[str, bytes]:
    """Read this machine and compute its fingerprint for ``product`` (no cache)."""
    salt = _salt(product)
    return MappingProxyType(
        {
            name: _hmac_sha256(salt, value.encode("utf-8"))[:DIGEST_SIZE]
            for name, value in sorted(_raw_components(machine_id).items())
        }
    )


def fingerprint_matches(
    listed: Mapping[str, bytes], actual: Mapping[str, bytes], policy: str | int
) -> bool:
    """True if ``actual`` matches the ``listed`` device under ``policy``.

    ``"all"``: every listed component present and equal; ``"most"``: more
    than half of them; an integer k: at least k of them.
    """
    same = sum(1 for name, digest in listed.items() if actual.get(name) == digest)
    if policy == "all":
        return same == len(listed)
    if policy == "most":
        return 2 * same > len(listed)
    return same >= int(policy)


def format_fingerprint(fingerprint: Mapping[str, bytes]) -> str:
    """Text form of a fingerprint: ``fp1.`` + base64url(deterministic CBOR map)."""
    import base64

    raw = encode_canonical(dict(fingerprint))
    return _PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_fingerprint(text: str) -> Mapping[str, bytes]:
    """Parse the text form written by ``format_fingerprint``.

    Raises:
        ValueError: not a well-formed fingerprint.
    """
    if not isinstance(text, str) or not text.startswith(_PREFIX) or len(text) > 4096:
        raise ValueError("a fingerprint starts with 'fp1.'")
    import base64

    body = text[len(_PREFIX) :]
    if not body or body.strip(_B64URL):
        raise ValueError("fingerprint is not base64url")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        raise ValueError("fingerprint is not base64url") from None
    try:
        value = decode_canonical(raw, "fingerprint")
        if (
            type(value) is not dict
            or not value
            or not all(
                type(k) is str and type(v) is bytes and 16 <= len(v) <= 64 for k, v in value.items()
            )
        ):
            raise ValueError("fingerprint must map component names to 16-64 byte digests")
    except MalformedError as exc:
        raise ValueError(f"malformed fingerprint: {exc}") from None
    return MappingProxyType(value)
