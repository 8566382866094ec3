"""The installed revocation list (``revocations.cose``, format §12.1 and §13.3).

The store keeps the list with the highest number it has seen and refuses a
lower one, so an old list cannot be put back to bring a revoked license or
activation back. ``check`` applies it to the installed license, its issuing
key and its activation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from licverify._errors import LicenseError, RevokedError, StoreError
from licverify._revocation import RevocationList
from licverify._store.files import LICENSE, StoreFiles
from licverify._time import to_timestamp
from licverify._verify import _CLOCK_SKEW, License, Verifier, verify_license_for_import

REVOCATIONS = "revocations.cose"


#: Revocation lists verified in this process, by their exact bytes, the trusted roots and the
#: product: the application's check reads the installed list at every call, and its chain,
#: signature and decode do not change (only the time check does, made at every call). Only
#: successes are kept; bounded, cleared when full.
_VERIFIED: dict[tuple[bytes, frozenset[bytes], str], RevocationList] = {}
_VERIFIED_MAX = 16


def installed(files: StoreFiles, verifier: Verifier, now: datetime) -> RevocationList | None:
    """The installed list, verified again (a damaged one is ``store-error``), or None."""
    data = files._read(REVOCATIONS)
    if data is None:
        return None
    key = (data, verifier.trusted_roots.cache_key, verifier.product)
    verified = _VERIFIED.get(key)
    if verified is not None and verified.issued_at <= to_timestamp(now) + _CLOCK_SKEW:
        return verified
    try:
        verified = verifier.verify_revocation_list(data, now=now)
    except LicenseError as exc:
        raise StoreError(
            f"{files._file(REVOCATIONS)} does not verify ({exc.code}: {exc}); "
            "import the vendor's latest revocation list again"
        ) from None
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = verified
    return verified


def install(files: StoreFiles, new: RevocationList, verifier: Verifier, now: datetime) -> bool:
    """Install the verified list ``new`` (under the lock) unless it is older.

    Returns:
        False if these exact bytes were installed already, else True.

    Raises:
        StoreError: a list with a higher number is installed, or another list
            with the same number.
        RevokedError: the installed list revokes the key that signed ``new``.
    """
    assert new.document is not None  # verified lists carry their bytes
    current = installed(files, verifier, now)
    if current is not None:
        if current.document == new.document:
            return False
        if new.number < current.number:
            raise StoreError(
                f"this revocation list (number {new.number}) is older than the one installed "
                f"(number {current.number}); an older list is never installed"
            )
        if new.number == current.number:
            raise StoreError(
                f"another revocation list with the same number ({new.number}) is installed"
            )
        if new.key_id in current.keys:
            raise RevokedError(
                f"this revocation list is signed by issuing key {new.key_id.hex()}, "
                "which the installed list revokes"
            )
    files._write(REVOCATIONS, new.document)
    return True


def riding_along(
    files: StoreFiles, lists: list[RevocationList], verifier: Verifier, now: datetime
) -> RevocationList | None:
    """Which verified list riding along in a bundle to install (format §5.1), without writing.

    The one with the highest number, if it is newer than the installed list;
    a list older than or the same as the installed one is ignored, so an old
    file imported again never fails for its list.

    Raises:
        RevokedError: the installed list revokes the key that signed the chosen list.
    """
    if not lists:
        return None
    newest = max(lists, key=lambda lst: lst.number)
    current = installed(files, verifier, now)
    if current is None:
        return newest
    if newest.number <= current.number:
        return None
    if newest.key_id in current.keys:
        raise RevokedError(
            f"the revocation list in this file is signed by issuing key {newest.key_id.hex()},"
            " which the installed list revokes"
        )
    return newest


def refuse_revoked(
    files: StoreFiles,
    lic: License,
    chosen: RevocationList | None,
    verifier: Verifier,
    now: datetime,
) -> None:
    """Refuse to import ``lic`` if the newest list revokes it (format §13.3), under the lock.

    The newest list is ``chosen`` (riding along with ``lic``, from ``riding_along``) or
    else the installed one. A license it revokes (its id with every version or with
    this one, or the issuing key that signed it) is not installed and the installed
    license stays; a newer version it does not name is not refused. A list riding along
    that revokes the license it came with is still installed first: it only takes away,
    and dropping it would leave what it revokes working here.

    Raises:
        RevokedError: the list revokes ``lic``.
        StoreError: the installed list no longer verifies (fail closed, as ``check``).
    """
    current = chosen if chosen is not None else installed(files, verifier, now)
    if current is None:
        return
    try:
        current.check(lic)
    except RevokedError as exc:
        if chosen is None:
            raise
        write(files, chosen)
        raise RevokedError(
            f"{exc}; the revocation list in this file (number {chosen.number}) was installed"
        ) from None


def write(files: StoreFiles, new: RevocationList) -> None:
    """Write a list chosen by ``riding_along`` (under the lock)."""
    assert new.document is not None  # verified lists carry their bytes
    files._write(REVOCATIONS, new.document)


def refuse_installed(
    files: StoreFiles,
    current: RevocationList,
    verifier: Verifier,
    now: datetime,
    fingerprint: Mapping[str, bytes],
) -> None:
    """Apply ``current`` to the installed license alone (verified again, without its
    activation): ``RevokedError`` if it revokes it or its issuing key."""
    document = files._read(LICENSE)
    if document is not None:
        try:
            lic = verify_license_for_import(
                document, trusted_roots=verifier.trusted_roots, product=verifier.product, now=now,
                fingerprint=fingerprint,
            )  # fmt: skip
        except LicenseError:
            return  # the full check reports what is wrong with the license
        current.check(lic)
