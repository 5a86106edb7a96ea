"""The refund agent of `examples/refund_agent.py` under a stricter policy, for the tests.

Refunds over 1,000 are tier `critical`: two different managers must approve. Refunds over
100 are `high`: a manager, within an hour, else `sweep` escalates to a director, then
rejects. Smaller ones are `low`: they run alone, and half of them are sampled for review
after the fact. The agent's confidence comes from `$REVIEW_AGENT_CONFIDENCE` (default
0.9): below 0.5 a call escalates whatever its amount, between 0.5 and 0.8 it runs and is
queued for review.

`E2E_BLOCK_AT=scorer` (with `E2E_READY_FIFO` and `E2E_BLOCK_FIFO`, see `gated_pay.py`) blocks
the scorer: set for a decider, it blocks once the decision is recorded, as the middleware
scores the call again on resume, before the tool runs.
"""

from __future__ import annotations

import os
from typing import Any

from langchain.agents import create_agent

from examples.refund_agent import ORDERS, RefundModel, make_tools
from langgraph_hitl import ConfidenceRouter, ReviewPolicy, RiskRules, Tier
from langgraph_hitl.capture.agents import ApprovalMiddleware, ToolCallView

ORDERS.setdefault(
    "9", {"order_id": "9", "customer": "Grace Hopper", "total": 2500.0, "item": "sofa"}
)

POLICY = ReviewPolicy(
    roles=["support", "manager", "director"],
    tiers=[
        Tier(name="low", role="support", sample_rate=0.5),
        Tier(name="high", role="manager", escalate=True, deadline="1h"),
        Tier(name="critical", role="manager", escalate=True, quorum=2, deadline="1h"),
    ],
    router=ConfidenceRouter(autonomous_at=0.8, review_at=0.5, rules=RiskRules(max_amount=100)),
    seed=7,
)


def _block_here() -> None:
    """Say so on the ready FIFO, then block on the other until the test kills us."""
    with open(os.environ["E2E_READY_FIFO"], "w") as ready:
        ready.write(f"scorer {os.getpid()}\n")
    with open(os.environ["E2E_BLOCK_FIFO"]) as block:
        block.read()
    raise SystemExit("the block FIFO was written to: tests never do that")


def tier(view: ToolCallView) -> str:
    amount = view.get("amount")
    if isinstance(amount, int | float) and amount > 1000:
        return "critical"
    return "high" if isinstance(amount, int | float) and amount > 100 else "low"


def confidence(view: ToolCallView) -> float:
    if os.environ.get("E2E_BLOCK_AT") == "scorer":
        _block_here()
    return float(os.environ.get("REVIEW_AGENT_CONFIDENCE", "0.9"))


REVIEW = ApprovalMiddleware(POLICY, tools={"issue_refund"}, tier=tier, scorer=confidence)


def make_agent(checkpointer: Any) -> Any:
    return create_agent(
        RefundModel(),
        make_tools(str(checkpointer.path)),
        middleware=[REVIEW],
        checkpointer=checkpointer,
    )
