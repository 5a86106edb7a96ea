"""langgraph-hitl's saver as the checkpointer of `langgraph dev` and Agent Server.

Name it in `langgraph.json`, beside your graphs::

    {
      "graphs": {"refunds": "./agents/refunds.py:agent"},
      "checkpointer": {"path": "langgraph_hitl.server.checkpointer"}
    }

Threads run from LangGraph Studio or the server's API then checkpoint into one SQLite
file (`$LANGGRAPH_HITL_DB`, default `hitl.sqlite` in the server's directory) with the
review ledger beside them: their pauses (gates, `ApprovalMiddleware`, LangChain's
HumanInTheLoopMiddleware) are in `langgraph-hitl list`, and a reviewer decides them
from the CLI as any other. Each thread records the server's graph id (its name in
`langgraph.json`) and the server's directory, so the CLI loads the same graph to apply
a decision. The server keeps its own threads, runs and store; only checkpoints come
here.

An answer sent through the server (`Command(resume=...)` in a run) is a direct answer:
to a gate or an `ApprovalMiddleware` pause it meets the ledger's rules and is refused in
place when they refuse it (the run fails with the refusal and nothing is saved); to
LangChain's own middleware it is recorded when its task's writes land (see
`langgraph_hitl._stock_hitl`). When the server authenticates its users, an answer in
a run is its signed-in user's (`langgraph_auth_user_id`): held to that user's role, and
refused when it names somebody else as its `reviewer`.

Name graphs the server and the CLI can both load: a compiled graph or agent without a
checkpointer of its own, or a factory taking no arguments (the server calls a
one-argument factory with its config, the CLI with the checkpointer). Run the server
from the folder that holds `langgraph.json`: threads record it as their project root.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph_hitl.checkpointing import HitlAsyncSqliteSaver, open_async_checkpointer


@asynccontextmanager
async def checkpointer() -> AsyncIterator[HitlAsyncSqliteSaver]:
    """The async saver on `$LANGGRAPH_HITL_DB` (default `hitl.sqlite`), for the server.

    Threads record the graph id the server runs them as (`configurable.graph_id`).
    """
    path = os.environ.get("LANGGRAPH_HITL_DB") or "hitl.sqlite"
    async with open_async_checkpointer(path) as saver:
        saver.graph_from_run = True
        saver.root = Path.cwd().resolve()  # where langgraph.json names the graph ids
        yield saver
