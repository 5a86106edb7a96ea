"""Gate overhead: pause + resume per thread through an `ApprovalGate` vs. a bare `interrupt()`.

The same small graph (agent -> gate -> act, every node deterministic) is paused once and
approved once per thread, each variant on its own fresh SQLite file on disk:

  bare                LangGraph alone: a node calling `interrupt({...})`, plain
                      `SqliteSaver(sqlite3.connect(path, check_same_thread=False))`,
                      `invoke(input)` then `invoke(Command(resume={id: {"type": "approve"}}))`.
  bare, sync          the same with `durability="sync"`, which the desk uses: a reference
                      row, so the full path's ratio can be read against like for like.
  bare, our conn.     the same bare graph on the connection `open_checkpointer` makes (WAL,
                      synchronous=NORMAL, busy timeout): a reference row that separates the
                      gate's and the ledger's cost from SQLite's fsync settings.
  ours, library       the `ApprovalGate` graph compiled with `open_checkpointer(path)`,
                      `invoke(input)` then `invoke(Command(resume={id: {"type": "approve"}}))`.
  ours, full path     `ReviewDesk(path).run("_graphs.py:gate_graph", input)` then
                      `ReviewDesk(path).decide(request_id, Decision.approve())`: ledger
                      record, lease, strict resume, the graph found by reference.
  diagnostic          the full path again while another connection keeps the file open,
                      so none of the desk's own connections is the last to close (closing
                      the last connection to a WAL database checkpoints the WAL into it).

Noise: the variants are interleaved. In each round every variant gets a fresh file and
the threads run in chunks of 10, variant after variant in a rotated order, so load from
other processes falls on all of them alike. Per-thread ms is the mean over a round's
threads, then the median over rounds; the ratios divide those medians by bare's (default
durability: the ratio asked for) and by bare on our connection (like for like on SQLite).

Sizes: HITL_BENCH_SCALE=default (200 threads x 5 rounds) or full (2000 threads x 5 rounds).
Scratch files go to $HITL_BENCH_TMP (default: the system temp dir).
Run: .venv/bin/python bench/bench_gate.py
"""

from __future__ import annotations

import sqlite3
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, median, pick, scratch_dir, table
from _graphs import GATE_REF, build_bare_graph, build_gate_graph, item
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from langgraph_hitl.checkpointing import open_checkpointer
from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.ledger import connect
from langgraph_hitl.models import Decision

THREADS: int = pick(200, 2000)
ROUNDS = 5
CHUNK = 10
WARMUP_THREADS = 10


class Variant:
    """One way to pause and approve a thread, on its own file."""

    name = ""

    def open(self, path: Path, stack: ExitStack) -> None:
        raise NotImplementedError

    def thread(self, i: int) -> tuple[float, float]:
        """Pause and approve thread `i`; (pause seconds, resume seconds)."""
        raise NotImplementedError


class Graph(Variant):
    """A compiled graph driven by `invoke`, as a LangGraph user would."""

    durability: str | None = None

    def compile(self, path: Path, stack: ExitStack) -> Any:
        raise NotImplementedError

    def open(self, path: Path, stack: ExitStack) -> None:
        self.graph = self.compile(path, stack)
        self.extra = {} if self.durability is None else {"durability": self.durability}

    def thread(self, i: int) -> tuple[float, float]:
        config = {"configurable": {"thread_id": f"t{i:06d}"}}
        start = time.perf_counter()
        out = self.graph.invoke(item(i), config, **self.extra)
        paused = time.perf_counter()
        resume = Command(resume={out["__interrupt__"][0].id: {"type": "approve"}})
        out = self.graph.invoke(resume, config, **self.extra)
        done = time.perf_counter()
        if out.get("status") != "paid":
            raise RuntimeError(f"{self.name}: thread {i} did not finish as paid: {out!r}")
        return paused - start, done - paused


class Bare(Graph):
    name = "bare (interrupt + SqliteSaver)"

    def compile(self, path: Path, stack: ExitStack) -> Any:
        conn = sqlite3.connect(path, check_same_thread=False)
        stack.callback(conn.close)
        return build_bare_graph().compile(checkpointer=SqliteSaver(conn))


class BareSync(Bare):
    name = "bare, durability=sync"
    durability = "sync"


class BareOurConnection(Graph):
    name = "bare, our connection (synchronous=NORMAL)"

    def compile(self, path: Path, stack: ExitStack) -> Any:
        # The connection `open_checkpointer` makes (WAL, synchronous=NORMAL, busy
        # timeout) under a plain SqliteSaver: what is left is the gate's and ledger's cost.
        conn = connect(path, create=True)
        stack.callback(conn.close)
        return build_bare_graph().compile(checkpointer=SqliteSaver(conn))


class OursLibrary(Graph):
    name = "ours, library (gate + open_checkpointer)"

    def compile(self, path: Path, stack: ExitStack) -> Any:
        saver = stack.enter_context(open_checkpointer(path))
        return build_gate_graph().compile(checkpointer=saver)


class OursDesk(Variant):
    name = "ours, full path (ReviewDesk run + decide)"

    def open(self, path: Path, stack: ExitStack) -> None:
        self.path = path

    def thread(self, i: int) -> tuple[float, float]:
        start = time.perf_counter()
        run = ReviewDesk(self.path, base=BENCH_DIR).run(GATE_REF, item(i), thread_id=f"t{i:06d}")
        paused = time.perf_counter()
        outcome = ReviewDesk(self.path, base=BENCH_DIR).decide(run.pending[0], Decision.approve())
        done = time.perf_counter()
        if outcome.thread is None or outcome.thread.values.get("status") != "paid":
            raise RuntimeError(f"{self.name}: thread {i} did not finish as paid")
        return paused - start, done - paused


class OursDeskKept(OursDesk):
    name = "diagnostic: full path, another connection kept open"

    def open(self, path: Path, stack: ExitStack) -> None:
        # As when an app process keeps the file open: the desk's connections are then
        # never the last one to close, so closing them does not checkpoint the WAL.
        super().open(path, stack)
        keeper = connect(path, create=True)
        keeper.execute("SELECT COUNT(*) FROM sqlite_schema").fetchall()
        stack.callback(keeper.close)


VARIANTS = (Bare, BareSync, BareOurConnection, OursLibrary, OursDesk, OursDeskKept)


def run_round(tmp: Path, label: str, threads: int, rotate: int) -> dict[str, list[tuple]]:
    """Every variant on a fresh file, interleaved in chunks; per-thread times by variant."""
    variants = [cls() for cls in VARIANTS]
    order = variants[rotate % len(variants) :] + variants[: rotate % len(variants)]
    times: dict[str, list[tuple]] = {v.name: [] for v in variants}
    with ExitStack() as stack:
        for n, variant in enumerate(variants):
            variant.open(tmp / f"{label}-{n}.sqlite", stack)
        for first in range(0, threads, CHUNK):
            for variant in order:
                for i in range(first, min(first + CHUNK, threads)):
                    times[variant.name].append(variant.thread(i))
    for path in tmp.glob(f"{label}-*"):
        path.unlink()
    return times


def main() -> None:
    rounds: list[dict[str, list[tuple]]] = []
    with scratch_dir("gate") as tmp:
        run_round(tmp, "warmup", WARMUP_THREADS, 0)  # imports, first compile, page cache
        for rnd in range(ROUNDS):
            rounds.append(run_round(tmp, f"r{rnd}", THREADS, rnd))
            print(f"  round {rnd + 1}/{ROUNDS} done", file=sys.stderr, flush=True)

    def per_thread_ms(name: str) -> tuple[float, float, float, list[float]]:
        """Median over rounds of the mean pause, resume and total ms per thread."""
        pause = [sum(p for p, _ in r[name]) / len(r[name]) * 1e3 for r in rounds]
        resume = [sum(s for _, s in r[name]) / len(r[name]) * 1e3 for r in rounds]
        totals = [p + s for p, s in zip(pause, resume, strict=True)]
        return median(pause), median(resume), median(totals), totals

    base = per_thread_ms(Bare.name)[2]
    same_conn = per_thread_ms(BareOurConnection.name)[2]
    rows = []
    for cls in VARIANTS:
        pause, resume, total, totals = per_thread_ms(cls.name)
        rows.append(
            [
                cls.name,
                pause,
                resume,
                total,
                f"{total / base:.2f}x",
                f"{total / same_conn:.2f}x",
                ", ".join(f"{t:.2f}" for t in totals),
            ]
        )
    print(
        table(
            f"Gate overhead: pause + resume per thread, {THREADS} threads per variant per "
            f"round, median of {ROUNDS} rounds (fresh SQLite file per variant and round, "
            f"variants interleaved in chunks of {CHUNK} threads)",
            [
                "variant",
                "pause ms",
                "resume ms",
                "total ms",
                "vs bare",
                "vs bare, our conn.",
                "total ms in each round",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
