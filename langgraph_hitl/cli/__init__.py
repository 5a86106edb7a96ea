"""The `langgraph-hitl` command line: the typer app and one module per command group.

`app` holds the typer app, its options and how every command reports errors; each
other module registers one group of commands when it is imported (the order here is
the order `--help` lists them in):

- `decide`: run, approve, reject, modify, resume;
- `queue`: list, show, thread, history, review;
- `scale`: reviewers, batch review, sweep, cancel, respond;
- `learn`: train, export --overrides, calibrate;
- `metrics`; `watch`: notify, outbox, check; `worker`;
- `audit`: audit verify, audit export; `maintenance`: doctor, prune; `samples`.
"""

# isort: skip_file
# Importing a module registers its commands, and `--help` lists them in that order.
from langgraph_hitl.cli import decide, queue, scale, learn, metrics, watch, worker
from langgraph_hitl.cli import audit, maintenance, samples
from langgraph_hitl.cli.app import app, main

__all__ = [
    "app",
    "audit",
    "decide",
    "learn",
    "main",
    "maintenance",
    "metrics",
    "queue",
    "samples",
    "scale",
    "watch",
    "worker",
]
