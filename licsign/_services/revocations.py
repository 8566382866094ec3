"""Revocation and key rotation: what ``licsign revoke``, ``revocations`` and ``key rotate`` do.

A revocation is recorded in the ledger at once (the license's versions become
``revoked``, the key ``revoked``, the activation ends); it reaches customers
only in a signed revocation list (docs/format.md §13), exported with the next
list number and carried to the machines (``licverify import``). Each list
holds every revocation so far, so the newest list is the only one a machine
needs. docs/adr/0020-revocation-lists.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from licsign._errors import AlreadyExistsError, InvalidInputError, NotFoundError, RefusedError
from licsign._keyfile import PassphraseSource, read_key_file
from licsign._ledger import KeyRecord, RevocationListRecord, RevocationRecord
from licsign._services.keyring import Signer
from licsign._workspace import DEFAULT_ISSUING_VALIDITY, Workspace
from licverify._time import iso, to_timestamp
from licverify.cliutil import Duration
from licverify.format import (
    MAX_DOCUMENT_SIZE,
    REVOCATION_LIST,
    IssuingCertificate,
    RevocationList,
    armor,
    encode_revocation_payload,
    encode_sign1,
    license_digest,
)

#: A reason is for people reading the ledger; it never leaves it.
MAX_REASON = 256


@dataclass(frozen=True)
class Revoked:
    """A revocation as the CLI shows it."""

    number: int
    kind: str
    subject: str
    version: int | None
    reason: str | None
    at: int

    @classmethod
    def of(cls, record: RevocationRecord) -> Revoked:
        """From the ledger's record."""
        return cls(record.number, record.kind, record.subject, record.version, record.reason,
                   record.at)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """What ``--json`` prints."""
        return {
            "number": self.number, "kind": self.kind, "subject": self.subject,
            "version": self.version, "reason": self.reason, "at": iso(self.at),
        }  # fmt: skip


def _reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    if not reason.strip() or len(reason) > MAX_REASON or not reason.isprintable():
        raise InvalidInputError(f"a reason must be 1 to {MAX_REASON} printable characters")
    return reason


def revoke_license(ws: Workspace, license_id: str, *, now: datetime, reason: str | None = None,
                   version: int | None = None) -> Revoked:  # fmt: skip
    """Revoke a license (every version, or one); its ledger status becomes ``revoked``.

    Raises:
        NotFoundError: no such license or version.
        AlreadyExistsError: it is revoked already.
    """
    at, why = to_timestamp(now), _reason(reason)
    ledger = ws.ledger
    with ledger.transaction():
        versions = [v for v, _, _ in ledger.license_versions(license_id)]
        if not versions:
            raise NotFoundError(f"unknown license {license_id!r}")
        if version is not None and version not in versions:
            raise NotFoundError(f"license {license_id} has no version {version}")
        for earlier in ledger.revocation_of("license", license_id):
            if earlier.version is None or earlier.version == version:
                raise AlreadyExistsError(f"license {license_id} is revoked already")
        revoked = versions if version is None else [version]
        ledger.mark_license_revoked(license_id, revoked)
        number = ledger.add_revocation(at, "license", license_id, version, why,
                                       {"versions": revoked})  # fmt: skip
    return Revoked(number, "license", license_id, version, why, at)


def revoke_key(ws: Workspace, key_id: str, *, now: datetime, reason: str | None = None) -> Revoked:
    """Revoke an issuing key: every license and response it signed is refused once a machine
    has a list naming it, and it signs nothing more.

    Raises:
        NotFoundError: no such issuing key (the root cannot be revoked here).
        AlreadyExistsError: it is revoked already.
    """
    at, why = to_timestamp(now), _reason(reason)
    ledger = ws.ledger
    with ledger.transaction():
        key = _issuing_key(ws, key_id)
        if key.status == "revoked":
            raise AlreadyExistsError(f"issuing key {key_id} is revoked already")
        ledger.set_key_status(at, key_id, "revoked")
        number = ledger.add_revocation(at, "key", key_id, None, why, {})
    return Revoked(number, "key", key_id, None, why, at)


def revoke_activation(
    ws: Workspace, activation_id: str, *, now: datetime, reason: str | None = None
) -> Revoked:
    """Revoke an activation: it ends in the ledger (its seat is free, not counted as a
    transfer) and machines that receive the list refuse it.

    Raises:
        NotFoundError: no such activation.
        AlreadyExistsError: it is revoked already.
    """
    at, why = to_timestamp(now), _reason(reason)
    ledger = ws.ledger
    with ledger.transaction():
        activation = ledger.activation(activation_id)
        if activation is None:
            raise NotFoundError(f"unknown activation {activation_id!r}")
        if ledger.revocation_of("activation", activation_id):
            raise AlreadyExistsError(f"activation {activation_id} is revoked already")
        ends = activation.ended_at is None
        if ends:
            ledger.end_activation(activation_id, at, "reset", False)
        number = ledger.add_revocation(at, "activation", activation_id, None, why, {"ends": ends})
    return Revoked(number, "activation", activation_id, None, why, at)


def revocations(ws: Workspace) -> list[Revoked]:
    """Every revocation, in the order revoked."""
    return [Revoked.of(r) for r in ws.ledger.revocations()]


def _issuing_key(ws: Workspace, key_id: str) -> KeyRecord:
    for key in ws.ledger.keys():
        if key.key_id == key_id and key.role == "issuing":
            return key
    raise NotFoundError(f"unknown issuing key {key_id!r} (see 'licsign key list')")


def _list_signer(ws: Workspace, product: str | None, at: int,
                 passphrase: PassphraseSource) -> Signer:  # fmt: skip
    """The key that signs a list: for one product, its issuing key; for every product, the
    newest active issuing key allowed to sign for any (format §13.2)."""
    if product is not None:
        ws.ledger.product(product)
        return ws.issuing_signer(product, at, passphrase)
    for key in ws.ledger.keys():
        valid = (key.not_before or 0) <= at < (key.not_after or at + 1)
        if key.role == "issuing" and key.status == "active" and key.products is None and valid:
            signing = read_key_file(ws.issuing_key_path(key.key_id), "issuing", passphrase)
            if bytes(signing.verify_key) != key.public_key or key.certificate is None:
                raise RefusedError(f"issuing key file {key.key_id} does not match the ledger")
            return signing, key.certificate, key.key_id, ws.rollovers_for(key.certificate)
    raise NotFoundError(
        "no active issuing key may sign for every product; give --product, or create one "
        "with 'licsign key new-issuing'"
    )


def _current_list(ws: Workspace, number: int, at: int, product: str | None) -> RevocationList:
    licenses: dict[str, set[int] | None] = {}
    activations, keys = set(), set()
    for r in ws.ledger.revocations():
        if r.kind == "license":
            if product is not None and ws.ledger.license(r.subject).product_id != product:
                continue
            held = licenses.get(r.subject, set())
            if r.version is None or held is None:
                licenses[r.subject] = None
            else:
                licenses[r.subject] = held | {r.version}
        elif r.kind == "activation":
            activations.add(r.subject)
        else:
            keys.add(bytes.fromhex(r.subject))
    return RevocationList(
        number=number, issued_at=at, issuer=ws.vendor, product=product,
        licenses={k: None if v is None else frozenset(v) for k, v in licenses.items()},
        activations=activations, keys=keys,
    )  # fmt: skip


def export_revocations(ws: Workspace, passphrase: PassphraseSource, *, now: datetime,
                       product: str | None = None) -> tuple[bytes, RevocationList]:  # fmt: skip
    """Sign every revocation so far as a list with the next number; return it armored.

    Args:
        ws: the workspace.
        passphrase: yields the issuing key's passphrase.
        now: the list's iat.
        product: a list for one product (its licenses only), else for every product.

    Raises:
        NotFoundError: no issuing key may sign it.
        WrongPassphraseError: the passphrase does not open the key.
    """
    at = to_timestamp(now)
    key, certificate, kid, rollovers = _list_signer(ws, product, at, passphrase)
    ledger = ws.ledger
    with ledger.transaction():
        number = ledger.next_revocation_list_number()
        revoked = _current_list(ws, number, at, product)
        document = encode_sign1(
            REVOCATION_LIST, bytes.fromhex(kid), encode_revocation_payload(revoked),
            lambda m: key.sign(m).signature, certificate, rollovers,
        )  # fmt: skip
        digest = license_digest(document).hex()
        ledger.add_revocation_list(at, RevocationListRecord(number, at, kid, product, digest))
    _keep_copy(ws, number, document)
    return armor(document, REVOCATION_LIST), revoked


def _list_copy_path(ws: Workspace, number: int) -> str:
    """Where the workspace keeps a copy of exported list ``number`` (binary), to ride along."""
    return os.path.join(ws.home, "revocations", f"{number}.cose")


def _keep_copy(ws: Workspace, number: int, document: bytes) -> None:
    """Keep the exported list so renewals and responses can carry it (docs/adr/0021).

    Written after the ledger recorded it: a crash in between only means that
    files do not carry this list until the next export.
    """
    from licsign._files import write_atomic

    path = _list_copy_path(ws, number)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    write_atomic(path, document, mode=0o644, overwrite=True)


def revocations_to_attach(ws: Workspace, license_id: str) -> tuple[bytes, int] | None:
    """The newest exported revocation list for a license's machines, armored, with its number.

    The newest list the ledger recorded for every product or for the
    license's product (format §13.2: a list for another product is refused
    there), if the workspace still holds its copy with the recorded digest;
    else None. Nothing is signed: export a list to send a fresh one.
    """
    product = ws.ledger.license(license_id).product_id
    for record in reversed(ws.ledger.revocation_lists()):
        if record.product not in (None, product):
            continue
        try:
            with open(_list_copy_path(ws, record.number), "rb") as f:
                document = f.read(MAX_DOCUMENT_SIZE + 1)
        except OSError:
            return None  # exported before copies were kept, or removed
        if license_digest(document).hex() != record.digest:
            return None
        return armor(document, REVOCATION_LIST), record.number
    return None


def rotate_key(
    ws: Workspace,
    root_passphrase: PassphraseSource,
    new_passphrase: bytes,
    *,
    now: datetime,
    validity: timedelta | Duration = DEFAULT_ISSUING_VALIDITY,
    products: list[str] | None = None,
) -> tuple[IssuingCertificate, list[str]]:
    """A new issuing key; the active issuing keys for the same products are retired.

    A retired key signs nothing new; licenses and responses it signed keep
    verifying (its certificate travels with them) unless it is revoked
    (``revoke_key``).

    Returns:
        The new key's certificate and the ids of the keys retired.
    """
    scope = tuple(products) if products else None
    old = [k.key_id for k in ws.ledger.keys()
           if k.role == "issuing" and k.status == "active" and k.products == scope]  # fmt: skip
    cert = ws.new_issuing_key(root_passphrase, new_passphrase, now=now, validity=validity,
                              products=list(scope) if scope else None)  # fmt: skip
    at = to_timestamp(now)
    with ws.ledger.transaction():
        for key_id in old:
            ws.ledger.set_key_status(at, key_id, "retired")
    return cert, old
