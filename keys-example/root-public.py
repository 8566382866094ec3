"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""

TRUSTED_ROOTS = [bytes.fromhex("a18efc04e94e1c9236e9a0eaf0f0b5944a1704c4610ab3c119dbdd7b4bded4b3")]
