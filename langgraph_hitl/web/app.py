"""The inbox as a Starlette application: sign-in, the queue, a request, approve and reject.

Every route but the sign-in page and the stylesheet is wrapped by `_guarded`: it needs a
signed-in reviewer (pages redirect to /login, JSON answers 401) and, for a POST, the
session's CSRF token in the form. The reviewer a decision is recorded for is the
session's, whatever the form says; the ledger then checks roles, the owner bar and
votes as it does for every decider, and logs a refusal.

Everything shown from a request came from an agent: the templates escape it (Jinja2's
autoescape, and no `|safe` on request data), and text that looks like a link stays text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from langgraph_hitl._time import clock, iso
from langgraph_hitl.errors import (
    BadInputError,
    ConflictError,
    HitlError,
    NotAuthorizedError,
    UnknownRequestError,
)
from langgraph_hitl.ledger import RequestRecord, ReviewLedger
from langgraph_hitl.web.auth import (
    LoginLimiter,
    hash_fingerprint,
    new_token,
    same_token,
    verify_password,
)

HERE = Path(__file__).parent
SESSION_COOKIE = "hitl_session"
SESSION_SECONDS = 8 * 3600
"""How long a sign-in lasts, from the moment of signing in (a working day)."""

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

Endpoint = Callable[[Request], Awaitable[Response]]


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


def _status_of(error: HitlError) -> int:
    if isinstance(error, UnknownRequestError):
        return 404
    if isinstance(error, NotAuthorizedError):
        return 403
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, BadInputError):
        return 400
    return 500


def _shown(value: Any) -> str:
    """An argument's value as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


class Inbox:
    """The inbox on one ledger: its routes, and what they share."""

    def __init__(self, db: str | Path, *, apply: bool, limiter: LoginLimiter | None = None) -> None:
        self.db = db
        self.apply = apply
        self.limiter = limiter or LoginLimiter()
        env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
        self.templates = Jinja2Templates(env=env)

    # -- pieces ------------------------------------------------------------------------

    def ledger(self) -> AbstractContextManager[ReviewLedger]:
        """The ledger for one step of a page: on PostgreSQL a connection from the server
        process's pool, not a new one for every page and every session check."""
        return ReviewLedger.open(self.db, pooled=True)

    def page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        session = request.session
        if "csrf" not in session:
            session["csrf"] = new_token()
        context = {"reviewer": session.get("user"), "csrf": session["csrf"], **context}
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def error(self, request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return self.page(request, "error.html", {"status": status, "message": message}, status)

    def _signed_in(self, session: dict[str, Any]) -> str | None:
        """The session's reviewer, if the session is still good: not expired, and their
        password is the one they signed in with (a reset or a removal ends it)."""
        user, fingerprint, since = session.get("user"), session.get("pw"), session.get("at")
        if not isinstance(user, str) or not isinstance(since, (int, float)):
            return None
        if time.time() - since > SESSION_SECONDS:
            return None
        with self.ledger() as ledger:
            found = ledger.sign_in_record(user)
        if found is None or hash_fingerprint(found[1]) != fingerprint:
            return None
        return user

    def _guarded(self, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            user = await run_in_threadpool(self._signed_in, request.session)
            if user is None:
                request.session.pop("user", None)
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"error": "sign in first"}, status_code=401)
                return RedirectResponse("/login", status_code=303)
            if request.method == "POST" and not await self._csrf_ok(request):
                return self.error(
                    request, 403, "this form did not come from your inbox page: reload and retry"
                )
            request.state.reviewer = user
            return await endpoint(request)

        return guarded

    async def _csrf_ok(self, request: Request) -> bool:
        try:
            form = await request.form()
        except Exception:  # a body that is not a form: refused like a missing token
            return False
        return same_token(request.session.get("csrf"), form.get("csrf"))

    # -- sign-in -----------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        return self.page(request, "login.html", {"name": ""})

    async def login(self, request: Request) -> Response:
        if not await self._csrf_ok(request):
            return self.error(request, 403, "the sign-in form expired: reload and retry")
        form = await request.form()
        name, password = form.get("name"), form.get("password")
        if not isinstance(name, str) or not isinstance(password, str) or not name:
            return self.page(request, "login.html", {"name": "", "failed": True}, 400)
        address = request.client.host if request.client else "?"
        if self.limiter.blocked(name, address):
            return self.page(request, "login.html", {"name": name, "limited": True}, status=429)
        found = await run_in_threadpool(self._sign_in_record, name)
        ok = await run_in_threadpool(verify_password, found and found[1], password)
        if not ok or found is None:
            self.limiter.fail(name, address)
            return self.page(request, "login.html", {"name": name, "failed": True}, 401)
        self.limiter.succeed(name, address)
        # A new session on sign-in: nothing set before it (a planted cookie) carries over.
        request.session.clear()
        request.session.update(
            user=name, pw=hash_fingerprint(found[1]), at=time.time(), csrf=new_token()
        )
        return RedirectResponse("/", status_code=303)

    def _sign_in_record(self, name: str) -> tuple[str, str] | None:
        with self.ledger() as ledger:
            return ledger.sign_in_record(name)

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # -- the queue and a request ---------------------------------------------------------

    def _queue(self, reviewer: str) -> list[RequestRecord]:
        # The ledger's own filter: the reviewer's role is eligible, they do not own the
        # work, they have not voted on it yet; overdue and nearest deadline first.
        with self.ledger() as ledger:
            return ledger.pending(reviewer=reviewer)

    def _row(self, rec: RequestRecord, now: float) -> dict[str, Any]:
        return {
            "request_id": rec.request_id,
            "thread_id": rec.thread_id,
            "gate": rec.gate,
            "action": rec.action_name,
            "summary": rec.summary,
            "tier": rec.tier,
            "confidence": rec.confidence,
            "deadline": iso(rec.deadline),
            "overdue": rec.deadline is not None and rec.deadline < now,
        }

    async def queue(self, request: Request) -> Response:
        records = await run_in_threadpool(self._queue, request.state.reviewer)
        now = clock()
        flash = request.session.pop("flash", None)
        rows = [self._row(rec, now) for rec in records]
        return self.page(request, "queue.html", {"rows": rows, "flash": flash})

    async def api_queue(self, request: Request) -> Response:
        records = await run_in_threadpool(self._queue, request.state.reviewer)
        now = clock()
        return JSONResponse([self._row(rec, now) for rec in records])

    def _mine(self, reviewer: str, request_id: str) -> RequestRecord | None:
        """The request, if it is in this reviewer's queue."""
        with self.ledger() as ledger:
            try:
                rec = ledger.resolve(request_id)
            except HitlError:
                return None
            if rec.request_id != request_id:
                return None  # a thread id: the page is a request's
            mine = ledger.pending(reviewer=reviewer, thread_id=rec.thread_id)
        return rec if any(r.request_id == request_id for r in mine) else None

    async def request_page(self, request: Request) -> Response:
        request_id = request.path_params["request_id"]
        rec = await run_in_threadpool(self._mine, request.state.reviewer, request_id)
        if rec is None:
            return self.error(request, 404, "no request of that id is waiting for you")
        asked = rec.request
        context = {
            "rec": self._row(rec, clock()),
            "args": [(key, _shown(value)) for key, value in rec.action_args.items()],
            "reasons": rec.reasons,
            "asked": asked,
            "allowed": set(asked.allowed_decisions),
            "quorum": rec.quorum,
            "approvals": rec.approvals,
        }
        return self.page(request, "request.html", context)

    # -- deciding ------------------------------------------------------------------------

    async def approve(self, request: Request) -> Response:
        form = await request.form()
        return await self._decide(request, {"type": "approve", "comment": form.get("comment")})

    async def reject(self, request: Request) -> Response:
        form = await request.form()
        reason = form.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            return self.error(request, 400, "a rejection needs a reason")
        return await self._decide(
            request, {"type": "reject", "reason": reason, "comment": form.get("comment")}
        )

    async def _decide(self, request: Request, fields: dict[str, Any]) -> Response:
        from langgraph_hitl.deciding.desk import ReviewDesk
        from langgraph_hitl.models import Decision

        request_id = request.path_params["request_id"]
        comment = fields.get("comment")
        fields["comment"] = comment.strip() or None if isinstance(comment, str) else None
        # The session's reviewer, never one named by the form.
        fields["reviewer"] = request.state.reviewer
        try:
            decision = Decision.model_validate(fields)
        except ValueError:
            return self.error(request, 400, "that decision is not valid")
        try:
            # A desk per decision: it holds a connection while it records and applies.
            outcome = await run_in_threadpool(
                ReviewDesk(self.db).decide, request_id, decision, apply=self.apply
            )
        except HitlError as error:
            return self.error(request, _status_of(error), str(error))
        rec = outcome.request
        said = f"{rec.request_id}: {decision.type} recorded"
        if rec.status == "pending":
            said += f" (approval {len(rec.approvals)} of {rec.quorum})"
        elif outcome.thread is not None:
            result = outcome.thread.values.get("status")
            said += f"; thread {outcome.thread.thread_id}: {outcome.thread.status}"
            said += f" ({result})" if isinstance(result, str) else ""
        elif not outcome.applied:
            said += "; a worker applies it"
        request.session["flash"] = said
        return RedirectResponse("/", status_code=303)


def create_app(
    db: str | Path,
    *,
    secret: str,
    apply: bool,
    https_only: bool = False,
    limiter: LoginLimiter | None = None,
) -> Starlette:
    """The inbox on the ledger at `db`.

    Args:
        db: A SQLite file or a `postgresql://` URL, as `--db` takes.
        secret: The key that signs session cookies (`auth.session_secret`).
        apply: Resume threads in this process (True), or only record decisions for
            `langgraph-hitl worker` to apply (False), as the deployment's `[deciding] apply`.
        https_only: Mark the session cookie Secure (served over TLS).
        limiter: The login rate limit; 5 failures per name and address in 15 minutes.
    """
    inbox = Inbox(db, apply=apply, limiter=limiter)
    guarded = inbox._guarded
    routes = [
        Route("/login", inbox.login_page, methods=["GET"]),
        Route("/login", inbox.login, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        # Everything below needs a signed-in reviewer (and a POST its CSRF token).
        Route("/", guarded(inbox.queue), methods=["GET"]),
        Route("/logout", guarded(inbox.logout), methods=["POST"]),
        Route("/api/queue", guarded(inbox.api_queue), methods=["GET"]),
        Route("/requests/{request_id}", guarded(inbox.request_page), methods=["GET"]),
        Route("/requests/{request_id}/approve", guarded(inbox.approve), methods=["POST"]),
        Route("/requests/{request_id}/reject", guarded(inbox.reject), methods=["POST"]),
    ]
    middleware = [
        Middleware(_SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_SECONDS,
            path="/",
            same_site="strict",
            https_only=https_only,
        ),
    ]
    return Starlette(routes=routes, middleware=middleware)
