"""Processes the tests start, remembered so that a failing test leaves none running."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

STARTED: list[subprocess.Popen[Any]] = []
"""Processes a test started; `track` them so a failing test leaves none running."""


def track(proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
    """Remember a started process, to be killed if the test ends while it still runs."""
    STARTED.append(proc)
    return proc


def read_line(fd: int, proc: subprocess.Popen[Any], timeout: float) -> str:
    """The first line `proc` writes to the FIFO whose read end is `fd`; no sleeping.

    Raises `TimeoutError` (after killing `proc`) when no line comes within `timeout`
    seconds, and `ChildProcessError` when `proc` exits first.
    """
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            raise TimeoutError(f"no ready line in {timeout}s")
        readable, _, _ = select.select([fd], [], [], min(left, 1.0))
        if readable:
            data += os.read(fd, 4096)
        elif proc.poll() is not None:
            raise ChildProcessError("exited before its crash point")
    return data.decode()


def run_cli(db: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """One `langgraph-hitl --db DB ...` process, run to its end (cwd: the database's folder)."""
    return subprocess.run(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args],
        cwd=cwd or db.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """Exit `code`, one `error: ...` line on stderr, no traceback, nothing on stdout."""
    assert done.returncode == code, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert done.stdout == ""
    return lines[0]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without any `LANGGRAPH_HITL_*` or `E2E_*` setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGGRAPH_HITL_", "E2E_"))}
    env.update(extra or {})
    return env


def start_cli(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start one `langgraph-hitl --db DB ...` process from the repository root, tracked."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args],
        cwd=REPO,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    track(proc)
    return proc
