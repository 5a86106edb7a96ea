"""The agent the agent benchmark runs: a LangChain `create_agent` agent whose refunds
LangChain's own `HumanInTheLoopMiddleware` gates.

It is the refund agent of `examples/refund_agent.py` (its scripted chat model and its
tools: no network, no LLM), with the stock middleware in place of ours: asked about an
order, it looks the order up (`lookup_order`, ungated), then proposes one refund
(`issue_refund`, gated), and after the answer tells the customer. `stock_agent` is a
factory taking the checkpointer, so the `ReviewDesk` can refer to it as
`_agents.py:stock_agent` from this directory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _common import REPO
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `examples` is in the repository, not installed

from examples.refund_agent import RefundModel, make_tools

AGENT_REF = "_agents.py:stock_agent"
"""How the desk refers to the agent, relative to this directory."""

ASK = {"messages": [{"role": "user", "content": "Order 42 arrived broken"}]}
"""The customer's message: the agent proposes a refund of 180.00 on order 42."""

ANSWERED = "I've refunded 180.00 USD for order 42. Sorry about that!"
"""What the agent says last once the refund is approved."""


def build_agent(path: str | Path, checkpointer: Any) -> Any:
    """The agent on `checkpointer`, its refunds in the `refunds` table of `path`."""
    middleware = HumanInTheLoopMiddleware({"issue_refund": True})
    return create_agent(
        RefundModel(), make_tools(str(path)), middleware=[middleware], checkpointer=checkpointer
    )


def stock_agent(checkpointer: Any) -> Any:
    """The agent on langgraph-hitl's saver (the desk hands it over)."""
    return build_agent(checkpointer.path, checkpointer)
