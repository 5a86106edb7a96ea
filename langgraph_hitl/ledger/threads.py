"""Threads: which graph each belongs to, where it resolves from, and how it ended."""

from __future__ import annotations

from pathlib import Path

from langgraph_hitl._time import clock
from langgraph_hitl.ledger.events import Events
from langgraph_hitl.ledger.store import Connection


class Threads(Events):
    """What the ledger knows of each thread."""

    def register_thread(
        self, thread_id: str, graph: str | None, *, root: str | Path | None = None
    ) -> None:
        """Remember which graph a thread belongs to, and where it resolves from.

        The first registration with a graph wins; the first root given with that same
        graph goes with it (a node may name the graph before the saver knows its root).
        """
        with self.write() as conn:
            self._register(conn, thread_id, graph, root)

    def _register(
        self,
        conn: Connection,
        thread_id: str,
        graph: str | None,
        root: str | Path | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO hitl_threads (thread_id, graph, graph_root, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE SET"
            " graph_root = CASE WHEN hitl_threads.graph IS NULL"
            " OR hitl_threads.graph = excluded.graph"
            " THEN COALESCE(hitl_threads.graph_root, excluded.graph_root)"
            " ELSE hitl_threads.graph_root END,"
            " graph = COALESCE(hitl_threads.graph, excluded.graph)",
            (thread_id, graph, None if root is None else str(root), clock()),
        )

    def knows_thread(self, thread_id: str) -> bool:
        """Whether the ledger has seen the thread (run, routed or paused)."""
        return bool(self.read("SELECT 1 FROM hitl_threads WHERE thread_id = ?", (thread_id,)))

    def thread_graphs(self) -> dict[str, str | None]:
        """Every known thread's graph reference, in one query."""
        return dict(self.read("SELECT thread_id, graph FROM hitl_threads"))

    def thread_graph(self, thread_id: str) -> str | None:
        """The graph reference a thread was run with, if known."""
        rows = self.read("SELECT graph FROM hitl_threads WHERE thread_id = ?", (thread_id,))
        return rows[0][0] if rows else None

    def thread_origins(self) -> dict[str, tuple[str | None, str | None]]:
        """Every known thread's graph reference and the root it resolves from."""
        rows = self.read("SELECT thread_id, graph, graph_root FROM hitl_threads")
        return {thread_id: (graph, root) for thread_id, graph, root in rows}

    def thread_origin(self, thread_id: str) -> tuple[str | None, str | None]:
        """The graph reference a thread was run with and the root it resolves from."""
        rows = self.read(
            "SELECT graph, graph_root FROM hitl_threads WHERE thread_id = ?", (thread_id,)
        )
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def finish_thread(self, thread_id: str, result: str, *, cost: float | None = None) -> None:
        """Note how a thread's work ended (`paid`, `rejected`, ...) and what the agent spent.

        Metrics read it for task success and cost per resolution. Idempotent: the last
        call wins, so a node that runs again records the same ending.
        """
        with self.write() as conn:
            self._register(conn, thread_id, None)
            conn.execute(
                "UPDATE hitl_threads SET result = ?, cost = ?, finished_at = ? WHERE thread_id = ?",
                (result, cost, clock(), thread_id),
            )

    def thread_result(self, thread_id: str) -> str | None:
        """How a thread ended, as `finish_thread` or `cancel_thread` noted it."""
        rows = self.read("SELECT result FROM hitl_threads WHERE thread_id = ?", (thread_id,))
        return None if not rows or rows[0][0] is None else str(rows[0][0])
