"""Agent review overhead: pause + resume per tool call of a LangChain agent, LangChain's
HumanInTheLoopMiddleware on LangGraph's plain saver vs. the same agent through langgraph-hitl.

The same `create_agent` agent (`_agents.py`: the refund agent of examples/refund_agent.py,
a scripted chat model, `issue_refund` gated by the stock
`HumanInTheLoopMiddleware({"issue_refund": True})`) pauses on one refund per thread and
is approved once, each variant on its own fresh SQLite file on disk:

  plain               LangGraph alone: `SqliteSaver(sqlite3.connect(path,
                      check_same_thread=False))`, `invoke(messages)` then
                      `invoke(Command(resume={"decisions": [{"type": "approve"}]}))`.
  plain, our conn.    the same plain saver on the connection `open_checkpointer` makes
                      (WAL, synchronous=NORMAL, busy timeout): a reference row that
                      separates langgraph-hitl's cost from SQLite's fsync settings.
  ours, library       the agent on `open_checkpointer(path)` (each pause mirrored into the
                      ledger as it is saved; the direct answer recorded as it lands),
                      answered with the same `Command(resume=...)`.
  ours, desk          `ReviewDesk(path).run("_agents.py:stock_agent", messages)`, then
                      `ReviewDesk(path).pending(thread_id=...)` (the queue, as `list` reads
                      it), then `ReviewDesk(path).decide(request_id, Decision.approve())`:
                      validated, recorded, leased, resumed in the middleware's own format.

Every thread is checked: the agent must end by telling the customer the refund was made.
"pause" is the run until the agent waits; "list" is reading the queue (the desk only);
"resume" is answering until the agent is done. The ratio asked for is the desk's total
over plain's; over plain on our connection it is like for like on SQLite.

Noise: as in bench_gate.py, the variants are interleaved: each round gives every variant
a fresh file and runs the threads in chunks of 10, variant after variant in a rotated
order. Per-call ms is the mean over a round's threads (one gated tool call each), then
the median over rounds.

Sizes: HITL_BENCH_SCALE=default (100 threads x 5 rounds) or full (1000 threads x 5 rounds).
Scratch files go to $HITL_BENCH_TMP (default: the system temp dir).
Run: .venv/bin/python bench/bench_agent.py
"""

from __future__ import annotations

import sqlite3
import sys
import time
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _agents import AGENT_REF, ANSWERED, ASK, build_agent
from _common import BENCH_DIR, median, pick, scratch_dir, table
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from langgraph_hitl.checkpointing import open_checkpointer
from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.ledger import connect
from langgraph_hitl.models import Decision

THREADS: int = pick(100, 1000)
ROUNDS = 5
CHUNK = 10
WARMUP_THREADS = 5
APPROVE = {"decisions": [{"type": "approve"}]}


def _last_words(values: Any) -> str:
    return str(values["messages"][-1].content)


class Variant:
    """One way to pause an agent and approve its tool call, on its own file."""

    name = ""

    def open(self, path: Path, stack: ExitStack) -> None:
        raise NotImplementedError

    def thread(self, i: int) -> tuple[float, float, float]:
        """Pause and approve thread `i`; (pause, list, resume) seconds."""
        raise NotImplementedError


class Agent(Variant):
    """The compiled agent driven by `invoke`, as a LangChain user would."""

    def saver(self, path: Path, stack: ExitStack) -> Any:
        raise NotImplementedError

    def open(self, path: Path, stack: ExitStack) -> None:
        self.agent = build_agent(path, self.saver(path, stack))

    def thread(self, i: int) -> tuple[float, float, float]:
        config = {"configurable": {"thread_id": f"t{i:06d}"}}
        start = time.perf_counter()
        out = self.agent.invoke(ASK, config)
        paused = time.perf_counter()
        if not out.get("__interrupt__"):
            raise RuntimeError(f"{self.name}: thread {i} did not pause: {out!r}")
        out = self.agent.invoke(Command(resume=APPROVE), config)
        done = time.perf_counter()
        if _last_words(out) != ANSWERED:
            raise RuntimeError(f"{self.name}: thread {i} ended {_last_words(out)!r}")
        return paused - start, 0.0, done - paused


class Plain(Agent):
    name = "plain (stock middleware + SqliteSaver)"

    def saver(self, path: Path, stack: ExitStack) -> Any:
        conn = sqlite3.connect(path, check_same_thread=False)
        stack.callback(conn.close)
        return SqliteSaver(conn)


class PlainOurConnection(Agent):
    name = "plain, our connection (synchronous=NORMAL)"

    def saver(self, path: Path, stack: ExitStack) -> Any:
        # The connection `open_checkpointer` makes (WAL, synchronous=NORMAL, busy
        # timeout) under a plain SqliteSaver: what is left is the ledger's and desk's cost.
        conn = connect(path, create=True)
        stack.callback(conn.close)
        return SqliteSaver(conn)


class OursLibrary(Agent):
    name = "ours, library (open_checkpointer, same answer)"

    def saver(self, path: Path, stack: ExitStack) -> Any:
        return stack.enter_context(open_checkpointer(path))


class OursDesk(Variant):
    name = "ours, desk (run, list, decide)"

    def open(self, path: Path, stack: ExitStack) -> None:
        self.path = path

    def thread(self, i: int) -> tuple[float, float, float]:
        thread_id = f"t{i:06d}"
        start = time.perf_counter()
        run = ReviewDesk(self.path, base=BENCH_DIR).run(AGENT_REF, ASK, thread_id=thread_id)
        paused = time.perf_counter()
        [waiting] = ReviewDesk(self.path, base=BENCH_DIR).pending(thread_id=thread_id)
        listed = time.perf_counter()
        outcome = ReviewDesk(self.path, base=BENCH_DIR).decide(
            waiting.request_id, Decision.approve()
        )
        done = time.perf_counter()
        if run.pending != [waiting.request_id] or outcome.thread is None:
            raise RuntimeError(f"{self.name}: thread {i} did not pause and resume")
        said = outcome.thread.values["messages"][-1]
        if outcome.thread.status != "done" or said.content != ANSWERED:
            raise RuntimeError(f"{self.name}: thread {i} ended {outcome.thread.status}")
        return paused - start, listed - paused, done - listed


VARIANTS = (Plain, PlainOurConnection, OursLibrary, OursDesk)


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
    with scratch_dir("agent") as tmp:
        run_round(tmp, "warmup", WARMUP_THREADS, 0)  # imports, first compile, page cache
        for rnd in range(ROUNDS):
            rounds.append(run_round(tmp, f"r{rnd}", THREADS, rnd))
            print(f"  round {rnd + 1}/{ROUNDS} done", file=sys.stderr, flush=True)

    def per_call_ms(name: str) -> tuple[float, float, float, float, list[float]]:
        """Median over rounds of the mean pause, list, resume and total ms per call."""
        parts = [
            [sum(t[k] for t in r[name]) / len(r[name]) * 1e3 for r in rounds] for k in range(3)
        ]
        totals = [sum(p) for p in zip(*parts, strict=True)]
        pause, listing, resume = (median(p) for p in parts)
        return pause, listing, resume, median(totals), totals

    base = per_call_ms(Plain.name)[3]
    same_conn = per_call_ms(PlainOurConnection.name)[3]
    rows = []
    for cls in VARIANTS:
        pause, listing, resume, total, totals = per_call_ms(cls.name)
        rows.append(
            [
                cls.name,
                pause,
                listing if cls is OursDesk else "-",
                resume,
                total,
                f"{total / base:.2f}x",
                f"{total / same_conn:.2f}x",
                ", ".join(f"{t:.2f}" for t in totals),
            ]
        )
    packages = ", ".join(
        f"{name} {version(name)}" for name in ("langchain", "langchain-core", "langgraph")
    )
    print(
        table(
            f"Agent review overhead: pause + resume per gated tool call, {THREADS} threads per"
            f" variant per round, median of {ROUNDS} rounds (fresh SQLite file per variant and"
            f" round, variants interleaved in chunks of {CHUNK} threads; {packages})",
            [
                "variant",
                "pause ms",
                "list ms",
                "resume ms",
                "total ms",
                "vs plain",
                "vs plain, our conn.",
                "total ms in each round",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
