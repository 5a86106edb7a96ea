"""Review at scale: who may decide, quorum, owner bar, deadlines and sweep, cancel, respond,
batch review; in the ledger, through the desk, and through the CLI as real processes, on a
SQLite file and on a PostgreSQL database (the `database` fixture)."""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from backends import backend_of
from processes import cli_env, execute, finish, query, table_rows
from test_e2e_cli import cli, ok, refused, start

from langgraph_hitl import (
    AlreadyDecidedError,
    ApprovalRequest,
    Decision,
    NotAuthorizedError,
    NotPendingError,
    ReviewDesk,
    ReviewLedger,
    ReviewPolicy,
    Tier,
)
from langgraph_hitl.capture.gates import PAYLOAD_VERSION
from langgraph_hitl.errors import ConflictError, DecisionNotAllowedError
from langgraph_hitl.ledger import SWEEP_ACTOR
from langgraph_hitl.models import REQUEST_KIND

REPO = Path(__file__).resolve().parent.parent
TIERED = "tests/graphs/tiered_pay.py:make_graph"
ROLES = ["junior", "senior", "manager"]
POLICY = ReviewPolicy(
    roles=ROLES,
    tiers=[
        Tier(name="low", role="junior", deadline=60),
        Tier(name="medium", role="senior", deadline=60),
        Tier(name="high", role="manager", escalate=True, deadline=60),
        Tier(name="critical", role="manager", escalate=True, quorum=2),
        Tier(name="lenient", role="senior", on_timeout="approve", deadline=60),
    ],
)
PEOPLE = {"jo": "junior", "sam": "senior", "mia": "manager", "max": "manager"}


def payload(tier: str, *, owner: str | None = None, amount: float = 120.0) -> dict[str, Any]:
    req = POLICY.stamp(
        ApprovalRequest.model_validate(
            {
                "action": {
                    "name": "pay_invoice",
                    "args": {"invoice_id": "INV-7", "amount": amount},
                },
                "summary": f"Pay INV-7: {amount:,.2f} EUR",
                "risk_tier": tier,
                "owner": owner,
            }
        )
    )
    return {
        "kind": REQUEST_KIND,
        "version": PAYLOAD_VERSION,
        "gate": "approve_payment",
        "request": req.to_wire(),
        "args_digest": req.action.digest(),
    }


@pytest.fixture
def ledger(database: Path | str) -> Any:
    with ReviewLedger.open(database, create=True) as opened:
        for name, role in PEOPLE.items():
            opened.add_reviewer(name, role, actor="admin")
        yield opened


def record(ledger: ReviewLedger, tier: str, thread: str, **kwargs: Any) -> str:
    return ledger.record_request(
        thread_id=thread, interrupt_id=f"{thread:0>32}"[-32:], payload=payload(tier, **kwargs)
    )


# -- who may decide ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "role"), list(itertools.product(["low", "medium", "high"], ROLES))
)
def test_every_tier_and_role_pair(ledger: ReviewLedger, tier: str, role: str) -> None:
    """A role decides its tier and every tier below; any other decision is refused (exit 4)."""
    rid = record(ledger, tier, f"t-{tier}-{role}")
    reviewer = {"junior": "jo", "senior": "sam", "manager": "mia"}[role]
    allowed = ROLES.index(role) >= ROLES.index(POLICY.tiers[tier].role or "junior")
    visible = [r.request_id for r in ledger.pending(reviewer=reviewer)]
    assert (rid in visible) == allowed
    if allowed:
        assert ledger.record_decision(rid, Decision.approve(reviewer=reviewer)).status == "decided"
        return
    with pytest.raises(NotAuthorizedError) as caught:
        ledger.record_decision(rid, Decision.approve(reviewer=reviewer))
    assert caught.value.exit_code == 4
    assert f"{reviewer} is a {role} and may not decide {rid}" in str(caught.value)
    assert ledger.get(rid).status == "pending"
    refusal = ledger.events(request_id=rid)[-1]
    assert (refusal["kind"], refusal["actor"]) == ("refused", reviewer)


def test_unregistered_reviewer_is_refused_once_roles_exist(ledger: ReviewLedger) -> None:
    rid = record(ledger, "low", "t-1")
    with pytest.raises(NotAuthorizedError, match="'zed' is not a registered reviewer"):
        ledger.record_decision(rid, Decision.approve(reviewer="zed"))
    assert ledger.pending(reviewer="zed") == []


def test_with_no_reviewers_registered_anyone_may_decide(database: Path | str) -> None:
    with ReviewLedger.open(database, create=True) as ledger:
        rid = record(ledger, "high", "t-1")
        assert [r.request_id for r in ledger.pending(reviewer="anyone")] == [rid]
        assert ledger.record_decision(rid, Decision.approve(reviewer="anyone")).status == "decided"


def test_owner_may_not_approve_or_modify_their_own_work(ledger: ReviewLedger) -> None:
    rid = record(ledger, "high", "t-1", owner="mia")
    assert ledger.pending(reviewer="mia") == []
    assert [r.request_id for r in ledger.pending(reviewer="max")] == [rid]
    for decision in (Decision.approve(reviewer="mia"), Decision.modify({}, reviewer="mia")):
        with pytest.raises(NotAuthorizedError, match="mia triggered or owns"):
            ledger.record_decision(rid, decision)
    # Rejecting one's own work is fine: it stops it.
    rejected = ledger.record_decision(rid, Decision.reject("wrong vendor", reviewer="mia"))
    assert rejected.status == "decided"


def test_quorum_needs_two_different_approvers_and_one_rejection_ends_it(
    ledger: ReviewLedger,
) -> None:
    rid = record(ledger, "critical", "t-1", amount=200_000)
    first = ledger.record_decision(rid, Decision.approve(reviewer="mia"))
    assert (first.status, first.approvals, first.quorum) == ("pending", ["mia"], 2)
    assert ledger.pending(reviewer="mia") == []  # already voted
    with pytest.raises(AlreadyDecidedError, match="mia already voted"):
        ledger.record_decision(rid, Decision.approve(reviewer="mia"))
    with pytest.raises(DecisionNotAllowedError, match="needs 2 approvals"):
        ledger.record_decision(rid, Decision.respond("paid by phone", reviewer="max"))
    with pytest.raises(NotAuthorizedError):
        ledger.record_decision(rid, Decision.approve(reviewer="sam"))
    done = ledger.record_decision(rid, Decision.approve(reviewer="max", comment="checked"))
    assert done.status == "decided"
    assert done.decision is not None
    assert done.decision.comment == "checked (approved by mia, max)"

    other = record(ledger, "critical", "t-2", amount=300_000)
    ledger.record_decision(other, Decision.approve(reviewer="mia"))
    ended = ledger.record_decision(other, Decision.reject("not budgeted", reviewer="max"))
    assert ended.status == "decided" and ended.decision is not None
    assert ended.decision.type == "reject"


def test_an_edit_under_a_quorum_becomes_the_proposal(ledger: ReviewLedger) -> None:
    """A misread amount on an invoice two managers must approve is corrected in place: the
    edit is the proposal, the approval of the old amount stops counting, the editor's own
    counts, and a second approval of the edit decides it, as an edit of what was shown."""
    rid = record(ledger, "critical", "t-1", amount=210_000)
    shown = ledger.get(rid)
    ledger.record_decision(rid, Decision.approve(reviewer="mia"))
    fixed = {"invoice_id": "INV-7", "amount": 21_000.0}
    edited = ledger.record_decision(rid, Decision.modify(fixed, reviewer="max"))
    assert (edited.status, edited.proposal, edited.approvals) == ("pending", fixed, ["max"])
    assert edited.current_args == fixed and edited.current_digest != shown.args_digest
    assert [r.request_id for r in ledger.pending(reviewer="mia")] == [rid]  # may vote again
    # An approval made against the args as first shown no longer matches.
    with pytest.raises(NotPendingError, match="changed since it was shown"):
        ledger.record_decision(rid, Decision.approve(reviewer="mia", seen_digest=shown.args_digest))
    done = ledger.record_decision(rid, edited.as_seen(Decision.approve(reviewer="mia")))
    assert done.status == "decided" and done.decision is not None
    assert (done.decision.type, done.decision.args) == ("modify", fixed)
    assert done.decision.seen_digest == shown.args_digest  # an edit of what the gate showed
    assert done.decision.comment == "approved by max, mia"
    kinds = [e["kind"] for e in ledger.events(request_id=rid)]
    assert kinds == [
        "created",
        "approval_recorded",
        "proposal_changed",
        "approval_recorded",
        "refused",
        "decided",
    ]
    changed = next(e for e in ledger.events(request_id=rid) if e["kind"] == "proposal_changed")
    assert changed["actor"] == "max"
    assert changed["data"] == {"args": fixed, "approvals_dropped": ["mia"]}


def test_under_a_quorum_an_owner_may_not_edit(
    ledger: ReviewLedger,
) -> None:
    rid = record(ledger, "critical", "t-1", owner="mia", amount=210_000)
    with pytest.raises(NotAuthorizedError):
        ledger.record_decision(rid, Decision.modify({"amount": 1.0}, reviewer="mia"))
    assert ledger.get(rid).proposal is None


# -- deadlines and escalation -------------------------------------------------------------


def test_sweep_steps_up_the_chain_then_rejects_at_its_end(ledger: ReviewLedger) -> None:
    rid = record(ledger, "low", "t-1")
    rec = ledger.get(rid)
    assert (rec.required_role, rec.eligible, rec.level) == ("junior", ROLES, 0)
    assert rec.deadline == pytest.approx(rec.created_at + 60)
    assert ledger.sweep_step(rid, level=0, now=rec.created_at + 30) is None  # not overdue
    now = rec.created_at + 61
    assert ledger.sweep_step(rid, level=0, now=now) == "escalated"
    assert ledger.sweep_step(rid, level=0, now=now) is None  # a second sweep: step taken
    rec = ledger.get(rid)
    assert (rec.required_role, rec.eligible, rec.level) == ("senior", ROLES[1:], 1)
    assert rec.deadline == pytest.approx(now + 60)
    assert ledger.pending(reviewer="jo") == []
    with pytest.raises(NotAuthorizedError):
        ledger.record_decision(rid, Decision.approve(reviewer="jo"))
    now += 61
    assert ledger.sweep_step(rid, level=1, now=now) == "escalated"
    assert ledger.get(rid).eligible == ["manager"]
    now += 61
    assert ledger.sweep_step(rid, level=2, now=now) == "timed_out"
    rec = ledger.get(rid)
    assert rec.status == "decided" and rec.decision is not None
    assert (rec.decision.type, rec.decision.reviewer) == ("reject", SWEEP_ACTOR)
    assert rec.decided_at == pytest.approx(now)  # the sweep's clock, not the wall clock
    assert "end of the escalation chain" in (rec.decision.reason or "")
    kinds = [e["kind"] for e in ledger.events(request_id=rid)]
    assert kinds == ["created", "escalated", "refused", "escalated", "timed_out", "decided"]


def test_timeout_decision_can_be_configured(ledger: ReviewLedger) -> None:
    rid = record(ledger, "lenient", "t-1")
    rec = ledger.get(rid)
    now = rec.created_at + 61
    assert ledger.sweep_step(rid, level=0, now=now) == "escalated"
    assert ledger.sweep_step(rid, level=1, now=now + 61) == "timed_out"
    decision = ledger.get(rid).decision
    assert decision is not None and decision.type == "approve"


def test_overdue_first_in_the_queue(ledger: ReviewLedger) -> None:
    later = record(ledger, "critical", "t-none")  # no deadline
    soon = record(ledger, "low", "t-low")
    assert [r.request_id for r in ledger.pending()] == [soon, later]
    assert [r.request_id for r in ledger.overdue(ledger.get(soon).created_at + 61)] == [soon]


@pytest.fixture
def desk(database: Path | str, monkeypatch: pytest.MonkeyPatch) -> ReviewDesk:
    monkeypatch.setenv("LANGGRAPH_HITL_REVIEWER", "scale-test")
    return ReviewDesk(database, base=REPO)


def run_item(desk: ReviewDesk, item: str, tier: str, **extra: Any) -> str:
    status = desk.run(
        TIERED, {"item_id": item, "amount": 50.0, "tier": tier, **extra}, thread_id=item
    )
    assert status.status == "paused", status
    (rid,) = status.pending
    return rid


def paid(db: Path | str) -> list[tuple[Any, ...]]:
    return query(db, "SELECT item_id, thread_id FROM paid ORDER BY item_id")


def test_desk_sweep_rejects_at_the_end_and_the_thread_finishes(desk: ReviewDesk) -> None:
    rid = run_item(desk, "it-1", "high")
    created = desk.show(rid).created_at
    steps = desk.sweep(now=created + 3601)
    assert [(s["request_id"], s["step"], s["applied"]) for s in steps] == [(rid, "timed_out", True)]
    assert desk.thread("it-1").values["status"] == "rejected"
    assert paid(desk.path) == []
    assert desk.sweep(now=created + 99_999) == []


def test_cancel_stops_a_thread_for_good(desk: ReviewDesk) -> None:
    with desk.ledger(create=True) as ledger:
        ledger.add_reviewer("mia", "manager")
        ledger.add_reviewer("jo", "junior")
    rid = run_item(desk, "it-1", "high")
    with pytest.raises(NotAuthorizedError):
        desk.cancel("it-1", "vendor dispute", reviewer="jo")
    assert desk.cancel(rid, "vendor dispute", reviewer="mia") == [rid]
    with pytest.raises(NotPendingError):
        desk.approve(rid, reviewer="mia")
    with pytest.raises(NotPendingError, match="already cancelled"):
        desk.cancel("it-1", "again", reviewer="mia")
    with pytest.raises(ConflictError, match="cancelled"):
        desk.run(TIERED, {"item_id": "it-1", "amount": 5.0, "tier": "low"}, thread_id="it-1")
    assert desk.resume() == []
    assert paid(desk.path) == []
    with desk.ledger() as ledger:
        assert ledger.thread_result("it-1") == "cancelled"


def test_respond_supplies_the_outcome(database: Path | str, repo_root: Path) -> None:
    desk = ReviewDesk(database, base=repo_root)
    invoice = json.loads((repo_root / "examples" / "invoices" / "large.json").read_text())
    (rid,) = desk.run("invoice", invoice, thread_id="INV-1003").pending
    outcome = desk.respond(rid, "paid by phone on 24 Nov", reviewer="ana")
    assert outcome.applied and outcome.thread is not None
    assert outcome.thread.values["status"] == "handled_by_human"
    assert outcome.thread.values["decision"]["response"] == "paid by phone on 24 Nov"
    with desk.ledger() as ledger:
        assert ledger.thread_result("INV-1003") == "handled"


# -- the CLI, in real processes -----------------------------------------------------------


def test_cli_refusal_is_exit_4_one_line_and_list_filters_by_reviewer(
    db_with_roles: Path | str,
) -> None:
    db = db_with_roles
    high = ok(cli(db, "run", TIERED, "--input", json.dumps(_item("it-1", "high")), "--json"))
    low = ok(
        cli(db, "run", TIERED, "--input", json.dumps(_item("it-2", "low", escalate=True)), "--json")
    )
    (high_id,), (low_id,) = high["pending"], low["pending"]
    refused(cli(db, "approve", high_id, "--reviewer", "jo"), 4, "jo is a junior", "manager")
    jos = ok(cli(db, "list", "--reviewer", "jo", "--json"))["requests"]
    assert [r["request_id"] for r in jos] == [low_id]
    mine = ok(cli(db, "list", "--reviewer", "mia", "--json"))["requests"]
    assert {r["request_id"] for r in mine} == {high_id, low_id}
    ok(cli(db, "approve", high_id, "--reviewer", "mia", "--json"))
    assert [row[0] for row in paid(db)] == ["it-1"]
    listed = ok(cli(db, "reviewers", "list", "--json"))
    assert {r["name"]: r["role"] for r in listed} == PEOPLE


def _item(item: str, tier: str, **extra: Any) -> dict[str, Any]:
    return {"item_id": item, "amount": 50.0, "tier": tier, **extra}


def with_roles(db: Path | str) -> Path | str:
    """`db`, its ledger set up with `PEOPLE` registered."""
    with ReviewLedger.open(db, create=True) as ledger:
        for name, role in PEOPLE.items():
            ledger.add_reviewer(name, role)
    return db


@pytest.fixture
def db_with_roles(database: Path | str) -> Path | str:
    return with_roles(database)


def _seed_items(db: Path | str, count: int, tier: str = "high", **extra: Any) -> list[str]:
    """Run `count` items to their gate in this process (one graph load)."""
    desk = ReviewDesk(db, base=REPO)
    ids = []
    with desk.keep_graphs():
        for n in range(count):
            status = desk.run(TIERED, _item(f"it-{n:04d}", tier, **extra), thread_id=f"it-{n:04d}")
            ids += status.pending
    return ids


def test_batch_approve_from_two_processes_at_once_applies_each_once(
    db_with_roles: Path | str,
) -> None:
    db = db_with_roles
    # 240 on SQLite; 60 on PostgreSQL, where pausing them in this process costs about
    # three times as much (20 s for 240 on this 2-core machine). The two batches start
    # together on one queue either way.
    count = 240 if backend_of(db) == "sqlite" else 60
    ids = _seed_items(db, count)
    groups = ok(cli(db, "batch", "--json"))
    assert [(g["group"], g["count"]) for g in groups] == [("approve_pay/pay", count)]
    assert groups[0]["differing"] == ["item_id", "thread"]
    procs = [
        start(db, "batch", "approve", "approve_pay", "--reviewer", who, "--json")
        for who in ("mia", "max")
    ]
    results = [finish(p) for p in procs]
    items = [item for r in results for item in json.loads(r.stdout)["items"]]
    applied = [i["request_id"] for i in items if i["result"] == "applied"]
    lost = [i for i in items if i["result"] == "refused"]
    assert sorted(applied) == sorted(ids), "every request applied exactly once"
    assert all(i["exit_code"] == 3 for i in lost), lost
    assert all(r.returncode in (0, 3) for r in results), results
    assert len(paid(db)) == count
    attempts = query(db, "SELECT item_id, COUNT(*) FROM pay_attempts GROUP BY item_id")
    assert {count for _, count in attempts} == {1}
    assert ok(cli(db, "list", "--json"))["requests"] == []


def test_batch_where_limit_and_reject(db_with_roles: Path | str) -> None:
    db = db_with_roles
    ids = _seed_items(db, 6)
    dry = ok(
        cli(
            db,
            "batch",
            "approve",
            "1",
            "--where",
            "item_id~it-000",
            "--limit",
            "4",
            "--dry-run",
            "--reviewer",
            "mia",
            "--json",
        )
    )
    assert dry["dry_run"] is True and dry["counts"] == {"would apply": 4}
    assert [item["request_id"] for item in dry["items"]] == ids[:4]
    assert paid(db) == []
    refused(cli(db, "batch", "approve", "1", "--where", "amount<lots"), 2, "needs a number")
    refused(cli(db, "batch", "approve", "nope"), 2, "no pending group 'nope'")
    senior = cli(
        db,
        "batch",
        "reject",
        "approve_pay/pay",
        "--where",
        "item_id=it-0002",
        "--reason",
        "duplicate",
        "--reviewer",
        "sam",
        "--json",
    )
    assert senior.returncode == 4, str(senior)  # a senior may not decide high: exit 4, per item
    assert json.loads(senior.stdout)["counts"] == {"refused": 1}
    result = cli(
        db,
        "batch",
        "reject",
        "pay",
        "--where",
        "item_id=it-0002",
        "--reason",
        "dup",
        "--reviewer",
        "mia",
        "--json",
    )
    assert ok(result)["counts"] == {"applied": 1}
    assert query(db, "SELECT status FROM hitl_requests WHERE request_id = ?", ids[2]) == [
        ("applied",)
    ]
    assert paid(db) == []


def test_sweep_twice_at_once_takes_each_step_once(
    database: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = database
    monkeypatch.setenv("TIERED_DEADLINE_S", "0.001")
    ids = _seed_items(db, 30, tier="low", escalate=True)
    for _round in range(3):
        procs = [start(db, "sweep", "--json") for _ in range(2)]
        for proc in procs:
            assert finish(proc).returncode == 0
    steps = query(
        db,
        "SELECT request_id, kind, CAST(json_extract(data, '$.level') AS INTEGER)"
        " FROM hitl_events"
        " WHERE kind IN ('escalated', 'timed_out') ORDER BY seq",
    )
    assert len(steps) == len(set(steps)), "a step was taken twice"
    for rid in ids:
        mine = [(kind, level) for r, kind, level in steps if r == rid]
        assert mine == [("escalated", 1), ("escalated", 2), ("timed_out", 2)], (rid, mine)
    decisions = query(db, "SELECT reviewer, type, COUNT(*) FROM hitl_decisions GROUP BY 1, 2")
    assert decisions == [(SWEEP_ACTOR, "reject", 30)]
    assert query(db, "SELECT DISTINCT status FROM hitl_requests") == [("applied",)]
    assert paid(db) == []


def test_approve_marked_needed_counts_toward_escalation_precision(desk: ReviewDesk) -> None:
    from langgraph_hitl.insight.metrics import compute

    first = run_item(desk, "it-1", "high")
    second = run_item(desk, "it-2", "high")
    desk.decide(first, Decision.approve(reviewer="mia"), needed=True)
    desk.decide(second, Decision.approve(reviewer="mia"))
    with desk.ledger() as ledger:
        kinds = [e["kind"] for e in ledger.events(request_id=first)]
        assert "escalation_needed" in kinds
        decisions = compute(ledger, window="1d").overall.decisions
    assert (decisions.decided, decisions.overrides, decisions.marked_needed) == (2, 0, 1)
    assert decisions.precision == 0.5


def test_a_finished_thread_cannot_be_cancelled(desk: ReviewDesk) -> None:
    rid = run_item(desk, "it-1", "high")
    desk.approve(rid, reviewer="mia")
    with desk.ledger() as ledger:
        ledger.finish_thread("it-1", "paid")
    with pytest.raises(NotPendingError, match="already finished \\(paid\\)"):
        desk.cancel("it-1", "too late", reviewer="mia")


def test_sweep_keeps_going_when_applying_one_fails(
    desk: ReviewDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timeout decision that cannot be applied yet stays recorded; `resume` applies it."""
    first, second = run_item(desk, "it-1", "high"), run_item(desk, "it-2", "high")
    monkeypatch.setenv("TIERED_REFUSE_FAILS", "1")
    steps = desk.sweep(now=desk.show(second).created_at + 3601)
    assert [(s["request_id"], s["applied"]) for s in steps] == [(first, False), (second, False)]
    assert all("the rejection notice service is down" in s["error"] for s in steps)
    monkeypatch.delenv("TIERED_REFUSE_FAILS")
    assert [t.values["status"] for t in desk.resume()] == ["rejected", "rejected"]
    assert {desk.show(rid).status for rid in (first, second)} == {"applied"}


def test_list_shows_overdue_first_with_time_left(
    db_with_roles: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = db_with_roles
    (later,) = _seed_items(db, 1, tier="high")
    monkeypatch.setenv("TIERED_DEADLINE_S", "0.001")
    desk = ReviewDesk(db, base=REPO)
    (overdue,) = desk.run(TIERED, _item("it-late", "high"), thread_id="it-late").pending
    rows = ok(cli(db, "list", "--json"))["requests"]
    assert [r["request_id"] for r in rows] == [overdue, later]
    table = cli(db, "list", env={"COLUMNS": "200"})
    assert table.returncode == 0, str(table)
    lines = [line for line in table.stdout.splitlines() if "req_" in line]
    assert overdue in lines[0] and "overdue" in lines[0]
    assert later in lines[1] and "overdue" not in lines[1]
    assert re.search(r"│ (60|5\d)m +│$", lines[1]), lines[1]  # an hour, less what has gone


def test_batch_approve_needed_marks_each_escalation(db_with_roles: Path | str) -> None:
    db = db_with_roles
    ids = _seed_items(db, 3)
    done = ok(cli(db, "batch", "approve", "1", "--needed", "--reviewer", "mia", "--json"))
    assert done["counts"] == {"applied": 3}
    marked = query(db, "SELECT request_id FROM hitl_events WHERE kind = 'escalation_needed'")
    assert sorted(r[0] for r in marked) == sorted(ids)


def test_a_decision_after_the_deadline_ran_out_is_refused(desk: ReviewDesk) -> None:
    """Once the sweep decided an expired request, a late human decision is a conflict."""
    rid = run_item(desk, "it-1", "high")
    desk.sweep(now=desk.show(rid).created_at + 3601)
    with pytest.raises(AlreadyDecidedError, match=f"reject by {SWEEP_ACTOR}"):
        desk.approve(rid, reviewer="mia")
    assert paid(desk.path) == []


def test_a_misread_critical_invoice_is_corrected_by_its_two_managers(
    db_with_roles: Path | str,
) -> None:
    """End to end on the invoice graph: OCR read 210,000 for 21,000. One manager corrects
    it (`modify`), the other approves the correction: 21,000 is paid, once."""
    db = db_with_roles
    huge = REPO / "examples" / "invoices" / "huge.json"
    status = ok(cli(db, "run", "invoice", "--input", f"@{huge}", "--thread", "huge", "--json"))
    [rid] = status["pending"]
    edit = ["--set", "amount=21000", "--set", "line_items.0.unit_price=1750"]
    first = ok(cli(db, "modify", rid, *edit, "--reviewer", "mia", "--json"))
    assert first["applied"] is False and first["decision"] is None
    shown = ok(cli(db, "show", rid, "--json"))
    assert shown["proposal"]["amount"] == 21000 and shown["approvals"] == ["mia"]
    refused(cli(db, "approve", rid, "--reviewer", "mia"), 3, "already voted")
    done = ok(cli(db, "approve", rid, "--reviewer", "max", "--json"))
    assert done["applied"] is True and done["thread"]["values"]["status"] == "paid"
    assert query(db, "SELECT invoice_id, amount FROM payments") == [("INV-1006", 21000.0)]
    kinds = [k for (k,) in query(db, "SELECT kind FROM hitl_events WHERE request_id = ?", rid)]
    assert kinds.count("proposal_changed") == 1 and kinds.count("decided") == 1


# -- batch: dry runs, --where fields, a ledger that fails midway ------------------------------


def _results(done: Any) -> dict[str, tuple[str, str | None]]:
    return {item["request_id"]: (item["result"], item["detail"]) for item in done["items"]}


def test_batch_dry_run_refuses_as_the_real_run_does_and_writes_nothing(
    db_with_roles: Path | str,
) -> None:
    """Roles, the owner bar and quorum, per request, from the ledger's own checks."""
    db = db_with_roles
    desk = ReviewDesk(db, base=REPO)
    with desk.keep_graphs():
        (plain,) = desk.run(TIERED, _item("it-1", "high"), thread_id="it-1").pending
        (owned,) = desk.run(TIERED, _item("it-2", "high", owner="mia"), thread_id="it-2").pending
        (two,) = desk.run(TIERED, _item("it-3", "critical"), thread_id="it-3").pending

    def dry(reviewer: str) -> tuple[int, dict[str, tuple[str, str | None]]]:
        args = ("batch", "approve", "1", "--dry-run", "--reviewer", reviewer, "--json")
        before = table_rows(db)
        done = cli(db, *args)
        assert done.stderr == "", str(done)
        assert table_rows(db) == before, "a dry run wrote to the ledger"
        report = json.loads(done.stdout)
        assert report["dry_run"] is True
        return done.returncode, _results(report)

    code, junior = dry("jo")
    assert code == 4
    assert {rid: result for rid, (result, _) in junior.items()} == dict.fromkeys(
        (plain, owned, two), "would be refused"
    )
    assert all("jo is a junior" in why for _, why in junior.values() if why)

    code, manager = dry("mia")
    assert code == 4  # the first refusal's code, as the real run exits
    assert manager[plain] == ("would apply", None)
    assert manager[owned][0] == "would be refused" and "mia triggered or owns" in str(
        manager[owned][1]
    )
    assert manager[two] == ("would vote", "1 of 2 approvals")
    text = cli(db, "batch", "approve", "1", "--dry-run", "--reviewer", "mia")
    assert text.returncode == 4, text
    assert f"{owned}  would be refused (mia triggered or owns" in text.stdout
    assert "nothing was recorded" in text.stdout

    ok(cli(db, "approve", two, "--reviewer", "mia", "--json"))  # mia's vote, for real
    code, again = dry("mia")
    assert again[two][0] == "would be refused" and "already voted" in str(again[two][1])
    code, other = dry("max")
    assert (code, other[two]) == (0, ("would apply", None))  # max completes the quorum

    # The real run does what the dry run said, per request, with the same exit code.
    _, predicted = dry("mia")
    real = cli(db, "batch", "approve", "1", "--reviewer", "mia", "--json")
    assert real.returncode == 4, str(real)
    done = _results(json.loads(real.stdout))
    assert {rid: result for rid, (result, _) in done.items()} == {
        plain: "applied",
        owned: "refused",
        two: "refused",
    }
    for rid in done:
        assert predicted[rid][0].removeprefix("would ").replace("be refused", "refused") in (
            done[rid][0],
            "apply",
        )
        if done[rid][0] == "refused":
            assert done[rid][1] == predicted[rid][1]
    assert [row[0] for row in paid(db)] == ["it-1"]


def test_batch_where_on_a_field_no_request_has_is_bad_input(db_with_roles: Path | str) -> None:
    db = db_with_roles
    _seed_items(db, 2)
    before = table_rows(db)
    line = refused(cli(db, "batch", "approve", "1", "--where", "amunt<1500"), 2, "'amunt'")
    assert "fields: amount, " in line and "item_id" in line  # the fields there are
    refused(cli(db, "batch", "reject", "1", "--where", "amount<NaN", "--reason", "x"), 2, "NaN")
    refused(cli(db, "batch", "approve", "1", "--where", "amount=Infinity"), 2, "Infinity")
    assert table_rows(db) == before
    kept = ok(
        cli(
            db,
            "batch",
            "approve",
            "1",
            "--where",
            "item_id=it-0001",
            "--dry-run",
            "--reviewer",
            "mia",
            "--json",
        )
    )
    assert kept["counts"] == {"would apply": 1}


def _fail_decision_of(db: Path | str, request_id: str) -> None:
    """A write the database refuses midway: deciding this one request fails (a trigger
    raises, as a full disk would: SQLite's ABORT, PostgreSQL's `disk_full`)."""
    if backend_of(db) == "sqlite":
        execute(
            db,
            "CREATE TRIGGER fail_one BEFORE INSERT ON hitl_decisions"
            f" WHEN NEW.request_id = '{request_id}'"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full (injected)'); END",
        )
        return
    execute(
        db,
        "CREATE FUNCTION fail_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" IF NEW.request_id = '{request_id}' THEN RAISE EXCEPTION"
        " 'database or disk is full (injected)' USING ERRCODE = 'disk_full'; END IF;"
        " RETURN NEW; END $$",
    )
    execute(
        db,
        "CREATE TRIGGER fail_one BEFORE INSERT ON hitl_decisions"
        " FOR EACH ROW EXECUTE FUNCTION fail_one()",
    )


def _check_report_against_ledger(db: Path | str, items: list[dict[str, Any]]) -> None:
    """What the batch said happened to each request is what the ledger holds."""
    status = {
        rid: state for rid, state in query(db, "SELECT request_id, status FROM hitl_requests")
    }
    for item in items:
        want = {"applied": "applied", "recorded": "decided", "failed": "pending"}.get(
            item["result"], "pending"
        )
        assert status[item["request_id"]] == want, (item, status[item["request_id"]])


def test_batch_with_a_write_failing_midway_reports_each_item_and_exits_1(
    db_with_roles: Path | str,
) -> None:
    """Not "bad input, nothing changed" (exit 2) after two payments: exit 1, per item."""
    db = db_with_roles
    ids = _seed_items(db, 4)
    _fail_decision_of(db, ids[2])
    done = cli(db, "batch", "approve", "1", "--reviewer", "mia")
    assert (done.returncode, done.stderr) == (1, ""), str(done)
    lines = done.stdout.splitlines()
    assert lines[0] == f"{ids[0]}  applied (done)" and lines[1] == f"{ids[1]}  applied (done)"
    error = {"sqlite": "IntegrityError", "postgres": "DiskFull"}[backend_of(db)]
    assert lines[2].startswith(f"{ids[2]}  failed ({error}: database or disk is full")
    assert lines[3] == f"{ids[3]}  not tried (the batch stopped at the failure of {ids[2]})"
    assert "2 applied, 1 failed, 1 not tried" in lines[4]
    assert [row[0] for row in paid(db)] == ["it-0000", "it-0001"]
    as_json = cli(db, "batch", "approve", "1", "--reviewer", "mia", "--json")
    assert as_json.returncode == 1, str(as_json)
    report = json.loads(as_json.stdout)
    assert report["counts"] == {"failed": 1, "not tried": 1}
    _check_report_against_ledger(db, report["items"])
    execute(
        db, "DROP TRIGGER fail_one" + ("" if backend_of(db) == "sqlite" else " ON hitl_decisions")
    )
    rest = ok(cli(db, "batch", "approve", "1", "--reviewer", "mia", "--json"))
    assert rest["counts"] == {"applied": 2}
    assert len(paid(db)) == 4


def test_batch_when_the_disk_fills_midway(hitl_db: Path) -> None:
    """A real write failure: the process may not grow any file past a size (`ulimit -f`),
    so SQLite's writes fail partway through the batch. Exit 1, a result per request,
    each one what the ledger holds; and once there is room, `batch` does the rest.
    (SQLite alone: the limit is on the files this process writes.)"""
    db = with_roles(hitl_db)
    ids = _seed_items(db, 8)
    env = cli_env({"LANGGRAPH_HITL_REVIEWER": "mia"})
    command = (
        "ulimit -f 195; trap '' XFSZ; exec"  # 195 KiB; SIGXFSZ ignored: writes fail EFBIG
        f" {shlex.quote(sys.executable)} -m langgraph_hitl --db {shlex.quote(str(db))}"
        " batch approve 1 --json"
    )
    full = subprocess.run(
        ["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert full.returncode == 1, (full.returncode, full.stdout, full.stderr)
    report = json.loads(full.stdout)
    assert [item["request_id"] for item in report["items"]] == ids
    results = [item["result"] for item in report["items"]]
    assert "failed" in results or "recorded" in results, results
    assert "bad input" not in full.stderr
    _check_report_against_ledger(db, report["items"])
    applied = [item["request_id"] for item in report["items"] if item["result"] == "applied"]
    assert len(paid(db)) == len(applied)
    ok(cli(db, "resume", "--all", "--json"))
    ok(cli(db, "batch", "approve", "1", "--reviewer", "mia", "--json"))
    assert len(paid(db)) == 8
    assert query(db, "SELECT DISTINCT status FROM hitl_requests") == [("applied",)]


# -- reviewers and their roles ----------------------------------------------------------------


POLICY_TOML = """\
[policy]
roles = ["junior", "senior", "manager"]
[policy.tiers.low]
role = "junior"
[policy.tiers.high]
role = "manager"
escalate = true
"""


def test_reviewers_add_refuses_a_role_nobody_knows_and_says_a_change(
    database: Path | str, tmp_path: Path
) -> None:
    db = database
    # A new deployment registers reviewers before its first run: nothing names a role yet.
    first = ok_text(cli(db, "reviewers", "add", "early", "--role", "boss"))
    assert first.startswith("early: boss (no policy or request names any role yet")
    assert first.endswith("so 'boss' could not be checked)\n")
    config = tmp_path / "hitl.toml"
    config.write_text(POLICY_TOML)
    before = table_rows(db)
    line = refused(
        cli(db, "reviewers", "add", "zed", "--role", "boss", "--config", str(config)),
        2,
        "unknown role 'boss'",
        "junior, senior, manager",
    )
    assert table_rows(db) == before
    # Requests carry their gate's whole role chain: with no config, the ledger knows it.
    ok(cli(db, "run", TIERED, "--input", json.dumps(_item("it-1", "high")), "--json"))
    again = refused(cli(db, "reviewers", "add", "zed", "--role", "boss"), 2, "unknown role")
    assert "junior, senior, manager" in again and line
    assert ok_text(cli(db, "reviewers", "add", "jo", "--role", "junior")) == "jo: junior\n"
    changed = ok_text(cli(db, "reviewers", "add", "jo", "--role", "manager"))
    assert changed == "jo: junior -> manager (role changed)\n"
    assert ok_text(cli(db, "reviewers", "add", "jo", "--role", "manager")) == (
        "jo: manager (unchanged)\n"
    )
    changes = query(db, "SELECT data FROM hitl_events WHERE kind = 'reviewer_changed'")
    assert [json.loads(data)["was"] for (data,) in changes] == ["junior", "manager"]
    listed = ok(cli(db, "reviewers", "list", "--json"))
    assert {r["name"]: r["role"] for r in listed} == {"early": "boss", "jo": "manager"}


def ok_text(result: Any) -> str:
    assert result.returncode == 0 and result.stderr == "", str(result)
    return str(result.stdout)


def test_thread_of_a_cancelled_thread_says_cancelled(db_with_roles: Path | str) -> None:
    db = db_with_roles
    item = json.dumps(_item("it-1", "high"))
    ok(cli(db, "run", TIERED, "--input", item, "--thread", "it-1", "--json"))
    ok(cli(db, "cancel", "it-1", "--reason", "vendor dispute", "--reviewer", "mia", "--json"))
    status = ok(cli(db, "thread", "it-1", "--json"))
    assert (status["status"], status["pending"]) == ("cancelled", [])
    text = ok_text(cli(db, "thread", "it-1"))
    assert text.splitlines()[0] == "thread it-1: cancelled"
    assert "approve" not in text and "decide it" not in text
    with ReviewLedger.open(db) as ledger:
        assert ledger.thread_result("it-1") == "cancelled"


def test_a_decision_that_failed_to_apply_stays_in_sight(database: Path | str) -> None:
    """A step after the decision raises: the decision stays recorded and in sight with its
    error in `list`, `show`, `thread` and `doctor`, and `resume` applies it once fixed."""
    db = database
    data = json.dumps({"item_id": "it-1", "amount": 50.0, "tier": "high"})
    status = ok(cli(db, "run", TIERED, "--input", data, "--thread", "it-1", "--json"))
    [rid] = status["pending"]
    down = {"TIERED_REFUSE_FAILS": "1"}
    failed = refused(cli(db, "reject", rid, "--reason", "no", env=down), 1, "is recorded")
    assert "the rejection notice service is down" in failed

    listed = ok(cli(db, "list", "--json"))
    assert listed["requests"] == []
    [row] = listed["unapplied"]
    assert row["request_id"] == rid and "rejection notice service" in row["apply_error"]
    table = cli(db, "list")
    assert "1 decided, not applied" in table.stdout and rid in table.stdout
    shown = cli(db, "show", rid)
    assert "not applied: RuntimeError: the rejection" in shown.stdout  # the rest may fold
    assert "rejection notice service" in ok(cli(db, "show", rid, "--json"))["apply_error"]
    thread = ok(cli(db, "thread", "it-1", "--json"))
    assert thread["status"] == "stalled" and thread["pending"] == []
    assert f"resume {rid}" in thread["why"] and "rejection notice service" in thread["why"]
    doctor = cli(db, "doctor", "--dry-run", "--json")
    assert doctor.returncode == 1
    [finding] = json.loads(doctor.stdout)["findings"]
    assert finding["kind"] == "unapplied_decision" and "service is down" in finding["detail"]

    resumed = ok(cli(db, "resume", rid, "--json"))
    assert resumed[0]["values"]["status"] == "rejected"
    assert ok(cli(db, "list", "--json"))["unapplied"] == []
    assert ok(cli(db, "thread", "it-1", "--json"))["why"] is None
