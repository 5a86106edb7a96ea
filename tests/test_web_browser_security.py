"""The inbox's defences, seen from a real browser (Debian's chromium through Playwright)
against a real `langgraph-hitl serve` process: what an attacker's page, an anonymous
visitor or a password guesser gets, and what the session cookie lets scripts see.

The attacker's pages are served by a second little HTTP server on this machine: one on
another port of the same host (same site, another origin: the browser sends the session
cookie, the CSRF token is what stops the post), one under another host name (another
site: the SameSite=Lax cookie is not sent with its POST). A link to the inbox from
another site, as in mail or chat, still arrives signed in.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from processes import query
from web_support import (
    PASSWORDS,
    SECRET,
    Served,
    browser_sign_in,
    expect,
)


class _Attacker:
    """Pages on another origin: `/` posts a form to the inbox as soon as it loads;
    `/link` is a plain link to the inbox, as in a mail or a chat message."""

    def __init__(self, target: str, inbox: str) -> None:
        self.target = target
        link = f'<!doctype html><title>mail</title><a href="{html.escape(inbox)}">open</a>'
        page = (
            "<!doctype html><title>win a prize</title>"
            f'<form id="f" method="post" action="{html.escape(target)}">'
            '<input name="comment" value="approved by a stranger"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = link.encode() if self.path == "/link" else page
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def attacker(served: Served) -> Iterator[_Attacker]:
    request_page = f"{served.url}/requests/{served.request_id}"
    page = _Attacker(f"{request_page}/approve", request_page)
    try:
        yield page
    finally:
        page.close()


def nothing_decided(served: Served) -> None:
    assert served.statuses() == [(served.request_id, "pending")]
    assert query(served.db, "SELECT COUNT(*) FROM hitl_decisions") == [(0,)]
    assert served.payments() == []


def test_a_cross_origin_form_post_is_refused_and_changes_nothing(
    served: Served, attacker: _Attacker, new_context: Any
) -> None:
    context = new_context()
    page = context.new_page()
    browser_sign_in(page, served, "ana")

    # Same site, another origin (another port): the cookie goes along, the token does not.
    lure = context.new_page()
    lure.goto(f"http://127.0.0.1:{attacker.port}/")
    expect(lure).to_have_url(f"{served.url}/requests/{served.request_id}/approve")
    expect(lure.get_by_role("alert")).to_contain_text("did not come from your inbox")
    nothing_decided(served)

    # Another site (another host name): SameSite=Lax keeps the cookie off its POST, so
    # the post arrives anonymous and is sent to the sign-in page.
    lure.goto(f"http://localhost:{attacker.port}/")
    expect(lure).to_have_url(f"{served.url}/login")
    nothing_decided(served)
    # Ana is still signed in in her own tab: the lure ended nothing.
    page.reload()
    expect(page.get_by_text("Signed in as ana")).to_be_visible()

    # A link to the request from another site (mail, chat) opens it signed in.
    lure.goto(f"http://localhost:{attacker.port}/link")
    lure.get_by_role("link", name="open").click()
    expect(lure).to_have_url(f"{served.url}/requests/{served.request_id}")
    expect(lure.get_by_text("Signed in as ana")).to_be_visible()
    nothing_decided(served)


def test_every_route_is_refused_to_an_anonymous_browser(served: Served, new_context: Any) -> None:
    from starlette.routing import Route

    from langgraph_hitl.web.app import create_app
    from langgraph_hitl.web.signin import PUBLIC

    page = new_context().new_page()
    routes = [
        route
        for route in create_app(served.db, secret=SECRET, apply=False).routes
        if isinstance(route, Route) and route.path not in PUBLIC
    ]
    assert routes
    for route in routes:
        url = served.url + re.sub(r"\{[a-z_]+\}", served.request_id, route.path)
        methods = set(route.methods or ()) - {"HEAD"}
        if "GET" in methods:
            answer = page.goto(url)
            assert answer is not None
            if route.path.startswith("/api/"):
                assert answer.status == 401, url
            else:
                expect(page).to_have_url(f"{served.url}/login")
        if "POST" in methods:
            answer = page.request.post(url, form={"csrf": "guess", "reason": "x"})
            if route.path.startswith("/api/"):
                assert answer.status == 401, url
            else:  # redirected to the sign-in page
                assert (answer.url, answer.status) == (f"{served.url}/login", 200), url
    nothing_decided(served)


def test_the_session_cookie_is_out_of_reach_of_scripts_and_other_sites(
    served: Served, new_context: Any
) -> None:
    context = new_context()
    page = context.new_page()
    browser_sign_in(page, served, "ana")
    [cookie] = context.cookies()
    assert cookie["name"] == "hitl_session"
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/" and cookie["expires"] > 0
    # A script on the page (what an injection would run) cannot read it.
    assert page.evaluate("document.cookie") == ""
    assert PASSWORDS["ana"] not in cookie["value"]


def test_the_sixth_wrong_password_is_turned_away_even_when_right(
    served: Served, new_context: Any
) -> None:
    page = new_context().new_page()
    page.goto(served.url + "/login")
    for _ in range(5):
        page.get_by_label("Name").fill("ana")
        page.get_by_label("Password").fill("not her password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
    page.get_by_label("Name").fill("ana")
    page.get_by_label("Password").fill(PASSWORDS["ana"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    expect(page).to_have_url(served.url + "/login")
    # Another reviewer from the same browser is not locked out.
    page.get_by_label("Name").fill("mia")
    page.get_by_label("Password").fill(PASSWORDS["mia"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as mia")).to_be_visible()
