"""What one invoice costs in the database: a bound on its copies, and args kept once.

`bench/bench_storage.py` measures the same at 1, 13 and 30 MB; here a state of about
300 kB keeps it quick. Before large values were stored once, a paused thread took about
14 times its state and a finished one about 21 times.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from langgraph_hitl import ReviewDesk, open_checkpointer
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.ledger._args import args_sha256, trail_form
from langgraph_hitl.ledger.audit import verify
from langgraph_hitl.models import REQUEST_KIND, Action, ApprovalRequest, canonical_json

REPO = Path(__file__).resolve().parent.parent

PAUSED_BOUND = 5.5
"""A paused thread takes at most this many times its state: the input, the two state
keys holding the invoice (its line items, the invoice), the gate's question, and the
request's args in the ledger, each once; the rest is small."""

FINISHED_BOUND = 6.5
"""A thread approved and paid: one more copy, the approved action the gate hands on."""


def invoice_of(size: int, invoice_id: str = "INV-BIG") -> dict[str, Any]:
    """An invoice over the limit whose JSON is about `size` bytes, most of it line items."""
    items = [{"description": "Annual licence", "quantity": 1, "unit_price": 52000.0}]
    n = 0
    while len(json.dumps(items)) < size:
        text = "".join(f"{(n * 7919 + i) % 9973:04x}" for i in range(240))
        items.append({"description": f"page {n}: {text}", "quantity": 1, "unit_price": 0.0})
        n += 1
    return {
        "invoice_id": invoice_id,
        "vendor": "Initech LLC",
        "amount": 52000.0,
        "currency": "USD",
        "po_number": "PO-7802",
        "due_date": "2026-12-31",
        "line_items": items,
        "ocr_confidence": 0.95,
    }


def stored_bytes(db: Path, baseline: int) -> int:
    """The file's size once its WAL is folded in and it is vacuumed, less an empty one's."""
    copy = db.with_name(db.stem + f".{uuid.uuid4().hex[:6]}.vacuumed")
    conn = sqlite3.connect(db)
    try:
        conn.execute("VACUUM INTO ?", (str(copy),))
    finally:
        conn.close()
    size = copy.stat().st_size
    copy.unlink()
    return size - baseline


@pytest.fixture
def baseline(tmp_path: Path) -> int:
    """An empty database with every table the invoice graph uses, vacuumed."""
    empty = tmp_path / "empty.sqlite"
    with open_checkpointer(empty) as saver:
        saver.setup()
        saver.conn.execute(
            "CREATE TABLE payments (invoice_id TEXT PRIMARY KEY, vendor TEXT, amount REAL NOT"
            " NULL, currency TEXT, thread_id TEXT NOT NULL, approved_by TEXT, paid_at REAL"
            " NOT NULL)"
        )
        saver.conn.commit()
    return stored_bytes(empty, 0)


def test_a_thread_takes_a_bounded_multiple_of_its_state(tmp_path: Path, baseline: int) -> None:
    """Paused: at most 5.5 times the invoice's size in the file; approved and paid: 6.5."""
    db = tmp_path / "hitl.sqlite"
    invoice = invoice_of(300_000)
    size = len(json.dumps(invoice))
    desk = ReviewDesk(db, base=REPO)
    run = desk.run("invoice", invoice, thread_id="INV-BIG")
    assert run.status == "paused"
    paused = stored_bytes(db, baseline)
    outcome = desk.approve("INV-BIG", reviewer="ana")
    assert outcome.thread is not None and outcome.thread.values["status"] == "paid"
    finished = stored_bytes(db, baseline)
    assert size <= paused <= PAUSED_BOUND * size, paused / size
    assert paused < finished <= FINISHED_BOUND * size, finished / size


def test_the_ledger_keeps_a_requests_args_once(tmp_path: Path) -> None:
    """Args live in `hitl_args` only; rows, events, outbox and routing log stay small."""
    db = tmp_path / "hitl.sqlite"
    invoice = invoice_of(100_000)
    size = len(json.dumps(invoice))
    desk = ReviewDesk(db, base=REPO)
    (rid,) = desk.run("invoice", invoice, thread_id="INV-BIG").pending
    edited = {k: v for k, v in invoice.items() if k != "ocr_confidence"} | {"po_number": "PO-9"}
    desk.modify(rid, edited, reviewer="ana", comment="PO corrected")
    conn = sqlite3.connect(db)
    try:

        def total(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0] or 0)

        args = conn.execute("SELECT digest, args FROM hitl_args").fetchall()
        row = conn.execute(
            "SELECT args_digest, LENGTH(payload) + LENGTH(action_args) FROM hitl_requests"
        ).fetchone()
        routes = conn.execute("SELECT action_name, action_args FROM hitl_routes").fetchall()
        decided = json.loads(
            conn.execute("SELECT data FROM hitl_events WHERE kind = 'decided'").fetchone()[0]
        )
        decision = json.loads(conn.execute("SELECT payload FROM hitl_decisions").fetchone()[0])
        events, outbox = (
            total("SELECT SUM(LENGTH(data)) FROM hitl_events"),
            total("SELECT SUM(LENGTH(body)) FROM hitl_outbox"),
        )
    finally:
        conn.close()
    expected = {k: v for k, v in invoice.items() if k != "ocr_confidence"}
    assert [(digest, json.loads(stored)) for digest, stored in args] == [(row[0], expected)]
    assert row[1] < size / 20
    assert routes == [("pay_invoice", None)]
    assert decision["args"] == edited  # the decision row holds what the reviewer chose
    assert "args" not in decided and decided["args_sha256"] == args_sha256(edited)
    assert events < size / 20 and outbox < size / 20
    with ReviewLedger.open(db) as ledger:
        rec = ledger.get(rid)
        assert rec.request.action.args == expected
        assert rec.args_digest == Action(name="pay_invoice", args=expected).digest()
        routed = [e for e in ledger.events(thread_id="INV-BIG") if e["kind"] == "routed"]
        assert routed[0]["data"]["args_digest"] == rec.args_digest
        assert verify(ledger).ok


def test_an_edited_decision_shows_against_its_digest(tmp_path: Path) -> None:
    """The event keeps the edited args' digest, so editing the args in the row shows."""
    db = tmp_path / "hitl.sqlite"
    invoice = invoice_of(20_000)
    desk = ReviewDesk(db, base=REPO)
    (rid,) = desk.run("invoice", invoice, thread_id="INV-BIG").pending
    edited = {k: v for k, v in invoice.items() if k != "ocr_confidence"} | {"po_number": "PO-9"}
    desk.modify(rid, edited, reviewer="ana")
    with ReviewLedger.open(db) as ledger:
        assert verify(ledger).ok
        ledger.conn.execute(
            "UPDATE hitl_decisions SET payload = json_set(payload, '$.args.po_number', 'PO-X')"
        )
        ledger.conn.commit()
        report = verify(ledger)
    assert not report.ok
    assert "differs from the one its event recorded" in (report.problem or "")


def test_args_read_back_exactly_as_recorded(tmp_path: Path) -> None:
    """Unicode, floats, large integers, nesting: the request reads back equal, digest intact."""
    args = {
        "vendor": "Müller & Søn — «GmbH» 株式会社 \U0001f9fe",
        "amount": 0.1 + 0.2,
        "big": 2**63 - 1,  # the largest a checkpoint holds (msgpack); larger is refused
        "small": -1e-300,
        "nested": [{"a": [1, 2.5, None, True, 'x"y\\z\n']}, []],
        "empty": {},
    }
    req = ApprovalRequest(action=Action(name="pay_invoice", args=args), summary="Pay")
    payload = {
        "kind": REQUEST_KIND,
        "version": 1,
        "gate": "approve_payment",
        "request": req.to_wire(),
        "args_digest": req.action.digest(),
    }
    with ReviewLedger.open(tmp_path / "l.sqlite", create=True) as ledger:
        rid = ledger.record_request(thread_id="t", interrupt_id="i", payload=payload)
        rec = ledger.get(rid)
        assert rec.request.action.args == args
        assert rec.request.action.digest() == rec.args_digest == req.action.digest()
        assert canonical_json(rec.request.to_wire()) == canonical_json(req.to_wire())


def test_the_trail_form_of_decisions() -> None:
    """Edited args become their digest, in both wire shapes; anything else is kept."""
    args = {"amount": 1880}
    digest = hashlib.sha256(canonical_json(args).encode()).hexdigest()
    assert trail_form({"type": "modify", "args": args, "reviewer": "ana"}) == {
        "type": "modify",
        "args_sha256": digest,
        "reviewer": "ana",
    }
    edit = {"type": "edit", "edited_action": {"name": "pay", "args": args}}
    assert trail_form(edit) == {
        "type": "edit",
        "edited_action": {"name": "pay", "args_sha256": digest},
    }
    assert trail_form({"type": "approve"}) == {"type": "approve"}
    assert trail_form("yes") == "yes"


def test_prune_takes_a_threads_blobs_and_keeps_its_request_whole(
    tmp_path: Path, baseline: int
) -> None:
    """`prune` deletes a paid thread's stored values with its checkpoints; the ledger keeps
    the request, args and all, and the file shrinks to about the one copy the ledger keeps."""
    from langgraph_hitl.maintenance import prune

    db = tmp_path / "hitl.sqlite"
    invoice = invoice_of(200_000)
    size = len(json.dumps(invoice))
    desk = ReviewDesk(db, base=REPO)
    (rid,) = desk.run("invoice", invoice, thread_id="INV-BIG").pending
    desk.approve(rid, reviewer="ana")
    before = stored_bytes(db, baseline)
    report = prune(desk, older_than=0, vacuum=True)
    assert report.pruned == ["INV-BIG"]
    with ReviewLedger.open(db) as ledger:
        blobs = ledger.conn.execute("SELECT COUNT(*) FROM hitl_blobs").fetchone()[0]
        rec = ledger.get(rid)
        assert verify(ledger).ok
    assert blobs == 0
    assert rec.request.action.args == {k: v for k, v in invoice.items() if k != "ocr_confidence"}
    after = stored_bytes(db, baseline)
    assert 0.9 * size < after <= 1.2 * size < before / 4
