"""Record here, apply there: `Worker` applies decisions that reviewers only recorded.

A decision has two halves. Recording it (validate, check who may, write it once, chain
the event) needs only the ledger: a reviewer's `approve --no-apply` imports neither
LangGraph nor the graph. Applying it (resume the thread) needs the graph's code and the
app's secrets, and runs the rest of the agent. `langgraph-hitl worker` runs where those
live, as many instances as needed: each round it finds the threads with decisions
recorded and not applied (a `sweep`'s timeout decisions among them) and applies each
thread under its lease, which one worker holds at a time, kept alive by a heartbeat.
A thread another worker holds is skipped, not waited for. What it applied, and why
applying failed, goes back into the ledger: `show`, `thread`, `list` and `history`
read it there.

On SQLite, workers find new work by polling the ledger (an indexed query); on
PostgreSQL an idle worker also LISTENs, and a recorded decision wakes it as it commits.
A worker rides out a database that goes away for a while (a PostgreSQL restart): the
round fails, it pauses and tries again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langgraph_hitl.errors import DatabaseError, HitlError, ThreadBusyError
from langgraph_hitl.ledger.leases import lease_owner
from langgraph_hitl.ledger.store.postgres import Listener, first_line, from_server, is_postgres

if TYPE_CHECKING:
    from langgraph_hitl.deciding.desk import ReviewDesk

DEFAULT_INTERVAL_S = 1.0
"""How often an idle worker looks for new work."""


@dataclass(frozen=True, kw_only=True)
class Applied:
    """What a worker did with one thread in one round."""

    thread_id: str
    result: str
    """`applied`, `busy` (another worker holds it) or `failed` (kept, with the error)."""
    status: str | None = None
    """The thread's status afterwards (`done`, `paused`, ...), when applied."""
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "result": self.result,
            "status": self.status,
            "error": self.error,
        }


class Worker:
    """Applies recorded decisions, thread by thread, exactly once each.

    Args:
        desk: The desk on the database to work on (its `--graph` override, if any, too).

    Example:
        >>> from langgraph_hitl import Decision
        >>> from langgraph_hitl.deciding.worker import Worker
        >>> desk.decide(request_id, Decision.approve(reviewer="mia"), apply=False).applied
        False
        >>> [(a.result, a.status) for a in Worker(desk).run_once()]
        [('applied', 'done')]
        >>> desk.show(request_id).status
        'applied'
    """

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk

    def run_once(self) -> list[Applied]:
        """One round: claim and apply, thread by thread, what is waiting now.

        Each thread is claimed (`ReviewLedger.claim_next`: its lease, taken under this
        worker's name) before it is applied, so workers running at once take different
        threads; a thread whose lease a live process holds is left to it.
        """
        done: list[Applied] = []
        owner = lease_owner()
        tried: list[str] = []
        with self.desk.keep_graphs(), self.desk.ledger() as ledger:
            while (thread_id := ledger.claim_next(owner, skip=tried)) is not None:
                tried.append(thread_id)
                applied: list[str] = []
                try:
                    status = self.desk.apply_thread(thread_id, wait=0, applied=applied, lease=owner)
                except ThreadBusyError:
                    done.append(Applied(thread_id=thread_id, result="busy"))
                except (HitlError, Exception) as error:
                    # Kept with the error on the request (`note_apply_error`); the next
                    # round tries again, `cancel` ends a thread that never will apply.
                    line = f"{type(error).__name__}: {error}".splitlines()[0]
                    done.append(Applied(thread_id=thread_id, result="failed", error=line))
                else:
                    if applied:
                        done.append(
                            Applied(thread_id=thread_id, result="applied", status=status.status)
                        )
        return done

    def run(
        self,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        stop: threading.Event | None = None,
        report: Any = None,
    ) -> None:
        """Work until `stop` is set: a round, then, if there was nothing to do, a pause.

        A thread that failed to apply is not retried in the same breath: the worker
        pauses before the next round whenever a round applied nothing.
        """
        stop = stop or threading.Event()
        listener = Listener(str(self.desk.path)) if is_postgres(self.desk.path) else None
        if listener is not None:
            listener.start()
        try:
            while not stop.is_set():
                try:
                    done = self.run_once()
                except Exception as error:
                    if not isinstance(error, DatabaseError | OSError) and not from_server(error):
                        raise
                    # The database went away mid-round (a restart): nothing was applied
                    # twice (each apply holds its lease); the next round picks it up.
                    line = f"{type(error).__name__}: {first_line(error)}"
                    done = [Applied(thread_id="-", result="failed", error=line)]
                for item in done:
                    if report is not None:
                        report(item)
                if not any(item.result == "applied" for item in done):
                    if listener is not None:
                        listener.wait(interval)
                    else:
                        stop.wait(interval)
        finally:
            if listener is not None:
                listener.close()
