"""What the shape graphs share: a record of what each action node ran with, and requests.

Imported by the graphs beside it (the graph loader puts their folder on the path). Each
action node calls `note(...)`: one row in the `actions` table of the graph's own SQLite
file, with the thread, the node, the process and the facts the node saw (for example
the type names of the values it read from state). The tests read that table to see
that an action ran, once, in the deciding process, on the types the state declares.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from typing import Any


def note(path: Any, config: Any, node: str, **facts: Any) -> None:
    """One row: this node ran on this thread, in this process, having seen `facts`."""
    thread_id = config["configurable"]["thread_id"]
    with closing(sqlite3.connect(str(path), timeout=30)) as conn, conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS actions (seq INTEGER PRIMARY KEY, thread_id TEXT,"
            " node TEXT, pid INTEGER, facts TEXT)"
        )
        conn.execute(
            "INSERT INTO actions (thread_id, node, pid, facts) VALUES (?, ?, ?, ?)",
            (thread_id, node, os.getpid(), json.dumps(facts, sort_keys=True)),
        )


def request(name: str, args: dict[str, Any], summary: str) -> dict[str, Any]:
    """A request as a dict of its fields, the way most builders write one."""
    return {
        "action": {"name": name, "args": args},
        "summary": summary,
        "reasons": ["every payment is approved by a human"],
        "risk_tier": "high",
    }


def type_names(**values: Any) -> dict[str, str]:
    """`{key: type name}`: what the node got, plain dict or the declared type."""
    return {key: type(value).__name__ for key, value in values.items()}
