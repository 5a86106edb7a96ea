"""langgraph-hitl's saver as the checkpointer of `langgraph dev` and Agent Server.

Name it in `langgraph.json`, beside your graphs::

    {
      "graphs": {"refunds": "./agents/refunds.py:agent"},
      "checkpointer": {"path": "langgraph_hitl.server.checkpointer"}
    }

Threads run from LangGraph Studio or the server's API then checkpoint into the database
the CLI would use in the server's directory (`$LANGGRAPH_HITL_DB`, else `[database] url`
in its `hitl.toml`, else `hitl.sqlite`; a SQLite file or a `postgresql://` URL) with the
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
`langgraph_hitl.capture._stock_hitl`). When the server authenticates its users, an answer in
a run is its signed-in user's (`langgraph_auth_user_id`): held to that user's role, and
refused when it names somebody else as its `reviewer`.

Name graphs the server and the CLI can both load: a compiled graph or agent without a
checkpointer of its own, or a factory taking no arguments (the server calls a
one-argument factory with its config, the CLI with the checkpointer). Run the server
from the folder that holds `langgraph.json`: threads record it as their project root.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph_hitl._config import database_default
from langgraph_hitl.checkpointing import HitlSaver, open_async_checkpointer, open_checkpointer
from langgraph_hitl.ledger.store.postgres import is_postgres


@asynccontextmanager
async def checkpointer() -> AsyncIterator[HitlSaver]:
    """Our saver on the CLI's database, for the server (see the module).

    Threads record the graph id the server runs them as (`configurable.graph_id`) and
    the server's directory as their project root.
    """
    target = database_default()
    if not is_postgres(target):
        async with open_async_checkpointer(target) as saver:
            yield _for_server(saver)
        return
    # LangGraph's PostgreSQL saver is sync (ours serves its async methods from worker
    # threads): it connects and sets up in one, off the server's event loop.
    opened = open_checkpointer(target)
    synced = await asyncio.to_thread(opened.__enter__)
    try:
        yield _for_server(synced)
    finally:
        await asyncio.to_thread(opened.__exit__, None, None, None)


def _for_server(saver: HitlSaver) -> HitlSaver:
    saver.graph_from_run = True
    saver.root = Path.cwd().resolve()  # where langgraph.json names the graph ids
    return saver
