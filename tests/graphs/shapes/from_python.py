"""Pause a shape graph from your own Python, as an app would: streamed, or async.

    python from_python.py stream DB THREAD INPUT_JSON   # graph.stream(...) on open_checkpointer
    python from_python.py async DB THREAD INPUT_JSON    # ainvoke on open_async_checkpointer

Run with the project root as the current directory: the graphs are imported as the
app's own code imports them (`tests.graphs.shapes.typed_state`), and their reference
is recorded relative to it. Prints the pending interrupt ids, one per line.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STREAMED = "tests/graphs/shapes/typed_state.py:make_graph"
ASYNC = "tests/graphs/shapes/async_graphs.py:async_graph"


def _import(name: str) -> Any:
    # The app's own layout: the project root on the path, the graphs' siblings too.
    sys.path[:0] = [str(Path.cwd()), str(HERE)]
    return importlib.import_module(f"tests.graphs.shapes.{name}")


def stream(db: str, thread: str, data: dict[str, Any]) -> list[str]:
    from langgraph_hitl import open_checkpointer

    module = _import("typed_state")
    config = {"configurable": {"thread_id": thread}}
    with open_checkpointer(db, graph=STREAMED) as saver:
        graph = module.make_graph(saver)
        asked = []
        for chunk in graph.stream(data, config, stream_mode="updates"):
            asked += [item.id for item in chunk.get("__interrupt__", ())]
        return asked


async def ainvoke(db: str, thread: str, data: dict[str, Any]) -> list[str]:
    from langgraph_hitl import open_async_checkpointer

    module = _import("async_graphs")
    config = {"configurable": {"thread_id": thread}}
    async with open_async_checkpointer(db, graph=ASYNC) as saver:
        out = await module.async_graph(saver).ainvoke(data, config)
        return [item.id for item in out.get("__interrupt__", ())]


def main() -> None:
    mode, db, thread, raw = sys.argv[1:5]
    data = json.loads(raw)
    asked = stream(db, thread, data) if mode == "stream" else asyncio.run(ainvoke(db, thread, data))
    print("\n".join(asked))


if __name__ == "__main__":
    main()
