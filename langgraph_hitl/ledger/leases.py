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

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from langgraph_hitl._time import clock
from langgraph_hitl.errors import ThreadBusyError
from langgraph_hitl.ledger.requests import HELD
from langgraph_hitl.ledger.store import Connection, backend_of
from langgraph_hitl.ledger.store.postgres import database
from langgraph_hitl.ledger.threads import Threads

DEFAULT_LEASE_S = 60.0
"""How long a thread's lease lasts unless its holder renews it (it renews it every quarter
of that while it lives); `$LANGGRAPH_HITL_LEASE_S` sets it."""

LEASE_ENV = "LANGGRAPH_HITL_LEASE_S"


def lease_seconds() -> float:
    """The lease length: `$LANGGRAPH_HITL_LEASE_S` when it is a positive number, else 60 s."""
    text = os.environ.get(LEASE_ENV)
    try:
        value = float(text) if text else DEFAULT_LEASE_S
    except ValueError:
        return DEFAULT_LEASE_S
    return value if 0 < value < 86_400 * 365 else DEFAULT_LEASE_S


def lease_owner() -> str:
    """This process's lease name: host, pid and a random part."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def owner_is_dead(owner: str) -> bool:
    """True when a lease owner names a process on this host that no longer exists."""
    import socket

    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _free(current: str | None, expires: float | None, owner: str, now: float) -> bool:
    """Whether `owner` may take a lease now held by `current` until `expires`."""
    return (
        current is None
        or current == owner
        or (expires is not None and expires < now)
        or owner_is_dead(current)
    )


class Leases(Threads):
    """Each thread's lease: who applies its decisions now, and until when."""

    def acquire_lease(self, thread_id: str, owner: str, ttl: float | None = None) -> bool:
        """Take the thread's lease unless a live process holds it; True on success.

        A lease past its expiry (its holder stopped renewing it), or held by a process
        on this host that no longer exists, is taken over.
        """
        ttl = lease_seconds() if ttl is None else ttl
        now = clock()
        with self.write() as conn:
            self._register(conn, thread_id, None)
            # Locked for update: a worker's `claim_next` takes leases outside the
            # ledger's one write transaction, under this row lock.
            current, expires = conn.execute(
                "SELECT lease_owner, lease_expires FROM hitl_threads WHERE thread_id = ?"
                + self.backend.update_lock,
                (thread_id,),
            ).fetchone()
            free = _free(current, expires, owner, now)
            if free:
                conn.execute(
                    "UPDATE hitl_threads SET lease_owner = ?, lease_expires = ? "
                    "WHERE thread_id = ?",
                    (owner, now + ttl, thread_id),
                )
            return free

    def claim_next(
        self, owner: str, *, ttl: float | None = None, skip: Sequence[str] = ()
    ) -> str | None:
        """Take the lease of the thread whose recorded decision waits longest, if any is
        free; returns its id (None when nothing waits that is free to take).

        For workers: many can claim at once, each gets a different thread. On
        PostgreSQL the candidates are read `FOR UPDATE SKIP LOCKED`, so a claim passes
        over the threads other workers are claiming instead of queueing behind them, and
        the claim does not take the ledger's one write lock (it appends no event).
        Threads in `skip` (tried already this round), and threads `owner` holds already,
        are passed over.
        """
        ttl = lease_seconds() if ttl is None else ttl
        now = clock()
        not_in = f" AND t.thread_id NOT IN ({', '.join('?' * len(skip))})" if skip else ""
        with self.write(serial=False) as conn:
            rows = conn.execute(
                "SELECT t.thread_id, t.lease_owner, t.lease_expires FROM hitl_threads t"
                " JOIN (SELECT r.thread_id, MIN(r.decided_at) AS first FROM hitl_requests r"
                f" WHERE r.status = 'decided' AND NOT {HELD} GROUP BY r.thread_id) w"
                f" ON w.thread_id = t.thread_id WHERE 1 = 1{not_in}"
                f" ORDER BY w.first, t.thread_id LIMIT 32{self.backend.claim_lock}",
                tuple(skip),
            ).fetchall()
            for thread_id, current, expires in rows:
                if current != owner and _free(current, expires, owner, now):
                    conn.execute(
                        "UPDATE hitl_threads SET lease_owner = ?, lease_expires = ?"
                        " WHERE thread_id = ?",
                        (owner, now + ttl, thread_id),
                    )
                    return str(thread_id)
        return None

    def renew_lease(self, thread_id: str, owner: str, ttl: float | None = None) -> bool:
        """Push the lease's expiry out again; False when `owner` no longer holds it."""
        ttl = lease_seconds() if ttl is None else ttl
        with self.write() as conn:
            return bool(
                conn.execute(
                    "UPDATE hitl_threads SET lease_expires = ? WHERE thread_id = ?"
                    " AND lease_owner = ?",
                    (clock() + ttl, thread_id, owner),
                ).rowcount
            )

    @staticmethod
    def lease_holder_in(conn: Connection, thread_id: str) -> str | None:
        """Who holds the thread's lease, read inside the caller's own transaction on `conn`.

        On PostgreSQL the row stays locked (`FOR SHARE`) until that transaction ends: a
        takeover waits for the caller's write, or the caller reads the new holder.
        """
        lock = backend_of(conn).share_lock
        row = conn.execute(
            f"SELECT lease_owner FROM hitl_threads WHERE thread_id = ?{lock}", (thread_id,)
        ).fetchone()
        return None if row is None else row[0]

    def lease_holder(self, thread_id: str) -> str | None:
        """Who holds the thread's lease now (expired or not), if anyone."""
        rows = self.read("SELECT lease_owner FROM hitl_threads WHERE thread_id = ?", (thread_id,))
        return rows[0][0] if rows else None

    def release_lease(self, thread_id: str, owner: str) -> None:
        """Give the lease back, if `owner` still holds it."""
        with self.write() as conn:
            conn.execute(
                "UPDATE hitl_threads SET lease_owner = NULL, lease_expires = NULL "
                "WHERE thread_id = ? AND lease_owner = ?",
                (thread_id, owner),
            )


class LeaseKeeper:
    """Renews a held lease every quarter of its length until stopped.

    Uses its own connection, so a renewal never waits behind the holder's work; it opens
    that connection at the first renewal, so work that ends sooner (most applies) never
    pays for one.

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
        if self._stop.wait(self.ttl / 4):
            return
        with Leases.open(self.path, pooled=True) as store:
            while True:
                try:
                    held = store.renew_lease(self.thread_id, self.owner, self.ttl)
                except Exception:  # a busy database: try again at the next beat
                    pass
                else:
                    if not held:
                        self.lost.set()
                        return
                    self.renewals += 1
                if self._stop.wait(self.ttl / 4):
                    return


@contextmanager
def hold_lease(
    store: Leases,
    path: str | Path,
    thread_id: str,
    *,
    wait: float,
    what: str = "resuming",
    owner: str | None = None,
) -> Iterator[str]:
    """Hold the thread's lease for the block, renewed by a heartbeat; yields the owner name.

    Waits up to `wait` seconds for a live holder to finish, then raises `ThreadBusyError`.
    `owner` is a lease name this process already holds the lease under (`claim_next`).
    """
    owner = owner or lease_owner()
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
