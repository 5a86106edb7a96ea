"""The inbox as a Starlette application: `create_app` puts the route modules together.

Each module (`signin`, `queue`, `deciding`, ...) has a `ROUTES` list of plain endpoints;
all but the sign-in pages are wrapped by `inbox.guarded` (a signed-in reviewer, and a
CSRF token on every POST). The app adds the session cookie and the security headers to
every response, error pages included.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from langgraph_hitl.web import batch, deciding, history, live, metrics, queue, reviews, signin
from langgraph_hitl.web import signin as signin_routes
from langgraph_hitl.web.auth import LoginLimiter, SignInSettings
from langgraph_hitl.web.inbox import HERE, SESSION_SECONDS, Inbox

SESSION_COOKIE = "hitl_session"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

ROUTE_MODULES = (signin, queue, live, deciding, batch, reviews, history, metrics)
"""Every module whose `ROUTES` the app serves."""


class _SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every response, error pages included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    db: str | Path,
    *,
    secret: str,
    apply: bool,
    https_only: bool = False,
    limiter: LoginLimiter | None = None,
    signin: SignInSettings | None = None,
) -> Starlette:
    """The inbox on the ledger at `db`.

    Args:
        db: A SQLite file or a `postgresql://` URL, as `--db` takes.
        secret: The key that signs session cookies (`auth.session_secret`).
        apply: Resume threads in this process (True), or only record decisions for
            `langgraph-hitl worker` to apply (False), as the deployment's `[deciding] apply`.
        https_only: Mark the session cookie Secure (served over TLS).
        limiter: The login rate limit; 5 failures per name and address in 15 minutes.
        signin: Single sign-on and the trusted proxy header, besides passwords.
    """
    routes: list[BaseRoute] = [
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    ]
    for module in ROUTE_MODULES:
        routes.extend(module.ROUTES)
    middleware = [
        Middleware(_SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_SECONDS,
            path="/",
            # Lax, not Strict: a reviewer who follows a link to the inbox from mail or
            # chat arrives signed in (under Strict the cookie stays home, the sign-in
            # page answers with a fresh cookie, and that signs them out). Lax still
            # keeps the cookie off another site's POSTs and fetches; the CSRF token
            # guards every POST besides.
            same_site="lax",
            https_only=https_only,
        ),
        Middleware(signin_routes.ProxySignIn),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.inbox = Inbox(db, apply=apply, limiter=limiter, signin=signin)
    if signin is not None and signin.oidc is not None:
        app.state.oidc = signin_routes.OidcLogin(signin.oidc, secret=secret, https_only=https_only)
    return app
