"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""

TRUSTED_ROOTS = [bytes.fromhex("472bc5efa87869a4f216ad939255a4745d3f0a35355a49827926fe02b32afdaa")]
