"""The portal's user, share, amend and transfer actions (issue 10, step 4).

Each is a POST through the service of the CLI command it stands for; a new
one-time code is shown once, on the page the action returns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, abort, render_template, request
from werkzeug.wrappers import Response as Redirect

from licsign._keyfile import PassphraseSource
from licsign._services import renewals, shares, users
from licsign._workspace import Workspace
from licsign.web.forms import back, signing, whole_number


def register(
    app: Flask,
    workspace: Callable[[], Workspace],
    clock: Callable[[], datetime],
    passphrase: PassphraseSource | None,
) -> None:
    """Add the user, share, amend and transfer actions to ``app``."""

    @app.post("/licenses/<license_id>/users/<action>")
    def user_action(license_id: str, action: str) -> Any:
        email, form = request.form.get("email", ""), request.form
        ws, now = workspace(), clock()
        if action == "new-code":
            done = users.new_user_code(ws, license_id, email, now=now)
            return render_template("code.html", email=email, code=done.code, license_id=license_id)
        if action == "rename":
            users.rename_user(ws, license_id, email, form.get("name", ""), now=now)
        elif action == "email":
            users.change_user_email(ws, license_id, email, form.get("new", ""), now=now)
        elif action == "max-devices":
            cap = form.get("max_devices", "").strip()
            users.set_user_max_devices(ws, license_id, email, whole_number(cap, "max devices") if cap else None,
                                       now=now)  # fmt: skip
        elif action in ("reset", "remove"):
            act = users.reset_user if action == "reset" else users.remove_user
            act(ws, license_id, email, now=now, force=form.get("force") == "yes")
        else:
            abort(404, f"no user action {action!r}")
        return back(license_id)

    @app.post("/licenses/<license_id>/shares")
    def share(license_id: str) -> str:
        email = request.form.get("email", "")
        done = shares.share_license(workspace(), license_id, email, now=clock())
        return render_template("code.html", email=email, code=done.code, license_id=license_id)

    @app.post("/licenses/<license_id>/shares/remove")
    def unshare(license_id: str) -> Redirect:
        shares.unshare_license(workspace(), license_id, request.form.get("email", ""),
                               now=clock(), force=request.form.get("force") == "yes")  # fmt: skip
        return back(license_id)

    _versions(app, workspace, clock, passphrase)


def _versions(
    app: Flask,
    workspace: Callable[[], Workspace],
    clock: Callable[[], datetime],
    passphrase: PassphraseSource | None,
) -> None:
    @app.post("/licenses/<license_id>/amend")
    def amend(license_id: str) -> Redirect:
        changes: dict[str, Any] = {
            name: whole_number(request.form.get(name, ""), name.replace("_", " "))
            for name in ("max_devices", "max_users", "max_transfers") if request.form.get(name)
        }  # fmt: skip
        renewals.amend_license(workspace(), license_id, signing(passphrase, "sign a new version"), now=clock(),
                               **changes)  # fmt: skip
        return back(license_id)

    @app.post("/licenses/<license_id>/transfer")
    def transfer(license_id: str) -> Redirect:
        renewals.transfer_license(
            workspace(), license_id, signing(passphrase, "sign a new version"), to=request.form.get("customer", ""),
            now=clock(), force=request.form.get("force") == "yes",
        )  # fmt: skip
        return back(license_id)
