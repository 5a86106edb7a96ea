"""What every page of the inbox shares: the ledger, templates, errors, and the guard.

An `Inbox` lives on the Starlette app (`request.app.state.inbox`; `inbox_of(request)`).
Route modules (`signin`, `queue`, `deciding`, ...) hold plain endpoints and a `ROUTES`
list; every endpoint but the sign-in ones is wrapped by `guarded`: it needs a signed-in
reviewer (pages redirect to /login, JSON answers 401) and, for a POST, the session's
CSRF token in the form. What a guarded endpoint acts for is `request.state.reviewer`,
the reviewer the server verified, never a name a form or a URL gives.

Everything shown from a request came from an agent: the templates escape it (Jinja2's
autoescape, and no `|safe` on request data), and text that looks like a link stays text.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from langgraph_hitl._time import iso
from langgraph_hitl.errors import (
    BadInputError,
    ConflictError,
    HitlError,
    NotAuthorizedError,
    UnknownRequestError,
)
from langgraph_hitl.ledger import RequestRecord, ReviewLedger
from langgraph_hitl.web.auth import LoginLimiter, SignInSettings, new_token, same_token

HERE = Path(__file__).parent
SESSION_SECONDS = 8 * 3600
"""How long a sign-in lasts, from the moment of signing in (a working day)."""

Endpoint = Callable[[Request], Awaitable[Response]]


def status_of(error: HitlError) -> int:
    """The HTTP status for one of the ledger's refusals."""
    if isinstance(error, UnknownRequestError):
        return 404
    if isinstance(error, NotAuthorizedError):
        return 403
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, BadInputError):
        return 400
    return 500


def shown(value: Any) -> str:
    """A value as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def _span(seconds: float) -> str:
    """A length of time in its two largest units: "2 h 5 min", "40 s"."""
    days, rest = divmod(round(abs(seconds)), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def until(deadline: float | None, now: float) -> str | None:
    """A deadline as a reader takes it in at a glance: "in 2 h 5 min", "overdue by 40 s".

    >>> until(1_000 + 7_500, 1_000)
    'in 2 h 5 min'
    >>> until(960, 1_000)
    'overdue by 40 s'
    >>> until(None, 1_000) is None
    True
    """
    if deadline is None:
        return None
    left = round(deadline - now)
    return f"in {_span(left)}" if left >= 0 else f"overdue by {_span(left)}"


def ago(moment: float | None, now: float) -> str | None:
    """How long ago something happened: "3 d 2 h ago" (None for no time, or a future one).

    >>> ago(1_000 - 266_400, 1_000)
    '3 d 2 h ago'
    >>> ago(2_000, 1_000) is None
    True
    """
    if moment is None or moment > now:
        return None
    return f"{_span(now - moment)} ago"


class Inbox:
    """The inbox on one ledger: what its routes share."""

    def __init__(
        self,
        db: str | Path,
        *,
        apply: bool,
        limiter: LoginLimiter | None = None,
        signin: SignInSettings | None = None,
    ) -> None:
        self.db = db
        self.apply = apply
        self.limiter = limiter or LoginLimiter()
        self.signin = signin or SignInSettings()
        env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
        self.templates = Jinja2Templates(env=env)

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

    def row(self, rec: RequestRecord, now: float) -> dict[str, Any]:
        """What the queue (and a request page's header) shows of a request."""
        return {
            "request_id": rec.request_id,
            "thread_id": rec.thread_id,
            "gate": rec.gate,
            "action": rec.action_name,
            "summary": rec.summary,
            "tier": rec.tier,
            "confidence": rec.confidence,
            "deadline": iso(rec.deadline),
            "deadline_in": until(rec.deadline, now),
            "overdue": rec.deadline is not None and rec.deadline < now,
        }

    def signed_in(self, session: dict[str, Any]) -> str | None:
        """The session's reviewer, if its row in the ledger says it is still good: not
        signed out or ended (a new password, `reviewers signout`, `reviewers remove`),
        not expired. One read by primary key; a copy of the cookie is worth no more than
        the row."""
        session_id = session.get("sid")
        if not isinstance(session_id, str):
            return None
        with self.ledger() as ledger:
            return ledger.session_reviewer(session_id)


def inbox_of(request: Request) -> Inbox:
    """The `Inbox` of the app serving `request`."""
    inbox: Inbox = request.app.state.inbox
    return inbox


async def csrf_ok(request: Request) -> bool:
    """Whether the POSTed form carries the session's CSRF token."""
    try:
        form = await request.form()
    except Exception:  # a body that is not a form: refused like a missing token
        return False
    return same_token(request.session.get("csrf"), form.get("csrf"))


def guarded(endpoint: Endpoint) -> Endpoint:
    """`endpoint` for signed-in reviewers only, with the CSRF token checked on a POST; a
    `HitlError` it raises answers as the ledger's refusal (`status_of`)."""

    async def guard(request: Request) -> Response:
        inbox = inbox_of(request)
        user = await run_in_threadpool(inbox.signed_in, request.session)
        if user is None:
            request.session.pop("user", None)
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": "sign in first"}, status_code=401)
            return RedirectResponse("/login", status_code=303)
        if request.method == "POST" and not await csrf_ok(request):
            return inbox.error(
                request, 403, "this form did not come from your inbox page: reload and retry"
            )
        request.state.reviewer = user
        try:
            return await endpoint(request)
        except HitlError as error:  # the ledger's refusals, as a page or as JSON
            return inbox.error(request, status_of(error), str(error))

    guard.__name__ = guard.__qualname__ = endpoint.__name__
    guard.__doc__ = endpoint.__doc__
    return guard
