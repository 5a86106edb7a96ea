"""The invoice graph: extract, validate, score, route, and pay once.

    extract -> validate -> score --autonomous--> pay --------------------> END
                                 --review------> pay -> queue_review -----> END
                                 --sampled-----> pay -> queue_review -----> END
                                 --escalated---> approve_payment
                                                   |--approve--> pay
                                                   |--modify---> revalidate --> pay
                                                   |             (still wrong: back to the gate)
                                                   |--respond--> handled ---> END
                                                   '--reject---> reject ----> END

Review policy (`POLICY`): tiers by amount (low up to 2,000, medium up to 10,000, high
up to 100,000, critical above), one tier up for validation problems (two or more: at
least high). Juniors decide low, seniors medium, managers high; critical needs two
managers; nobody approves an invoice they submitted. A tenth of medium invoices that
pay on their own are sampled for review after the fact. Deadlines per step: 4 h
(medium), 8 h (high and critical); `sweep` moves overdue requests up the chain
(junior -> senior -> manager) and rejects at its end. A trained override model
(`langgraph-hitl train`, saved as `override-model.json` beside the database, or named
by `$LANGGRAPH_HITL_MODEL`) escalates invoices it scores at 0.7 or more.

What OCR hands over is not trusted: an amount, line-item number or OCR confidence that
is not a finite number (NaN, Infinity, text) is read as unknown, said in the reasons, and
escalated; an invoice whose amount is unknown can be corrected (`modify`) or rejected,
never approved as it stands.

Paying is the irreversible step: one row per invoice in `payments`, keyed by
`invoice_id`, so an invoice is never paid twice even if the node runs again.
The graph is a factory taking our checkpointer: it pays into the same SQLite file.

Run it: `langgraph-hitl run invoice --input @examples/invoices/large.json`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any, Literal, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict, Field

from langgraph_hitl import (
    ApprovalGate,
    ApprovalRequest,
    ConfidenceRouter,
    ReviewPolicy,
    RiskRules,
    Tier,
    record_route,
    require_approval,
)
from langgraph_hitl.checkpointing import HitlSaver
from langgraph_hitl.ledger import connect
from langgraph_hitl.routers import as_confidence

KNOWN_VENDORS = frozenset({"Acme GmbH", "Globex Ltd", "Initech LLC", "Umbrella Corp"})
REQUIRED = ("invoice_id", "vendor", "amount", "currency", "due_date", "line_items")
MAX_AUTONOMOUS_AMOUNT = 10_000
TIER_LIMITS = (("low", 2_000), ("medium", 10_000), ("high", 100_000))
TIERS = ("low", "medium", "high", "critical")
HOUR = 3600.0


class LineItem(BaseModel):
    """One line of an invoice."""

    model_config = ConfigDict(extra="forbid")
    description: str = Field(min_length=1)
    quantity: float = Field(gt=0)
    unit_price: float = Field(ge=0)


class Invoice(BaseModel):
    """An invoice as it may be paid: the schema a reviewer's edits must fit."""

    model_config = ConfigDict(extra="forbid")
    invoice_id: str = Field(min_length=1)
    vendor: str = Field(min_length=1)
    amount: float = Field(gt=0)
    currency: str = Field(pattern="^[A-Z]{3}$")
    po_number: str | None = None
    due_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    line_items: list[LineItem] = Field(min_length=1)


class InvoiceInput(TypedDict, total=False):
    """The graph's input: one invoice as extracted by OCR."""

    invoice_id: str
    vendor: str
    amount: float
    currency: str
    po_number: str | None
    due_date: str
    line_items: list[dict[str, Any]]
    ocr_confidence: float
    submitted_by: str
    agent_cost: float


class InvoiceState(TypedDict, total=False):
    invoice: dict[str, Any]
    ocr_confidence: float | None
    unreadable: list[str]
    problems: list[str]
    vendor_history: str
    confidence: float
    reasons: list[str]
    route: str
    decision: dict[str, Any] | None
    approved_action: dict[str, Any] | None
    status: str
    rejection_reason: str | None
    payment: dict[str, Any] | None
    review_id: str | None
    submitted_by: str | None
    agent_cost: float
    routing: dict[str, Any]


def several_failures(state: dict[str, Any]) -> str | None:
    problems = state.get("problems") or []
    if len(problems) >= 2:
        return f"{len(problems)} validation failures"
    return None


def unreadable_input(state: dict[str, Any]) -> str | None:
    """Escalate when OCR handed over a number that is not one (read as unknown)."""
    notes = state.get("unreadable") or []
    return f"unreadable input: {'; '.join(notes)}" if notes else None


ROUTER = ConfidenceRouter(
    autonomous_at=0.8,
    review_at=0.5,
    rules=RiskRules(
        max_amount=MAX_AUTONOMOUS_AMOUNT,
        amount_key="invoice.amount",
        extra=[several_failures, unreadable_input],
    ),
)

POLICY = ReviewPolicy(
    roles=["junior", "senior", "manager"],
    tiers=[
        Tier(name="low", role="junior"),
        Tier(name="medium", role="senior", sample_rate=0.1, deadline=4 * HOUR),
        Tier(name="high", role="manager", escalate=True, deadline=8 * HOUR),
        Tier(name="critical", role="manager", escalate=True, quorum=2, deadline=8 * HOUR),
    ],
    router=ROUTER,
    seed=20261125,
)


def policy_for(path: str | os.PathLike[str]) -> ReviewPolicy:
    """`POLICY`, with the trained override model if one is saved beside the database."""
    from langgraph_hitl.predict import OverrideModel, model_beside

    model = os.environ.get("LANGGRAPH_HITL_MODEL") or model_beside(path)
    if not os.path.exists(model):
        return POLICY
    return POLICY.with_predictor(OverrideModel.load(model))


class Payments:
    """The `payments` table in the graph's database (the SQLite file or the PostgreSQL
    database its checkpoints are in): one row per invoice, ever."""

    def __init__(self, path: Any) -> None:
        self.path = str(path)
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS payments (invoice_id TEXT PRIMARY KEY, vendor TEXT,"
                " amount DOUBLE PRECISION NOT NULL, currency TEXT, thread_id TEXT NOT NULL,"
                " approved_by TEXT, paid_at DOUBLE PRECISION NOT NULL)"
            )

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        """A short connection: one transaction, committed, then closed."""
        with closing(connect(self.path)) as conn:
            yield conn
            conn.commit()

    def paid_by(self, invoice_id: str) -> str | None:
        """The thread that paid this invoice, if any."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT thread_id FROM payments WHERE invoice_id = ?", (invoice_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def vendor_history(self, vendor: str) -> str:
        with self._conn() as conn:
            count, total = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM payments WHERE vendor = ?",
                (vendor,),
            ).fetchone()
        return f"{count} invoices paid to {vendor}, {total:,.2f} in all"

    def pay(self, invoice: dict[str, Any], thread_id: str, approved_by: str | None) -> str:
        """Pay once. Returns the thread that holds the payment (this one, or an earlier)."""
        with self._conn() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO payments (invoice_id, vendor, amount, currency, thread_id,"
                " approved_by, paid_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    invoice["invoice_id"],
                    invoice.get("vendor"),
                    invoice["amount"],
                    invoice.get("currency"),
                    thread_id,
                    approved_by,
                    time.time(),
                ),
            )
            row = conn.execute(
                "SELECT thread_id FROM payments WHERE invoice_id = ?", (invoice["invoice_id"],)
            ).fetchone()
        return str(row[0])


def check_invoice(invoice: dict[str, Any], payments: Payments, thread_id: str) -> list[str]:
    """Every validation failure, in words."""
    problems = [f"missing {name}" for name in REQUIRED if invoice.get(name) in (None, "", [])]
    items = invoice.get("line_items") or []
    amount = invoice.get("amount")
    try:
        total = sum(float(i["quantity"]) * float(i["unit_price"]) for i in items)
    except (KeyError, TypeError, ValueError):
        problems.append("line items are malformed")
    else:
        if not math.isfinite(total):
            problems.append("line items are malformed")
        elif finite_number(amount) is not None and items and abs(total - amount) > 0.01:
            problems.append(f"line items add up to {total:,.2f}, not {amount:,.2f}")
    vendor = invoice.get("vendor")
    if vendor and vendor not in KNOWN_VENDORS:
        problems.append(f"unknown vendor {vendor!r}")
    if invoice.get("invoice_id"):
        paid_in = payments.paid_by(invoice["invoice_id"])
        if paid_in is not None and paid_in != thread_id:
            problems.append(f"duplicate: {invoice['invoice_id']} was already paid")
    return problems


def finite_number(value: Any) -> float | None:
    """A finite number (not a bool, not text), else None: what counts as a known amount."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _tier(state: InvoiceState) -> str:
    """The risk tier: by amount, one up for problems, at least high for two or more.

    An unknown amount could be any amount: high, where one manager may type it in.
    """
    amount = finite_number(state["invoice"].get("amount"))
    if amount is None:
        return "high"
    level = next((i for i, (_, limit) in enumerate(TIER_LIMITS) if amount <= limit), 3)
    problems = len(state.get("problems") or [])
    if problems:
        level = min(level + 1, 3)
    if problems >= 2:
        level = max(level, 2)
    return TIERS[level]


def payment_request(state: InvoiceState) -> ApprovalRequest:
    """What the reviewer sees: a pure function of state (it runs again on resume)."""
    inv = state["invoice"]
    amount = finite_number(inv.get("amount"))
    problems = state.get("problems") or []
    due = inv.get("due_date")
    known = amount is not None
    extra: dict[str, Any] = {}
    if not known:
        # Nothing to approve as it stands: a reviewer types the amount in, or rejects.
        extra["allowed_decisions"] = ["modify", "reject", "respond"]
    return ApprovalRequest.model_validate(
        {
            "action": {"name": "pay_invoice", "args": inv},
            "summary": f"Pay {inv.get('invoice_id')}: "
            + (f"{amount:,.2f}" if known else "an unknown amount of")
            + f" {inv.get('currency')} to {inv.get('vendor')}",
            "goal": "Pay valid supplier invoices on time, and never pay one twice.",
            "reasons": state.get("reasons") or [],
            "risk_tier": _tier(state),
            "confidence": state.get("confidence"),
            "recommendation": "pay: the invoice checks out"
            if not problems
            else "fix the invoice, or reject it"
            if known
            else "type the amount in (modify), or reject it",
            "alternatives": ["reject the invoice", "edit the amount or line items, then pay"],
            "history": [state.get("vendor_history", "")],
            "failure_reason": "; ".join(problems) or None,
            "data": {
                "po_number": inv.get("po_number"),
                "due_date": due,
                "ocr_confidence": state.get("ocr_confidence"),
            },
            "owner": state.get("submitted_by"),
            **extra,
        }
    )


def _readable_item(item: Any, unreadable: list[str]) -> Any:
    """A line item with each quantity or price that is not a finite number as None."""
    if not isinstance(item, dict):
        return item
    fixed = dict(item)
    for key in ("quantity", "unit_price"):
        value = fixed.get(key)
        if value is not None and finite_number(value) is None:
            unreadable.append(f"line item {key} {value!r} is not a number")
            fixed[key] = None
    return fixed


def make_graph(checkpointer: HitlSaver) -> Any:
    """Build the invoice graph on our checkpointer (it pays into the same database)."""
    payments = Payments(checkpointer.path)
    ledger = checkpointer.ledger
    policy = policy_for(checkpointer.path)

    def thread_of(config: RunnableConfig) -> str:
        return str(config["configurable"]["thread_id"])

    def extract(state: InvoiceInput) -> dict[str, Any]:
        invoice = {k: state.get(k) for k in (*REQUIRED, "po_number")}
        if isinstance(invoice["currency"], str):
            invoice["currency"] = invoice["currency"].upper()
        # A number OCR could not read (NaN, Infinity, text) is unknown, never a guess:
        # `NaN > 10_000` is false and `min(1.0, NaN)` is 1.0, so a NaN slips past limits.
        unreadable: list[str] = []
        raw = invoice["amount"]
        if raw is not None and finite_number(raw) is None:
            unreadable.append(f"amount {raw!r} is not a number")
            invoice["amount"] = None
        if isinstance(invoice["line_items"], list):
            invoice["line_items"] = [
                _readable_item(item, unreadable) for item in invoice["line_items"]
            ]
        raw = state.get("ocr_confidence")
        confidence = as_confidence(raw)
        if raw is not None and confidence is None:
            unreadable.append(f"OCR confidence {raw!r} is not a number in 0..1")
        cost = finite_number(state.get("agent_cost"))
        return {
            "invoice": invoice,
            "ocr_confidence": confidence,
            "unreadable": unreadable,
            "submitted_by": state.get("submitted_by"),
            "agent_cost": 0.0 if cost is None else cost,
        }

    def validate(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        invoice = state["invoice"]
        return {
            "problems": check_invoice(invoice, payments, thread_of(config)),
            "vendor_history": payments.vendor_history(str(invoice.get("vendor"))),
        }

    def score(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        penalty = 0.2 * len(state["problems"]) + (0.05 if not state["invoice"]["po_number"] else 0)
        ocr = state.get("ocr_confidence")
        # Unknown OCR confidence stays unknown: the router escalates a missing confidence.
        confidence = None if ocr is None else round(max(0.0, min(1.0, ocr - penalty)), 3)
        scored: InvoiceState = {**state, "confidence": confidence}  # type: ignore[typeddict-item]
        scored["reasons"] = ROUTER.reasons(scored) + [f"validation: {p}" for p in state["problems"]]
        request = payment_request(scored)
        routing = policy.route(scored, request, thread_id=thread_of(config))
        # Idempotent per node run: a score that runs again logs its route once.
        route_id = record_route(ledger, config, routing, request, graph=checkpointer.graph)
        return {
            "confidence": confidence,
            "reasons": routing.reasons,
            "route": routing.route,
            "routing": {**routing.to_json(), "route_id": route_id},
        }

    def route(state: InvoiceState) -> Literal["pay", "approve_payment"]:
        return "approve_payment" if state["route"] == "escalate" else "pay"

    def finish(config: RunnableConfig, state: InvoiceState, result: str) -> None:
        ledger.finish_thread(thread_of(config), result, cost=state.get("agent_cost"))

    def revalidate(
        state: InvoiceState, config: RunnableConfig
    ) -> Command[Literal["pay", "approve_payment"]]:
        assert state.get("approved_action") is not None
        edited = state["approved_action"]["args"]  # type: ignore[index]
        problems = check_invoice(edited, payments, thread_of(config))
        update: dict[str, Any] = {"invoice": edited, "problems": problems}
        if problems:
            # Still wrong after the edit: a human looks again, at the edited invoice.
            update["reasons"] = [f"validation after edit: {p}" for p in problems]
            return Command(update=update, goto="approve_payment")
        return Command(update=update, goto="pay")

    def pay(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        approved = state.get("approved_action")
        invoice = approved["args"] if approved else state["invoice"]
        if approved is not None or (invoice.get("amount") or 0) > MAX_AUTONOMOUS_AMOUNT:
            # State can be written by anyone holding the checkpointer; the ledger's
            # decisions only by a reviewer. Pay nothing a human did not approve.
            require_approval(ledger, config, {"name": "pay_invoice", "args": invoice})
        decision = state.get("decision") or {}
        holder = payments.pay(invoice, thread_of(config), decision.get("reviewer"))
        if holder != thread_of(config):
            finish(config, state, "rejected")
            return {"status": "rejected", "rejection_reason": f"already paid in thread {holder}"}
        finish(config, state, "paid")
        return {
            "status": "paid",
            "payment": {"invoice_id": invoice["invoice_id"], "amount": invoice["amount"]},
        }

    def after_pay(state: InvoiceState) -> Literal["queue_review", "__end__"]:
        return "queue_review" if state.get("route") == "review" else END

    def queue_review(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        routing = state.get("routing") or {}
        review_id = ledger.queue_review(
            thread_id=thread_of(config),
            request=payment_request(state),
            graph=checkpointer.graph,
            node="queue_review",
            route_id=routing.get("route_id"),
            sample_rate=routing.get("sample_rate"),
        )
        return {"review_id": review_id}

    def reject(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        decision = state.get("decision") or {}
        finish(config, state, "rejected")
        return {"status": "rejected", "rejection_reason": decision.get("reason")}

    def handled(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        # A reviewer took the invoice over (`respond`): their words are the outcome.
        finish(config, state, "handled")
        return {"status": "handled_by_human"}

    gate = ApprovalGate(
        payment_request,
        on_approve="pay",
        on_modify="revalidate",
        on_reject="reject",
        on_respond="handled",
        args_schema=Invoice,
        policy=policy,
    )
    builder = StateGraph(InvoiceState, input_schema=InvoiceInput)
    builder.add_node("extract", extract)
    builder.add_node("validate", validate)
    builder.add_node("score", score)
    builder.add_node("approve_payment", gate, destinations=gate.destinations)
    builder.add_node("revalidate", revalidate)
    # Irreversible: reached without a gate for small invoices, so `pay` itself checks the
    # ledger for an approval (`require_approval`) above the limit; `check` reads this.
    builder.add_node("pay", pay, metadata={"irreversible": True, "guarded": True})
    builder.add_node("queue_review", queue_review)
    builder.add_node("reject", reject)
    builder.add_node("handled", handled)
    builder.add_edge(START, "extract")
    builder.add_edge("extract", "validate")
    builder.add_edge("validate", "score")
    builder.add_conditional_edges("score", route)
    builder.add_conditional_edges("pay", after_pay)
    builder.add_edge("queue_review", END)
    builder.add_edge("reject", END)
    builder.add_edge("handled", END)
    return builder.compile(checkpointer=checkpointer)
