"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""

TRUSTED_ROOTS = [bytes.fromhex("c0e1fde6a4b668595eb26b2d2bdea5aa1cb6622ddc5bbe4c03b02821e22e8ba1")]
