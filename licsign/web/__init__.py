"""``licsign serve``: the vendor's licensing portal, served on the workstation (issue 10).

Server-rendered pages over the same services as the CLI (docs/adr/0025). The
security model, for a server only the vendor's own browser should reach:

- it binds a loopback address only (``check_loopback``);
- it starts with a one-time token in the URL it prints; the first request
  that brings it gets a session cookie (HttpOnly, SameSite=Strict) and the
  token is spent: a second use is refused, a request with neither is 401;
- every state-changing request is a POST carrying the session's CSRF token
  (403 otherwise); a ``read_only`` server refuses every POST;
- every response carries a strict Content-Security-Policy (scripts only
  from this server's static files, never inline; the one script is the Copy
  button's, and every page works without it), and Jinja2 autoescaping
  escapes every text from a document or a customer.

Flask is an optional extra (``licsign[web]``): nothing else imports this.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, Response, abort, redirect, render_template, request

from licsign._errors import LicsignError
from licsign._keyfile import PassphraseSource
from licsign._services.reports import LICENSE_STATUSES, license_details, license_list
from licsign._workspace import Workspace
from licverify._time import iso
from licverify.cliutil import parse_duration
from licverify.format import LICENSE_TYPES

#: The cookie the one-time token becomes.
SESSION_COOKIE = "licsign_session"
#: Licenses per page of the list.
PAGE_SIZE = 50
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'none'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def check_loopback(host: str) -> str:
    """``host`` if it names a loopback address, else ValueError (this server is local only)."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(
        f"licsign serve binds a loopback address only (127.0.0.1 or ::1), not {host!r}"
    )


@dataclass
class Sessions:
    """The one-time sign-in token and the sessions it opened (in memory, per server)."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    spent: bool = False
    #: session id -> CSRF token of that session.
    open: dict[str, str] = field(default_factory=dict)

    def sign_in(self, offered: str) -> str | None:
        """A new session id if ``offered`` is the unspent token (which it then spends)."""
        if self.spent or not secrets.compare_digest(offered, self.token):
            return None
        self.spent = True
        session = secrets.token_urlsafe(32)
        self.open[session] = secrets.token_urlsafe(32)
        return session


def create_app(
    workspace: Callable[[], Workspace],
    *,
    read_only: bool = True,
    sessions: Sessions | None = None,
    now: Callable[[], datetime] | None = None,
    passphrase: PassphraseSource | None = None,
) -> Flask:
    """The portal's WSGI application.

    Args:
        workspace: gives the open workspace (one per server).
        read_only: offer no action and refuse every POST.
        sessions: the sign-in token and sessions (a new token if None).
        now: the clock the pages judge statuses by.
        passphrase: the issuing keys' passphrase, read once at start (the actions
            that sign need it; None: they are refused).
    """
    from licsign.cli._context import now_utc
    from licsign.web import actions, desk, people

    app = Flask(__name__)
    # A form holds at most the desk's files (bounded in licsign.web.desk): anything larger
    # is refused (413) before it is read into memory.
    app.config["MAX_CONTENT_LENGTH"] = desk.MAX_FILES * (desk.MAX_FILE_BYTES + 4096)
    state = sessions or Sessions()
    clock = now or now_utc
    app.extensions["licsign"] = {"sessions": state, "read_only": read_only}
    _guard(app, state, read_only)
    _pages(app, workspace, clock)
    actions.register(app, workspace, clock, passphrase)
    actions.register_issuing(app, workspace, clock, passphrase)
    desk.register(app, workspace, clock, passphrase)
    people.register(app, workspace, clock, passphrase)

    @app.context_processor
    def common() -> dict[str, Any]:
        csrf = state.open.get(request.cookies.get(SESSION_COOKIE, ""), "")
        return {"vendor": workspace().vendor, "read_only": read_only, "iso": iso, "csrf": csrf}

    return app


def _guard(app: Flask, state: Sessions, read_only: bool) -> None:
    """Sign-in by the one-time token, sessions, CSRF, read-only, and the security headers."""

    @app.before_request
    def authenticate() -> Any:
        if request.endpoint == "static":
            return None
        offered = request.args.get("token")
        if offered is not None:
            session = state.sign_in(offered)
            if session is None:
                abort(403, "this sign-in link was used already, or is wrong: restart the server")
            target = request.path + _without_token()
            response = redirect(target)
            response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Strict")
            return response
        session = request.cookies.get(SESSION_COOKIE, "")
        if session not in state.open:
            abort(401, "open the link 'licsign serve' printed to sign in")
        if request.method == "POST":
            if read_only:
                abort(403, "this server is read-only")
            if not secrets.compare_digest(request.form.get("csrf", ""), state.open[session]):
                abort(403, "the form's CSRF token is missing or wrong")
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.errorhandler(401)
    @app.errorhandler(403)
    @app.errorhandler(404)
    def error(exc: Any) -> tuple[str, int]:
        return render_template("error.html", status=exc.code, message=exc.description), exc.code


def _without_token() -> str:
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    from urllib.parse import urlencode

    return ("?" + urlencode(rest)) if rest else ""


def _pages(app: Flask, workspace: Callable[[], Workspace], clock: Callable[[], datetime]) -> None:
    """The pages: the licenses list and a license's details."""

    @app.get("/")
    def licenses() -> str:
        names = ("customer", "product", "order", "status", "type", "expiring_within")
        filters = {n: request.args[n] for n in names if request.args.get(n)}
        error, page = None, None
        try:
            within = filters.get("expiring_within")
            page = license_list(
                workspace(), now=clock(), limit=PAGE_SIZE, after=request.args.get("after"),
                expiring_within=None if within is None else parse_duration(within),
                **{k: v for k, v in filters.items() if k != "expiring_within"},
            )  # fmt: skip
        except (LicsignError, ValueError) as exc:
            error = str(exc)
        return render_template(
            "licenses.html", page=page or _EMPTY, filters=filters, error=error,
            statuses=LICENSE_STATUSES, types=LICENSE_TYPES,
        )  # fmt: skip

    @app.get("/licenses/<license_id>")
    def license(license_id: str) -> str:
        try:
            details = license_details(workspace(), license_id, now=clock())
        except LicsignError as exc:
            abort(404, str(exc))
        return render_template("license.html", d=details)


@dataclass(frozen=True)
class _Empty:
    licenses: tuple[Any, ...] = ()
    any_issued: bool = True
    next_after: str | None = None


_EMPTY = _Empty()
