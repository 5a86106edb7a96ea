"""The feedback loop on a small hand-built ledger: overrides, their export, calibration.

Every answer here is worked out by hand from the rows the test writes: which decisions
are overrides (a deadline sweep's is not), what each row says, and which threshold
`calibrate` proposes for a target escalation rate.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from processes import one_line_error, run_cli

from langgraph_hitl.capture.gates import PAYLOAD_VERSION
from langgraph_hitl.deciding.feedback import (
    calibrate,
    export_overrides,
    overrides,
    training_examples,
)
from langgraph_hitl.errors import BadInputError
from langgraph_hitl.ledger import SWEEP_ACTOR, ReviewLedger
from langgraph_hitl.models import REQUEST_KIND, Action, ApprovalRequest, Decision

MARCH = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def day(n: int) -> datetime:
    return MARCH.replace(day=n)


def request(n: int, confidence: float | None, **extra: Any) -> ApprovalRequest:
    return ApprovalRequest(
        action=Action(name="pay_invoice", args={"invoice_id": f"INV-{n}", "amount": 100.0 * n}),
        summary=f"Pay INV-{n}",
        reasons=[f"validation: unknown vendor 'V{n}'"],
        risk_tier="medium",
        confidence=confidence,
        allowed_decisions=["approve", "reject", "modify", "respond"],
        **extra,
    )


def ask(ledger: ReviewLedger, n: int, confidence: float | None, **extra: Any) -> str:
    req = request(n, confidence, **extra)
    return ledger.record_request(
        thread_id=f"INV-{n}",
        interrupt_id=f"int-{n}",
        task_id=f"task-{n}",
        graph="invoice",
        payload={
            "kind": REQUEST_KIND,
            "version": PAYLOAD_VERSION,
            "gate": "approve_payment",
            "request": req.to_wire(),
            "args_digest": req.action.digest(),
        },
    )


def build(ledger: ReviewLedger) -> dict[str, str]:
    """Six decided requests, one open one, three closed reviews, ten routed items.

    Overrides by humans: INV-2 (reject, 0.15), INV-3 (modify, 0.35), INV-4 (respond,
    0.62) and INV-6 (a direct answer, 0.9). INV-1 is approved (0.05); INV-5 was rejected
    by the deadline sweep (0.01), not by a human. One review found a problem (0.72).
    """
    ids = {f"INV-{n}": ask(ledger, n, c) for n, c in [(1, 0.05), (2, 0.15), (3, 0.35)]}
    ids["INV-4"] = ask(ledger, 4, 0.62)
    ids["INV-5"] = ask(ledger, 5, 0.01, deadline_in=60)
    ids["INV-6"] = ask(ledger, 6, 0.9)
    ids["INV-7"] = ask(ledger, 7, 0.02)  # still pending
    ledger.record_decision(ids["INV-1"], Decision.approve(reviewer="ana", decided_at=day(3)))
    ledger.record_decision(
        ids["INV-2"],
        Decision.reject(
            "Hooli is not an approved vendor", reviewer="ana", comment="checked", decided_at=day(4)
        ),
    )
    ledger.record_decision(
        ids["INV-3"],
        Decision.modify(
            {"invoice_id": "INV-3", "amount": 250.0}, reviewer="ben", decided_at=day(5)
        ),
    )
    ledger.record_decision(
        ids["INV-4"], Decision.respond("paid by hand", reviewer="ana", decided_at=day(6))
    )
    assert ledger.sweep_step(ids["INV-5"], level=0, now=time.time() + 3600) == "timed_out"
    # A direct answer, as the gate takes it: recorded under the rules, then settled.
    direct = {"type": "reject", "message": "duplicate of INV-2"}
    ledger.record_decision(ids["INV-6"], Decision.model_validate(direct))
    ledger.claim(ids["INV-6"], "gate-claim")
    ledger.settle_task("INV-6", "task-6", [direct], finished=True, direct=True)
    for n, confidence, problem in [
        (8, 0.72, "paid twice"),
        (9, 0.95, None),
        (10, 0.99, None),
    ]:
        review_id = ledger.queue_review(thread_id=f"INV-{n}", request=request(n, confidence))
        ledger.close_review(review_id, problem=problem, reviewer="cy")
    ledger.queue_review(thread_id="INV-11", request=request(11, 0.5))  # still open
    routed: list[tuple[float | None, str]] = [
        (None, "escalated"),
        (0.1, "escalated"),
        (0.2, "escalated"),
        (0.3, "review"),
        (0.4, "review"),
        (0.5, "autonomous"),
        (0.6, "autonomous"),
        (0.7, "sampled"),
        (0.8, "autonomous"),
        (0.9, "autonomous"),
    ]
    for i, (confidence, outcome) in enumerate(routed):
        ledger.record_route(
            thread_id=f"R-{i}",
            node="route",
            step=1,
            routing={"outcome": outcome, "confidence": confidence, "reasons": []},
        )
    return ids


@pytest.fixture
def ledger() -> Any:
    ledger = ReviewLedger(sqlite3.connect(":memory:", check_same_thread=False))
    ledger.setup()
    ids = build(ledger)
    yield ledger, ids
    ledger.conn.close()


def without_created(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        assert datetime.fromisoformat(row["created_at"]).tzinfo is not None
    return [{k: v for k, v in row.items() if k != "created_at"} for row in rows]


def expected_rows(ids: dict[str, str], direct_decided_at: str) -> list[dict[str, Any]]:
    def row(n: int, confidence: float, chosen: dict[str, Any], **who: Any) -> dict[str, Any]:
        return {
            "request_id": ids[f"INV-{n}"],
            "thread_id": f"INV-{n}",
            "graph": "invoice",
            "gate": "approve_payment",
            "source": who.pop("source", "desk"),
            "summary": f"Pay INV-{n}",
            "proposed": {
                "name": "pay_invoice",
                "args": {"invoice_id": f"INV-{n}", "amount": 100.0 * n},
            },
            "chosen": {"args": None, "reason": None, "response": None, **chosen},
            "confidence": confidence,
            "tier": "medium",
            "reasons": [f"validation: unknown vendor 'V{n}'"],
            **who,
        }

    return [
        row(
            2,
            0.15,
            {"type": "reject", "reason": "Hooli is not an approved vendor"},
            reviewer="ana",
            comment="checked",
            decided_at="2025-03-04T09:00:00+00:00",
        ),
        row(
            3,
            0.35,
            {"type": "modify", "args": {"invoice_id": "INV-3", "amount": 250.0}},
            reviewer="ben",
            comment=None,
            decided_at="2025-03-05T09:00:00+00:00",
        ),
        row(
            4,
            0.62,
            {"type": "respond", "response": "paid by hand"},
            reviewer="ana",
            comment=None,
            decided_at="2025-03-06T09:00:00+00:00",
        ),
        row(
            6,
            0.9,
            {"type": "reject", "reason": "duplicate of INV-2"},
            source="direct",
            reviewer=None,
            comment=None,
            decided_at=direct_decided_at,
        ),
    ]


# -- overrides and their export ----------------------------------------------------------


def test_overrides_are_every_human_reject_modify_and_respond(ledger: Any) -> None:
    led, ids = ledger
    rows = overrides(led)
    direct_at = rows[-1]["decided_at"]
    assert datetime.fromisoformat(direct_at) > day(6)
    assert without_created(rows) == expected_rows(ids, direct_at)
    # The sweep's timeout rejection is in the ledger, and is not an override.
    swept = led.get(ids["INV-5"])
    assert swept.decision is not None and swept.decision.reviewer == SWEEP_ACTOR
    assert ids["INV-5"] not in {r["request_id"] for r in rows}


def test_overrides_since(ledger: Any) -> None:
    led, _ = ledger
    rows = overrides(led, since=day(5))
    assert [r["thread_id"] for r in rows] == ["INV-3", "INV-4", "INV-6"]
    assert overrides(led, since=datetime.now(UTC).replace(year=2100)) == []


def test_export_writes_one_json_line_per_override(ledger: Any) -> None:
    led, _ = ledger
    stream = io.StringIO()
    assert export_overrides(led, stream) == 4
    lines = stream.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == overrides(led)
    assert all(line == json.dumps(json.loads(line), sort_keys=True) for line in lines)


def test_training_examples_label_what_humans_changed(ledger: Any) -> None:
    led, ids = ledger
    examples = training_examples(led)
    labels = {e.ref: (e.source, e.label) for e in examples}
    assert labels[ids["INV-1"]] == ("decision", 0)
    assert labels[ids["INV-2"]] == labels[ids["INV-3"]] == labels[ids["INV-4"]] == ("decision", 1)
    # The sweep decided INV-5; INV-6 was answered straight to the graph, by nobody named.
    assert ids["INV-5"] not in labels and ids["INV-6"] not in labels
    reviews = sorted((e.request.confidence, e.label) for e in examples if e.source == "review")
    assert reviews == [(0.72, 1), (0.95, 0), (0.99, 0)]
    assert len(examples) == 7
    assert all(e.at.tzinfo is not None for e in examples)


# -- calibration -------------------------------------------------------------------------


def dump(led: ReviewLedger) -> list[str]:
    return list(led.conn.iterdump())


def test_calibrate_proposes_the_threshold_that_catches_most_within_the_target(
    ledger: Any,
) -> None:
    led, _ = ledger
    before = dump(led)
    report = calibrate(led, target_rate=0.4)
    assert dump(led) == before  # it proposes; it never changes anything
    assert report.applied is False
    assert (report.routed, report.overrides, report.problems) == (10, 4, 1)
    assert report.current_escalation_rate == 0.3
    # Escalating below 0.35 or 0.40 both escalate 4 of 10 (the one without a confidence,
    # 0.1, 0.2, 0.3); 0.40 also catches INV-3 (0.35): 2 of the 5 (with INV-2 at 0.15).
    assert report.review_at == 0.4
    assert report.proposed is not None
    assert (report.proposed.escalation_rate, report.proposed.caught) == (0.4, 2)
    assert report.proposed.caught_share == 0.4
    # All five are caught from 0.95 up (the direct answer at 0.9).
    assert report.autonomous_at == 0.95
    table = {r.threshold: (r.escalated, r.caught, r.meets_target) for r in report.rows}
    assert len(table) == 21
    assert table[0.0] == (1, 0, True)
    assert table[0.35] == (4, 1, True)
    assert table[0.45] == (5, 2, False)
    assert table[0.65] == (7, 3, False)
    assert table[0.75] == (8, 4, False)
    assert table[1.0] == (10, 5, False)
    data = report.to_json()
    assert data["proposal"] == {"review_at": 0.4, "autonomous_at": 0.95}
    assert data["applied"] is False


def test_calibrate_prefers_the_lower_threshold_on_a_tie(ledger: Any) -> None:
    led, _ = ledger
    # 0.20, 0.25 and 0.30 are all within 30% and all catch INV-2 (0.15) only.
    assert calibrate(led, target_rate=0.3).review_at == 0.2


def test_calibrate_when_no_threshold_meets_the_target(ledger: Any) -> None:
    led, _ = ledger
    report = calibrate(led, target_rate=0.05)  # the item without a confidence is 10%
    assert report.review_at is None and report.autonomous_at is None
    assert not any(r.meets_target for r in report.rows)


def test_calibrate_refuses_what_it_cannot_do() -> None:
    led = ReviewLedger(sqlite3.connect(":memory:", check_same_thread=False))
    led.setup()
    with pytest.raises(BadInputError, match="routing log is empty"):
        calibrate(led)
    led.record_route(thread_id="R-1", routing={"outcome": "autonomous", "confidence": 0.9})
    with pytest.raises(BadInputError, match="no overrides to calibrate on: 1 routed items"):
        calibrate(led)
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(BadInputError, match="target rate"):
            calibrate(led, target_rate=bad)
    led.conn.close()


# -- the CLI, as a real process ------------------------------------------------------------


@pytest.fixture
def db_file(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    db = tmp_path / "hitl.sqlite"
    with ReviewLedger.open(db, create=True) as led:
        ids = build(led)
    return db, ids


def test_cli_export_overrides(db_file: tuple[Path, dict[str, str]]) -> None:
    db, ids = db_file
    done = run_cli(db, "export", "--overrides")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert without_created(rows) == expected_rows(ids, rows[-1]["decided_at"])

    done = run_cli(db, "export", "--overrides", "--out", "o.jsonl", "--since", "1h")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip() == "wrote 1 overrides to o.jsonl"  # only the direct answer
    assert json.loads((db.parent / "o.jsonl").read_text())["thread_id"] == "INV-6"

    assert "--overrides" in one_line_error(run_cli(db, "export"), 2)
    assert "bad duration" in one_line_error(run_cli(db, "export", "--overrides", "--since", "x"), 2)


def test_cli_calibrate(db_file: tuple[Path, dict[str, str]]) -> None:
    db, _ = db_file
    done = run_cli(db, "calibrate", "--target-rate", "0.4", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["proposal"] == {"review_at": 0.4, "autonomous_at": 0.95}
    assert report["applied"] is False

    done = run_cli(db, "calibrate", "--target-rate", "0.4")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "0.40" in lines[10] and lines[10].endswith("<- review_at")
    assert lines[21].endswith("<- autonomous_at")
    assert lines[-2].startswith("proposed: review_at=0.40 (escalates 40%, catches 40%")
    assert "nothing was changed" in lines[-1]

    assert "target rate" in one_line_error(run_cli(db, "calibrate", "--target-rate", "2"), 2)
    missing = one_line_error(run_cli(db.parent / "nope.sqlite", "calibrate"), 2)
    assert "nope.sqlite" in missing
