"""Large checkpoint values stored once per thread (`checkpointing._blobs`), LangGraph intact.

The oracle is LangGraph itself: the same graph, driven through the same story (pause,
`update_state`, resume, time travel, a subgraph, a `DeltaChannel`), must read back the
same on our saver as on LangGraph's `InMemorySaver`; LangGraph's own conformance suite
runs on both our savers, with every value stored apart and with the default threshold;
and files written by the released version (and by LangGraph's plain saver) still load.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import operator
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.channels.delta import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Interrupt, interrupt

from langgraph_hitl import ReviewDesk, open_async_checkpointer, open_checkpointer
from langgraph_hitl.checkpointing import _blobs, strict_serializer
from langgraph_hitl.checkpointing._blobs import BLOB_MIN_BYTES, BlobSerializer, MissingBlobError
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.ledger.audit import verify

REPO = Path(__file__).resolve().parent.parent
RELEASED = Path(__file__).resolve().parent / "data" / "released-0.1.0.sqlite.gz"

BIG = "".join(f"{i:05d}" for i in range(8000))
"""40,000 characters: over the threshold, so stored apart."""

assert len(BIG.encode()) > BLOB_MIN_BYTES


def _extend(state: list[str] | None, writes: Sequence[list[str]]) -> list[str]:
    return [*(state or []), *(item for write in writes for item in write)]


class Sub(TypedDict, total=False):
    big: str
    items: Annotated[list[str], operator.add]


class State(TypedDict, total=False):
    big: str
    items: Annotated[list[str], operator.add]
    log: Annotated[list[str], DeltaChannel(_extend, snapshot_frequency=2)]
    counter: int
    answer: Any


def story_graph(saver: BaseCheckpointSaver[Any]) -> Any:
    """START -> load -> sub (a subgraph) -> ask (interrupts with the big value) -> finish."""
    sub: StateGraph[Any] = StateGraph(Sub)
    sub.add_node("inner", lambda s: {"items": [f"sub saw {len(s['big'])}"]})
    sub.add_edge(START, "inner")
    sub.add_edge("inner", END)

    def ask(state: State) -> dict[str, Any]:
        answer = interrupt({"question": "ok?", "attachment": state["big"]})
        return {"answer": answer, "items": ["ask"], "log": ["ask"]}

    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node(
        "load", lambda s: {"big": BIG, "items": ["load"], "log": ["load"], "counter": 1}
    )
    builder.add_node("sub", sub.compile())
    builder.add_node("ask", ask)
    builder.add_node(
        "finish", lambda s: {"items": ["finish"], "log": ["finish"], "counter": s["counter"] + 1}
    )
    builder.add_edge(START, "load")
    builder.add_edge("load", "sub")
    builder.add_edge("sub", "ask")
    builder.add_edge("ask", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=saver)


def plain(value: Any) -> Any:
    """A graph's output with interrupts as their values (their ids hash checkpoint ids)."""
    if isinstance(value, dict) and "__interrupt__" in value:
        return {**value, "__interrupt__": [i.value for i in value["__interrupt__"]]}
    return value


def without_ids(value: Any) -> Any:
    """Interrupts as their values: their ids hash the checkpoint ids, new on every run."""
    if isinstance(value, list | tuple) and value and all(isinstance(v, Interrupt) for v in value):
        return [v.value for v in value]
    return value


def tell_story(saver: BaseCheckpointSaver[Any], thread_id: str = "t") -> dict[str, Any]:
    """Pause, edit state, resume, travel back in time and resume the fork; read it all back."""
    graph = story_graph(saver)
    cfg: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    outputs = [graph.invoke({"items": []}, cfg)]
    graph.update_state(cfg, {"counter": 5, "log": ["edited"]})
    outputs.append(graph.invoke(Command(resume={"big": BIG}), cfg))
    past = next(s for s in graph.get_state_history(cfg) if s.next == ("ask",))
    outputs.append(graph.invoke(None, past.config))
    outputs.append(graph.invoke(Command(resume="second"), cfg))
    history = [
        (
            s.values,
            s.next,
            s.metadata and s.metadata.get("step"),
            s.metadata and s.metadata.get("source"),
            [t.name for t in s.tasks],
            [i.value for i in s.interrupts],
        )
        for s in graph.get_state_history(cfg)
    ]
    writes = [
        sorted((w[1], repr(without_ids(w[2]))) for w in t.pending_writes or [])
        for t in list(saver.list(cfg))
    ]
    return {
        "outputs": [plain(o) for o in outputs],
        "history": history,
        "writes": writes,
        "with_subgraphs": graph.get_state(cfg, subgraphs=True).values,
    }


# -- LangGraph's semantics, against LangGraph's own saver ---------------------------------


def test_the_story_reads_back_as_on_langgraphs_own_savers(tmp_path: Path) -> None:
    """get_state, history, pending writes, time travel, subgraph, delta channel: all equal.

    Against `InMemorySaver` (which lists namespaces in another order, so the writes are
    compared as a whole) and against LangGraph's `SqliteSaver`, in the same order.
    """
    in_memory = tell_story(InMemorySaver())
    conn = sqlite3.connect(tmp_path / "plain.sqlite", check_same_thread=False)
    try:
        in_sqlite = tell_story(SqliteSaver(conn, serde=strict_serializer()))
    finally:
        conn.close()
    with open_checkpointer(tmp_path / "ours.sqlite") as saver:
        ours = tell_story(saver)
    assert ours == in_sqlite
    for key in ("outputs", "history", "with_subgraphs"):
        assert ours[key] == in_memory[key]
    assert sorted(ours["writes"]) == sorted(in_memory["writes"])
    assert len(ours["history"]) >= 8
    assert ours["history"][0][0]["log"] == ["load", "edited", "ask", "finish"]


def test_a_large_value_is_stored_once_per_thread(tmp_path: Path) -> None:
    """The big value sits in every checkpoint's state, yet no checkpoint row holds it."""
    plain_db = tmp_path / "plain.sqlite"
    conn = sqlite3.connect(plain_db, check_same_thread=False)
    try:
        tell_story(SqliteSaver(conn, serde=strict_serializer()))
        plain_bytes = conn.execute(
            "SELECT (SELECT SUM(LENGTH(checkpoint)) FROM checkpoints)"
            " + (SELECT SUM(LENGTH(value)) FROM writes)"
        ).fetchone()[0]
    finally:
        conn.close()
    with open_checkpointer(tmp_path / "ours.sqlite") as saver:
        tell_story(saver)
        checkpoints, in_checkpoints = saver.conn.execute(
            "SELECT COUNT(*), MAX(LENGTH(checkpoint)) FROM checkpoints"
        ).fetchone()
        largest_write = saver.conn.execute("SELECT MAX(LENGTH(value)) FROM writes").fetchone()[0]
        blobs, blob_bytes = saver.conn.execute(
            "SELECT COUNT(*), SUM(LENGTH(data)) FROM hitl_blobs"
        ).fetchone()
    assert checkpoints >= 10
    assert in_checkpoints < len(BIG) and largest_write < len(BIG)
    # Each distinct large value once: the value itself, the interrupt's payload, the
    # resume value; the rest are the same bytes again, deduplicated.
    assert blobs <= 6 and blob_bytes < 6.1 * len(BIG)
    assert plain_bytes > 20 * len(BIG)


def test_small_values_are_stored_as_langgraph_stores_them(tmp_path: Path) -> None:
    """A graph whose values are all small writes the very rows LangGraph's saver writes."""
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        graph = story_graph(saver)
        cfg: RunnableConfig = {"configurable": {"thread_id": "t"}}
        graph.update_state(cfg, {"big": "small", "counter": 1}, as_node="load")
        types = {r[0] for r in saver.conn.execute("SELECT type FROM checkpoints")}
        blobs = saver.conn.execute("SELECT COUNT(*) FROM hitl_blobs").fetchone()[0]
    assert types == {"msgpack"} and blobs == 0


def test_async_saver_tells_the_same_story(tmp_path: Path) -> None:
    """The async saver stores apart too, and reads what the sync saver wrote, and back."""
    db = tmp_path / "c.sqlite"
    expected = tell_story(InMemorySaver())

    async def run() -> tuple[list[Any], int]:
        async with open_async_checkpointer(db) as saver:
            graph = story_graph(saver)
            cfg: RunnableConfig = {"configurable": {"thread_id": "a"}}
            outputs = [plain(await graph.ainvoke({"items": []}, cfg))]
            outputs.append(plain(await graph.ainvoke(Command(resume="yes"), cfg)))
            values = (await graph.aget_state({"configurable": {"thread_id": "s"}})).values
            blobs = saver.ledger.conn.execute(
                "SELECT COUNT(*) FROM hitl_blobs WHERE thread_id = 'a'"
            ).fetchone()[0]
            return [*outputs, values], blobs

    with open_checkpointer(db) as saver:
        tell_story(saver, thread_id="s")  # written by the sync saver, read by the async one
    outputs, blobs = asyncio.run(run())
    assert outputs[0] == expected["outputs"][0]
    assert outputs[1]["items"] == ["load", "load", "sub saw 40000", "ask", "finish"]
    assert outputs[2] == expected["history"][0][0]
    assert blobs >= 2
    with open_checkpointer(db) as saver:  # written by the async saver, read by the sync one
        assert (
            story_graph(saver).get_state({"configurable": {"thread_id": "a"}}).values
            == (outputs[1])
        )


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("min_bytes", [0, None], ids=["everything-apart", "default"])
def test_langgraphs_conformance_suite_passes(kind: str, min_bytes: int | None) -> None:
    """LangGraph's checkpointer conformance suite: put, writes, get, list, delete_thread."""

    async def saver() -> AsyncIterator[BaseCheckpointSaver[Any]]:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "c.sqlite"
            if kind == "sync":
                with open_checkpointer(db) as sync_saver:
                    if min_bytes is not None:
                        sync_saver.blobs.min_bytes = min_bytes
                    yield sync_saver  # its async methods run the sync ones in a thread
            else:
                async with open_async_checkpointer(db) as async_saver:
                    if min_bytes is not None:
                        async_saver.blobs.min_bytes = min_bytes
                    yield async_saver

    registered = checkpointer_test(name=f"hitl-{kind}")(saver)
    report = asyncio.run(validate(registered))
    assert report.passed_all_base(), report.to_dict()


# -- deleting, missing and foreign rows -------------------------------------------------


def test_delete_thread_deletes_its_blobs_only(tmp_path: Path) -> None:
    """Two threads with the same large value each keep their own; deleting one keeps the other."""
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        tell_story(saver, "one")
        tell_story(saver, "two")
        count = "SELECT COUNT(*) FROM hitl_blobs WHERE thread_id = ?"
        ones = saver.conn.execute(count, ("one",)).fetchone()[0]
        assert ones == saver.conn.execute(count, ("two",)).fetchone()[0] > 0
        saver.delete_thread("one")
        assert saver.conn.execute(count, ("one",)).fetchone()[0] == 0
        assert saver.get_tuple({"configurable": {"thread_id": "one"}}) is None
        values = story_graph(saver).get_state({"configurable": {"thread_id": "two"}}).values
        assert values["big"] == BIG


def test_a_missing_blob_is_an_error_not_a_missing_value(tmp_path: Path) -> None:
    """A checkpoint whose stored value is gone fails to load; it never reads as a smaller state."""
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        tell_story(saver)
        saver.conn.execute("DELETE FROM hitl_blobs")
        saver.conn.commit()
        with pytest.raises(MissingBlobError, match="missing from hitl_blobs"):
            story_graph(saver).get_state({"configurable": {"thread_id": "t"}})


def test_a_reference_never_resolves_to_another_threads_blob(tmp_path: Path) -> None:
    """Rows copied into another thread keep naming their own thread's blobs."""
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        tell_story(saver, "one")
        saver.conn.execute(
            "INSERT INTO checkpoints SELECT 'copy', checkpoint_ns, checkpoint_id,"
            " parent_checkpoint_id, type, checkpoint, metadata FROM checkpoints"
            " WHERE thread_id = 'one'"
        )
        saver.conn.commit()
        saver.delete_thread("one")
        with pytest.raises(MissingBlobError, match="'one'"):
            saver.get_tuple({"configurable": {"thread_id": "copy"}})


def test_langgraphs_plain_saver_refuses_split_rows_loudly(tmp_path: Path) -> None:
    """An older reader fails on a row it cannot read; it never reads a state short of values."""
    db = tmp_path / "c.sqlite"
    with open_checkpointer(db) as saver:
        tell_story(saver)
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        old = SqliteSaver(conn, serde=strict_serializer())
        with pytest.raises(NotImplementedError, match="Unknown serialization type"):
            old.get_tuple({"configurable": {"thread_id": "t"}})
    finally:
        conn.close()


def test_rows_of_langgraphs_plain_saver_load_and_the_thread_goes_on(tmp_path: Path) -> None:
    """A thread paused by LangGraph's own saver resumes on ours: old rows inline, new ones apart."""
    db = tmp_path / "c.sqlite"
    expected = tell_story(InMemorySaver())
    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        graph = story_graph(SqliteSaver(conn, serde=strict_serializer()))
        cfg: RunnableConfig = {"configurable": {"thread_id": "t"}}
        graph.invoke({"items": []}, cfg)
    finally:
        conn.close()
    with open_checkpointer(db) as saver:
        graph = story_graph(saver)
        cfg = {"configurable": {"thread_id": "t"}}
        assert [i.value for i in graph.get_state(cfg).interrupts] == [
            {"question": "ok?", "attachment": BIG}
        ]
        graph.update_state(cfg, {"counter": 5, "log": ["edited"]})
        graph.invoke(Command(resume={"big": BIG}), cfg)
        types = {r[0] for r in saver.conn.execute("SELECT type FROM checkpoints")}
        assert types == {"msgpack", _blobs.SPLIT_TYPE}
        assert graph.get_state(cfg).values == expected["outputs"][1]


def test_allowlisted_copies_keep_reading_blobs_and_refusing_types(tmp_path: Path) -> None:
    """`with_allowlist` copies the serializer: the copy still reads blobs and is still strict."""
    with open_checkpointer(tmp_path / "c.sqlite") as saver:
        tell_story(saver)
        clone = saver.with_allowlist([("decimal", "Decimal")])
        assert isinstance(clone.serde, BlobSerializer)
        assert clone.serde is not saver.serde
        assert clone.serde.pickle_fallback is False
        found = clone.get_tuple({"configurable": {"thread_id": "t"}})
        assert found is not None and found.checkpoint["channel_values"]["big"] == BIG


def test_langgraphs_sqlite_saver_still_lacks_the_thread_copying_methods() -> None:
    """Our saver relies on it: a `copy_thread` or `prune` added upstream would copy rows
    without their blobs. If this fails, LangGraph added one: give our saver its twin."""
    saver = SqliteSaver(sqlite3.connect(":memory:", check_same_thread=False))
    try:
        for method, args in (
            (saver.copy_thread, ("a", "b")),
            (saver.prune, (["a"],)),
            (saver.delete_for_runs, (["r"],)),
        ):
            with pytest.raises(NotImplementedError):
                method(*args)  # type: ignore[operator]
    finally:
        saver.conn.close()


# -- a file the released version wrote -----------------------------------------------------


@pytest.fixture
def released_db(tmp_path: Path) -> Iterator[Path]:
    """A copy of `tests/data/released-0.1.0.sqlite.gz` (see `make_released_db.py` there)."""
    db = tmp_path / "released.sqlite"
    db.write_bytes(gzip.decompress(RELEASED.read_bytes()))
    yield db


def test_a_file_written_by_the_released_version_still_loads(
    released_db: Path, monkeypatch: pytest.MonkeyPatch, load_invoice: Any
) -> None:
    """Its queue, states, history and audit trail read; its paused thread is approved and pays."""
    # A low threshold, so the thread goes on with its new rows stored apart.
    monkeypatch.setattr(_blobs, "BLOB_MIN_BYTES", 256)
    desk = ReviewDesk(released_db, base=REPO)
    large = load_invoice("large")
    (pending,) = desk.pending()
    assert pending.thread_id == "INV-1003"
    assert pending.request.action.args["line_items"] == large["line_items"]
    assert pending.request.action.digest() == pending.args_digest
    done = desk.thread("INV-1005")
    assert done.status == "done" and done.values["invoice"]["amount"] == 1880.0
    with ReviewLedger.open(released_db) as ledger:
        (modified,) = ledger.requests("INV-1005")
        assert modified.decision is not None and modified.decision.args is not None
        assert modified.decision.args["amount"] == 1880.0
        events = ledger.events(request_id=modified.request_id)
        decided = [e for e in events if e["kind"] == "decided"]
        assert decided[0]["data"]["args"]["amount"] == 1880.0  # the old trail held args whole
        assert verify(ledger).ok
    outcome = desk.approve("INV-1003", reviewer="ana")
    assert outcome.thread is not None and outcome.thread.status == "done"
    assert outcome.thread.values["status"] == "paid"
    with ReviewLedger.open(released_db) as ledger:
        assert verify(ledger).ok
        types = {
            r[0]
            for r in ledger.conn.execute(
                "SELECT type FROM checkpoints WHERE thread_id = 'INV-1003'"
            )
        }
        paid = ledger.conn.execute("SELECT amount FROM payments").fetchall()
    assert types == {"msgpack", _blobs.SPLIT_TYPE}
    assert sorted(paid) == [(1880.0,), (52000.0,)]
    with open_checkpointer(released_db) as saver:
        history = list(saver.list({"configurable": {"thread_id": "INV-1003"}}))
        assert all(t.checkpoint["channel_values"] for t in history[:-1])
        assert json.dumps(history[0].checkpoint["channel_values"]["invoice"], sort_keys=True) == (
            json.dumps(outcome.thread.values["invoice"], sort_keys=True)
        )
