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
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from processes import PROCESS_TIMEOUT_S, cli_env, query, run_cli
from starlette.testclient import TestClient

from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.web.app import create_app
from langgraph_hitl.web.auth import hash_password

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "invoices"
SECRET = "a test key that is long enough to sign sessions"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORDS = {"ana": "ana's long passphrase", "jun": "jun's long passphrase"}


def cli_with_input(db: str | Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """One `langgraph-hitl --db DB ...` process with `stdin` piped in (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args],
        cwd=REPO,
        env=cli_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
        check=False,
    )


def add_reviewer(db: str | Path, name: str, role: str) -> subprocess.CompletedProcess[str]:
    done = cli_with_input(
        db, "reviewers", "add", name, "--role", role, "--password", stdin=PASSWORDS[name] + "\n"
    )
    assert done.returncode == 0, done
    return done


# -- reviewers' passwords ----------------------------------------------------------------


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


# -- the inbox -----------------------------------------------------------------------------


def invoice(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return {**data, **changes}


@dataclass
class Inbox:
    db: Path | str
    request_id: str
    """The paused large invoice's request (tier high: a manager's)."""

    def client(self) -> TestClient:
        return TestClient(create_app(self.db, secret=SECRET, apply=True))

    def pending(self) -> list[tuple[Any, ...]]:
        return query(self.db, "SELECT request_id, status FROM hitl_requests ORDER BY request_id")

    def payments(self) -> list[tuple[Any, ...]]:
        return query(self.db, "SELECT invoice_id, thread_id, approved_by FROM payments")


@pytest.fixture
def inbox(database: Path | str) -> Inbox:
    """A ledger on each backend with the large invoice paused for a manager, and two
    reviewers with passwords: ana (manager) and jun (junior)."""
    db = database
    status = ReviewDesk(db, base=REPO).run("invoice", invoice("large"), thread_id="inv-large")
    assert status.status == "paused", status
    (request_id,) = status.pending
    with ReviewLedger.open(db) as ledger:
        for name, role in (("ana", "manager"), ("jun", "junior")):
            ledger.add_reviewer(name, role)
            ledger.set_password_hash(name, hash_password(PASSWORDS[name]))
    return Inbox(db, request_id)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str | None = None) -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "name": name, "password": password or PASSWORDS[name]},
        follow_redirects=False,
    )


def signed_in(inbox: Inbox, name: str) -> TestClient:
    client = inbox.client()
    answer = sign_in(client, name)
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return client


def test_anonymous_access_to_every_route_is_refused(inbox: Inbox) -> None:
    client = inbox.client()
    rid = inbox.request_id
    pages = ["/", f"/requests/{rid}"]
    posts = ["/logout", f"/requests/{rid}/approve", f"/requests/{rid}/reject"]
    for path in pages:
        answer = client.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login"), path
    for path in posts:
        answer = client.post(path, data={"reason": "x", "csrf": "x"}, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login"), path
    answer = client.get("/api/queue")
    assert answer.status_code == 401 and answer.json() == {"error": "sign in first"}
    # Every route the app has is one of those, or the sign-in page and its stylesheet.
    app_paths = {route.path for route in client.app.routes}  # type: ignore[attr-defined]
    templated = {path.replace(rid, "{request_id}") for path in [*pages, *posts]}
    assert app_paths == {"/login", "/static", "/api/queue", *templated}
    assert inbox.pending() == [(rid, "pending")]


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


def test_the_session_cookie_is_httponly_strict_and_scoped(inbox: Inbox) -> None:
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
    assert "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
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
        assert "<script" not in html.lower(), path
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
    assert client.post(
        f"/requests/{inbox.request_id}/modify", data={"csrf": token}
    ).status_code in (404, 405)
    assert inbox.pending() == [(inbox.request_id, "pending")]
    assert query(inbox.db, "SELECT COUNT(*) FROM hitl_decisions") == [(0,)]


def test_a_reset_password_ends_the_old_session(inbox: Inbox) -> None:
    client = signed_in(inbox, "ana")
    assert client.get("/", follow_redirects=False).status_code == 200
    with ReviewLedger.open(inbox.db) as ledger:
        ledger.set_password_hash("ana", hash_password("a brand new passphrase"))
    assert client.get("/", follow_redirects=False).status_code == 303
