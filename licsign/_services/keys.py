"""Keys: the list with each key's status, a new issuing key or root, the trust roots to embed.

What ``licsign key ...`` does. The key files and certificates themselves are
the workspace's (``Workspace.new_issuing_key``, ``Workspace.root_public_key``);
these services decide what is shown and written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from licsign._errors import InvalidInputError
from licsign._keyfile import PassphraseSource
from licsign._ledger import KeyRecord
from licsign._workspace import DEFAULT_ISSUING_VALIDITY, Workspace, issuing_key_end
from licverify._time import iso, to_timestamp
from licverify.cliutil import Duration
from licverify.format import IssuingCertificate, RootRollover, public_key_pem

#: The forms the trust root is exported in (``licsign key export-public --format``):
#: PEM SubjectPublicKeyInfo, the 32 raw bytes, a Python module defining
#: ``TRUSTED_ROOTS``, one line of hex. ``licverify.load_public_keys`` reads them all.
TRUST_ROOT_FORMATS = ("pem", "raw", "python", "hex")


@dataclass(frozen=True)
class KeyInfo:
    """A root or issuing key the ledger knows, with its status at the time asked."""

    key_id: str
    #: ``root`` or ``issuing``.
    role: str
    #: The ledger's status; an active issuing key outside its validity is ``expired``.
    status: str
    not_before: int | None
    not_after: int | None
    #: Products an issuing key may sign for, or None for any.
    products: tuple[str, ...] | None
    public_key: bytes

    def to_json(self) -> dict[str, Any]:
        """The key as ``licsign key list --json`` prints it (times in ISO 8601)."""
        return {
            "key_id": self.key_id, "role": self.role, "status": self.status,
            "not_before": iso(self.not_before), "not_after": iso(self.not_after),
            "products": None if self.products is None else list(self.products),
            "public_key": self.public_key.hex(),
        }  # fmt: skip


def key_status(record: KeyRecord, at: int) -> str:
    """The status of a key at ``at``: an active issuing key signs only inside its validity.

    Returns:
        The ledger's status, except ``expired`` for an active issuing key that
        is not valid at ``at`` (before its start or from its end on).
    """
    if record.role != "issuing" or record.status != "active":
        return record.status
    start = record.not_before if record.not_before is not None else at
    end = record.not_after if record.not_after is not None else at + 1
    return "active" if start <= at < end else "expired"


def keys(ws: Workspace, *, now: datetime) -> list[KeyInfo]:
    """Every key: the root first, then the issuing keys, newest first.

    Args:
        ws: the workspace.
        now: the time each key's status is judged at.
    """
    at = to_timestamp(now)
    return [
        KeyInfo(k.key_id, k.role, key_status(k, at), k.not_before, k.not_after, k.products,
                k.public_key)
        for k in ws.ledger.keys()
    ]  # fmt: skip


def new_issuing_key(
    ws: Workspace,
    root_passphrase: PassphraseSource,
    new_passphrase: bytes,
    *,
    now: datetime,
    validity: timedelta | Duration = DEFAULT_ISSUING_VALIDITY,
    products: list[str] | None = None,
) -> IssuingCertificate:
    """Create an issuing key certified by the root key; new licenses use the newest one.

    The root key is opened (``root_passphrase`` called) only after the
    validity, the new passphrase and the products are checked; the key and
    its certificate are recorded in one unit of work.

    Args:
        ws: the workspace.
        root_passphrase: yields the root key's passphrase.
        new_passphrase: protects the new key file (at least 12 characters).
        now: the start of the key's validity.
        validity: how long it may sign (calendar months and years from ``now``).
        products: the products it may sign for (None or empty: any).

    Returns:
        The new key's certificate (``to_json()`` is what ``--json`` prints).

    Raises:
        InvalidInputError: a bad validity or passphrase.
        NotFoundError: an unknown product.
        WrongPassphraseError: the root passphrase is wrong.
    """
    return ws.new_issuing_key(
        root_passphrase, new_passphrase, now=now, validity=validity, products=products or None
    )


def trust_root(ws: Workspace, fmt: str = "pem") -> bytes:
    """The root public keys (the trust roots an application embeds) in ``fmt``, oldest first.

    After ``rotate_root`` there are several: a new release should pin them
    all, so that documents signed under any of them keep verifying.

    Args:
        ws: the workspace.
        fmt: one of ``TRUST_ROOT_FORMATS``; ``python`` writes a module
            defining ``TRUSTED_ROOTS``, named after the vendor in a comment.

    Raises:
        ValueError: an unknown format.
        InvalidInputError: ``raw`` (one key only) while the workspace has several roots.
    """
    roots = ws.root_public_keys()
    if fmt == "pem":
        return "".join(public_key_pem(root) for root in roots).encode()
    if fmt == "raw":
        if len(roots) > 1:
            raise InvalidInputError(
                f"--format raw holds one key and this workspace has {len(roots)} roots "
                "(after 'key rotate-root'); use pem, hex or python"
            )
        return roots[0]
    if fmt == "hex":
        return "".join(root.hex() + "\n" for root in roots).encode()
    if fmt == "python":
        # A comment, not a docstring: a vendor name with quotes cannot break the file.
        keys = "".join(f'    bytes.fromhex("{root.hex()}"),\n' for root in roots)
        return (
            f"# Trusted licsign root key(s) for {ws.vendor.rstrip('.')}. Generated by licsign.\n\n"
            f"TRUSTED_ROOTS = [\n{keys}]\n"
        ).encode()
    raise ValueError(f"unknown trust root format {fmt!r} (one of: {', '.join(TRUST_ROOT_FORMATS)})")


def trusted_roots(ws: Workspace) -> list[bytes]:
    """The root public keys documents of this workspace verify against (``licsign inspect``)."""
    return ws.root_public_keys()


@dataclass(frozen=True)
class RootRotation:
    """What ``rotate_root`` did: the rollover, and the issuing key the new root certified."""

    rollover: RootRollover
    certificate: IssuingCertificate
    #: Issuing keys retired (they keep verifying; they sign nothing new).
    retired: list[str]

    def to_json(self) -> dict[str, Any]:
        """As ``licsign key rotate-root --json`` prints it."""
        return {
            "root": self.rollover.to_json(),
            "issuing_key": self.certificate.to_json(),
            "retired_issuing_keys": self.retired,
        }


def rotate_root(
    ws: Workspace,
    root_passphrase: PassphraseSource,
    new_passphrase: bytes,
    *,
    now: datetime,
    validity: timedelta | Duration = DEFAULT_ISSUING_VALIDITY,
    products: list[str] | None = None,
) -> RootRotation:
    """A new root key vouched for by the current one, and a new issuing key it certifies.

    The current root signs a root rollover (format §6.5) and retires; every
    document signed from now on carries the rollovers, so applications that
    pin an older root accept it without a new release. The active issuing
    keys for the same products are retired, as ``rotate_key`` does.

    Args:
        ws: the workspace.
        root_passphrase: yields the current root key's passphrase.
        new_passphrase: protects the new root key and the new issuing key.
        now: when the rollover is signed and the new issuing key starts.
        validity: how long the new issuing key may sign.
        products: the products the new issuing key may sign for (None: any).

    Raises:
        InvalidInputError: a bad validity or passphrase.
        NotFoundError: an unknown product.
        WrongPassphraseError: the root passphrase is wrong.
    """
    from licsign._services.revocations import rotate_key

    # Checked before the root rolls, so a bad value cannot leave a new root without a key.
    issuing_key_end(to_timestamp(now), validity)
    for product in products or ():
        ws.ledger.product(product)
    rollover = ws.roll_root(root_passphrase, new_passphrase, now=now)
    certificate, retired = rotate_key(
        ws, lambda: new_passphrase, new_passphrase, now=now, validity=validity, products=products
    )
    return RootRotation(rollover, certificate, retired)
