"""The `worker` command: apply, where the graph and its secrets live, what reviewers recorded.

    langgraph-hitl worker [--once] [--interval SECONDS] [--json]

Reviewers record with `approve --no-apply` (or a deployment whose `hitl.toml` says
`[deciding] apply = "worker"`); workers apply. `--once` works one round and exits 1 if
applying one failed (the decision stays recorded, with the error, for the next round).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from langgraph_hitl.cli.app import JsonFlag, _desk, _handled, app
from langgraph_hitl.cli.output import out
from langgraph_hitl.deciding.worker import DEFAULT_INTERVAL_S, Applied, Worker


def _line(item: Applied) -> str:
    if item.result == "applied":
        return f"{item.thread_id}  applied ({item.status})"
    if item.result == "busy":
        return f"{item.thread_id}  skipped: another process is applying it"
    return f"{item.thread_id}  failed, kept for the next round: {item.error}"


@app.command()
@_handled
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Work one round and exit (exit 1 if one failed).")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0.05,
            max=3600,
            help="How often an idle worker looks for recorded decisions (on PostgreSQL a"
            " recorded decision also wakes it at once).",
        ),
    ] = DEFAULT_INTERVAL_S,
    as_json: JsonFlag = False,
) -> None:
    """Apply decisions recorded elsewhere (`--no-apply`), each exactly once, under its lease.

    Run it where the graph and its secrets live; run as many as you like: each thread
    is applied by one worker at a time, and a crashed worker's thread is taken over.
    What it applied, and why applying failed, goes back into the ledger. A database
    that goes away for a while (a PostgreSQL restart) is waited out.
    """
    job = Worker(_desk())

    def report(item: Applied) -> None:
        if as_json:
            sys.stdout.write(json.dumps(item.to_json()) + "\n")
            sys.stdout.flush()
        else:
            out.print(_line(item), markup=False)

    if not once:
        try:
            job.run(interval=interval, report=report)
        except KeyboardInterrupt:
            return
        return
    done = job.run_once()
    for item in done:
        report(item)
    if not done and not as_json:
        out.print("nothing to apply", markup=False)
    if any(item.result == "failed" for item in done):
        raise typer.Exit(1)
