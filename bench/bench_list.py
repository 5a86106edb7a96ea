"""Listing the queue: `langgraph-hitl list` vs. finding pending interrupts with LangGraph alone.

Databases of 1,000 and 10,000 threads (100,000 too at full scale) hold 20 paused threads
and the rest finished, every one made by really running the gate graph of `_graphs.py`
through `open_checkpointer` (invoke to the gate, then `Command(resume=...)` to approve):
no rows are copied. The file grows from one size to the next and is copied at each.

Timed, median of several runs after one untimed warm-up (warm page cache for everyone):

  ours, CLI             `python -m langgraph_hitl --db DB list --json`, a fresh process,
                        end to end (an indexed query on the review ledger).
  LangGraph API, proc.  `python bench/_scan_public.py DB`, a fresh process, end to end:
                        `SqliteSaver.list(None)` into a list, then `graph.get_state` per
                        thread (see `_scan_public.py`).
  LangGraph API, in-proc the same scan in this process, imports already paid.
  ours, in-process      `ReviewLedger.open(DB)` and `.pending()`, imports already paid.
  python startup        `python -c pass`: the floor under any fresh process.

Also printed: the database's bytes per paused and per finished thread, by table.

Sizes: HITL_BENCH_SCALE=default (1,000 and 10,000 threads) or full (adds 100,000; populating
it really runs 100,000 threads, several minutes). Scratch files go to $HITL_BENCH_TMP
(default: the system temp dir); at full scale they need about 3 GB.
Run: .venv/bin/python bench/bench_list.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    REPO,
    Timer,
    compact_size,
    median,
    pick,
    scratch_dir,
    settle,
    table,
    table_bytes,
)
from _graphs import GATE_REF, build_gate_graph, item
from _scan_public import scan
from langgraph.types import Command

from langgraph_hitl.checkpointing import open_checkpointer
from langgraph_hitl.deciding._loader import canonical_ref
from langgraph_hitl.ledger import ReviewLedger

SIZES: list[int] = pick([1_000, 10_000], [1_000, 10_000, 100_000])
PAUSED = 20
FOOTPRINT_THREADS = 500
CLI_RUNS = 7


def public_runs(size: int) -> int:
    return 5 if size <= 10_000 else 3


class Populator:
    """Really runs the gate graph, thread after thread, into one growing file."""

    def __init__(self, path: Path, paused: set[int]) -> None:
        self.path = path
        self.paused = paused
        self.count = 0
        self.seconds = 0.0
        self.ref = canonical_ref(GATE_REF, BENCH_DIR)

    def grow_to(self, size: int) -> None:
        timer = Timer()
        with timer, open_checkpointer(self.path, graph=self.ref) as saver:
            graph = build_gate_graph().compile(checkpointer=saver)
            for i in range(self.count, size):
                config = {"configurable": {"thread_id": f"t{i:07d}"}}
                out = graph.invoke(item(i), config)
                if i in self.paused:
                    continue
                resume = {out["__interrupt__"][0].id: {"type": "approve"}}
                out = graph.invoke(Command(resume=resume), config)
                if out.get("status") != "paid":
                    raise RuntimeError(f"thread {i} did not finish as paid: {out!r}")
        self.seconds += timer.total
        self.count = size
        settle(self.path)


def timed_process(argv: list[str], runs: int) -> tuple[float, Any]:
    """Median wall seconds of `runs` fresh processes (after one warm-up) and the last output."""
    output = None
    times = []
    for attempt in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{argv} failed ({done.returncode}): {done.stderr.strip()}")
        if attempt:
            times.append(elapsed)
        output = done.stdout
    return median(times), output


def timed_call(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median wall seconds of `runs` calls (after one warm-up) and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return median(times), result


def ledger_pending(db: Path) -> list[str]:
    with ReviewLedger.open(db) as ledger:
        return [rec.request_id for rec in ledger.pending(limit=200)]


def measure(db: Path, size: int) -> list[list[Any]]:
    py = sys.executable
    cli_s, cli_out = timed_process(
        [py, "-m", "langgraph_hitl", "--db", str(db), "list", "--json"], CLI_RUNS
    )
    runs = public_runs(size)
    scan_script = str(BENCH_DIR / "_scan_public.py")
    proc_s, proc_out = timed_process([py, scan_script, str(db)], runs)
    inproc_s, inproc_found = timed_call(lambda: scan(db), runs)
    ours_s, ours_found = timed_call(lambda: ledger_pending(db), CLI_RUNS)
    floor_s, _ = timed_process([py, "-c", "pass"], CLI_RUNS)
    return [
        [size, "ours: `langgraph-hitl list --json`, fresh process", cli_s * 1e3,
         len(json.loads(cli_out)["requests"]), CLI_RUNS],
        [size, "LangGraph API: list(None) + get_state, fresh process", proc_s * 1e3,
         len(json.loads(proc_out)), runs],
        [size, "LangGraph API: the same scan, in-process", inproc_s * 1e3,
         len(inproc_found), runs],
        [size, "ours: ReviewLedger.pending(), in-process", ours_s * 1e3,
         len(ours_found), CLI_RUNS],
        [size, "reference: `python -c pass`", floor_s * 1e3, "-", CLI_RUNS],
    ]  # fmt: skip


def footprint(tmp: Path) -> list[list[Any]]:
    """Bytes per paused and per finished thread, by table, from small files made for it."""
    empty = tmp / "empty.sqlite"
    with open_checkpointer(empty) as saver:
        saver.setup()  # LangGraph's own tables, which it otherwise makes on first use
    files = {}
    for kind, paused in (("paused", set(range(FOOTPRINT_THREADS))), ("finished", set())):
        files[kind] = tmp / f"footprint-{kind}.sqlite"
        Populator(files[kind], paused).grow_to(FOOTPRINT_THREADS)
    base = table_bytes(empty)
    by_kind = {kind: table_bytes(path) for kind, path in files.items()}
    tables = sorted(
        set(base) | {t for sizes in by_kind.values() for t in sizes},
        key=lambda t: -by_kind["finished"].get(t, 0),
    )
    rows: list[list[Any]] = []
    for name in tables:
        per = [
            (by_kind[kind].get(name, 0) - base.get(name, 0)) / FOOTPRINT_THREADS
            for kind in ("paused", "finished")
        ]
        if any(per):
            rows.append([name, *per])
    whole = [
        (compact_size(files[kind]) - compact_size(empty)) / FOOTPRINT_THREADS
        for kind in ("paused", "finished")
    ]
    rows.append(["whole file (vacuumed)", *whole])
    return rows


def main() -> None:
    rows: list[list[Any]] = []
    sizes_rows: list[list[Any]] = []
    with scratch_dir("list") as tmp:
        work = tmp / "grow.sqlite"
        step = SIZES[0] // PAUSED
        populator = Populator(work, {i * step for i in range(PAUSED)})
        for size in SIZES:
            populator.grow_to(size)
            db = tmp / f"threads-{size}.sqlite"
            shutil.copyfile(work, db)
            sizes_rows.append([size, compact_size(db), populator.seconds])
            print(f"  populated {size:,} threads", file=sys.stderr, flush=True)
            rows += measure(db, size)
            print(f"  measured {size:,} threads", file=sys.stderr, flush=True)
            if size != SIZES[-1]:
                db.unlink()
        foot = footprint(tmp)

    per_thread_ms = populator.seconds / populator.count * 1e3
    print(
        table(
            f"Finding the {PAUSED} pending requests: wall ms, median of the runs shown "
            "(one untimed warm-up before each)",
            ["threads", "approach", "wall ms", "found", "runs"],
            rows,
            left=(1,),
        )
    )
    growth = []
    for (size, size_bytes, _), prev in zip(sizes_rows, [None, *sizes_rows[:-1]], strict=False):
        slope = "-" if prev is None else f"{(size_bytes - prev[1]) / (size - prev[0]):,.0f}"
        growth.append([size, size_bytes / 1e6, slope])
    print(
        table(
            f"How the databases were made: every thread really run through the gate graph "
            f"(pause, then approve by Command(resume=...)), {populator.count:,} threads in "
            f"{populator.seconds:.1f} s = {per_thread_ms:.2f} ms per thread; no rows copied",
            ["threads", "file MB (vacuumed)", "bytes per added thread"],
            growth,
        )
    )
    print(
        table(
            f"Database bytes per thread, by table ({FOOTPRINT_THREADS} paused threads vs. "
            f"{FOOTPRINT_THREADS} finished ones, each file less an empty one; "
            "indexes counted with their table)",
            ["table", "bytes per paused thread", "bytes per finished thread"],
            foot,
        )
    )


if __name__ == "__main__":
    main()
