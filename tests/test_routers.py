"""ConfidenceRouter and RiskRules: pure routing decisions, each escalation with a reason."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langgraph_hitl.capture.routers import ConfidenceRouter, RiskRules, lookup
from langgraph_hitl.errors import ConfigurationError

RANK = {"escalate": 0, "review": 1, "autonomous": 2}

confidences = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


# -- ConfidenceRouter ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "route"),
    [
        (1.0, "autonomous"),
        (0.95, "autonomous"),
        (0.8, "autonomous"),
        (0.7999, "review"),
        (0.65, "review"),
        (0.5, "review"),
        (0.4999, "escalate"),
        (0.0, "escalate"),
    ],
)
def test_default_bands_and_boundaries(confidence: float, route: str) -> None:
    """0.8 and above acts alone, 0.5 up to 0.8 acts and is reviewed, below 0.5 asks."""
    assert ConfidenceRouter()({"confidence": confidence}) == route


@pytest.mark.parametrize("state", [{}, {"confidence": None}, {"confidence": "high"}])
def test_missing_or_non_numeric_confidence_escalates(state: dict[str, Any]) -> None:
    """No usable confidence score means a human decides."""
    router = ConfidenceRouter()
    assert router(state) == "escalate"
    assert router.reasons(state) == ["no confidence score"]


@pytest.mark.parametrize(
    ("confidence", "route"),
    [(0.9, "autonomous"), (0.89, "review"), (0.6, "review"), (0.59, "escalate")],
)
def test_custom_thresholds(confidence: float, route: str) -> None:
    """Custom thresholds move the band edges, inclusive at the lower edge."""
    router = ConfidenceRouter(autonomous_at=0.9, review_at=0.6, confidence_key="score")
    assert router({"score": confidence}) == route


def test_equal_thresholds_leave_no_review_band() -> None:
    """With both thresholds equal, work either runs alone or is escalated."""
    router = ConfidenceRouter(autonomous_at=0.7, review_at=0.7)
    assert router({"confidence": 0.7}) == "autonomous"
    assert router({"confidence": 0.69}) == "escalate"


@pytest.mark.parametrize(
    ("autonomous_at", "review_at"),
    [(0.5, 0.8), (1.1, 0.5), (0.8, -0.1), (float("nan"), 0.5), (0.8, float("nan"))],
)
def test_bad_thresholds_refused_at_construction(autonomous_at: float, review_at: float) -> None:
    """Thresholds out of order or outside 0..1 are a ConfigurationError naming them."""
    with pytest.raises(ConfigurationError, match="review_at="):
        ConfidenceRouter(autonomous_at=autonomous_at, review_at=review_at)


def test_rules_escalate_regardless_of_confidence() -> None:
    """A rule that fires escalates even at full confidence, and says why."""
    router = ConfidenceRouter(rules=RiskRules(max_amount=10_000, amount_key="invoice.amount"))
    state = {"confidence": 1.0, "invoice": {"amount": 52_000}}
    assert router(state) == "escalate"
    assert router.reasons(state) == ["amount 52,000.00 is over the 10,000.00 limit"]
    assert router({"confidence": 1.0, "invoice": {"amount": 120}}) == "autonomous"


def test_router_reasons_for_low_confidence() -> None:
    """The router's reasons name low confidence, and are empty when it would not escalate."""
    router = ConfidenceRouter()
    assert router.reasons({"confidence": 0.43}) == ["low confidence (0.43 < 0.50)"]
    assert router.reasons({"confidence": 0.65}) == []
    assert router.reasons({"confidence": 0.95}) == []


def test_router_reasons_not_repeated() -> None:
    """A reason found by both the rules and the bands is listed once."""
    router = ConfidenceRouter(rules=RiskRules(min_confidence=0.5))
    assert router.reasons({}) == ["no confidence score"]


@given(a=confidences, b=confidences)
def test_route_is_monotone_in_confidence(a: float, b: float) -> None:
    """With no rule firing, more confidence never means more human involvement."""
    router = ConfidenceRouter(rules=RiskRules(max_amount=10_000))
    low, high = sorted((a, b))
    assert (
        RANK[router({"confidence": low, "amount": 1})]
        <= RANK[router({"confidence": high, "amount": 1})]
    )


@given(
    thresholds=st.lists(confidences, min_size=2, max_size=2).map(sorted),
    confidence=confidences,
)
def test_route_matches_bands_for_any_valid_thresholds(
    thresholds: list[float], confidence: float
) -> None:
    """For any valid thresholds the route is exactly the band the confidence falls in."""
    review_at, autonomous_at = thresholds
    router = ConfidenceRouter(autonomous_at=autonomous_at, review_at=review_at)
    expected = (
        "autonomous"
        if confidence >= autonomous_at
        else "review"
        if confidence >= review_at
        else "escalate"
    )
    assert router({"confidence": confidence}) == expected


@given(confidence=confidences, amount=st.floats(min_value=10_000.01, max_value=1e12))
def test_firing_rule_always_escalates(confidence: float, amount: float) -> None:
    """Whatever the confidence, an amount over the limit escalates."""
    router = ConfidenceRouter(rules=RiskRules(max_amount=10_000))
    assert router({"confidence": confidence, "amount": amount}) == "escalate"


# -- RiskRules --------------------------------------------------------------------------


def test_no_rules_configured_never_fires() -> None:
    """Every rule is off unless configured."""
    rules = RiskRules()
    state = {"amount": 1e9, "action": "delete", "sentiment": -1, "domain": "legal"}
    assert rules.reasons(state) == []
    assert rules(state) == "continue"


@pytest.mark.parametrize(
    ("rules", "fires", "quiet", "reason"),
    [
        (
            RiskRules(max_amount=10_000),
            {"amount": 10_000.01},
            {"amount": 10_000},
            "amount 10,000.01 is over the 10,000.00 limit",
        ),
        (
            RiskRules(irreversible_actions={"delete_account", "wire_transfer"}),
            {"action": "delete_account"},
            {"action": "archive_account"},
            "delete_account cannot be undone",
        ),
        (
            RiskRules(min_sentiment=-0.3),
            {"sentiment": -0.8},
            {"sentiment": -0.3},
            "negative sentiment (-0.80 < -0.30)",
        ),
        (
            RiskRules(regulated_domains=["legal", "medical"]),
            {"domain": "medical"},
            {"domain": "billing"},
            "regulated domain: medical",
        ),
        (
            RiskRules(min_confidence=0.6),
            {"confidence": 0.59},
            {"confidence": 0.6},
            "low confidence (0.59 < 0.60)",
        ),
        (
            RiskRules(min_confidence=0.6),
            {},
            {"confidence": 0.9},
            "no confidence score",
        ),
    ],
    ids=["amount", "irreversible", "sentiment", "domain", "confidence", "no-confidence"],
)
def test_each_rule_fires_with_a_reason_and_is_quiet_otherwise(
    rules: RiskRules, fires: dict[str, Any], quiet: dict[str, Any], reason: str
) -> None:
    """Each rule escalates with its reason in words, and stays quiet at or inside its limit."""
    assert rules.reasons(fires) == [reason]
    assert rules(fires) == "escalate"
    assert rules.reasons(quiet) == []
    assert rules(quiet) == "continue"


def test_extra_rules_add_their_reasons() -> None:
    """Custom rules add their reason when they return one, and nothing for None or ''."""

    def duplicate(state: dict[str, Any]) -> str | None:
        return "possible duplicate of INV-6" if state.get("duplicate") else None

    def silent(state: dict[str, Any]) -> str | None:
        return ""

    rules = RiskRules(max_amount=100, extra=[duplicate, silent])
    assert rules.reasons({"amount": 5, "duplicate": True}) == ["possible duplicate of INV-6"]
    assert rules.reasons({"amount": 500, "duplicate": True}) == [
        "amount 500.00 is over the 100.00 limit",
        "possible duplicate of INV-6",
    ]
    assert rules.reasons({"amount": 5}) == []


def test_all_rules_fire_together_in_order() -> None:
    """Several rules firing are all listed, in the documented order."""
    rules = RiskRules(
        max_amount=10,
        irreversible_actions=["wire"],
        min_sentiment=0.0,
        regulated_domains=["legal"],
        min_confidence=0.5,
        extra=[lambda s: "custom"],
    )
    state = {"amount": 11, "action": "wire", "sentiment": -0.5, "domain": "legal"}
    assert rules.reasons(state) == [
        "amount 11.00 is over the 10.00 limit",
        "wire cannot be undone",
        "negative sentiment (-0.50 < 0.00)",
        "regulated domain: legal",
        "no confidence score",
        "custom",
    ]


def test_dotted_keys_walk_into_nested_state() -> None:
    """Dotted keys read nested dicts; a missing step reads as absent."""
    rules = RiskRules(
        max_amount=10_000,
        amount_key="invoice.totals.amount",
        regulated_domains=["legal"],
        domain_key="ticket.meta.domain",
    )
    state = {"invoice": {"totals": {"amount": 52_000}}, "ticket": {"meta": {"domain": "legal"}}}
    assert rules.reasons(state) == [
        "amount 52,000.00 is over the 10,000.00 limit",
        "regulated domain: legal",
    ]
    assert rules.reasons({"invoice": {"amount": 52_000}}) == []
    assert rules.reasons({"invoice": None}) == []


def test_dotted_keys_read_attributes_of_objects() -> None:
    """State held in objects (dataclasses, pydantic models) is read by attribute."""

    @dataclass
    class Invoice:
        amount: float

    @dataclass
    class State:
        invoice: Invoice
        confidence: float

    state = State(invoice=Invoice(amount=52_000), confidence=0.95)
    assert lookup(state, "invoice.amount") == 52_000
    assert lookup(state, "invoice.currency", "EUR") == "EUR"
    router = ConfidenceRouter(rules=RiskRules(max_amount=10_000, amount_key="invoice.amount"))
    assert router(state) == "escalate"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_amount": -1},
        {"min_sentiment": -1.5},
        {"min_sentiment": 2},
        {"min_confidence": 1.2},
        {"min_confidence": -0.1},
        {"extra": ["not callable"]},
    ],
)
def test_bad_rules_refused_at_construction(kwargs: dict[str, Any]) -> None:
    """Misconfigured rules fail when built, not halfway through a run."""
    with pytest.raises(ConfigurationError):
        RiskRules(**kwargs)


def test_routers_are_pure() -> None:
    """Same input, same output, and the state passed in is never changed."""
    router = ConfidenceRouter(
        rules=RiskRules(
            max_amount=10_000,
            amount_key="invoice.amount",
            irreversible_actions=["wire"],
            min_confidence=0.5,
            extra=[lambda s: "flagged" if s.get("flag") else None],
        )
    )
    states = [
        {"confidence": 0.95, "invoice": {"amount": 120}, "action": "pay"},
        {"confidence": 0.65, "invoice": {"amount": 120}, "action": "pay"},
        {"confidence": 0.95, "invoice": {"amount": 52_000}, "action": "pay", "flag": True},
        {"invoice": {"amount": 120}, "action": "wire"},
    ]
    for state in states:
        snapshot = copy.deepcopy(state)
        first = (router(state), router.reasons(state), router.rules.reasons(state))  # type: ignore[union-attr]
        second = (router(state), router.reasons(state), router.rules.reasons(state))  # type: ignore[union-attr]
        assert first == second
        assert state == snapshot
    assert [router(s) for s in states] == ["autonomous", "review", "escalate", "escalate"]


@pytest.mark.parametrize("confidence", [float("nan"), 45, 1.5, -0.1, True, "0.9"])
def test_unusable_confidence_fails_closed(confidence: Any) -> None:
    """NaN, a percentage, a bool or text is not a confidence: a human decides."""
    router = ConfidenceRouter()
    assert router({"confidence": confidence}) == "escalate"
    assert router.reasons({"confidence": confidence}) == ["no confidence score"]


def test_amount_as_text_is_read_and_unreadable_amount_escalates() -> None:
    """OCR text like "52,000" still trips the limit; text that is no number escalates."""
    rules = RiskRules(max_amount=10_000)
    assert rules.reasons({"amount": "52,000"}) == ["amount 52,000.00 is over the 10,000.00 limit"]
    assert rules({"amount": "fifty thousand"}) == "escalate"
    assert rules({"amount": float("nan")}) == "escalate"
    assert rules({}) == "continue"
