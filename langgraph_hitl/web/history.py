"""History and audit in the inbox: a request's and a thread's events, in order, and the
audit trail's hash chain verified on demand.

Who may read what, checked on every route, pages and JSON alike:

- **a request's history**: a reviewer whose role may decide it now or at any step of its
  escalation chain (its `eligible` roles and the `review_roles` it was asked with); any
  reviewer when the request names no role (anyone may decide it, as the ledger has it);
- **a thread's history**: a reviewer who may read every request on the thread (a thread
  with no request, work that ran alone, only an auditor);
- **auditors** read every request's and thread's history and run the whole chain's
  verification: a reviewer whose role the ledger ranks highest
  (`ReviewLedger.highest_roles`: the last role of the policies' role chains, where
  escalation ends); when no request names a role, every reviewer.

An unknown id answers 404, a history the reviewer may not read 403 (a page, or
`{"error": ...}` under `/api/`). The events are the ledger's own (`ReviewLedger.events`,
what `langgraph-hitl history` prints) and the verification is `audit.verify` (what
`langgraph-hitl audit verify` runs): it walks the whole chain, so it runs only when an
auditor asks for it, never on another page's load, and the page says how long it took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from langgraph_hitl.errors import NotAuthorizedError, UnknownRequestError
from langgraph_hitl.ledger import RequestRecord, ReviewLedger
from langgraph_hitl.web.inbox import Inbox, guarded, inbox_of, shown

if TYPE_CHECKING:
    from langgraph_hitl.ledger.audit import AuditReport


@dataclass(frozen=True, kw_only=True)
class Reader:
    """A signed-in reviewer as history and audit see them."""

    name: str
    role: str | None
    auditor: bool
    """Their role is one the ledger ranks highest: they read everything."""

    def may_read(self, rec: RequestRecord) -> bool:
        """Whether this reviewer may read `rec`'s history."""
        if self.auditor:
            return True
        roles = {*rec.eligible, *rec.request.review_roles}
        return not roles or self.role in roles


def reader(ledger: ReviewLedger, name: str) -> Reader:
    """The reviewer `name`, with their role and whether they are an auditor."""
    found = ledger.sign_in_record(name)
    role = None if found is None else found[0]
    highest = ledger.highest_roles()
    return Reader(
        name=name, role=role, auditor=role is not None and (not highest or role in highest)
    )


def _refuse(who: Reader, what: str) -> NotAuthorizedError:
    role = who.role or "reviewer"
    return NotAuthorizedError(f"{who.name} is a {role} and may not read {what}")


def request_history(
    inbox: Inbox, name: str, request_id: str
) -> tuple[RequestRecord, list[dict[str, Any]]]:
    """The request and its events, oldest first, if `name` may read them."""
    with inbox.ledger() as ledger:
        rec = ledger.get(request_id)  # UnknownRequestError: 404
        who = reader(ledger, name)
        if not who.may_read(rec):
            raise _refuse(who, f"the history of {request_id}")
        return rec, ledger.events(request_id=rec.request_id)


def thread_history(
    inbox: Inbox, name: str, thread_id: str
) -> tuple[list[RequestRecord], list[dict[str, Any]]]:
    """The thread's requests and events, oldest first, if `name` may read them all."""
    with inbox.ledger() as ledger:
        events = ledger.events(thread_id=thread_id)
        if not events:
            raise UnknownRequestError(f"no thread named {thread_id!r}")
        records = ledger.requests(thread_id)
        who = reader(ledger, name)
        if not who.auditor and (not records or not all(who.may_read(r) for r in records)):
            raise _refuse(who, f"the history of thread {thread_id}")
        return records, events


def verification(inbox: Inbox, name: str, expect_head: str | None) -> tuple[AuditReport, float]:
    """The whole chain verified for an auditor, and how long that took in seconds."""
    from langgraph_hitl.ledger.audit import verify

    with inbox.ledger() as ledger:
        who = reader(ledger, name)
        if not who.auditor:
            raise _refuse(who, "the whole audit trail")
        started = time.perf_counter()
        report = verify(ledger, expect_head=expect_head)
    return report, time.perf_counter() - started


def _is_auditor(inbox: Inbox, name: str) -> bool:
    with inbox.ledger() as ledger:
        return reader(ledger, name).auditor


def _event_row(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the history table shows it; its data (a decision's type, reviewer,
    reason, comment, what was refused and why) as text."""
    return {
        **event,
        "details": [(key, shown(value)) for key, value in event["data"].items()],
    }


def _request_header(rec: RequestRecord) -> dict[str, Any]:
    decision = rec.decision
    return {
        "request_id": rec.request_id,
        "thread_id": rec.thread_id,
        "summary": rec.summary,
        "action": rec.action_name,
        "status": rec.status,
        "tier": rec.tier,
        "args": [(key, shown(value)) for key, value in rec.action_args.items()],
        "decision": None
        if decision is None
        else {
            "type": decision.type,
            "reviewer": decision.reviewer,
            "reason": decision.reason,
            "comment": decision.comment,
        },
    }


# -- pages ----------------------------------------------------------------------------------


def _query(request: Request, key: str) -> str | None:
    value = request.query_params.get(key, "").strip()
    return value or None


async def audit_page(request: Request) -> Response:
    """The search box (a request or thread id), and the verification for auditors."""
    inbox = inbox_of(request)
    wanted = _query(request, "q")
    if wanted is not None:
        found = await run_in_threadpool(_which, inbox, wanted)
        if found is None:
            return inbox.error(request, 404, "no request or thread of that id")
        return RedirectResponse(found, status_code=303)
    auditor = await run_in_threadpool(_is_auditor, inbox, request.state.reviewer)
    return inbox.page(request, "audit.html", {"auditor": auditor, "verified": None})


def _which(inbox: Inbox, ident: str) -> str | None:
    """The history page of a request id, else of a thread id; None when neither exists."""
    from urllib.parse import quote

    with inbox.ledger() as ledger:
        try:
            rec = ledger.get(ident)
        except UnknownRequestError:
            if not ledger.events(thread_id=ident):
                return None
            return f"/audit/threads/{quote(ident, safe='')}"
    return f"/audit/requests/{quote(rec.request_id, safe='')}"


async def verify_page(request: Request) -> Response:
    inbox = inbox_of(request)
    expect_head = _query(request, "expect_head")
    report, seconds = await run_in_threadpool(
        verification, inbox, request.state.reviewer, expect_head and expect_head.lower()
    )
    context = {"auditor": True, "verified": report, "seconds": seconds, "expect_head": expect_head}
    return inbox.page(request, "audit.html", context)


async def api_verify(request: Request) -> Response:
    inbox = inbox_of(request)
    expect_head = _query(request, "expect_head")
    report, seconds = await run_in_threadpool(
        verification, inbox, request.state.reviewer, expect_head and expect_head.lower()
    )
    return JSONResponse({**report.to_json(), "seconds": round(seconds, 6)})


async def request_page(request: Request) -> Response:
    inbox = inbox_of(request)
    request_id = request.path_params["request_id"]
    rec, events = await run_in_threadpool(
        request_history, inbox, request.state.reviewer, request_id
    )
    context = {
        "title": f"History of {rec.request_id}",
        "requests": [_request_header(rec)],
        "events": [_event_row(e) for e in events],
    }
    return inbox.page(request, "history.html", context)


async def thread_page(request: Request) -> Response:
    inbox = inbox_of(request)
    thread_id = request.path_params["thread_id"]
    records, events = await run_in_threadpool(
        thread_history, inbox, request.state.reviewer, thread_id
    )
    context = {
        "title": f"History of thread {thread_id}",
        "thread_id": thread_id,
        "requests": [_request_header(rec) for rec in records],
        "events": [_event_row(e) for e in events],
    }
    return inbox.page(request, "history.html", context)


async def api_request(request: Request) -> Response:
    inbox = inbox_of(request)
    rec, events = await run_in_threadpool(
        request_history, inbox, request.state.reviewer, request.path_params["request_id"]
    )
    return JSONResponse(
        {"request_id": rec.request_id, "thread_id": rec.thread_id, "events": events}
    )


async def api_thread(request: Request) -> Response:
    inbox = inbox_of(request)
    thread_id = request.path_params["thread_id"]
    records, events = await run_in_threadpool(
        thread_history, inbox, request.state.reviewer, thread_id
    )
    return JSONResponse(
        {
            "thread_id": thread_id,
            "requests": [rec.request_id for rec in records],
            "events": events,
        }
    )


ROUTES: list[BaseRoute] = [
    Route("/audit", guarded(audit_page), methods=["GET"]),
    Route("/audit/verify", guarded(verify_page), methods=["GET"]),
    Route("/audit/requests/{request_id}", guarded(request_page), methods=["GET"]),
    Route("/audit/threads/{thread_id}", guarded(thread_page), methods=["GET"]),
    Route("/api/audit/verify", guarded(api_verify), methods=["GET"]),
    Route("/api/audit/requests/{request_id}", guarded(api_request), methods=["GET"]),
    Route("/api/audit/threads/{thread_id}", guarded(api_thread), methods=["GET"]),
]
