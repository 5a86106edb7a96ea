"""doctor repairs ledger/checkpoint disagreements; prune keeps paused threads and the trail.

Each test with a database runs on a SQLite file and on a PostgreSQL database (the
`database` fixture).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from backends import backend_of
from processes import execute, query

from langgraph_hitl import ReviewDesk, open_checkpointer
from langgraph_hitl._time import parse_duration
from langgraph_hitl.errors import BadInputError
from langgraph_hitl.ledger.audit import verify
from langgraph_hitl.maintenance import doctor, prune
from langgraph_hitl.models import Decision

REPO = Path(__file__).resolve().parent.parent


def invoice(name: str, **changes: object) -> dict[str, object]:
    data = json.loads((REPO / "examples" / "invoices" / f"{name}.json").read_text())
    return {**data, **changes}


@pytest.fixture
def desk(database: Path | str) -> ReviewDesk:
    return ReviewDesk(database, base=REPO)


def statuses(desk: ReviewDesk) -> dict[str, str]:
    with desk.ledger() as ledger:
        rows = ledger.conn.execute("SELECT thread_id, status FROM hitl_requests").fetchall()
    return dict(rows)


def test_healthy_database_has_no_findings(desk: ReviewDesk) -> None:
    desk.run("invoice", invoice("large"), thread_id="a")
    report = doctor(desk)
    assert report.ok and report.findings == [] and report.checked_threads == 1


def test_pending_request_whose_interrupt_is_gone_is_superseded(desk: ReviewDesk) -> None:
    desk.run("invoice", invoice("large"), thread_id="gone")
    with open_checkpointer(desk.path) as saver:  # the checkpoints vanish; the ledger remembers
        saver.delete_thread("gone")
    dry = doctor(desk, repair=False)
    assert [f["kind"] for f in dry.findings] == ["orphan_request"] and not dry.ok
    assert statuses(desk) == {"gone": "pending"}
    fixed = doctor(desk)
    assert fixed.ok and [f["kind"] for f in fixed.findings] == ["orphan_request"]
    assert statuses(desk) == {"gone": "superseded"}
    assert desk.pending() == []
    assert doctor(desk).findings == []


def test_interrupt_with_no_request_is_recorded(desk: ReviewDesk) -> None:
    status = desk.run("invoice", invoice("large"), thread_id="lost")
    execute(desk.path, "DELETE FROM hitl_requests")  # as if the process died between the writes
    report = doctor(desk)
    assert [f["kind"] for f in report.findings] == ["missing_request"] and report.ok
    assert [r.request_id for r in desk.pending()] == status.pending
    outcome = desk.approve(status.pending[0], reviewer="ana")
    assert outcome.thread is not None and outcome.thread.values["status"] == "paid"


def test_unapplied_decision_is_reported_for_resume(desk: ReviewDesk) -> None:
    status = desk.run("invoice", invoice("large"), thread_id="later")
    desk.decide(status.pending[0], Decision.approve(reviewer="ana"), apply=False)
    report = doctor(desk)
    assert [f["kind"] for f in report.findings] == ["unapplied_decision"] and not report.ok
    desk.resume()
    assert doctor(desk).ok


def test_dead_process_lease_is_released(desk: ReviewDesk) -> None:
    desk.run("invoice", invoice("large"), thread_id="leased")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    owner = f"{socket.gethostname()}:{dead}:deadbeef"
    with desk.ledger() as ledger:
        assert ledger.acquire_lease("leased", owner)
    report = doctor(desk)
    assert "dead_lease" in [f["kind"] for f in report.findings]
    with desk.ledger() as ledger:
        assert ledger.acquire_lease("leased", "someone-else")


def checkpoint_rows(db: Path | str) -> int:
    """Rows in the tables that hold checkpoints: LangGraph's and, on SQLite, our blobs."""
    tables = {
        "sqlite": ("checkpoints", "writes", "hitl_blobs"),
        "postgres": ("checkpoints", "checkpoint_writes", "checkpoint_blobs"),
    }[backend_of(db)]
    return sum(query(db, f"SELECT COUNT(*) FROM {table}")[0][0] for table in tables)


def test_prune_deletes_finished_threads_only_and_keeps_the_trail(desk: ReviewDesk) -> None:
    for i in range(5):
        # Five orders under five purchase orders: the same amount, and no duplicate.
        routine = invoice("routine", invoice_id=f"INV-R{i}", po_number=f"PO-780{i}")
        desk.run("invoice", routine, thread_id=f"done-{i}")
    desk.run("invoice", invoice("large"), thread_id="paused")
    large = invoice("large", invoice_id="INV-L2", po_number="PO-7803")
    decided = desk.run("invoice", large, thread_id="decided")
    desk.decide(decided.pending[0], Decision.approve(reviewer="ana"), apply=False)
    large = invoice("large", invoice_id="INV-L3", po_number="PO-7804")
    rejected = desk.run("invoice", large, thread_id="rejected")
    desk.reject(rejected.pending[0], "not ordered", reviewer="ana")
    rows_before = checkpoint_rows(desk.path)
    report = prune(desk, older_than=0)
    assert sorted(report.pruned) == [f"done-{i}" for i in range(5)] + ["rejected"]
    assert report.kept == {"waiting on a human": 2}
    assert report.rows_removed > 0
    assert checkpoint_rows(desk.path) == rows_before - report.rows_removed
    assert report.bytes_before > 0 and report.bytes_after > 0
    if backend_of(desk.path) == "sqlite":  # the pages went to the free list at once
        assert report.used_before is not None and report.used_after is not None
        assert report.used_after < report.used_before
    else:  # dead rows hold their space until VACUUM: no "bytes in use" to report
        assert report.used_before is None and report.used_after is None
    left = {r[0] for r in query(desk.path, "SELECT DISTINCT thread_id FROM checkpoints")}
    assert left == {"paused", "decided"}
    assert desk.thread("paused").status == "paused"
    desk.resume()
    assert desk.thread("decided").values["status"] == "paid"
    with desk.ledger() as ledger:
        assert verify(ledger).ok
        assert [e["kind"] for e in ledger.events(thread_id="done-0")] == ["routed", "pruned"]
        outbox = {r[0] for r in ledger.conn.execute("SELECT thread_id FROM hitl_outbox")}
        assert outbox == {"paused", "decided"}  # the pruned thread's notifications went too
    assert doctor(desk).findings == []  # what is left of the checkpoints agrees with the ledger


def test_prune_keeps_recent_threads(desk: ReviewDesk) -> None:
    desk.run("invoice", invoice("routine"), thread_id="fresh")
    report = prune(desk, older_than=parse_duration("1h"))
    assert report.pruned == [] and report.kept == {"recent": 1}


@pytest.mark.parametrize(("text", "seconds"), [("30d", 2592000), ("1d12h", 129600), ("90m", 5400)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "3x", "-1d", "1 d"])
def test_bad_duration_is_bad_input(text: str) -> None:
    with pytest.raises(BadInputError, match="bad duration"):
        parse_duration(text)


def test_cli_prune_and_doctor(desk: ReviewDesk) -> None:
    desk.run("invoice", invoice("routine"), thread_id="old")
    base = [sys.executable, "-m", "langgraph_hitl", "--db", str(desk.path)]
    pruned = subprocess.run([*base, "prune", "--older-than", "0s", "--vacuum"], cwd=REPO,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert pruned.returncode == 0, pruned.stderr
    lines = pruned.stdout.splitlines()
    assert re.fullmatch(r"pruned 1 finished threads \([1-9][\d,]* checkpoint rows\)", lines[0])
    assert lines[-1].startswith("database: ") and "bytes on disk" in lines[-1]
    if backend_of(desk.path) == "sqlite":  # VACUUM rewrote the file: no free page left
        assert "bytes in use" in lines[-1]
        assert query(desk.path, "PRAGMA freelist_count") == [(0,)]
    else:  # a plain VACUUM of the tables pruned, which PostgreSQL's statistics record
        assert "bytes in use" not in lines[-1]
        vacuumed = query(
            desk.path,
            "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL"
            " ORDER BY relname",
        )
        assert {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "hitl_outbox"} <= {
            name for (name,) in vacuumed
        }
    checked = subprocess.run([*base, "doctor", "--json"], cwd=REPO,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0 and json.loads(checked.stdout)["ok"] is True
