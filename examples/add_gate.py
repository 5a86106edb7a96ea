"""Add a human approval gate to a graph you already have, in a few lines.

The graph drafts a refund email and sends it. The gate puts a human between the two:
approve sends the draft, modify sends the human's edit, reject drops it.

    python examples/add_gate.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from langgraph_hitl import ApprovalGate, ReviewDesk


class State(TypedDict, total=False):
    customer: str
    refund: float
    draft: str
    sent: str | None
    # Written by the gate: the decision, and the action as the human approved it.
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None


def write_draft(state: State) -> dict[str, Any]:
    return {"draft": f"Dear {state['customer']}, your refund of {state['refund']:.2f} EUR is sent."}


def send(state: State) -> dict[str, Any]:
    # Send what the human approved, edits included, not what the agent drafted.
    assert state["approved_action"] is not None
    return {"sent": state["approved_action"]["args"]["body"]}


def drop(state: State) -> dict[str, Any]:
    return {"sent": None}


def build() -> StateGraph:
    """The graph you had, plus the four marked lines."""
    builder = StateGraph(State)
    builder.add_node("write_draft", write_draft)
    builder.add_node("send", send)
    builder.add_node("drop", drop)
    builder.add_edge(START, "write_draft")
    # -- the human in the loop ------------------------------------------------------
    gate = ApprovalGate(
        lambda s: {
            "action": {"name": "send_email", "args": {"to": s["customer"], "body": s["draft"]}},
            "summary": f"Email {s['customer']} about a {s['refund']:.2f} EUR refund",
            "reasons": ["outgoing customer email"],
        },
        on_approve="send",
        on_reject="drop",
    )
    builder.add_node("review_email", gate, destinations=gate.destinations)
    builder.add_edge("write_draft", "review_email")
    # --------------------------------------------------------------------------------
    builder.add_edge("send", END)
    builder.add_edge("drop", END)
    return builder


if __name__ == "__main__":
    here = Path(__file__).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        desk = ReviewDesk(Path(tmp) / "hitl.sqlite", base=here.parent.parent)
        run = desk.run(f"{here}:build", {"customer": "Ada", "refund": 120.0})
        print(f"run: {run.status}, waiting on {run.pending}")

        request = desk.show(run.pending[0], reviewer="sam").request
        print(f"reviewer sees: {request.summary}")
        print(f"  draft: {request.action.args['body']}")

        edited = {**request.action.args, "body": request.action.args["body"] + " Sorry!"}
        outcome = desk.modify(run.pending[0], edited, reviewer="sam")
        assert outcome.thread is not None
        print(f"after modify: {outcome.thread.status}, sent: {outcome.thread.values['sent']!r}")
