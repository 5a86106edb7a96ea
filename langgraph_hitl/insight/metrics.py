"""Metrics of the review process, and the warning signs of it going wrong.

`compute()` reads the ledger (the routing log, requests, decisions, votes, events, the
notification outbox, after-the-fact reviews, threads) over a time window, with SQL
that stays fast at 100,000 requests, and returns a `MetricsReport`: for everything, and
per gate, tier or reviewer when asked. `warning_signs()` holds the report against the
thresholds of a `MetricsConfig` and names each sign that fires, with the numbers behind
it. `to_prometheus()` writes the report in Prometheus' text format;
`langgraph_hitl.insight._report.to_html()` draws it.

What each figure counts, and when a row belongs to the window:

* **escalation rate**: routing-log rows created in the window with outcome
  `escalated`, over all rows (`autonomous`, `sampled`, `review`, `escalated`).
* **decisions** (by when they were taken): a human decision is any decision not taken
  by the deadline sweep (`SWEEP_ACTOR`; those are `timeouts`). An **override** is a
  `reject`, `modify` or `respond`. **Precision** is the share of **escalations** that
  needed a human, where the requests of a thread from one escalated route to the next are
  one escalation (asked again after an edit, or decided by a quorum, it is still one). It
  is given two ways, labelled: counted from overrides alone (`precision_from_overrides`),
  and with the approvals a reviewer marked as needed (`approve --needed`, an event of
  kind `escalation_needed`) counted too (`precision`, `precision_with_needed`). The
  **override rate** is per decision, and its **trend** is its rate in the window's
  second half minus the first.
* **recall**: caught (escalations a human overrode or marked needed) over caught plus
  the problems missed, estimated per **stratum**, each tier x route of the routing log:
  work that ran alone (`autonomous` and `sampled`: estimated from the sampled reviews,
  each problem found weighing 1 / its sampling rate, Horvitz-Thompson), work reviewed
  in full after the fact (`review`: counted), and work escalated (caught). A stratum
  that ran alone and has no closed review is **unmeasured**: its volume is reported,
  its misses are unknown, and the overall recall is then an upper **bound** (`bound`).
  The interval is an exact Poisson interval on the number of sampled problems, scaled
  by their mean weight. Open reviews are not counted (`reviews_open` says how many),
  so the estimate of misses is then a lower bound too.
* **time to escalate**: from the escalated routing row (else the request's creation) to
  the delivery of the request's `created` notification (source `notified`); when no
  notification in the window was ever delivered, to the request's creation in the
  ledger (source `recorded`).
* **time to correct**: from a reviewer opening a request (their first `shown` event,
  else anyone's before the decision) to their decision or quorum vote.
* **queue**: requests pending at the window's end, the oldest one's age, and the depth
  `queue_lookback` earlier. A request leaves the queue when decided, cancelled or
  superseded.
* **outcomes**: threads finished in the window; a success is a result not in
  `failure_results` with no after-the-fact review that found a problem. Cost per
  resolution is the agents' recorded cost plus the measured human time priced at
  `human_cost_per_hour`, over the threads finished.
* **reviewers** (rubber-stamping): per reviewer, approvals faster than the request could
  be read (its summary, reasons and args, at `reading_wpm`), the longest run of approvals
  with no reject or edit, approval rates against peers on the same tier, and approvals
  given while the queue was deep.

Example:
    >>> report = compute("hitl.sqlite", window="7d", group_by="tier")
    >>> round(report.overall.escalation.rate, 2), report.groups["high"].escalation.rate
    (0.42, 1.0)
    >>> sorted({w.name for w in warning_signs(report)})
    ['recall_thin', 'rubber_stamp_fast', 'too_aggressive', 'too_cautious']
"""

from __future__ import annotations

import math
import sqlite3
import statistics
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from langgraph_hitl._input import read_file, unusable
from langgraph_hitl._time import iso, seconds
from langgraph_hitl.errors import BadInputError, ConfigurationError
from langgraph_hitl.insight._report import pct, span
from langgraph_hitl.ledger import ReviewLedger

GroupBy: TypeAlias = Literal["gate", "tier", "reviewer"]
"""What `compute(group_by=...)` splits the figures by."""

GROUP_BYS: tuple[GroupBy, ...] = ("gate", "tier", "reviewer")

OVERRIDE_TYPES: tuple[str, ...] = ("reject", "modify", "respond")
"""Decisions that change what the agent proposed."""

NEEDED_EVENT = "escalation_needed"
"""Event kind a reviewer's approval carries when they mark the escalation as needed
(`ledger.add_event(NEEDED_EVENT, request_id=..., actor=reviewer)`): it counts toward
precision like an override."""

NO_GROUP = "(none)"
"""The group name of rows with no gate, tier or reviewer."""

DECISION_TIME_EDGES: tuple[float, ...] = (0, 2, 5, 10, 30, 60, 120, 300, 900, 3600)
"""Lower edges, in seconds, of the decision-time histogram's bins (the last is open)."""

Source: TypeAlias = "ReviewLedger | sqlite3.Connection | str | Path"


_OTHER_TABLES = frozenset({"policy", "notify", "serializer"})
"""Tables of a shared hitl.toml that belong to other parts."""


class MetricsConfig(BaseModel):
    """Thresholds of the warning signs, and the rates work is priced and read at.

    Every field has the issue's default; load your own with `MetricsConfig.from_toml`.

    Example:
        >>> config = MetricsConfig(escalation_rate_max=0.3, human_cost_per_hour=80)
        >>> config.escalation_rate_min, config.time_to_escalate_max
        (0.05, 60.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    escalation_rate_max: float = Field(default=0.40, ge=0.0, le=1.0)
    """Over this share of routed work sent to a human, review is too cautious."""
    escalation_rate_min: float = Field(default=0.05, ge=0.0, le=1.0)
    """Under this share, routing is too aggressive."""
    min_routed: int = Field(default=20, ge=1)
    """Escalation-rate checks stay quiet on less routed work than this."""
    override_rise: float = Field(default=0.10, gt=0.0, le=1.0)
    """A rise of the override rate, second half of the window over the first, that warns."""
    min_decisions: int = Field(default=20, ge=1)
    """Decisions each side of a comparison needs before a check speaks."""
    time_to_escalate_max: float = Field(default=60.0, gt=0.0)
    """Seconds (or `"1m"`) the chosen percentile of time-to-escalate may take."""
    time_to_escalate_percentile: Literal[50, 95, 99] = 95
    """Which percentile of time-to-escalate is held against the maximum."""
    queue_lookback: float = Field(default=86_400.0, gt=0.0)
    """Seconds (or `"1d"`) back to compare the queue's depth with."""
    queue_growth_min: int = Field(default=10, ge=1)
    """The queue must have grown by at least this many requests to warn..."""
    queue_growth_share: float = Field(default=0.5, ge=0.0)
    """...and by at least this share of its earlier depth."""
    reading_wpm: float = Field(default=400.0, gt=0.0)
    """Words per minute of a fast reader: reading slower than this is plausible."""
    chars_per_word: float = Field(default=6.0, gt=0.0)
    """Characters per word, to turn a request's size into words."""
    min_read_seconds: float = Field(default=1.0, ge=0.0)
    """The least time any request takes to read."""
    fast_approval_share: float = Field(default=0.2, gt=0.0, le=1.0)
    """A reviewer warns when this share of their timed approvals came faster than reading..."""
    min_fast_approvals: int = Field(default=5, ge=1)
    """...and at least this many did."""
    approval_run_max: int = Field(default=50, ge=2)
    """The longest run of approvals, with no reject or edit, before a reviewer warns."""
    peer_approval_gap: float = Field(default=0.2, gt=0.0, le=1.0)
    """How far a reviewer's approval rate on a tier may exceed their peers' there."""
    deep_queue_depth: int = Field(default=50, ge=1)
    """A queue at least this deep when a request is opened is deep."""
    deep_queue_gap: float = Field(default=0.15, gt=0.0, le=1.0)
    """How far the approval rate in a deep queue may exceed the rate in a shallow one."""
    human_cost_per_hour: float = Field(default=50.0, ge=0.0)
    """What an hour of a reviewer costs, in the currency of the agents' recorded cost."""
    failure_results: tuple[str, ...] = ("cancelled", "failed", "error")
    """Thread results (`finish_thread`) that are not a success."""
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1.0)
    """Of the recall interval."""
    recall_min_problems: int = Field(default=5, ge=1)
    """Recall estimated from samples that found fewer problems than this warns: one or
    two sampled misses, each weighing 1 / its sampling rate, make a figure that moves
    ten points with the next one."""
    buckets: int = Field(default=24, ge=2, le=1000)
    """Points of the time series across the window (and halves for the override trend)."""

    @field_validator("time_to_escalate_max", "queue_lookback", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        return seconds(value)

    @model_validator(mode="after")
    def _ordered(self) -> MetricsConfig:
        if self.escalation_rate_min > self.escalation_rate_max:
            raise ValueError(
                f"escalation_rate_min {self.escalation_rate_min} is above"
                f" escalation_rate_max {self.escalation_rate_max}"
            )
        return self

    @classmethod
    def from_toml(cls, path: str | Path) -> MetricsConfig:
        """Load thresholds from a TOML file: top-level keys, or a `[metrics]` table.

        ```toml
        [metrics]
        escalation_rate_max = 0.35
        time_to_escalate_max = "2m"
        human_cost_per_hour = 80
        ```

        Raises:
            ConfigurationError: The file cannot be read, is not TOML, or names an unknown
                key or a bad value (the message says which).
        """
        try:
            data = tomllib.loads(read_file(str(path), "metrics config"))
        except BadInputError as err:  # missing, unreadable, not UTF-8, over 32 MiB
            raise ConfigurationError(str(err)) from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigurationError(f"cannot read metrics config {path}: {err}") from None
        # One hitl.toml may hold [policy], [notify] and [metrics]; alone, top-level keys.
        table = data.get("metrics", {} if data.keys() & _OTHER_TABLES else data)
        if not isinstance(table, dict):
            raise ConfigurationError(f"{path}: [metrics] must be a table")
        problem = unusable(table)
        if problem is not None:  # TOML has nan and inf; no threshold may be either
            raise ConfigurationError(f"{path}: {problem[0]}: {problem[1]}")
        try:
            return cls.model_validate(table)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(f"{path}: {where}: {first['msg']}") from None


# -- the report ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Distribution:
    """Percentiles of durations, in seconds (linear interpolation between ranks).

    Example:
        >>> d = Distribution.of([4.0, 1.0, 2.0, 3.0])
        >>> d.count, d.p50, d.total
        (4, 2.5, 10.0)
    """

    count: int = 0
    total: float = 0.0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        """The distribution of `values`."""
        ordered = sorted(values)
        return cls(
            count=len(ordered),
            total=math.fsum(ordered),
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
        )

    def at(self, q: int) -> float | None:
        """The 50th, 95th or 99th percentile."""
        return {50: self.p50, 95: self.p95, 99: self.p99}[q]


@dataclass(frozen=True, kw_only=True)
class Escalation:
    """How much routed work went to a human first.

    Example:
        >>> Escalation(routed=200, escalated=46).rate  # 46 of 200 invoices to a human
        0.23
    """

    routed: int = 0
    escalated: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    """Routing-log rows by outcome: autonomous, sampled, review, escalated."""

    @property
    def rate(self) -> float | None:
        """Escalated over routed; None with nothing routed."""
        return _share(self.escalated, self.routed)


@dataclass(frozen=True, kw_only=True)
class Decisions:
    """What humans decided, and how often they changed the outcome.

    Example:
        >>> d = Decisions(days=7.0, decided=40, approved=30, overrides=10,
        ...               first_half=(20, 3), second_half=(20, 7))
        >>> d.override_rate, round(d.trend, 2), round(d.overrides_per_day, 2)
        (0.25, 0.2, 1.43)
    """

    days: float
    """The window's length in days, for the override frequency."""
    decided: int = 0
    """Human decisions (not the deadline sweep's)."""
    approved: int = 0
    overrides: int = 0
    """Rejects, edits and responses."""
    marked_needed: int = 0
    """Approvals whose reviewer marked the escalation as needed."""
    timeouts: int = 0
    """Decisions the deadline sweep took."""
    by_type: dict[str, int] = field(default_factory=dict)
    first_half: tuple[int, int] = (0, 0)
    """(decided, overrides) in the window's first half."""
    second_half: tuple[int, int] = (0, 0)
    """(decided, overrides) in the window's second half."""
    escalations: int = 0
    """Escalations a human decided: the requests of a thread from one escalated route to
    the next are one (asked again after an edit, or decided by a quorum)."""
    escalations_overridden: int = 0
    """Escalations in which a human rejected, edited or responded."""
    escalations_needed: int = 0
    """Escalations overridden, or approved with the escalation marked needed."""

    @property
    def precision(self) -> float | None:
        """Share of escalations a human changed or marked needed (`--needed`).

        Counted per escalation; figures built without escalation counts (`escalations`
        0) count per decision instead.
        """
        if self.escalations:
            return _share(self.escalations_needed, self.escalations)
        return _share(self.overrides + self.marked_needed, self.decided)

    @property
    def precision_from_overrides(self) -> float | None:
        """Share of escalations a human changed: precision without the `--needed` marks."""
        if self.escalations:
            return _share(self.escalations_overridden, self.escalations)
        return _share(self.overrides, self.decided)

    @property
    def caught(self) -> int:
        """Escalations that needed a human (per decision without escalation counts)."""
        return self.escalations_needed if self.escalations else self.overrides + self.marked_needed

    @property
    def override_rate(self) -> float | None:
        """Share of human decisions that are overrides."""
        return _share(self.overrides, self.decided)

    @property
    def overrides_per_day(self) -> float | None:
        """Override frequency."""
        return None if self.days <= 0 else self.overrides / self.days

    @property
    def trend(self) -> float | None:
        """Override rate in the second half minus the first (None if a half is empty)."""
        first = _share(self.first_half[1], self.first_half[0])
        second = _share(self.second_half[1], self.second_half[0])
        return None if first is None or second is None else second - first


StratumRoute: TypeAlias = Literal["alone", "review", "escalated"]
"""How a stratum's work went: done alone (sampled at the tier's rate), done and reviewed
in full after the fact, or sent to a human first."""


@dataclass(frozen=True, kw_only=True)
class Stratum:
    """One tier x route cell of the routing log, and what is known of what it let through.

    Example:
        >>> low = Stratum(tier="low", route="alone", routed=200, reviewed=19, problems=1,
        ...               estimated_missed=10.0)
        >>> low.status, Stratum(tier="low", route="alone", routed=200).status
        ('sampled', 'unmeasured')
    """

    tier: str
    route: StratumRoute
    routed: int = 0
    """Routing-log rows in the window."""
    reviewed: int = 0
    """After-the-fact reviews closed."""
    open: int = 0
    """After-the-fact reviews still open."""
    problems: int = 0
    """Reviews that found a problem."""
    estimated_missed: float | None = None
    """Problems it let through, weighted by 1 / sampling rate; None when unmeasured."""
    caught: int = 0
    """For escalated work: decisions that overrode or were marked needed."""

    @property
    def status(self) -> Literal["decided", "unmeasured", "reviewed", "sampled"]:
        """`decided` (escalated), `unmeasured` (ran, nothing reviewed), `reviewed` (in
        full) or `sampled`."""
        if self.route == "escalated":
            return "decided"
        if self.estimated_missed is None:
            return "unmeasured"
        return "reviewed" if self.route == "review" else "sampled"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


@dataclass(frozen=True, kw_only=True)
class Recall:
    """Share of the problems that reached a human, estimated from sampled reviews.

    Example:
        >>> r = Recall(caught=10, found=1, found_exact=0, estimated_missed=10.0,
        ...            missed_low=0.25, missed_high=55.7, reviews_closed=10,
        ...            reviews_open=0, unweighted=0, level=0.95)
        >>> r.recall, round(r.low, 3), round(r.high, 3)
        (0.5, 0.152, 0.976)
        >>> never = Stratum(tier="low", route="alone", routed=120)
        >>> bounded = Recall(caught=10, reviews_closed=4, level=0.95, strata=(never,))
        >>> bounded.recall, bounded.bound, bounded.unmeasured
        (1.0, True, 120)
    """

    level: float
    """Confidence level of the interval."""
    caught: int = 0
    """Escalations a human changed (overrides) or marked needed."""
    found: int = 0
    """After-the-fact reviews of non-escalated work that found a problem."""
    found_exact: int = 0
    """Of those, found in work reviewed in full (sampling rate 1): counted, not estimated."""
    estimated_missed: float = 0.0
    """Problems in non-escalated work, each found one weighted by 1 / its sampling rate."""
    missed_low: float = 0.0
    missed_high: float = 0.0
    reviews_closed: int = 0
    reviews_open: int = 0
    unweighted: int = 0
    """Problems found on reviews with no recorded sampling rate (weighted 1)."""
    sampled_problems: int = 0
    """Problems found in work reviewed by sample (rate under 1): what the estimate rests on."""
    sampled_strata: int = 0
    """Strata measured by sample rather than counted."""
    strata: tuple[Stratum, ...] = ()
    """Each tier x route of the routing log in the window."""

    @property
    def unmeasured(self) -> int:
        """Routed work in strata that ran alone and were never reviewed."""
        return sum(s.routed for s in self.strata if s.status == "unmeasured")

    @property
    def bound(self) -> bool:
        """True when some work's misses are unknown: `recall` is then at most that high."""
        return self.unmeasured > 0

    def by_tier(self) -> dict[str, float | None]:
        """Recall per tier: caught there over caught plus its measured misses."""
        tiers: dict[str, list[float]] = {}
        for s in self.strata:
            caught_missed = tiers.setdefault(s.tier, [0.0, 0.0])
            caught_missed[0] += s.caught
            caught_missed[1] += s.estimated_missed or 0.0
        return {tier: _share(caught, caught + missed) for tier, (caught, missed) in tiers.items()}

    @property
    def recall(self) -> float | None:
        """caught / (caught + estimated missed); None with no reviews or nothing to count."""
        return self._of(self.estimated_missed)

    @property
    def low(self) -> float | None:
        """The interval's lower end (with the most misses)."""
        return self._of(self.missed_high)

    @property
    def high(self) -> float | None:
        """The interval's upper end (with the fewest misses)."""
        return self._of(self.missed_low)

    @property
    def width(self) -> float | None:
        """How wide the interval is, high minus low."""
        return None if self.low is None or self.high is None else self.high - self.low

    def _of(self, missed: float) -> float | None:
        if self.reviews_closed == 0 or self.caught + missed <= 0:
            return None
        return self.caught / (self.caught + missed)


@dataclass(frozen=True, kw_only=True)
class Latency:
    """Time to escalate: routing decision to reviewer notified (or request recorded).

    Example:
        >>> t = Latency(source="notified", times=Distribution.of([1.5, 2.5, 40.0]))
        >>> t.times.p50, t.source
        (2.5, 'notified')
    """

    source: Literal["notified", "recorded"]
    times: Distribution = field(default_factory=Distribution)
    undelivered: int = 0
    """Requests whose notification was not delivered (left out when `notified`)."""


@dataclass(frozen=True, kw_only=True)
class Queue:
    """The pending queue at the window's end, and `lookback` seconds before it.

    Example:
        >>> q = Queue(lookback=86_400.0, depth=31, oldest_age=7_200.0, depth_before=12)
        >>> q.depth - q.depth_before  # invoices waiting: 19 more than a day ago
        19
    """

    lookback: float
    depth: int = 0
    oldest_age: float | None = None
    """Seconds the oldest pending request has waited."""
    depth_before: int = 0
    arrived: int = 0
    """Requests created during the lookback."""
    left: int = 0
    """Requests decided, cancelled or superseded during the lookback."""


@dataclass(frozen=True, kw_only=True)
class Outcomes:
    """How finished work ended, and what it cost.

    Example:
        >>> o = Outcomes(finished=100, succeeded=97, with_human=20, succeeded_with_human=19,
        ...              agent_cost=4.0, costed=100, human_seconds=3_600.0, human_cost=50.0)
        >>> o.success_rate, o.cost_per_resolution
        (0.97, 0.54)
    """

    finished: int
    succeeded: int
    with_human: int
    """Finished threads that had at least one approval request."""
    succeeded_with_human: int
    agent_cost: float
    costed: int
    """Finished threads that recorded a cost."""
    human_seconds: float
    """Measured reviewer time (opening to deciding) in the window."""
    human_cost: float

    @property
    def success_rate(self) -> float | None:
        """Share of finished threads that finished as intended."""
        return _share(self.succeeded, self.finished)

    @property
    def cost_per_resolution(self) -> float | None:
        """(Agent cost + human cost) per finished thread."""
        total = self.agent_cost + self.human_cost
        return None if self.finished == 0 else total / self.finished


@dataclass(frozen=True, kw_only=True)
class MetricSet:
    """Every figure for one scope: everything, or one gate, tier or reviewer.

    A part is None where it does not apply to the grouping (escalation and recall have
    no gate or reviewer; the queue has no reviewer; outcomes are overall only).

    Example:
        >>> report = compute("hitl.sqlite", group_by="gate")
        >>> gate = report.groups["approve_payment"]
        >>> gate.queue.depth, gate.decisions.decided, gate.escalation  # routing has no gate
        (1, 33, None)
    """

    escalation: Escalation | None = None
    decisions: Decisions | None = None
    recall: Recall | None = None
    time_to_escalate: Latency | None = None
    time_to_correct: Distribution | None = None
    unopened: int = 0
    """Human decisions with no recorded opening (not in `time_to_correct`)."""
    queue: Queue | None = None
    outcomes: Outcomes | None = None


@dataclass(frozen=True, kw_only=True)
class ReviewerStats:
    """One reviewer's decisions, and the numbers rubber-stamping checks read.

    Example:
        >>> report = compute("hitl.sqlite", window="7d")
        >>> [(s.reviewer, s.approvals, s.fast_approvals) for s in report.reviewers]
        [('mia', 2, 0), ('rex', 9, 9), ('sam', 3, 0)]
    """

    reviewer: str
    decisions: int
    approvals: int
    by_tier: dict[str, tuple[int, int]]
    """(decisions, approvals) per tier."""
    decision_time: Distribution
    histogram: list[int]
    """Decision times counted in the bins of `DECISION_TIME_EDGES`."""
    timed_approvals: int
    """Approvals whose opening is known."""
    fast_approvals: int
    """Timed approvals faster than the request could be read."""
    longest_run: int
    """Most approvals in a row with no reject, edit or response."""
    longest_run_ended: float | None
    deep: tuple[int, int]
    """(decisions, approvals) made when the queue was deep."""
    shallow: tuple[int, int]

    @property
    def approval_rate(self) -> float | None:
        """Approvals over decisions."""
        return _share(self.approvals, self.decisions)


@dataclass(frozen=True, kw_only=True)
class Series:
    """The window in `buckets` equal steps, for charts.

    Example:
        >>> s = Series(start=0.0, step=3600.0, queue_depth=[3, 5], routed=[10, 0],
        ...            escalated=[2, 0], decided=[4, 2], overrides=[1, 0])
        >>> s.escalation_rate, s.starts
        ([0.2, None], [0.0, 3600.0])
    """

    start: float
    step: float
    queue_depth: list[int]
    """Pending requests at the end of each step."""
    routed: list[int]
    escalated: list[int]
    decided: list[int]
    overrides: list[int]

    @property
    def starts(self) -> list[float]:
        """Each step's start time."""
        return [self.start + i * self.step for i in range(len(self.routed))]

    @property
    def escalation_rate(self) -> list[float | None]:
        """Escalated over routed, per step."""
        return [_share(e, r) for e, r in zip(self.escalated, self.routed, strict=True)]

    @property
    def override_rate(self) -> list[float | None]:
        """Overrides over human decisions, per step."""
        return [_share(o, d) for o, d in zip(self.overrides, self.decided, strict=True)]


@dataclass(frozen=True, kw_only=True)
class MetricsReport:
    """What `compute` found: the window, the figures overall and per group, reviewers.

    Example:
        >>> report = compute("hitl.sqlite", window="7d")
        >>> report.overall.queue.depth, round(report.overall.decisions.override_rate, 2)
        (1, 0.67)
    """

    since: float
    until: float
    group_by: GroupBy | None
    overall: MetricSet
    groups: dict[str, MetricSet]
    reviewers: list[ReviewerStats]
    series: Series
    config: MetricsConfig
    shallow_approval_rate: float | None = None
    """Everyone's approval rate when the queue was not deep: the deep-queue baseline."""
    overall_approval_rate: float | None = None
    seconds: float = 0.0
    """How long `compute` took."""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: timestamps as ISO 8601 UTC, derived rates included."""
        return {
            "window": {
                "since": iso(self.since),
                "until": iso(self.until),
                "seconds": self.until - self.since,
            },
            "group_by": self.group_by,
            "overall": _set_json(self.overall),
            "groups": {key: _set_json(m) for key, m in self.groups.items()},
            "reviewers": [_reviewer_json(r) for r in self.reviewers],
            "series": {
                "start": [iso(t) for t in self.series.starts],
                "step_seconds": self.series.step,
                "queue_depth": self.series.queue_depth,
                "routed": self.series.routed,
                "escalated": self.series.escalated,
                "escalation_rate": self.series.escalation_rate,
                "decided": self.series.decided,
                "overrides": self.series.overrides,
                "override_rate": self.series.override_rate,
                "decision_time_edges": list(DECISION_TIME_EDGES),
            },
            "config": self.config.model_dump(mode="json"),
            "compute_seconds": self.seconds,
        }


def _set_json(m: MetricSet) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if m.escalation is not None:
        out["escalation"] = {**asdict(m.escalation), "rate": m.escalation.rate}
    if m.decisions is not None:
        d = m.decisions
        out["decisions"] = {
            "decided": d.decided,
            "approved": d.approved,
            "overrides": d.overrides,
            "marked_needed": d.marked_needed,
            "timeouts": d.timeouts,
            "by_type": d.by_type,
            "escalations": d.escalations,
            "escalations_overridden": d.escalations_overridden,
            "escalations_needed": d.escalations_needed,
            "precision": d.precision,
            "precision_with_needed": d.precision,
            "precision_from_overrides": d.precision_from_overrides,
            "override_rate": d.override_rate,
            "overrides_per_day": d.overrides_per_day,
            "override_rate_first_half": _share(d.first_half[1], d.first_half[0]),
            "override_rate_second_half": _share(d.second_half[1], d.second_half[0]),
            "override_trend": d.trend,
        }
    if m.recall is not None:
        r = m.recall
        out["recall"] = {
            **asdict(r),
            "strata": [s.to_json() for s in r.strata],
            "recall": r.recall,
            "bound": r.bound,
            "unmeasured": r.unmeasured,
            "by_tier": r.by_tier(),
            "low": r.low,
            "high": r.high,
            "width": r.width,
        }
    if m.time_to_escalate is not None:
        t = m.time_to_escalate
        out["time_to_escalate"] = {
            "source": t.source,
            **asdict(t.times),
            "undelivered": t.undelivered,
        }
    if m.time_to_correct is not None:
        out["time_to_correct"] = {**asdict(m.time_to_correct), "unopened": m.unopened}
    if m.queue is not None:
        out["queue"] = asdict(m.queue)
    if m.outcomes is not None:
        o = m.outcomes
        out["outcomes"] = {
            **asdict(o),
            "success_rate": o.success_rate,
            "cost_per_resolution": o.cost_per_resolution,
        }
    return out


def _reviewer_json(r: ReviewerStats) -> dict[str, Any]:
    return {
        "reviewer": r.reviewer,
        "decisions": r.decisions,
        "approvals": r.approvals,
        "approval_rate": r.approval_rate,
        "by_tier": {t: {"decisions": d, "approvals": a} for t, (d, a) in r.by_tier.items()},
        "decision_time": asdict(r.decision_time),
        "decision_time_histogram": r.histogram,
        "timed_approvals": r.timed_approvals,
        "fast_approvals": r.fast_approvals,
        "longest_run": r.longest_run,
        "longest_run_ended": iso(r.longest_run_ended),
        "deep_queue": {"decisions": r.deep[0], "approvals": r.deep[1]},
        "shallow_queue": {"decisions": r.shallow[0], "approvals": r.shallow[1]},
    }


# -- small statistics ------------------------------------------------------------------


def _share(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The `q`th percentile (0..100) of sorted values, interpolating between ranks.

    Example:
        >>> percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95)
        4.8
    """
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu), summed in log space."""
    if mu <= 0:
        return 1.0
    logs = [-mu + i * math.log(mu) - math.lgamma(i + 1) for i in range(k + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(x - top) for x in logs))


def poisson_interval(k: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson mean after observing `k` events.

    Example:
        >>> [round(x, 3) for x in poisson_interval(0)]
        [0.0, 3.689]
        >>> [round(x, 3) for x in poisson_interval(1)]
        [0.025, 5.572]
    """
    alpha = 1.0 - level
    if k > 300:  # Wilson-Hilferty: within 0.1% here, and no long sums
        z = statistics.NormalDist().inv_cdf(1 - alpha / 2)

        def chi2(nu: float, zz: float) -> float:
            return nu * (1 - 2 / (9 * nu) + zz * math.sqrt(2 / (9 * nu))) ** 3

        return chi2(2 * k, -z) / 2, chi2(2 * k + 2, z) / 2

    def solve(target: float, kk: int, rising: bool) -> float:
        lo, hi = 0.0, kk + 20.0 + 20.0 * math.sqrt(kk + 1)
        for _ in range(100):
            mid = (lo + hi) / 2
            value = _poisson_cdf(kk, mid)
            # The CDF falls as mu grows: move toward the side where it meets `target`.
            if (value > target) == rising:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    low = 0.0 if k == 0 else solve(1 - alpha / 2, k - 1, True)
    high = solve(alpha / 2, k, True)
    return low, high


def reading_seconds(chars: float, config: MetricsConfig) -> float:
    """The least plausible time to read a request of `chars` characters.

    Example:
        >>> reading_seconds(600, MetricsConfig())  # 100 words at 400 words a minute
        15.0
    """
    words = chars / config.chars_per_word
    return max(config.min_read_seconds, words * 60.0 / config.reading_wpm)


# -- computing ----------------------------------------------------------------------------


def compute(
    source: Source,
    *,
    since: float | datetime | None = None,
    until: float | datetime | None = None,
    window: float | timedelta | str | None = None,
    group_by: GroupBy | None = None,
    config: MetricsConfig | None = None,
) -> MetricsReport:
    """Compute every metric of the review process over a time window.

    Args:
        source: A `ReviewLedger`, a connection to the database, or its path.
        since: The window's start (epoch seconds or a datetime; naive means UTC).
            Default: `until` minus `window`, else the ledger's first record.
        until: The window's end; default now. The queue is measured here.
        window: The window's length (`"7d"`, seconds, a timedelta) when `since` is not
            given.
        group_by: Also compute each figure per `gate`, `tier` or `reviewer`.
        config: Reading speed, cost rate, queue lookback and the like; defaults
            otherwise. The same config holds the thresholds `warning_signs` uses.

    Raises:
        BadInputError: An empty window or an unknown grouping.
        DatabaseError: The file is missing or not a database (for a path).

    Example:
        >>> with ReviewLedger.open("hitl.sqlite") as ledger:
        ...     report = compute(ledger, window="7d", group_by="gate")
        >>> round(report.groups["approve_payment"].decisions.override_rate, 2)
        0.67
    """
    if group_by is not None and group_by not in GROUP_BYS:
        raise BadInputError(f"cannot group by {group_by!r}: use gate, tier or reviewer")
    from langgraph_hitl.insight._sql import read

    return read(
        source,
        since=since,
        until=until,
        window=window,
        group_by=group_by,
        config=config or MetricsConfig(),
    )


# -- warning signs -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WarningSign:
    """One warning sign that fired: what, where, the number, the threshold, and why.

    Example:
        >>> w = WarningSign(name="too_cautious", scope="tier=high", value=0.62,
        ...                 threshold=0.4, message="62% of routed work went to a human",
        ...                 numbers={"routed": 200, "escalated": 124})
        >>> w.line()
        'too_cautious [tier=high]: 62% of routed work went to a human'
    """

    name: str
    """too_cautious, too_aggressive, overrides_rising, slow_escalation, queue_growing,
    recall_thin, rubber_stamp_fast, rubber_stamp_run, rubber_stamp_peers or
    rubber_stamp_deep_queue."""
    scope: str
    """`all`, or the group (`tier=high`) or reviewer (`reviewer=ana`) it concerns."""
    value: float
    threshold: float
    message: str
    numbers: dict[str, Any] = field(default_factory=dict)
    """The figures behind the sign."""

    def line(self) -> str:
        """One line for a terminal or a log."""
        return f"{self.name} [{self.scope}]: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def warning_signs(report: MetricsReport, config: MetricsConfig | None = None) -> list[WarningSign]:
    """Hold the report against the thresholds; every sign that fires, with its numbers.

    Checks each scope (everything, and each group) for escalation too high or too low,
    a rising override rate, slow escalation and a growing queue; everything for a recall
    that rests on fewer sampled problems than `recall_min_problems`; and each reviewer for
    rubber-stamping: approvals faster than reading, long runs of approvals, approving
    far more than peers on a tier, approving more when the queue is deep.

    Args:
        report: What `compute` returned.
        config: The thresholds; default the config the report was computed with. What
            shapes the figures themselves (reading speed, deep-queue depth, queue
            lookback, human cost) was applied by `compute` and is not read again here.

    Example:
        >>> for sign in warning_signs(compute("hitl.sqlite", window="7d")):
        ...     print(sign.line())
        too_cautious [all]: 42.0% of routed work went to a human (over 40.0%): 34 of 81
        recall_thin [all]: recall 100.0% rests on 0 sampled problems (fewer than 5): ...
        rubber_stamp_fast [reviewer=rex]: 9 of 9 timed approvals (100.0%) came faster than ...
    """
    config = config or report.config
    found: list[WarningSign] = []
    scopes = [("all", report.overall)]
    scopes += [(f"{report.group_by}={key}", m) for key, m in report.groups.items()]
    for scope, m in scopes:
        if m.escalation is not None:
            found += _escalation_signs(scope, m.escalation, config)
        if m.decisions is not None:
            found += _override_signs(scope, m.decisions, config)
        if m.time_to_escalate is not None:
            found += _latency_signs(scope, m.time_to_escalate, config)
        if m.queue is not None:
            found += _queue_signs(scope, m.queue, config)
        if m.recall is not None and scope == "all":
            found += _recall_signs(scope, m.recall, config)
    for stats in report.reviewers:
        found += _rubber_stamp_signs(stats, report, config)
    return found


def _escalation_signs(scope: str, e: Escalation, config: MetricsConfig) -> list[WarningSign]:
    rate = e.rate
    if rate is None or e.routed < config.min_routed:
        return []
    numbers = {"routed": e.routed, "escalated": e.escalated, "outcomes": e.outcomes}
    said = f"{pct(rate)} of routed work went to a human"
    if rate > config.escalation_rate_max:
        return [
            WarningSign(
                name="too_cautious",
                scope=scope,
                value=rate,
                threshold=config.escalation_rate_max,
                message=f"{said} (over {pct(config.escalation_rate_max)}):"
                f" {e.escalated} of {e.routed}",
                numbers=numbers,
            )
        ]
    if rate < config.escalation_rate_min:
        return [
            WarningSign(
                name="too_aggressive",
                scope=scope,
                value=rate,
                threshold=config.escalation_rate_min,
                message=f"{said} (under {pct(config.escalation_rate_min)}):"
                f" {e.escalated} of {e.routed}",
                numbers=numbers,
            )
        ]
    return []


def _recall_signs(scope: str, r: Recall, config: MetricsConfig) -> list[WarningSign]:
    if r.recall is None or not r.sampled_strata or r.sampled_problems >= config.recall_min_problems:
        return []
    bound = f"; at most, since {r.unmeasured} routed items were never reviewed" if r.bound else ""
    return [
        WarningSign(
            name="recall_thin",
            scope=scope,
            value=float(r.sampled_problems),
            threshold=float(config.recall_min_problems),
            message=f"recall {pct(r.recall)} rests on {r.sampled_problems} sampled problem"
            f"{'s' if r.sampled_problems != 1 else ''} (fewer than"
            f" {config.recall_min_problems}): its {r.level * 100:g}% interval is"
            f" {pct(r.low)}-{pct(r.high)}{bound}",
            numbers={
                "sampled_problems": r.sampled_problems,
                "found_exact": r.found_exact,
                "reviews_closed": r.reviews_closed,
                "unmeasured": r.unmeasured,
                "low": r.low,
                "high": r.high,
            },
        )
    ]


def _override_signs(scope: str, d: Decisions, config: MetricsConfig) -> list[WarningSign]:
    trend = d.trend
    enough = min(d.first_half[0], d.second_half[0]) >= config.min_decisions
    if trend is None or not enough or trend < config.override_rise:
        return []
    first = _share(d.first_half[1], d.first_half[0])
    second = _share(d.second_half[1], d.second_half[0])
    return [
        WarningSign(
            name="overrides_rising",
            scope=scope,
            value=trend,
            threshold=config.override_rise,
            message=f"override rate rose from {pct(first)} to {pct(second)} between the"
            f" window's halves (+{trend * 100:.1f} points, limit {config.override_rise * 100:.1f})",
            numbers={
                "first_half": {"decided": d.first_half[0], "overrides": d.first_half[1]},
                "second_half": {"decided": d.second_half[0], "overrides": d.second_half[1]},
            },
        )
    ]


def _latency_signs(scope: str, t: Latency, config: MetricsConfig) -> list[WarningSign]:
    q = config.time_to_escalate_percentile
    value = t.times.at(q)
    if value is None or value <= config.time_to_escalate_max:
        return []
    return [
        WarningSign(
            name="slow_escalation",
            scope=scope,
            value=value,
            threshold=config.time_to_escalate_max,
            message=f"p{q} time to escalate is {span(value)} (over"
            f" {span(config.time_to_escalate_max)}, {t.source}, {t.times.count} requests)",
            numbers={**asdict(t.times), "source": t.source, "undelivered": t.undelivered},
        )
    ]


def _queue_signs(scope: str, queue: Queue, config: MetricsConfig) -> list[WarningSign]:
    growth = queue.depth - queue.depth_before
    needed = max(config.queue_growth_min, config.queue_growth_share * queue.depth_before)
    if growth < needed:
        return []
    return [
        WarningSign(
            name="queue_growing",
            scope=scope,
            value=float(growth),
            threshold=float(needed),
            message=f"queue grew from {queue.depth_before} to {queue.depth} in"
            f" {span(queue.lookback)} ({queue.arrived} arrived, {queue.left} left)",
            numbers=asdict(queue),
        )
    ]


def _rubber_stamp_signs(
    r: ReviewerStats, report: MetricsReport, config: MetricsConfig
) -> list[WarningSign]:
    found: list[WarningSign] = []
    scope = f"reviewer={r.reviewer}"
    fast_share = _share(r.fast_approvals, r.timed_approvals)
    if (
        fast_share is not None
        and r.fast_approvals >= config.min_fast_approvals
        and fast_share >= config.fast_approval_share
    ):
        found.append(
            WarningSign(
                name="rubber_stamp_fast",
                scope=scope,
                value=fast_share,
                threshold=config.fast_approval_share,
                message=f"{r.fast_approvals} of {r.timed_approvals} timed approvals"
                f" ({pct(fast_share)}) came faster than the request could be read"
                f" at {config.reading_wpm:g} words a minute",
                numbers={
                    "fast_approvals": r.fast_approvals,
                    "timed_approvals": r.timed_approvals,
                    "decision_time": asdict(r.decision_time),
                },
            )
        )
    if r.longest_run >= config.approval_run_max:
        p = report.overall_approval_rate or 0.0
        chance = r.decisions * (1 - p) * p**r.longest_run
        found.append(
            WarningSign(
                name="rubber_stamp_run",
                scope=scope,
                value=float(r.longest_run),
                threshold=float(config.approval_run_max),
                message=f"{r.longest_run} approvals in a row with no reject or edit"
                f" (at everyone's {pct(p)} approval rate, runs this long expected by"
                f" chance: {chance:.2g})",
                numbers={
                    "longest_run": r.longest_run,
                    "ended": iso(r.longest_run_ended),
                    "decisions": r.decisions,
                    "overall_approval_rate": p,
                    "expected_by_chance": chance,
                },
            )
        )
    found += _peer_signs(r, report, config, scope)
    deep_rate = _share(r.deep[1], r.deep[0])
    own = _share(r.shallow[1], r.shallow[0])
    base = own if r.shallow[0] >= config.min_decisions else report.shallow_approval_rate
    if (
        deep_rate is not None
        and base is not None
        and r.deep[0] >= config.min_decisions
        and deep_rate - base >= config.deep_queue_gap
    ):
        found.append(
            WarningSign(
                name="rubber_stamp_deep_queue",
                scope=scope,
                value=deep_rate - base,
                threshold=config.deep_queue_gap,
                message=f"approves {pct(deep_rate)} of requests opened in a queue"
                f" {config.deep_queue_depth}+ deep, against {pct(base)} otherwise",
                numbers={
                    "deep": {"decisions": r.deep[0], "approvals": r.deep[1]},
                    "shallow": {"decisions": r.shallow[0], "approvals": r.shallow[1]},
                    "baseline": "own" if base is own else "everyone",
                    "baseline_rate": base,
                    "deep_queue_depth": config.deep_queue_depth,
                },
            )
        )
    return found


def _peer_signs(
    r: ReviewerStats, report: MetricsReport, config: MetricsConfig, scope: str
) -> list[WarningSign]:
    found: list[WarningSign] = []
    for tier, (decided, approved) in r.by_tier.items():
        peers_decided = peers_approved = 0
        for other in report.reviewers:
            if other.reviewer != r.reviewer and tier in other.by_tier:
                peers_decided += other.by_tier[tier][0]
                peers_approved += other.by_tier[tier][1]
        mine = _share(approved, decided)
        theirs = _share(peers_approved, peers_decided)
        if mine is None or theirs is None:
            continue
        if min(decided, peers_decided) < config.min_decisions:
            continue
        if mine - theirs < config.peer_approval_gap:
            continue
        pooled = (approved + peers_approved) / (decided + peers_decided)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / decided + 1 / peers_decided))
        found.append(
            WarningSign(
                name="rubber_stamp_peers",
                scope=scope,
                value=mine - theirs,
                threshold=config.peer_approval_gap,
                message=f"approves {pct(mine)} of tier {tier} against {pct(theirs)} for"
                f" peers ({approved} of {decided}; peers {peers_approved} of {peers_decided})",
                numbers={
                    "tier": tier,
                    "decisions": decided,
                    "approvals": approved,
                    "peer_decisions": peers_decided,
                    "peer_approvals": peers_approved,
                    "z": None if spread == 0 else (mine - theirs) / spread,
                },
            )
        )
    return found


def to_prometheus(report: MetricsReport, signs: Sequence[WarningSign] = ()) -> str:
    """The report in Prometheus' text exposition format (version 0.0.4).

    Figures overall carry no labels; a group's carry its `gate`, `tier` or `reviewer`
    label, and reviewers' own figures a `reviewer` label. Counts and rates are gauges;
    durations are summaries (quantiles 0.5, 0.95, 0.99, with `_sum` and `_count`).
    Every warning sign given is a `langgraph_hitl_warning{name=...,scope=...} 1` sample.

    Example:
        >>> report = compute("hitl.sqlite", window="7d")
        >>> print(to_prometheus(report, warning_signs(report)), end="")
        # HELP langgraph_hitl_window_seconds Length of the window.
        # TYPE langgraph_hitl_window_seconds gauge
        langgraph_hitl_window_seconds 604800.0
        ...
        langgraph_hitl_queue_depth 1.0
        ...
        langgraph_hitl_warning{name="rubber_stamp_fast",scope="reviewer=rex"} 1.0
    """
    from langgraph_hitl.insight._report import to_prometheus as render

    return render(report, signs)
