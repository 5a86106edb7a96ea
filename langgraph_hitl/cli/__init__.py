"""The `langgraph-hitl` command line: the typer app and one module per command group.

`app` holds the queue and deciding commands; review at scale, learning from decisions,
watching a deployment, metrics, the worker and the packaged samples live in modules of
their own, and importing them here registers their commands.
"""

from langgraph_hitl.cli import learn, metrics, samples, scale, watch, worker
from langgraph_hitl.cli.app import app, main

__all__ = ["app", "learn", "main", "metrics", "samples", "scale", "watch", "worker"]
