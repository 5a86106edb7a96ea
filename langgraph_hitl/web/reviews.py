"""After-the-fact review: work done without a human first, closed as ok or a problem.

The list is the ledger's open review items (`ReviewLedger.reviews`): work a router sent
to `review` (done, then looked at) and work sampled for a look afterwards, each with
what was done automatically. Closing one goes through the CLI's own call
(`ReviewDesk.close_review`, as `langgraph-hitl review ID --ok | --problem TEXT`) for the
session's reviewer; a problem needs a note saying what was wrong.

Who may see and close an item: the CLI's `review` has no role rule, so the inbox applies
the one requests have. An item may be closed by a reviewer whose role the ledger's
requests of the same graph and tier name as eligible (`ReviewLedger.tier_roles`): a
junior closes the low tier's reviews, not the medium tier's, as with requests. An item
of a graph and tier no request names roles for is open to every signed-in reviewer, as
a request that names no roles is. An item the reviewer may not close is not listed, and
a direct POST for it is refused (403) and logged as a `refused` event, changing nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from langgraph_hitl._time import iso
from langgraph_hitl.errors import HitlError, NotAuthorizedError
from langgraph_hitl.ledger import ReviewItem
from langgraph_hitl.web.inbox import Inbox, guarded, inbox_of, shown, status_of

TierRoles = dict[tuple[str | None, str | None], list[str]]


def _roles_for(item: ReviewItem, roles: TierRoles) -> list[str]:
    return roles.get((item.graph, item.tier), [])


def _open_items(inbox: Inbox, reviewer: str) -> tuple[list[ReviewItem], list[ReviewItem]]:
    """The open items, split into those the reviewer may close and those they may not."""
    with inbox.ledger() as ledger:
        found = ledger.sign_in_record(reviewer)
        role = None if found is None else found[0]
        roles = ledger.tier_roles()
        items = ledger.reviews(status="open")
    mine: list[ReviewItem] = []
    others: list[ReviewItem] = []
    for item in items:
        needed = _roles_for(item, roles)
        (mine if not needed or role in needed else others).append(item)
    return mine, others


def _view(item: ReviewItem) -> dict[str, Any]:
    args = item.action.get("args") or {}
    return {
        "review_id": item.review_id,
        "thread_id": item.thread_id,
        "graph": item.graph,
        "action": item.action.get("name"),
        "args": [(key, shown(value)) for key, value in args.items()],
        "summary": item.summary,
        "tier": item.tier,
        "confidence": item.confidence,
        "reasons": item.reasons,
        "created_at": iso(item.created_at),
    }


async def reviews_page(request: Request) -> Response:
    inbox = inbox_of(request)
    mine, _ = await run_in_threadpool(_open_items, inbox, request.state.reviewer)
    flash = request.session.pop("flash", None)
    items = [_view(item) for item in mine]
    return inbox.page(request, "reviews.html", {"items": items, "flash": flash})


def _close(inbox: Inbox, reviewer: str, review_id: str, problem: str | None) -> ReviewItem:
    from langgraph_hitl.deciding.desk import ReviewDesk

    _, others = _open_items(inbox, reviewer)
    barred = next((item for item in others if item.review_id == review_id), None)
    if barred is not None:
        with inbox.ledger() as ledger:
            found = ledger.sign_in_record(reviewer)
            needed = " or ".join(_roles_for(barred, ledger.tier_roles()))
            refusal = NotAuthorizedError(
                f"{reviewer} is a {found[0] if found else 'reviewer without a role'} and may"
                f" not close {review_id}: its tier ({barred.tier}) needs a {needed}"
            )
            ledger.add_event(
                "refused",
                request_id=review_id,
                thread_id=barred.thread_id,
                actor=reviewer,
                data={"why": str(refusal), "type": "problem" if problem else "ok"},
            )
        raise refusal
    # Open and theirs, or not open at all: the ledger says which (closed, unknown).
    return ReviewDesk(inbox.db).close_review(review_id, problem=problem, reviewer=reviewer)


async def close_review(request: Request) -> Response:
    """Close one item as `ok` or `problem` (with a note) for the session's reviewer."""
    inbox = inbox_of(request)
    review_id = request.path_params["review_id"]
    form = await request.form()
    outcome, note = form.get("outcome"), form.get("note")
    if outcome not in ("ok", "problem"):
        return inbox.error(request, 400, "close it as ok or as a problem")
    problem = None
    if outcome == "problem":
        if not isinstance(note, str) or not note.strip():
            return inbox.error(request, 400, "a problem needs a note saying what was wrong")
        problem = note.strip()
    try:
        item = await run_in_threadpool(_close, inbox, request.state.reviewer, review_id, problem)
    except HitlError as error:
        return inbox.error(request, status_of(error), str(error))
    request.session["flash"] = f"{item.review_id}: closed as {item.status}"
    return RedirectResponse("/reviews", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/reviews", guarded(reviews_page), methods=["GET"]),
    Route("/reviews/{review_id}/close", guarded(close_review), methods=["POST"]),
]
