"""Predictive escalation: features, training on generated history, the JSON model, the router.

The history is generated with the ledger API alone (no LangGraph): invoices whose chance
of being overridden depends on things confidence does not see (an unknown vendor, a
large amount) as well as on confidence itself, seeded so every run sees the same data.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from processes import one_line_error, run_cli

from langgraph_hitl.capture.gates import PAYLOAD_VERSION
from langgraph_hitl.capture.policy import ReviewPolicy, Tier
from langgraph_hitl.capture.predict import (
    MODEL_FORMAT,
    OverrideModel,
    TrainReport,
    reason_key,
    request_features,
    train,
)
from langgraph_hitl.errors import BadInputError, ConfigurationError
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.models import REQUEST_KIND, Action, ApprovalRequest, Decision

REPO = Path(__file__).resolve().parent.parent
KNOWN_VENDORS = ("Acme GmbH", "Initech LLC", "Globex", "Umbrella Corp")
AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


# -- generated history -----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    request: ApprovalRequest
    overridden: bool


def invoice_case(rng: random.Random, n: int) -> Case:
    """One invoice as the gate would show it, and whether a human changes the outcome.

    The truth: an unknown vendor or an amount over 20,000 makes an override likely
    whatever the confidence; low confidence makes it somewhat more likely.
    """
    unknown = rng.random() < 0.2
    vendor = f"Vendor {rng.randrange(100_000)}" if unknown else rng.choice(KNOWN_VENDORS)
    amount = round(math.exp(rng.gauss(8.3, 1.3)), 2)
    confidence = round(min(0.99, max(0.05, rng.gauss(0.68, 0.16))), 3)
    reasons = []
    if unknown:
        reasons.append(f"validation: unknown vendor {vendor!r}")
    if amount > 10_000:
        reasons.append(f"amount {amount:,.2f} is over the 10,000.00 limit")
    if confidence < 0.5:
        reasons.append(f"low confidence ({confidence:.2f} < 0.50)")
    if rng.random() < 0.25:
        reasons.append(f"validation: missing po_number on INV-{n}")
    tier = "high" if amount > 10_000 else rng.choice(("low", "medium"))
    z = -2.4 + 3.2 * unknown + 1.6 * (amount > 20_000) + 3.0 * (0.6 - confidence)
    overridden = rng.random() < 1 / (1 + math.exp(-z))
    request = ApprovalRequest(
        action=Action(
            name="pay_invoice",
            args={"invoice_id": f"INV-{n}", "vendor": vendor, "amount": amount},
        ),
        summary=f"Pay INV-{n}: {amount:,.2f} EUR to {vendor}",
        reasons=reasons,
        risk_tier=tier,
        confidence=confidence,
    )
    return Case(request, overridden)


def payload(request: ApprovalRequest, gate: str = "approve_payment") -> dict[str, Any]:
    """An interrupt payload shaped as `ApprovalGate.__call__` makes it."""
    return {
        "kind": REQUEST_KIND,
        "version": PAYLOAD_VERSION,
        "gate": gate,
        "request": request.to_wire(),
        "args_digest": request.action.digest(),
    }


def record_history(
    ledger: ReviewLedger, *, decided: int, reviewed: int = 0, seed: int = 0, start: int = 0
) -> None:
    """`decided` requests answered by reviewers and `reviewed` after-the-fact reviews closed."""
    rng = random.Random(seed)
    for n in range(start, start + decided):
        case = invoice_case(rng, n)
        rid = ledger.record_request(
            thread_id=f"INV-{n}", interrupt_id=f"int-{n}", payload=payload(case.request)
        )
        decision = Decision.approve(reviewer="ana")
        if case.overridden:
            decision = rng.choice(
                (
                    Decision.reject("vendor not approved", reviewer="ana"),
                    Decision.modify({**case.request.action.args, "amount": 100.0}, reviewer="ben"),
                    Decision.respond("paid by hand", reviewer="ben"),
                )
            )
        ledger.record_decision(rid, decision)
    for n in range(start + decided, start + decided + reviewed):
        case = invoice_case(rng, n)
        review_id = ledger.queue_review(thread_id=f"INV-{n}", request=case.request, node="pay")
        problem = "paid the wrong vendor" if case.overridden else None
        ledger.close_review(review_id, problem=problem, reviewer="cy")


def memory_ledger() -> ReviewLedger:
    ledger = ReviewLedger(sqlite3.connect(":memory:", check_same_thread=False))
    ledger.setup()
    return ledger


@pytest.fixture(scope="module")
def history() -> Iterator[ReviewLedger]:
    ledger = memory_ledger()
    record_history(ledger, decided=1200, reviewed=300)
    yield ledger
    ledger.conn.close()


@pytest.fixture(scope="module")
def trained(history: ReviewLedger) -> tuple[OverrideModel, TrainReport]:
    return train(history, seed=0)


# -- features --------------------------------------------------------------------------


def test_reason_keys_recur_across_invoices() -> None:
    assert reason_key("validation: unknown vendor 'Hooli'") == "validation unknown vendor"
    assert reason_key('validation: unknown vendor "Initrode"') == "validation unknown vendor"
    assert reason_key("amount 52,000.00 is over the 10,000.00 limit") == "amount is over the"
    assert reason_key("amount 1,200.00 is over the 1,000.00 limit") == "amount is over the"
    assert reason_key("low confidence (0.42 < 0.50)") == "low confidence"
    assert reason_key("duplicate: INV-7 was already paid") == "duplicate was already paid"
    assert reason_key("42") == ""


def test_features_of_a_request() -> None:
    request = ApprovalRequest(
        action=Action(
            name="pay_invoice",
            args={
                "invoice_id": "INV-7",
                "urgent": True,
                "lines": [{"unit_price": "1,250.50", "quantity": 3}, {"total_due": 900}],
                "reference": 123_456,
            },
        ),
        summary="Pay INV-7",
        reasons=["validation: unknown vendor 'Hooli'", "predicted override (p=0.91 >= 0.70)"],
        risk_tier="high",
    )
    feats = request_features(request, at=datetime(2025, 3, 1, 18, 0))  # naive: UTC
    assert feats["confidence"] == 0.0
    assert feats["confidence_missing"] == 1.0
    assert feats["amount_log"] == pytest.approx(math.log1p(1250.5))
    assert feats["amount_missing"] == 0.0
    assert feats["largest_number_log"] == pytest.approx(math.log1p(123_456))
    assert feats["hour_sin"] == pytest.approx(-1.0)
    assert feats["hour_cos"] == pytest.approx(0.0, abs=1e-12)
    # The model's own reason is never a feature: it would learn from itself.
    assert feats["reason_count"] == 1.0
    assert feats["reason=validation unknown vendor"] == 1.0
    assert feats["action=pay_invoice"] == feats["tier=high"] == 1.0
    assert not any(name.startswith("reason=predicted") for name in feats)


def test_no_numbers_and_other_time_zones() -> None:
    request = ApprovalRequest(
        action=Action(name="send_email", args={"to": "ada@example.com"}),
        summary="Email Ada",
        confidence=0.8,
    )
    from datetime import timedelta, timezone

    east = datetime(2025, 3, 1, 20, 0, tzinfo=timezone(timedelta(hours=2)))
    feats = request_features(request, at=east)
    assert feats["amount_missing"] == 1.0
    assert feats["amount_log"] == feats["largest_number_log"] == 0.0
    assert feats["confidence"] == 0.8
    assert feats["confidence_missing"] == 0.0
    assert feats["hour_sin"] == pytest.approx(math.sin(2 * math.pi * 18 / 24))


# -- training ----------------------------------------------------------------------------


def test_model_beats_confidence_alone_on_held_out_history(
    trained: tuple[OverrideModel, TrainReport],
) -> None:
    model, report = trained
    assert report.n_examples == 1500
    assert (report.from_decisions, report.from_reviews) == (1200, 300)
    assert report.n_test == 375 and report.n_train == 1125
    assert report.converged
    m, b = report.model, report.baseline
    assert m.precision is not None and b.precision is not None
    assert m.recall is not None and b.recall is not None
    # At (about) the same share of work flagged, the model catches more and wastes less.
    assert m.recall > b.recall + 0.15
    assert m.precision > b.precision + 0.15
    assert m.f1 > b.f1 + 0.15
    assert report.beats_baseline
    assert report.top_features[0][0] == "reason=validation unknown vendor"
    assert model.metrics == report.to_json()
    assert model.n_examples == report.n_train


def test_model_beats_every_confidence_threshold_on_fresh_history(
    trained: tuple[OverrideModel, TrainReport],
) -> None:
    """On history the model never saw, even the best confidence threshold chosen in
    hindsight on that very history does worse than the model at its own threshold."""
    model, _ = trained
    rng = random.Random(99)
    cases = [invoice_case(rng, 10_000 + n) for n in range(800)]
    truth = [c.overridden for c in cases]

    def f1(flags: list[bool]) -> float:
        caught = sum(f and t for f, t in zip(flags, truth, strict=True))
        if not caught:
            return 0.0
        precision, recall = caught / sum(flags), caught / sum(truth)
        return 2 * precision * recall / (precision + recall)

    model_f1 = f1([model.probability(c.request, at=AT) >= 0.7 for c in cases])
    best_threshold_f1 = max(
        f1([(c.request.confidence or 0.0) < t / 100 for c in cases]) for t in range(101)
    )
    assert model_f1 > best_threshold_f1 + 0.05, (model_f1, best_threshold_f1)


def test_training_is_reproducible(history: ReviewLedger) -> None:
    first, _ = train(history, seed=3)
    again, _ = train(history, seed=3)
    assert first.coefficients == again.coefficients
    assert first.intercept == again.intercept


def test_too_little_history_is_refused_with_counts() -> None:
    ledger = memory_ledger()
    with pytest.raises(BadInputError) as caught:
        train(ledger)
    assert "0 examples (0 overrides, 0 approvals)" in str(caught.value)
    record_history(ledger, decided=40)
    with pytest.raises(BadInputError, match=r"40 examples \(\d+ overrides, \d+ approvals\)"):
        train(ledger, min_per_class=30)
    assert caught.value.exit_code == 2


def test_bad_split_is_refused(history: ReviewLedger) -> None:
    with pytest.raises(BadInputError, match="test size"):
        train(history, test_size=1.0)


def test_training_without_scikit_learn_says_what_to_install(
    history: ReviewLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)
    with pytest.raises(ConfigurationError, match=r"install langgraph-hitl\[predict\]"):
        train(history)


# -- the JSON model ------------------------------------------------------------------------


def test_json_round_trip_gives_identical_probabilities(
    trained: tuple[OverrideModel, TrainReport], tmp_path: Path
) -> None:
    model, _ = trained
    path = model.save(tmp_path / "model.json")
    text = path.read_text()
    assert "pickle" not in text
    data = json.loads(text)
    assert data["format"] == MODEL_FORMAT
    assert len(data["feature_names"]) == len(data["coefficients"]) == len(data["scale"])
    loaded = OverrideModel.load(path)
    assert loaded == model
    rng = random.Random(5)
    for n in range(300):
        request = invoice_case(rng, n).request
        at = datetime(2025, 3, 1, n % 24, tzinfo=UTC)
        assert loaded.probability(request, at=at) == model.probability(request, at=at)
    # An action, tier and reason it never saw still score (as `<other>`).
    strange = ApprovalRequest(
        action=Action(name="wire_funds", args={"amount": 5}),
        summary="Wire",
        risk_tier="critical",
        reasons=["sanctions list hit"],
    )
    assert 0.0 < loaded.probability(strange, at=AT) < 1.0


def _edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["coefficients"].__setitem__(0, 9.0), "changed after training"),
        (lambda d: d.__setitem__("intercept", -3.0), "changed after training"),
        (lambda d: d.pop("digest"), "changed after training"),
        (lambda d: d["coefficients"].pop(), "coefficients has"),
        (lambda d: d["scale"].__setitem__(1, 0.0), "scale must be positive"),
        (lambda d: d.__setitem__("intercept", "high"), "intercept"),
        (lambda d: d.__setitem__("weights", []), "weights"),
        (lambda d: d["feature_names"].__setitem__(9, "colour=red"), "unknown feature"),
        (lambda d: d.__setitem__("format", "sklearn-pickle"), "not a langgraph-hitl override"),
    ],
)
def test_an_edited_model_file_is_refused(
    trained: tuple[OverrideModel, TrainReport], tmp_path: Path, change: Any, message: str
) -> None:
    path = trained[0].save(tmp_path / "model.json")
    _edit(path, change)
    with pytest.raises(ConfigurationError, match=message) as caught:
        OverrideModel.load(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_model_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read model"):
        OverrideModel.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": ')
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        OverrideModel.load(broken)
    broken.write_text("[1, 2]")
    with pytest.raises(ConfigurationError, match="not a JSON object"):
        OverrideModel.load(broken)


def test_probability_needs_no_scikit_learn(
    trained: tuple[OverrideModel, TrainReport], tmp_path: Path
) -> None:
    path = trained[0].save(tmp_path / "model.json")
    request = invoice_case(random.Random(1), 1).request
    script = (
        "import sys, json\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('sklearn', 'numpy', 'scipy'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from datetime import datetime\n"
        "from langgraph_hitl.models import ApprovalRequest\n"
        "from langgraph_hitl.capture.predict import OverrideModel\n"
        f"model = OverrideModel.load({str(path)!r})\n"
        f"req = ApprovalRequest.model_validate_json({request.model_dump_json()!r})\n"
        f"print(repr(model.probability(req, at=datetime.fromisoformat({AT.isoformat()!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == trained[0].probability(request, at=AT)


# -- the router --------------------------------------------------------------------------


def test_review_policy_escalates_what_the_model_flags(
    trained: tuple[OverrideModel, TrainReport],
) -> None:
    model, _ = trained
    policy = ReviewPolicy(
        tiers=[Tier(name="low"), Tier(name="medium"), Tier(name="high")], predictor=model
    )
    risky = ApprovalRequest(
        action=Action(
            name="pay_invoice",
            args={"invoice_id": "INV-9", "vendor": "Hooli", "amount": 48_000.0},
        ),
        summary="Pay INV-9: 48,000.00 EUR to Hooli",
        reasons=["validation: unknown vendor 'Hooli'"],
        risk_tier="medium",
        confidence=0.9,
    )
    score = model.probability(risky, at=AT)
    assert score >= 0.7
    routing = policy.route({}, risky, thread_id="INV-9", at=AT)
    assert routing.outcome == "escalated"
    assert routing.score == score
    (why,) = [r for r in routing.reasons if r.startswith("predicted override")]
    # The score, and what pushed it up: the context a reviewer needs.
    assert why.startswith(f"predicted override (p={score:.2f} >= 0.70): ")
    assert "reason=validation unknown vendor" in why
    assert model.explain(risky, at=AT)[0][0] == "reason=validation unknown vendor"

    routine = ApprovalRequest(
        action=Action(
            name="pay_invoice",
            args={"invoice_id": "INV-10", "vendor": "Acme GmbH", "amount": 1_200.0},
        ),
        summary="Pay INV-10: 1,200.00 EUR to Acme GmbH",
        risk_tier="low",
        confidence=0.92,
    )
    routing = policy.route({}, routine, thread_id="INV-10", at=AT)
    assert routing.score is not None and routing.score < 0.7
    assert routing.outcome == "autonomous"


# -- the CLI, as a real process ----------------------------------------------------------


def test_cli_train_on_an_empty_ledger_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    with ReviewLedger.open(db, create=True):
        pass
    line = one_line_error(run_cli(db, "train", cwd=tmp_path), 2)
    assert "not enough history to train: 0 examples" in line
    assert not (tmp_path / "override-model.json").exists()


def test_cli_train_saves_the_model_and_reports_held_out_scores(
    history: ReviewLedger, tmp_path: Path
) -> None:
    db = tmp_path / "hitl.sqlite"
    with sqlite3.connect(db) as target:
        history.conn.backup(target)
    target.close()
    done = run_cli(db, "train", "--out", "m.json", "--seed", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0].startswith("trained on 1125 of 1500 examples")
    assert lines[2].startswith("model (p >= 0.70)")
    assert lines[3].startswith("confidence < ")
    assert lines[-1] == "saved m.json"
    # The file holds the same held-out report, in full.
    report = OverrideModel.load(tmp_path / "m.json").metrics
    assert report["n_examples"] == 1500
    assert report["model"]["f1"] > report["baseline"]["f1"]
    assert "confidence below" in report["baseline"]["rule"]
    assert f"{report['model']['precision']:.2f}" in lines[2]


def test_cli_train_saves_beside_the_database_by_default(
    history: ReviewLedger, tmp_path: Path
) -> None:
    """Without --out the model lands where the invoice graph looks: beside the database."""
    (tmp_path / "data").mkdir()
    db = tmp_path / "data" / "hitl.sqlite"
    with sqlite3.connect(db) as target:
        history.conn.backup(target)
    target.close()
    done = run_cli(db, "train", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "data" / "override-model.json"
    assert json.loads(done.stdout)["model_path"] == str(saved)
    assert OverrideModel.load(saved).metrics["n_examples"] == 1500
    assert not (tmp_path / "override-model.json").exists()
