"""Thread leases: kept alive while their holder works, fenced when it loses them.

A decider applies a thread under its lease. The lease is short (one second here, through
`LANGGRAPH_HITL_LEASE_S`) and renewed by a heartbeat while the holder lives, so an action
that takes far longer than the lease still runs once, with resumers and sweeps polling
all along. A holder that stopped (SIGSTOP) past its lease is taken over; when it wakes it
finds out at its next checkpoint write and stops before writing. `cancel` takes the
lease too: it is refused while an apply is in flight, and it needs the right to decide
every open request of the thread, in every state.

The processes are real `langgraph-hitl` processes on a real SQLite file; the graph is
`tests/graphs/fault_pay.py`, which blocks inside `pay` on a FIFO until told to go on.
Nothing sleeps to make timing work: the tests wait on FIFO lines, process exits and
rows in the database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from processes import Fifos, finish, one_line_error, query, run_cli, start_cli

from langgraph_hitl import NotAuthorizedError, ReviewDesk
from langgraph_hitl.errors import NotPendingError, ThreadBusyError
from langgraph_hitl.ledger import ReviewLedger, lease_owner
from langgraph_hitl.ledger.leases import LeaseKeeper
from langgraph_hitl.models import Decision

REPO = Path(__file__).resolve().parent.parent
GRAPH = "tests/graphs/fault_pay.py:make_graph"
TIERED = "tests/graphs/tiered_pay.py:make_graph"
SHORT_LEASE = {"LANGGRAPH_HITL_LEASE_S": "1", "LANGGRAPH_HITL_REVIEWER": "lease-test"}


def cli(
    db: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(db, *args, cwd=REPO, env={**SHORT_LEASE, **(env or {})})


def start(db: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return start_cli(db, *args, env={**SHORT_LEASE, **env})


@pytest.fixture
def db(hitl_db: Path) -> Path:
    return hitl_db


def pause(db: Path, thread: str, item: str) -> str:
    ran = cli(
        db,
        "run",
        GRAPH,
        "--thread",
        thread,
        "--input",
        json.dumps({"item_id": item, "amount": 12.5}),
        "--json",
    )
    assert ran.returncode == 0, ran
    status = json.loads(ran.stdout)
    assert status["status"] == "paused"
    return str(status["pending"][0])


def lease_expiry(db: Path, thread: str) -> float | None:
    [(expires,)] = query(db, "SELECT lease_expires FROM hitl_threads WHERE thread_id = ?", thread)
    return None if expires is None else float(expires)


def attempts(db: Path, step: str) -> int:
    return int(query(db, "SELECT COUNT(*) FROM step_attempts WHERE step = ?", step)[0][0])


def linear_history(db: Path, thread: str) -> bool:
    """No two checkpoints of the thread's root namespace share a parent: no fork."""
    parents = query(
        db,
        "SELECT parent_checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ''",
        thread,
    )
    return len(parents) == len(set(parents))


# -- a slow action keeps its lease ----------------------------------------------------------


def test_a_slow_action_keeps_its_lease_and_runs_once(db: Path, fifos: Fifos) -> None:
    """`pay` takes many lease lengths; resumers and sweeps poll all along: it runs once."""
    rid = pause(db, "slow", "S-1")
    holder = start(db, "approve", rid, "--reviewer", "ana", env=fifos.env("pay-before"))
    assert fifos.wait_ready(holder).startswith("pay-before ")
    first = lease_expiry(db, "slow")
    assert first is not None
    busy = 0
    # Poll as a cron'd `resume --all` and `sweep` would, until the lease has been renewed
    # past three times its first expiry: the holder's heartbeat, not luck, kept it.
    for _ in range(500):
        resumer = cli(db, "resume", "--all", env={"LANGGRAPH_HITL_LEASE_WAIT_S": "0"})
        assert "another process" in one_line_error(resumer, 3)
        busy += 1
        assert cli(db, "sweep").returncode == 0
        expiry = lease_expiry(db, "slow")
        assert expiry is not None, "the holder lost its lease while alive"
        if expiry > first + 3:
            break
    else:
        pytest.fail("the lease was never renewed")
    fifos.release()
    done = finish(holder)
    assert done.returncode == 0, done
    assert attempts(db, "pay") == 1 and attempts(db, "notify") == 1
    assert query(db, "SELECT item_id FROM paid") == [("S-1",)]
    assert query(db, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [("applied",)]
    assert lease_expiry(db, "slow") is None
    assert busy >= 1
    assert linear_history(db, "slow")


def test_a_holder_stopped_past_its_lease_is_taken_over_and_writes_nothing_after(
    db: Path, fifos: Fifos
) -> None:
    """SIGSTOP the holder inside `pay`: a resumer takes over once the lease expires and
    finishes the thread; the woken holder stops at its next write (exit 3)."""
    rid = pause(db, "stopped", "T-1")
    holder = start(db, "approve", rid, "--reviewer", "ana", env=fifos.env("pay-before"))
    assert fifos.wait_ready(holder).startswith("pay-before ")
    os.kill(holder.pid, signal.SIGSTOP)
    try:
        # Waits (up to 60 s) for the stopped holder's lease to expire, then applies.
        taker = cli(db, "resume", "--all", "--json", env={"LANGGRAPH_HITL_LEASE_WAIT_S": "60"})
        assert taker.returncode == 0, taker
        assert json.loads(taker.stdout)[0]["status"] == "done"
        checkpoints = query(db, "SELECT COUNT(*) FROM checkpoints WHERE thread_id = 'stopped'")
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    fifos.release()
    woken = finish(holder)
    assert "taken over" in one_line_error(woken, 3)
    # The holder wrote no checkpoint after the takeover; the taker's history stands.
    assert query(db, "SELECT COUNT(*) FROM checkpoints WHERE thread_id = 'stopped'") == checkpoints
    assert linear_history(db, "stopped")
    assert query(db, "SELECT item_id FROM paid") == [("T-1",)]
    # `pay` ran in both (its insert is idempotent); nothing after it ran twice.
    assert attempts(db, "pay") == 2 and attempts(db, "book") == 1
    assert query(db, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [("applied",)]


# -- cancel ------------------------------------------------------------------------------------


def test_cancel_is_refused_while_an_apply_is_in_flight(db: Path, fifos: Fifos) -> None:
    rid = pause(db, "racing", "C-1")
    holder = start(db, "approve", rid, "--reviewer", "ana", env=fifos.env("pay-before"))
    assert fifos.wait_ready(holder).startswith("pay-before ")
    refused = cli(db, "cancel", "racing", "--reason", "vendor dispute")
    assert "another process" in one_line_error(refused, 3)
    assert query(db, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [("decided",)]
    assert query(db, "SELECT result FROM hitl_threads WHERE thread_id = 'racing'") == [(None,)]
    fifos.release()
    assert finish(holder).returncode == 0
    assert query(db, "SELECT item_id FROM paid") == [("C-1",)]
    after = cli(db, "cancel", "racing", "--reason", "too late")
    assert "already finished" in one_line_error(after, 3)
    kinds = [k for (k,) in query(db, "SELECT kind FROM hitl_events WHERE thread_id = 'racing'")]
    assert "thread_cancelled" not in kinds and "applied" in kinds


@pytest.fixture
def desk(hitl_db: Path, monkeypatch: pytest.MonkeyPatch) -> ReviewDesk:
    monkeypatch.setenv("LANGGRAPH_HITL_REVIEWER", "lease-test")
    desk = ReviewDesk(hitl_db, base=REPO)
    with desk.ledger(create=True) as ledger:
        for name, role in (("mia", "manager"), ("max", "manager"), ("sue", "senior")):
            ledger.add_reviewer(name, role)
        ledger.add_reviewer("jo", "junior")
    return desk


STATES = ("pending", "voted", "decided")


def open_thread(desk: ReviewDesk, thread: str, state: str) -> str:
    tier = "critical" if state == "voted" else "high"
    status = desk.run(
        TIERED, {"item_id": thread, "amount": 50.0, "tier": tier, "owner": "max"}, thread_id=thread
    )
    (rid,) = status.pending
    if state == "voted":
        desk.approve(rid, reviewer="mia")
    elif state == "decided":
        desk.decide(rid, Decision.approve(reviewer="mia"), apply=False)
    return rid


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize(
    ("who", "allowed"),
    [("mia", True), ("max", True), ("sue", False), ("jo", False), ("zed", False)],
)
def test_cancel_needs_the_right_to_decide_in_every_state(
    desk: ReviewDesk, state: str, who: str, allowed: bool
) -> None:
    """Only a manager may cancel a manager's request, pending, half-approved or decided;
    the owner (`max`, a manager) may stop their own work, as the bar is about approving."""
    thread = f"{state}-{who}"
    rid = open_thread(desk, thread, state)
    before = desk.show(rid).status
    if allowed:
        assert desk.cancel(thread, "vendor dispute", reviewer=who) == [rid]
        assert desk.show(rid).status == "cancelled"
        assert desk.resume() == []
        return
    with pytest.raises(NotAuthorizedError):
        desk.cancel(thread, "vendor dispute", reviewer=who)
    assert desk.show(rid).status == before
    with desk.ledger() as ledger:
        assert ledger.thread_result(thread) is None
        refused = [e for e in ledger.events(request_id=rid) if e["kind"] == "refused"]
        assert refused[-1]["actor"] == who and refused[-1]["data"]["type"] == "cancel"


def test_cancel_an_unknown_thread_creates_nothing(desk: ReviewDesk) -> None:
    with pytest.raises(Exception, match="no request or thread"):
        desk.cancel("nobody", "x", reviewer="mia")
    with desk.ledger() as ledger:
        assert not ledger.knows_thread("nobody")


def test_a_cancelled_thread_is_refused_to_an_apply(desk: ReviewDesk) -> None:
    rid = open_thread(desk, "done-for", "decided")
    desk.cancel("done-for", "dispute", reviewer="mia")
    with pytest.raises(NotPendingError):
        desk.approve(rid, reviewer="max")
    assert desk.resume() == []


# -- the heartbeat -----------------------------------------------------------------------------


def test_the_heartbeat_renews_and_notices_a_lost_lease(tmp_path: Path) -> None:
    db = tmp_path / "lease.sqlite"
    owner = lease_owner()
    with ReviewLedger.open(db, create=True) as ledger:
        assert ledger.acquire_lease("t", owner, ttl=0.2)
        keeper = LeaseKeeper(db, "t", owner, 0.2)
        keeper.start()
        try:
            for _ in range(10_000):
                if keeper.renewals >= 3:
                    break
                keeper.lost.wait(0.01)
            assert keeper.renewals >= 3 and not keeper.lost.is_set()
            # Alive and renewing: another owner cannot take it, however often it asks.
            assert not ledger.acquire_lease("t", lease_owner(), ttl=0.2)
            ledger.conn.execute(
                "UPDATE hitl_threads SET lease_owner = 'thief' WHERE thread_id = 't'"
            )
            ledger.conn.commit()
            assert keeper.lost.wait(30)
        finally:
            keeper.stop()


def test_a_busy_thread_refuses_run(desk: ReviewDesk) -> None:
    """`run --thread` on a thread another process is applying is refused, not run twice."""
    with desk.ledger() as ledger:
        assert ledger.acquire_lease("busy", "someone-else:1:x", ttl=600)
    with pytest.raises(ThreadBusyError):
        desk.run(TIERED, {"item_id": "busy", "amount": 1.0, "tier": "low"}, thread_id="busy")
