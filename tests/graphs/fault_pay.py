"""A gated graph for the fault-injection tests: a gate, then three idempotent steps.

    START -> approve_pay --approve/modify--> pay -> book -> notify -> END
                         '--reject-------> refuse ---------------> END

Like `gated_pay.py`, but the approved path is three steps, each its own superstep with
its own checkpoint write, so a kill by time has more of the apply to land in:

    pay      INSERT OR IGNORE one row per `item_id` into `paid`
    book     INSERT OR IGNORE one row per `item_id` into `booked`
    notify   INSERT OR IGNORE one row per `item_id` into `notified`

Every run of a step also appends to `step_attempts`, so re-runs are visible.

Crash points, for tests only, set through the environment of the process under test:

    E2E_BLOCK_AT     `import` (while this module is imported: a decider imports it
                     before it records), `gate` (in the gate's request builder as the
                     gate runs again on resume: the decision is recorded and its apply
                     started, LangGraph has not taken it), `pay-before` (in `pay`,
                     before its insert), `pay-after` (in `pay`, after its insert),
                     `notify` (in `notify`, before its insert: `pay` and `book` are done
                     and checkpointed) or `checkpoint` (in the checkpointer's `put` of the
                     step that ran the gate with its answer, once the gate's writes are
                     saved: the checkpoint after them is not)
    E2E_READY_FIFO   a FIFO this process writes one line to when it reaches the point
    E2E_BLOCK_FIFO   a FIFO it opens (read-write, so the open never blocks) before the
                     ready line, then reads: it blocks there until the test kills the
                     process, or writes `go` to let it carry on (so that the test can
                     kill it a measured time after this point)

Nothing here sleeps; the test learns the process is at the point from the ready line.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from _pay_common import PayArgs, State, _connect, ddl, pay_request
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate

STEPS = ("pay", "book", "notify")
TABLES = {"pay": "paid", "book": "booked", "notify": "notified"}


def _block_here(point: str) -> None:
    """At the named crash point, say so on the ready FIFO and block on the other."""
    if os.environ.get("E2E_BLOCK_AT") != point:
        return
    block = os.open(os.environ["E2E_BLOCK_FIFO"], os.O_RDWR)
    try:
        with open(os.environ["E2E_READY_FIFO"], "w") as ready:
            ready.write(f"{point} {os.getpid()}\n")
        said = b""
        while not said.endswith(b"\n"):
            said += os.read(block, 64)
    finally:
        os.close(block)
    if said != b"go\n":
        raise SystemExit(f"{os.environ['E2E_BLOCK_FIFO']}: expected go, got {said!r}")


_block_here("import")


def _hold_checkpoint_after_gate(checkpointer: Any) -> None:
    """For `E2E_BLOCK_AT=checkpoint`: block in the `put` of the first checkpoint that holds
    the gate's answer, once the gate's own writes are saved, before the saver writes it.

    LangGraph saves a task's writes and the next checkpoint from background threads, in
    no fixed order; waiting here for the writes (an event, not a sleep) makes the point
    exact: the gate's writes are saved, the checkpoint after them is not.
    """
    if os.environ.get("E2E_BLOCK_AT") != "checkpoint":
        return
    put, put_writes = checkpointer.put, checkpointer.put_writes
    gate_saved = threading.Event()
    held: list[bool] = []

    def put_writes_then_tell(config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        put_writes(config, writes, task_id, task_path)
        if any(channel == "decision" for channel, _ in writes):
            gate_saved.set()

    def put_after_block(config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        if not held and "decision" in checkpoint.get("channel_values", {}):
            held.append(True)
            if not gate_saved.wait(timeout=60):
                raise SystemExit("the gate's writes were never saved: no crash point")
            _block_here("checkpoint")
        return put(config, checkpoint, metadata, new_versions)

    checkpointer.put_writes = put_writes_then_tell
    checkpointer.put = put_after_block


def make_graph(checkpointer: Any) -> Any:
    path = str(checkpointer.path)
    _hold_checkpoint_after_gate(checkpointer)
    with _connect(path) as conn:
        for table in TABLES.values():
            conn.execute(
                ddl(
                    path,
                    f"CREATE TABLE IF NOT EXISTS {table} (item_id TEXT PRIMARY KEY,"
                    " amount REAL NOT NULL, thread_id TEXT NOT NULL)",
                )
            )
        conn.execute(
            ddl(
                path,
                "CREATE TABLE IF NOT EXISTS step_attempts (seq INTEGER PRIMARY KEY, step TEXT,"
                " item_id TEXT, pid INTEGER)",
            )
        )

    def args_of(state: State) -> dict[str, Any]:
        return (state.get("approved_action") or {}).get("args") or {
            "item_id": state["item_id"],
            "amount": state["amount"],
        }

    def step(name: str, before: str | None, after: str | None) -> Any:
        def node(state: State, config: RunnableConfig) -> dict[str, Any]:
            args = args_of(state)
            with _connect(path) as conn:
                conn.execute(
                    "INSERT INTO step_attempts (step, item_id, pid) VALUES (?, ?, ?)",
                    (name, args["item_id"], os.getpid()),
                )
            if before:
                _block_here(before)
            with _connect(path) as conn:
                conn.execute(
                    f"INSERT OR IGNORE INTO {TABLES[name]} (item_id, amount, thread_id)"
                    " VALUES (?, ?, ?)",
                    (args["item_id"], args["amount"], config["configurable"]["thread_id"]),
                )
            if after:
                _block_here(after)
            return {"status": "paid"}

        node.__name__ = name
        return node

    def refuse(state: State) -> dict[str, Any]:
        return {"status": "rejected"}

    def request_at_gate(state: State) -> Any:
        _block_here("gate")
        return pay_request(state)

    gate = ApprovalGate(request_at_gate, on_approve="pay", on_reject="refuse", args_schema=PayArgs)
    builder = StateGraph(State)
    builder.add_node("approve_pay", gate, destinations=gate.destinations)
    builder.add_node("pay", step("pay", "pay-before", "pay-after"))
    builder.add_node("book", step("book", None, None))
    builder.add_node("notify", step("notify", "notify", None))
    builder.add_node("refuse", refuse)
    builder.add_edge(START, "approve_pay")
    builder.add_edge("pay", "book")
    builder.add_edge("book", "notify")
    builder.add_edge("notify", END)
    builder.add_edge("refuse", END)
    return builder.compile(checkpointer=checkpointer)
