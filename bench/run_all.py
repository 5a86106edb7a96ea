"""Run every benchmark in turn, each in a fresh interpreter, and print its tables.

Figures only: nothing here passes or fails on time. `make bench` runs this file.

Sizes: HITL_BENCH_SCALE=default (a few minutes in all) or full (the larger sizes: a
quarter of an hour or more, and about 3 GB of scratch files). Scratch files go to
$HITL_BENCH_TMP (default: the system temp dir).
Run: .venv/bin/python bench/run_all.py   (or: make bench; HITL_BENCH_SCALE=full make bench)
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from _common import BENCH_DIR, REPO, SCALE

BENCHMARKS = (
    "bench_gate.py",
    "bench_agent.py",
    "bench_list.py",
    "bench_cli.py",
    "bench_batch.py",
    "bench_race.py",
    "bench_metrics.py",
    "bench_notify.py",
    "bench_storage.py",
    "bench_team.py",
    "bench_inbox.py",
)
PACKAGES = (
    "langgraph-hitl",
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langgraph-checkpoint-postgres",
    "psycopg",
    "langchain",
    "langchain-core",
    "pydantic",
    "typer",
    "rich",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def revision() -> str:
    """The commit, and whether the library differs from it (read-only git calls)."""
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "diff", "--quiet", "HEAD", "--", "langgraph_hitl"], check=False
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return head + (" with uncommitted changes in langgraph_hitl/" if dirty else "")


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> int:
    import sqlite3

    print(f"date (UTC): {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')}")
    print(f"commit: {revision()}")
    print(f"load average (1, 5, 15 min) at start: {load()}")
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, {platform.platform()}")
    print(f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    print(f"packages: {versions()}")
    print(f"scale: {SCALE} (HITL_BENCH_SCALE)\n")
    failed = []
    for name in BENCHMARKS:
        print(f"== {name}\n", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(BENCH_DIR / name)], cwd=REPO, check=False)
        print(f"({name}: {time.perf_counter() - start:.0f} s wall)\n", flush=True)
        if done.returncode:
            failed.append(name)
    print(f"load average (1, 5, 15 min) at end: {load()}")
    if failed:
        print(f"did not finish: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
