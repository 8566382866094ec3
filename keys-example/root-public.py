"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""

TRUSTED_ROOTS = [bytes.fromhex("d3c567db53757b512063d4d8464fa564cccd23f02cba573ca1b4474e7feb9128")]
