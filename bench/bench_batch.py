"""Deciding a queue: N pending requests approved by one `batch approve`, one by one in one
process, and by one CLI process each.

Two files are filled the same way: N threads of the gate graph in `_graphs.py`, each run
through `open_checkpointer` until it pauses at the gate (one more for a warm-up). Then:

  in one process   `ReviewDesk(DB).decide(request_id, Decision.approve(...))` for each
                   pending request, one after the other: validate, record in the ledger,
                   take the thread's lease, resume with strict mode, mark applied.
  one CLI each     `python -m langgraph_hitl --db DB approve REQUEST --json`, a fresh process
                   per request, timed end to end, for an evenly spread sample of them; the
                   total for N is that sample's mean times N, and labelled extrapolated.

  batch            `python -m langgraph_hitl --db DB batch approve 1`, one process for all
                   N (each still recorded and applied on its own), timed end to end, while
                   this process writes an event to the same ledger every 20 ms and times
                   each write: how long the batch holds other reviewers up.

The first decision of each (imports, first compile) is a warm-up, reported on its own and
left out of the per-request figures. Every decision is checked to have finished its thread.

Sizes: HITL_BENCH_SCALE=default (N=200, sample 20) or full (N=1000, sample 20).
Scratch files go to $HITL_BENCH_TMP (default: the system temp dir).
Run: .venv/bin/python bench/bench_batch.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, REPO, median, pick, scratch_dir, table
from _graphs import GATE_REF, build_gate_graph, item

from langgraph_hitl.checkpointing import open_checkpointer
from langgraph_hitl.deciding._loader import canonical_ref
from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.models import Decision

N: int = pick(200, 1000)
CLI_SAMPLE = 20
REVIEWER = "bench"


def fill(db: Path, count: int) -> list[str]:
    """`count` threads paused at the gate; their request ids, oldest first."""
    with open_checkpointer(db, graph=canonical_ref(GATE_REF, BENCH_DIR)) as saver:
        graph = build_gate_graph().compile(checkpointer=saver)
        for i in range(count):
            out = graph.invoke(item(i), {"configurable": {"thread_id": f"t{i:06d}"}})
            if not out.get("__interrupt__"):
                raise RuntimeError(f"thread {i} did not pause: {out!r}")
    with ReviewLedger.open(db) as ledger:
        ids = [rec.request_id for rec in ledger.pending()]
    if len(ids) != count:
        raise RuntimeError(f"{len(ids)} pending requests, expected {count}")
    return ids


def in_process(db: Path, ids: list[str]) -> tuple[float, list[float]]:
    """Seconds of the warm-up decision and of each decision after it."""
    desk = ReviewDesk(db, base=BENCH_DIR)
    times = []
    for request_id in ids:
        start = time.perf_counter()
        outcome = desk.decide(request_id, Decision.approve(reviewer=REVIEWER))
        times.append(time.perf_counter() - start)
        if not outcome.applied or outcome.thread is None or outcome.thread.status != "done":
            raise RuntimeError(f"{request_id} was not applied: {outcome.to_json()!r}")
    return times[0], times[1:]


def one_process_each(db: Path, ids: list[str]) -> tuple[float, list[float]]:
    """Seconds of the warm-up process and of each process after it."""
    times = []
    for request_id in ids:
        argv = [sys.executable, "-m", "langgraph_hitl", "--db", str(db), "approve", request_id]
        argv += ["--reviewer", REVIEWER, "--json"]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0 or not json.loads(done.stdout)["applied"]:
            raise RuntimeError(f"approve {request_id}: exit {done.returncode}: {done.stderr}")
    return times[0], times[1:]


def batch_cli(db: Path) -> tuple[float, list[float], int]:
    """Seconds for one `langgraph-hitl batch approve` of every pending request, and the
    waits of another reviewer writing to the ledger every 20 ms meanwhile."""
    argv = [sys.executable, "-m", "langgraph_hitl", "--db", str(db), "batch", "approve"]
    argv += ["1", "--reviewer", REVIEWER, "--json"]
    waits: list[float] = []
    out_file, err_file = db.with_suffix(".out"), db.with_suffix(".err")
    # Output goes to files: the JSON of 1,000 results would fill a pipe nobody reads yet.
    with ReviewLedger.open(db) as other, out_file.open("wb") as out, err_file.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=REPO)
        while proc.poll() is None:
            began = time.perf_counter()
            other.add_event("bench_ping", actor="another-reviewer")
            waits.append(time.perf_counter() - began)
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"batch approve: exit {proc.returncode}: {err_file.read_text()}")
    counts = json.loads(out_file.read_text())["counts"]
    return elapsed, waits, int(counts.get("applied", 0))


def sample(ids: list[str], k: int) -> list[str]:
    step = len(ids) / k
    return [ids[int(i * step)] for i in range(k)]


def stats(label: str, times: list[float], total_for_n: float, note: str) -> list[Any]:
    ms = [t * 1e3 for t in times]
    return [
        label,
        len(ms),
        statistics.fmean(ms),
        median(ms),
        max(ms),
        total_for_n,
        note,
    ]


def main() -> None:
    with scratch_dir("batch") as tmp:
        desk_db, cli_db, batch_db = tmp / "desk.sqlite", tmp / "cli.sqlite", tmp / "batch.sqlite"
        desk_ids = fill(desk_db, N + 1)
        cli_ids = fill(cli_db, N + 1)
        fill(batch_db, N)
        print(f"  filled 3 x {N} pending", file=sys.stderr, flush=True)
        batch_s, waits, applied = batch_cli(batch_db)
        if applied != N:
            raise RuntimeError(f"batch approve applied {applied}, expected {N}")
        print("  batch approved in one process", file=sys.stderr, flush=True)
        desk_warm, desk_times = in_process(desk_db, desk_ids)
        print("  decided in one process", file=sys.stderr, flush=True)
        cli_warm, cli_times = one_process_each(
            cli_db, cli_ids[:1] + sample(cli_ids[1:], CLI_SAMPLE)
        )
        with ReviewLedger.open(cli_db) as ledger:
            left = ledger.count_pending()
        if left != N - CLI_SAMPLE:
            raise RuntimeError(
                f"{left} still pending after the CLI sample, expected {N - CLI_SAMPLE}"
            )

    desk_total = sum(desk_times)
    cli_mean = statistics.fmean(cli_times)
    rows = [
        stats(
            "ReviewDesk.decide, one process",
            desk_times,
            desk_total,
            f"measured: all {N}",
        ),
        stats(
            "`langgraph-hitl approve`, one process each",
            cli_times,
            cli_mean * N,
            f"EXTRAPOLATED: mean of {len(cli_times)} x {N}",
        ),
    ]
    print(
        table(
            f"Approving {N} pending requests one by one (each resumes its thread to the end); "
            "per-request ms, warm-up excluded",
            [
                "approach",
                "requests timed",
                "mean ms",
                "median ms",
                "max ms",
                f"total s for {N}",
                "how",
            ],
            rows,
            left=(0, 6),
        )
    )
    print(
        table(
            f"`langgraph-hitl batch approve` of all {N} in one process (measured, imports"
            " included) against one `approve` process per request",
            ["approach", f"total s for {N}", "ms per request", "vs batch"],
            [
                ["batch approve, one process", batch_s, batch_s / N * 1e3, 1.0],
                ["approve, one process each", cli_mean * N, cli_mean * 1e3, cli_mean * N / batch_s],
                [
                    "ReviewDesk.decide loop, in process",
                    desk_total,
                    desk_total / N * 1e3,
                    desk_total / batch_s,
                ],
            ],
            left=(0,),
        )
    )
    print(
        f"another reviewer writing to the ledger every 20 ms during the batch: {len(waits)}"
        f" writes, median wait {median(waits) * 1e3:.1f} ms, longest {max(waits) * 1e3:.1f} ms"
    )
    print(
        f"warm-up (first decision, not in the table): in one process {desk_warm * 1e3:.0f} ms"
        f" (LangGraph already imported by the fill step), first CLI process"
        f" {cli_warm * 1e3:.0f} ms; one process each is"
        f" {cli_mean / statistics.fmean(desk_times):.0f}x the in-process mean per request.\n"
    )


if __name__ == "__main__":
    main()
