"""Batch review: the reviewer's pending requests in groups, a group decided at a time.

The groups are the CLI's (`langgraph-hitl batch`, `deciding.batch.groups`): every
pending request of one gate and action, shown as a table of the args that differ, what
they share stated once above it. Only what the signed-in reviewer may decide is listed
(the ledger's own `pending(reviewer=...)` filter).

Deciding a selection goes down the CLI batch's path (`deciding.batch.decide_batch`):
each request recorded for the session's reviewer in its own transaction and applied
here or left to the workers, as the deployment is set, with a result per request. Like
the CLI's batch, a request that may not be decided is refused on its own row and the
rest still go through: a request the reviewer's role may not decide is refused by the
ledger's checks (and logged as a `refused` event), one decided elsewhere meanwhile
says so, and an id that is not a request of the group is refused without being tried.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from langgraph_hitl.deciding.batch import (
    BatchGroup,
    BatchResult,
    ItemResult,
    decide_batch,
    group_key,
    groups,
)
from langgraph_hitl.errors import HitlError
from langgraph_hitl.ledger import RequestRecord
from langgraph_hitl.web.inbox import Inbox, guarded, inbox_of, shown

MAX_SELECTION = 500
"""The most requests one batch form may decide: larger selections are refused whole."""

_STATUS_OF_EXIT = {2: 400, 3: 409, 4: 403}


def _groups(inbox: Inbox, reviewer: str) -> list[BatchGroup]:
    with inbox.ledger() as ledger:
        return groups(ledger.pending(reviewer=reviewer))


def _group(inbox: Inbox, reviewer: str, key: str) -> BatchGroup | None:
    """One of the reviewer's groups; its requests noted as shown to them, as the CLI's
    `batch --reviewer` notes them (time-to-correct starts there)."""
    with inbox.ledger() as ledger:
        found = next((g for g in groups(ledger.pending(reviewer=reviewer)) if g.key == key), None)
        for rec in found.requests if found is not None else ():
            ledger.add_event(
                "shown",
                request_id=rec.request_id,
                thread_id=rec.thread_id,
                actor=reviewer,
                data={"via": "inbox batch"},
            )
    return found


def _cell(value: Any) -> str:
    return "" if value is None else shown(value)


async def batch_page(request: Request) -> Response:
    """`/batch`: the reviewer's groups with their counts; `?group=KEY`: one group's table."""
    inbox = inbox_of(request)
    reviewer = request.state.reviewer
    key = request.query_params.get("group")
    if key is None:
        found = await run_in_threadpool(_groups, inbox, reviewer)
        rows = [{"key": g.key, "count": len(g.requests)} for g in found]
        return inbox.page(request, "batch.html", {"groups": rows})
    group = await run_in_threadpool(_group, inbox, reviewer, key)
    if group is None:
        return inbox.error(request, 404, "no group of that name is waiting for you")
    context = {
        "key": group.key,
        "same": [(name, _cell(value)) for name, value in group.same.items()],
        "columns": group.differing,
        "rows": [
            {
                "request_id": rec.request_id,
                "summary": rec.summary,
                "cells": [_cell(value) for value in group.row(rec).values()],
            }
            for rec in group.requests
        ],
    }
    return inbox.page(request, "batch_group.html", context)


def _selection(inbox: Inbox, key: str, ids: list[str]) -> tuple[list[RequestRecord], list[Any]]:
    """The posted ids as requests of group `key`, in the order posted, and a refusal for
    each that is not one (unknown, or of another group): those are never tried."""
    chosen: list[RequestRecord] = []
    order: list[Any] = []
    with inbox.ledger() as ledger:
        for request_id in ids:
            try:
                rec = ledger.resolve(request_id)
            except HitlError:
                rec = None
            if rec is None or rec.request_id != request_id or group_key(rec) != key:
                order.append(
                    ItemResult(
                        request_id=request_id,
                        thread_id="",
                        result="refused",
                        detail=f"not a request of {key}",
                        exit_code=2,
                    )
                )
                continue
            chosen.append(rec)
            order.append(rec.request_id)
    return chosen, order


async def batch_decide(request: Request) -> Response:
    """Approve or reject the selected requests of a group for the session's reviewer."""
    from langgraph_hitl.deciding.desk import ReviewDesk
    from langgraph_hitl.models import Decision

    inbox = inbox_of(request)
    form = await request.form()
    key = form.get("group")
    kind = form.get("decision")
    ids = list(dict.fromkeys(v for v in form.getlist("request_id") if isinstance(v, str)))
    if not isinstance(key, str) or kind not in ("approve", "reject"):
        return inbox.error(request, 400, "say which group, and approve or reject")
    if not ids:
        return inbox.error(request, 400, "select at least one request")
    if len(ids) > MAX_SELECTION:
        return inbox.error(request, 400, f"select at most {MAX_SELECTION} requests at once")
    reason = form.get("reason")
    comment = form.get("comment")
    fields: dict[str, Any] = {
        "type": kind,
        # The session's reviewer, never one named by the form.
        "reviewer": request.state.reviewer,
        "comment": comment.strip() or None if isinstance(comment, str) else None,
    }
    if kind == "reject":
        if not isinstance(reason, str) or not reason.strip():
            return inbox.error(request, 400, "a rejection needs a reason")
        fields["reason"] = reason.strip()
    try:
        decision = Decision.model_validate(fields)
    except ValueError:
        return inbox.error(request, 400, "that decision is not valid")
    chosen, order = await run_in_threadpool(_selection, inbox, key, ids)
    # The CLI batch's own path: each request recorded (and applied, as the deployment
    # is set) on its own, the ledger checking roles, the owner bar and votes.
    result = await run_in_threadpool(
        lambda: decide_batch(ReviewDesk(inbox.db), chosen, decision, group=key, apply=inbox.apply)
    )
    decided = {item.request_id: item for item in result.items}
    items: list[ItemResult] = [
        decided[entry] if isinstance(entry, str) else entry for entry in order
    ]
    outcome = BatchResult(group=key, decision=decision.type, items=items)
    went = [i for i in items if i.result not in ("refused", "failed", "not tried")]
    status = 200 if went else _STATUS_OF_EXIT.get(items[0].exit_code, 500)
    counts = ", ".join(f"{n} {what}" for what, n in sorted(outcome.counts().items()))
    context = {
        "key": key,
        "decision": decision.type,
        "counts": counts,
        "items": [item.to_json() for item in items],
        "workers": not inbox.apply,
    }
    return inbox.page(request, "batch_result.html", context, status)


ROUTES: list[BaseRoute] = [
    Route("/batch", guarded(batch_page), methods=["GET"]),
    Route("/batch/decide", guarded(batch_decide), methods=["POST"]),
]
