"""Signing in and out with a local account (a password `reviewers add --password` set).

A sign-in starts a new session (nothing set before it, such as a planted cookie, carries
over); failures count against the login rate limit per name and address.
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from langgraph_hitl.web.auth import hash_fingerprint, new_token, verify_password
from langgraph_hitl.web.inbox import Inbox, csrf_ok, guarded, inbox_of


async def login_page(request: Request) -> Response:
    return inbox_of(request).page(request, "login.html", {"name": ""})


async def login(request: Request) -> Response:
    inbox = inbox_of(request)
    if not await csrf_ok(request):
        return inbox.error(request, 403, "the sign-in form expired: reload and retry")
    form = await request.form()
    name, password = form.get("name"), form.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name:
        return inbox.page(request, "login.html", {"name": "", "failed": True}, 400)
    address = request.client.host if request.client else "?"
    if inbox.limiter.blocked(name, address):
        return inbox.page(request, "login.html", {"name": name, "limited": True}, status=429)
    found = await run_in_threadpool(_sign_in_record, inbox, name)
    ok = await run_in_threadpool(verify_password, found and found[1], password)
    if not ok or found is None:
        inbox.limiter.fail(name, address)
        return inbox.page(request, "login.html", {"name": name, "failed": True}, 401)
    inbox.limiter.succeed(name, address)
    request.session.clear()
    request.session.update(
        user=name, pw=hash_fingerprint(found[1]), at=time.time(), csrf=new_token()
    )
    return RedirectResponse("/", status_code=303)


def _sign_in_record(inbox: Inbox, name: str) -> tuple[str, str] | None:
    with inbox.ledger() as ledger:
        return ledger.sign_in_record(name)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", guarded(logout), methods=["POST"]),
]
PUBLIC = {"/login"}
"""The paths anyone may open: everything else needs a signed-in reviewer."""
