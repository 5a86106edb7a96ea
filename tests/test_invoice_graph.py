"""The invoice graph (`graphs/invoice.py`) with numbers OCR could not read.

The CLI refuses NaN and Infinity at the edge (`run --input`), but the graph takes input
from Python too, from any agent. `NaN > 10_000` is false and `min(1.0, NaN)` is 1.0:
a NaN confidence used to be clamped to 1.0 and 5,000 and 1,500 EUR invoices were paid
with no review. A number that is not a finite one (NaN, Infinity, text, out of range)
is now unknown: said in the reasons, escalated, never paid on its own; an unknown
amount can be typed in (`modify`) or rejected, not approved as it stands.
"""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from langgraph_hitl import Decision, ReviewDesk
from langgraph_hitl.errors import DecisionNotAllowedError

REPO = Path(__file__).resolve().parent.parent


def invoice(invoice_id: str, amount: float, **changes: Any) -> dict[str, Any]:
    """A clean invoice from a known vendor (it would pay alone at 0.97 OCR confidence)."""
    base: dict[str, Any] = json.loads((REPO / "examples/invoices/routine.json").read_text())
    return {
        **base,
        "invoice_id": invoice_id,
        "amount": amount,
        "line_items": [{"description": "Toner", "quantity": 1, "unit_price": amount}],
        **changes,
    }


def paid(db: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT invoice_id, amount FROM payments ORDER BY 1").fetchall()


@pytest.fixture
def desk(tmp_path: Path) -> ReviewDesk:
    return ReviewDesk(tmp_path / "hitl.sqlite", base=REPO)


def test_a_clean_invoice_still_pays_alone(desk: ReviewDesk) -> None:
    status = desk.run("invoice", invoice("INV-1", 1500.0), thread_id="t")
    assert (status.status, status.values["route"]) == ("done", "autonomous")
    assert paid(desk.path) == [("INV-1", 1500.0)]


@pytest.mark.parametrize("amount", [5000.0, 1500.0])
@pytest.mark.parametrize("confidence", [math.nan, math.inf, -math.inf, 1.5, -0.2, "0.97", None])
def test_an_unreadable_ocr_confidence_is_unknown_and_escalates(
    desk: ReviewDesk, amount: float, confidence: Any
) -> None:
    """NaN, Infinity, out of 0..1, text, missing: never clamped into a confidence."""
    data = invoice("INV-2", amount, ocr_confidence=confidence)
    if confidence is None:
        del data["ocr_confidence"]
    status = desk.run("invoice", data, thread_id="t")
    assert status.status == "paused", status
    assert paid(desk.path) == []
    assert status.values["confidence"] is None and status.values["ocr_confidence"] is None
    (rec,) = desk.pending()
    assert "no confidence score" in rec.request.reasons
    if confidence is not None:
        assert any("OCR confidence" in reason for reason in rec.request.reasons), rec.request
    assert rec.request.confidence is None
    # Known amount: a human may approve it, and then it pays.
    assert desk.approve(rec.request_id, reviewer="ana").applied
    assert paid(desk.path) == [("INV-2", amount)]


@pytest.mark.parametrize("amount", [math.nan, math.inf, -math.inf, "1500", True])
def test_an_unreadable_amount_is_unknown_and_must_be_typed_in(
    desk: ReviewDesk, amount: Any
) -> None:
    status = desk.run("invoice", {**invoice("INV-3", 1500.0), "amount": amount}, thread_id="t")
    assert status.status == "paused" and paid(desk.path) == []
    (rec,) = desk.pending()
    request = rec.request
    assert request.action.args["amount"] is None  # unknown, not a guess, and plain JSON
    assert request.summary == "Pay INV-3: an unknown amount of EUR to Acme GmbH"
    assert any(reason.startswith("unreadable input: amount") for reason in request.reasons)
    assert request.risk_tier == "high" and request.quorum == 1
    assert request.allowed_decisions == ["modify", "reject", "respond"]
    with pytest.raises(DecisionNotAllowedError):
        desk.approve(rec.request_id, reviewer="ana")
    assert desk.show(rec.request_id).status == "pending"
    typed = {**request.action.args, "amount": 1500.0}
    outcome = desk.decide(rec.request_id, Decision.modify(typed, reviewer="ana"))
    assert outcome.applied and outcome.thread is not None
    assert outcome.thread.values["status"] == "paid"
    assert paid(desk.path) == [("INV-3", 1500.0)]


def test_an_unreadable_line_item_escalates(desk: ReviewDesk) -> None:
    items = [{"description": "Toner", "quantity": math.nan, "unit_price": 1500.0}]
    status = desk.run("invoice", invoice("INV-4", 1500.0, line_items=items), thread_id="t")
    assert status.status == "paused" and paid(desk.path) == []
    (rec,) = desk.pending()
    assert rec.request.action.args["line_items"][0]["quantity"] is None
    assert "validation: line items are malformed" in rec.request.reasons
    assert any("line item quantity nan" in reason for reason in rec.request.reasons)
    assert desk.reject(rec.request_id, "unreadable scan", reviewer="ana").applied
    assert paid(desk.path) == []
