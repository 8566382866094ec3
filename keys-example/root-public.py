"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""

TRUSTED_ROOTS = [bytes.fromhex("2fae41d1b894e934fa08728f0e9dd2eb07618744845dc1a319dbdf7aacd48bf4")]
