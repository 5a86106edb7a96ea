"""ApprovalGate on small deterministic graphs, with LangGraph's real checkpointers."""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import is_invalid_resume
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from langgraph_hitl import ApprovalGate, ApprovalRequest, open_checkpointer
from langgraph_hitl.errors import ConfigurationError
from langgraph_hitl.models import REQUEST_KIND, Action


class PayState(TypedDict, total=False):
    invoice_id: str
    amount: float
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    done: Annotated[list[str], operator.add]


class PayArgs(BaseModel):
    """The args a reviewer's edit must fit; the currency defaults to EUR."""

    model_config = ConfigDict(extra="forbid")
    invoice_id: str
    amount: float = Field(gt=0)
    currency: str = "EUR"

    @field_validator("invoice_id")
    @classmethod
    def _known_prefix(cls, value: str) -> str:
        # A rule JSON Schema cannot express: only pydantic catches it.
        if not value.startswith("INV-"):
            raise ValueError("invoice ids start with INV-")
        return value


class CountingRequest:
    """A request builder that counts how often LangGraph runs the gate's top half."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, state: PayState) -> dict[str, Any]:
        self.calls += 1
        return {
            "action": {
                "name": "pay_invoice",
                "args": {"invoice_id": state["invoice_id"], "amount": state["amount"]},
            },
            "summary": f"Pay {state['invoice_id']}: {state['amount']:,.2f} EUR",
            "reasons": ["amount over the 10,000 limit"],
            "risk_tier": "high",
        }


def pay(state: PayState) -> dict[str, Any]:
    approved = state.get("approved_action") or {}
    return {"done": [f"pay {approved.get('args', {}).get('amount')}"]}


def notify(state: PayState) -> dict[str, Any]:
    return {"done": ["notify"]}


def fix(state: PayState) -> dict[str, Any]:
    return {"done": ["fix"]}


def reply(state: PayState) -> dict[str, Any]:
    return {"done": ["reply"]}


def make_graph(checkpointer: BaseCheckpointSaver[Any], gate: ApprovalGate) -> Any:
    builder = StateGraph(PayState)
    builder.add_node("approve_payment", gate, destinations=gate.destinations)
    builder.add_node("pay", pay)
    builder.add_node("notify", notify)
    builder.add_node("fix", fix)
    builder.add_node("reply", reply)
    builder.add_edge(START, "approve_payment")
    for node in ("pay", "notify", "fix", "reply"):
        builder.add_edge(node, END)
    return builder.compile(checkpointer=checkpointer)


@pytest.fixture(params=["memory", "sqlite"])
def checkpointer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """LangGraph's in-memory saver, and ours on a SQLite file."""
    if request.param == "memory":
        yield InMemorySaver()
    else:
        with open_checkpointer(tmp_path / "g.sqlite") as saver:
            yield saver


CONFIG: Any = {"configurable": {"thread_id": "INV-7"}}
INVOICE = {"invoice_id": "INV-7", "amount": 52_000.0}


def start(checkpointer: Any, **gate_kwargs: Any) -> tuple[Any, CountingRequest, Any]:
    """Build a graph with one gate, run it to the gate, return (graph, builder, interrupt)."""
    builder = CountingRequest()
    routes = {"on_approve": "pay", "on_reject": "notify", **gate_kwargs}
    graph = make_graph(checkpointer, ApprovalGate(builder, **routes))
    out = graph.invoke(INVOICE, CONFIG)
    (interrupt,) = out["__interrupt__"]
    return graph, builder, interrupt


def modify_answer(**args: Any) -> dict[str, Any]:
    """A modify decision for INV-7 with the given args."""
    return {"type": "modify", "args": {"invoice_id": "INV-7", **args}}


def problem_of(out: dict[str, Any]) -> str:
    (interrupt,) = out["__interrupt__"]
    problem: str = interrupt.value["problem"]
    return problem


# -- the question ---------------------------------------------------------------------


def test_interrupt_payload_is_plain_json(checkpointer: Any) -> None:
    """A UI sees a JSON payload: kind, gate name, the request and the args digest, and the
    request in LangChain's HITL middleware shape (checked with LangChain's own type), which
    holds the args once."""
    from langchain.agents.middleware.human_in_the_loop import HITLRequest
    from pydantic import TypeAdapter

    from langgraph_hitl.ledger._args import with_args

    graph, _, interrupt = start(checkpointer)
    payload = interrupt.value
    assert json.loads(json.dumps(payload)) == payload
    assert payload["kind"] == REQUEST_KIND
    assert payload["gate"] == "approve_payment"
    assert "problem" not in payload
    shaped = TypeAdapter(HITLRequest).validate_python(payload)
    assert shaped["review_configs"] == [
        {"action_name": "pay_invoice", "allowed_decisions": ["approve", "reject", "edit"]}
    ]
    assert payload["request"]["action"]["args"] is None
    assert shaped["action_requests"][0]["description"].startswith("Pay INV-7: 52,000.00 EUR")
    req = ApprovalRequest.model_validate(with_args(payload)["request"])
    assert req.action == Action(
        name="pay_invoice", args={"invoice_id": "INV-7", "amount": 52_000.0}
    )
    assert req.summary == "Pay INV-7: 52,000.00 EUR"
    assert req.allowed_decisions == ["approve", "reject", "modify"]
    assert payload["args_digest"] == req.action.digest()
    # Read back from the checkpoint, it is the same payload under the same id.
    (stored,) = graph.get_state(CONFIG).interrupts
    assert (stored.id, stored.value) == (interrupt.id, payload)


def test_gate_args_schema_is_shown_in_the_request(checkpointer: Any) -> None:
    """A pydantic args_schema reaches the reviewer as JSON Schema."""
    _, _, interrupt = start(checkpointer, args_schema=PayArgs)
    schema = interrupt.value["request"]["args_schema"]
    assert schema == PayArgs.model_json_schema()
    assert schema["required"] == ["invoice_id", "amount"]


def test_gate_narrows_allowed_decisions(checkpointer: Any) -> None:
    """The gate's allowed_decisions limit what the request offers."""
    _, _, interrupt = start(checkpointer, allowed_decisions=["approve", "reject"])
    assert interrupt.value["request"]["allowed_decisions"] == ["approve", "reject"]


def test_builder_list_narrows_what_the_gate_allows(checkpointer: Any) -> None:
    """A request that lists its own decisions offers only those the gate also allows."""

    def build(state: PayState) -> dict[str, Any]:
        return {
            "action": {"name": "pay_invoice", "args": {"amount": state["amount"]}},
            "summary": "Pay INV-7",
            "allowed_decisions": ["reject", "respond", "modify"],
        }

    gate = ApprovalGate(build, on_approve="pay", on_reject="notify", on_respond="reply")
    graph = make_graph(checkpointer, gate)
    (interrupt,) = graph.invoke(INVOICE, CONFIG)["__interrupt__"]
    assert interrupt.value["request"]["allowed_decisions"] == ["reject", "respond", "modify"]
    out = graph.invoke(Command(resume={"type": "approve"}), CONFIG)
    assert "'approve' is not allowed" in problem_of(out)


def test_request_builder_may_return_a_model(checkpointer: Any) -> None:
    """A builder may return an ApprovalRequest instead of a dict."""

    def build(state: PayState) -> ApprovalRequest:
        return ApprovalRequest(
            action=Action(name="pay_invoice", args={"amount": state["amount"]}),
            summary="Pay INV-7",
            allowed_decisions=["approve", "reject"],
        )

    graph = make_graph(checkpointer, ApprovalGate(build, on_approve="pay", on_reject="notify"))
    (interrupt,) = graph.invoke(INVOICE, CONFIG)["__interrupt__"]
    assert interrupt.value["request"]["summary"] == "Pay INV-7"
    assert interrupt.value["request"]["allowed_decisions"] == ["approve", "reject"]
    out = graph.invoke(Command(resume={"type": "approve"}), CONFIG)
    assert out["done"] == ["pay 52000.0"]


# -- the answers ----------------------------------------------------------------------


def test_approve_routes_to_on_approve(checkpointer: Any) -> None:
    """Approve runs the action as shown and records the decision in state."""
    graph, _, _ = start(checkpointer)
    out = graph.invoke(Command(resume={"type": "approve", "reviewer": "ana"}), CONFIG)
    assert out["done"] == ["pay 52000.0"]
    assert out["decision"]["type"] == "approve"
    assert out["decision"]["reviewer"] == "ana"
    assert out["decision"]["seen_digest"] == Action(name="pay_invoice", args=INVOICE).digest()
    assert out["approved_action"] == {"name": "pay_invoice", "args": INVOICE}
    assert json.loads(json.dumps(out["decision"])) == out["decision"]
    assert graph.get_state(CONFIG).interrupts == ()


def test_resume_by_interrupt_id(checkpointer: Any) -> None:
    """An id map naming the gate's interrupt answers it."""
    graph, _, interrupt = start(checkpointer)
    out = graph.invoke(Command(resume={interrupt.id: {"type": "approve"}}), CONFIG)
    assert out["done"] == ["pay 52000.0"]


def test_reject_routes_to_on_reject(checkpointer: Any) -> None:
    """Reject goes to the rejection path with the reason and no approved action."""
    graph, _, _ = start(checkpointer)
    out = graph.invoke(Command(resume={"type": "reject", "reason": "duplicate of INV-6"}), CONFIG)
    assert out["done"] == ["notify"]
    assert out["decision"]["reason"] == "duplicate of INV-6"
    assert out["approved_action"] is None


def test_modify_is_validated_coerced_and_routed(checkpointer: Any) -> None:
    """Edited args are checked and coerced by the pydantic schema, then go to on_modify."""
    graph, _, _ = start(checkpointer, on_modify="fix", args_schema=PayArgs)
    out = graph.invoke(
        Command(resume={"type": "modify", "args": {"invoice_id": "INV-7", "amount": 5200}}),
        CONFIG,
    )
    assert out["done"] == ["fix"]
    assert out["approved_action"] == {
        "name": "pay_invoice",
        "args": {"invoice_id": "INV-7", "amount": 5200.0, "currency": "EUR"},
    }
    assert out["decision"]["type"] == "modify"
    assert out["decision"]["args"] == {"invoice_id": "INV-7", "amount": 5200}


def test_modify_defaults_to_on_approve(checkpointer: Any) -> None:
    """Without on_modify, a modify runs the approve path with the edited args."""
    graph, _, _ = start(checkpointer)
    out = graph.invoke(Command(resume=modify_answer(amount=5200)), CONFIG)
    assert out["done"] == ["pay 5200"]


def test_modify_failing_json_schema_asks_again(checkpointer: Any) -> None:
    """An edit breaking the schema is not applied: the gate asks again, saying why."""
    graph, _, _ = start(checkpointer, args_schema=PayArgs)
    out = graph.invoke(Command(resume=modify_answer(amount=-5)), CONFIG)
    assert "amount" in problem_of(out)
    assert out.get("done") == []
    out = graph.invoke(Command(resume=modify_answer(amount=5)), CONFIG)
    assert out["done"] == ["pay 5.0"]


def test_modify_failing_pydantic_validator_asks_again(checkpointer: Any) -> None:
    """A rule only the pydantic model knows is enforced too, and reported."""
    graph, _, _ = start(checkpointer, args_schema=PayArgs)
    bad = {"type": "modify", "args": {"invoice_id": "7", "amount": 5}}
    out = graph.invoke(Command(resume=bad), CONFIG)
    assert "invoice ids start with INV-" in problem_of(out)
    out = graph.invoke(Command(resume=modify_answer(amount=5)), CONFIG)
    assert out["done"] == ["pay 5.0"]
    assert out["approved_action"]["args"]["invoice_id"] == "INV-7"


def test_respond_routes_to_on_respond(checkpointer: Any) -> None:
    """With on_respond, a human may answer in the agent's place."""
    graph, _, interrupt = start(checkpointer, on_respond="reply")
    assert "respond" in interrupt.value["request"]["allowed_decisions"]
    out = graph.invoke(Command(resume={"type": "respond", "message": "paid by phone"}), CONFIG)
    assert out["done"] == ["reply"]
    assert out["decision"]["response"] == "paid by phone"
    assert out["approved_action"] is None


def test_respond_without_on_respond_asks_again(checkpointer: Any) -> None:
    """A gate without on_respond does not offer respond, and refuses it if sent."""
    graph, _, interrupt = start(checkpointer)
    assert "respond" not in interrupt.value["request"]["allowed_decisions"]
    out = graph.invoke(Command(resume={"type": "respond", "response": "done"}), CONFIG)
    assert "'respond' is not allowed" in problem_of(out)
    assert out["done"] == []


@pytest.mark.parametrize(
    ("answer", "done", "check"),
    [
        ({"type": "approve"}, ["pay 52000.0"], ("type", "approve")),
        (
            {"type": "edit", "edited_action": {"name": "pay_invoice", "args": {"amount": 9}}},
            ["pay 9"],
            ("type", "modify"),
        ),
        ({"type": "reject", "message": "not ours"}, ["notify"], ("reason", "not ours")),
    ],
    ids=["approve", "edit", "reject"],
)
def test_langchain_shaped_answers(
    checkpointer: Any, answer: dict[str, Any], done: list[str], check: tuple[str, str]
) -> None:
    """Decisions shaped for LangChain's HITL middleware answer the gate unchanged."""
    graph, _, _ = start(checkpointer)
    out = graph.invoke(Command(resume=answer), CONFIG)
    assert out["done"] == done
    key, value = check
    assert out["decision"][key] == value


def test_langchain_respond_message(checkpointer: Any) -> None:
    """LangChain's respond message reaches the respond path as the response."""
    graph, _, _ = start(checkpointer, on_respond="reply")
    out = graph.invoke(Command(resume={"type": "respond", "message": "call back"}), CONFIG)
    assert (out["done"], out["decision"]["response"]) == (["reply"], "call back")


def test_custom_state_keys(checkpointer: Any) -> None:
    """decision_key and approved_action_key choose where the gate writes."""

    class State(TypedDict, total=False):
        invoice_id: str
        amount: float
        review: dict[str, Any]
        to_run: dict[str, Any] | None

    gate = ApprovalGate(
        CountingRequest(),
        on_approve="pay",
        on_reject="pay",
        decision_key="review",
        approved_action_key="to_run",
    )
    builder = StateGraph(State)
    builder.add_node("gate", gate, destinations=gate.destinations)
    builder.add_node("pay", lambda s: {})
    builder.add_edge(START, "gate")
    builder.add_edge("pay", END)
    graph = builder.compile(checkpointer=checkpointer)
    graph.invoke(INVOICE, CONFIG)
    out = graph.invoke(Command(resume={"type": "approve"}), CONFIG)
    assert out["review"]["type"] == "approve"
    assert out["to_run"] == {"name": "pay_invoice", "args": INVOICE}


# -- bad answers never jam the thread -----------------------------------------------------


def test_invalid_resume_raises_and_thread_is_not_jammed(checkpointer: Any) -> None:
    """A malformed answer raises; the same question can then be answered correctly."""
    graph, _, interrupt = start(checkpointer)
    with pytest.raises(ValidationError) as info:
        graph.invoke(Command(resume={"type": "modify"}), CONFIG)
    assert is_invalid_resume(info.value)
    with pytest.raises(ValidationError):
        graph.invoke(Command(resume={"type": "maybe"}), CONFIG)
    (still,) = graph.get_state(CONFIG).interrupts
    assert still.id == interrupt.id
    assert still.value == interrupt.value
    out = graph.invoke(Command(resume={"type": "approve"}), CONFIG)
    assert out["done"] == ["pay 52000.0"]


def test_disallowed_decision_asks_again(checkpointer: Any) -> None:
    """A decision the gate does not allow, sent straight to LangGraph, is asked again."""
    graph, _, first = start(checkpointer, allowed_decisions=["approve", "reject"])
    out = graph.invoke(Command(resume=modify_answer(amount=1)), CONFIG)
    (again,) = out["__interrupt__"]
    assert "'modify' is not allowed" in again.value["problem"]
    assert again.value["request"] == first.value["request"]
    assert again.id != first.id
    assert out["done"] == []
    out = graph.invoke(Command(resume={again.id: {"type": "reject", "reason": "no"}}), CONFIG)
    assert out["done"] == ["notify"]
    assert out["decision"]["reason"] == "no"


def test_renamed_action_asks_again(checkpointer: Any) -> None:
    """An edit that changes which action runs is refused with the gate asking again."""
    graph, _, _ = start(checkpointer)
    edit = {"type": "edit", "edited_action": {"name": "refund", "args": {"amount": 1}}}
    out = graph.invoke(Command(resume=edit), CONFIG)
    assert "'refund'" in problem_of(out)
    assert out["done"] == []


def test_stale_digest_asks_again(checkpointer: Any) -> None:
    """A decision made against other args than the request shows is not applied."""
    graph, _, _ = start(checkpointer)
    stale = Action(name="pay_invoice", args={"invoice_id": "INV-7", "amount": 5.0}).digest()
    out = graph.invoke(Command(resume={"type": "approve", "seen_digest": stale}), CONFIG)
    assert "other args" in problem_of(out)
    assert out["done"] == []
    current = Action(name="pay_invoice", args=INVOICE).digest()
    out = graph.invoke(Command(resume={"type": "approve", "seen_digest": current}), CONFIG)
    assert out["done"] == ["pay 52000.0"]


def test_rerun_above_interrupt_is_harmless(checkpointer: Any) -> None:
    """The gate's top half runs on every resume, yet the action runs exactly once."""
    graph, builder, _ = start(checkpointer, allowed_decisions=["approve", "reject"])
    assert builder.calls == 1
    graph.invoke(Command(resume=modify_answer(amount=1)), CONFIG)  # asked again
    out = graph.invoke(Command(resume={"type": "approve"}), CONFIG)
    assert builder.calls >= 3  # re-run on each resume: it must be pure
    assert out["done"] == ["pay 52000.0"]
    assert graph.get_state(CONFIG).values["done"] == ["pay 52000.0"]


# -- construction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"allowed_decisions": ["approve", "respond"]}, "on_respond"),
        ({"allowed_decisions": ["approve", "escalate"]}, "unknown decision 'escalate'"),
        ({"allowed_decisions": []}, "at least one decision"),
        ({"on_approve": ""}, "on_approve must name a node"),
        ({"on_reject": None}, "on_reject must name a node"),
        ({"args_schema": int}, "pydantic model"),
    ],
)
def test_bad_gate_configuration_refused(kwargs: dict[str, Any], message: str) -> None:
    """A misconfigured gate fails when built, with a message naming the problem."""
    routes: dict[str, Any] = {"on_approve": "pay", "on_reject": "notify", **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        ApprovalGate(CountingRequest(), **routes)


def test_request_must_be_callable() -> None:
    """A request that is not a function of state is refused."""
    with pytest.raises(ConfigurationError, match="request must map state"):
        ApprovalGate({"summary": "x"}, on_approve="pay", on_reject="notify")  # type: ignore[arg-type]


def test_destinations_and_edit_alias() -> None:
    """destinations lists each route once; `edit` is accepted as `modify`."""
    gate = ApprovalGate(
        CountingRequest(),
        on_approve="pay",
        on_reject="notify",
        on_modify="pay",
        on_respond="reply",
        allowed_decisions=["approve", "edit", "respond"],
    )
    assert gate.destinations == ("pay", "notify", "reply")
    assert gate.allowed == ("approve", "modify", "respond")
