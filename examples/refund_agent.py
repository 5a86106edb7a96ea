"""A refund support agent built with LangChain's `create_agent`, reviewed by langgraph-hitl.

    langgraph-hitl run examples/refund_agent.py:make_agent -m "Order 42 arrived broken"

The chat model is scripted (no network, no LLM): a pure function of the conversation,
so whichever process continues a thread continues it the same way.

1. It looks the order up (`lookup_order`: read-only, runs alone).
2. It proposes a full refund with its reasoning (`issue_refund`). `ApprovalMiddleware`
   routes the call under `POLICY`: a refund over 100 is tier `high` (a manager decides,
   within 4 hours, else `sweep` escalates and finally rejects); smaller ones run alone,
   and 20% of them are queued for review after the fact.
3. After the refund (or the reviewer's rejection) it answers the customer, from what
   the tools said.

`issue_refund` writes one row per order to the `refunds` table of the agent's database,
keyed by order id: an order is never refunded twice.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, tool

from langgraph_hitl import ConfidenceRouter, ReviewPolicy, RiskRules, Tier
from langgraph_hitl.capture.agents import ApprovalMiddleware

ORDERS: dict[str, dict[str, Any]] = {
    "42": {"order_id": "42", "customer": "Ada Lovelace", "total": 180.0, "item": "kettle"},
    "7": {"order_id": "7", "customer": "Alan Turing", "total": 35.0, "item": "mug"},
}
"""The shop's orders, as `lookup_order` finds them."""

POLICY = ReviewPolicy(
    roles=["support", "manager"],
    tiers=[
        Tier(name="low", role="support", sample_rate=0.2),
        Tier(name="high", role="manager", escalate=True, deadline="4h"),
    ],
    router=ConfidenceRouter(
        autonomous_at=0.8,
        review_at=0.5,
        rules=RiskRules(max_amount=100, irreversible_actions={"close_account"}),
    ),
    seed=42,
)


class RefundModel(BaseChatModel):
    """A scripted support model: look the order up, propose a refund, answer the customer."""

    @property
    def _llm_type(self) -> str:
        return "scripted-refunds"

    def bind_tools(self, tools: Any, **kwargs: Any) -> RefundModel:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=next_turn(messages))])


def next_turn(messages: list[BaseMessage]) -> AIMessage:
    """What the scripted model says next, from the conversation alone."""
    asked = next((str(m.content) for m in messages if isinstance(m, HumanMessage)), "")
    found = re.search(r"\d+", asked)
    order_id = found.group() if found else "unknown"
    results = {m.name: str(m.content) for m in messages if isinstance(m, ToolMessage)}
    if "lookup_order" not in results:
        return AIMessage(
            content=f"Let me look order {order_id} up.",
            tool_calls=[{"name": "lookup_order", "args": {"order_id": order_id}, "id": "lookup"}],
        )
    if "issue_refund" not in results:
        order = json.loads(results["lookup_order"])
        if "total" not in order:
            return AIMessage(content=f"I could not find order {order_id}.")
        return AIMessage(
            content=(
                f"Order {order_id} ({order['item']}) was charged {order['total']:.2f} USD and"
                " the customer reports it arrived broken. I recommend a full refund."
            ),
            tool_calls=[
                {
                    "name": "issue_refund",
                    "args": {"order_id": order_id, "amount": order["total"], "reason": "damaged"},
                    "id": "refund",
                }
            ],
        )
    outcome = results["issue_refund"]
    if outcome.startswith("User rejected"):
        why = outcome.split("reason:", 1)[-1].strip()
        return AIMessage(content=f"I'm sorry: I can't refund order {order_id} ({why}).")
    amount = re.search(r"refunded ([\d.]+)", outcome)
    if amount is None:  # a reviewer answered in the tool's place (`respond`)
        return AIMessage(content=f"About order {order_id}: {outcome}")
    return AIMessage(
        content=f"I've refunded {amount.group(1)} USD for order {order_id}. Sorry about that!"
    )


def make_tools(path: str) -> list[BaseTool]:
    """The agent's tools; refunds go to the `refunds` table of the database at `path`."""
    with closing(sqlite3.connect(path, timeout=30)) as conn, conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS refunds (order_id TEXT PRIMARY KEY, amount REAL,"
            " reason TEXT)"
        )

    @tool
    def lookup_order(order_id: str) -> str:
        """Look an order up by its id."""
        return json.dumps(ORDERS.get(order_id, {"error": f"no order {order_id}"}))

    @tool
    def issue_refund(order_id: str, amount: float, reason: str) -> str:
        """Refund an order (money leaves the shop: reviewed above 100)."""
        with closing(sqlite3.connect(path, timeout=30)) as conn, conn:
            conn.execute(
                "INSERT OR IGNORE INTO refunds VALUES (?, ?, ?)", (order_id, amount, reason)
            )
        return f"refunded {amount:.2f} USD on order {order_id}"

    return [lookup_order, issue_refund]


REVIEW = ApprovalMiddleware(
    POLICY,
    tools={"issue_refund", "close_account"},
    scorer=lambda view: 0.9,  # the agent's confidence; a real one comes from the model
)


def make_agent(checkpointer: Any) -> Any:
    """The agent on `checkpointer` (a factory: the CLI hands it langgraph-hitl's saver)."""
    return create_agent(
        RefundModel(),
        make_tools(str(checkpointer.path)),
        middleware=[REVIEW],
        checkpointer=checkpointer,
    )
