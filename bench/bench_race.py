"""Reading the queue while deciders race: how long `langgraph-hitl list` takes meanwhile.

N threads of the gate graph in `_graphs.py` are paused at the gate. Then D decider
processes are started, each approving every pending request through
`ReviewDesk.decide` in its own shuffled order (one wins each request, the others are
refused), and while any of them runs this process starts `langgraph-hitl list --json`
processes one after the other and times each end to end. The same `list` is timed on
the idle file before the race, and again after it.

That a reader is never blocked behind a decider is a test (`tests/test_stress.py`,
with no clock: `list` completes while a decider holds its write transaction open).
This is the figure: what readers see under contention, on this machine. Nothing here
passes or fails on time.

Sizes: HITL_BENCH_SCALE=default (N=200, D=8) or full (N=1000, D=8).
Scratch files go to $HITL_BENCH_TMP (default: the system temp dir).
Run: .venv/bin/python bench/bench_race.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, REPO, median, pick, scratch_dir, table
from _graphs import GATE_REF, build_gate_graph, item

from langgraph_hitl.checkpointing import open_checkpointer
from langgraph_hitl.deciding._loader import canonical_ref
from langgraph_hitl.ledger import ReviewLedger

N: int = pick(200, 1000)
DECIDERS = 8
IDLE_RUNS = 7

DECIDER = """
import random, sys
from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.errors import ConflictError
from langgraph_hitl.models import Decision

db, base, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
desk = ReviewDesk(db, base=__import__("pathlib").Path(base))
ids = [rec.request_id for rec in desk.pending()]
random.Random(seed).shuffle(ids)
won = 0
for rid in ids:
    try:
        desk.decide(rid, Decision.approve(reviewer=f"bench-{seed}"))
        won += 1
    except ConflictError:
        pass
print(won)
"""


def fill(db: Path, count: int) -> None:
    with open_checkpointer(db, graph=canonical_ref(GATE_REF, BENCH_DIR)) as saver:
        graph = build_gate_graph().compile(checkpointer=saver)
        for i in range(count):
            out = graph.invoke(item(i), {"configurable": {"thread_id": f"t{i:06d}"}})
            if not out.get("__interrupt__"):
                raise RuntimeError(f"thread {i} did not pause: {out!r}")


def timed_list(db: Path) -> tuple[float, int]:
    argv = [sys.executable, "-m", "langgraph_hitl", "--db", str(db), "list", "--limit", "0"]
    start = time.perf_counter()
    done = subprocess.run([*argv, "--json"], capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"list: exit {done.returncode}: {done.stderr}")
    return elapsed, int(json.loads(done.stdout)["total"])


def race(db: Path) -> tuple[list[float], list[int], float, int]:
    deciders = [
        subprocess.Popen(
            [sys.executable, "-c", DECIDER, str(db), str(BENCH_DIR), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for seed in range(DECIDERS)
    ]
    start = time.perf_counter()
    times: list[float] = []
    depths: list[int] = []
    while any(proc.poll() is None for proc in deciders):
        elapsed, depth = timed_list(db)
        times.append(elapsed)
        depths.append(depth)
    raced = time.perf_counter() - start
    won = 0
    for proc in deciders:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"decider: exit {proc.returncode}: {err}")
        won += int(out.strip())
    return times, depths, raced, won


def row(label: str, times: list[float], note: str) -> list[Any]:
    ms = sorted(t * 1e3 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return [label, len(ms), median(ms), p95, ms[-1], note]


def main() -> None:
    with scratch_dir("race") as tmp:
        db = tmp / "race.sqlite"
        fill(db, N)
        print(f"  filled {N} pending", file=sys.stderr, flush=True)
        timed_list(db)  # warm-up: page cache, bytecode
        idle = [timed_list(db)[0] for _ in range(IDLE_RUNS)]
        during, depths, raced, won = race(db)
        after = [timed_list(db)[0] for _ in range(IDLE_RUNS)]
        with ReviewLedger.open(db) as ledger:
            left = ledger.count_pending()
    if won != N or left != 0:
        raise RuntimeError(f"{won} decisions won and {left} left, expected {N} and 0")
    print(
        table(
            f"`langgraph-hitl list --json` (a fresh process, end to end) while {DECIDERS}"
            f" decider processes race to approve {N} requests ({raced:.1f} s); ms",
            ["when", "runs", "median ms", "p95 ms", "max ms", "queue seen"],
            [
                row("idle, before the race", idle, f"{N} pending"),
                row(
                    f"during the race ({DECIDERS} deciders)",
                    during,
                    f"{max(depths)} down to {min(depths)} pending",
                ),
                row("idle, after the race", after, "0 pending"),
            ],
            left=(0, 5),
        )
    )


if __name__ == "__main__":
    main()
