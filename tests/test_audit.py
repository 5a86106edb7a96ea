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
from langgraph_hitl.errors import AlreadyDecidedError
from langgraph_hitl.ledger.audit import export, verify
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
    # The last event was about a request: its row no longer matches the event before.
    ok, _, problem = check(db)
    assert not ok and "differs from what its last event recorded" in str(problem)
    # Cut a trailing event about no request (a reviewer added last, here): only the
    # kept head can tell.
    db = copy_of()
    with ReviewLedger.open(db) as ledger:
        ledger.add_event("note", actor="ops", data={"text": "end of day"})
        head = verify(ledger).head
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
    assert not ok and f"request {request_id} (or its votes) differs" in str(problem)


# -- every row that decides what gets done -----------------------------------------------------


@pytest.fixture(scope="module")
def roles_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Reviewers with roles; a paused high invoice; a critical one with one of two votes;
    a decided-and-applied one."""
    db = tmp_path_factory.mktemp("audit-roles") / "hitl.sqlite"
    desk = ReviewDesk(db, base=REPO)
    with desk.ledger(create=True) as ledger:
        for name, role in (("mia", "manager"), ("max", "manager"), ("jo", "junior")):
            ledger.add_reviewer(name, role)
    invoices = REPO / "examples" / "invoices"
    for name in ("large", "huge", "messy"):
        desk.run("invoice", json.loads((invoices / f"{name}.json").read_text()), thread_id=name)
    desk.approve("huge", reviewer="mia")  # one of the two approvals it needs
    desk.decide("messy", Decision.reject("unknown vendor", reviewer="max"))
    return db


def one(db: Path, sql: str, *params: object) -> object:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchone()[0]


FORGERIES: dict[str, list[str]] = {
    "a decision row added": [
        "INSERT INTO hitl_decisions (decision_id, request_id, type, reviewer, payload,"
        " seen_digest, decided_at) SELECT 'dec_forged', request_id, 'approve', 'mia',"
        ' \'{"type": "approve", "reviewer": "mia"}\', args_digest, 0 FROM hitl_requests'
        " WHERE thread_id = 'large'",
        "UPDATE hitl_requests SET status = 'decided', decision_id = 'dec_forged'"
        " WHERE thread_id = 'large'",
    ],
    "a decision row deleted": [
        "DELETE FROM hitl_decisions WHERE request_id IN"
        " (SELECT request_id FROM hitl_requests WHERE thread_id = 'messy')"
    ],
    "a decision's reviewer edited": ["UPDATE hitl_decisions SET reviewer = 'jo'"],
    "a request's args edited": [
        "UPDATE hitl_requests SET action_args = '{\"amount\": 1.0}',"
        " payload = json_set(payload, '$.request.action.args', json('{\"amount\": 1.0}'))"
        " WHERE thread_id = 'large'"
    ],
    "a request's eligible roles edited": [
        'UPDATE hitl_requests SET eligible = \'["junior", "manager"]\','
        " required_role = 'junior' WHERE thread_id = 'large'"
    ],
    "a request's status edited": [
        "UPDATE hitl_requests SET status = 'cancelled' WHERE thread_id = 'large'"
    ],
    "a request row added": [
        "INSERT INTO hitl_requests (request_id, thread_id, interrupt_id, action_name,"
        " action_args, summary, reasons, status, created_at, payload, args_digest)"
        " VALUES ('req_forged', 'large', 'x', 'pay_invoice', '{}', 'x', '[]', 'pending', 0,"
        " '{}', 'd')"
    ],
    "a request row deleted": ["DELETE FROM hitl_requests WHERE thread_id = 'large'"],
    "a vote added": [
        "INSERT INTO hitl_votes (request_id, reviewer, type, voted_at) SELECT request_id,"
        " 'max', 'approve', 0 FROM hitl_requests WHERE thread_id = 'huge'"
    ],
    "a vote deleted": ["DELETE FROM hitl_votes"],
    "a vote's type edited": ["UPDATE hitl_votes SET type = 'reject'"],
    "a request's stored args edited": [
        "UPDATE hitl_args SET args = json_set(args, '$.amount', 1.0) WHERE digest IN"
        " (SELECT args_digest FROM hitl_requests WHERE thread_id = 'large')"
    ],
    "a reviewer's role edited": ["UPDATE hitl_reviewers SET role = 'manager' WHERE name = 'jo'"],
    "a reviewer added": [
        "INSERT INTO hitl_reviewers (name, role, added_at) VALUES ('zed', 'manager', 0)"
    ],
    "a reviewer deleted": ["DELETE FROM hitl_reviewers WHERE name = 'mia'"],
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_every_row_that_decides_is_vouched_for(
    roles_trail: Path, tmp_path: Path, forgery: str
) -> None:
    """Each row added, deleted or edited behind the ledger's back shows, head kept or not."""
    db = tmp_path / "copy.sqlite"
    with sqlite3.connect(roles_trail) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    with ReviewLedger.open(db) as ledger:
        report = verify(ledger)
    assert report.ok, report.problem
    with sqlite3.connect(db) as conn:
        for statement in FORGERIES[forgery]:
            assert conn.execute(statement).rowcount >= 1, statement
    for head in (None, report.head):
        ok, _, problem = check(db) if head is None else check(db, expect_head=head)
        assert not ok, forgery
        assert any(word in str(problem) for word in ("afterwards", "deleted", "differs")), problem


def test_a_forged_decision_is_never_applied(roles_trail: Path, tmp_path: Path) -> None:
    """A decision row inserted straight into SQLite is refused by `resume --all` (exit 1),
    and `require_approval` finds no approval in it: nothing is paid."""
    db = tmp_path / "copy.sqlite"
    with sqlite3.connect(roles_trail) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    with sqlite3.connect(db) as conn:
        for statement in FORGERIES["a decision row added"]:
            conn.execute(statement)
    cli = [sys.executable, "-m", "langgraph_hitl", "--db", str(db), "resume", "--all"]
    done = subprocess.run(cli, cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done
    assert len(done.stderr.splitlines()) == 1 and "not applied" in done.stderr
    assert "differs from what its last event recorded" in done.stderr
    assert one(db, "SELECT COUNT(*) FROM payments WHERE invoice_id = 'INV-1003'") == 0
    assert one(db, "SELECT apply_error FROM hitl_requests WHERE thread_id = 'large'")


def test_an_edited_decision_is_never_applied(roles_trail: Path, tmp_path: Path) -> None:
    """A recorded reject rewritten into an approve is refused when it would be applied."""
    db = tmp_path / "copy.sqlite"
    with sqlite3.connect(roles_trail) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    desk = ReviewDesk(db, base=REPO)
    (rid,) = [r.request_id for r in desk.pending() if r.thread_id == "large"]
    desk.decide(rid, Decision.reject("not ours", reviewer="mia"), apply=False)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE hitl_decisions SET type = 'approve',"
            " payload = json_remove(json_set(payload, '$.type', 'approve'), '$.reason')"
            " WHERE request_id = ?",
            (rid,),
        )
    with pytest.raises(Exception, match="differs from the one its event recorded"):
        desk.resume(rid)
    assert one(db, "SELECT COUNT(*) FROM payments WHERE invoice_id = 'INV-1003'") == 0
