"""Review policy: risk tiers, who may decide them, deadlines, sampling and the routing log.

A `ReviewPolicy` answers two questions for a graph:

* **Where does this work go?** `route()` combines the confidence router, the tier's
  own rules (a high tier always escalates), an optional predictor of human overrides,
  and deterministic sampling of lower-risk work for review after the fact. The answer
  is a `Routing` (`autonomous`, `sampled`, `review` or `escalated`, and why), and
  `record_route()` writes it to the ledger's routing log, which metrics read.
* **What may run before anyone looks?** Only what can be undone, or is clean. An
  action the policy lists in `irreversible_actions` whose request carries any
  validation problem (`ApprovalRequest.problems`) goes to a human first, whatever its
  tier and confidence: execute-then-review is for reversible or clean work.
  `langgraph-hitl check` fails a graph whose irreversible node runs without a gate
  under a policy that does not hold such work.
* **Who may decide it, and by when?** `stamp()` writes the tier's terms onto an
  `ApprovalRequest` (the role chain, quorum, deadline per step, what happens when the
  chain runs out), so the CLI can enforce them from the ledger alone, without the graph.

Routers stay pure: `route()` reads state and returns a value; recording is a separate,
idempotent call made from a node.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from langgraph_hitl._input import read_file, unusable
from langgraph_hitl._time import seconds
from langgraph_hitl.errors import BadInputError, ConfigurationError
from langgraph_hitl.models import ApprovalRequest

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from langgraph_hitl.capture.routers import ConfidenceRouter
    from langgraph_hitl.ledger import ReviewLedger

RouteOutcome: TypeAlias = Literal["autonomous", "sampled", "review", "escalated"]
"""What happened to a piece of work: done alone, done and sampled for review, done and
queued for review (middle confidence), or sent to a human first."""

ROUTE_OUTCOMES: tuple[RouteOutcome, ...] = ("autonomous", "sampled", "review", "escalated")


class OverridePredictor(Protocol):
    """Anything that scores how likely a human is to change an action's outcome (0..1)."""

    def probability(self, request: ApprovalRequest, *, at: datetime | None = None) -> float: ...


class Tier(BaseModel):
    """One risk tier: who may decide it, how many must agree, how fast, how it is sampled.

    Example:
        >>> Tier(name="high", role="manager", escalate=True, deadline="8h").deadline
        28800.0
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1)
    """The tier's name, as requests carry it in `risk_tier`."""
    role: str | None = None
    """The lowest reviewer role that may decide it; higher roles may too."""
    escalate: bool = False
    """Always send this tier to a human first, whatever the confidence."""
    sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of this tier's work done alone that is sampled for review after the fact."""
    quorum: int = Field(default=1, ge=1)
    """How many different reviewers must approve."""
    deadline: float | None = Field(default=None, gt=0)
    """Seconds each step of the escalation chain has (`"4h"`, `"30m"` accepted)."""
    on_timeout: Literal["reject", "approve"] = "reject"
    """The decision `sweep` takes once the whole chain let the deadline pass."""
    bar_owner: bool = True
    """Refuse approvals by whoever triggered or owns the work."""

    @field_validator("deadline", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return seconds(value)


@dataclass(frozen=True, kw_only=True)
class Routing:
    """Where one piece of work went, and why.

    Example:
        >>> r = Routing(outcome="escalated", tier="high", reasons=["amount over 10,000"])
        >>> r.needs_human, r.route
        (True, 'escalate')
    """

    outcome: RouteOutcome
    tier: str | None = None
    reasons: list[str] = field(default_factory=list)
    confidence: float | None = None
    score: float | None = None
    """The predictor's probability that a human would change the outcome, if one ran."""
    sampled: bool = False
    sample_rate: float | None = None

    @property
    def needs_human(self) -> bool:
        """True when the work must wait at a gate."""
        return self.outcome == "escalated"

    @property
    def route(self) -> Literal["autonomous", "review", "escalate"]:
        """The `ConfidenceRouter` word for the outcome: work sampled is work reviewed."""
        if self.outcome == "escalated":
            return "escalate"
        return "autonomous" if self.outcome == "autonomous" else "review"

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "tier": self.tier,
            "reasons": list(self.reasons),
            "confidence": self.confidence,
            "score": self.score,
            "sampled": self.sampled,
            "sample_rate": self.sample_rate,
        }


def sample_draw(seed: int | str, thread_id: str) -> float:
    """A uniform number in [0, 1) fixed by the seed and the thread: sampling is reproducible.

    Example:
        >>> sample_draw(7, "inv-1") == sample_draw(7, "inv-1")
        True
    """
    digest = hashlib.sha256(f"{seed}\x00{thread_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class ReviewPolicy:
    """Tiers, roles, sampling and routing for one graph, validated when built.

    Args:
        tiers: The risk tiers. Requests name theirs in `risk_tier`.
        roles: Reviewer roles, lowest first: the escalation chain (junior -> senior ->
            manager). A tier's role and every role above it may decide the tier.
        router: A `ConfidenceRouter` (confidence bands and risk rules); without one,
            only the tier's `escalate` flag and the predictor send work to a human.
        seed: Fixes sampling: the same thread and seed are always sampled the same way.
        predictor: A model of human overrides (see `langgraph_hitl.capture.predict`); work it
            scores at or above `threshold` escalates, with the score as the reason.
        threshold: The predictor's escalation threshold (default 0.7).
        irreversible_actions: Names of actions that cannot be undone (`pay_invoice`).
            A request for one of them with any `problems` escalates, whatever its tier
            and confidence; without problems it routes as any other work.

    Example:
        >>> policy = ReviewPolicy(
        ...     roles=["junior", "senior", "manager"],
        ...     tiers=[
        ...         Tier(name="low", role="junior"),
        ...         Tier(name="medium", role="senior", sample_rate=0.1, deadline="4h"),
        ...         Tier(name="high", role="manager", escalate=True, deadline="8h"),
        ...     ],
        ... )
        >>> policy.eligible_roles("medium")
        ['senior', 'manager']

        Paying cannot be undone, so a flagged invoice waits for a human even at 0.95:

        >>> from langgraph_hitl.models import Action
        >>> held = ReviewPolicy(tiers=[Tier(name="low")], irreversible_actions=["pay_invoice"])
        >>> request = ApprovalRequest(
        ...     action=Action(name="pay_invoice", args={"invoice_id": "INV-7", "amount": 640}),
        ...     summary="Pay INV-7: 640.00 USD to lnitech LLC",
        ...     risk_tier="low",
        ...     confidence=0.95,
        ...     problems=["vendor: 'lnitech LLC' is not in the vendor master"],
        ... )
        >>> routing = held.route({}, request, thread_id="INV-7")
        >>> routing.outcome
        'escalated'
        >>> routing.reasons[-1]
        'pay_invoice cannot be undone and has 1 validation problem: a human decides first'"""

    def __init__(
        self,
        *,
        tiers: Sequence[Tier | Mapping[str, Any]],
        roles: Sequence[str] = (),
        router: ConfidenceRouter | None = None,
        seed: int | str = 0,
        predictor: OverridePredictor | None = None,
        threshold: float = 0.7,
        irreversible_actions: Collection[str] = (),
    ) -> None:
        try:
            built = [t if isinstance(t, Tier) else Tier.model_validate(t) for t in tiers]
        except ValidationError as err:
            raise ConfigurationError(f"bad tier: {_first_error(err)}") from None
        if not built:
            raise ConfigurationError("a review policy needs at least one tier")
        self.tiers: dict[str, Tier] = {}
        for tier in built:
            if tier.name in self.tiers:
                raise ConfigurationError(f"tier {tier.name!r} is defined twice")
            self.tiers[tier.name] = tier
        self.roles = list(roles)
        if len(set(self.roles)) != len(self.roles):
            raise ConfigurationError(f"roles repeat a name: {self.roles}")
        for tier in built:
            if tier.role is not None and tier.role not in self.roles:
                raise ConfigurationError(
                    f"tier {tier.name!r} names role {tier.role!r}; the roles are {self.roles}"
                )
            if tier.escalate and tier.on_timeout == "approve":
                raise ConfigurationError(
                    f"tier {tier.name!r} always escalates, so it may not approve on timeout:"
                    " an unattended approval must never act on high-risk work"
                )
        if not 0.0 <= threshold <= 1.0:
            raise ConfigurationError(f"threshold must be within 0..1, got {threshold}")
        if isinstance(irreversible_actions, str) or not all(
            isinstance(name, str) and name for name in irreversible_actions
        ):
            raise ConfigurationError(
                f"irreversible_actions takes action names, got {irreversible_actions!r}"
            )
        self.router = router
        self.seed = seed
        self.predictor = predictor
        self.threshold = threshold
        self.irreversible_actions = frozenset(irreversible_actions)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> ReviewPolicy:
        """Load roles, seed, threshold and tiers from a TOML file.

        ```toml
        roles = ["junior", "senior", "manager"]
        seed = 7
        irreversible_actions = ["pay_invoice"]
        [tiers.medium]
        role = "senior"
        sample_rate = 0.1
        deadline = "4h"
        ```

        The same keys may sit in a `[policy]` table (with `[policy.tiers.medium]`), so
        one `hitl.toml` holds the policy, `[notify]` and `[metrics]`.
        `overrides` (for example `router=`, `predictor=`) are passed to the constructor.
        """
        try:
            data = tomllib.loads(read_file(str(path), "policy"))
        except BadInputError as err:  # missing, unreadable, not UTF-8, over 32 MiB
            raise ConfigurationError(str(err)) from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigurationError(f"cannot read policy {path}: {err}") from None
        if "policy" in data:
            data = data["policy"]
            if not isinstance(data, dict):
                raise ConfigurationError(f"{path}: [policy] must be a table")
        else:
            data = {k: v for k, v in data.items() if k not in ("notify", "metrics")}
        problem = unusable(data)
        if problem is not None:  # TOML has nan and inf; no rate or deadline may be either
            raise ConfigurationError(f"{path}: {problem[0]}: {problem[1]}")
        tiers = data.pop("tiers", {})
        if not isinstance(tiers, dict):
            raise ConfigurationError(f"{path}: [tiers.NAME] tables expected")
        unknown = set(data) - {"roles", "seed", "threshold", "irreversible_actions"}
        if unknown:
            raise ConfigurationError(f"{path}: unknown keys {sorted(unknown)}")
        return cls(
            tiers=[{"name": name, **spec} for name, spec in tiers.items()],
            **data,
            **overrides,
        )

    def with_predictor(
        self, predictor: OverridePredictor | None, *, threshold: float | None = None
    ) -> ReviewPolicy:
        """The same policy with another override predictor (and threshold)."""
        return ReviewPolicy(
            tiers=list(self.tiers.values()),
            roles=self.roles,
            router=self.router,
            seed=self.seed,
            predictor=predictor,
            threshold=self.threshold if threshold is None else threshold,
            irreversible_actions=self.irreversible_actions,
        )

    def tier(self, name: str | None) -> Tier | None:
        """The tier of that name, or None."""
        return None if name is None else self.tiers.get(name)

    def eligible_roles(self, tier: str) -> list[str]:
        """Roles that may decide `tier` now: its role and every role above it."""
        found = self.tier(tier)
        if found is None or found.role is None:
            return []
        return self.roles[self.roles.index(found.role) :]

    def sample(self, thread_id: str, rate: float) -> bool:
        """Whether this thread is in the sample at `rate` (deterministic per seed)."""
        return rate > 0.0 and sample_draw(self.seed, thread_id) < rate

    def route(
        self,
        state: Any,
        request: ApprovalRequest,
        *,
        thread_id: str,
        at: datetime | None = None,
    ) -> Routing:
        """Decide where work goes. Pure: call it from a node, record it with `record_route`.

        Args:
            state: The graph state the router reads.
            request: The request a gate would show for this work (action, tier,
                confidence, reasons); the predictor and the routing log read it.
            thread_id: Fixes the sample draw.
            at: When the work is routed (the predictor's hour feature); default now.
        """
        tier = self.tier(request.risk_tier)
        reasons = list(request.reasons)
        base = "autonomous" if self.router is None else self.router(state)
        if self.router is not None:
            reasons += [r for r in self.router.reasons(state) if r not in reasons]
        if tier is None:
            # An unknown tier is a configuration gap: fail closed, a human looks.
            base = "escalate"
            reasons.append(f"unknown risk tier {request.risk_tier!r}")
        elif tier.escalate:
            base = "escalate"
            reasons.append(f"tier {tier.name} always goes to a human")
        held = self.holds(request)
        if held is not None and base != "escalate":
            base = "escalate"
            reasons.append(held)
        score: float | None = None
        if self.predictor is not None:
            when = at or datetime.now(UTC)
            score = float(self.predictor.probability(request, at=when))
            if score >= self.threshold and base != "escalate":
                base = "escalate"
                reasons.append(
                    f"predicted override (p={score:.2f} >= {self.threshold:.2f})"
                    + _because(self.predictor, request, when)
                )
        draft = Routing(
            outcome="escalated",
            tier=request.risk_tier,
            confidence=request.confidence,
            score=score,
            reasons=list(dict.fromkeys(reasons)),
        )
        if base == "escalate":
            return draft
        rate = tier.sample_rate if tier is not None else 0.0
        if base == "review":
            return replace(draft, outcome="review", sample_rate=1.0)
        if self.sample(thread_id, rate):
            return replace(draft, outcome="sampled", sampled=True, sample_rate=rate)
        return replace(draft, outcome="autonomous", sample_rate=rate)

    def holds(self, request: ApprovalRequest) -> str | None:
        """Why this request may not run before a human sees it, if that is so.

        An irreversible action with validation problems is held, whatever the tier and
        confidence; reversible or clean work may run and be reviewed after the fact.

        Example:
            >>> from langgraph_hitl.models import Action
            >>> policy = ReviewPolicy(tiers=[Tier(name="low")], irreversible_actions=["pay"])
            >>> clean = ApprovalRequest(action=Action(name="pay"), summary="Pay INV-7")
            >>> policy.holds(clean) is None
            True
            >>> policy.holds(clean.model_copy(update={"problems": ["po: no purchase order"]}))
            'pay cannot be undone and has 1 validation problem: a human decides first'
        """
        if request.action.name not in self.irreversible_actions or not request.problems:
            return None
        count = len(request.problems)
        return (
            f"{request.action.name} cannot be undone and has {count} validation"
            f" problem{'s' if count != 1 else ''}: a human decides first"
        )

    def stamp(self, request: ApprovalRequest) -> ApprovalRequest:
        """The request with its tier's terms: role chain, quorum, deadline, timeout decision.

        Values the request set itself win. An unknown tier gets the top role only.
        """
        tier = self.tier(request.risk_tier)
        chain = self.eligible_roles(request.risk_tier) if tier is not None else self.roles[-1:]
        given = request.model_fields_set
        update: dict[str, Any] = {}
        if "review_roles" not in given and "reviewer_role" not in given and chain:
            update["review_roles"] = chain
            update["reviewer_role"] = chain[0]
        if tier is not None:
            for name in ("quorum", "on_timeout", "bar_owner"):
                if name not in given:
                    update[name] = getattr(tier, name)
            if "deadline_in" not in given and tier.deadline is not None:
                update["deadline_in"] = tier.deadline
        return ApprovalRequest.model_validate({**request.model_dump(), **update})


def record_route(
    ledger: ReviewLedger,
    config: RunnableConfig,
    routing: Routing,
    request: ApprovalRequest,
    *,
    graph: str | None = None,
    key: str | None = None,
) -> str:
    """Write a routing outcome to the ledger's routing log; idempotent per node run.

    A node that runs again (a crash, a resume) records the same row once: the row's id
    is the thread, the node and the step LangGraph runs it at, and `key` when one node
    run routes several pieces of work (an agent's tool calls, by tool call id).

    Example:
        >>> from langgraph_hitl.graphs.invoice import POLICY
        >>> request = ledger.get(request_id).request  # INV-1003, 52,000 USD
        >>> state = {"invoice": request.action.args, "confidence": 0.95}
        >>> routing = POLICY.route(state, request, thread_id="INV-1003")
        >>> routing.outcome, routing.tier, routing.reasons[0]
        ('escalated', 'high', 'amount 52,000.00 is over the 10,000.00 limit')
        >>> record_route(ledger, config, routing, request)
        'rt_48049ebcb3c2'
        >>> record_route(ledger, config, routing, request)  # the same row, once
        'rt_48049ebcb3c2'
    """
    metadata = config.get("metadata") or {}
    thread_id = str((config.get("configurable") or {})["thread_id"])
    return ledger.record_route(
        thread_id=thread_id,
        node=metadata.get("langgraph_node"),
        step=metadata.get("langgraph_step"),
        routing=routing.to_json(),
        action=request.action.model_dump(),
        graph=graph,
        key=key,
    )


def _because(predictor: OverridePredictor, request: ApprovalRequest, at: datetime) -> str:
    """What pushed the score up, for the reviewer: `: reason=unknown vendor, amount_log`."""
    explain = getattr(predictor, "explain", None)
    if not callable(explain):
        return ""
    names = [str(name) for name, _ in explain(request, at=at)]
    return f": {', '.join(names)}" if names else ""


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
