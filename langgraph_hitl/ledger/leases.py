"""Thread leases that stay held as long as their holder lives.

One process applies a thread's decisions at a time: it takes the thread's lease in the
ledger for `lease_seconds()` and `hold_lease` renews it every quarter of that from a
heartbeat thread, so a holder that is alive keeps it however long the action takes (a
slow payment API, an LLM call with retries). Another process may take the lease only
once it has expired (its holder stopped renewing: it died, hung or lost the database) or
when its holder is a process on this host that no longer exists.

A holder that lost its lease anyway (stopped past the expiry, then woke up) finds out
before it writes: the desk runs the graph with the lease in the run config and the saver
checks, in the same transaction as every checkpoint write, that the lease is still that
one (`HitlSqliteSaver`), raising `LeaseLostError` otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph_hitl.errors import ThreadBusyError
from langgraph_hitl.ledger.store import LedgerStore, lease_owner, lease_seconds
from langgraph_hitl.ledger.store.postgres import database


class LeaseKeeper:
    """Renews a held lease every quarter of its length until stopped.

    Uses its own connection, so a renewal never waits behind the holder's work.

    Attributes:
        lost: Set once a renewal found the lease held by someone else.
        renewals: How many renewals succeeded.
    """

    def __init__(self, path: str | Path, thread_id: str, owner: str, ttl: float) -> None:
        self.path = database(path)
        self.thread_id = thread_id
        self.owner = owner
        self.ttl = ttl
        self.lost = threading.Event()
        self.renewals = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"hitl-lease-{thread_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with LedgerStore.open(self.path) as store:
            while not self._stop.wait(self.ttl / 4):
                try:
                    held = store.renew_lease(self.thread_id, self.owner, self.ttl)
                except Exception:  # a busy database: try again at the next beat
                    continue
                if not held:
                    self.lost.set()
                    return
                self.renewals += 1


@contextmanager
def hold_lease(
    store: LedgerStore, path: str | Path, thread_id: str, *, wait: float, what: str = "resuming"
) -> Iterator[str]:
    """Hold the thread's lease for the block, renewed by a heartbeat; yields the owner name.

    Waits up to `wait` seconds for a live holder to finish, then raises `ThreadBusyError`.
    """
    owner = lease_owner()
    ttl = lease_seconds()
    deadline = time.monotonic() + wait
    delay = 0.01
    while not store.acquire_lease(thread_id, owner, ttl):
        if time.monotonic() >= deadline:
            waited = f" for over {wait:.0f}s" if wait >= 1 else ""
            raise ThreadBusyError(
                f"another process has been {what} thread {thread_id}{waited}; try again"
                " when it is done"
            )
        # Waiting for another process's apply to end: there is nothing to wait on but
        # the ledger row, so poll it with a growing pause.
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    keeper = LeaseKeeper(path, thread_id, owner, ttl)
    keeper.start()
    try:
        yield owner
    finally:
        keeper.stop()
        store.release_lease(thread_id, owner)
