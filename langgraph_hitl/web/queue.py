"""The queue: what the signed-in reviewer may decide, as a page and as JSON.

Overdue and nearest deadline first, as the ledger orders its queue (an index in that
order, so the first rows of a 10,000-request queue are read, not sorted). Among requests
with the same deadline (most often: none), a higher tier comes first; the ledger's index
does not know tiers, so that part of the order is applied here, to the groups of equal
deadline that the page holds whole.

Filters (`?gate=&tier=&action=`) go to the ledger's query with the reviewer's own filter,
so no filter reaches past the reviewer's queue; the counts per gate, tier and action are
the reviewer's queue's too, from one grouped query, kept until the ledger next changes.
A page shows at most `PAGE_ROWS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langgraph_hitl._time import clock
from langgraph_hitl.ledger import RequestRecord
from langgraph_hitl.web.inbox import Inbox, guarded, inbox_of

PAGE_ROWS = 200
"""The most requests one page (or one `/api/queue` answer) holds; the rest are counted."""

FILTERS = ("gate", "tier", "action")
"""The query parameters the queue filters on, as `ReviewLedger.pending` takes them."""

TIER_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
"""The tier order among requests of the same deadline; other tier names come after low."""


@dataclass(frozen=True, kw_only=True)
class Queue:
    """One page of a reviewer's queue."""

    records: list[RequestRecord]
    """The page's requests, in the queue's order."""
    total: int
    """Everything in the reviewer's queue, filters aside."""
    matching: int
    """What the filters let through (`total` without filters)."""
    counts: dict[str, list[tuple[str, int]]]
    """For each of `FILTERS`, its values in the reviewer's queue and how many have each."""


def chosen_filters(params: Mapping[str, str]) -> dict[str, str]:
    """The filters a query string sets (blank ones are no filter).

    >>> chosen_filters({"tier": "high", "gate": "", "page": "2"})
    {'tier': 'high'}
    """
    return {name: params[name] for name in FILTERS if params.get(name)}


def _rank(tier: str | None) -> int:
    return TIER_RANK.get(tier or "", len(TIER_RANK))


def by_tier(records: list[RequestRecord], whole: bool) -> list[RequestRecord]:
    """`records` (in the ledger's order) with a higher tier first among equal deadlines.

    Only groups the page holds whole are reordered: when the page is full (`whole` is
    False), its last group may go on past it, so that group keeps the ledger's order.
    """
    groups = [list(g) for _, g in groupby(records, key=lambda rec: rec.deadline)]
    ordered: list[RequestRecord] = []
    for index, group in enumerate(groups):
        if whole or index < len(groups) - 1:
            # sorted() is stable: oldest first stays the order within a tier.
            group = sorted(group, key=lambda rec: _rank(rec.tier))
        ordered.extend(group)
    return ordered


Counts = dict[str, tuple[int, dict[tuple[str | None, str, str], int]]]
"""Per reviewer: the ledger's newest event when their queue was counted, and the counts."""

COUNTED_REVIEWERS = 1024
"""How many reviewers' counts a server process keeps."""


def counts_of(app: Starlette) -> Counts:
    """The app's counts per reviewer (made on first use: one per server process)."""
    counts: Counts | None = getattr(app.state, "queue_counts", None)
    if counts is None:
        counts = app.state.queue_counts = {}
    return counts


def load_queue(
    inbox: Inbox, reviewer: str, filters: Mapping[str, str], counted: Counts | None = None
) -> Queue:
    """The reviewer's queue (the ledger's own filter: their role is eligible, they do not
    own the work, they have not voted on it yet), filtered and counted.

    Counting reads the whole queue, so the counts are kept in `counted` until the ledger
    changes: every change to a request, a vote or a reviewer appends an event in the
    same transaction, so while the newest event's seq is the same, so are the counts.
    """
    with inbox.ledger() as ledger:
        # The seq first: counts taken after it are at least that new.
        seq, _ = ledger.kinds_since(None)
        kept = None if counted is None else counted.get(reviewer)
        if kept is not None and kept[0] == seq:
            groups = kept[1]
        else:
            groups = ledger.count_pending_by(reviewer=reviewer)
            if counted is not None:
                if len(counted) >= COUNTED_REVIEWERS:
                    counted.pop(next(iter(counted)), None)
                counted[reviewer] = (seq, groups)
        records = ledger.pending(reviewer=reviewer, limit=PAGE_ROWS, **filters)
    counts: dict[str, list[tuple[str, int]]] = {}
    for index, name in enumerate(FILTERS):
        tally: dict[str, int] = {}
        for key, n in groups.items():
            value = key[index]
            if value is not None:
                tally[value] = tally.get(value, 0) + n
        if name == "tier":  # highest first, as the rows are
            counts[name] = sorted(tally.items(), key=lambda item: (_rank(item[0]), item[0]))
        else:  # the most common first
            counts[name] = sorted(tally.items(), key=lambda item: (-item[1], item[0]))
    matching = sum(
        n
        for key, n in groups.items()
        if all(filters.get(name) in (None, key[i]) for i, name in enumerate(FILTERS))
    )
    return Queue(
        records=by_tier(records, whole=len(records) < PAGE_ROWS),
        total=sum(groups.values()),
        matching=matching,
        counts=counts,
    )


async def queue(request: Request) -> Response:
    inbox = inbox_of(request)
    filters = chosen_filters(request.query_params)
    found = await run_in_threadpool(
        load_queue, inbox, request.state.reviewer, filters, counts_of(request.app)
    )
    now = clock()
    flash = request.session.pop("flash", None)
    context: dict[str, Any] = {
        "rows": [inbox.row(rec, now) for rec in found.records],
        "total": found.total,
        "matching": found.matching,
        "more": found.matching - len(found.records),
        "counts": found.counts,
        "chosen": filters,
        "flash": flash,
    }
    return inbox.page(request, "queue.html", context)


async def api_queue(request: Request) -> Response:
    """The page's rows as JSON, with the same filters and the same limit."""
    inbox = inbox_of(request)
    filters = chosen_filters(request.query_params)
    found = await run_in_threadpool(
        load_queue, inbox, request.state.reviewer, filters, counts_of(request.app)
    )
    now = clock()
    return JSONResponse(
        [inbox.row(rec, now) for rec in found.records],
        headers={"x-queue-total": str(found.total), "x-queue-matching": str(found.matching)},
    )


ROUTES: list[BaseRoute] = [
    Route("/", guarded(queue), methods=["GET"]),
    Route("/api/queue", guarded(api_queue), methods=["GET"]),
]
