"""`ReviewDesk` on async graphs: every path that runs one, and the awaitable twins.

A graph whose nodes are `async def` cannot run under `invoke`; the desk drives it with
`ainvoke` on an event loop it owns, through the same SQLite saver. The awaitable twins
(`arun`, `aapprove`, ...) run the desk in a worker thread: an async web app's event
loop keeps serving while a decision is applied.
"""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from langgraph_hitl import ReviewDesk
from langgraph_hitl.deciding.batch import decide_batch, groups
from langgraph_hitl.errors import DecisionNotAllowedError
from langgraph_hitl.maintenance import doctor, prune
from langgraph_hitl.models import Decision

REPO = Path(__file__).resolve().parent.parent
ASYNC = "tests/graphs/shapes/async_graphs.py:async_graph"
BLOCKING = "tests/graphs/shapes/blocking.py:make_graph"
GATED_PAY = "tests/graphs/gated_pay.py:make_graph"
INVOICE = {
    "invoice_id": "INV-1",
    "amount": 5.0,
    "currency": "EUR",
    "lines": [{"description": "x", "amount": 5.0}],
}


def actions(db: Path) -> dict[str, list[str]]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT thread_id, node FROM actions ORDER BY seq").fetchall()
    seen: dict[str, list[str]] = {}
    for thread, node in rows:
        seen.setdefault(thread, []).append(node)
    return seen


def test_every_desk_path_drives_an_async_graph(tmp_path: Path) -> None:
    """run, thread, doctor, batch, decide, resume, reject, sweep, prune: all on ainvoke."""
    db = tmp_path / "hitl.sqlite"
    desk = ReviewDesk(db, base=REPO)
    for thread in ("a1", "a2", "a3", "a4"):
        assert desk.run(ASYNC, {"raw": INVOICE}, thread_id=thread).status == "paused"
    late = desk.run(ASYNC, {"raw": INVOICE, "deadline_in": 60.0}, thread_id="a5")
    assert late.status == "paused"
    assert desk.thread("a1").status == "paused"
    report = doctor(desk)
    assert report.ok and report.checked_threads == 5, report.to_json()

    (group,) = groups(desk.pending(thread_id="a1") + desk.pending(thread_id="a2"))
    batch = decide_batch(desk, group.requests, Decision.approve(reviewer="ana"), group=group.key)
    assert batch.counts() == {"applied": 2}

    (a3,) = desk.pending(thread_id="a3")
    assert not desk.decide(a3.request_id, Decision.approve(reviewer="ana"), apply=False).applied
    assert [(s.thread_id, s.status) for s in desk.resume()] == [("a3", "done")]

    rejected = desk.reject("a4", "not this one", reviewer="ana")
    assert rejected.thread is not None and rejected.thread.values["status"] == "rejected"

    (step,) = desk.sweep(now=time.time() + 3600)
    assert (step["thread_id"], step["step"], step["applied"]) == ("a5", "timed_out", True)
    assert desk.thread("a5").values["status"] == "rejected"

    assert actions(db) == {"a1": ["pay"], "a2": ["pay"], "a3": ["pay"]}
    pruned = prune(desk, older_than=0)
    assert sorted(pruned.pruned) == ["a1", "a2", "a3", "a4", "a5"]


def test_a_sync_graph_runs_without_an_event_loop(tmp_path: Path) -> None:
    """Only a graph that needs `ainvoke` gets one: sync graphs run as they always did."""
    desk = ReviewDesk(tmp_path / "hitl.sqlite", base=REPO)
    run = desk.run(GATED_PAY, {"item_id": "S-1", "amount": 2.0}, thread_id="s1")
    assert desk.approve(run.pending[0], reviewer="ana").applied
    assert desk._loop is None


def test_awaitable_twins(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    desk = ReviewDesk(db, base=REPO)

    async def main() -> None:
        run = await desk.arun(ASYNC, {"raw": INVOICE}, thread_id="t1")
        assert run.status == "paused"
        (rec,) = await desk.apending(thread_id="t1")
        assert (await desk.ashow(rec.request_id, reviewer="ana")).request_id == rec.request_id
        with pytest.raises(DecisionNotAllowedError):
            await desk.arespond(rec.request_id, "paid by phone", reviewer="ana")
        edited = {"invoice_id": "INV-1", "amount": 4.5}
        outcome = await desk.amodify(rec.request_id, edited, reviewer="ana")
        assert outcome.applied and (await desk.athread("t1")).values["status"] == "paid"

        await desk.arun(ASYNC, {"raw": INVOICE}, thread_id="t2")
        assert (await desk.areject("t2", "no", reviewer="ana")).applied
        await desk.arun(ASYNC, {"raw": INVOICE}, thread_id="t3")
        assert await desk.acancel("t3", "vendor dispute", reviewer="ana")
        assert await desk.aresume() == []
        assert await desk.asweep() == []

    asyncio.run(main())
    assert actions(db) == {"t1": ["pay"]}


def test_the_event_loop_keeps_serving_while_a_decision_is_applied(tmp_path: Path) -> None:
    """While `aapprove` applies (blocked inside `pay` until the test releases it), other
    coroutines on the caller's loop run to completion; then the apply finishes."""
    db = tmp_path / "hitl.sqlite"
    desk = ReviewDesk(db, base=REPO)

    async def main() -> dict[str, Any]:
        run = await desk.arun(BLOCKING, {"amount": 3.0}, thread_id="b1")
        # The graph module, as the desk imported it in this process (its stable name).
        graph = importlib.import_module("tests.graphs.shapes.blocking")
        reached, release = graph.events("b1")
        applying = asyncio.create_task(desk.aapprove(run.pending[0], reviewer="ana"))
        # Awaiting here lets the task start; `pay` then holds the apply until released.
        assert await asyncio.to_thread(reached.wait, graph.WAIT_S)
        # The apply is blocked inside `pay`: meanwhile this loop serves other work.
        listed = await desk.apending()
        other = await asyncio.gather(*(asyncio.sleep(0, result=n) for n in range(3)))
        assert not applying.done()
        release.set()
        outcome = await applying
        return {"listed": listed, "other": other, "status": outcome.thread.values["status"]}

    result = asyncio.run(main())
    assert result == {"listed": [], "other": [0, 1, 2], "status": "paid"}
    assert actions(db) == {"b1": ["pay"]}
    with closing(sqlite3.connect(db)) as conn:
        (status,) = conn.execute("SELECT status FROM hitl_requests").fetchone()
    assert status == "applied"
