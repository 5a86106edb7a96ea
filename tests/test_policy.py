"""ReviewPolicy: tiers, sampling, routing outcomes and the terms stamped on requests."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from langgraph_hitl import (
    ApprovalRequest,
    ConfidenceRouter,
    ConfigurationError,
    ReviewPolicy,
    RiskRules,
    Tier,
)
from langgraph_hitl.capture.policy import sample_draw

ROLES = ["junior", "senior", "manager"]


def policy(**kwargs: Any) -> ReviewPolicy:
    return ReviewPolicy(
        roles=ROLES,
        tiers=[
            Tier(name="low", role="junior"),
            Tier(name="medium", role="senior", sample_rate=0.1, deadline="4h"),
            Tier(name="high", role="manager", escalate=True, deadline="8h"),
            Tier(name="critical", role="manager", escalate=True, quorum=2, deadline="8h"),
        ],
        **kwargs,
    )


def request(tier: str = "medium", **fields: Any) -> ApprovalRequest:
    return ApprovalRequest.model_validate(
        {
            "action": {"name": "pay_invoice", "args": {"invoice_id": "INV-7", "amount": 1250}},
            "summary": "Pay INV-7: 1,250.00 EUR to Acme GmbH",
            "risk_tier": tier,
            "confidence": 0.93,
            **fields,
        }
    )


def test_sampling_rate_is_within_binomial_bounds_and_reproducible() -> None:
    """10,000 medium items at 10%: the sample is 10% within 4.5 sd, the same every run."""
    pol = policy(seed=20261125)
    req = request("medium")
    outcomes = [pol.route({}, req, thread_id=f"inv-{i}").outcome for i in range(10_000)]
    sampled = outcomes.count("sampled")
    sd = math.sqrt(10_000 * 0.1 * 0.9)
    assert abs(sampled - 1_000) < 4.5 * sd, sampled
    assert set(outcomes) == {"sampled", "autonomous"}
    again = [pol.route({}, req, thread_id=f"inv-{i}").outcome for i in range(10_000)]
    assert again == outcomes
    other = policy(seed=7)
    moved = [other.route({}, req, thread_id=f"inv-{i}").outcome for i in range(10_000)]
    assert moved != outcomes
    assert abs(moved.count("sampled") - 1_000) < 4.5 * sd


def test_low_tier_is_never_sampled_and_high_always_escalates() -> None:
    pol = policy()
    low = [pol.route({}, request("low"), thread_id=f"t{i}") for i in range(2_000)]
    assert {r.outcome for r in low} == {"autonomous"}
    assert all(r.sample_rate == 0.0 for r in low)
    high = pol.route({}, request("high"), thread_id="t1")
    assert high.outcome == "escalated" and high.needs_human and high.route == "escalate"
    assert "tier high always goes to a human" in high.reasons


def test_sample_draw_is_uniform_enough() -> None:
    draws = [sample_draw("s", f"t{i}") for i in range(10_000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    # Each tenth of [0, 1) holds 1,000 +- 4.5 sd of the draws.
    for k in range(10):
        count = sum(k / 10 <= d < (k + 1) / 10 for d in draws)
        assert abs(count - 1_000) < 4.5 * math.sqrt(900), (k, count)


def test_router_bands_and_rules_decide_before_sampling() -> None:
    router = ConfidenceRouter(rules=RiskRules(max_amount=10_000, amount_key="amount"))
    pol = policy(router=router)
    calm = pol.route({"confidence": 0.95, "amount": 120}, request("low"), thread_id="t")
    assert calm.outcome == "autonomous"
    middling = pol.route({"confidence": 0.65, "amount": 120}, request("low"), thread_id="t")
    assert (middling.outcome, middling.sample_rate) == ("review", 1.0)
    big = pol.route({"confidence": 0.95, "amount": 52_000}, request("low"), thread_id="t")
    assert big.outcome == "escalated"
    assert "amount 52,000.00 is over the 10,000.00 limit" in big.reasons
    # Missing confidence fails closed, whatever the tier says.
    assert pol.route({"amount": 1}, request("low"), thread_id="t").outcome == "escalated"


def test_unknown_tier_fails_closed() -> None:
    routing = policy().route({}, request("platinum"), thread_id="t")
    assert routing.outcome == "escalated"
    assert "unknown risk tier 'platinum'" in routing.reasons
    stamped = policy().stamp(request("platinum"))
    assert stamped.review_roles == ["manager"]


class Scores:
    """A predictor double: scores by amount, as a trained model would from its features."""

    def probability(self, request: ApprovalRequest, *, at: datetime | None = None) -> float:
        return 0.9 if request.action.args["amount"] > 1_000 else 0.1


def test_predictor_escalates_at_its_threshold_and_says_why() -> None:
    pol = policy(predictor=Scores())
    flagged = pol.route({}, request("low"), thread_id="t")
    assert flagged.outcome == "escalated"
    assert flagged.score == 0.9
    assert "predicted override (p=0.90 >= 0.70)" in flagged.reasons
    calm = request("low", action={"name": "pay_invoice", "args": {"amount": 10}})
    assert pol.route({}, calm, thread_id="t").outcome == "autonomous"
    assert pol.with_predictor(Scores(), threshold=0.95).route(
        {}, request("low"), thread_id="t"
    ).outcome == ("autonomous")


def test_stamp_writes_the_tier_terms_and_keeps_what_the_request_set() -> None:
    pol = policy()
    medium = pol.stamp(request("medium"))
    assert medium.review_roles == ["senior", "manager"]
    assert medium.reviewer_role == "senior"
    assert medium.deadline_in == 4 * 3600
    assert (medium.quorum, medium.on_timeout, medium.bar_owner) == (1, "reject", True)
    assert pol.stamp(request("critical")).quorum == 2
    assert pol.stamp(request("low")).review_roles == ROLES
    own = pol.stamp(request("high", review_roles=["senior", "manager"], deadline_in=60))
    assert own.review_roles == ["senior", "manager"]
    assert own.deadline_in == 60
    # Stamping is pure: the same request gives the same wire payload every time.
    assert pol.stamp(request("high")).to_wire() == pol.stamp(request("high")).to_wire()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tiers": []}, "at least one tier"),
        ({"tiers": [Tier(name="a", role="boss")]}, "names role 'boss'"),
        ({"tiers": [Tier(name="a"), Tier(name="a")]}, "defined twice"),
        ({"tiers": [{"name": "a", "sample_rate": 1.5}]}, "sample_rate"),
        (
            {"tiers": [Tier(name="a", escalate=True, on_timeout="approve")]},
            "may not approve on timeout",
        ),
        ({"tiers": [Tier(name="a")], "threshold": 1.2}, "threshold"),
        ({"tiers": [Tier(name="a")], "roles": ["x", "x"]}, "repeat"),
    ],
)
def test_bad_configuration_is_refused_when_built(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ReviewPolicy(**{"roles": ROLES, **kwargs})


def test_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        'roles = ["junior", "senior", "manager"]\nseed = 7\nthreshold = 0.8\n'
        '[tiers.low]\nrole = "junior"\n'
        '[tiers.medium]\nrole = "senior"\nsample_rate = 0.1\ndeadline = "4h"\n'
        '[tiers.high]\nrole = "manager"\nescalate = true\nquorum = 2\n'
    )
    pol = ReviewPolicy.from_toml(path)
    assert pol.roles == ROLES and pol.seed == 7 and pol.threshold == 0.8
    assert pol.tiers["medium"].deadline == 4 * 3600
    assert pol.tiers["high"].quorum == 2
    path.write_text("roles = [\n")
    with pytest.raises(ConfigurationError, match="cannot read policy"):
        ReviewPolicy.from_toml(path)
    path.write_text('colour = "blue"\n[tiers.low]\n')
    with pytest.raises(ConfigurationError, match="unknown keys"):
        ReviewPolicy.from_toml(path)
    path.write_text('[tiers.low]\ndeadline = "soon"\n')
    with pytest.raises(ConfigurationError, match="bad duration"):
        ReviewPolicy.from_toml(path)


@pytest.mark.parametrize("literal", ["nan", "inf", "-inf", "+inf"])
@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("[policy.tiers.low]\nrole = 'junior'\nsample_rate = {}", "tiers.low.sample_rate"),
        ("[policy.tiers.low]\nrole = 'junior'\ndeadline = {}", "tiers.low.deadline"),
        ("[policy]\nthreshold = {}\n[policy.tiers.low]\nrole = 'junior'", "threshold"),
    ],
)
def test_from_toml_refuses_nan_and_infinity(
    tmp_path: Path, line: str, where: str, literal: str
) -> None:
    """TOML has nan and inf literals; no rate, deadline or threshold may be one."""
    path = tmp_path / "hitl.toml"
    path.write_text(
        "[policy]\nroles = ['junior']\n" + line.replace("[policy]\n", "").format(literal)
    )
    with pytest.raises(ConfigurationError, match=f"{where}: .* is not a finite number"):
        ReviewPolicy.from_toml(path)
    with pytest.raises(ValueError, match="finite number"):
        Tier(name="low", deadline=float(literal))


def test_request_role_chain_is_consistent() -> None:
    assert request(reviewer_role="senior").review_roles == ["senior"]
    with pytest.raises(ValueError, match="not the first"):
        request(reviewer_role="junior", review_roles=["senior", "manager"])
    with pytest.raises(ValueError, match="repeats"):
        request(review_roles=["senior", "senior"])


def test_one_hitl_toml_holds_policy_notify_metrics_and_serializer(repo_root: Path) -> None:
    """examples/hitl.toml: each part reads its own table from the one file."""
    from langgraph_hitl.checkpointing._serde import allowed_by_config
    from langgraph_hitl.insight.metrics import MetricsConfig
    from langgraph_hitl.notify import NotifyConfig

    path = repo_root / "examples" / "hitl.toml"
    pol = ReviewPolicy.from_toml(path)
    assert pol.roles == ROLES and pol.seed == 20261125
    assert (pol.tiers["critical"].quorum, pol.tiers["medium"].sample_rate) == (2, 0.1)
    assert pol.tiers["low"].sample_rate == 0.1 and pol.irreversible_actions == {"pay_invoice"}
    assert pol.eligible_roles("medium") == ["senior", "manager"]
    assert MetricsConfig.from_toml(path).human_cost_per_hour == 60
    assert NotifyConfig.load(path, env={}).configured
    assert allowed_by_config(path.parent, {"LANGGRAPH_HITL_CONFIG": str(path)}) == set()


# -- irreversible actions with problems ---------------------------------------------------


LOOKALIKE = "vendor: 'lnitech LLC' is not in the vendor master; looks like Initech LLC"


@pytest.mark.parametrize("tier", ["low", "medium"])
@pytest.mark.parametrize("confidence", [0.99, 0.6])
def test_an_irreversible_action_with_a_problem_goes_to_a_human_first(
    tier: str, confidence: float
) -> None:
    """Whatever the tier and confidence: paying cannot be undone, so a flagged invoice
    is not paid and reviewed afterwards, it waits."""
    router = ConfidenceRouter(autonomous_at=0.9, review_at=0.5)
    pol = policy(router=router, irreversible_actions=["pay_invoice"])
    state = {"confidence": confidence}
    flagged = request(tier, confidence=confidence, problems=[LOOKALIKE])
    routing = pol.route(state, flagged, thread_id="INV-7")
    assert routing.outcome == "escalated" and routing.needs_human
    assert routing.reasons[-1] == (
        "pay_invoice cannot be undone and has 1 validation problem: a human decides first"
    )
    # Clean, the same invoice runs alone (and is reviewed afterwards when unsure).
    clean = pol.route(state, request(tier, confidence=confidence), thread_id="INV-7")
    assert clean.outcome in ({"autonomous", "sampled"} if confidence > 0.9 else {"review"})


def test_a_reversible_action_with_a_problem_may_run_and_be_reviewed_afterwards() -> None:
    pol = policy(irreversible_actions=["pay_invoice"])
    draft = request(
        "low", action={"name": "draft_email", "args": {"to": "ap@acme.example"}}, problems=["x"]
    )
    assert pol.holds(draft) is None
    assert pol.route({}, draft, thread_id="t").outcome == "autonomous"
    # A policy that names no irreversible action holds nothing: `check` says so.
    assert policy().holds(request("low", problems=[LOOKALIKE])) is None


def test_irreversible_actions_survive_a_predictor_and_load_from_toml(tmp_path: Path) -> None:
    pol = policy(irreversible_actions=["pay_invoice"])
    assert pol.with_predictor(Scores()).irreversible_actions == {"pay_invoice"}
    two = request("low", problems=[LOOKALIKE, "po: no purchase order"])
    assert pol.holds(two) == (
        "pay_invoice cannot be undone and has 2 validation problems: a human decides first"
    )
    path = tmp_path / "policy.toml"
    path.write_text('irreversible_actions = ["pay_invoice"]\n[tiers.low]\n')
    assert ReviewPolicy.from_toml(path).irreversible_actions == {"pay_invoice"}


@pytest.mark.parametrize("names", ["pay_invoice", [""], [3]])
def test_irreversible_actions_must_be_action_names(names: Any) -> None:
    with pytest.raises(ConfigurationError, match="irreversible_actions takes action names"):
        policy(irreversible_actions=names)
