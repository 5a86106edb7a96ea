"""The tamper-evident audit trail: verify catches edits, deletions, reorders and cuts."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from langgraph_hitl import ReviewDesk, ReviewLedger
from langgraph_hitl.audit import export, verify
from langgraph_hitl.errors import AlreadyDecidedError
from langgraph_hitl.models import Decision

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with a real trail: runs, a look, an approval, a refusal, a rejection."""
    db = tmp_path_factory.mktemp("audit") / "hitl.sqlite"
    desk = ReviewDesk(db, base=REPO)
    invoices = REPO / "examples" / "invoices"
    runs = {
        name: desk.run(
            "invoice", json.loads((invoices / f"{name}.json").read_text()), thread_id=name
        )
        for name in ("large", "messy", "blurry")
    }
    desk.show("large", reviewer="ana")
    desk.decide("large", Decision.approve(reviewer="ana"))
    with pytest.raises(AlreadyDecidedError):
        desk.decide(runs["large"].pending[0], Decision.approve(reviewer="ben"))
    desk.decide("messy", Decision.reject("unknown vendor", reviewer="ben"))
    return db


@pytest.fixture
def copy_of(trail: Path, tmp_path: Path) -> Callable[[], Path]:
    def make() -> Path:
        target = tmp_path / "copy.sqlite"
        with sqlite3.connect(trail) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return target

    return make


def check(db: Path, **kwargs: str) -> tuple[bool, int | None, str | None]:
    with ReviewLedger.open(db) as ledger:
        report = verify(ledger, **kwargs)
    return report.ok, report.broken_at, report.problem


def test_an_untouched_trail_verifies(trail: Path) -> None:
    ok, broken_at, problem = check(trail)
    assert (ok, broken_at, problem) == (True, None, None)
    with ReviewLedger.open(trail) as ledger:
        kinds = [e["kind"] for e in ledger.events()]
    assert {"created", "shown", "decided", "applied", "refused", "queued_for_review"} <= set(kinds)


def test_an_edited_row_is_caught(copy_of: Callable[[], Path]) -> None:
    db = copy_of()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE hitl_events SET actor = 'mallory' WHERE kind = 'decided'")
        seq = conn.execute("SELECT MIN(seq) FROM hitl_events WHERE kind = 'decided'").fetchone()[0]
    ok, broken_at, problem = check(db)
    assert not ok and broken_at == seq and "altered" in str(problem)


def test_a_deleted_row_is_caught(copy_of: Callable[[], Path]) -> None:
    db = copy_of()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM hitl_events WHERE seq = 3")
    ok, broken_at, problem = check(db)
    assert not ok and broken_at == 4 and "deleted or reordered" in str(problem)


def test_reordered_rows_are_caught(copy_of: Callable[[], Path]) -> None:
    """Swapping two rows' contents, keeping their sequence numbers, breaks the chain."""
    db = copy_of()
    with sqlite3.connect(db) as conn:
        cols = "at, kind, request_id, thread_id, actor, data, prev_hash, hash"
        row2 = conn.execute(f"SELECT {cols} FROM hitl_events WHERE seq = 2").fetchone()
        row3 = conn.execute(f"SELECT {cols} FROM hitl_events WHERE seq = 3").fetchone()
        sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
        conn.execute(f"UPDATE hitl_events SET {sets} WHERE seq = 2", row3)
        conn.execute(f"UPDATE hitl_events SET {sets} WHERE seq = 3", row2)
    ok, broken_at, _ = check(db)
    assert not ok and broken_at == 2


def test_a_changed_decision_row_is_caught(copy_of: Callable[[], Path]) -> None:
    """Rewriting a decision (reject -> approve) no longer matches the event that recorded it."""
    db = copy_of()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE hitl_decisions SET payload = json_set(payload, '$.type', 'approve')"
            " WHERE type = 'reject'"
        )
    ok, _, problem = check(db)
    assert not ok and "differs from the one its event recorded" in str(problem)


def test_events_cut_off_the_end_are_caught_with_the_kept_head(
    trail: Path, copy_of: Callable[[], Path]
) -> None:
    with ReviewLedger.open(trail) as ledger:
        head = verify(ledger).head
    db = copy_of()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM hitl_events WHERE seq = (SELECT MAX(seq) FROM hitl_events)")
    assert check(db)[0] is True  # the chain alone cannot see a clean cut
    ok, _, problem = check(db, expect_head=head)
    assert not ok and "cut off" in str(problem)


def test_export_is_jsonl_with_hashes_that_chain(trail: Path) -> None:
    buffer = io.StringIO()
    with ReviewLedger.open(trail) as ledger:
        count = export(ledger, buffer)
    rows = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert len(rows) == count > 5
    assert rows[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in pairwise(rows))


def test_cli_verify_exits_1_with_one_line_on_a_broken_trail(copy_of: Callable[[], Path]) -> None:
    db = copy_of()
    cli = [sys.executable, "-m", "langgraph_hitl", "--db", str(db), "audit", "verify"]
    good = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert good.returncode == 0 and "audit trail intact" in good.stdout
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE hitl_events SET data = '{}' WHERE seq = 2")
    bad = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        "error: audit trail broken: event 2 (created) was altered after it was written"
    ]


def test_a_quorum_vote_added_afterwards_is_caught(tmp_path: Path) -> None:
    """A vote row written behind the ledger's back (to reach a quorum) has no event."""
    db = tmp_path / "hitl.sqlite"
    desk = ReviewDesk(db, base=REPO)
    huge = json.loads((REPO / "examples" / "invoices" / "huge.json").read_text())
    (request_id,) = desk.run("invoice", huge, thread_id="huge").pending
    assert desk.approve(request_id, reviewer="mia").request.approvals == ["mia"]
    assert check(db) == (True, None, None)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO hitl_votes (request_id, reviewer, type, voted_at)"
            " VALUES (?, 'max', 'approve', 0)",
            (request_id,),
        )
    ok, _, problem = check(db)
    assert not ok and f"the vote of max on {request_id} has no event" in str(problem)
