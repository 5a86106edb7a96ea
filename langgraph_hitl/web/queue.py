"""The queue: what the signed-in reviewer may decide, as a page and as JSON."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langgraph_hitl._time import clock
from langgraph_hitl.ledger import RequestRecord
from langgraph_hitl.web.inbox import Inbox, guarded, inbox_of


def _queue(inbox: Inbox, reviewer: str) -> list[RequestRecord]:
    # The ledger's own filter: the reviewer's role is eligible, they do not own the
    # work, they have not voted on it yet; overdue and nearest deadline first.
    with inbox.ledger() as ledger:
        return ledger.pending(reviewer=reviewer)


async def queue(request: Request) -> Response:
    inbox = inbox_of(request)
    records = await run_in_threadpool(_queue, inbox, request.state.reviewer)
    now = clock()
    flash = request.session.pop("flash", None)
    rows = [inbox.row(rec, now) for rec in records]
    return inbox.page(request, "queue.html", {"rows": rows, "flash": flash})


async def api_queue(request: Request) -> Response:
    inbox = inbox_of(request)
    records = await run_in_threadpool(_queue, inbox, request.state.reviewer)
    now = clock()
    return JSONResponse([inbox.row(rec, now) for rec in records])


ROUTES: list[BaseRoute] = [
    Route("/", guarded(queue), methods=["GET"]),
    Route("/api/queue", guarded(api_queue), methods=["GET"]),
]
