"""How ``licsign user`` and ``licsign share`` print a one-time activation code they just made."""

from __future__ import annotations

from licsign.cli._context import say


def say_code(email: str, code: str) -> None:
    """Print a fresh one-time code for ``email`` (shown once) and the command that uses it."""
    say(f"Activation code: {code}")
    say(
        f"Give it to {email} once (it is not stored and cannot be shown again); on their machine: "
        f"licverify request --user {email} --code {code}"
    )


def say_new_code(license_id: str, email: str, code: str, replaced: bool) -> None:
    """Print a code made for someone who had one (``user new-code``, ``share --new-code``)."""
    gone = "; their previous unused code no longer works" if replaced else ""
    say(f"New activation code for {email} on license {license_id}{gone}")
    say_code(email, code)
