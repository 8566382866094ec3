"""The activation desk: files from customers' machines in, signed files out (issue 10, step 3).

One form takes several files (or armored text pasted): each is handled by
its kind, through the same service as the CLI command for it: an activation
request is answered (``licsign activate``; the issuing key opened once for
the batch), a deactivation receipt frees its seat (``licsign deactivate``),
a usage report is recorded (``licsign usage import``). A refusal is one line
for that file and does not stop the others. Responses wait in memory for
their download until the server stops.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, Response, abort, render_template, request

from licsign._errors import LicsignError
from licsign._keyfile import PassphraseSource
from licsign._services.activation import activate, deactivate
from licsign._services.keyring import KeyRing
from licsign._services.usage import import_usage_report
from licsign._workspace import Workspace
from licverify import LicenseError
from licverify._bundle import split_main_and_lists
from licverify._verify import open_envelope

#: The most files one form may carry, and the most bytes each.
MAX_FILES, MAX_FILE_BYTES = 100, 131072


@dataclass(frozen=True)
class Outcome:
    """What the desk did with one file."""

    name: str
    ok: bool
    message: str
    #: The key of a response waiting for download, or None.
    download: str | None = None


def register(
    app: Flask,
    workspace: Callable[[], Workspace],
    clock: Callable[[], datetime],
    passphrase: PassphraseSource | None,
) -> None:
    """Add the desk's pages to ``app``."""
    waiting: dict[str, bytes] = {}

    @app.get("/desk")
    def desk() -> str:
        return render_template("desk.html", outcomes=None)

    @app.post("/desk")
    def desk_upload() -> str:
        files = _uploaded()
        keys = None if passphrase is None else (passphrase, KeyRing(workspace(), passphrase))
        outcomes = [
            _handle(workspace(), clock(), keys, name, data, waiting) for name, data in files
        ]
        return render_template("desk.html", outcomes=outcomes)

    @app.get("/desk/responses/<key>")
    def response(key: str) -> Response:
        data = waiting.get(key)
        if data is None:
            abort(404, "no such response (the server was restarted?)")
        download = Response(data, mimetype="text/plain")
        download.headers["Content-Disposition"] = f'attachment; filename="response-{key[:8]}.txt"'
        return download


def _uploaded() -> list[tuple[str, bytes]]:
    """The files of the form, and the pasted text as one more."""
    files = [(f.filename or "file", f.read(MAX_FILE_BYTES + 1)) for f in request.files.getlist("files")
             if f.filename]  # fmt: skip
    pasted = request.form.get("pasted", "").strip()
    if pasted:
        files.append(("pasted text", pasted.encode("utf-8", "replace")))
    if not files:
        abort(400, "give one or more files, or paste an armored document")
    if len(files) > MAX_FILES:
        abort(400, f"at most {MAX_FILES} files at once")
    return files


def _handle(
    ws: Workspace,
    now: datetime,
    keys: tuple[PassphraseSource, KeyRing] | None,
    name: str,
    data: bytes,
    waiting: dict[str, bytes],
) -> Outcome:
    """One file, by its kind; a refusal is the outcome's one line."""
    if len(data) > MAX_FILE_BYTES:
        return Outcome(name, False, "larger than any licsign document")
    try:
        kind = open_envelope(split_main_and_lists(data)[0])[0].kind.name
        if kind == "activation-request":
            if keys is None:
                return Outcome(name, False, "start the server without --read-only to answer it")
            granted = activate(ws, data, keys[0], now=now, keys=keys[1])
            key = secrets.token_urlsafe(16)
            waiting[key] = granted.response
            verb = "renewed" if granted.reused else "granted"
            return Outcome(name, True, f"activation {granted.activation_id} {verb} for device "
                           f"{granted.device_id[:12]}", key)  # fmt: skip
        if kind == "deactivation-receipt":
            freed = deactivate(ws, data, now=now)
            return Outcome(name, True, f"freed the seat of device {freed.device_id[:12]}")
        if kind == "usage-report":
            done = import_usage_report(ws, data, now=now)
            extra = "; ".join(done.warnings)
            return Outcome(name, True, f"usage report {done.report.seq} recorded"
                           + (f" (warning: {extra})" if extra else ""))  # fmt: skip
        return Outcome(name, False, f"a {kind} is not something the desk takes")
    except (LicenseError, LicsignError) as exc:
        return Outcome(name, False, str(exc))
