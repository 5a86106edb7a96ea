"""ReviewDesk on the invoice graph: run, pause, decide once, apply once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.types import Command
from processes import query

from langgraph_hitl import ReviewDesk, open_checkpointer
from langgraph_hitl.deciding._loader import load_target, with_checkpointer
from langgraph_hitl.errors import (
    AlreadyDecidedError,
    ConflictError,
    DecisionNotAllowedError,
    InvalidEditError,
    NotPendingError,
    UnknownRequestError,
)
from langgraph_hitl.models import Decision

LoadInvoice = Callable[[str], dict[str, Any]]


GATED_PAY = Path(__file__).parent / "graphs" / "gated_pay.py"


@pytest.fixture
def desk(database: Path | str, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> ReviewDesk:
    """A desk on a fresh database of each backend that finds `invoice` through the repo's
    langgraph.json."""
    monkeypatch.setenv("LANGGRAPH_HITL_REVIEWER", "desk-test")
    return ReviewDesk(database, base=repo_root)


def payments(db: str | Path) -> list[tuple[Any, ...]]:
    """Rows of the invoice graph's `payments` table: (invoice_id, amount, thread, approver)."""
    return query(
        db, "SELECT invoice_id, amount, thread_id, approved_by FROM payments ORDER BY invoice_id"
    )


def paused(desk: ReviewDesk, invoice: dict[str, Any], thread_id: str) -> str:
    """Run an invoice that must pause; return its one pending request id."""
    status = desk.run("invoice", invoice, thread_id=thread_id)
    assert status.status == "paused", status
    (request_id,) = status.pending
    return request_id


# -- running ----------------------------------------------------------------------------------


def test_routine_invoice_pays_on_its_own(desk: ReviewDesk, load_invoice: LoadInvoice) -> None:
    """A clean invoice with high OCR confidence is paid without asking anyone."""
    status = desk.run("invoice", load_invoice("routine"), thread_id="INV-1001")
    assert (status.status, status.pending) == ("done", [])
    assert status.values["status"] == "paid"
    assert status.values["route"] == "autonomous"
    assert payments(desk.path) == [("INV-1001", 1250.0, "INV-1001", None)]
    assert desk.pending() == [] and desk.reviews() == []


def test_blurry_invoice_pays_and_is_queued_for_review(
    desk: ReviewDesk, load_invoice: LoadInvoice
) -> None:
    """A blurry scan pays, and lands in the after-the-fact review queue once."""
    status = desk.run("invoice", load_invoice("blurry"), thread_id="INV-1002")
    assert (status.status, status.values["status"], status.values["route"]) == (
        "done",
        "paid",
        "review",
    )
    (item,) = desk.reviews()
    assert (item.thread_id, item.action["args"]["invoice_id"]) == ("INV-1002", "INV-1002")
    assert item.review_id == status.values["review_id"]
    assert item.confidence == pytest.approx(0.86)  # clean: 0.5 + 0.5 x OCR 0.72
    assert desk.pending() == []
    closed = desk.close_review(item.review_id, reviewer="ana")
    assert (closed.status, closed.reviewer) == ("ok", "ana")
    assert desk.reviews() == []


def test_large_invoice_pauses_with_the_reason(desk: ReviewDesk, load_invoice: LoadInvoice) -> None:
    """52,000 USD pauses for a human, whatever the confidence, and says why."""
    request_id = paused(desk, load_invoice("large"), "INV-1003")
    (rec,) = desk.pending()
    assert rec.request_id == request_id
    assert (rec.thread_id, rec.graph, rec.gate) == ("INV-1003", "invoice", "approve_payment")
    assert rec.request.risk_tier == "high"
    assert "amount 52,000.00 is over the 10,000.00 limit" in rec.request.reasons
    assert rec.request.args_schema is not None
    assert payments(desk.path) == []
    assert desk.thread("INV-1003").status == "paused"
    assert desk.show("INV-1003", reviewer="ana").request_id == request_id
    assert [e["kind"] for e in desk.history(request_id)] == ["created", "shown"]


# -- deciding -----------------------------------------------------------------------------------


def test_approve_pays_exactly_once(desk: ReviewDesk, load_invoice: LoadInvoice) -> None:
    """Approve resumes the thread: paid, one payment row, the request applied."""
    request_id = paused(desk, load_invoice("large"), "INV-1003")
    outcome = desk.approve(request_id, reviewer="ana", comment="PO-7802 matches")
    assert outcome.applied
    assert outcome.thread is not None
    assert (outcome.thread.status, outcome.thread.values["status"]) == ("done", "paid")
    assert payments(desk.path) == [("INV-1003", 52000.0, "INV-1003", "ana")]
    assert outcome.request.status == "applied"
    assert outcome.request.decision is not None
    assert outcome.request.decision.comment == "PO-7802 matches"
    assert desk.pending() == []
    kinds = [e["kind"] for e in desk.history(request_id)]
    assert kinds == ["created", "decided", "applied"]


def test_reject_records_the_reason_and_pays_nothing(
    desk: ReviewDesk, load_invoice: LoadInvoice
) -> None:
    """Reject ends the thread as rejected, with the reviewer's reason, and no payment."""
    request_id = paused(desk, load_invoice("messy"), "INV-1004")
    outcome = desk.reject(request_id, "Hooli Partners is not an approved vendor", reviewer="ana")
    assert outcome.applied and outcome.thread is not None
    values = outcome.thread.values
    assert (values["status"], values["rejection_reason"]) == (
        "rejected",
        "Hooli Partners is not an approved vendor",
    )
    assert values["approved_action"] is None
    assert payments(desk.path) == []


def test_modify_fixes_the_messy_invoice(desk: ReviewDesk, load_invoice: LoadInvoice) -> None:
    """An edit that fixes the invoice is re-validated and paid with the edited amount."""
    request_id = paused(desk, load_invoice("messy"), "INV-1004")
    (rec,) = desk.pending()
    args = {**rec.request.action.args, "amount": 900.0, "vendor": "Acme GmbH"}
    outcome = desk.modify(request_id, args, reviewer="ana")
    assert outcome.applied and outcome.thread is not None
    values = outcome.thread.values
    assert values["status"] == "paid"
    assert values["problems"] == []  # re-validated after the edit
    assert values["payment"] == {"invoice_id": "INV-1004", "amount": 900.0}
    assert payments(desk.path) == [("INV-1004", 900.0, "INV-1004", "ana")]


def test_modify_still_wrong_asks_again(desk: ReviewDesk, load_invoice: LoadInvoice) -> None:
    """An edit that fits the schema but still fails validation goes back to a human."""
    request_id = paused(desk, load_invoice("messy"), "INV-1004")
    (rec,) = desk.pending()
    args = {**rec.request.action.args, "amount": 900.0}  # vendor still unknown
    outcome = desk.modify(request_id, args, reviewer="ana")
    assert outcome.thread is not None and outcome.thread.status == "paused"
    (again,) = desk.pending()
    assert again.request_id != request_id
    assert again.request.action.args["amount"] == 900.0
    assert again.request.reasons == [
        "after edit: vendor: 'Hooli Partners' is not in the vendor master"
    ]
    assert payments(desk.path) == []


def test_modify_failing_schema_changes_nothing(desk: ReviewDesk, load_invoice: LoadInvoice) -> None:
    """An edit breaking the schema is refused before anything is written."""
    request_id = paused(desk, load_invoice("messy"), "INV-1004")
    (before,) = desk.pending()
    events_before = desk.history(request_id)
    args = {**before.request.action.args, "amount": -5}
    with pytest.raises(InvalidEditError, match="amount"):
        desk.modify(request_id, args, reviewer="ana")
    (after,) = desk.pending()
    assert after == before
    assert desk.history(request_id) == events_before
    assert desk.thread("INV-1004").status == "paused"


def test_disallowed_decision_refused_before_writing(
    desk: ReviewDesk, load_invoice: LoadInvoice
) -> None:
    """A decision the gate does not offer is refused up front; the request stays pending."""
    gated = ReviewDesk(desk.path, base=desk.base)
    status = gated.run(
        f"{GATED_PAY}:make_graph", {"item_id": "it-1", "amount": 120.0}, thread_id="pay-1"
    )
    (request_id,) = status.pending
    with pytest.raises(DecisionNotAllowedError):
        desk.decide(request_id, Decision.respond("paid by phone", reviewer="ana"))
    (rec,) = desk.pending()
    assert (rec.request_id, rec.status) == (request_id, "pending")


def test_same_decision_twice_is_refused(desk: ReviewDesk, load_invoice: LoadInvoice) -> None:
    """A second click is AlreadyDecidedError, and nothing pays twice."""
    request_id = paused(desk, load_invoice("large"), "INV-1003")
    desk.approve(request_id, reviewer="ana")
    with pytest.raises(AlreadyDecidedError, match="approve by ana"):
        desk.approve(request_id, reviewer="ben")
    assert len(payments(desk.path)) == 1


def test_unknown_id(desk: ReviewDesk, load_invoice: LoadInvoice) -> None:
    """Deciding an id nobody knows is UnknownRequestError."""
    desk.run("invoice", load_invoice("routine"), thread_id="INV-1001")
    with pytest.raises(UnknownRequestError):
        desk.approve("req_000000000000", reviewer="ana")


def test_new_input_on_paused_thread_is_a_conflict(
    desk: ReviewDesk, load_invoice: LoadInvoice
) -> None:
    """Running new input on a paused thread is refused; the pending request is untouched."""
    request_id = paused(desk, load_invoice("large"), "INV-1003")
    (before,) = desk.pending()
    with pytest.raises(ConflictError, match=request_id):
        desk.run("invoice", load_invoice("routine"), thread_id="INV-1003")
    (after,) = desk.pending()
    assert after == before
    status = desk.thread("INV-1003")
    assert (status.status, status.pending) == ("paused", [request_id])
    assert status.values["invoice"]["invoice_id"] == "INV-1003"
    assert payments(desk.path) == []


# -- applying later ------------------------------------------------------------------------------


def test_decide_without_apply_then_resume_applies_once(
    desk: ReviewDesk, load_invoice: LoadInvoice
) -> None:
    """A decision recorded but not applied is applied by resume, exactly once."""
    request_id = paused(desk, load_invoice("large"), "INV-1003")
    outcome = desk.decide(request_id, Decision.approve(reviewer="ana"), apply=False)
    assert (outcome.applied, outcome.thread, outcome.request.status) == (False, None, "decided")
    assert payments(desk.path) == []
    assert desk.pending() == []
    waiting = desk.thread("INV-1003")
    assert (waiting.status, waiting.pending) == ("paused", [])  # on no reviewer
    assert waiting.why is not None and f"resume {request_id}" in waiting.why
    (status,) = desk.resume(request_id)
    assert (status.status, status.values["status"]) == ("done", "paid")
    assert desk.resume() == []
    desk.resume(request_id)
    assert payments(desk.path) == [("INV-1003", 52000.0, "INV-1003", "ana")]
    kinds = [e["kind"] for e in desk.history(request_id)]
    assert kinds.count("applied") == 1


def test_resume_all_applies_every_recorded_decision(
    desk: ReviewDesk, load_invoice: LoadInvoice
) -> None:
    """resume() with no id applies each thread's recorded decisions."""
    large = paused(desk, load_invoice("large"), "INV-1003")
    messy = paused(desk, load_invoice("messy"), "INV-1004")
    desk.decide(large, Decision.approve(reviewer="ana"), apply=False)
    desk.decide(messy, Decision.reject("unknown vendor", reviewer="ana"), apply=False)
    done = {s.thread_id: s.values["status"] for s in desk.resume()}
    assert done == {"INV-1003": "paid", "INV-1004": "rejected"}
    assert [row[0] for row in payments(desk.path)] == ["INV-1003"]


def test_direct_answer_on_a_decided_request_is_refused_in_place(
    desk: ReviewDesk, load_invoice: LoadInvoice, repo_root: Path
) -> None:
    """A direct answer to a request the desk already decided is refused in place; the
    recorded decision is then applied, once."""
    request_id = paused(desk, load_invoice("large"), "INV-1003")
    desk.decide(request_id, Decision.approve(reviewer="ana"), apply=False)
    # Meanwhile someone answers the thread straight through LangGraph: reject.
    with open_checkpointer(desk.path, graph="invoice") as saver:
        graph = with_checkpointer(load_target("invoice", repo_root), saver)
        cfg: Any = {"configurable": {"thread_id": "INV-1003"}}
        (pending,) = graph.get_state(cfg).interrupts
        reject = {"type": "reject", "message": "handled by phone"}
        with pytest.raises(AlreadyDecidedError, match="already decided"):
            graph.invoke(Command(resume={pending.id: reject}), cfg)
        # Nothing was saved for the refused answer: the question is still there.
        assert [i.id for i in graph.get_state(cfg).interrupts] == [pending.id]
    (status,) = desk.resume(request_id)
    assert status.values["status"] == "paid"
    with desk.ledger() as ledger:
        assert ledger.get(request_id).status == "applied"
    assert len(payments(desk.path)) == 1
    with pytest.raises(NotPendingError):
        desk.approve("INV-1003", reviewer="ben")


# -- what a decider is told ---------------------------------------------------------------------


RATE_GRAPH = """
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate

RATE = Path(__file__).with_name("rate.txt")


class State(TypedDict, total=False):
    amount: float
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str


def request(state: State) -> dict[str, Any]:
    # Not a pure function of state: it reads today's rate. It should not, and this is
    # what happens when it does.
    rate = float(RATE.read_text())
    return {
        "action": {"name": "pay", "args": {"eur": state["amount"] * rate}},
        "summary": f"Pay {state['amount'] * rate:.2f} EUR",
    }


def make_graph(checkpointer: Any) -> Any:
    gate = ApprovalGate(request, on_approve="pay", on_reject="refuse")
    builder = StateGraph(State)
    builder.add_node("gate", gate, destinations=gate.destinations)
    builder.add_node("pay", lambda state: {"status": "paid"})
    builder.add_node("refuse", lambda state: {"status": "rejected"})
    builder.add_edge(START, "gate")
    builder.add_edge("pay", END)
    builder.add_edge("refuse", END)
    return builder.compile(checkpointer=checkpointer)
"""


def test_an_approval_the_gate_asked_again_about_is_not_reported_as_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the gate shows changed between recording and applying (its request builder
    reads a rate from a file): the gate refuses the approval, as the args are not what
    the reviewer saw, and asks again. The decider hears so (exit 3), not "approve
    recorded, thread paused"."""
    (tmp_path / "rated.py").write_text(RATE_GRAPH)
    (tmp_path / "rate.txt").write_text("1.0")
    desk = ReviewDesk(tmp_path / "hitl.sqlite", base=tmp_path)
    status = desk.run("rated.py:make_graph", {"amount": 100.0}, thread_id="r-1")
    (request_id,) = status.pending
    apply_thread = ReviewDesk._apply_thread

    def rate_moves_then_apply(self: ReviewDesk, ledger: Any, thread_id: str, **kw: Any) -> Any:
        (tmp_path / "rate.txt").write_text("1.1")
        return apply_thread(self, ledger, thread_id, **kw)

    monkeypatch.setattr(ReviewDesk, "_apply_thread", rate_moves_then_apply)
    with pytest.raises(NotPendingError, match="asked again: the decision was made for other"):
        desk.approve(request_id, reviewer="ana")
    monkeypatch.undo()
    with desk.ledger() as ledger:
        assert ledger.get(request_id).status == "superseded"
        (again,) = ledger.pending(thread_id="r-1")
    assert again.request.action.args == {"eur": pytest.approx(110.0)}
    assert desk.thread("r-1").status == "paused"


def test_a_decision_cancelled_before_it_applied_is_reported(
    desk: ReviewDesk, load_invoice: LoadInvoice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another reviewer cancels the thread between the decision's recording and its
    apply: the decider is told the request was cancelled, by whom and why (exit 3)."""
    request_id = paused(desk, load_invoice("large"), "INV-1003")
    apply_thread = ReviewDesk._apply_thread

    def cancel_then_apply(self: ReviewDesk, ledger: Any, thread_id: str, **kw: Any) -> Any:
        ReviewDesk(self.path, base=self.base).cancel(thread_id, "vendor dispute", reviewer="mia")
        return apply_thread(self, ledger, thread_id, **kw)

    monkeypatch.setattr(ReviewDesk, "_apply_thread", cancel_then_apply)
    with pytest.raises(NotPendingError, match=r"cancelled before it could be applied: vendor"):
        desk.approve(request_id, reviewer="ana")
    assert payments(desk.path) == []
