"""Signing in and out: a local password, a one-time reset link, single sign-on through
OpenID Connect, or an authenticating reverse proxy's header.

Every way in ends the same: `begin_session` records a server-side session in the ledger
(`hitl_sessions`: whom for, how, until when) and puts its random id in the signed
cookie, replacing anything the cookie held before (a planted cookie carries nothing
over). `Inbox.signed_in` checks the row on every guarded request, so signing out, a new
password, `reviewers signout` or `reviewers remove` ends the session for every copy of
the cookie. Failed password sign-ins count against the login rate limit per name and
address.

Single sign-on keeps its flow's state, nonce and PKCE verifier in a cookie of its own
(`hitl_oidc`: signed, HttpOnly, SameSite=Lax, for the callback path, ten minutes), apart
from the session: starting a flow changes nothing of a session, and a flow finishes only
in the browser that started it, or an attacker's finished flow could sign a victim in as
the attacker.
"""

from __future__ import annotations

import logging
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from langgraph_hitl.errors import BadInputError, UnknownRequestError
from langgraph_hitl.web.auth import (
    MIN_PASSWORD,
    OidcSettings,
    SignInSettings,
    hash_password,
    new_session_id,
    new_token,
    verify_password,
)
from langgraph_hitl.web.inbox import SESSION_SECONDS, Inbox, csrf_ok, guarded, inbox_of

log = logging.getLogger("langgraph_hitl.web")

FLOW_COOKIE = "hitl_oidc"
FLOW_SECONDS = 600
"""How long a single sign-on flow may take, from the inbox to the provider and back."""
CALLBACK = "/login/oidc/callback"


# -- sessions ------------------------------------------------------------------------------


async def begin_session(request: Request, name: str, method: str) -> None:
    """Sign `name` in on this browser: a new server-side session, in a cookie that holds
    nothing from before. `UnknownRequestError` if `name` is not a reviewer."""
    inbox = inbox_of(request)
    old = request.session.get("sid")
    session_id = new_session_id()
    await run_in_threadpool(_begin, inbox, old, session_id, name, method)
    request.session.clear()
    request.session.update(sid=session_id, user=name, csrf=new_token())


def _begin(inbox: Inbox, old: object, session_id: str, name: str, method: str) -> None:
    with inbox.ledger() as ledger:
        if isinstance(old, str):
            ledger.end_session(old)
        ledger.start_session(session_id, name, method, seconds=SESSION_SECONDS)


def _end(inbox: Inbox, session_id: object) -> None:
    if isinstance(session_id, str):
        with inbox.ledger() as ledger:
            ledger.end_session(session_id)


# -- a local password ----------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    inbox = inbox_of(request)
    return inbox.page(request, "login.html", {"name": "", "sso": inbox.signin.oidc is not None})


async def login(request: Request) -> Response:
    inbox = inbox_of(request)
    if not await csrf_ok(request):
        return inbox.error(request, 403, "the sign-in form expired: reload and retry")
    form = await request.form()
    name, password = form.get("name"), form.get("password")
    sso = inbox.signin.oidc is not None
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        return inbox.page(request, "login.html", {"name": "", "failed": True, "sso": sso}, 400)
    address = request.client.host if request.client else "?"
    if inbox.limiter.blocked(name, address):
        context = {"name": name, "limited": True, "sso": sso}
        return inbox.page(request, "login.html", context, status=429)
    found = await run_in_threadpool(_sign_in_record, inbox, name)
    ok = await run_in_threadpool(verify_password, found and found[1], password)
    if not ok or found is None:
        inbox.limiter.fail(name, address)
        return inbox.page(request, "login.html", {"name": name, "failed": True, "sso": sso}, 401)
    inbox.limiter.succeed(name, address)
    try:
        await begin_session(request, name, "password")
    except UnknownRequestError:  # removed between the check and the session
        return inbox.page(request, "login.html", {"name": name, "failed": True, "sso": sso}, 401)
    return RedirectResponse("/", status_code=303)


def _sign_in_record(inbox: Inbox, name: str) -> tuple[str, str] | None:
    with inbox.ledger() as ledger:
        return ledger.sign_in_record(name)


async def logout(request: Request) -> Response:
    await run_in_threadpool(_end, inbox_of(request), request.session.get("sid"))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# -- a one-time reset link -----------------------------------------------------------------


async def reset_page(request: Request) -> Response:
    """The page a reset link opens. The token is in the link's fragment (`/reset#...`),
    which the browser never sends: static/reset.js copies it into the form; without
    JavaScript the reviewer pastes it."""
    return inbox_of(request).page(request, "reset.html", {"min_password": MIN_PASSWORD})


async def reset(request: Request) -> Response:
    inbox = inbox_of(request)
    if not await csrf_ok(request):
        return inbox.error(request, 403, "the reset form expired: reload and retry")
    form = await request.form()
    token, password, again = form.get("token"), form.get("password"), form.get("again")
    context: dict[str, Any] = {"min_password": MIN_PASSWORD}

    def refused(message: str, status: int) -> Response:
        return inbox.page(request, "reset.html", {**context, "problem": message}, status)

    if not isinstance(token, str) or not token.strip():
        return refused("Paste the code from your reset link (the part after #).", 400)
    if not isinstance(password, str) or not isinstance(again, str) or password != again:
        return refused("The two passwords differ.", 400)
    try:
        hashed = await run_in_threadpool(hash_password, password)
    except BadInputError as error:
        return refused(f"{error}.", 400)
    name = await run_in_threadpool(_reset, inbox, token.strip(), hashed)
    if name is None:
        log.warning("a password reset was refused: unknown, used or expired link")
        return refused(
            "This reset link is not valid: it was used already, it expired, or it is"
            " mistyped. Ask for a new one.",
            400,
        )
    log.info("%s set a new password through a reset link", name)
    request.session.clear()
    return inbox.page(request, "reset.html", {**context, "done": name})


def _reset(inbox: Inbox, token: str, hashed: str) -> str | None:
    with inbox.ledger() as ledger:
        return ledger.reset_password(token, hashed)


# -- single sign-on: OpenID Connect -----------------------------------------------------------


class OidcLogin:
    """The inbox's OpenID Connect client (Authlib's Starlette integration), and the
    signed cookie that carries one flow's state from the start to the callback."""

    def __init__(self, settings: OidcSettings, *, secret: str, https_only: bool) -> None:
        from authlib.integrations.starlette_client import OAuth

        self.settings = settings
        self.https_only = https_only
        self.serializer = URLSafeTimedSerializer(secret, salt="hitl-oidc-flow")
        client_kwargs: dict[str, Any] = {
            "scope": "openid profile email",
            "code_challenge_method": "S256",
        }
        if settings.client_secret is None:
            client_kwargs["token_endpoint_auth_method"] = "none"
        oauth = OAuth()
        self.client: Any = oauth.register(
            "idp",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=settings.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs=client_kwargs,
        )

    def redirect_uri(self, request: Request) -> str:
        base = self.settings.public_url or str(request.base_url)
        return base.rstrip("/") + CALLBACK


def _flow_request(request: Request, flow: dict[str, Any]) -> Request:
    """`request` as Authlib's client sees it: with the flow's own state as its session."""
    return Request({**request.scope, "session": flow}, request.receive)


async def oidc_start(request: Request) -> Response:
    inbox = inbox_of(request)
    sso: OidcLogin | None = getattr(request.app.state, "oidc", None)
    if sso is None:
        return inbox.error(request, 404, "single sign-on is not set up on this inbox")
    flow: dict[str, Any] = {}
    try:
        answer = await sso.client.authorize_redirect(
            _flow_request(request, flow), sso.redirect_uri(request)
        )
    except Exception as error:  # the provider's discovery failed: say so, sign nobody in
        log.warning("single sign-on could not start: %s", error)
        return inbox.error(request, 502, "the identity provider cannot be reached: try later")
    if not isinstance(answer, Response):
        return inbox.error(request, 500, "single sign-on could not start")
    answer.set_cookie(
        FLOW_COOKIE,
        sso.serializer.dumps(flow),
        max_age=FLOW_SECONDS,
        path=CALLBACK,
        httponly=True,
        samesite="lax",
        secure=sso.https_only,
    )
    return answer


async def oidc_callback(request: Request) -> Response:
    inbox = inbox_of(request)
    sso: OidcLogin | None = getattr(request.app.state, "oidc", None)
    if sso is None:
        return inbox.error(request, 404, "single sign-on is not set up on this inbox")
    flow: dict[str, Any] = {}
    kept = request.cookies.get(FLOW_COOKIE)
    if kept:
        try:
            flow = sso.serializer.loads(kept, max_age=FLOW_SECONDS)
        except BadSignature:
            flow = {}

    def refused(status: int, message: str) -> Response:
        answer = inbox.error(request, status, message)
        answer.delete_cookie(FLOW_COOKIE, path=CALLBACK)
        return answer

    try:
        token = await sso.client.authorize_access_token(_flow_request(request, flow))
    except Exception as error:  # a refusal at the boundary: bad state, nonce, signature
        # (Authlib and joserfc raise their own classes for each), or the provider failing.
        log.warning("single sign-on refused: %s: %s", type(error).__name__, error)
        return refused(401, "single sign-on failed: start again from the sign-in page")
    claims = token.get("userinfo")
    if not claims:
        log.warning("single sign-on refused: the provider sent no ID token")
        return refused(401, "single sign-on failed: the identity provider sent no ID token")
    claim = sso.settings.claim
    name = claims.get(claim)
    if claim == "email" and claims.get("email_verified") is False:
        log.warning("single sign-on refused: the email %r is not verified", name)
        return refused(403, "your identity provider has not verified that email address")
    if not isinstance(name, str) or not name:
        log.warning("single sign-on refused: the ID token has no %r claim", claim)
        return refused(403, f"your identity provider did not say your {claim}")
    try:
        await begin_session(request, name, "oidc")
    except UnknownRequestError:
        log.warning("single sign-on refused: %r is not a reviewer of this inbox", name)
        return refused(
            403,
            f"{name} is not a reviewer of this inbox: ask its operator to add you"
            " (`langgraph-hitl reviewers add NAME --role ROLE`)",
        )
    log.info("%s signed in through single sign-on", name)
    # A page, not a redirect: the redirect chain began at the provider, another site;
    # the page's own navigation to the queue is same-site, so the new session cookie
    # goes along whatever a browser makes of a cross-site chain.
    answer = inbox.page(request, "signed_in.html", {"reviewer": name})
    answer.delete_cookie(FLOW_COOKIE, path=CALLBACK)
    return answer


# -- a trusted reverse proxy's header --------------------------------------------------------


class ProxySignIn:
    """ASGI middleware (inside the session middleware): on a connection from a trusted
    proxy that sets the header, the header's reviewer is signed in, with a session of
    their own (method `proxy`) for CSRF tokens and sign-out. Off unless `serve` was given
    `--trust-proxy-header`; a header from any other address is ignored."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        inbox = inbox_of(request)
        settings: SignInSettings = inbox.signin
        header = settings.proxy_header
        address = request.client.host if request.client else None
        name = request.headers.get(header) if header else None
        if name is None or not settings.trusted(address) or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        name = name.strip()
        current = await run_in_threadpool(inbox.signed_in, request.session)
        if current != name:
            try:
                if not name:
                    raise UnknownRequestError("an empty name")
                await begin_session(request, name, "proxy")
            except UnknownRequestError:
                log.warning("the proxy's %s header names %r: not a reviewer", header, name)
                answer = inbox.error(
                    request,
                    403,
                    f"{name} is not a reviewer of this inbox: ask its operator to add you",
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


ROUTES: list[BaseRoute] = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", guarded(logout), methods=["POST"]),
    Route("/reset", reset_page, methods=["GET"]),
    Route("/reset", reset, methods=["POST"]),
    Route("/login/oidc", oidc_start, methods=["GET"]),
    Route(CALLBACK, oidc_callback, methods=["GET"], name="oidc_callback"),
]
PUBLIC = {"/login", "/reset", "/login/oidc", CALLBACK}
"""The paths anyone may open: everything else needs a signed-in reviewer."""
