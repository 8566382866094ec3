"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""

TRUSTED_ROOTS = [bytes.fromhex("32eea92f16f81241a453506429d7b3e6b6bd7e8c577439a461a694d60472ebb5")]
