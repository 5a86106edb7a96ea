"""The refund agent as `langgraph dev` loads it: compiled, with no checkpointer of its own
(the server's is langgraph-hitl's), its refunds in the `refunds` table of
`$LANGGRAPH_HITL_DB`. `agent` is reviewed by `ApprovalMiddleware` (the example's policy);
`stock` by LangChain's HumanInTheLoopMiddleware.
"""

from __future__ import annotations

import os

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware

from examples.refund_agent import REVIEW, RefundModel, make_tools

TOOLS = make_tools(os.environ.get("LANGGRAPH_HITL_DB") or "hitl.sqlite")

agent = create_agent(RefundModel(), TOOLS, middleware=[REVIEW])

stock = create_agent(
    RefundModel(), TOOLS, middleware=[HumanInTheLoopMiddleware({"issue_refund": True})]
)
