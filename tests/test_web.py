"""``licsign serve`` (issue 10, first step): the security model and the two read pages.

Driven through Flask's test client over a real workspace (both ledger
engines): no token → 401; the one-time token becomes an HttpOnly,
SameSite=Strict session cookie and is refused when reused; a POST without
the session's CSRF token → 403, and every POST of a read-only server → 403;
every response carries the strict Content-Security-Policy; text from a
customer with markup is escaped; the list pages and filters agree with the
CLI's services; the server refuses a non-loopback address; importing the
CLI does not load Flask.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness import CUSTOMER, PRODUCT, PW, Vendor

import licsign
from licsign.web import SECURITY_HEADERS, SESSION_COOKIE, Sessions, check_loopback, create_app


def client(vendor: Vendor, *, read_only: bool = True):  # type: ignore[no-untyped-def]
    sessions = Sessions()
    app = create_app(lambda: vendor.ws, read_only=read_only, sessions=sessions,
                     now=lambda: vendor.now)  # fmt: skip
    return app.test_client(), sessions


def signed_in(vendor: Vendor, *, read_only: bool = True):  # type: ignore[no-untyped-def]
    web, sessions = client(vendor, read_only=read_only)
    assert web.get(f"/?token={sessions.token}").status_code == 302
    return web, sessions


def test_the_token_signs_in_once_and_becomes_a_strict_cookie(vendor: Vendor) -> None:
    web, sessions = client(vendor)
    assert web.get("/").status_code == 401
    first = web.get(f"/?token={sessions.token}&customer={CUSTOMER}")
    assert first.status_code == 302 and first.headers["Location"] == f"/?customer={CUSTOMER}"
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert web.get("/").status_code == 200  # the cookie now
    again, _ = client(vendor)
    stolen = again.get(f"/?token={sessions.token}")  # another browser, the same link
    assert stolen.status_code == 403  # the same server's token? a fresh server has its own
    other = create_app(lambda: vendor.ws, sessions=sessions).test_client()
    assert other.get(f"/?token={sessions.token}").status_code == 403  # spent
    assert other.get("/?token=wrong").status_code == 403


def test_every_response_carries_the_security_headers(vendor: Vendor) -> None:
    web, _ = client(vendor)
    for response in (web.get("/"), signed_in(vendor)[0].get("/")):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy  # no inline script
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    for template in (Path(__file__).parent.parent / "licsign" / "web" / "templates").iterdir():
        assert "<script>" not in template.read_text() and "onclick" not in template.read_text()


def test_posts_need_the_csrf_token_and_read_only_refuses_them(vendor: Vendor) -> None:
    writable, sessions = signed_in(vendor, read_only=False)
    assert writable.post("/").status_code == 403  # no CSRF token
    assert writable.post("/", data={"csrf": "forged"}).status_code == 403
    csrf = next(iter(sessions.open.values()))
    assert writable.post("/", data={"csrf": csrf}).status_code == 405  # no such action yet
    read_only, sessions = signed_in(vendor)
    csrf = next(iter(sessions.open.values()))
    refused = read_only.post("/", data={"csrf": csrf})
    assert refused.status_code == 403 and b"read-only" in refused.data
    assert b"<form" in read_only.get("/").data and b'method="post"' not in read_only.get("/").data


def test_the_list_and_details_show_what_the_services_say(vendor: Vendor) -> None:
    licsign.add_customer(vendor.ws, "evil", name="<script>alert(1)</script>", now=vendor.now)
    mine = [vendor.issue("perpetual").id for _ in range(3)]
    theirs = licsign.issue_license(
        vendor.ws, licsign.IssueRequest(PRODUCT, "evil", "perpetual"), lambda: b"activation "
        b"test passphrase", now=vendor.now,
    ).id  # fmt: skip
    web, _ = signed_in(vendor)
    page = web.get("/").data.decode()
    assert all(lid in page for lid in [*mine, theirs])
    only = web.get(f"/?customer={CUSTOMER}").data.decode()
    assert all(lid in only for lid in mine) and theirs not in only
    none = web.get("/?customer=nobody").data.decode()
    assert "No license matches these filters." in none
    bad = web.get("/?expiring_within=soon").data.decode()
    assert "expiring" in bad.lower() or "duration" in bad.lower()
    details = web.get(f"/licenses/{theirs}").data.decode()
    assert theirs in details and "<script>" not in details
    shown = licsign.license_details(vendor.ws, mine[0], now=vendor.now)
    page = web.get(f"/licenses/{mine[0]}").data.decode()
    assert shown.status in page and "Lifecycle" in page and "Usage rules" in page
    assert shown.lifecycle is not None and str(shown.lifecycle.to_json()["created"]) in page
    assert web.get("/licenses/L-NONE-NONE-NONE").status_code == 404


def test_the_list_pages(vendor: Vendor, monkeypatch: pytest.MonkeyPatch) -> None:
    import licsign.web as web_module

    monkeypatch.setattr(web_module, "PAGE_SIZE", 2)
    ids = [vendor.issue("perpetual").id for _ in range(3)]
    web, _ = signed_in(vendor)
    first = web.get("/").data.decode()
    assert "Next page" in first
    after = first.split("after=")[1].split('"')[0].split("&")[0]
    second = web.get(f"/?after={after}").data.decode()
    assert "Next page" not in second
    assert sorted(i for i in ids if i in first or i in second) == sorted(ids)


def test_only_loopback_addresses() -> None:
    assert check_loopback("127.0.0.1") == "127.0.0.1"
    assert check_loopback("::1") == "::1" and check_loopback("localhost") == "127.0.0.1"
    for host in ("0.0.0.0", "192.168.1.10", "example.com", "::"):
        with pytest.raises(ValueError, match="loopback"):
            check_loopback(host)


def test_serve_refuses_a_public_address_in_one_line(vendor: Vendor) -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("licsign")), "--home", vendor.home, "serve",
         "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "loopback" in proc.stderr and "Traceback" not in proc.stderr


def test_the_cli_does_not_load_flask() -> None:
    code = "import sys, licsign.cli; assert 'flask' not in sys.modules, 'flask loaded'"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_serve_really_serves_on_loopback(vendor: Vendor) -> None:
    """The real server: it prints one URL, the link signs in (a cookie), the list answers."""
    import http.cookiejar
    import urllib.request

    lid = vendor.issue("perpetual").id
    vendor.close()  # the server opens the workspace itself
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("licsign")), "--home", vendor.home, "serve",
         "--port", "0", "--read-only"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(2)]
        url = lines[1].split("Open: ")[1].strip()
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(url, timeout=30) as page:
            body = page.read().decode()
        assert lid in body and [c.name for c in jar] == ["licsign_session"]
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- step 2: the actions, each through the CLI's service, each a POST with the CSRF token -------


def writable(vendor: Vendor):  # type: ignore[no-untyped-def]
    sessions = Sessions()
    app = create_app(lambda: vendor.ws, read_only=False, sessions=sessions,
                     now=lambda: vendor.now, passphrase=lambda: PW)  # fmt: skip
    web = app.test_client()
    web.get(f"/?token={sessions.token}")
    return web, next(iter(sessions.open.values()))


def test_download_renew_and_revoke_change_the_ledger_as_the_cli_does(vendor: Vendor) -> None:
    lic = vendor.issue("subscription")
    web, csrf = writable(vendor)
    downloaded = web.get(f"/licenses/{lic.id}/download")
    assert downloaded.data == lic.armored
    assert "attachment" in downloaded.headers["Content-Disposition"]
    page = web.get(f"/licenses/{lic.id}").data.decode()
    assert f'name="csrf" value="{csrf}"' in page and "Renew" in page
    renewed = web.post(f"/licenses/{lic.id}/renew", data={"csrf": csrf, "extend": "1y"})
    assert renewed.status_code == 303
    assert licsign.license_details(vendor.ws, lic.id, now=vendor.now).version == 2
    bad = web.post(f"/licenses/{lic.id}/renew", data={"csrf": csrf, "extend": "soon"})
    assert bad.status_code == 400
    web.post(f"/licenses/{lic.id}/revoke", data={"csrf": csrf, "reason": "<b>chargeback</b>"})
    assert licsign.license_details(vendor.ws, lic.id, now=vendor.now).status == "revoked"
    again = web.post(f"/licenses/{lic.id}/revoke", data={"csrf": csrf})
    assert again.status_code == 400 and b"revoked already" in again.data
    assert b"<b>" not in web.get(f"/licenses/{lic.id}").data  # escaped in the history too


def test_device_reset_shows_its_cost_then_resets(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=1, max_transfers=2)
    vendor.machine("m").activate(lic)
    device = vendor.open_activations(lic.id)[0]["device_id"]
    web, csrf = writable(vendor)
    confirm = web.get(f"/licenses/{lic.id}/devices/{device}/reset").data.decode()
    assert "counts as a transfer" in confirm and "0 used of 2" in confirm
    done = web.post(f"/licenses/{lic.id}/devices/{device}/reset", data={"csrf": csrf})
    assert done.status_code == 303 and vendor.open_seats(lic.id) == 0


def test_assign_shows_the_code_once_and_orders_take_managers(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_users=2)
    web, csrf = writable(vendor)
    shown = web.post(f"/licenses/{lic.id}/users",
                     data={"csrf": csrf, "email": "ann@globex.example"}).data.decode()  # fmt: skip
    code = licsign.license_users(vendor.ws, lic.id, now=vendor.now)[0]
    assert code.email == "ann@globex.example" and "one-time activation code" in shown
    twice = web.post(f"/licenses/{lic.id}/users", data={"csrf": csrf, "email": "ann@globex.example"})
    assert twice.status_code == 400  # assigned already: the service's one line
    licsign.add_order(vendor.ws, "PO-1", customer=CUSTOMER, now=vendor.now)
    web.post("/orders/PO-1/managers", data={"csrf": csrf, "email": "boss@globex.example"})
    assert [m.email for m in licsign.managers(vendor.ws, "PO-1")] == ["boss@globex.example"]
    assert "boss@globex.example" in web.get("/orders/PO-1").data.decode()
    assert "PO-1" in web.get("/orders").data.decode()
    web.post("/orders/PO-1/managers/remove", data={"csrf": csrf, "email": "boss@globex.example"})
    assert licsign.managers(vendor.ws, "PO-1") == []
    keys_page = web.get("/keys").data.decode()
    assert "issuing" in keys_page and "root" in keys_page
    assert web.get("/keys/root.pem").data.startswith(b"-----BEGIN PUBLIC KEY-----")


# --- step 3: the activation desk -------------------------------------------------------------------


def test_the_desk_answers_requests_frees_seats_and_records_reports(vendor: Vendor) -> None:
    import io

    lic = vendor.issue("consumption", counters={"exports": (5, 0)}, max_devices=2)
    a, b = vendor.machine("a"), vendor.machine("b")
    a.import_license(lic)
    b.import_license(lic)
    web, csrf = writable(vendor)
    files = [(io.BytesIO(a.request()), "a.txt"), (io.BytesIO(b"garbage"), "junk.bin")]
    page = web.post("/desk", data={"csrf": csrf, "files": files, "pasted": b.request().decode()},
                    content_type="multipart/form-data").data.decode()  # fmt: skip
    assert page.count("granted for device") == 2 and "refused" in page
    links = [part.split('"')[0] for part in page.split('href="/desk/responses/')[1:]]
    assert len(links) == 2 and vendor.open_seats(lic.id) == 2
    a.install(web.get(f"/desk/responses/{links[0]}").data)
    b.install(web.get(f"/desk/responses/{links[1]}").data)
    checked = a.check()
    assert checked.activation is not None
    report = a.store.usage_report(now=vendor.now)
    receipt = b.deactivate()
    page = web.post("/desk", data={"csrf": csrf, "files": [(io.BytesIO(report), "u.txt"),
                                                            (io.BytesIO(receipt), "r.txt")]},
                    content_type="multipart/form-data").data.decode()  # fmt: skip
    assert "usage report 1 recorded" in page and "freed the seat" in page
    assert vendor.open_seats(lic.id) == 1 and len(vendor.ws.ledger.usage_reports(lic.id)) == 1
    assert web.post("/desk", data={"csrf": csrf}).status_code == 400  # nothing given
    huge = [(io.BytesIO(b"x" * 14_000_000), "huge.txt")]
    refused = web.post("/desk", data={"csrf": csrf, "files": huge},
                       content_type="multipart/form-data")  # fmt: skip
    assert refused.status_code == 413
    assert web.get("/desk/responses/nope").status_code == 404


def test_the_issue_form_takes_every_term_and_says_what_is_wrong(vendor: Vendor) -> None:
    web, csrf = writable(vendor)
    form = web.get("/issue").data.decode()
    for name in ("product", "customer", "type", "expires", "counters", "at_expiry", "order"):
        assert f'name="{name}"' in form
    done = web.post("/issue", data={
        "csrf": csrf, "product": PRODUCT, "customer": CUSTOMER, "type": "subscription",
        "duration": "1y", "grace": "14d", "max_devices": "3", "features": "",
    }).data.decode()  # fmt: skip
    assert "Issued license" in done
    lid = done.split("/licenses/")[1].split('"')[0]
    details = licsign.license_details(vendor.ws, lid, now=vendor.now)
    assert details.terms["type"] == "subscription" and details.terms["grace_seconds"] == 14 * 86400
    for bad, message in (({"type": "subscription"}, b"needs a product"),
                         ({"product": PRODUCT, "customer": CUSTOMER, "type": "perpetual",
                           "max_devices": "lots"}, b"max devices"),
                         ({"product": PRODUCT, "customer": CUSTOMER, "type": "subscription"},
                          b"--expires or --duration")):  # fmt: skip
        refused = web.post("/issue", data={"csrf": csrf, **bad})
        assert refused.status_code == 400 and message in refused.data, refused.data


def test_a_revocation_list_is_signed_and_downloaded(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual")
    licsign.revoke_license(vendor.ws, lic.id, now=vendor.now)
    web, csrf = writable(vendor)
    listed = web.post("/keys/revocations", data={"csrf": csrf})
    assert listed.data.startswith(b"-----BEGIN LICSIGN REVOCATION LIST-----")
    assert "revocations-1.txt" in listed.headers["Content-Disposition"]


def test_user_share_amend_and_transfer_actions(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_users=3, max_devices=3)
    vendor.assign(lic, "ann@globex.example")
    web, csrf = writable(vendor)

    def post(path: str, **form: str):  # type: ignore[no-untyped-def]
        return web.post(f"/licenses/{lic.id}{path}", data={"csrf": csrf, **form})

    assert "one-time activation code" in post("/users/new-code",
                                               email="ann@globex.example").data.decode()  # fmt: skip
    post("/users/rename", email="ann@globex.example", name="Ann <b>")
    post("/users/email", email="ann@globex.example", new="ann.b@globex.example")
    users = licsign.license_users(vendor.ws, lic.id, now=vendor.now)
    assert [(u.email, u.name) for u in users] == [("ann.b@globex.example", "Ann <b>")]
    assert "Ann &lt;b&gt;" in web.get(f"/licenses/{lic.id}").data.decode()
    post("/users/max-devices", email="ann.b@globex.example", max_devices="2")
    assert licsign.license_users(vendor.ws, lic.id, now=vendor.now)[0].max_devices == 2
    post("/users/remove", email="ann.b@globex.example")
    assert licsign.license_users(vendor.ws, lic.id, now=vendor.now) == []
    assert post("/users/fly", email="x").status_code == 404
    assert "one-time activation code" in post("/shares", email="sam@other.example").data.decode()
    post("/shares/remove", email="sam@other.example")
    assert licsign.license_shares(vendor.ws, lic.id, now=vendor.now) == []
    post("/amend", max_devices="5")
    details = licsign.license_details(vendor.ws, lic.id, now=vendor.now)
    assert details.version == 2 and details.usage["max_devices"] == 5
    assert post("/amend", max_devices="many").status_code == 400
    licsign.add_customer(vendor.ws, "initech", name="Initech", now=vendor.now)
    post("/transfer", customer="initech")
    assert licsign.license_details(vendor.ws, lic.id, now=vendor.now).terms["customer"] == "initech"
