"""open_checkpointer: SQLite set up safely, and every gate's interrupt mirrored in the ledger."""

from __future__ import annotations

import asyncio
import operator
import pickle
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from langgraph_hitl import ApprovalGate, ReviewLedger, open_async_checkpointer, open_checkpointer
from langgraph_hitl.errors import ThreadBusyError
from langgraph_hitl.ledger import request_id_for


class State(TypedDict, total=False):
    amount: float
    note: Any
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    mail_decision: dict[str, Any] | None
    mail_action: dict[str, Any] | None
    done: Annotated[list[str], operator.add]


@dataclass
class Receipt:
    """A custom type in state that the serializer has not been told about."""

    number: str
    amount: float


class Touch:
    """A pickle that creates a file when unpickled: proof of code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (self.marker,))


def pay_request(state: State) -> dict[str, Any]:
    return {
        "action": {"name": "pay_invoice", "args": {"amount": state["amount"]}},
        "summary": f"Pay {state['amount']:,.2f} EUR",
        "risk_tier": "high",
    }


def mail_request(state: State) -> dict[str, Any]:
    return {"action": {"name": "send_email", "args": {"to": "ap@acme.test"}}, "summary": "Email"}


def pay(state: State) -> dict[str, Any]:
    return {"done": ["pay"]}


def notify(state: State) -> dict[str, Any]:
    return {"done": ["notify"]}


def gated_graph(pay: Any = pay) -> StateGraph[Any]:
    """START -> approve_payment -> pay | notify."""
    gate = ApprovalGate(pay_request, on_approve="pay", on_reject="notify")
    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("approve_payment", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("notify", notify)
    builder.add_edge(START, "approve_payment")
    builder.add_edge("pay", END)
    builder.add_edge("notify", END)
    return builder


def config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


# -- the connection and the serializer ---------------------------------------------------------


def test_wal_and_busy_timeout(tmp_path: Path) -> None:
    """The checkpoint file is in WAL mode and waits for other writers instead of failing."""
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert saver.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert saver.ledger.conn is saver.conn
    probe = sqlite3.connect(tmp_path / "c.sqlite")
    try:
        assert probe.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        probe.close()


def test_serializer_never_unpickles(tmp_path: Path) -> None:
    """The serializer has no pickle fallback: a pickled blob is refused, never run."""
    marker = tmp_path / "pwned"
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        assert saver.serde.pickle_fallback is False
        with pytest.raises(NotImplementedError):
            saver.serde.loads_typed(("pickle", pickle.dumps(Touch(marker))))
    assert not marker.exists()


def test_tampered_checkpoint_is_not_unpickled(tmp_path: Path) -> None:
    """A checkpoint row rewritten as a pickle fails to load instead of running code."""
    db = tmp_path / "c.sqlite"
    marker = tmp_path / "pwned"
    with open_checkpointer(db) as saver:
        gated_graph().compile(checkpointer=saver).invoke({"amount": 1.0}, config("t"))
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE checkpoints SET type = 'pickle', checkpoint = ?",
            (pickle.dumps(Touch(marker)),),
        )
    conn.close()
    with open_checkpointer(db) as saver, pytest.raises(NotImplementedError):
        gated_graph().compile(checkpointer=saver).get_state(config("t"))
    assert not marker.exists()


def test_unregistered_type_does_not_come_back_as_itself(tmp_path: Path) -> None:
    """A custom class in state is stored, but read back as plain data, not revived."""
    db = tmp_path / "c.sqlite"
    with open_checkpointer(db) as saver:
        graph = gated_graph().compile(checkpointer=saver)
        graph.invoke({"amount": 1.0, "note": Receipt("R-1", 1.0)}, config("t"))
    with open_checkpointer(db) as saver:
        note = gated_graph().compile(checkpointer=saver).get_state(config("t")).values["note"]
    assert not isinstance(note, Receipt)
    assert note == {"number": "R-1", "amount": 1.0}


def test_allowed_type_comes_back(tmp_path: Path) -> None:
    """A type passed in allowed_types is revived as itself."""
    db = tmp_path / "c.sqlite"
    with open_checkpointer(db, allowed_types=[Receipt]) as saver:
        graph = gated_graph().compile(checkpointer=saver)
        graph.invoke({"amount": 1.0, "note": Receipt("R-1", 1.0)}, config("t"))
    with open_checkpointer(db, allowed_types=[Receipt]) as saver:
        note = gated_graph().compile(checkpointer=saver).get_state(config("t")).values["note"]
    assert note == Receipt("R-1", 1.0)


# -- interrupts reach the ledger ---------------------------------------------------------------


def assert_one_pending(db: Path, thread_id: str, interrupt_id: str) -> str:
    with ReviewLedger.open(db) as ledger:
        (rec,) = ledger.pending()
        assert (rec.thread_id, rec.interrupt_id) == (thread_id, interrupt_id)
        assert rec.request_id == request_id_for(thread_id, interrupt_id)
        assert (rec.gate, rec.graph) == ("approve_payment", "payments")
        assert rec.request.summary == "Pay 52,000.00 EUR"
        assert rec.request.risk_tier == "high"
        return rec.request_id


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_interrupt_lands_in_ledger(tmp_path: Path, mode: str) -> None:
    """However the graph is run, a gate's question is in the queue as soon as it pauses."""
    db = tmp_path / "c.sqlite"
    with open_checkpointer(db, graph="payments") as saver:
        graph = gated_graph().compile(checkpointer=saver)
        if mode == "invoke":
            graph.invoke({"amount": 52_000.0}, config("INV-7"))
        else:
            chunks = list(graph.stream({"amount": 52_000.0}, config("INV-7")))
            assert "__interrupt__" in chunks[-1]
        (pending,) = graph.get_state(config("INV-7")).interrupts
    assert_one_pending(db, "INV-7", pending.id)


def test_interrupt_lands_in_ledger_async(tmp_path: Path) -> None:
    """ainvoke on the async checkpointer records the question in the same ledger."""
    db = tmp_path / "c.sqlite"

    async def run() -> str:
        async with open_async_checkpointer(db, graph="payments") as saver:
            graph = gated_graph().compile(checkpointer=saver)
            out = await graph.ainvoke({"amount": 52_000.0}, config("INV-7"))
            (pending,) = out["__interrupt__"]
            return str(pending.id)

    interrupt_id = asyncio.run(run())
    assert_one_pending(db, "INV-7", interrupt_id)


def test_async_checkpointer_needs_a_file() -> None:
    """The async checkpointer refuses `:memory:`: the ledger opens the file separately."""

    async def run() -> None:
        async with open_async_checkpointer(":memory:"):
            pass

    with pytest.raises(ValueError, match="needs a file"):
        asyncio.run(run())


def test_one_saver_serves_invoke_and_ainvoke(tmp_path: Path) -> None:
    """`open_checkpointer`'s saver runs a graph with an async node under `ainvoke`: its
    async methods answer what the sync ones do, and interrupts reach the ledger."""
    db = tmp_path / "c.sqlite"

    async def pay_later(state: State) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"done": ["pay"]}

    builder = gated_graph(pay=pay_later)

    async def run(saver: Any) -> list[str]:
        graph = builder.compile(checkpointer=saver)
        (pending,) = (await graph.ainvoke({"amount": 52_000.0}, config("t")))["__interrupt__"]
        assert_one_pending(db, "t", pending.id)
        assert await saver.aget_tuple(config("t")) == saver.get_tuple(config("t"))
        listed = [c async for c in saver.alist(config("t"))]
        assert listed == list(saver.list(config("t")))
        out = await graph.ainvoke(Command(resume={pending.id: {"type": "approve"}}), config("t"))
        await saver.adelete_thread("t")
        assert saver.get_tuple(config("t")) is None
        return list(out["done"])

    with open_checkpointer(db, graph="payments") as saver:
        assert asyncio.run(run(saver)) == ["pay"]
        # The same saver, synchronously, on another thread of the same file.
        assert gated_graph().compile(checkpointer=saver).invoke({"amount": 1.0}, config("u"))
    with ReviewLedger.open(db) as ledger:
        assert ledger.requests("t")[0].status == "applied"


def test_parallel_async_nodes_take_turns_on_the_one_connection(tmp_path: Path) -> None:
    """Eight async nodes in one step write through the saver's worker threads at once."""
    builder: StateGraph[Any] = StateGraph(State)
    for i in range(8):

        async def step(state: State, i: int = i) -> dict[str, Any]:
            await asyncio.sleep(0)
            return {"done": [f"step{i}"]}

        builder.add_node(f"step{i}", step)
        builder.add_edge(START, f"step{i}")
        builder.add_edge(f"step{i}", END)
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        graph = builder.compile(checkpointer=saver)
        out = asyncio.run(graph.ainvoke({"amount": 1.0}, config("t"), durability="sync"))
        assert sorted(out["done"]) == sorted(f"step{i}" for i in range(8))
        assert graph.get_state(config("t")).values["done"] == out["done"]


# -- answers given straight to LangGraph -------------------------------------------------------


def test_direct_answer_marks_request_applied(tmp_path: Path) -> None:
    """Answering with Command(resume={id: ...}), not through the desk, empties the queue."""
    db = tmp_path / "c.sqlite"
    with open_checkpointer(db, graph="payments") as saver:
        graph = gated_graph().compile(checkpointer=saver)
        (pending,) = graph.invoke({"amount": 52_000.0}, config("INV-7"))["__interrupt__"]
        rid = request_id_for("INV-7", pending.id)
        assert saver.ledger.get(rid).status == "pending"
        out = graph.invoke(Command(resume={pending.id: {"type": "approve"}}), config("INV-7"))
        assert out["done"] == ["pay"]
    with ReviewLedger.open(db) as ledger:
        assert ledger.pending() == []
        assert ledger.get(rid).status == "applied"
        events = ledger.events(request_id=rid)
        assert [e["kind"] for e in events] == ["created", "decided", "answered_directly"]
        assert events[-1]["data"] == {"answer": {"type": "approve"}}


def test_direct_answer_async(tmp_path: Path) -> None:
    """A direct answer through ainvoke is mirrored in the ledger too."""
    db = tmp_path / "c.sqlite"

    async def run() -> list[str]:
        async with open_async_checkpointer(db) as saver:
            graph = gated_graph().compile(checkpointer=saver)
            (pending,) = (await graph.ainvoke({"amount": 5.0}, config("t")))["__interrupt__"]
            resume = Command(resume={pending.id: {"type": "reject", "reason": "no"}})
            out = await graph.ainvoke(resume, config("t"))
            return list(out["done"])

    assert asyncio.run(run()) == ["notify"]
    with ReviewLedger.open(db) as ledger:
        (rec,) = ledger.requests("t")
        assert rec.status == "applied"
        assert [e["kind"] for e in ledger.events(request_id=rec.request_id)][-1] == (
            "answered_directly"
        )


def test_gate_asking_again_replaces_the_request(tmp_path: Path) -> None:
    """A refused direct answer closes the old request and queues the new question once."""
    db = tmp_path / "c.sqlite"
    with open_checkpointer(db) as saver:
        graph = gated_graph().compile(checkpointer=saver)
        graph.invoke({"amount": 52_000.0}, config("t"))
        out = graph.invoke(Command(resume={"type": "respond", "response": "x"}), config("t"))
        (again,) = out["__interrupt__"]
        first, second = saver.ledger.requests("t")
        assert (first.status, first.decision) == ("superseded", None)
        assert (second.status, second.interrupt_id) == ("pending", again.id)
        graph.invoke(Command(resume={again.id: {"type": "approve"}}), config("t"))
        assert saver.ledger.pending() == []
        kinds = [e["kind"] for e in saver.ledger.events(thread_id="t")]
    assert kinds.count("created") == 2
    assert kinds.count("answer_refused_by_gate") == 1
    assert kinds.count("answered_directly") == 1


def test_parallel_gates_settle_separately(tmp_path: Path) -> None:
    """Two gates paused side by side: answering one leaves the other in the queue."""
    pay_gate = ApprovalGate(pay_request, on_approve="pay", on_reject="notify")
    mail_gate = ApprovalGate(
        mail_request,
        on_approve="notify",
        on_reject="notify",
        decision_key="mail_decision",
        approved_action_key="mail_action",
    )
    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("approve_payment", pay_gate, destinations=pay_gate.destinations)
    builder.add_node("approve_email", mail_gate, destinations=mail_gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("notify", notify)
    builder.add_edge(START, "approve_payment")
    builder.add_edge(START, "approve_email")
    builder.add_edge("pay", END)
    builder.add_edge("notify", END)
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        graph = builder.compile(checkpointer=saver)
        out = graph.invoke({"amount": 52_000.0}, config("t"))
        by_gate = {i.value["gate"]: i for i in out["__interrupt__"]}
        assert set(by_gate) == {"approve_payment", "approve_email"}
        graph.invoke(
            Command(resume={by_gate["approve_payment"].id: {"type": "approve"}}), config("t")
        )
        status = {r.gate: r.status for r in saver.ledger.requests("t")}
        assert status == {"approve_payment": "applied", "approve_email": "pending"}
        out = graph.invoke(
            Command(resume={by_gate["approve_email"].id: {"type": "reject", "reason": "no"}}),
            config("t"),
        )
        assert sorted(out["done"]) == ["notify", "pay"]
        assert saver.ledger.pending() == []


def test_rerun_on_resume_records_nothing_twice(tmp_path: Path) -> None:
    """The gate re-runs on resume, yet the ledger holds one request and one `created`."""
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        graph = gated_graph().compile(checkpointer=saver)
        graph.invoke({"amount": 52_000.0}, config("t"))
        graph.get_state(config("t"))
        out = graph.invoke(Command(resume={"type": "approve"}), config("t"))
        assert out["done"] == ["pay"]
        (rec,) = saver.ledger.requests("t")
        kinds = [e["kind"] for e in saver.ledger.events(thread_id="t")]
    assert kinds == ["created", "decided", "answered_directly"]
    assert rec.status == "applied"


def test_plain_interrupts_are_not_queued(tmp_path: Path) -> None:
    """An interrupt() that is not one of our gates never reaches the review queue."""

    def ask(state: State) -> dict[str, Any]:
        return {"done": [str(interrupt("what is the PO number?"))]}

    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        graph = builder.compile(checkpointer=saver)
        graph.invoke({"amount": 1.0}, config("t"))
        assert graph.get_state(config("t")).interrupts
        assert saver.ledger.pending() == []
        out = graph.invoke(Command(resume="PO-7781"), config("t"))
        assert out["done"] == ["PO-7781"]
        assert saver.ledger.requests("t") == []


def test_two_runs_from_the_same_step_never_both_go_on(database: Path | str) -> None:
    """Two resumes read the same paused step; the first to save its next step goes on,
    the other is refused before it saves or runs anything more, and history stays one line.
    (LangGraph's own savers let both go on: the action runs twice and the thread forks.)"""
    both_read = threading.Barrier(2, timeout=30)
    acted: list[str] = []

    def ask(state: dict[str, Any]) -> dict[str, Any]:
        answer = interrupt("go?")
        both_read.wait()  # each run has read the paused step and answered it
        return {"note": answer}

    def act(state: dict[str, Any]) -> dict[str, Any]:
        acted.append(state["note"])
        return {"done": ["act"]}

    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_node("act", act)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "act")
    builder.add_edge("act", END)
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    with open_checkpointer(database) as saver:
        builder.compile(checkpointer=saver).invoke({"amount": 1.0}, config)
    outcomes: list[str] = []

    def resume(answer: str) -> None:
        with open_checkpointer(database) as saver:
            graph = builder.compile(checkpointer=saver)
            try:
                graph.invoke(Command(resume=answer), config, durability="sync")
                outcomes.append("went on")
            except ThreadBusyError:
                outcomes.append("refused")

    runs = [threading.Thread(target=resume, args=(who,)) for who in ("a", "b")]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert sorted(outcomes) == ["refused", "went on"]
    assert len(acted) == 1
    with open_checkpointer(database) as saver:
        graph = builder.compile(checkpointer=saver)
        history = list(graph.get_state_history(config))
        assert graph.get_state(config).values["note"] == acted[0]
    ids = {state.config["configurable"]["checkpoint_id"] for state in history}
    parents = [s.parent_config["configurable"]["checkpoint_id"] for s in history if s.parent_config]
    assert len(parents) == len(set(parents)) == len(ids) - 1  # no step has two children
