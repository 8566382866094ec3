"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""

TRUSTED_ROOTS = [bytes.fromhex("b093a2966ba20d5ca9be89f42ba072eafe0171e4242f15e0961ddf66e05501a3")]
