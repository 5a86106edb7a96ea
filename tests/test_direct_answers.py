"""Answers given straight to LangGraph (`Command(resume=...)`) meet the desk's rules.

A team's own code can answer a gate without the desk: `graph.invoke(Command(resume=...))`.
The gate then records the answer itself, under the same rules as the desk: roles, the
owner bar, the quorum, one winner. What the rules refuse is raised to the caller in
place: LangGraph saves nothing, the question stays as it was (same request, same votes),
and the refusal is in the audit trail. Two direct answers sent at once never both act.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from processes import query
from pydantic import ValidationError

from langgraph_hitl import (
    AlreadyDecidedError,
    NotAuthorizedError,
    ReviewDesk,
    open_checkpointer,
    require_approval,
)
from langgraph_hitl.capture._answers import AnswerRefused
from langgraph_hitl.deciding._loader import load_target, with_checkpointer
from langgraph_hitl.errors import QuorumPendingError, ThreadBusyError, UnapprovedActionError
from langgraph_hitl.models import Action, Decision

REPO = Path(__file__).resolve().parent.parent
TIERED = "tests/graphs/tiered_pay.py:make_graph"


@pytest.fixture
def desk(database: Path | str, monkeypatch: pytest.MonkeyPatch) -> ReviewDesk:
    """A desk on each backend, with two managers and a junior."""
    monkeypatch.setenv("LANGGRAPH_HITL_REVIEWER", "direct-test")
    desk = ReviewDesk(database, base=REPO)
    with desk.ledger(create=True) as ledger:
        for name, role in (("mia", "manager"), ("max", "manager"), ("jo", "junior")):
            ledger.add_reviewer(name, role)
    return desk


def pause(desk: ReviewDesk, item: str, tier: str, owner: str | None = None) -> str:
    status = desk.run(
        TIERED,
        {"item_id": item, "amount": 210_000.0, "tier": tier, "owner": owner},
        thread_id=item,
    )
    assert status.status == "paused", status
    (rid,) = status.pending
    return rid


def answer_directly(
    db: Path | str, thread_id: str, answer: dict[str, Any], *, user: str | None = None
) -> dict[str, Any]:
    """What a team's own code does: open the saver, build the graph, resume it. `user`:
    the run's signed-in user, as Agent Server puts it in the run's config."""
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if user is not None:
        configurable["langgraph_auth_user_id"] = user
    with open_checkpointer(db, graph=TIERED) as saver:
        graph = with_checkpointer(load_target(TIERED, REPO), saver)
        out: dict[str, Any] = graph.invoke(Command(resume=answer), {"configurable": configurable})
        return out


def pending_interrupts(db: Path | str, thread_id: str) -> list[str]:
    with open_checkpointer(db, graph=TIERED) as saver:
        graph = with_checkpointer(load_target(TIERED, REPO), saver)
        return [
            i.id for i in graph.get_state({"configurable": {"thread_id": thread_id}}).interrupts
        ]


def paid(db: Path | str) -> list[tuple[Any, ...]]:
    return query(db, "SELECT item_id FROM paid")


def refusals(db: Path | str, rid: str) -> list[str]:
    rows = query(db, "SELECT actor FROM hitl_events WHERE request_id = ? AND kind = 'refused'", rid)
    return [row[0] for row in rows]


@pytest.mark.parametrize(
    ("who", "owner"),
    [
        ("sam", "sam"),  # the submitter, not a reviewer at all
        ("mia", "mia"),  # a manager approving her own work
        ("jo", None),  # a junior on a manager's tier
        ("zed", None),  # a name nobody registered
        (None, None),  # no name at all
    ],
)
def test_a_direct_approval_without_the_right_is_refused_in_place(
    desk: ReviewDesk, who: str | None, owner: str | None
) -> None:
    rid = pause(desk, "it-1", "high", owner=owner)
    before = pending_interrupts(desk.path, "it-1")
    answer = {"type": "approve"} if who is None else {"type": "approve", "reviewer": who}
    with pytest.raises(NotAuthorizedError) as refused:
        answer_directly(desk.path, "it-1", answer)
    assert isinstance(refused.value, AnswerRefused)
    # Nothing saved: the same question, the same request, nothing paid, the refusal logged.
    assert pending_interrupts(desk.path, "it-1") == before
    assert desk.show(rid).status == "pending"
    assert paid(desk.path) == []
    assert refusals(desk.path, rid) == [who]
    # The rightful reviewer then decides it as usual.
    desk.approve(rid, reviewer="max")
    assert paid(desk.path) == [("it-1",)]


def test_a_direct_approval_short_of_its_quorum_is_a_vote(desk: ReviewDesk) -> None:
    """210,000 needs two managers: one direct approval is kept as a vote, nothing more."""
    rid = pause(desk, "it-2", "critical")
    with pytest.raises(QuorumPendingError, match="approval 1 of 2"):
        answer_directly(desk.path, "it-2", {"type": "approve", "reviewer": "mia"})
    rec = desk.show(rid)
    assert (rec.status, rec.approvals) == ("pending", ["mia"])
    assert paid(desk.path) == []
    with pytest.raises(AlreadyDecidedError, match="already voted"):
        answer_directly(desk.path, "it-2", {"type": "approve", "reviewer": "mia"})
    out = answer_directly(desk.path, "it-2", {"type": "approve", "reviewer": "max"})
    assert out["status"] == "paid"
    assert paid(desk.path) == [("it-2",)]
    rec = desk.show(rid)
    assert rec.status == "applied"
    assert rec.decision is not None and "mia, max" in (rec.decision.comment or "")


def test_require_approval_accepts_only_what_met_the_rules(desk: ReviewDesk) -> None:
    """The refused direct approvals left no approval for `require_approval` to find."""
    pause(desk, "it-3", "high", owner="sam")
    with pytest.raises(NotAuthorizedError):
        answer_directly(desk.path, "it-3", {"type": "approve", "reviewer": "sam"})
    action = Action(name="pay", args={"item_id": "it-3", "amount": 210_000.0})
    config: Any = {"configurable": {"thread_id": "it-3"}}
    with desk.ledger() as ledger, pytest.raises(UnapprovedActionError):
        require_approval(ledger, config, action)


def test_a_malformed_direct_answer_is_raised_in_place(desk: ReviewDesk) -> None:
    """LangGraph validates the answer against the gate's schema and saves nothing."""
    rid = pause(desk, "it-4", "high")
    before = pending_interrupts(desk.path, "it-4")
    with pytest.raises(ValidationError):
        answer_directly(desk.path, "it-4", {"type": "maybe"})
    assert pending_interrupts(desk.path, "it-4") == before
    assert desk.show(rid).status == "pending"
    desk.approve(rid, reviewer="mia")
    assert paid(desk.path) == [("it-4",)]


def test_a_direct_answer_to_a_decided_request_is_refused(desk: ReviewDesk) -> None:
    """Once the desk recorded a decision, only the desk applies it."""
    rid = pause(desk, "it-5", "high")
    desk.decide(rid, Decision.approve(reviewer="mia"), apply=False)
    with pytest.raises(AlreadyDecidedError):
        answer_directly(desk.path, "it-5", {"type": "reject", "reason": "no", "reviewer": "max"})
    assert paid(desk.path) == []
    desk.resume(rid)
    assert paid(desk.path) == [("it-5",)]


@pytest.mark.parametrize("round_", range(10))
def test_two_direct_answers_at_once_act_once(desk: ReviewDesk, round_: int) -> None:
    """Two callers answer the same question at the same moment (each has read the paused
    step before either goes on): one acts, one is refused in place."""
    item = f"race-{round_}"
    rid = pause(desk, item, "high")
    both_read = threading.Barrier(2, timeout=30)
    outcomes: list[Any] = []

    def answer(reviewer: str) -> None:
        with open_checkpointer(desk.path, graph=TIERED) as saver:
            read = saver.get_tuple
            reads = 0

            def read_then_wait(config: RunnableConfig) -> Any:
                nonlocal reads
                found = read(config)
                reads += 1
                if reads == 1:  # the run's own read of the paused step
                    both_read.wait()
                return found

            saver.get_tuple = read_then_wait  # type: ignore[method-assign]
            graph = with_checkpointer(load_target(TIERED, REPO), saver)
            try:
                out = graph.invoke(
                    Command(resume={"type": "approve", "reviewer": reviewer}),
                    {"configurable": {"thread_id": item}},
                    durability="sync",  # as the README asks of direct answers
                )
                outcomes.append(out["status"])
            except (AlreadyDecidedError, ThreadBusyError) as refused:
                assert isinstance(refused, AnswerRefused)
                outcomes.append("refused")

    threads = [threading.Thread(target=answer, args=(who,)) for who in ("mia", "max")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["paid", "refused"]
    assert query(desk.path, "SELECT COUNT(*) FROM pay_attempts WHERE item_id = ?", item) == [(1,)]
    [(reviewer,)] = query(
        desk.path, "SELECT reviewer FROM hitl_decisions WHERE request_id = ?", rid
    )
    assert reviewer in ("mia", "max")
    assert desk.show(rid).status == "applied"
    # Neither left the thread claimed.
    with desk.ledger() as ledger:
        assert ledger.lease_holder(item) is None


def test_under_agent_server_a_direct_answer_is_the_signed_in_users(desk: ReviewDesk) -> None:
    """A run Agent Server authenticated names its user in the config: an answer without a
    reviewer is that user's (held to their role), and one naming somebody else is refused
    in place, whoever it names."""
    rid = pause(desk, "it-9", "high")
    before = pending_interrupts(desk.path, "it-9")
    with pytest.raises(NotAuthorizedError, match="signed-in user is jo, but the answer names"):
        answer_directly(desk.path, "it-9", {"type": "approve", "reviewer": "max"}, user="jo")
    with pytest.raises(NotAuthorizedError, match="jo is a junior"):
        answer_directly(desk.path, "it-9", {"type": "approve"}, user="jo")
    assert pending_interrupts(desk.path, "it-9") == before
    assert refusals(desk.path, rid) == ["jo", "jo"]
    assert paid(desk.path) == []
    answer_directly(desk.path, "it-9", {"type": "approve"}, user="max")
    assert paid(desk.path) == [("it-9",)]
    decision = desk.show(rid).decision
    assert decision is not None and decision.reviewer == "max"
