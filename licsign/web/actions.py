"""The portal's pages that change the ledger, and the pages around them (issue 10, step 2).

Every action is a POST checked by ``licsign.web``'s guard (session, CSRF, not
read-only) and calls the same service as the CLI command it stands for; a
refusal (``LicsignError``) is shown as one escaped line with status 400.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as Redirect

from licsign._errors import LicsignError
from licsign._keyfile import PassphraseSource
from licsign._services.activation import reset_device
from licsign._services.keys import keys, trust_root
from licsign._services.orders import add_manager, order_details, orders, remove_manager
from licsign._services.renewals import renew_license
from licsign._services.reports import device_details, license_details
from licsign._services.revocations import revoke_license
from licsign._services.users import assign_user
from licsign._workspace import Workspace
from licsign.web.forms import back, signing, whole_number
from licverify.cliutil import parse_duration


def register(
    app: Flask,
    workspace: Callable[[], Workspace],
    clock: Callable[[], datetime],
    passphrase: PassphraseSource | None,
) -> None:
    """Add the action pages to ``app``."""
    _license_actions(app, workspace, clock, passphrase)
    _devices_and_users(app, workspace, clock)
    _orders_and_keys(app, workspace, clock)

    @app.errorhandler(LicsignError)
    def refused(exc: LicsignError) -> tuple[str, int]:
        return render_template("error.html", status=400, message=str(exc)), 400


def _license_actions(
    app: Flask,
    workspace: Callable[[], Workspace],
    clock: Callable[[], datetime],
    passphrase: PassphraseSource | None,
) -> None:
    @app.get("/licenses/<license_id>/download")
    def download(license_id: str) -> Response:
        details = license_details(workspace(), license_id, now=clock())
        response = Response(details.armored, mimetype="text/plain")
        response.headers["Content-Disposition"] = f'attachment; filename="{details.id}.lic"'
        return response

    @app.post("/licenses/<license_id>/revoke")
    def revoke(license_id: str) -> Redirect:
        reason = request.form.get("reason") or None
        revoke_license(workspace(), license_id, now=clock(), reason=reason)
        return back(license_id)

    @app.post("/licenses/<license_id>/renew")
    def renew(license_id: str) -> Redirect:
        signer = signing(passphrase, "renew")
        try:
            extend = parse_duration(request.form.get("extend", ""))
        except ValueError as exc:
            abort(400, f"extend by: {exc}")
        renew_license(workspace(), license_id, signer, now=clock(), extend=extend)
        return back(license_id)


def _devices_and_users(
    app: Flask, workspace: Callable[[], Workspace], clock: Callable[[], datetime]
) -> None:
    @app.route("/licenses/<license_id>/devices/<device>/reset", methods=["GET", "POST"])
    def device_reset(license_id: str, device: str) -> Any:
        if request.method == "POST":
            reset_device(workspace(), license_id, device, now=clock(),
                         force=request.form.get("force") == "yes")  # fmt: skip
            return back(license_id)
        found = device_details(workspace(), license_id, device, now=clock())
        details = license_details(workspace(), license_id, now=clock())
        return render_template("reset.html", device=found, d=details)

    @app.get("/licenses/<license_id>/devices/<device>")
    def device(license_id: str, device: str) -> str:
        return render_template("device.html", x=device_details(workspace(), license_id, device,
                                                                now=clock()))  # fmt: skip

    @app.post("/licenses/<license_id>/users")
    def user_assign(license_id: str) -> str:
        max_devices = request.form.get("max_devices") or None
        done = assign_user(
            workspace(), license_id, request.form.get("email", ""), now=clock(),
            name=request.form.get("name") or None,
            max_devices=None if max_devices is None else whole_number(max_devices, "max devices"),
        )  # fmt: skip
        return render_template("assigned.html", done=done, license_id=license_id)


def _orders_and_keys(
    app: Flask, workspace: Callable[[], Workspace], clock: Callable[[], datetime]
) -> None:
    @app.get("/orders")
    def order_list() -> str:
        return render_template("orders.html", orders=orders(workspace()))

    @app.get("/orders/<order_id>")
    def order(order_id: str) -> str:
        return render_template("order.html", o=order_details(workspace(), order_id, now=clock()))

    @app.post("/orders/<order_id>/managers")
    def manager_add(order_id: str) -> Redirect:
        add_manager(workspace(), order_id, request.form.get("email", ""), now=clock(),
                    name=request.form.get("name") or None)  # fmt: skip
        return redirect(url_for("order", order_id=order_id), code=303)

    @app.post("/orders/<order_id>/managers/remove")
    def manager_remove(order_id: str) -> Redirect:
        remove_manager(workspace(), order_id, request.form.get("email", ""), now=clock())
        return redirect(url_for("order", order_id=order_id), code=303)

    @app.get("/keys")
    def key_list() -> str:
        return render_template("keys.html", keys=keys(workspace(), now=clock()))

    @app.get("/keys/root.pem")
    def root_pem() -> Response:
        response = Response(trust_root(workspace(), "pem"), mimetype="text/plain")
        response.headers["Content-Disposition"] = 'attachment; filename="root.pem"'
        return response


def register_issuing(
    app: Flask,
    workspace: Callable[[], Workspace],
    clock: Callable[[], datetime],
    passphrase: PassphraseSource | None,
) -> None:
    """The issue form (every term ``licsign issue`` offers, as the CSV columns name them)
    and the revocation-list export."""
    from licsign._services.bulk import CSV_COLUMNS, request_from_fields
    from licsign._services.issuing import issue_license
    from licsign._services.revocations import export_revocations

    @app.get("/issue")
    def issue_form() -> str:
        return render_template("issue.html", columns=list(CSV_COLUMNS), issued=None)

    @app.post("/issue")
    def issue() -> str:
        signer = signing(passphrase, "issue")
        fields = {k: v for k, v in request.form.items() if k in CSV_COLUMNS}
        issued = issue_license(workspace(), request_from_fields(fields), signer, now=clock())
        return render_template("issue.html", columns=list(CSV_COLUMNS), issued=issued)

    @app.post("/keys/revocations")
    def revocations_export() -> Response:
        armored, listed = export_revocations(
            workspace(), signing(passphrase, "sign a list"), now=clock()
        )
        response = Response(armored, mimetype="text/plain")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="revocations-{listed.number}.txt"'
        )
        return response
