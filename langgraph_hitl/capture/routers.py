"""Routers: pure functions of state for `add_conditional_edges`.

An `interrupt()` inside a conditional edge re-runs the node before it, so routers
never pause and never write: they decide, and escalation is its own gate node.
`RiskRules.reasons(state)` says *why* in words; write those reasons to state in a
node so the gate can show them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal, TypeAlias

from langgraph_hitl.errors import ConfigurationError

Route: TypeAlias = Literal["autonomous", "review", "escalate"]
"""Where a router sends work: act alone, act and queue for review, or ask a human."""

RiskRule: TypeAlias = Callable[[Any], str | None]
"""A custom rule: returns the reason to escalate, or None."""

_MISSING = object()


def as_number(value: Any) -> float | None:
    """A finite number from a state value (numeric text included), else None.

    `True` is not a number here, and neither is NaN: rules fail closed on them.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.replace(",", ""))
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def as_confidence(value: Any) -> float | None:
    """A confidence in 0..1, else None (missing, NaN, a percentage, text)."""
    number = None if isinstance(value, str) else as_number(value)
    return number if number is not None and 0.0 <= number <= 1.0 else None


def lookup(state: Any, key: str, default: Any = None) -> Any:
    """Read `key` from state; dots walk into nested dicts (`"invoice.amount"`)."""
    value: Any = state
    for part in key.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        else:
            value = getattr(value, part, _MISSING)
        if value is _MISSING:
            return default
    return value


class RiskRules:
    """Rules that escalate regardless of confidence, each saying why.

    Every rule is off unless configured. Keys name state fields; dots walk into dicts.

    Args:
        max_amount: Escalate when the amount is over this value.
        amount_key: Where the amount is.
        irreversible_actions: Action names that always escalate.
        action_key: Where the action name is.
        min_sentiment: Escalate when sentiment (-1..1) is below this value.
        sentiment_key: Where the sentiment score is.
        regulated_domains: Domains that always escalate (e.g. `"legal"`, `"medical"`).
        domain_key: Where the domain is.
        min_confidence: Escalate when confidence is below this value (or missing).
        confidence_key: Where the confidence is.
        extra: Custom rules, each returning a reason or None.

    Example:
        >>> rules = RiskRules(max_amount=10_000, amount_key="invoice.amount")
        >>> rules.reasons({"invoice": {"amount": 52_000}})
        ['amount 52,000.00 is over the 10,000.00 limit']
        >>> rules({"invoice": {"amount": 120}})
        'continue'
    """

    def __init__(
        self,
        *,
        max_amount: float | None = None,
        amount_key: str = "amount",
        irreversible_actions: Collection[str] = (),
        action_key: str = "action",
        min_sentiment: float | None = None,
        sentiment_key: str = "sentiment",
        regulated_domains: Collection[str] = (),
        domain_key: str = "domain",
        min_confidence: float | None = None,
        confidence_key: str = "confidence",
        extra: Sequence[RiskRule] = (),
    ) -> None:
        if max_amount is not None and max_amount < 0:
            raise ConfigurationError(f"max_amount must be >= 0, got {max_amount}")
        if min_sentiment is not None and not -1.0 <= min_sentiment <= 1.0:
            raise ConfigurationError(f"min_sentiment must be in -1..1, got {min_sentiment}")
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise ConfigurationError(f"min_confidence must be in 0..1, got {min_confidence}")
        if not all(callable(rule) for rule in extra):
            raise ConfigurationError("every extra rule must be callable(state) -> str | None")
        self.max_amount = max_amount
        self.amount_key = amount_key
        self.irreversible_actions = frozenset(irreversible_actions)
        self.action_key = action_key
        self.min_sentiment = min_sentiment
        self.sentiment_key = sentiment_key
        self.regulated_domains = frozenset(regulated_domains)
        self.domain_key = domain_key
        self.min_confidence = min_confidence
        self.confidence_key = confidence_key
        self.extra = tuple(extra)

    def reasons(self, state: Any) -> list[str]:
        """Every rule that fires for this state, in words a reviewer reads."""
        found: list[str] = []
        if self.max_amount is not None:
            raw = lookup(state, self.amount_key)
            amount = as_number(raw)
            if amount is None and raw is not None:
                # Fail closed: a limit nobody can check is not a limit that passed.
                found.append(f"amount unreadable ({raw!r}), so the limit cannot be checked")
            elif amount is not None and amount > self.max_amount:
                found.append(f"amount {amount:,.2f} is over the {self.max_amount:,.2f} limit")
        if self.irreversible_actions:
            action = lookup(state, self.action_key)
            if action in self.irreversible_actions:
                found.append(f"{action} cannot be undone")
        if self.min_sentiment is not None:
            sentiment = as_number(lookup(state, self.sentiment_key))
            if sentiment is not None and sentiment < self.min_sentiment:
                found.append(f"negative sentiment ({sentiment:.2f} < {self.min_sentiment:.2f})")
        if self.regulated_domains:
            domain = lookup(state, self.domain_key)
            if domain in self.regulated_domains:
                found.append(f"regulated domain: {domain}")
        if self.min_confidence is not None:
            confidence = as_confidence(lookup(state, self.confidence_key))
            if confidence is None:
                found.append("no confidence score")
            elif confidence < self.min_confidence:
                found.append(f"low confidence ({confidence:.2f} < {self.min_confidence:.2f})")
        for rule in self.extra:
            reason = rule(state)
            if reason:
                found.append(reason)
        return found

    def __call__(self, state: Any) -> Literal["escalate", "continue"]:
        """`escalate` if any rule fires, else `continue`."""
        return "escalate" if self.reasons(state) else "continue"


class ConfidenceRouter:
    """Routes on confidence bands, after risk rules that escalate regardless.

    Args:
        autonomous_at: Confidence at or above which work runs alone (default 0.8).
        review_at: Confidence at or above which work runs and is queued for review
            after the fact (default 0.5); below it, a human decides first.
        confidence_key: Where the confidence is in state (dots walk into dicts).
        rules: Risk rules checked first; any that fires means `escalate`.

    Example:
        >>> route = ConfidenceRouter(rules=RiskRules(max_amount=10_000))
        >>> route({"confidence": 0.95, "amount": 120})
        'autonomous'
        >>> route({"confidence": 0.65, "amount": 120})
        'review'
        >>> route({"confidence": 0.95, "amount": 52_000})
        'escalate'
    """

    def __init__(
        self,
        *,
        autonomous_at: float = 0.8,
        review_at: float = 0.5,
        confidence_key: str = "confidence",
        rules: RiskRules | None = None,
    ) -> None:
        if not 0.0 <= review_at <= autonomous_at <= 1.0:
            raise ConfigurationError(
                "thresholds must satisfy 0 <= review_at <= autonomous_at <= 1, got "
                f"review_at={review_at}, autonomous_at={autonomous_at}"
            )
        self.autonomous_at = autonomous_at
        self.review_at = review_at
        self.confidence_key = confidence_key
        self.rules = rules

    def reasons(self, state: Any) -> list[str]:
        """Why this state would be escalated (empty if it would not)."""
        found = self.rules.reasons(state) if self.rules is not None else []
        confidence = as_confidence(lookup(state, self.confidence_key))
        if confidence is None:
            found.append("no confidence score")
        elif confidence < self.review_at:
            found.append(f"low confidence ({confidence:.2f} < {self.review_at:.2f})")
        return list(dict.fromkeys(found))

    def __call__(self, state: Any) -> Route:
        if self.rules is not None and self.rules.reasons(state):
            return "escalate"
        confidence = as_confidence(lookup(state, self.confidence_key))
        if confidence is None or confidence < self.review_at:
            # Missing, NaN, out of 0..1: fail closed, a human looks.
            return "escalate"
        return "autonomous" if confidence >= self.autonomous_at else "review"
