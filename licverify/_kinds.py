"""Document kinds: content type, armor label and signer role (docs/format.md §2)."""

from __future__ import annotations

__all__ = ["KINDS", "Kind", "kind_by_armor_label", "kind_by_content_type"]


class Kind:
    """One document kind.

    Attributes:
        name: short name used in messages and JSON (``"license"``).
        content_type: COSE content type (protected header label 3).
        armor_label: text between ``BEGIN``/``END`` in the armored form.
        signer: who signs it: ``"root"``, ``"issuing"`` or ``"device"``.
        implemented: False for names reserved for later format versions.
    """

    __slots__ = ("armor_label", "content_type", "implemented", "name", "signer")

    def __init__(self, name: str, signer: str, implemented: bool) -> None:
        self.name = name
        self.content_type = f"application/vnd.licsign.{name}+cbor"
        self.armor_label = "LICSIGN " + name.upper().replace("-", " ")
        self.signer = signer
        self.implemented = implemented

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"


LICENSE = Kind("license", "issuing", True)
ISSUING_CERTIFICATE = Kind("issuing-key-certificate", "root", True)
ACTIVATION_REQUEST = Kind("activation-request", "device", True)
ACTIVATION_RESPONSE = Kind("activation-response", "issuing", True)
DEACTIVATION_RECEIPT = Kind("deactivation-receipt", "device", True)
REVOCATION_LIST = Kind("revocation-list", "issuing", True)
ROOT_ROLLOVER = Kind("root-rollover", "root", True)
USAGE_REPORT = Kind("usage-report", "device", True)
COUNTER_REFILL = Kind("counter-refill", "issuing", True)
CLOCK_RESET = Kind("clock-reset", "issuing", True)

#: Every kind, including names reserved for later versions of the format so
#: that no future document can be confused with an existing one.
KINDS = (
    LICENSE,
    ISSUING_CERTIFICATE,
    ACTIVATION_REQUEST,
    ACTIVATION_RESPONSE,
    DEACTIVATION_RECEIPT,
    USAGE_REPORT,
    COUNTER_REFILL,
    REVOCATION_LIST,
    CLOCK_RESET,
    ROOT_ROLLOVER,
)

_BY_CONTENT_TYPE = {k.content_type: k for k in KINDS}
_BY_ARMOR_LABEL = {k.armor_label: k for k in KINDS}


def kind_by_content_type(content_type: str) -> Kind | None:
    """The kind with this COSE content type, or None."""
    return _BY_CONTENT_TYPE.get(content_type)


def kind_by_armor_label(label: str) -> Kind | None:
    """The kind with this armor label, or None."""
    return _BY_ARMOR_LABEL.get(label)
