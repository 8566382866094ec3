"""The installed license (``license.cose``) and the versions seen (``versions.json``, format §12).

Installed only after it verifies. Another license replaces it only while no
activation for the installed one is held (that one must be deactivated, so
the vendor's seat count stays true). A newer version of the installed
license (a renewal or an amendment, same id) replaces it without
deactivating: the installed activation is kept, names the old version's
digest, and so stops counting until a new request is answered for the new
version (format §11.4 is unchanged; docs/adr/0019-renewals.md). The store
remembers the highest version it has seen of every license id and refuses
an older one, so an old document cannot be put back.
"""

from __future__ import annotations

from typing import Any

from licverify._activation import decode_response_payload, license_digest
from licverify._errors import LicenseError, StoreError
from licverify._license import LicenseTerms, decode_license_payload
from licverify._store import pending
from licverify._store.files import ACTIVATION, LICENSE, StoreFiles
from licverify._verify import License, open_envelope

#: The highest version seen per license id, and the digests of the documents renewals replaced:
#: ``{"highest": {id: version}, "replaced": [sha-256 hex, ...]}``.
VERSIONS = "versions.json"
#: License ids remembered; a store normally sees one or two. The file stays far below the
#: store's 64 KiB read limit (about 40 bytes an entry); beyond it the earliest seen go first.
MAX_VERSIONS = 1024
#: Replaced documents remembered (to tell "renewed since activated" from a foreign activation).
MAX_REPLACED = 16


def installed(files: StoreFiles) -> bytes | None:
    """The installed license document (binary), or None."""
    return files._read(LICENSE)


def install(files: StoreFiles, lic: License) -> None:
    """Install the verified ``lic`` (under the lock); installing it again changes nothing.

    Raises:
        StoreError: ``lic`` is older than a version of it seen here, or an
            activation for another installed license is held here.
    """
    current = files._read(LICENSE)
    if current == lic.document:
        return
    current_terms = _unverified_terms(current)
    seen, replaced = _load(files, current_terms)
    highest = seen.get(lic.id)
    if highest is not None and lic.version < highest:
        raise StoreError(
            f"license {lic.id} version {lic.version} is older than version {highest}, which"
            " this machine has seen; a superseded license cannot be installed again"
        )
    renewal = current_terms is not None and (
        current_terms.id == lic.id and lic.version > current_terms.version
    )
    if files._read(ACTIVATION) is not None and current is not None and not renewal:
        raise StoreError(
            "this machine holds an activation for the installed license; "
            "deactivate it first (licverify deactivate)"
        )
    if current is not None:
        # The installed license stands for its own version; the file is needed (and written
        # first: a crash before the license is written only ratchets early) once it is replaced.
        seen[lic.id] = max(lic.version, highest or 0)
        if renewal:
            replaced = [*replaced, license_digest(current).hex()][-MAX_REPLACED:]
        _save(files, seen, replaced)
    files._write(LICENSE, lic.document)
    pending.clear(files)


def versions_seen(files: StoreFiles) -> dict[str, int]:
    """License id -> highest version seen here (the installed license's counts too).

    Raises:
        StoreError: ``versions.json`` is damaged.
    """
    return _load(files, _unverified_terms(files._read(LICENSE)))[0]


def _load(
    files: StoreFiles, installed_terms: LicenseTerms | None
) -> tuple[dict[str, int], list[str]]:
    """``versions.json``: the highest versions (with the installed license's) and the digests
    of documents renewals replaced; a missing file is empty."""
    raw = files._read(VERSIONS)
    data: Any = {"highest": {}, "replaced": []}
    if raw is not None and raw.strip():
        import json  # here, not at the top: the application's check never loads json

        try:
            data = json.loads(raw)
        except ValueError:
            raise StoreError(f"{files._file(VERSIONS)} is damaged") from None
    highest = data.get("highest") if isinstance(data, dict) else None
    replaced = data.get("replaced") if isinstance(data, dict) else None
    if (
        not isinstance(highest, dict)
        or not isinstance(replaced, list)
        or not all(isinstance(k, str) and type(v) is int and v >= 0 for k, v in highest.items())
        or not all(isinstance(d, str) for d in replaced)
    ):
        raise StoreError(f"{files._file(VERSIONS)} is damaged")
    seen: dict[str, int] = dict(highest)
    if installed_terms is not None:  # a store from before versions.json, or a cut-short write
        known = seen.get(installed_terms.id, 0)
        seen[installed_terms.id] = max(known, installed_terms.version)
    return seen, list(replaced)


def renewed_since_activation(files: StoreFiles) -> int | None:
    """The installed license's version if the installed activation is for a version a renewal
    replaced here (same license id, a replaced document), else None: the machine needs a new
    activation for the installed version."""
    document, activation = files._read(LICENSE), files._read(ACTIVATION)
    terms = _unverified_terms(document)
    if terms is None or document is None or activation is None:
        return None
    try:
        response = decode_response_payload(open_envelope(activation)[0].payload)
    except LicenseError:
        return None
    if response.license_id != terms.id or response.license_digest == license_digest(document):
        return None
    try:
        replaced = _load(files, terms)[1]
    except StoreError:
        return None
    return terms.version if response.license_digest.hex() in replaced else None


def _unverified_terms(document: bytes | None) -> LicenseTerms | None:
    """The terms of an installed license, unverified (it was verified when imported)."""
    if document is None:
        return None
    try:
        return decode_license_payload(open_envelope(document)[0].payload)
    except LicenseError:
        return None  # damaged: verification refuses it wherever it is used


def _save(files: StoreFiles, seen: dict[str, int], replaced: list[str]) -> None:
    """Write ``versions.json`` (atomically, through the store's writer), at most MAX_VERSIONS."""
    import json

    data = {"highest": dict(list(seen.items())[-MAX_VERSIONS:]), "replaced": replaced}
    files._write(VERSIONS, (json.dumps(data) + "\n").encode())
