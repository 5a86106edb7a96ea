"""The invoice graph: extract, check, score, route, and pay once.

    extract -> validate -> score --autonomous--> pay --------------------> END
                                 --review------> pay -> queue_review -----> END
                                 --sampled-----> pay -> queue_review -----> END
                                 --escalated---> approve_payment
                                                   |--approve--> pay
                                                   |--modify---> revalidate --> pay
                                                   |             (still wrong: back to the gate)
                                                   |--respond--> handled ---> END
                                                   '--reject---> reject ----> END

`validate` checks what a careful accounts-payable clerk checks (`invoice_checks`): the
vendor against the vendor master (by name or alias; a look-alike is named: `looks like
Initech LLC`), duplicates by normalised number and by vendor, amount and date against
what was paid or is pending, dates, lines, totals within 0.01 a line, the currency the
vendor bills in, a purchase order above the vendor's threshold, an amount above the
vendor's usual. Each problem is one line on the request, led by its check's name. The
vendor master is the deployment's: `$LANGGRAPH_HITL_VENDORS`, else `vendors.json` beside
the database (a SQLite file), else the example that ships beside this file. The register
of invoices seen (`invoice_register`) lives in the graph's database, SQLite or PostgreSQL.

`score` turns the checks and the scan's quality into a confidence (a clean invoice
stays at 0.5 or above however poor the scan; each problem cuts it below 0.5) and routes
it under the review policy (`POLICY`). Paying cannot be undone, so an invoice with any
problem goes to a human before it is paid, whatever its tier and confidence; a clean one
pays on its own, and under 0.9 (a poor scan) is queued for a look after the fact.
On the labelled set in `evals/invoices` (`make eval`), `langgraph-hitl calibrate`
proposes `review_at` 0.45: every invoice with a problem scored below it and every clean
one at 0.5 or above, so 0.5 separates the same invoices. It proposes no review band
(`autonomous_at` 0.45 too), since the set holds only problems the checks can see;
`autonomous_at` 0.9 is kept so that poor scans, where a misread can leave no trace the
checks see, are looked at afterwards.

Tiers by amount (low up to 2,000, medium up to 10,000, high up to 100,000, critical
above), one tier up for problems (two or more: at least high). Juniors decide low,
seniors medium, managers high; critical needs two managers; nobody approves an invoice
they submitted. A share of every tier that pays on its own is sampled for review after
the fact (low 5%, medium 20%), so metrics can see what it misses. Deadlines per step:
4 h (medium), 8 h (high and critical); `sweep` moves overdue requests up the chain
(junior -> senior -> manager) and rejects at its end. A trained override model
(`langgraph-hitl train`, saved as `override-model.json` beside the database, or named
by `$LANGGRAPH_HITL_MODEL`) escalates invoices it scores at 0.7 or more.

What OCR hands over is not trusted: an amount, line-item number or OCR confidence that
is not a finite number (NaN, Infinity, text) is read as unknown, said in the reasons, and
escalated; an invoice whose amount is unknown can be corrected (`modify`) or rejected,
never approved as it stands.

Paying is the irreversible step: one row per invoice in `payments`, keyed by
`invoice_id`, so an invoice is never paid twice even if the node runs again. The
`invoice_register` table holds every invoice the graph has seen, with its thread and
whether it is pending, paid or rejected: what the duplicate check compares against.
The graph is a factory taking our checkpointer: it pays into the same SQLite file.

Run it: `langgraph-hitl run invoice --input @examples/invoices/large.json`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from datetime import UTC, date, datetime
from typing import Any, Literal, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

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
from langgraph_hitl.capture.routers import as_confidence
from langgraph_hitl.checkpointing import HitlSaver
from langgraph_hitl.ledger import connect

try:
    from .invoice_checks import (
        REQUIRED,
        Earlier,
        VendorMaster,
        check_invoice,
        confidence_of,
        find_vendor_master,
        number_key,
        parse_date,
        vendor_key,
    )
except ImportError:  # imported as a file outside its package: its folder is on sys.path
    from invoice_checks import (  # type: ignore[no-redef]
        REQUIRED,
        Earlier,
        VendorMaster,
        check_invoice,
        confidence_of,
        find_vendor_master,
        number_key,
        parse_date,
        vendor_key,
    )

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
    issue_date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    due_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    line_items: list[LineItem] = Field(min_length=1)

    @model_serializer(mode="wrap")
    def _issue_date_only_if_given(self, handler: SerializerFunctionWrapHandler) -> Any:
        # An invoice read without an issue date has no such key: an edit of it must dump
        # as the same args the reviewer approved, or `require_approval` finds no match.
        data = handler(self)
        if data.get("issue_date") is None:
            data.pop("issue_date", None)
        return data


class InvoiceInput(TypedDict, total=False):
    """The graph's input: one invoice as extracted by OCR."""

    invoice_id: str
    vendor: str
    amount: float
    currency: str
    po_number: str | None
    issue_date: str
    due_date: str
    line_items: list[dict[str, Any]]
    ocr_confidence: float
    submitted_by: str
    agent_cost: float
    received_on: str
    """The day the invoice arrived (`YYYY-MM-DD`); default today (UTC)."""


class InvoiceState(TypedDict, total=False):
    invoice: dict[str, Any]
    ocr_confidence: float | None
    unreadable: list[str]
    received_on: str | None
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


def unreadable_input(state: dict[str, Any]) -> str | None:
    """Escalate when OCR handed over a number that is not one (read as unknown)."""
    notes = state.get("unreadable") or []
    return f"unreadable input: {'; '.join(notes)}" if notes else None


ROUTER = ConfidenceRouter(
    autonomous_at=0.9,
    review_at=0.5,
    rules=RiskRules(
        max_amount=MAX_AUTONOMOUS_AMOUNT,
        amount_key="invoice.amount",
        extra=[unreadable_input],
    ),
)

POLICY = ReviewPolicy(
    roles=["junior", "senior", "manager"],
    tiers=[
        Tier(name="low", role="junior", sample_rate=0.05),
        Tier(name="medium", role="senior", sample_rate=0.2, deadline=4 * HOUR),
        Tier(name="high", role="manager", escalate=True, deadline=8 * HOUR),
        Tier(name="critical", role="manager", escalate=True, quorum=2, deadline=8 * HOUR),
    ],
    router=ROUTER,
    seed=20261125,
    # Paying cannot be undone: an invoice with any problem is paid only after a human.
    irreversible_actions=["pay_invoice"],
)


def policy_for(path: str | os.PathLike[str]) -> ReviewPolicy:
    """`POLICY`, with the trained override model if one is saved beside the database."""
    from langgraph_hitl.capture.predict import OverrideModel, model_beside

    model = os.environ.get("LANGGRAPH_HITL_MODEL") or model_beside(path)
    if not os.path.exists(model):
        return POLICY
    return POLICY.with_predictor(OverrideModel.load(model))


@contextmanager
def transaction(path: str) -> Iterator[Any]:
    """A short connection to the graph's database: one transaction, committed, then closed."""
    with closing(connect(path)) as conn:
        yield conn
        conn.commit()


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

    def _conn(self) -> AbstractContextManager[Any]:
        return transaction(self.path)

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


class Register:
    """The `invoice_register` table: every invoice the graph has seen, and where it stands.

    One row per thread, in the graph's database beside `payments`, written when the
    invoice is checked and moved on as it is paid, rejected or handled; the duplicate
    check reads the rows of other threads that are pending or paid. Writes are upserts by
    thread, so a node that runs again writes the same row.
    """

    def __init__(self, path: Any) -> None:
        self.path = str(path)
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS invoice_register (thread_id TEXT PRIMARY KEY,"
                " invoice_id TEXT, number_key TEXT, vendor TEXT, amount DOUBLE PRECISION,"
                " currency TEXT, issued TEXT, po_number TEXT, status TEXT NOT NULL,"
                " first_seen DOUBLE PRECISION NOT NULL, at DOUBLE PRECISION NOT NULL)"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS invoice_register_vendor"
                " ON invoice_register (vendor, status)"
            )

    def _conn(self) -> AbstractContextManager[Any]:
        return transaction(self.path)

    def check_in(
        self,
        thread_id: str,
        invoice: dict[str, Any],
        vendor: str,
        issued: date | None,
        check: Any,
    ) -> list[str]:
        """Check the invoice against the others of its vendor and file it as pending, in
        one write transaction (the database's one writer, as the ledger's are): of two
        copies checked at once, the second sees the first."""
        now = time.time()
        with self._conn() as conn:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute(
                "SELECT thread_id, invoice_id, vendor, amount, issued, po_number, status"
                " FROM invoice_register WHERE vendor = ? AND thread_id <> ?"
                " AND status IN ('pending', 'paid') ORDER BY first_seen, thread_id",
                (vendor, thread_id),
            ).fetchall()
            earlier = [
                Earlier(
                    thread_id=t,
                    invoice_id=i or "",
                    vendor=v,
                    amount=a,
                    issued=parse_date(d),
                    po_number=po,
                    status=st,
                )
                for t, i, v, a, d, po, st in rows
            ]
            problems: list[str] = check(earlier)
            number = invoice.get("invoice_id")
            conn.execute(
                "INSERT INTO invoice_register (thread_id, invoice_id, number_key, vendor,"
                " amount, currency, issued, po_number, status, first_seen, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
                " ON CONFLICT (thread_id) DO UPDATE SET invoice_id = excluded.invoice_id,"
                " number_key = excluded.number_key, vendor = excluded.vendor,"
                " amount = excluded.amount, currency = excluded.currency,"
                " issued = excluded.issued, po_number = excluded.po_number, at = excluded.at",
                (
                    thread_id,
                    number if isinstance(number, str) else None,
                    number_key(number) if isinstance(number, str) else None,
                    vendor,
                    finite_number(invoice.get("amount")),
                    invoice.get("currency"),
                    None if issued is None else issued.isoformat(),
                    invoice.get("po_number"),
                    now,
                    now,
                ),
            )
        return problems

    def mark(self, thread_id: str, status: Literal["paid", "rejected"]) -> None:
        """Move the thread's invoice on: paid (or handled by a human), or rejected."""
        with self._conn() as conn:
            conn.execute(
                "UPDATE invoice_register SET status = ?, at = ? WHERE thread_id = ?",
                (status, time.time(), thread_id),
            )


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
            "problems": list(problems),
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
    register = Register(checkpointer.path)
    master = VendorMaster.load(find_vendor_master(checkpointer.path))
    ledger = checkpointer.ledger
    policy = policy_for(checkpointer.path)

    def thread_of(config: RunnableConfig) -> str:
        return str(config["configurable"]["thread_id"])

    def extract(state: InvoiceInput) -> dict[str, Any]:
        invoice = {k: state.get(k) for k in (*REQUIRED, "po_number")}
        if state.get("issue_date") is not None:
            invoice["issue_date"] = state.get("issue_date")
        if isinstance(invoice["currency"], str):
            invoice["currency"] = invoice["currency"].upper()
        # A number OCR could not read (NaN, Infinity, text) is unknown, never a guess:
        # `NaN > 10_000` is false and `min(1.0, NaN)` is 1.0, so a NaN slips past limits.
        unreadable: list[str] = []
        received = state.get("received_on")
        if received is not None and parse_date(received) is None:
            unreadable.append(f"received_on {received!r} is not a date")
            received = None
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
            "received_on": received or datetime.now(UTC).date().isoformat(),
            "submitted_by": state.get("submitted_by"),
            "agent_cost": 0.0 if cost is None else cost,
        }

    def checked(invoice: dict[str, Any], received: str | None, thread_id: str) -> list[str]:
        """Every problem, against the vendor master and the other invoices filed."""
        name = invoice.get("vendor")
        match = master.match(name) if isinstance(name, str) and name else None
        key = vendor_key(name, match) if isinstance(name, str) and match is not None else ""
        arrived = parse_date(received)
        issued = parse_date(invoice.get("issue_date")) or arrived

        def check(earlier: list[Earlier]) -> list[str]:
            number = invoice.get("invoice_id")
            holder = payments.paid_by(number) if isinstance(number, str) and number else None
            # Paid before the register knew of it: the payments table is the truth.
            if holder not in (None, thread_id) and all(e.thread_id != holder for e in earlier):
                earlier = [
                    *earlier,
                    Earlier(
                        thread_id=str(holder),
                        invoice_id=str(number),
                        vendor=key,
                        amount=None,
                        issued=None,
                        status="paid",
                    ),
                ]
            return check_invoice(invoice, master=master, earlier=earlier, received=arrived)

        return register.check_in(thread_id, invoice, key, issued, check)

    def validate(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        invoice = state["invoice"]
        return {
            "problems": checked(invoice, state.get("received_on"), thread_of(config)),
            "vendor_history": payments.vendor_history(str(invoice.get("vendor"))),
        }

    def score(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        # Unknown OCR confidence stays unknown: the router escalates a missing confidence.
        confidence = confidence_of(state.get("ocr_confidence"), state["problems"])
        scored: InvoiceState = {**state, "confidence": confidence}  # type: ignore[typeddict-item]
        scored["reasons"] = ROUTER.reasons(scored) + list(state["problems"])
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
        problems = checked(edited, state.get("received_on"), thread_of(config))
        update: dict[str, Any] = {"invoice": edited, "problems": problems}
        if problems:
            # Still wrong after the edit: a human looks again, at the edited invoice.
            update["reasons"] = [f"after edit: {p}" for p in problems]
            return Command(update=update, goto="approve_payment")
        return Command(update=update, goto="pay")

    def pay(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        approved = state.get("approved_action")
        invoice = approved["args"] if approved else state["invoice"]
        over = (invoice.get("amount") or 0) > MAX_AUTONOMOUS_AMOUNT
        if approved is not None or over or state.get("problems"):
            # State can be written by anyone holding the checkpointer; the ledger's
            # decisions only by a reviewer. Pay nothing a human did not approve.
            require_approval(ledger, config, {"name": "pay_invoice", "args": invoice})
        decision = state.get("decision") or {}
        holder = payments.pay(invoice, thread_of(config), decision.get("reviewer"))
        if holder != thread_of(config):
            register.mark(thread_of(config), "rejected")
            finish(config, state, "rejected")
            return {"status": "rejected", "rejection_reason": f"already paid in thread {holder}"}
        register.mark(thread_of(config), "paid")
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
        register.mark(thread_of(config), "rejected")
        finish(config, state, "rejected")
        return {"status": "rejected", "rejection_reason": decision.get("reason")}

    def handled(state: InvoiceState, config: RunnableConfig) -> dict[str, Any]:
        # A reviewer took the invoice over (`respond`): their words are the outcome, and
        # the invoice counts as settled for the duplicate check.
        register.mark(thread_of(config), "paid")
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
    # Irreversible: reached without a gate for clean invoices, so `pay` itself checks the
    # ledger for an approval (`require_approval`) above the limit or with problems; `check`
    # reads this, and that POLICY holds `pay_invoice` with problems for a human.
    builder.add_node(
        "pay", pay, metadata={"irreversible": True, "guarded": True, "action": "pay_invoice"}
    )
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
