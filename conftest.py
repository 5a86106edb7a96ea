"""What the package's docstring examples refer to, handed to them as doctest globals.

pytest runs every example in `langgraph_hitl/` (`--doctest-modules`). An example that
names `hitl.sqlite` or one of the names below runs in a fresh temporary folder, which is
also the current directory, holding a fresh copy of one database:

    hitl.sqlite   three days of invoices, on a simulated clock, through the invoice graph
                  (graphs/invoice.py): routed, decided by three managers (`mia`, `sam`,
                  and `rex`, who approves everything in two seconds), reviewed after the
                  fact and notified; then, on the wall clock, INV-1003
                  (examples/invoices/large.json) paused at its gate: the one request
                  pending, its `created` notification not yet sent
    invoice       that invoice, as the graph's input
    thread_id     "INV-1003", its thread
    config        its LangGraph config
    request_id    its pending request
    ledger        a `ReviewLedger` on hitl.sqlite
    desk          a `ReviewDesk` on hitl.sqlite
    saver         `open_checkpointer("hitl.sqlite", graph="invoice")`
    builder       a `StateGraph` of the invoice state with nodes `pay` and `notify`,
                  its start edge waiting for an `approve_payment` node
    model         an `OverrideModel` trained on that history: `train(ledger, seed=7)`

The database is built once per session and copied for each example. This file sits at
the repository root, outside the package, so the wheel never ships it.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
DB = "hitl.sqlite"
THREAD = "INV-1003"
NAMES = frozenset(
    {"invoice", "thread_id", "config", "request_id", "ledger", "desk", "saver", "builder", "model"}
)


@pytest.fixture(autouse=True)
def _doctest_globals(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give a docstring example that needs it the invoice database and the names above."""
    test = getattr(request.node, "dtest", None)  # a doctest item's parsed examples
    source = "".join(example.source for example in test.examples) if test else ""
    used = set(re.findall(r"\w+", source))
    if DB not in source and not used & NAMES:
        yield
        return
    template: Path = request.getfixturevalue("_invoice_history")
    request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
    with closing(sqlite3.connect(template)) as src, closing(sqlite3.connect(DB)) as dst:
        src.backup(dst)
    namespace: dict[str, Any] = request.getfixturevalue("doctest_namespace")
    with ExitStack() as stack:
        values = _names(stack, used)
        namespace.update(values)
        try:
            yield
        finally:
            for name in values:
                del namespace[name]


def _names(stack: ExitStack, used: set[str]) -> dict[str, Any]:
    from langgraph_hitl import ReviewDesk, ReviewLedger
    from langgraph_hitl.checkpointing import open_checkpointer

    values: dict[str, Any] = {
        "invoice": _sample("large"),
        "thread_id": THREAD,
        "config": {"configurable": {"thread_id": THREAD}},
    }
    with ReviewLedger.open(DB) as ledger:
        values["request_id"] = ledger.pending(thread_id=THREAD)[0].request_id
    # Made only for the examples that name them: each holds a connection, or takes time.
    if "ledger" in used:
        values["ledger"] = stack.enter_context(ReviewLedger.open(DB))
    if "desk" in used:
        values["desk"] = ReviewDesk(DB)
    if "saver" in used:
        values["saver"] = stack.enter_context(open_checkpointer(DB, graph="invoice"))
    if "builder" in used:
        values["builder"] = _builder()
    if "model" in used:
        from langgraph_hitl.capture.predict import train

        with ReviewLedger.open(DB) as ledger:
            values["model"] = train(ledger, seed=7)[0]
    return values


def _builder() -> Any:
    from langgraph.graph import START, StateGraph
    from langgraph_hitl.graphs.invoice import InvoiceState

    builder = StateGraph(InvoiceState)
    builder.add_node("pay", lambda state: {"status": "paid"})
    builder.add_node("notify", lambda state: {"status": "rejected"})
    builder.add_edge(START, "approve_payment")
    return builder


def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "examples" / "invoices" / f"{name}.json").read_text())
    return data


# -- the history ---------------------------------------------------------------------------

DAY = 86_400.0
KNOWN = ("Acme GmbH", "Globex Ltd", "Initech LLC", "Umbrella Corp")
CURRENCY = {"Acme GmbH": "EUR", "Globex Ltd": "USD", "Initech LLC": "USD", "Umbrella Corp": "EUR"}
"""Each vendor's currency in the graph's vendor master (graphs/vendors.json)."""
STRANGER = "Hooli Partners"
REVIEWERS = {"mia": "manager", "rex": "manager", "sam": "manager"}
HISTORY = 80
"""Invoices in three days: enough overrides and approvals (ten each) to train a model."""


class _TeamChannel:
    """Where the history's notifications went: nowhere, delivered all the same."""

    name = "team channel"
    timeout = 5.0
    kinds = frozenset({"created", "decided", "escalated", "timed_out", "cancelled", "overdue"})

    def send(self, notification: Any) -> None:
        pass


@pytest.fixture(scope="session")
def _invoice_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hitl.sqlite as the module docstring describes it, built once."""
    from langgraph_hitl import ReviewDesk
    from langgraph_hitl.ledger import simulated_clock

    folder = tmp_path_factory.mktemp("invoice-history")
    desk = ReviewDesk(folder / DB, base=folder)
    with desk.ledger(create=True) as ledger:
        for name, role in REVIEWERS.items():
            ledger.add_reviewer(name, role, actor="admin")
    rng = random.Random(1003)
    # Midnight, three days back: the hours of day (a model feature) are the same every run.
    start = (time.time() // DAY - 3) * DAY
    clock = [start]
    with simulated_clock(lambda: clock[0]), desk.keep_graphs():
        for n in range(1, HISTORY + 1):
            clock[0] = start + (n - 1) * 3 * DAY / HISTORY
            _one_invoice(desk, rng, n, clock)
    desk.run("invoice", _sample("large"), thread_id=THREAD)
    return folder / DB


def _one_invoice(desk: Any, rng: random.Random, n: int, clock: list[float]) -> None:
    """Run one invoice; decide what it escalated; close the reviews it queued."""
    from langgraph_hitl import Decision

    stranger = rng.random() < 0.2
    roll = rng.random()
    low, high = (300, 1800) if roll < 0.4 else (2500, 9000) if roll < 0.7 else (12000, 60000)
    amount = round(rng.uniform(low, high), 2)
    typo = rng.random() < 0.1  # OCR read ten times the amount
    # Vendors that bill such amounts (graphs/vendors.json), in their own currency: clean
    # unless a typo or a stranger.
    usual = KNOWN if high < 2000 else KNOWN[2:]
    vendor = STRANGER if stranger else rng.choice(usual)
    run = desk.run(
        "invoice",
        {
            "invoice_id": f"INV-{n:04d}",
            "vendor": vendor,
            "amount": round(amount * 10, 2) if typo else amount,
            "currency": CURRENCY.get(vendor, "EUR"),
            "po_number": f"PO-{7000 + n}",
            "due_date": "2026-12-31",
            "line_items": [{"description": "services", "quantity": 1, "unit_price": amount}],
            "ocr_confidence": round(min(0.99, max(0.4, rng.gauss(0.86, 0.08))), 2),
        },
        thread_id=f"INV-{n:04d}",
    )
    _notify(desk, clock)
    for request_id in run.pending:
        first = "rex" if rng.random() < 0.4 else rng.choice(("mia", "sam"))
        # Two different managers sign a critical invoice.
        for who in (first, *(w for w in ("mia", "sam") if w != first)):
            rec = desk.show(request_id, reviewer=who)
            if rec.status != "pending":
                break
            clock[0] += 2 if who == "rex" else rng.uniform(40, 120)
            if who == "rex":
                decision = Decision.approve(reviewer=who)
            elif stranger:
                decision = Decision.reject("unknown vendor: not on our supplier list", reviewer=who)
            elif typo and rec.quorum == 1:
                fixed = {**rec.request.action.args, "amount": amount}
                decision = Decision.modify(fixed, reviewer=who)
            elif typo:
                decision = Decision.reject("billed ten times the line items", reviewer=who)
            elif amount > 40_000 and rng.random() < 0.7:
                decision = Decision.reject("over this vendor's budget: ask for a PO", reviewer=who)
            else:
                decision = Decision.approve(reviewer=who)
            desk.decide(request_id, decision)
        _notify(desk, clock)
    for item in desk.reviews():
        clock[0] += 60
        problem = "paid a vendor we do not know" if STRANGER in item.summary else None
        desk.close_review(item.review_id, problem=problem, reviewer="sam")


def _notify(desk: Any, clock: list[float]) -> None:
    from langgraph_hitl.notify import deliver

    clock[0] += 20
    with desk.ledger() as ledger:
        deliver(ledger, [_TeamChannel()], now=clock[0])
