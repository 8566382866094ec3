"""Issuer-side access to the wire format (encode, sign, armor).

``licsign`` builds documents with these; an application never needs them.
Kept out of ``licverify/__init__`` so the verifier's import stays minimal.
"""

from licverify._armor import armor, dearmor, is_armored
from licverify._cbor import MAX_DOCUMENT_SIZE, encode_canonical
from licverify._certificate import IssuingCertificate, encode_certificate_payload
from licverify._cose import ALG_EDDSA, encode_sign1, parse_unverified
from licverify._keys import check_public_key, key_id, public_key_pem
from licverify._kinds import ISSUING_CERTIFICATE, KINDS, LICENSE, Kind
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

__all__ = [
    "ALG_EDDSA",
    "ISSUING_CERTIFICATE",
    "KINDS",
    "LICENSE",
    "LICENSE_TYPES",
    "LIMIT_NAMES",
    "MAX_DOCUMENT_SIZE",
    "Counter",
    "IssuingCertificate",
    "Kind",
    "LicenseTerms",
    "Limits",
    "armor",
    "check_public_key",
    "dearmor",
    "decode_license_payload",
    "encode_canonical",
    "encode_certificate_payload",
    "encode_license_payload",
    "encode_sign1",
    "is_armored",
    "key_id",
    "parse_unverified",
    "public_key_pem",
    "terms_to_json",
]
