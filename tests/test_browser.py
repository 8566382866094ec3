"""The portal in a real browser: Playwright driving the system's Chromium (issue 10).

The server runs in this process on a loopback port (so the test KDF floor
applies to its key files), over a ledger with a user-based license, an
activated device, an order with a manager and history, on both ledger
engines. The browser signs in with the printed link, clicks through the
licenses list, the license details, an assignment, a device reset, a
renewal and the orders page, and the ledger changes exactly as the CLI's
services report. Screenshots of the list and the details page are written
to the test's directory (and to docs/screenshots with LICSIGN_SCREENSHOTS=1,
where the README takes them from).

Chromium comes from the system package manager (``make test`` installs it:
Debian's ``chromium`` at /usr/bin/chromium); it is launched headless with
``--no-sandbox`` when run as root and with background networking disabled.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import CUSTOMER, PW, Vendor
from werkzeug.serving import make_server

import licsign
from licsign import Workspace
from licsign.web import Sessions, create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def portal(vendor: Vendor) -> Iterator[tuple[Vendor, str]]:
    """A writable portal over ``vendor``'s ledger, served on a free loopback port from a
    thread with its own workspace (a ledger connection is not shared between threads)."""
    sessions, opened = Sessions(), []

    def workspace() -> Workspace:
        if not opened:
            opened.append(Workspace(vendor.home, vendor.ledger_url))
        return opened[0]

    app = create_app(workspace, read_only=False, sessions=sessions, now=lambda: vendor.now,
                     passphrase=lambda: PW)  # fmt: skip
    server = make_server("127.0.0.1", 0, app, threaded=False)

    def serve() -> None:
        try:
            server.serve_forever()
        finally:  # in the thread that opened it
            for ws in opened:
                ws.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield vendor, f"http://127.0.0.1:{server.server_port}/?token={sessions.token}"
    finally:
        server.shutdown()
        thread.join(timeout=30)


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    args = ["--disable-background-networking", "--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield chromium
        finally:
            chromium.close()


def _story(vendor: Vendor) -> tuple[str, str]:
    """A user-based license activated on one machine, in an order with a manager."""
    licsign.add_order(vendor.ws, "PO-1", customer=CUSTOMER, now=vendor.now)
    licsign.add_manager(vendor.ws, "PO-1", "boss@globex.example", now=vendor.now)
    lic = vendor.issue("subscription", max_users=3, max_devices=2, max_transfers=3,
                       order="PO-1")  # fmt: skip
    code = vendor.assign(lic, "ann@globex.example")
    vendor.machine("lab").activate(lic, user="ann@globex.example", code=code)
    for _ in range(2):
        vendor.issue("perpetual")
    return lic.id, vendor.open_activations(lic.id)[0]["device_id"]


def _shot(page: object, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    assert path.stat().st_size > 1000
    if os.environ.get("LICSIGN_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copy(path, SCREENSHOTS / name)


def test_click_through_the_portal(portal: tuple[Vendor, str], browser: object,
                                  tmp_path: Path) -> None:  # fmt: skip
    vendor, url = portal
    license_id, device = _story(vendor)
    page = browser.new_page(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    page.goto(url)
    assert page.url.endswith("/") and "token=" not in page.url  # the link signed in, once
    rows = page.locator("tbody tr")
    assert rows.count() == 3 and license_id in page.inner_text("table")
    _shot(page, tmp_path, "licenses.png")
    page.fill("input[name=customer]", "nobody")
    page.click("button[type=submit]")
    assert "No license matches these filters." in page.inner_text("main")
    page.goto(url.split("?")[0] + f"licenses/{license_id}")
    details = licsign.license_details(vendor.ws, license_id, now=vendor.now)
    text = page.inner_text("main")
    assert f"License {license_id}" in text and details.status in text
    assert "ann@globex.example" in text and "PO-1" in text and "boss@globex.example" in text
    _shot(page, tmp_path, "license.png")

    page.fill("form[action$='/users'] input[name=email]", "bob@globex.example")
    page.click("text=Assign license user")
    assert "one-time activation code" in page.inner_text("main")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("button[data-copy=code]")  # the one script: copies the code
    page.wait_for_selector("text=Copied")
    shown_code = page.inner_text("#code")
    assert page.evaluate("navigator.clipboard.readText()") == shown_code
    emails = [u.email for u in licsign.license_users(vendor.ws, license_id, now=vendor.now)]
    assert emails == ["ann@globex.example", "bob@globex.example"]

    page.click("text=Back to the license")
    page.click(f"text={device[:12]}")  # the device's details
    assert "First seen" in page.inner_text("main") and "machine-id" in page.inner_text("main")
    page.go_back()
    page.click("text=Reset")
    assert "0 used of 3" in page.inner_text("main")
    page.click("text=Reset the device")
    assert vendor.open_seats(license_id) == 0
    shown = licsign.license_details(vendor.ws, license_id, now=vendor.now)
    assert f"{shown.active_seats} active" in page.inner_text("main")

    page.fill("input[name=extend]", "2y")
    page.click("button:has-text('Renew')")
    assert licsign.license_details(vendor.ws, license_id, now=vendor.now).version == 2
    assert "Version\n2" in page.inner_text("dl") or "Version 2" in page.inner_text("dl")

    # the activation desk: a machine's request file uploaded, the response downloaded
    newcomer = vendor.machine("newcomer")
    newcomer.import_license(licsign.license_details(vendor.ws, license_id, now=vendor.now).armored)
    request_file = tmp_path / "request.txt"
    fresh_code = vendor.new_code(license_id, "ann@globex.example")  # her seat was reset above
    request_file.write_bytes(newcomer.request(user="ann@globex.example", code=fresh_code))
    page.click("header >> text=Activation desk")
    page.set_input_files("input[type=file]", str(request_file))
    page.click("text=Handle them")
    assert "granted for device" in page.inner_text("main")
    with page.expect_download() as download:
        page.click("text=Download the response")
    newcomer.install(Path(download.value.path()).read_bytes())
    assert newcomer.check().activation is not None

    page.click("header >> text=Orders")
    page.click("text=PO-1")
    page.fill("form[action$='/managers'] input[name=email]", "cfo@globex.example")
    page.click("text=Add manager")
    managers = [m.email for m in licsign.managers(vendor.ws, "PO-1")]
    assert managers == ["boss@globex.example", "cfo@globex.example"]
    assert "cfo@globex.example" in page.inner_text("main")
    page.click("header >> text=Keys")
    assert "issuing" in page.inner_text("main") and "active" in page.inner_text("main")
    page.click("header >> text=Issue")
    for name, value in (("product", "acme-cad"), ("customer", CUSTOMER), ("type", "trial"),
                        ("duration", "14d")):  # fmt: skip
        page.fill(f"input[name={name}]", value)
    page.click("button:has-text('Issue')")
    issued = page.inner_text("main").split("Issued license ")[1].split(":")[0].strip()
    assert licsign.license_details(vendor.ws, issued, now=vendor.now).terms["type"] == "trial"
    assert device  # (the reset device, named in the history now)
    assert "device.reset" in page.goto(url.split("?")[0] + f"licenses/{license_id}").text()


def test_without_the_link_the_browser_gets_401(portal: tuple[Vendor, str], browser: object) -> None:
    _, url = portal
    page = browser.new_page()  # type: ignore[attr-defined]
    response = page.goto(url.split("?")[0])
    assert response.status == 401 and "sign in" in page.inner_text("main")
