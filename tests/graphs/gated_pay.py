"""A small gated graph for the end-to-end crash tests: a gate, then a `pay` side effect.

    START -> approve_pay --approve/modify--> pay ----> END
                         '--reject-------> refuse -> END

`pay` inserts one row per `item_id` into `paid` (INSERT OR IGNORE), so it may run
again without paying twice; every run of it also appends to `pay_attempts`.

Crash points, for tests only, set through the environment of the process under test:

    E2E_BLOCK_AT     `import` (while this module is imported: a decider imports it before
                     it records), `gate` (in the gate's request builder as the gate runs
                     again on resume: the decision is recorded, LangGraph has not taken
                     it), `pay-before` (in `pay`, before the insert) or `pay-after` (in
                     `pay`, after the insert)
    E2E_READY_FIFO   a FIFO this process writes one line to when it reaches the point
    E2E_BLOCK_FIFO   a FIFO it then opens for reading; nobody writes it, so it blocks
                     there until the test kills the process

Nothing here sleeps; the test learns the process is at the point from the ready line.
"""

from __future__ import annotations

import os
from typing import Any

from _pay_common import (
    PayArgs,
    State,
    approved_args,
    create_pay_tables,
    note_attempt,
    pay_once,
    pay_request,
)
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate


def _block_here(point: str) -> None:
    """At the named crash point, say so on the ready FIFO and block on the other."""
    if os.environ.get("E2E_BLOCK_AT") != point:
        return
    with open(os.environ["E2E_READY_FIFO"], "w") as ready:
        ready.write(f"{point} {os.getpid()}\n")
    with open(os.environ["E2E_BLOCK_FIFO"]) as block:
        block.read()
    raise SystemExit(f"{os.environ['E2E_BLOCK_FIFO']} was written to: tests never do that")


_block_here("import")


def make_graph(checkpointer: Any) -> Any:
    path = str(checkpointer.path)
    create_pay_tables(path)

    def pay(state: State, config: RunnableConfig) -> dict[str, Any]:
        args = approved_args(state)
        note_attempt(path, args)
        _block_here("pay-before")
        pay_once(path, args, config["configurable"]["thread_id"])
        _block_here("pay-after")
        return {"status": "paid"}

    def refuse(state: State) -> dict[str, Any]:
        return {"status": "rejected"}

    def request_at_gate(state: State) -> Any:
        _block_here("gate")
        return pay_request(state)

    gate = ApprovalGate(request_at_gate, on_approve="pay", on_reject="refuse", args_schema=PayArgs)
    builder = StateGraph(State)
    builder.add_node("approve_pay", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("refuse", refuse)
    builder.add_edge(START, "approve_pay")
    builder.add_edge("pay", END)
    builder.add_edge("refuse", END)
    return builder.compile(checkpointer=checkpointer)
