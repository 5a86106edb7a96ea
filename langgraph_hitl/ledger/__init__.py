"""The review ledger: requests, decisions, reviewers, events, leases and reviews.

The ledger lives in the same database as LangGraph's checkpoints (a SQLite file, or a
PostgreSQL database), in tables of its own (`hitl_*`). It imports neither LangGraph nor
the user's graph, so listing, showing and deciding stay fast and safe. Every write is one
short transaction, one writer at a time; every value is bound; the SQL is written once
for both backends.

`ReviewLedger` is the whole ledger, one concept per module beneath it:

- `store`: the storage interface (`LedgerStore`) and its two backends, `sqlite` and
  `postgres`, with their migrations (`store.schema`);
- `events`: the hash-chained event log and its notification outbox; `audit` verifies it;
- `threads`: which graph a thread belongs to and how it ended; `leases`: who applies it;
- `requests`: what gates asked, found and listed;
- `decisions`: decisions and quorum votes, recorded once, checked against who may take
  them, followed until applied;
- `reviewers`, `routing` (the routing log), `deadlines` (the sweep, cancellation) and
  `reviews` (after-the-fact review).

A decision is recorded first (once: the first valid decision wins) and applied second;
see `ReviewDesk` for the applying half.
"""

from __future__ import annotations

from langgraph_hitl._time import clock, simulated_clock
from langgraph_hitl.ledger.deadlines import SWEEP_ACTOR, Deadlines
from langgraph_hitl.ledger.events import GENESIS_HASH, NOTIFY_KINDS, event_hash
from langgraph_hitl.ledger.leases import DEFAULT_LEASE_S, Leases, lease_owner, owner_is_dead
from langgraph_hitl.ledger.records import RequestRecord, ReviewItem
from langgraph_hitl.ledger.requests import request_id_for
from langgraph_hitl.ledger.reviewers import Reviewers
from langgraph_hitl.ledger.reviews import Reviews
from langgraph_hitl.ledger.routing import RoutingLog
from langgraph_hitl.ledger.store import BUSY_TIMEOUT_S, connect, stable_id, table_names

__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_LEASE_S",
    "GENESIS_HASH",
    "NOTIFY_KINDS",
    "SWEEP_ACTOR",
    "RequestRecord",
    "ReviewItem",
    "ReviewLedger",
    "clock",
    "connect",
    "event_hash",
    "lease_owner",
    "owner_is_dead",
    "request_id_for",
    "simulated_clock",
    "stable_id",
    "table_names",
]


class ReviewLedger(Deadlines, Reviews, Reviewers, RoutingLog, Leases):
    """The review ledger over a connection the caller owns, or one it opens.

    Args:
        conn: An open connection to the checkpoint database.
        lock: A lock shared with other users of `conn` (the checkpointer's), if any.

    Example:
        >>> with ReviewLedger.open("hitl.sqlite") as ledger:
        ...     for rec in ledger.pending(tier="high"):
        ...         print(rec.request_id, rec.request.summary)
        req_... Pay INV-1003: 52,000.00 USD to Initech LLC
    """
