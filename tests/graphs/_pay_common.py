"""What the test payment graphs share: the state, the request a reviewer sees, a connection
(to the SQLite file or the PostgreSQL database the graph's checkpoints are in).

Imported by `gated_pay.py` and `fault_pay.py` (the graph loader puts their folder on the
path); it has no crash points of its own.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from langgraph_hitl import ApprovalRequest
from langgraph_hitl.ledger import connect
from langgraph_hitl.ledger.store.postgres import is_postgres, translate_ddl


class PayArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: str = Field(min_length=1)
    amount: float = Field(gt=0)


class State(TypedDict, total=False):
    item_id: str
    amount: float
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str


def pay_request(state: State) -> ApprovalRequest:
    return ApprovalRequest.model_validate(
        {
            "action": {
                "name": "pay",
                "args": {"item_id": state["item_id"], "amount": state["amount"]},
            },
            "summary": f"Pay {state['item_id']}: {state['amount']:,.2f}",
            "reasons": ["every payment is approved by a human"],
            "risk_tier": "high",
        }
    )


@contextmanager
def _connect(path: str) -> Iterator[Any]:
    """One transaction on the graph's database (its SQLite file or PostgreSQL database)."""
    if is_postgres(path):
        with closing(connect(path)) as conn:
            yield conn
        return  # autocommit: each statement is its own transaction
    with closing(sqlite3.connect(path, timeout=30)) as conn, conn:
        yield conn


def ddl(path: str, sql: str) -> str:
    """A `CREATE TABLE` in SQLite's types, as the graph's database takes it."""
    return translate_ddl(sql) if is_postgres(path) else sql


def create_pay_tables(path: str) -> None:
    """`paid` (one row per item, ever) and `pay_attempts` (one row per run of `pay`)."""
    with _connect(path) as conn:
        conn.execute(
            ddl(
                path,
                "CREATE TABLE IF NOT EXISTS paid (item_id TEXT PRIMARY KEY, amount REAL NOT NULL,"
                " thread_id TEXT NOT NULL)",
            )
        )
        conn.execute(
            ddl(
                path,
                "CREATE TABLE IF NOT EXISTS pay_attempts (seq INTEGER PRIMARY KEY, item_id TEXT,"
                " pid INTEGER)",
            )
        )


def approved_args(state: Any) -> dict[str, Any]:
    """What `pay` pays: the args as approved (edits applied), else the state's item."""
    args: dict[str, Any] = (state.get("approved_action") or {}).get("args") or {
        "item_id": state["item_id"],
        "amount": state["amount"],
    }
    return args


def note_attempt(path: str, args: dict[str, Any]) -> None:
    with _connect(path) as conn:
        conn.execute(
            "INSERT INTO pay_attempts (item_id, pid) VALUES (?, ?)",
            (args["item_id"], os.getpid()),
        )


def pay_once(path: str, args: dict[str, Any], thread_id: str) -> None:
    with _connect(path) as conn:
        conn.execute(
            "INSERT OR IGNORE INTO paid (item_id, amount, thread_id) VALUES (?, ?, ?)",
            (args["item_id"], args["amount"], thread_id),
        )
