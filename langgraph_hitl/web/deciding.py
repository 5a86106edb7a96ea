"""A request's page, and deciding it: approve, reject with a reason, modify through a form
made from the action's JSON Schema, and respond where the gate allows it.

A decision is recorded for the session's reviewer, whatever the form says; the desk
validates it as for every decider (the decision is allowed, edited args fit the gate's
`args_schema` and are JSON a checkpoint holds) and the ledger checks roles, the owner bar
and votes, and logs a refusal. It is applied here or left to the workers, as the
deployment is set. A modify or respond the desk refuses as invalid shows the request's
page again (400) with the server's message beside the form and what the reviewer typed
still in it; nothing pending changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from langgraph_hitl._time import clock, iso
from langgraph_hitl.errors import BadInputError, HitlError, UnknownRequestError
from langgraph_hitl.ledger import RequestRecord, ReviewLedger
from langgraph_hitl.web.editing import EditField, edit_fields, edited_args, with_values
from langgraph_hitl.web.inbox import Inbox, ago, guarded, inbox_of, shown, status_of

PAST_SHOWN = 5
"""How many past decisions on the same gate and action a request's page shows."""

OVERRIDES = ("reject", "modify", "respond")
"""Decisions that overrode what the agent proposed (`deciding.feedback.OVERRIDE_TYPES`)."""


def _mine(ledger: ReviewLedger, reviewer: str, request_id: str) -> RequestRecord | None:
    """The request, if it is in this reviewer's queue."""
    try:
        rec = ledger.resolve(request_id)
    except HitlError:
        return None
    if rec.request_id != request_id:
        return None  # a thread id: the page is a request's
    mine = ledger.pending(reviewer=reviewer, thread_id=rec.thread_id)
    return rec if any(r.request_id == request_id for r in mine) else None


def mentioned(name: str, said: list[str]) -> bool:
    """Whether the text of the escalation (`said`) names the arg `name`, as a whole word
    (`po_number` as "po_number" or "po number").

    Example:
        >>> mentioned("amount", ["amount 52,000.00 is over the 10,000.00 limit"])
        True
        >>> mentioned("amount", ["the amounts differ"])
        False
    """
    text = " ".join(said).lower()
    return any(
        re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text)
        for word in {name.lower(), name.lower().replace("_", " ")}
    )


def matter_first(names: list[str], said: list[str], required: list[str]) -> list[str]:
    """`names` with the ones that matter first: those the escalation's reasons or problems
    name (`mentioned`), then those the schema requires, in its order, then the rest as
    they were.

    Example:
        >>> matter_first(
        ...     ["currency", "due_date", "invoice_id", "amount"],
        ...     ["amount 52,000.00 is over the 10,000.00 limit"],
        ...     ["invoice_id", "amount"],
        ... )
        ['amount', 'invoice_id', 'currency', 'due_date']
    """

    def rank(item: tuple[int, str]) -> tuple[int, int, int]:
        index, name = item
        if mentioned(name, said):
            return (0, 0, index)
        if name in required:
            return (1, required.index(name), index)
        return (2, 0, index)

    return [name for _, name in sorted(enumerate(names), key=rank)]


def _said(rec: RequestRecord) -> list[str]:
    asked = rec.request
    return [*asked.reasons, *asked.problems, asked.failure_reason or ""]


def _required(schema: Mapping[str, Any] | None) -> list[str]:
    found = (schema or {}).get("required")
    return [n for n in found if isinstance(n, str)] if isinstance(found, list) else []


def _fields(rec: RequestRecord) -> list[EditField]:
    """The modify form's fields, prefilled with the args a decision now approves."""
    schema = rec.request.args_schema
    fields = edit_fields(rec.current_args, schema)
    order = matter_first([f.name for f in fields], _said(rec), _required(schema))
    by_name = {f.name: f for f in fields}
    return [by_name[name] for name in order]


def _past(rec: RequestRecord, now: float) -> dict[str, Any]:
    decision = rec.decision
    kind = decision.type if decision else "decided"
    went = {
        "applied": "applied",
        "decided": "recorded, not applied yet",
        "cancelled": "cancelled before it applied",
        "superseded": "superseded",
    }.get(rec.status, rec.status)
    return {
        "summary": rec.summary,
        "type": kind,
        "overridden": kind in OVERRIDES,
        "reviewer": decision.reviewer if decision else None,
        "reason": decision.reason if decision else None,
        "when": iso(rec.decided_at),
        "ago": ago(rec.decided_at, now),
        "went": went,
    }


def _context(
    inbox: Inbox, ledger: ReviewLedger, rec: RequestRecord, reviewer: str
) -> dict[str, Any]:
    """Everything the request's page shows; what the request does not carry is left out."""
    now = clock()
    asked = rec.request
    args = rec.current_args
    said = _said(rec)
    order = matter_first(list(args), said, _required(asked.args_schema))
    allowed = set(asked.allowed_decisions)
    return {
        "rec": inbox.row(rec, now),
        "asked": asked,
        "args": [(key, shown(args[key]), mentioned(key, said)) for key in order],
        "edited_by_quorum": rec.proposal is not None,
        "reasons": rec.reasons,
        "allowed": allowed,
        "quorum": rec.quorum,
        "approvals": rec.approvals,
        "votes": [
            {"reviewer": who, "type": kind, "comment": comment, "when": iso(at), "counts": counts}
            for who, kind, comment, at, counts in ledger.votes(rec.request_id)
        ],
        "past": [
            _past(past, now)
            for past in ledger.decided_like(rec, reviewer=reviewer, limit=PAST_SHOWN)
        ],
        "fields": _fields(rec) if "modify" in allowed else [],
        "seen": rec.current_digest,
        "data": [(key, shown(value)) for key, value in asked.data.items() if value is not None],
    }


def _page_of(inbox: Inbox, reviewer: str, request_id: str) -> dict[str, Any] | None:
    """The page's context, if the request is in this reviewer's queue."""
    with inbox.ledger() as ledger:
        rec = _mine(ledger, reviewer, request_id)
        if rec is None:
            return None
        # Noted as the CLI's `show` notes it: time-to-correct starts at the first opening,
        # and metrics tell decisions made unread from read ones.
        ledger.add_event(
            "shown",
            request_id=rec.request_id,
            thread_id=rec.thread_id,
            actor=reviewer,
            data={"via": "inbox"},
        )
        return _context(inbox, ledger, rec, reviewer)


async def request_page(request: Request) -> Response:
    inbox = inbox_of(request)
    request_id = request.path_params["request_id"]
    context = await run_in_threadpool(_page_of, inbox, request.state.reviewer, request_id)
    if context is None:
        return inbox.error(request, 404, "no request of that id is waiting for you")
    return inbox.page(request, "request.html", context)


async def approve(request: Request) -> Response:
    form = await request.form()
    fields = {"type": "approve", "comment": form.get("comment"), "seen_digest": form.get("seen")}
    return await decide(request, fields)


async def reject(request: Request) -> Response:
    form = await request.form()
    reason = form.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return inbox_of(request).error(request, 400, "a rejection needs a reason")
    fields = {
        "type": "reject",
        "reason": reason,
        "comment": form.get("comment"),
        "seen_digest": form.get("seen"),
    }
    return await decide(request, fields)


def _in_queue(inbox: Inbox, reviewer: str, request_id: str) -> RequestRecord | None:
    with inbox.ledger() as ledger:
        return _mine(ledger, reviewer, request_id)


def _refuse_outsider(inbox: Inbox, request_id: str, decision: Any) -> None:
    """For a request outside the reviewer's queue: the ledger's refusal (logged), else
    `UnknownRequestError` when there is no such request."""
    with inbox.ledger() as ledger:
        ledger.check_may_decide(request_id, decision)


async def modify(request: Request) -> Response:
    """Approve with the args the schema form gives."""
    inbox = inbox_of(request)
    reviewer = request.state.reviewer
    request_id = request.path_params["request_id"]
    form = await request.form()
    rec = await run_in_threadpool(_in_queue, inbox, reviewer, request_id)
    if rec is None:
        return await _outsider(request, "modify")
    try:
        args = edited_args(_fields(rec), form)
    except BadInputError as error:
        return await _again(request, "modify", str(error))
    fields = {
        "type": "modify",
        "args": args,
        "action_name": rec.action_name,
        "comment": form.get("comment"),
        "seen_digest": form.get("seen"),
    }
    return await decide(request, fields, again="modify")


async def respond(request: Request) -> Response:
    """Answer in the agent's place: the reviewer's text is the outcome."""
    inbox = inbox_of(request)
    reviewer = request.state.reviewer
    request_id = request.path_params["request_id"]
    form = await request.form()
    rec = await run_in_threadpool(_in_queue, inbox, reviewer, request_id)
    if rec is None:
        return await _outsider(request, "respond")
    response = form.get("response")
    if not isinstance(response, str) or not response.strip():
        return await _again(request, "respond", "a response needs text")
    fields = {
        "type": "respond",
        "response": response,
        "comment": form.get("comment"),
        "seen_digest": form.get("seen"),
    }
    return await decide(request, fields, again="respond")


async def _outsider(request: Request, kind: str) -> Response:
    """A modify or respond on a request outside the reviewer's queue: refused by the
    ledger's own check (and logged), never shown."""
    from langgraph_hitl.models import Decision

    inbox = inbox_of(request)
    request_id = request.path_params["request_id"]
    reviewer = request.state.reviewer
    # What the decision carries does not matter to who may take it: the ledger checks
    # the role, the owner bar and the request's state.
    probe = Decision.model_validate(
        {"type": kind, "reviewer": reviewer, **({"args": {}} if kind == "modify" else {})}
    )
    try:
        await run_in_threadpool(_refuse_outsider, inbox, request_id, probe)
    except HitlError as error:
        return inbox.error(request, status_of(error), str(error))
    # May decide it, yet it is not in their queue: decided already, or voted on by them.
    return inbox.error(request, 409, f"{request_id} is not waiting for your decision")


async def _again(request: Request, kind: str, message: str) -> Response:
    """The request's page again (400), the refusal beside the form, the reviewer's input
    kept; or the plain error when the request is no longer in their queue."""
    inbox = inbox_of(request)
    form = await request.form()
    request_id = request.path_params["request_id"]
    context = await run_in_threadpool(_page_of, inbox, request.state.reviewer, request_id)
    if context is None:
        return inbox.error(request, 400, message)
    context["refused"] = {kind: message}
    if kind == "modify":
        context["fields"] = with_values(context["fields"], form)
    sent = {key: form.get(key) for key in ("response", "comment")}
    context["sent"] = {kind: {k: v for k, v in sent.items() if isinstance(v, str)}}
    return inbox.page(request, "request.html", context, status=400)


async def decide(request: Request, fields: dict[str, Any], *, again: str | None = None) -> Response:
    """Record (and, as the deployment is set, apply) one decision on the request in the
    URL for the session's reviewer; back to the queue with what happened. With `again`,
    a refusal of the decision as invalid shows the request's page again."""
    from langgraph_hitl.deciding.desk import ReviewDesk
    from langgraph_hitl.models import Decision

    inbox = inbox_of(request)
    request_id = request.path_params["request_id"]
    comment = fields.get("comment")
    fields["comment"] = comment.strip() or None if isinstance(comment, str) else None
    seen = fields.get("seen_digest")
    fields["seen_digest"] = seen if isinstance(seen, str) and seen else None
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
        invalid = isinstance(error, BadInputError) and not isinstance(error, UnknownRequestError)
        if again is not None and invalid:
            return await _again(request, again, str(error))
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
    Route("/requests/{request_id}/modify", guarded(modify), methods=["POST"]),
    Route("/requests/{request_id}/respond", guarded(respond), methods=["POST"]),
]
