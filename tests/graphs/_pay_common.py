"""What the test payment graphs share: the state, the request a reviewer sees, a connection.

Imported by `gated_pay.py` and `fault_pay.py` (the graph loader puts their folder on the
path); it has no crash points of its own.
"""

from __future__ import annotations

import sqlite3
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from langgraph_hitl import ApprovalRequest


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


def _connect(path: str) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30)
