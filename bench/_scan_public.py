"""Find pending interrupts through LangGraph's public API alone, the fastest honest way.

There is no thread table: every checkpoint is listed with `SqliteSaver.list(None)` (into a
list first: calling `get_state` while iterating it hangs), the thread ids are taken from
it, and `graph.get_state` is asked for each thread's unanswered interrupts.

Run as a script (`python bench/_scan_public.py DB`) it prints the pending interrupts as
JSON, so `bench_list.py` can time it end to end as a fresh process.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from _graphs import build_gate_graph
from langgraph.checkpoint.sqlite import SqliteSaver


def scan(db: str | Path) -> list[dict[str, str]]:
    """`{"thread_id", "interrupt_id"}` for every unanswered interrupt in the file."""
    conn = sqlite3.connect(str(db), check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        graph = build_gate_graph().compile(checkpointer=saver)
        checkpoints = list(saver.list(None))
        threads = dict.fromkeys(c.config["configurable"]["thread_id"] for c in checkpoints)
        found = []
        for thread_id in threads:
            state = graph.get_state({"configurable": {"thread_id": thread_id}})
            found += [{"thread_id": thread_id, "interrupt_id": i.id} for i in state.interrupts]
        return found
    finally:
        conn.close()


if __name__ == "__main__":
    json.dump(scan(sys.argv[1]), sys.stdout)
    sys.stdout.write("\n")
