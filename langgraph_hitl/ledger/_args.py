"""Where the ledger keeps an action's args: once, in `hitl_args`, under the action's digest.

An action's args can be large (an invoice with thousands of line items, an attached
scan). The ledger used to copy them into several places: the request row twice (its
`payload` and its `action_args`), the routing log, and, for a modify, the `decided`
event and its notification. Now:

- A request's args are stored once, in `hitl_args`, keyed by the request's
  `args_digest` (the SHA-256 of the action's name and args that binds decisions to
  what the reviewer saw). Its `payload` keeps the rest of the request, with the args
  as `null`, and `action_args` is empty. Rows that are updated (a request's status
  moves four or five times) stay small: SQLite rewrites a whole row on each update.
- Rows written before this (args in `payload` and `action_args`) read as they did:
  `args_sql` and `payload_sql` fall back to them.
- The event log, and so the notification outbox, records edited args (a modify, a
  LangChain `edit`) by their SHA-256 (`args_sha256`): the decision row holds the args,
  and `audit verify` checks the row against the digest its event recorded.
- The routing log keeps the action's name and, in its `routed` event, the action's
  digest; the args are in the request (escalated) or the review item (sampled, review).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from langgraph_hitl._json import canonical_json

if TYPE_CHECKING:
    from langgraph_hitl.ledger.store import Connection

_ARGS = "(SELECT a.args FROM hitl_args a WHERE a.digest = {r}.args_digest)"


def args_sql(alias: str = "r") -> str:
    """SQL for a request row's args as JSON text (the row is `alias` of `hitl_requests`)."""
    return f"COALESCE({_ARGS.format(r=alias)}, {alias}.action_args)"


def payload_sql(alias: str = "r") -> str:
    """SQL for a request row's whole payload as JSON text, args included."""
    return f"json_set({alias}.payload, '$.request.action.args', json({args_sql(alias)}))"


def store_args(conn: Connection, digest: str, args: Any) -> None:
    """Keep an action's args under its digest, once (inside the caller's transaction)."""
    conn.execute(
        "INSERT OR IGNORE INTO hitl_args (digest, args) VALUES (?, ?)",
        (digest, canonical_json(args)),
    )


def with_args(payload: dict[str, Any]) -> dict[str, Any]:
    """A gate's interrupt payload with its request whole: a payload of version 2 keeps the
    action's args once, in LangChain's request shape (`action_requests[0].args`).

    Example:
        >>> payload = {"request": {"action": {"name": "pay", "args": None}},
        ...            "action_requests": [{"name": "pay", "args": {"amount": 1}}]}
        >>> with_args(payload)["request"]["action"]
        {'name': 'pay', 'args': {'amount': 1}}
    """
    request = payload.get("request")
    shaped = payload.get("action_requests")
    if not isinstance(request, dict) or not isinstance(shaped, list) or not shaped:
        return payload
    action = request.get("action")
    if not isinstance(action, dict) or action.get("args") is not None:
        return payload
    args = shaped[0].get("args") if isinstance(shaped[0], dict) else None
    return {**payload, "request": {**request, "action": {**action, "args": args}}}


def without_args(payload: dict[str, Any]) -> dict[str, Any]:
    """A gate's payload with the action's args left out (`null`): they go to `hitl_args`.

    The copy of the request in LangChain's middleware shape (`action_requests`,
    `review_configs`), which front ends read from the interrupt, is left out too: it
    is made from the request."""
    request = dict(payload["request"])
    request["action"] = {**request["action"], "args": None}
    rest = {k: v for k, v in payload.items() if k not in ("action_requests", "review_configs")}
    return {**rest, "request": request}


def args_sha256(args: Any) -> str:
    """The SHA-256 of args as canonical JSON: how the event log records edited args."""
    return hashlib.sha256(canonical_json(args).encode()).hexdigest()


def trail_form(answer: Any) -> Any:
    """A decision (wire form) as the event log records it: edited args by their digest.

    Example:
        >>> trail_form({"type": "modify", "args": {"amount": 1}})["args_sha256"][:12]
        'c2b11e657e12'
    """
    if not isinstance(answer, dict):
        return answer
    out = dict(answer)
    if isinstance(out.get("args"), dict):
        out["args_sha256"] = args_sha256(out.pop("args"))
    edited = out.get("edited_action")
    if isinstance(edited, dict) and isinstance(edited.get("args"), dict):
        edited = dict(edited)
        edited["args_sha256"] = args_sha256(edited.pop("args"))
        out["edited_action"] = edited
    return out
