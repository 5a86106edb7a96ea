"""Signing in to the inbox as a team: server-side sessions, one-time reset links, single
sign-on through OpenID Connect, a trusted proxy's header, and the login limiter's memory.

Sessions and reset links run on both backends (the `inbox` fixture: a real SQLite file
and a real PostgreSQL database); the operator's commands run as real `langgraph-hitl`
processes. Single sign-on runs against a small OpenID Connect provider served on
127.0.0.1 in this process (discovery, JWKS, an authorize endpoint that approves a
given user, a token endpoint that checks PKCE and signs an RS256 ID token with
joserfc): no other network. The reset page's script runs in Debian's chromium against a
real `serve` process, whose output is checked for the token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from processes import (
    HANDSHAKE_TIMEOUT_S,
    execute,
    finish,
    one_line_error,
    query,
    read_line,
    run_cli,
    start_cli,
    table_rows,
)
from starlette.testclient import TestClient
from web_support import (
    ADDRESS,
    PASSWORDS,
    SECRET,
    Inbox,
    add_reviewer,
    csrf_of,
    expect,
    invoice,
    pause,
    sign_in,
    signed_in,
)

from langgraph_hitl.ledger import ReviewLedger, simulated_clock
from langgraph_hitl.web.app import SESSION_COOKIE, create_app
from langgraph_hitl.web.auth import (
    LoginLimiter,
    OidcSettings,
    SignInSettings,
    proxy_networks,
)

NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"^(https?://\S+)/reset#(\S+)$", re.MULTILINE)


def client_for(inbox: Inbox, signin: SignInSettings | None = None, **kwargs: Any) -> TestClient:
    """A TestClient on the inbox's ledger with the given sign-in settings."""
    app = create_app(inbox.db, secret=SECRET, apply=True, signin=signin)
    return TestClient(app, **kwargs)


def session_count(db: str | Path, state: str = "open") -> int:
    where = "revoked_at IS NULL" if state == "open" else "revoked_at IS NOT NULL"
    [(count,)] = query(db, f"SELECT COUNT(*) FROM hitl_sessions WHERE {where}")
    return int(count)


# -- server-side sessions --------------------------------------------------------------------


def test_a_copied_cookie_stops_working_when_its_session_signs_out(inbox: Inbox) -> None:
    """The point of keeping sessions on the server: signing out ends the session for
    every copy of the cookie, not only in the browser that signed out."""
    ana = signed_in(inbox, "ana")
    cookie = ana.cookies[SESSION_COOKIE]
    thief = inbox.client()
    thief.cookies.set(SESSION_COOKIE, cookie)
    assert thief.get("/", follow_redirects=False).status_code == 200
    [(method, revoked)] = query(inbox.db, "SELECT method, revoked_at FROM hitl_sessions")
    assert (method, revoked) == ("password", None)
    assert SECRET not in cookie and PASSWORDS["ana"] not in cookie
    queue = ana.get("/")
    assert ana.post("/logout", data={"csrf": csrf_of(queue.text)}).status_code == 200
    assert ana.get("/", follow_redirects=False).status_code == 303
    answer = thief.get("/", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert thief.get("/api/queue").status_code == 401
    assert session_count(inbox.db, "ended") == 1


def test_a_session_ends_when_it_expires_and_sign_in_prunes_expired_rows(inbox: Inbox) -> None:
    ana = signed_in(inbox, "ana")
    assert ana.get("/", follow_redirects=False).status_code == 200
    nine_hours_on = time.time() + 9 * 3600
    with simulated_clock(lambda: nine_hours_on):
        assert ana.get("/", follow_redirects=False).status_code == 303
        assert query(inbox.db, "SELECT COUNT(*) FROM hitl_sessions") == [(1,)]
        signed_in(inbox, "jun")  # a new sign-in prunes the expired row
        assert query(inbox.db, "SELECT reviewer FROM hitl_sessions") == [("jun",)]


def test_the_operator_lists_and_ends_a_reviewers_sessions(inbox: Inbox) -> None:
    first, second = signed_in(inbox, "ana"), signed_in(inbox, "ana")
    jun = signed_in(inbox, "jun")
    listed = run_cli(inbox.db, "reviewers", "sessions", "ana", "--json")
    assert listed.returncode == 0, listed
    rows = json.loads(listed.stdout)
    assert [(r["method"], r["state"]) for r in rows] == [("password", "active")] * 2
    assert all(len(r["id"]) == 12 and r["expires"] for r in rows)
    # The ids shown are not the cookie's session ids, and sign nobody in.
    assert all(r["id"] not in first.cookies[SESSION_COOKIE] for r in rows)
    done = run_cli(inbox.db, "reviewers", "signout", "ana", "--reviewer", "ops")
    assert (done.returncode, done.stdout.strip()) == (0, "ana: 2 sessions ended"), done
    for client in (first, second):
        assert client.get("/", follow_redirects=False).status_code == 303
    assert jun.get("/", follow_redirects=False).status_code == 200
    after = json.loads(run_cli(inbox.db, "reviewers", "sessions", "ana", "--json").stdout)
    assert [r["state"] for r in after] == ["ended", "ended"]
    [(actor, data)] = query(
        inbox.db, "SELECT actor, data FROM hitl_events WHERE kind = 'sessions_ended'"
    )
    assert (actor, json.loads(data)) == ("ops", {"name": "ana", "sessions": 2})
    # Removing a reviewer ends theirs too; an unknown name is one line, exit 2.
    assert run_cli(inbox.db, "reviewers", "remove", "jun").returncode == 0
    assert jun.get("/", follow_redirects=False).status_code == 303
    for command in ("sessions", "signout"):
        line = one_line_error(run_cli(inbox.db, "reviewers", command, "nobody"), 2)
        assert "no reviewer named 'nobody'" in line


def test_a_ledger_from_before_sessions_gains_them_keeping_its_reviewers(inbox: Inbox) -> None:
    """Migration 8 on a ledger at version 7, on either backend: the sessions and reset
    tables appear; reviewers and their passwords stay."""
    from langgraph_hitl.ledger.store.schema import MIGRATIONS

    execute(inbox.db, "DROP TABLE hitl_sessions")
    execute(inbox.db, "DROP TABLE hitl_reset_tokens")
    execute(inbox.db, "DELETE FROM hitl_schema WHERE version = 8")
    with ReviewLedger.open(inbox.db) as ledger:
        versions = ledger.conn.execute("SELECT version FROM hitl_schema").fetchall()
        assert [tuple(v) for v in versions] == [(n,) for n in range(1, len(MIGRATIONS) + 1)]
    assert sign_in(inbox.client(), "ana").status_code == 303
    assert query(inbox.db, "SELECT reviewer, method FROM hitl_sessions") == [("ana", "password")]


# -- one-time reset links ----------------------------------------------------------------------


def reset_link(db: str | Path, name: str, *args: str, under: tuple[str, ...] = ()) -> str:
    done = run_cli(db, "reviewers", "reset", name, *args, under=under)
    assert done.returncode == 0, done
    found = LINK.search(done.stdout)
    assert found, done.stdout
    return found.group(2)


def post_reset(client: TestClient, token: str, password: str = NEW_PASSWORD) -> Any:
    page = client.get("/reset")
    return client.post(
        "/reset",
        data={"csrf": csrf_of(page.text), "token": token, "password": password, "again": password},
    )


def test_a_reset_link_sets_a_password_once(inbox: Inbox) -> None:
    old_session = signed_in(inbox, "ana")
    done = run_cli(inbox.db, "reviewers", "reset", "ana", "--url", "https://inbox.example/")
    found = LINK.search(done.stdout)
    assert done.returncode == 0 and found, done
    assert found.group(1) == "https://inbox.example"
    token = found.group(2)
    assert "works once, until" in done.stdout
    # The page loads its script to read the fragment, and offers the field to paste it.
    client = inbox.client()
    page = client.get("/reset")
    assert '<script src="/static/reset.js" defer></script>' in page.text
    assert 'name="token"' in page.text and "Reset code" in page.text
    # A mismatch or a short password changes nothing and keeps the link usable.
    short = post_reset(client, token, "short")
    assert short.status_code == 400 and "at least 8 characters" in short.text
    assert old_session.get("/", follow_redirects=False).status_code == 200
    answer = post_reset(client, token)
    assert answer.status_code == 200
    assert "The password of <strong>ana</strong> is set" in answer.text
    # Every session signed in with the old password ended; the new one signs in.
    assert old_session.get("/", follow_redirects=False).status_code == 303
    assert sign_in(inbox.client(), "ana", PASSWORDS["ana"]).status_code == 401
    assert sign_in(inbox.client(), "ana", NEW_PASSWORD).status_code == 303
    # Used once: the second time it is refused, and the password stays.
    again = post_reset(inbox.client(), token, "yet another passphrase")
    assert again.status_code == 400 and "not valid" in again.text
    assert sign_in(inbox.client(), "ana", NEW_PASSWORD).status_code == 303
    # The ledger holds its digest only: the token is nowhere in any table.
    assert token not in repr(table_rows(inbox.db))
    [(digest,)] = query(inbox.db, "SELECT token_hash FROM hitl_reset_tokens")
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    kinds = [k for (k,) in query(inbox.db, "SELECT kind FROM hitl_events ORDER BY seq")]
    assert kinds[-2:] == ["reviewer_reset_link", "reviewer_password_set"]


def test_an_expired_or_replaced_reset_link_is_refused(inbox: Inbox) -> None:
    # Made an hour ago (faketime), valid for 30 minutes: expired now.
    expired = reset_link(inbox.db, "jun", under=("faketime", "-f", "-1h"))
    answer = post_reset(inbox.client(), expired)
    assert answer.status_code == 400 and "not valid" in answer.text
    # A new link replaces an unused one; a made-up code is refused like any other.
    first = reset_link(inbox.db, "jun")
    second = reset_link(inbox.db, "jun")
    assert post_reset(inbox.client(), first).status_code == 400
    assert post_reset(inbox.client(), secrets.token_urlsafe(32)).status_code == 400
    assert post_reset(inbox.client(), second).status_code == 200
    assert sign_in(inbox.client(), "jun", NEW_PASSWORD).status_code == 303
    for bad in (("--valid", "0s"), ("--valid", "2d"), ("--url", "inbox.example")):
        one_line_error(run_cli(inbox.db, "reviewers", "reset", "jun", *bad), 2)
    line = one_line_error(run_cli(inbox.db, "reviewers", "reset", "nobody"), 2)
    assert "no reviewer named 'nobody'" in line


def test_a_reset_link_in_a_real_browser_never_sends_its_token(
    tmp_path: Path, new_context: Any
) -> None:
    """The token travels in the fragment: the script puts it in the form, the address bar
    drops it, and neither the server's output nor the ledger ever holds it."""
    db = tmp_path / "hitl.sqlite"
    pause(db, invoice("large"), "inv-large")
    add_reviewer(db, "ana")
    proc = start_cli(db, "serve", "--port", "0", env={"LANGGRAPH_HITL_SECRET": SECRET})
    assert proc.stdout is not None
    try:
        line = read_line(proc.stdout.fileno(), proc, HANDSHAKE_TIMEOUT_S)
        found = ADDRESS.search(line)
        assert found, line
        url = found.group(1)
        token = reset_link(db, "ana", "--url", url)
        page = new_context().new_page()
        page.goto(f"{url}/reset#{token}")
        expect(page).to_have_url(f"{url}/reset")  # the fragment left the address bar
        expect(page.get_by_label("Reset code (the part of your link after #)")).to_be_hidden()
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("New password again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_text("is set, and every session")).to_be_visible()
        page.get_by_role("link", name="Sign in").click()
        page.get_by_label("Name").fill("ana")
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("Signed in as ana")).to_be_visible()
    finally:
        proc.terminate()
        done = finish(proc)
    assert "Traceback" not in done.stderr
    assert token not in done.stdout + done.stderr
    assert token.encode() not in db.read_bytes()


# -- single sign-on: a small OpenID Connect provider on loopback --------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Provider:
    """An OpenID Connect provider that approves `user` at once. `nonce`, `key` and
    `claims` bend what its ID tokens say, for the refusals."""

    url: str = ""
    user: dict[str, Any] = field(default_factory=dict)
    nonce: str | None = None
    key: Any = None
    claims: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    exchanged: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    pytest.importorskip("authlib", reason="single sign-on needs the web extra")
    import uvicorn
    from joserfc import jwt
    from joserfc.jwk import KeySet, RSAKey
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, RedirectResponse
    from starlette.routing import Route

    key = RSAKey.generate_key(2048, parameters={"kid": "good"})
    state = Provider()

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": state.url,
                "authorization_endpoint": f"{state.url}/authorize",
                "token_endpoint": f"{state.url}/token",
                "jwks_uri": f"{state.url}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(KeySet([key]).as_dict(private=False))

    async def authorize(request: Request) -> RedirectResponse:
        asked = request.query_params
        assert asked["response_type"] == "code" and asked["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        state.codes[code] = dict(asked)
        back = urlencode({"code": code, "state": asked["state"]})
        return RedirectResponse(f"{asked['redirect_uri']}?{back}", status_code=302)

    async def token(request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        state.exchanged.append(form)
        asked = state.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        if (
            asked is None
            or form.get("redirect_uri") != asked["redirect_uri"]
            or b64(hashlib.sha256(verifier.encode()).digest()) != asked["code_challenge"]
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {
            "iss": state.url,
            "sub": "user-1",
            "aud": asked["client_id"],
            "iat": now,
            "exp": now + 300,
            "nonce": state.nonce or asked["nonce"],
            **state.user,
            **state.claims,
        }
        signer = state.key or key
        id_token = jwt.encode({"alg": "RS256", "kid": signer.kid}, claims, signer)
        return JSONResponse(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )

    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
        ]
    )
    # Bound and listening before the server thread starts: no waiting for it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    state.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@pytest.fixture
def idp(provider: Provider) -> Iterator[Provider]:
    """The provider, approving ana, with nothing bent."""
    provider.user = {"preferred_username": "ana", "email": "ana@example.com"}
    provider.nonce, provider.key, provider.claims = None, None, {}
    provider.exchanged.clear()
    yield provider


def sso_client(inbox: Inbox, idp: Provider, claim: str = "preferred_username") -> TestClient:
    settings = OidcSettings(
        issuer=idp.url, client_id="hitl-inbox", client_secret="s3cret-of-the-client", claim=claim
    )
    return client_for(inbox, SignInSettings(oidc=settings))


def sso(client: TestClient, *, tamper: str | None = None) -> Any:
    """Through the whole flow, as a browser does: the inbox sends it to the provider, the
    provider (approving at once) back to the callback."""
    import httpx

    start = client.get("/login/oidc", follow_redirects=False)
    assert start.status_code == 302, start.text
    to_provider = start.headers["location"]
    assert to_provider.startswith(f"{client.app.state.oidc.settings.issuer}/authorize?")  # type: ignore[attr-defined]
    back = httpx.get(to_provider, follow_redirects=False).headers["location"]
    parts = urlsplit(back)
    assert parts.path == "/login/oidc/callback"
    query_string = parts.query
    if tamper == "state":
        asked = parse_qs(parts.query)
        query_string = urlencode({"code": asked["code"][0], "state": "forged-state"})
    return client.get(f"{parts.path}?{query_string}", follow_redirects=False)


def test_single_sign_on_signs_a_registered_reviewer_in(inbox: Inbox, idp: Provider) -> None:
    client = sso_client(inbox, idp)
    assert "Sign in with single sign-on" in client.get("/login").text
    answer = sso(client)
    assert answer.status_code == 200 and "Signed in as <strong>ana</strong>" in answer.text
    # PKCE: the token request proved the verifier behind the challenge; the secret
    # went to the provider, never to the browser.
    [exchange] = idp.exchanged
    assert exchange["code_verifier"] and "s3cret-of-the-client" not in answer.text
    assert f'href="/requests/{inbox.request_id}"' in client.get("/").text
    assert query(inbox.db, "SELECT reviewer, method FROM hitl_sessions") == [("ana", "oidc")]
    # A decision is recorded for the reviewer the provider named.
    page = client.get(f"/requests/{inbox.request_id}")
    client.post(f"/requests/{inbox.request_id}/approve", data={"csrf": csrf_of(page.text)})
    assert query(inbox.db, "SELECT reviewer FROM hitl_decisions") == [("ana",)]


@pytest.mark.parametrize("bent", ["nonce", "signature", "state", "issuer", "unverified email"])
def test_single_sign_on_refuses_a_bent_flow(
    inbox: Inbox, idp: Provider, bent: str, caplog: pytest.LogCaptureFixture
) -> None:
    from joserfc.jwk import RSAKey

    claim = "preferred_username"
    if bent == "nonce":
        idp.nonce = "a nonce from another flow"
    elif bent == "signature":  # signed by a key the provider's JWKS does not hold
        idp.key = RSAKey.generate_key(2048, parameters={"kid": "good"})
    elif bent == "issuer":
        idp.claims = {"iss": "https://evil.example"}
    elif bent == "unverified email":
        idp.user = {"email": "ana", "email_verified": False}
        claim = "email"
    client = sso_client(inbox, idp, claim)
    with caplog.at_level(logging.WARNING, logger="langgraph_hitl.web"):
        answer = sso(client, tamper="state" if bent == "state" else None)
    assert answer.status_code in (401, 403), answer.text
    assert "single sign-on failed" in answer.text or "not verified" in answer.text
    assert "refused" in caplog.text
    assert client.get("/", follow_redirects=False).status_code == 303
    assert query(inbox.db, "SELECT COUNT(*) FROM hitl_sessions") == [(0,)]


def test_single_sign_on_refuses_a_name_the_ledger_does_not_know(
    inbox: Inbox, idp: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    idp.user = {"preferred_username": "<script>alert(1)</script>mallory"}
    client = sso_client(inbox, idp)
    with caplog.at_level(logging.WARNING, logger="langgraph_hitl.web"):
        answer = sso(client)
    assert answer.status_code == 403
    assert "&lt;script&gt;alert(1)&lt;/script&gt;mallory is not a reviewer" in answer.text
    assert "<script>alert" not in answer.text
    assert "not a reviewer of this inbox" in caplog.text
    assert client.get("/", follow_redirects=False).status_code == 303
    # A flow started in another browser does not finish in this one (no flow cookie).
    other = sso_client(inbox, idp)
    start = other.get("/login/oidc", follow_redirects=False)
    import httpx

    back = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]
    assert client.get(urlsplit(back).path + "?" + urlsplit(back).query).status_code == 401


# -- a trusted proxy's header ------------------------------------------------------------------


PROXY = SignInSettings(
    proxy_header="X-Forwarded-User", trusted_proxies=proxy_networks(["10.0.0.5"])
)


def test_the_proxy_header_is_believed_only_when_asked_and_only_from_the_proxy(
    inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    claim = {"X-Forwarded-User": "ana"}
    # Off by default: the header is nobody's word, even from the proxy's address.
    default = client_for(inbox, client=("10.0.0.5", 40000))
    assert default.get("/", headers=claim, follow_redirects=False).status_code == 303
    # On, from an address that is not the proxy's: ignored.
    stranger = client_for(inbox, PROXY, client=("10.0.0.9", 40000))
    assert stranger.get("/", headers=claim, follow_redirects=False).status_code == 303
    assert stranger.get("/api/queue", headers=claim).status_code == 401
    # From the proxy: ana is signed in, with a session of her own for the forms.
    proxy = client_for(inbox, PROXY, client=("10.0.0.5", 40000))
    queue = proxy.get("/", headers=claim, follow_redirects=False)
    assert queue.status_code == 200 and "Signed in as <strong>ana</strong>" in queue.text
    assert f'href="/requests/{inbox.request_id}"' in queue.text
    assert query(inbox.db, "SELECT reviewer, method FROM hitl_sessions") == [("ana", "proxy")]
    assert proxy.get("/", headers=claim).status_code == 200  # the same session, reused
    assert session_count(inbox.db) == 1
    # Another name from the proxy is another reviewer's session; a junior sees no invoice.
    jun = proxy.get("/", headers={"X-Forwarded-User": "jun"})
    assert "Signed in as <strong>jun</strong>" in jun.text and inbox.request_id not in jun.text
    # A name the ledger does not know is refused, and logged.
    with caplog.at_level(logging.WARNING, logger="langgraph_hitl.web"):
        unknown = proxy.get("/", headers={"X-Forwarded-User": "mallory"})
    assert unknown.status_code == 403 and "mallory is not a reviewer" in unknown.text
    assert "mallory" in caplog.text


def test_serve_refuses_half_set_sign_in_options(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    add_reviewer(db, "ana")
    for args, said in (
        (("--trust-proxy-header", "X-Forwarded-User"), "--trusted-proxy"),
        (("--trusted-proxy", "10.0.0.5"), "--trust-proxy-header"),
        (("--trust-proxy-header", "X-User", "--trusted-proxy", "ten"), "bad --trusted-proxy"),
        (("--oidc-issuer", "https://id.example"), "--oidc-client-id"),
        (("--oidc-issuer", "id.example", "--oidc-client-id", "x"), "must be a URL"),
    ):
        done = run_cli(db, "serve", "--port", "0", *args, env={"LANGGRAPH_HITL_SECRET": SECRET})
        assert said in one_line_error(done, 2), args


# -- the login limiter's memory ------------------------------------------------------------------


def test_the_login_limiter_stays_bounded_under_a_spray_of_names() -> None:
    now = [0.0]
    limiter = LoginLimiter(limit=5, window=60, clock=lambda: now[0], max_entries=100)
    for _ in range(5):
        limiter.fail("ana", "10.0.0.1")
    for n in range(10_000):
        limiter.fail(f"made-up-{n}", "10.0.0.66")
    assert len(limiter) == 100
    # Stale entries go first: once the window passed, one new failure prunes them all.
    now[0] = 61.0
    limiter.fail("someone", "10.0.0.2")
    assert len(limiter) == 1
    # Within the window and under the bound, a count is kept and still blocks.
    for _ in range(5):
        limiter.fail("ana", "10.0.0.1")
    for n in range(50):
        limiter.fail(f"more-{n}", "10.0.0.66")
    assert limiter.blocked("ana", "10.0.0.1") and len(limiter) == 52
