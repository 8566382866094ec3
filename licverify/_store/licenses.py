"""The installed license (``license.cose``, format §12).

Installed only after it verifies; replaced only while no activation for the
installed one is held (that one must be deactivated, so the vendor's seat
count stays true).
"""

from __future__ import annotations

from licverify._errors import StoreError
from licverify._store import pending
from licverify._store.files import ACTIVATION, LICENSE, StoreFiles
from licverify._verify import License


def installed(files: StoreFiles) -> bytes | None:
    """The installed license document (binary), or None."""
    return files._read(LICENSE)


def install(files: StoreFiles, lic: License) -> None:
    """Install the verified ``lic`` (under the lock); installing it again changes nothing.

    Raises:
        StoreError: an activation for another installed license is held here.
    """
    current = files._read(LICENSE)
    if current == lic.document:
        return
    if files._read(ACTIVATION) is not None and current is not None:
        raise StoreError(
            "this machine holds an activation for the installed license; "
            "deactivate it first (licverify deactivate)"
        )
    files._write(LICENSE, lic.document)
    pending.clear(files)
