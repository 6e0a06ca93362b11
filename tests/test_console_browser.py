"""The console in a real browser: the OS's headless Chromium (Debian's chromium package, which
.ci/run installs), driven by Playwright, against the console served by cheroot in front of a real
idstitch server holding the tour's example events. A screenshot of the person page is written to
$IDSTITCH_SCREENSHOTS when that is set (docs/console.png comes from there)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cheroot import wsgi

from idstitch.client import Client
from tests.console_fixtures import HTML_COOKIE, Shop, console_app, shop

__all__ = ["shop"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
"""This machine's network is closed: without these Chromium keeps trying Google's hosts."""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium (.ci/run installs it)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def console(shop: Shop) -> Iterator[str]:
    server = wsgi.Server(("127.0.0.1", 0), console_app(shop.target), numthreads=4)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.bind_addr[1]}"
    server.stop()


def page_as(browser, console: str, key: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(f"{console}/")
    assert page.url.endswith("/signin")
    page.fill("input[name=key]", key)
    page.click("form button.primary")
    page.wait_for_url(f"{console}/")
    return page


def find(page, type_: str, value: str) -> None:  # type: ignore[no-untyped-def]
    page.fill("#find input[name=type]", type_)
    page.fill("#find input[name=value]", value)
    page.click("#find button")
    page.wait_for_load_state()


def test_the_privacy_team_finds_explains_detaches_exports_and_erases(
    browser, console: str, shop: Shop
) -> None:
    page = page_as(browser, console, shop.keys["admin"])
    find(page, "email", "Ann@Example.com")
    assert page.locator("#graph circle").count() >= 5  # cookies, customer id, email, phone app, card
    assert page.locator("#profile").is_visible() and "grills" in page.inner_text("#profile")
    assert "ann@example.com" not in page.content().lower()  # display-safe
    assert "?" not in page.url and "ann" not in page.url.lower()  # never an identifier in a URL
    if os.environ.get("IDSTITCH_SCREENSHOTS"):
        page.screenshot(
            path=str(Path(os.environ["IDSTITCH_SCREENSHOTS"]) / "console-person.png"), full_page=True
        )

    page.click("header a[href='/']")
    page.fill("#why input[name=a_type]", "cookie")
    page.fill("#why input[name=a_value]", "ck-laptop")
    page.fill("#why input[name=b_type]", "loyalty_number")
    page.fill("#why input[name=b_value]", "L-77")
    page.click("#why button")
    assert "One person" in page.inner_text("#explanation") and "web.login" in page.inner_text("#explanation")

    page.click("header a[href='/']")
    page.fill("#detach input[name=type]", "device_id")
    page.fill("#detach input[name=value]", "dev-ann-phone")
    page.click("#detach button")
    assert "identifiers and" in page.inner_text("#size")
    page.click("#confirm")
    assert "Detached" in page.inner_text("#detached")
    with Client(shop.target, key=shop.keys["admin"]) as c:
        assert (
            c.resolve("device_id", "dev-ann-phone").person.person_id
            != c.resolve("customer_id", "C-1001").person.person_id
        )

    page.click("header a[href='/']")
    find(page, "customer_id", "C-1001")
    with page.expect_download() as download:
        page.click("#export")
    document = json.loads(Path(download.value.path()).read_text())
    assert document["profile"] and document["events"]

    page.fill("input[name=request_id]", "ticket-7")
    page.click("#erase")
    assert "ticket-7" in page.inner_text("#receipt")
    page.click("header a[href='/']")
    find(page, "customer_id", "C-1001")
    assert "identifier not known" in page.inner_text("#error")


def test_a_profile_reader_sees_no_erase_control_and_a_forged_post_is_refused(
    browser, console: str, shop: Shop
) -> None:
    page = page_as(browser, console, shop.keys["profile_reader"])
    find(page, "customer_id", "C-1001")
    assert page.locator("#profile").is_visible()
    assert page.locator("#erase").count() == 0 and page.locator("#export").count() == 0
    if os.environ.get("IDSTITCH_SCREENSHOTS"):
        shots = Path(os.environ["IDSTITCH_SCREENSHOTS"])
        page.screenshot(path=str(shots / "console-reader.png"), full_page=False)
    forged = page.request.post(
        f"{console}/erase", form={"subject_type": "customer_id", "subject_value": "C-1001", "request_id": "x"}
    )
    assert forged.status == 400 and "CSRF" in forged.text()


def test_an_identifier_holding_html_is_shown_as_text(browser, console: str, shop: Shop) -> None:
    page = page_as(browser, console, shop.keys["admin"])
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    find(page, "cookie", HTML_COOKIE)
    assert HTML_COOKIE in page.inner_text("#identifiers")  # the text itself, not markup
    assert dialogs == []
