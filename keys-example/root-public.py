"""Trusted root for the INSECURE example workspace (keys-example/regenerate.py)."""

TRUSTED_ROOTS = [bytes.fromhex("440e72112efdcb56eb4d3ac045f6ff778c9c16e5edd5be32748781394a365910")]
