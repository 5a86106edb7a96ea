"""ApprovalRequest, Decision and validate_decision, plus the package's public surface."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

import langgraph_hitl
from langgraph_hitl.errors import (
    BadInputError,
    DecisionNotAllowedError,
    HitlError,
    InvalidEditError,
)
from langgraph_hitl.models import Action, ApprovalRequest, Decision, validate_decision

PUBLIC_NAMES = [
    "Action",
    "AlreadyDecidedError",
    "ApprovalGate",
    "ApprovalMiddleware",
    "ApprovalRequest",
    "BadInputError",
    "ConfidenceRouter",
    "ConfigurationError",
    "ConflictError",
    "Decision",
    "HitlError",
    "NotAuthorizedError",
    "NotPendingError",
    "ReviewDesk",
    "ReviewLedger",
    "ReviewPolicy",
    "RiskRules",
    "Routing",
    "ThreadStatus",
    "Tier",
    "open_async_checkpointer",
    "open_checkpointer",
    "record_route",
    "require_approval",
]

INVOICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "invoice_id": {"type": "string", "minLength": 1},
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "line_items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"quantity": {"type": "number", "exclusiveMinimum": 0}},
                "required": ["quantity"],
            },
        },
    },
    "required": ["invoice_id", "amount"],
}


def make_request(**fields: Any) -> ApprovalRequest:
    base: dict[str, Any] = {
        "action": {"name": "pay_invoice", "args": {"invoice_id": "INV-7", "amount": 52000}},
        "summary": "Pay INV-7: 52,000.00 EUR to Acme GmbH",
    }
    return ApprovalRequest.model_validate({**base, **fields})


# -- ApprovalRequest -----------------------------------------------------------


def test_request_defaults_allow_approve_reject_modify() -> None:
    """A request with no allowed list offers approve, reject and modify."""
    assert make_request().allowed_decisions == ["approve", "reject", "modify"]


@pytest.mark.parametrize("confidence", [0.0, 0.5, 1.0])
def test_request_accepts_confidence_in_bounds(confidence: float) -> None:
    """Confidence 0..1 inclusive is accepted as given."""
    assert make_request(confidence=confidence).confidence == confidence


@pytest.mark.parametrize("confidence", [-0.01, 1.01, 91])
def test_request_refuses_confidence_out_of_bounds(confidence: float) -> None:
    """A confidence outside 0..1 (e.g. a percentage) is refused, naming the field."""
    with pytest.raises(ValidationError, match="confidence"):
        make_request(confidence=confidence)


def test_request_edit_in_allowed_decisions_becomes_modify() -> None:
    """LangChain's `edit` is stored as `modify`, once."""
    req = make_request(allowed_decisions=["approve", "edit", "modify"])
    assert req.allowed_decisions == ["approve", "modify"]


def test_request_refuses_empty_allowed_decisions() -> None:
    """A request nobody may answer is refused."""
    with pytest.raises(ValidationError, match="at least one decision"):
        make_request(allowed_decisions=[])


def test_request_refuses_unknown_decision_name() -> None:
    """An allowed decision outside approve/reject/modify/respond is refused."""
    with pytest.raises(ValidationError):
        make_request(allowed_decisions=["approve", "escalate"])


def test_request_naive_deadline_becomes_utc() -> None:
    """A deadline without a timezone is read as UTC."""
    req = make_request(deadline=datetime(2026, 12, 31, 17, 0))
    assert req.deadline == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert req.deadline is not None and req.deadline.utcoffset() == timedelta(0)


def test_request_aware_deadline_kept() -> None:
    """A deadline with a timezone keeps its instant and offset."""
    cet = timezone(timedelta(hours=1))
    req = make_request(deadline=datetime(2026, 12, 31, 18, 0, tzinfo=cet))
    assert req.deadline == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert req.deadline is not None and req.deadline.utcoffset() == timedelta(hours=1)


def test_request_refuses_unknown_fields_and_empty_summary() -> None:
    """Typos in field names and an empty summary are refused, not silently dropped."""
    with pytest.raises(ValidationError, match="sumary"):
        make_request(sumary="typo")
    with pytest.raises(ValidationError, match="summary"):
        make_request(summary="")


def test_request_to_wire_is_plain_json_and_round_trips() -> None:
    """The wire form survives json.dumps and validates back to the same request."""
    req = make_request(
        deadline=datetime(2026, 12, 31, tzinfo=UTC),
        confidence=0.91,
        reasons=["amount 52,000.00 is over the 10,000 limit"],
        args_schema=INVOICE_SCHEMA,
    )
    wire = req.to_wire()
    assert json.loads(json.dumps(wire)) == wire
    assert wire["deadline"] == "2026-12-31T00:00:00Z"
    assert ApprovalRequest.model_validate(wire) == req


# -- Action ----------------------------------------------------------------------


def test_action_digest_stable_under_key_order() -> None:
    """The same args in any key order give the same digest, nested dicts too."""
    one = Action(name="pay_invoice", args={"amount": 500, "meta": {"a": 1, "b": [1, 2]}})
    two = Action(name="pay_invoice", args={"meta": {"b": [1, 2], "a": 1}, "amount": 500})
    assert one.digest() == two.digest()
    assert re.fullmatch(r"[0-9a-f]{64}", one.digest())


def test_action_digest_changes_with_args_or_name() -> None:
    """A different amount, list order or action name gives a different digest."""
    actions = [
        Action(name="pay_invoice", args={"amount": 500, "items": [1, 2]}),
        Action(name="pay_invoice", args={"amount": 501, "items": [1, 2]}),
        Action(name="pay_invoice", args={"amount": 500, "items": [2, 1]}),
        Action(name="refund", args={"amount": 500, "items": [1, 2]}),
    ]
    assert len({a.digest() for a in actions}) == len(actions)


def test_action_refuses_empty_name() -> None:
    """An action needs a name."""
    with pytest.raises(ValidationError):
        Action(name="", args={})


# -- Decision --------------------------------------------------------------------


def test_decision_langchain_approve() -> None:
    """LangChain's `{"type": "approve"}` is an approval with no args."""
    d = Decision.model_validate({"type": "approve"})
    assert (d.type, d.args, d.reason) == ("approve", None, None)


def test_decision_langchain_edit() -> None:
    """LangChain's `edit` with `edited_action` becomes a modify with name and args."""
    d = Decision.model_validate(
        {"type": "edit", "edited_action": {"name": "pay_invoice", "args": {"amount": 500}}}
    )
    assert (d.type, d.action_name, d.args) == ("modify", "pay_invoice", {"amount": 500})


def test_decision_langchain_reject_message_is_the_reason() -> None:
    """LangChain's reject `message` is our `reason`."""
    d = Decision.model_validate({"type": "reject", "message": "duplicate of INV-6"})
    assert (d.type, d.reason, d.response) == ("reject", "duplicate of INV-6", None)


def test_decision_langchain_respond_message_is_the_response() -> None:
    """LangChain's respond `message` is the response the human supplies."""
    d = Decision.model_validate({"type": "respond", "message": "refund issued by phone"})
    assert (d.type, d.response, d.reason) == ("respond", "refund issued by phone", None)


def test_decision_our_shape_and_shorthands() -> None:
    """Our own shape and the classmethod shorthands give the same decisions."""
    assert Decision.reject("duplicate", reviewer="ana").reason == "duplicate"
    assert Decision.modify({"amount": 1}).args == {"amount": 1}
    assert Decision.respond({"refund": 20}).response == {"refund": 20}
    ours = Decision.model_validate({"type": "modify", "args": {"amount": 1}, "reviewer": "ana"})
    assert (ours.type, ours.args, ours.reviewer) == ("modify", {"amount": 1}, "ana")


def test_decision_input_dict_not_mutated() -> None:
    """Converting a LangChain decision leaves the caller's dict as it was."""
    raw = {"type": "edit", "edited_action": {"name": "pay", "args": {"amount": 5}}}
    before = json.loads(json.dumps(raw))
    Decision.model_validate(raw)
    assert raw == before


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "modify"},
        {"type": "edit", "edited_action": {"name": "pay_invoice"}},
    ],
)
def test_decision_modify_without_args_refused(raw: dict[str, Any]) -> None:
    """A modify (or edit) without edited args is refused."""
    with pytest.raises(ValidationError, match="needs the edited args"):
        Decision.model_validate(raw)


@pytest.mark.parametrize("kind", ["approve", "reject", "respond"])
def test_decision_args_only_on_modify(kind: str) -> None:
    """Approve, reject and respond carry no args."""
    with pytest.raises(ValidationError, match="carries no args"):
        Decision.model_validate({"type": kind, "args": {"amount": 1}})


def test_decision_unknown_type_refused() -> None:
    """A decision type outside the four is refused."""
    with pytest.raises(ValidationError):
        Decision.model_validate({"type": "maybe"})


def test_decision_naive_decided_at_becomes_utc() -> None:
    """A decision time without timezone is read as UTC; the default is now, in UTC."""
    d = Decision.approve(decided_at=datetime(2026, 1, 2, 3, 4))
    assert d.decided_at == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert Decision.approve().decided_at.tzinfo is not None


def test_decision_to_wire_round_trips() -> None:
    """The wire form is plain JSON without empty fields and validates back unchanged."""
    d = Decision.modify({"amount": 500}, reviewer="ana", comment="typo", action_name="pay")
    wire = d.to_wire()
    assert json.loads(json.dumps(wire)) == wire
    assert "reason" not in wire and "response" not in wire
    assert Decision.model_validate(wire) == d


# -- validate_decision -------------------------------------------------------------


def test_validate_disallowed_type() -> None:
    """A decision the request does not allow raises DecisionNotAllowedError (exit 2)."""
    req = make_request(allowed_decisions=["approve", "reject"])
    with pytest.raises(DecisionNotAllowedError, match="'modify' is not allowed") as info:
        validate_decision(req, Decision.modify({"invoice_id": "INV-7", "amount": 1}))
    assert "approve, reject" in str(info.value)
    assert isinstance(info.value, BadInputError) and info.value.exit_code == 2


def test_validate_renamed_action_refused() -> None:
    """An edit may change args, never which action runs."""
    req = make_request()
    edit = Decision.model_validate(
        {"type": "edit", "edited_action": {"name": "refund", "args": {"amount": 1}}}
    )
    with pytest.raises(InvalidEditError, match="'refund'"):
        validate_decision(req, edit)


def test_validate_edit_with_same_action_name_accepted() -> None:
    """An edit naming the same action passes."""
    req = make_request()
    edit = Decision.model_validate(
        {"type": "edit", "edited_action": {"name": "pay_invoice", "args": {"amount": 1}}}
    )
    assert validate_decision(req, edit).args == {"amount": 1}


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"invoice_id": "INV-7", "amount": -5}, "amount"),
        ({"invoice_id": "INV-7", "amount": "lots"}, "amount"),
        ({"invoice_id": "INV-7", "amount": 5, "line_items": [{"quantity": 0}]}, "line_items.0"),
        ({"amount": 5}, "args"),
    ],
)
def test_validate_edit_failing_schema_names_the_field(args: dict[str, Any], field: str) -> None:
    """Edited args that fail the request's JSON schema name the bad field."""
    req = make_request(args_schema=INVOICE_SCHEMA)
    with pytest.raises(InvalidEditError, match=rf"edited {field}"):
        validate_decision(req, Decision.modify(args))


def test_validate_edit_fitting_schema_accepted() -> None:
    """Edited args that fit the schema pass unchanged."""
    req = make_request(args_schema=INVOICE_SCHEMA)
    args = {"invoice_id": "INV-7", "amount": 50000, "line_items": [{"quantity": 1}]}
    assert validate_decision(req, Decision.modify(args)).args == args


def test_validate_binds_decision_to_what_the_request_shows() -> None:
    """A decision without a digest is bound to the digest of the request's action."""
    req = make_request()
    decision = Decision.approve(reviewer="ana")
    bound = validate_decision(req, decision)
    assert bound.seen_digest == req.action.digest()
    assert decision.seen_digest is None  # the caller's decision is not changed


def test_validate_keeps_a_stale_digest_so_it_can_be_refused() -> None:
    """A decision made against other args keeps that digest; it is not rebound."""
    req = make_request()
    shown_earlier = Action(name="pay_invoice", args={"invoice_id": "INV-7", "amount": 5200})
    bound = validate_decision(req, Decision.approve(seen_digest=shown_earlier.digest()))
    assert bound.seen_digest == shown_earlier.digest() != req.action.digest()


def test_error_tree_exit_codes() -> None:
    """Every error derives from HitlError and carries the CLI's exit code."""
    assert issubclass(InvalidEditError, HitlError)
    assert langgraph_hitl.AlreadyDecidedError("x").exit_code == 3
    assert langgraph_hitl.NotPendingError("x").exit_code == 3
    assert langgraph_hitl.BadInputError("x").exit_code == 2
    assert langgraph_hitl.ConfigurationError("x").exit_code == 1
    assert isinstance(langgraph_hitl.ConfigurationError("x"), ValueError)


# -- the package ----------------------------------------------------------------------


def test_all_is_exactly_the_public_names() -> None:
    """`__all__` pins the public surface, and every name in it resolves."""
    assert langgraph_hitl.__all__ == PUBLIC_NAMES
    assert sorted(dir(langgraph_hitl)) == sorted(PUBLIC_NAMES)
    for name in PUBLIC_NAMES:
        assert getattr(langgraph_hitl, name) is not None, name
    assert langgraph_hitl.Decision is Decision
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = langgraph_hitl.nope  # type: ignore[attr-defined]


def test_ledger_and_cli_do_not_import_langgraph() -> None:
    """Reading the queue (the ledger, the CLI with every command) never imports LangGraph."""
    code = (
        "import sys\n"
        "import langgraph_hitl\n"
        "from langgraph_hitl import ReviewLedger\n"
        "import langgraph_hitl.ledger, langgraph_hitl.cli\n"
        "from langgraph_hitl.cli import app\n"
        "assert 'langgraph_hitl.cli.metrics' in sys.modules, 'the app has every command'\n"
        "print(sorted(m for m in sys.modules if m == 'langgraph' or m.startswith('langgraph.')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == "[]", proc.stdout


def test_review_at_scale_and_metrics_do_not_import_langgraph() -> None:
    """Policy, batch review, metrics, notifications and learning read the ledger only."""
    code = (
        "import sys\n"
        "import langgraph_hitl.capture.policy, langgraph_hitl.capture.predict\n"
        "import langgraph_hitl.deciding.batch, langgraph_hitl.deciding.feedback\n"
        "import langgraph_hitl.insight.metrics, langgraph_hitl.notify\n"
        "print(sorted(m for m in sys.modules if m == 'langgraph' or m.startswith('langgraph.')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == "[]", proc.stdout
