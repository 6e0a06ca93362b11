"""The console's handlers (Flask's test client) against a real idstitch server: signing in, what
each role sees and may do, privacy in the page, CSRF, escaping, errors and recovery."""

from __future__ import annotations

import json
import socket

import pytest

from idstitch.client import Client
from server.app import create_server
from server.config import load_settings
from tests.console_fixtures import HTML_COOKIE, Shop, console_app, shop, token

__all__ = ["shop"]  # the fixture, imported for pytest


def signed_in(target: str, key: str):  # type: ignore[no-untyped-def]
    c = console_app(target).test_client()
    page = c.get("/signin").get_data(as_text=True)
    r = c.post("/signin", data={"key": key, "csrf_token": token(page)})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    return c


def post(c, path: str, **form: str):  # type: ignore[no-untyped-def]
    page = c.get("/").get_data(as_text=True)
    return c.post(path, data={**form, "csrf_token": token(page)})


def test_a_wrong_key_is_refused_and_no_page_opens_without_signing_in(shop: Shop) -> None:
    c = console_app(shop.target).test_client()
    assert c.get("/").headers["Location"] == "/signin"
    page = c.get("/signin").get_data(as_text=True)
    r = c.post("/signin", data={"key": "idk_not-a-key", "csrf_token": token(page)})
    assert r.status_code == 401 and "not valid" in r.get_data(as_text=True)
    cookie = c.get_cookie("idstitch_console")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"


def test_an_admin_finds_a_person_by_any_spelling_of_an_email_and_sees_graph_profile_and_audit(
    shop: Shop,
) -> None:
    c = signed_in(shop.target, shop.keys["admin"])
    r = post(c, "/find", type="email", value="  Ann@Example.COM ")
    html = r.get_data(as_text=True)
    assert r.status_code == 200  # the page itself: no redirect carrying the identifier in a URL
    assert '<svg id="graph"' in html and "C-1001" in html and "L-77" in html
    assert "ann@example.com" not in html.lower()  # shown display-safe, never as typed
    assert "web.login" in html and "authenticated" in html  # links with rule and evidence class
    assert 'id="profile"' in html and "grills" in html
    assert 'id="changes"' in html and "person_created" in html and "profile_updated" in html
    assert 'id="erase"' in html and 'id="export"' in html
    for endpoint in ("/erasures", "/keys", "/audit"):
        assert c.get(endpoint).status_code == 200


def test_a_profile_reader_sees_no_privacy_controls_and_a_refused_call_names_the_role(shop: Shop) -> None:
    c = signed_in(shop.target, shop.keys["profile_reader"])
    html = post(c, "/find", type="customer_id", value="C-1001").get_data(as_text=True)
    assert 'id="profile"' in html and 'id="identifiers"' in html
    assert 'id="erase"' not in html and 'id="export"' not in html and "Keys" not in html
    r = post(c, "/erase", subject_type="customer_id", subject_value="C-1001", request_id="r-1")
    assert r.status_code == 403 and "needs the role admin or privacy" in r.get_data(as_text=True)
    with Client(shop.target, key=shop.keys["admin"]) as admin:
        assert admin.resolve("customer_id", "C-1001").person.person_id  # nothing was erased


def test_a_privacy_key_exports_sets_consent_and_erases_and_the_audit_log_names_it(shop: Shop) -> None:
    c = signed_in(shop.target, shop.keys["privacy"])
    html = post(c, "/find", type="email", value="ann@example.com").get_data(as_text=True)
    assert 'id="erase"' in html  # a privacy key acts on the identifier without reading who it names
    subject = {"subject_type": "email", "subject_value": "ann@example.com"}
    r = post(c, "/export", **subject)
    assert r.mimetype == "application/json" and "attachment" in r.headers["Content-Disposition"]
    assert "ann" not in r.headers["Content-Disposition"]
    document = json.loads(r.get_data())
    assert document["profile"] and document["events"]
    assert post(c, "/consent", **subject, purpose="personalization", decision="denied").status_code == 200
    r = post(c, "/erase", **subject, request_id="ticket-42")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="receipt"' in html and "ticket-42" in html
    assert "completed" in c.get("/erasures").get_data(as_text=True)
    with Client(shop.target, key=shop.keys["admin"]) as admin:
        me = admin.whoami()
        privacy_id = next(k.key_id for k in admin.list_keys() if k.role == "privacy")
        erase = [a for a in admin.audit() if a.operation == "erase"]
    assert me.role == "admin" and [a.caller for a in erase] == [privacy_id]
    admin_console = signed_in(shop.target, shop.keys["admin"])
    r = post(admin_console, "/find", type="email", value="ann@example.com")
    assert r.status_code == 404 and "identifier not known" in r.get_data(as_text=True)


def test_why_shows_the_path_and_a_detach_confirms_with_sizes_then_splits(shop: Shop) -> None:
    c = signed_in(shop.target, shop.keys["admin"])
    html = post(c, "/why", a_type="cookie", a_value="ck-laptop", b_type="loyalty_number", b_value="L-77")
    text = html.get_data(as_text=True)
    assert "One person" in text and "web.login" in text and "pos." in text
    confirm = post(c, "/detach", type="cookie", value="ck-laptop", mode="new_person").get_data(as_text=True)
    assert 'id="size"' in confirm and "identifiers and" in confirm
    with Client(shop.target, key=shop.keys["admin"]) as admin:
        before = admin.resolve("customer_id", "C-1001").person.person_id
        assert admin.resolve("cookie", "ck-laptop").person.person_id == before  # nothing yet
    done = post(c, "/detach", type="cookie", value="ck-laptop", mode="new_person", confirmed="yes")
    assert done.status_code == 200 and 'id="detached"' in done.get_data(as_text=True)
    with Client(shop.target, key=shop.keys["admin"]) as admin:
        assert admin.resolve("cookie", "ck-laptop").person.person_id != before


def test_a_forged_post_is_refused_and_changes_nothing(shop: Shop) -> None:
    c = signed_in(shop.target, shop.keys["admin"])
    r = c.post("/erase", data={"subject_type": "customer_id", "subject_value": "C-1001", "request_id": "x"})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    with Client(shop.target, key=shop.keys["admin"]) as admin:
        assert admin.resolve("customer_id", "C-1001").person.person_id


def test_an_identifier_holding_html_is_shown_as_text(shop: Shop) -> None:
    c = signed_in(shop.target, shop.keys["admin"])
    html = post(c, "/find", type="cookie", value=HTML_COOKIE).get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


def test_an_unreachable_server_shows_a_clear_page_and_the_console_recovers(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = console_app(f"127.0.0.1:{port}").test_client()
    page = c.get("/signin").get_data(as_text=True)
    r = c.post("/signin", data={"key": "anything", "csrf_token": token(page)})
    assert r.status_code == 503 and "cannot be reached" in r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)
    settings = load_settings(data_dir=tmp_path / "data", port=port)
    running = create_server(settings)
    try:
        key = (settings.data_dir / "admin.key").read_text().strip()
        r = c.post("/signin", data={"key": key, "csrf_token": token(page)})
        assert r.status_code == 302  # the same console, once the server is there
    finally:
        running.stop(0)


@pytest.mark.parametrize("bad", ["/person/" + "p" * 2000])
def test_oversized_input_gets_a_clear_answer(shop: Shop, bad: str) -> None:
    c = signed_in(shop.target, shop.keys["admin"])
    r = c.get(bad)
    assert r.status_code in (400, 404) and "Traceback" not in r.get_data(as_text=True)
