"""The browser inbox (`langgraph-hitl serve`): reviewers' passwords, sign-in, the queue,
deciding through the forms, and what keeps it safe.

The app runs in Starlette's TestClient (httpx, no network) on a real SQLite file and a
real PostgreSQL database (the `database` fixture); the invoice graph is paused for real
by `ReviewDesk.run`, and reviewers get their passwords through `langgraph-hitl reviewers
add --password` with the password piped on standard input, as a script would. Reading a
SQLite file's bytes for the password stays on SQLite.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from processes import query, run_cli
from web_support import (
    PASSWORDS,
    REPO,
    SECRET,
    Inbox,
    add_reviewer,
    cli_with_input,
    csrf_of,
    invoice,
    sign_in,
    signed_in,
)

from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.web.auth import hash_password


def test_a_piped_password_is_stored_as_an_argon2_hash_only(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    done = add_reviewer(db, "ana", "manager")
    assert "ana: password set" in done.stdout
    assert PASSWORDS["ana"] not in done.stdout + done.stderr
    [(stored,)] = query(db, "SELECT password_hash FROM hitl_reviewers WHERE name = 'ana'")
    assert stored.startswith("$argon2id$")
    # Nowhere in the file: not in the reviewers' table, not in the events.
    assert PASSWORDS["ana"].encode() not in db.read_bytes()
    kinds = [k for (k,) in query(db, "SELECT kind FROM hitl_events ORDER BY seq")]
    assert kinds == ["reviewer_added", "reviewer_password_set"]
    [(data,)] = query(db, "SELECT data FROM hitl_events WHERE kind = 'reviewer_password_set'")
    assert json.loads(data) == {"name": "ana"}


def test_a_short_or_missing_password_is_refused_and_changes_nothing(database: Path | str) -> None:
    db = database
    add_reviewer(db, "ana", "manager")
    before = query(db, "SELECT name, role, password_hash FROM hitl_reviewers")
    for given in ("short\n", ""):
        done = cli_with_input(
            db, "reviewers", "add", "ana", "--role", "manager", "--password", stdin=given
        )
        assert done.returncode == 2, done
        [line] = done.stderr.splitlines()
        assert line.startswith("error: ") and "password" in line
    assert query(db, "SELECT name, role, password_hash FROM hitl_reviewers") == before
    # Without --password, a role change keeps the password.
    assert run_cli(db, "reviewers", "add", "ana", "--role", "senior").returncode == 0
    [(stored,)] = query(db, "SELECT password_hash FROM hitl_reviewers WHERE name = 'ana'")
    assert stored == before[0][2]


def test_anonymous_access_to_every_route_is_refused(inbox: Inbox) -> None:
    """Every route the app has, found from the app itself (a route added later is covered
    without editing this test): pages redirect to /login, JSON answers 401, a POST
    changes nothing. Only the sign-in pages and the static assets are open."""
    from starlette.routing import Mount, Route

    from langgraph_hitl.web.signin import PUBLIC

    client = inbox.client()
    rid = inbox.request_id
    checked = 0
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            assert route.path == "/static", route.path
            continue
        assert isinstance(route, Route)
        if route.path in PUBLIC:
            continue
        path = re.sub(r"\{[a-z_]+\}", rid, route.path)
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            answer = client.request(
                method,
                path,
                data={"reason": "x", "csrf": "x"} if method == "POST" else None,
                follow_redirects=False,
            )
            if route.path.startswith("/api/"):
                assert answer.status_code == 401, (method, path)
                assert answer.json() == {"error": "sign in first"}
            else:
                assert (answer.status_code, answer.headers["location"]) == (303, "/login"), (
                    method,
                    path,
                )
            checked += 1
    assert checked >= 6
    assert inbox.pending() == [(rid, "pending")]
    assert query(inbox.db, "SELECT COUNT(*) FROM hitl_decisions") == [(0,)]


def test_wrong_passwords_fail_and_the_sixth_failure_is_rate_limited(inbox: Inbox) -> None:
    client = inbox.client()
    for _ in range(5):
        answer = sign_in(client, "ana", "not her password")
        assert answer.status_code == 401 and "Wrong name or password" in answer.text
        assert client.get("/", follow_redirects=False).status_code == 303
    answer = sign_in(client, "ana", "not her password")
    assert answer.status_code == 429 and "Too many failed sign-ins" in answer.text
    # Limited means limited: even the right password is not checked now.
    assert sign_in(client, "ana").status_code == 429
    # Another name from the same address is not: the limit is per name and address.
    assert sign_in(client, "jun").status_code == 303
    # An unknown name fails like a wrong password.
    assert sign_in(inbox.client(), "nobody", "whatever it is").status_code == 401


def test_a_manager_approves_the_paused_invoice_and_it_is_paid_once(inbox: Inbox) -> None:
    client = signed_in(inbox, "ana")
    queue = client.get("/")
    assert queue.status_code == 200
    assert f'href="/requests/{inbox.request_id}"' in queue.text
    assert client.get("/api/queue").json()[0]["request_id"] == inbox.request_id
    page = client.get(f"/requests/{inbox.request_id}")
    assert page.status_code == 200
    for shown in ("pay_invoice", "Initech LLC", "52000.0", "high", "Approve", "Reject"):
        assert shown in page.text, shown
    # Opening it is noted, as the CLI's `show` notes it: time-to-correct starts here.
    opened = query(
        inbox.db,
        "SELECT actor FROM hitl_events WHERE kind = 'shown' AND request_id = ?",
        inbox.request_id,
    )
    assert opened == [("ana",)]
    [(opened_at,)] = query(
        inbox.db, "SELECT opened_at FROM hitl_requests WHERE request_id = ?", inbox.request_id
    )
    assert opened_at is not None
    assert f'href="/audit/requests/{inbox.request_id}"' in page.text
    answer = client.post(
        f"/requests/{inbox.request_id}/approve",
        # The form names another reviewer: ignored, the session's name is recorded.
        data={"csrf": csrf_of(page.text), "reviewer": "mallory", "comment": "checked the PO"},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/")
    after = client.get("/")
    assert f"{inbox.request_id}: approve recorded; thread inv-large: done (paid)" in after.text
    assert inbox.pending() == [(inbox.request_id, "applied")]
    assert inbox.payments() == [("INV-1003", "inv-large", "ana")]
    [(reviewer,)] = query(inbox.db, "SELECT reviewer FROM hitl_decisions")
    assert reviewer == "ana"
    # Approving again changes nothing: the request left the queue, the desk refuses.
    again = client.post(f"/requests/{inbox.request_id}/approve", data={"csrf": csrf_of(after.text)})
    assert again.status_code == 409
    assert inbox.payments() == [("INV-1003", "inv-large", "ana")]


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(inbox: Inbox) -> None:
    client = signed_in(inbox, "ana")
    url = f"/requests/{inbox.request_id}/approve"
    for data in ({}, {"csrf": ""}, {"csrf": "a-token-from-another-site"}):
        answer = client.post(url, data=data)
        assert answer.status_code == 403, data
        assert "did not come from your inbox" in answer.text
    # A body that is not a form at all is refused the same way.
    assert (
        client.post(
            url, content=b"\xff\x00", headers={"content-type": "multipart/form-data; boundary=x"}
        ).status_code
        == 403
    )
    # A sign-in form without its token is refused too (login CSRF).
    fresh = inbox.client()
    assert (
        fresh.post("/login", data={"name": "ana", "password": PASSWORDS["ana"]}).status_code == 403
    )
    assert inbox.pending() == [(inbox.request_id, "pending")]
    assert query(inbox.db, "SELECT COUNT(*) FROM hitl_decisions") == [(0,)]


def test_a_junior_neither_sees_nor_decides_a_managers_request(inbox: Inbox) -> None:
    client = signed_in(inbox, "jun")
    queue = client.get("/")
    assert inbox.request_id not in queue.text and "Waiting for you: 0" in queue.text
    assert client.get("/api/queue").json() == []
    assert client.get(f"/requests/{inbox.request_id}").status_code == 404
    token = csrf_of(queue.text)
    answer = client.post(f"/requests/{inbox.request_id}/approve", data={"csrf": token})
    assert answer.status_code == 403 and "jun" in answer.text
    answer = client.post(
        f"/requests/{inbox.request_id}/reject", data={"csrf": token, "reason": "no"}
    )
    assert answer.status_code == 403
    assert inbox.pending() == [(inbox.request_id, "pending")]
    assert inbox.payments() == []
    refused = query(
        inbox.db,
        "SELECT actor FROM hitl_events WHERE kind = 'refused' AND request_id = ?",
        inbox.request_id,
    )
    assert refused == [("jun",), ("jun",)]


def test_the_session_cookie_is_httponly_samesite_and_scoped(inbox: Inbox) -> None:
    client = inbox.client()
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "name": "ana", "password": PASSWORDS["ana"]},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    assert SECRET not in cookie and PASSWORDS["ana"] not in cookie
    # No secret in any URL: the redirect and every link and form target are plain paths.
    assert answer.headers["location"] == "/"
    queue = client.get("/")
    targets = re.findall(r'(?:href|action)="([^"]*)"', queue.text)
    assert targets and all("csrf" not in t and "token" not in t and "?" not in t for t in targets)
    for name in ("content-security-policy", "x-frame-options", "x-content-type-options"):
        assert name in queue.headers
    assert queue.headers["content-security-policy"].startswith("default-src 'self'")
    assert queue.headers["x-frame-options"] == "DENY"
    assert queue.headers["referrer-policy"] == "no-referrer"
    # Signing out ends the session.
    assert client.post("/logout", data={"csrf": csrf_of(queue.text)}).status_code == 200
    assert client.get("/", follow_redirects=False).status_code == 303


def test_markup_and_links_in_a_request_render_as_text(inbox: Inbox) -> None:
    evil = invoice(
        "large",
        invoice_id="INV-666",
        vendor="<script>alert(1)</script> Evil Ltd",
        po_number="javascript:alert(1)",
    )
    status = ReviewDesk(inbox.db, base=REPO).run("invoice", evil, thread_id="inv-evil")
    (request_id,) = status.pending
    client = signed_in(inbox, "ana")
    for path in ("/", f"/requests/{request_id}"):
        html = client.get(path).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Evil Ltd" in html, path
        # The only scripts are the inbox's own files: the request's text made none.
        tags = re.findall(r"<script[^>]*>", html.lower())
        assert all(t.startswith('<script src="/static/') for t in tags), (path, tags)
        assert 'href="javascript' not in html.lower(), path
    page = client.get(f"/requests/{request_id}").text
    assert "javascript:alert(1)" in page  # shown, as text


def test_bad_input_gets_a_4xx_page_and_changes_nothing(inbox: Inbox) -> None:
    client = signed_in(inbox, "ana")
    token = csrf_of(client.get("/").text)
    assert client.get("/requests/req_nonexistent").status_code == 404
    assert client.post("/requests/req_nonexistent/approve", data={"csrf": token}).status_code == 404
    url = f"/requests/{inbox.request_id}/reject"
    for data in ({"csrf": token}, {"csrf": token, "reason": "   "}):
        answer = client.post(url, data=data)
        assert answer.status_code == 400 and "needs a reason" in answer.text
    assert client.get("/requests/inv-large").status_code == 404  # a thread id is not a page
    # A modify form without the args' fields changes nothing either.
    assert (
        client.post(f"/requests/{inbox.request_id}/modify", data={"csrf": token}).status_code == 400
    )
    assert inbox.pending() == [(inbox.request_id, "pending")]
    assert query(inbox.db, "SELECT COUNT(*) FROM hitl_decisions") == [(0,)]


def test_a_reset_password_ends_the_old_session(inbox: Inbox) -> None:
    client = signed_in(inbox, "ana")
    assert client.get("/", follow_redirects=False).status_code == 200
    with ReviewLedger.open(inbox.db) as ledger:
        ledger.set_password_hash("ana", hash_password("a brand new passphrase"))
    assert client.get("/", follow_redirects=False).status_code == 303
