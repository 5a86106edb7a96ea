"""A request's page, and deciding it: approve, and reject with a reason.

A decision is recorded for the session's reviewer, whatever the form says; the ledger
then checks roles, the owner bar and votes as it does for every decider, and logs a
refusal. It is applied here or left to the workers, as the deployment is set.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from langgraph_hitl._time import clock
from langgraph_hitl.errors import HitlError
from langgraph_hitl.ledger import RequestRecord
from langgraph_hitl.web.inbox import Inbox, guarded, inbox_of, shown, status_of


def _mine(inbox: Inbox, reviewer: str, request_id: str) -> RequestRecord | None:
    """The request, if it is in this reviewer's queue."""
    with inbox.ledger() as ledger:
        try:
            rec = ledger.resolve(request_id)
        except HitlError:
            return None
        if rec.request_id != request_id:
            return None  # a thread id: the page is a request's
        mine = ledger.pending(reviewer=reviewer, thread_id=rec.thread_id)
    return rec if any(r.request_id == request_id for r in mine) else None


async def request_page(request: Request) -> Response:
    inbox = inbox_of(request)
    request_id = request.path_params["request_id"]
    rec = await run_in_threadpool(_mine, inbox, request.state.reviewer, request_id)
    if rec is None:
        return inbox.error(request, 404, "no request of that id is waiting for you")
    asked = rec.request
    context = {
        "rec": inbox.row(rec, clock()),
        "args": [(key, shown(value)) for key, value in rec.action_args.items()],
        "reasons": rec.reasons,
        "asked": asked,
        "allowed": set(asked.allowed_decisions),
        "quorum": rec.quorum,
        "approvals": rec.approvals,
    }
    return inbox.page(request, "request.html", context)


async def approve(request: Request) -> Response:
    form = await request.form()
    return await decide(request, {"type": "approve", "comment": form.get("comment")})


async def reject(request: Request) -> Response:
    form = await request.form()
    reason = form.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return inbox_of(request).error(request, 400, "a rejection needs a reason")
    return await decide(
        request, {"type": "reject", "reason": reason, "comment": form.get("comment")}
    )


async def decide(request: Request, fields: dict[str, Any]) -> Response:
    """Record (and, as the deployment is set, apply) one decision on the request in the
    URL for the session's reviewer; back to the queue with what happened."""
    from langgraph_hitl.deciding.desk import ReviewDesk
    from langgraph_hitl.models import Decision

    inbox = inbox_of(request)
    request_id = request.path_params["request_id"]
    comment = fields.get("comment")
    fields["comment"] = comment.strip() or None if isinstance(comment, str) else None
    # The session's reviewer, never one named by the form.
    fields["reviewer"] = request.state.reviewer
    try:
        decision = Decision.model_validate(fields)
    except ValueError:
        return inbox.error(request, 400, "that decision is not valid")
    try:
        # A desk per decision: it holds a connection while it records and applies.
        outcome = await run_in_threadpool(
            ReviewDesk(inbox.db).decide, request_id, decision, apply=inbox.apply
        )
    except HitlError as error:
        return inbox.error(request, status_of(error), str(error))
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


ROUTES: list[BaseRoute] = [
    Route("/requests/{request_id}", guarded(request_page), methods=["GET"]),
    Route("/requests/{request_id}/approve", guarded(approve), methods=["POST"]),
    Route("/requests/{request_id}/reject", guarded(reject), methods=["POST"]),
]
