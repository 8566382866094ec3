"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""

TRUSTED_ROOTS = [bytes.fromhex("09f9f21aaaf10e6c4a61b1776c1de212dadeb39c97945e136e8492591502ea7f")]
