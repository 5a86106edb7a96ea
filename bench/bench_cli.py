"""The CLI in a fresh process: `list`, `approve --no-apply` and `approve`, against `python -c pass`.

What a reviewer waits for at the prompt, each command a fresh interpreter, end to end:

  python startup          `python -c pass`: the floor under any fresh process.
  list                    `langgraph-hitl --db DB list`: the table a reviewer reads.
  list --json, --plain    the same queue for scripts.
  approve --no-apply      record a decision only (a worker applies it): imports neither
                          LangGraph nor the graph.
  approve                 record and apply in the reviewer's process, as on one machine:
                          loads LangGraph and the graph, resumes the thread.

Both databases hold threads really run through the gate graph of `_graphs.py` (by
`ReviewDesk.run`, so each thread records its graph): the one `list` reads holds 20
paused threads; each `approve` decides a paused thread of its own in another file, so
the queue `list` reads stays the same size.

Bytecode: an installed package has its modules compiled (`pip install` writes the .pyc
files), so every process here runs with `PYTHONDONTWRITEBYTECODE` unset and its cache in
the scratch directory (`PYTHONPYCACHEPREFIX`): the warm-up round writes it. A process
that compiles the package's modules from source each time (a checkout run with
`PYTHONDONTWRITEBYTECODE=1`) pays some tens of milliseconds more.

Noise: every command runs once per round, in an order rotated from round to round, so
load from other processes falls on all of them alike; each figure is the median over
rounds and each ratio divides two medians of the same run. The load average is printed
at the start and the end.

Sizes: HITL_BENCH_SCALE=default (15 rounds) or full (40 rounds).
Scratch files go to $HITL_BENCH_TMP (default: the system temp dir).
Run: .venv/bin/python bench/bench_cli.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from _common import BENCH_DIR, median, pick, scratch_dir, table
from _graphs import GATE_REF, item

from langgraph_hitl.deciding.desk import ReviewDesk

ROUNDS: int = pick(15, 40)
LISTED = 20
"""Paused threads in the database `list` reads."""


def populate(path: Path, count: int) -> list[str]:
    """`count` threads paused at the gate; their request ids."""
    desk = ReviewDesk(path, base=BENCH_DIR)
    pending = []
    with desk.keep_graphs():
        for i in range(count):
            run = desk.run(GATE_REF, item(i), thread_id=f"t{i:06d}")
            pending += run.pending
    return pending


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def timed(argv: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cwd / "pycache")
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def main() -> None:
    py = sys.executable
    started = load()
    with scratch_dir("cli") as tmp:
        listed = tmp / "listed.sqlite"
        decided = tmp / "decided.sqlite"
        populate(listed, LISTED)
        # A request for each approve: two a round, and two for the warm-up.
        todo = populate(decided, 2 * (ROUNDS + 1))
        print("  populated", file=sys.stderr, flush=True)
        cli = [py, "-m", "langgraph_hitl"]

        def commands() -> dict[str, list[str]]:
            return {
                "reference: `python -c pass`": [py, "-c", "pass"],
                "list": [*cli, "--db", str(listed), "list"],
                "list --json": [*cli, "--db", str(listed), "list", "--json"],
                "list --plain": [*cli, "--db", str(listed), "list", "--plain"],
                "approve --no-apply": [
                    *cli, "--db", str(decided), "approve", todo.pop(), "--no-apply",
                    "--reviewer", "bench",
                ],
                "approve (applies in this process)": [
                    *cli, "--db", str(decided), "approve", todo.pop(), "--reviewer", "bench",
                ],
            }  # fmt: skip

        for argv in commands().values():  # warm-up: page cache, .pyc files
            timed(argv, tmp)
        times: dict[str, list[float]] = {}
        for rnd in range(ROUNDS):
            runs = list(commands().items())
            shift = rnd % len(runs)
            for name, argv in runs[shift:] + runs[:shift]:
                times.setdefault(name, []).append(timed(argv, tmp))
        print("  measured", file=sys.stderr, flush=True)
    ended = load()

    # The first round runs in the listed order, so the table keeps it.
    ms = {name: median(values) * 1e3 for name, values in times.items()}
    floor = ms["reference: `python -c pass`"]
    rows = [
        [
            name,
            value,
            f"{value / floor:.2f}x",
            f"{value / ms['list']:.2f}x",
            f"{min(times[name]) * 1e3:.1f}-{max(times[name]) * 1e3:.1f}",
        ]
        for name, value in ms.items()
    ]
    print(
        table(
            f"The CLI in a fresh process: median of {ROUNDS} rounds, commands rotated"
            f" (load average {started} at the start, {ended} at the end)",
            ["command", "wall ms", "vs python -c pass", "vs list", "range ms"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
