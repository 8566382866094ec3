"""Issuing keys opened once for a batch of licenses or activation responses.

Opening an issuing key costs a full Argon2id derivation (about a second at
the production cost, docs/format.md §10). A command that signs many
documents opens each key it needs once, through one ``KeyRing``, and asks
the passphrase source once per key: several products signed by the same
issuing key share it.
"""

from __future__ import annotations

from nacl.signing import SigningKey

from licsign._keyfile import PassphraseSource
from licsign._workspace import Workspace

#: What signs a document: the issuing key, its certificate, its key id (hex) and
#: the root rollovers that lead to the certificate's root (``Workspace.rollovers_for``).
Signer = tuple[SigningKey, bytes, str, tuple[bytes, ...]]


class KeyRing:
    """The issuing keys opened so far, by key id, for one batch.

    Args:
        ws: the workspace.
        passphrase: called each time a key is opened (once per distinct key).
    """

    def __init__(self, ws: Workspace, passphrase: PassphraseSource) -> None:
        self._ws = ws
        self._passphrase = passphrase
        self._open: dict[str, Signer] = {}

    def signer(self, product: str, at: int) -> Signer:
        """The key that signs for ``product`` at ``at``, opened if it is not open yet.

        Raises:
            NotFoundError: no active issuing key is valid then for this product.
            WrongPassphraseError: the passphrase does not open it.
        """
        row = self._ws.ledger.issuing_key_for(product, at)
        if row is not None and row.key_id in self._open:
            return self._open[row.key_id]
        signer = self._ws.issuing_signer(product, at, self._passphrase)
        self._open[signer[2]] = signer
        return signer

    @property
    def opened(self) -> int:
        """How many distinct keys were opened."""
        return len(self._open)
