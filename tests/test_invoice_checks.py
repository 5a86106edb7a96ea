"""What the invoice graph checks before it pays (`graphs/invoice_checks.py`).

Each check on its own, on invoices a clerk would stop and ones they would pay, against
the vendor master the example ships and one a deployment writes. The checks run through
the real graph in `tests/test_invoice_graph.py`; here each reason is pinned to its line.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from langgraph_hitl.graphs.invoice_checks import (
    VENDORS_ENV,
    Earlier,
    VendorMaster,
    check_invoice,
    check_name,
    confidence_of,
    find_vendor_master,
    packaged_vendor_master,
    same_number,
)

from langgraph_hitl.errors import ConfigurationError

MASTER = VendorMaster.load(packaged_vendor_master())
RECEIVED = date(2026, 9, 14)


def invoice(**changes: Any) -> dict[str, Any]:
    """A clean Globex invoice: known vendor, its currency, lines that add up, dated sanely."""
    base: dict[str, Any] = {
        "invoice_id": "GLX-4706",
        "vendor": "Globex Ltd",
        "amount": 1955.52,
        "currency": "USD",
        "po_number": "PO-7790",
        "issue_date": "2026-09-10",
        "due_date": "2026-10-10",
        "line_items": [
            {"description": "Cloud backup", "quantity": 1, "unit_price": 640.0},
            {"description": "Support hours", "quantity": 8, "unit_price": 164.44},
        ],
    }
    return {**base, **changes}


def check(inv: dict[str, Any], earlier: list[Earlier] | None = None) -> list[str]:
    return check_invoice(inv, master=MASTER, earlier=earlier or [], received=RECEIVED)


def paid(invoice_id: str, amount: float = 1955.52, **changes: Any) -> Earlier:
    fields: dict[str, Any] = {
        "thread_id": "INV-88",
        "invoice_id": invoice_id,
        "vendor": "Globex Ltd",
        "amount": amount,
        "issued": date(2026, 9, 8),
        "po_number": "PO-7790",
        "status": "paid",
        **changes,
    }
    return Earlier(**fields)


def test_a_clean_invoice_has_no_problem() -> None:
    assert check(invoice()) == []
    # The master's aliases and spellings are the vendor: case and spacing aside.
    assert check(invoice(vendor="GLOBEX  LTD")) == []
    assert check(invoice(vendor="Globex Limited")) == []


@pytest.mark.parametrize(
    ("name", "line"),
    [
        (
            "lnitech LLC",
            "vendor: 'lnitech LLC' is not in the vendor master; looks like Initech LLC",
        ),
        ("Acme AG", "vendor: 'Acme AG' is not in the vendor master; looks like Acme GmbH"),
        ("Gl0bex Ltd.", "vendor: 'Gl0bex Ltd.' is not in the vendor master; looks like Globex Ltd"),
        ("Hooli Partners", "vendor: 'Hooli Partners' is not in the vendor master"),
    ],
)
def test_a_vendor_not_in_the_master_is_named_with_the_one_it_looks_like(
    name: str, line: str
) -> None:
    problems = check(invoice(vendor=name))
    assert problems[0] == line
    assert check_name(problems[0]) == "vendor"


def test_duplicates_by_normalised_number_against_paid_and_pending() -> None:
    # The same number spelled otherwise: a re-issue of what was paid.
    assert check(invoice(invoice_id="GLX 4706"), [paid("GLX-4706")]) == [
        "duplicate: GLX 4706 is GLX-4706 from Globex Ltd, already paid in thread INV-88"
    ]
    assert check(invoice(invoice_id="glx/04706"), [paid("GLX-4706")])[0].startswith(
        "duplicate: glx/04706 is GLX-4706"
    )
    # Sent twice while the first still waits for a human.
    pending = paid("GLX-4706", status="pending", thread_id="INV-90")
    assert check(invoice(), [pending]) == ["duplicate: GLX-4706 is still pending in thread INV-90"]
    # Another vendor's number that happens to match is not this invoice.
    other = paid("GLX-4706", vendor="Acme GmbH")
    assert check(invoice(), [other]) == []
    assert same_number("AC-2026-000412", "ac 2026 412") and not same_number("GLX-4706", "GLX-4760")


def test_duplicates_by_vendor_amount_and_date_under_the_same_purchase_order() -> None:
    resent = invoice(invoice_id="GLX-4731", issue_date="2026-09-12")
    assert check(resent, [paid("GLX-4706")]) == [
        "duplicate: same vendor and amount as GLX-4706, issued 4 days apart, already paid in"
        " thread INV-88"
    ]
    # A week or more apart: a monthly bill of the same amount, not a copy.
    assert check(invoice(invoice_id="GLX-4731", issue_date="2026-09-15"), [paid("GLX-4706")]) == []
    # Two orders of the same thing carry two purchase orders.
    assert check(resent, [paid("GLX-4706", po_number="PO-7791")]) == []
    # A different amount is a different bill.
    assert check(resent, [paid("GLX-4706", amount=1955.0)]) == []


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"due_date": "2026-02-30"}, "dates: due date '2026-02-30' is not a date"),
        ({"issue_date": "2026-13-01"}, "dates: issue date '2026-13-01' is not a date"),
        ({"due_date": "2026-09-01"}, "dates: due 2026-09-01 before it was issued (2026-09-10)"),
        (
            {"due_date": "2046-10-10"},
            "dates: due 2046-10-10, 7335 days after it was issued (more than 180)",
        ),
        (
            {"issue_date": "2026-09-20", "due_date": "2026-10-20"},
            "dates: issued 2026-09-20, after it was received (2026-09-14)",
        ),
        (
            {"issue_date": None, "due_date": "2036-10-10"},
            "dates: due 2036-10-10, more than a year after it was received",
        ),
    ],
)
def test_dates_that_cannot_be(changes: dict[str, Any], line: str) -> None:
    assert check(invoice(**changes)) == [line]


def test_an_invoice_dated_the_day_after_it_arrived_is_a_vendor_ahead_in_time() -> None:
    assert check(invoice(issue_date="2026-09-15", due_date="2026-10-15")) == []


def test_lines_and_totals_with_the_stated_tolerance() -> None:
    lines = invoice()["line_items"]
    zero = [{**lines[0], "quantity": 0}, lines[1]]
    assert check(invoice(line_items=zero)) == [
        "lines: line 1 has quantity 0",
        "totals: line items add up to 1,315.52, not 1,955.52 (tolerance 0.02)",
    ]
    negative = [lines[0], {**lines[1], "unit_price": -164.44}]
    assert "lines: line 2 has a negative unit price (-164.44)" in check(
        invoice(line_items=negative)
    )
    assert check(invoice(line_items=[{**lines[0], "description": " "}, lines[1]])) == [
        "lines: line 1 has no description"
    ]
    # Within a cent a line, the lines add up (each line's rounding); beyond, they do not.
    assert check(invoice(amount=1955.54)) == []
    assert check(invoice(amount=1955.55)) == [
        "totals: line items add up to 1,955.52, not 1,955.55 (tolerance 0.02)"
    ]
    # The issue's misread total: one digit swapped.
    assert check(invoice(amount=1595.52)) == [
        "totals: line items add up to 1,955.52, not 1,595.52 (tolerance 0.02)"
    ]


def test_currency_purchase_order_and_usual_amount_from_the_master() -> None:
    assert check(invoice(currency="GBP")) == ["currency: GBP, but Globex Ltd bills in USD or EUR"]
    big = [{"description": "Storage", "quantity": 20, "unit_price": 290.0}]
    assert check(invoice(amount=5800.0, line_items=big, po_number=None)) == [
        "po: no purchase order on 5,800.00; Globex Ltd needs one above 5,000.00"
    ]
    bigger = [{"description": "Storage", "quantity": 30, "unit_price": 290.0}]
    assert check(invoice(amount=8700.0, line_items=bigger)) == [
        "amount: 8,700.00 is above the largest Globex Ltd usually bills (6,000.00)"
    ]


def test_missing_fields_are_named() -> None:
    assert check(invoice(po_number=None)) == []  # under the vendor's PO threshold
    assert check(invoice(currency="", invoice_id=None)) == [
        "missing: invoice_id",
        "missing: currency",
    ]


def test_confidence_keeps_clean_work_at_half_or_more_and_any_problem_below() -> None:
    for ocr in (0.0, 0.3, 0.55, 0.72, 0.99):
        clean = confidence_of(ocr, [])
        assert clean is not None and clean >= 0.5
        for problem in ("po: x", "amount: x", "totals: x", "vendor: x", "duplicate: x", "new: x"):
            flagged = confidence_of(ocr, [problem])
            assert flagged is not None and flagged < 0.5, (ocr, problem)
    assert confidence_of(0.55, []) < confidence_of(0.95, [])  # type: ignore[operator]
    assert confidence_of(None, []) is None


def test_the_deployment_gives_its_own_vendor_master(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VENDORS_ENV, raising=False)
    db = tmp_path / "hitl.sqlite"
    assert find_vendor_master(db) == packaged_vendor_master()
    beside = tmp_path / "vendors.json"
    beside.write_text(json.dumps({"vendors": [{"name": "Hooli Partners", "currencies": ["EUR"]}]}))
    assert find_vendor_master(db) == beside
    own = VendorMaster.load(find_vendor_master(db))
    assert check_invoice(invoice(vendor="Hooli Partners", currency="EUR"), master=own) == []
    named = tmp_path / "elsewhere.json"
    named.write_text(beside.read_text())
    monkeypatch.setenv(VENDORS_ENV, str(named))
    assert find_vendor_master(db) == named
    monkeypatch.setenv(VENDORS_ENV, str(tmp_path / "gone.json"))
    with pytest.raises(ConfigurationError, match=r"LANGGRAPH_HITL_VENDORS names .*gone\.json"):
        find_vendor_master(db)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "is not JSON"),
        ('{"vendors": []}', "expected a non-empty 'vendors' list"),
        ('{"vendors": [{"aliases": ["x"]}]}', "vendor 1 has no name"),
        ('{"vendors": [{"name": "A", "colour": "red"}]}', r"A: unknown keys \['colour'\]"),
        ('{"vendors": [{"name": "A", "usual_amount": [5, 1]}]}', "usual_amount must be"),
        ('{"vendors": [{"name": "A", "po_required_above": "lots"}]}', "must be a number"),
        ('{"vendors": [{"name": "A"}, {"name": "B", "aliases": ["a"]}]}', "names both 'A'"),
    ],
)
def test_a_malformed_vendor_master_is_refused_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "vendors.json"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message) as err:
        VendorMaster.load(path)
    assert str(path) in str(err.value)
