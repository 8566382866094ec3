"""Issuer-side access to the wire format (encode, sign, armor).

``licsign`` builds documents with these; an application never needs them.
Kept out of ``licverify/__init__`` so the verifier's import stays minimal.
"""

from licverify._activation import (
    ActivationResponse,
    encode_response_payload,
    license_digest,
)
from licverify._armor import armor, dearmor, is_armored
from licverify._cbor import MAX_DOCUMENT_SIZE, encode_canonical
from licverify._certificate import (
    IssuingCertificate,
    RootRollover,
    decode_rollover_payload,
    encode_certificate_payload,
    encode_rollover_payload,
)
from licverify._cose import ALG_EDDSA, MAX_ROLLOVERS, encode_sign1, parse_unverified
from licverify._keys import check_public_key, key_id, public_key_pem
from licverify._kinds import (
    ACTIVATION_REQUEST,
    ACTIVATION_RESPONSE,
    CLOCK_RESET,
    COUNTER_REFILL,
    DEACTIVATION_RECEIPT,
    ISSUING_CERTIFICATE,
    KINDS,
    LICENSE,
    REVOCATION_LIST,
    ROOT_ROLLOVER,
    USAGE_REPORT,
    Kind,
)
from licverify._license import (
    LICENSE_TYPES,
    LIMIT_NAMES,
    Counter,
    LicenseTerms,
    Limits,
    decode_license_payload,
    encode_license_payload,
    terms_to_json,
)
from licverify._revocation import RevocationList, encode_revocation_payload

__all__ = [
    "ACTIVATION_REQUEST",
    "ACTIVATION_RESPONSE",
    "ALG_EDDSA",
    "CLOCK_RESET",
    "COUNTER_REFILL",
    "DEACTIVATION_RECEIPT",
    "ISSUING_CERTIFICATE",
    "KINDS",
    "LICENSE",
    "LICENSE_TYPES",
    "LIMIT_NAMES",
    "MAX_DOCUMENT_SIZE",
    "MAX_ROLLOVERS",
    "REVOCATION_LIST",
    "ROOT_ROLLOVER",
    "USAGE_REPORT",
    "ActivationResponse",
    "Counter",
    "IssuingCertificate",
    "Kind",
    "LicenseTerms",
    "Limits",
    "RevocationList",
    "RootRollover",
    "armor",
    "check_public_key",
    "dearmor",
    "decode_license_payload",
    "decode_rollover_payload",
    "encode_canonical",
    "encode_certificate_payload",
    "encode_license_payload",
    "encode_response_payload",
    "encode_revocation_payload",
    "encode_rollover_payload",
    "encode_sign1",
    "is_armored",
    "key_id",
    "license_digest",
    "parse_unverified",
    "public_key_pem",
    "terms_to_json",
]
