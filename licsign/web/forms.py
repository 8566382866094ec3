"""What the portal's action pages share: where they go back to, and how they read a form."""

from __future__ import annotations

from flask import abort, redirect, url_for
from werkzeug.wrappers import Response as Redirect

from licsign._keyfile import PassphraseSource


def back(license_id: str) -> Redirect:
    """After an action: the license's page again (303, so a reload does not post twice)."""
    return redirect(url_for("license", license_id=license_id), code=303)


def whole_number(text: str, what: str) -> int:
    """A form field that must be a whole number; 400 naming it otherwise."""
    if not text.isascii() or not text.isdigit():
        abort(400, f"{what}: a whole number")
    return int(text)


def signing(passphrase: PassphraseSource | None, what: str) -> PassphraseSource:
    """The passphrase read at start, for an action that signs; 403 on a read-only server."""
    if passphrase is None:
        abort(403, f"start the server without --read-only to {what}")
    return passphrase
