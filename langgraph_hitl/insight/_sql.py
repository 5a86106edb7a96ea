"""How `langgraph_hitl.insight.metrics.compute` reads the ledger: a few grouped queries.

Counts are summed by SQL (`GROUP BY` the group and the time bucket) and added up here
for the overall figures; percentiles, runs of approvals and queue depth at a given
moment need the rows themselves (one per request or decision, fetched once). Every
query runs inside one read transaction, so the figures agree with each other.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from langgraph_hitl._time import iso, parse_duration
from langgraph_hitl.errors import BadInputError
from langgraph_hitl.insight.metrics import (
    DECISION_TIME_EDGES,
    NEEDED_EVENT,
    NO_GROUP,
    OVERRIDE_TYPES,
    Decisions,
    Distribution,
    Escalation,
    GroupBy,
    Latency,
    MetricsConfig,
    MetricSet,
    MetricsReport,
    Outcomes,
    Queue,
    Recall,
    ReviewerStats,
    Series,
    Source,
    Stratum,
    StratumRoute,
    _share,
    poisson_interval,
)
from langgraph_hitl.ledger import SWEEP_ACTOR, ReviewLedger
from langgraph_hitl.ledger._args import args_sql


def _seconds(value: float | datetime | None) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@contextmanager
def _snapshot(source: Source) -> Iterator[Any]:
    """One read transaction, so every figure comes from the same state of the file."""
    if isinstance(source, str | Path):
        with ReviewLedger.open(source) as ledger, _snapshot(ledger) as conn:
            yield conn
        return
    ledger = source if isinstance(source, ReviewLedger) else ReviewLedger(source)
    ledger.setup()
    with ledger.snapshot() as conn:
        yield conn


_KEYS: dict[str, dict[str, str]] = {
    # Per table alias, the SQL naming each grouping; a missing entry does not apply.
    "routes": {"tier": "rt.tier"},
    "decisions": {"gate": "r.gate", "tier": "r.tier", "reviewer": "d.reviewer"},
    "reviews": {"tier": "COALESCE(rt.tier, rv.tier)"},
    "requests": {"gate": "r.gate", "tier": "r.tier"},
}

_CLOSED_AT = (
    "CASE WHEN r.status = 'pending' THEN NULL ELSE COALESCE(r.decided_at, r.applied_at,"
    " (SELECT MIN(e.at) FROM hitl_events e WHERE e.request_id = r.request_id"
    " AND e.kind IN ('cancelled', 'superseded')), r.created_at) END"
)


class _Reader:
    """The window, the buckets and the grouping, over one connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        since: float,
        until: float,
        group_by: GroupBy | None,
        config: MetricsConfig,
    ) -> None:
        self.conn = conn
        self.since = since
        self.until = until
        self.group_by = group_by
        self.config = config
        self.buckets = config.buckets
        self.step = (until - since) / config.buckets
        self.half = config.buckets // 2

    def key(self, table: str) -> str:
        expr = _KEYS[table].get(self.group_by or "")
        return "'*'" if expr is None else f"COALESCE({expr}, '{NO_GROUP}')"

    def applies(self, table: str) -> bool:
        return self.group_by is not None and self.group_by in _KEYS[table]

    @staticmethod
    def bucket(column: str) -> str:
        return f"MIN(CAST(({column} - :since) / :step AS INTEGER), :last)"

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of `sql`, with `:since`, `:until`, `:step` and `:last` bound too."""
        bound = {
            "since": self.since,
            "until": self.until,
            "step": self.step,
            "last": self.buckets - 1,
            **params,
        }
        return self.conn.execute(sql, bound).fetchall()


def _window(
    conn: sqlite3.Connection,
    since: float | None,
    until: float,
    window: float | timedelta | str | None,
) -> float:
    if since is None and window is not None:
        span = (
            window.total_seconds()
            if isinstance(window, timedelta)
            else parse_duration(window)
            if isinstance(window, str)
            else window
        )
        since = until - float(span)
    if since is None:
        first = conn.execute(
            "SELECT MIN(m) FROM (SELECT MIN(created_at) AS m FROM hitl_requests"
            " UNION ALL SELECT MIN(created_at) FROM hitl_routes"
            " UNION ALL SELECT MIN(created_at) FROM hitl_reviews"
            " UNION ALL SELECT MIN(finished_at) FROM hitl_threads) AS firsts"
        ).fetchone()[0]
        since = until - 86_400.0 if first is None or first >= until else float(first)
    if since >= until:
        raise BadInputError(f"the window is empty: it starts at {iso(since)}, after its end")
    return since


def read(
    source: Source,
    *,
    since: float | datetime | None,
    until: float | datetime | None,
    window: float | timedelta | str | None,
    group_by: GroupBy | None,
    config: MetricsConfig,
) -> MetricsReport:
    """`compute`, once its arguments are checked."""
    started = time.perf_counter()
    end = _seconds(until)
    end = time.time() if end is None else end
    with _snapshot(source) as conn:
        start = _window(conn, _seconds(since), end, window)
        reader = _Reader(conn, start, end, group_by, config)
        escalation, routed, escalated = _escalation(reader)
        decisions, decided, overrides = _decisions(reader)
        episodes = _episodes(reader)
        decisions = {key: episodes.onto(key, d) for key, d in decisions.items()}
        recall = _recall(reader, decisions, episodes.caught_by_tier)
        latency = _time_to_escalate(reader)
        lifecycle = _Lifecycle(reader)
        acts = _acts(reader, lifecycle)
        outcomes = _outcomes(reader, acts.human_seconds)
    overall_key = "*"
    keys = sorted(
        k
        for k in {*escalation, *decisions, *recall, *latency, *lifecycle.queues, *acts.times}
        if k != overall_key
    )

    days = (end - start) / 86_400.0
    empty: dict[str, Any] = {
        # What a group the grouping applies to, but with no rows, reads as.
        "routes": Escalation(),
        "decisions": Decisions(days=days),
        "reviews": Recall(level=config.confidence_level),
        "latency": Latency(source=latency[overall_key].source),
        "queue": Queue(lookback=config.queue_lookback),
    }

    def part(found: dict[str, Any], key: str, table: str, kind: str) -> Any:
        if key in found:
            return found[key]
        return empty[kind] if key == overall_key or reader.applies(table) else None

    def metric_set(key: str) -> MetricSet:
        # Every grouping has a gate, tier and reviewer for each decision.
        return MetricSet(
            escalation=part(escalation, key, "routes", "routes"),
            decisions=part(decisions, key, "decisions", "decisions"),
            recall=part(recall, key, "reviews", "reviews"),
            time_to_escalate=part(latency, key, "requests", "latency"),
            time_to_correct=Distribution.of(acts.times.get(key, [])),
            unopened=acts.unopened.get(key, 0),
            queue=part(lifecycle.queues, key, "requests", "queue"),
            outcomes=outcomes if key == overall_key else None,
        )

    return MetricsReport(
        since=start,
        until=end,
        group_by=group_by,
        overall=metric_set(overall_key),
        groups={key: metric_set(key) for key in keys},
        reviewers=acts.reviewers,
        series=Series(
            start=start,
            step=reader.step,
            queue_depth=lifecycle.series(),
            routed=routed,
            escalated=escalated,
            decided=decided,
            overrides=overrides,
        ),
        config=config,
        shallow_approval_rate=acts.shallow_rate,
        overall_approval_rate=acts.approval_rate,
        seconds=time.perf_counter() - started,
    )


_OUTCOMES = ("escalated", "autonomous", "sampled", "review")
_TYPES = ("approve", *OVERRIDE_TYPES)


def _escalation(reader: _Reader) -> tuple[dict[str, Escalation], list[int], list[int]]:
    # One SUM per outcome, grouped by bucket: far fewer rows to sort than by outcome too.
    sums = ", ".join(f"SUM(outcome = '{o}')" for o in _OUTCOMES)
    sql = (
        f"SELECT {reader.key('routes')}, {reader.bucket('created_at')}, COUNT(*), {sums}"
        " FROM hitl_routes rt WHERE created_at >= :since AND created_at < :until GROUP BY 1, 2"
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * (len(_OUTCOMES) + 1))
    counts["*"] = [0] * (len(_OUTCOMES) + 1)
    routed = [0] * reader.buckets
    escalated = [0] * reader.buckets
    grouped = reader.applies("routes")
    for key, bucket, *numbers in reader.rows(sql):
        for target in ("*", key) if grouped else ("*",):
            counts[target] = [a + b for a, b in zip(counts[target], numbers, strict=True)]
        routed[bucket] += numbers[0]
        escalated[bucket] += numbers[1]
    out = {}
    for key, (total, *by_outcome) in counts.items():
        outcomes = {o: n for o, n in zip(_OUTCOMES, by_outcome, strict=True) if n}
        if total > sum(by_outcome):
            outcomes["other"] = total - sum(by_outcome)
        out[key] = Escalation(routed=total, escalated=by_outcome[0], outcomes=outcomes)
    return out, routed, escalated


def _decisions(reader: _Reader) -> tuple[dict[str, Decisions], list[int], list[int]]:
    human = "d.reviewer IS NOT :sweep"
    sums = ", ".join(f"SUM({human} AND d.type = '{t}')" for t in _TYPES)
    sql = (
        f"SELECT {reader.key('decisions')}, {reader.bucket('r.decided_at')},"
        f" SUM(d.reviewer IS :sweep), {sums}, SUM({human} AND d.type = 'approve'"
        "  AND d.request_id IN (SELECT request_id FROM hitl_events WHERE kind = :needed))"
        " FROM hitl_requests r JOIN hitl_decisions d ON d.request_id = r.request_id"
        " WHERE r.decided_at >= :since AND r.decided_at < :until GROUP BY 1, 2"
    )
    grouped = reader.applies("decisions")
    # Per group: timeouts, one count per type, needed, then decided and overrides per half.
    width = len(_TYPES) + 6
    acc: dict[str, list[int]] = defaultdict(lambda: [0] * width)
    acc["*"] = [0] * width
    decided = [0] * reader.buckets
    changed = [0] * reader.buckets
    for key, bucket, timeouts, *types, needed in reader.rows(
        sql, sweep=SWEEP_ACTOR, needed=NEEDED_EVENT
    ):
        total, overrides = sum(types), sum(types[1:])
        half = [total, overrides, 0, 0] if bucket < reader.half else [0, 0, total, overrides]
        row = [timeouts, *types, needed, *half]
        # The sweep is nobody's reviewer group: its timeouts count overall only.
        alone = not grouped or (reader.group_by == "reviewer" and key == SWEEP_ACTOR)
        for target in ("*",) if alone else ("*", key):
            acc[target] = [a + b for a, b in zip(acc[target], row, strict=True)]
        decided[bucket] += total
        changed[bucket] += overrides
    days = (reader.until - reader.since) / 86_400.0
    out: dict[str, Decisions] = {}
    for key, (timeouts, *rest) in acc.items():
        types, (needed, d1, o1, d2, o2) = rest[: len(_TYPES)], rest[len(_TYPES) :]
        out[key] = Decisions(
            decided=sum(types),
            approved=types[0],
            overrides=sum(types[1:]),
            marked_needed=needed,
            timeouts=timeouts,
            by_type={t: n for t, n in zip(_TYPES, types, strict=True) if n},
            first_half=(d1, o1),
            second_half=(d2, o2),
            days=days,
        )
    return out, decided, changed


@dataclass
class _Episodes:
    counts: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """Per group: escalations decided, overridden, and needed (overridden or marked)."""
    caught_by_tier: dict[str, int] = field(default_factory=dict)
    """Escalations a human overrode or marked needed, by the tier of their first request."""

    def onto(self, key: str, decisions: Decisions) -> Decisions:
        escalations, overridden, needed = self.counts.get(key, (0, 0, 0))
        return replace(
            decisions,
            escalations=escalations,
            escalations_overridden=overridden,
            escalations_needed=needed,
        )


def _episodes(reader: _Reader) -> _Episodes:
    """Human decisions counted per escalation: the requests of a thread from one escalated
    route to the next are one escalation (asked again after an edit, or a quorum, is
    still one), and it was needed when any of its decisions overrode or was marked."""
    overrides = ", ".join(f"'{t}'" for t in OVERRIDE_TYPES)
    sql = (
        f"SELECT {reader.key('decisions')}, COALESCE((SELECT x.route_id FROM hitl_routes x"
        "  WHERE x.thread_id = r.thread_id AND x.outcome = 'escalated'"
        "  AND x.created_at <= r.created_at ORDER BY x.created_at DESC LIMIT 1), r.request_id),"
        f" r.created_at, COALESCE(r.tier, '{NO_GROUP}'), d.type IN ({overrides}),"
        " d.type = 'approve' AND EXISTS (SELECT 1 FROM hitl_events e"
        "  WHERE e.request_id = r.request_id AND e.kind = :needed)"
        " FROM hitl_requests r JOIN hitl_decisions d ON d.request_id = r.request_id"
        " WHERE r.decided_at >= :since AND r.decided_at < :until AND d.reviewer IS NOT :sweep"
    )
    grouped = reader.applies("decisions")
    # Per group, per escalation: [overridden, marked needed].
    seen: dict[str, dict[str, list[bool]]] = defaultdict(dict)
    first: dict[str, tuple[float, str]] = {}
    for key, episode, created, tier, overrode, marked in reader.rows(
        sql, sweep=SWEEP_ACTOR, needed=NEEDED_EVENT
    ):
        for target in ("*", key) if grouped else ("*",):
            flags = seen[target].setdefault(episode, [False, False])
            flags[0] = flags[0] or bool(overrode)
            flags[1] = flags[1] or bool(marked)
        if episode not in first or created < first[episode][0]:
            first[episode] = (created, tier)
    out = _Episodes()
    for target, found in seen.items():
        out.counts[target] = (
            len(found),
            sum(1 for o, _ in found.values() if o),
            sum(1 for o, m in found.values() if o or m),
        )
    for episode, (overrode, marked) in seen.get("*", {}).items():
        if overrode or marked:
            tier = first[episode][1]
            out.caught_by_tier[tier] = out.caught_by_tier.get(tier, 0) + 1
    return out


_STRATUM_ROUTE = (
    "CASE {0} WHEN 'review' THEN 'review' WHEN 'escalated' THEN 'escalated' ELSE 'alone' END"
)


def _recall(
    reader: _Reader, decisions: dict[str, Decisions], caught_by_tier: dict[str, int]
) -> dict[str, Recall]:
    """Recall overall (and per tier), from strata: each tier x route of the routing log."""
    grouped = reader.applies("reviews")
    tier = f"COALESCE(rt.tier, rv.tier, '{NO_GROUP}')"
    # A review names its routing row; older ones are matched by thread instead.
    sql = (
        f"SELECT {reader.key('reviews')}, {tier}, {_STRATUM_ROUTE.format('rt.outcome')},"
        " rv.status, COALESCE(rv.sample_rate, rt.sample_rate), COUNT(*)"
        " FROM hitl_reviews rv LEFT JOIN hitl_routes rt ON rt.route_id ="
        " COALESCE(rv.route_id, (SELECT x.route_id FROM hitl_routes x"
        "  WHERE x.thread_id = rv.thread_id AND x.created_at <= rv.created_at"
        "  ORDER BY x.created_at DESC LIMIT 1))"
        " WHERE rv.created_at >= :since AND rv.created_at < :until"
        " AND COALESCE(rt.outcome, '') <> 'escalated' GROUP BY 1, 2, 3, 4, 5"
    )
    acc: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"closed": 0, "open": 0, "exact": 0, "unweighted": 0, "sampled": [], "all": []}
    )
    # Per group, per (tier, route): routed, closed, open, problems, weighted misses, sampled.
    cells: dict[str, dict[tuple[str, StratumRoute], list[Any]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0, 0, 0.0, False, 0])
    )
    for key, t, route, status, rate, n in reader.rows(sql):
        known = rate is not None and 0 < rate <= 1
        weight = 1.0 / rate if known else 1.0
        for target in ("*", key) if grouped else ("*",):
            a = acc[target]
            cell = cells[target][(t, route)]
            if status == "open":
                a["open"] += n
                cell[2] += n
                continue
            a["closed"] += n
            cell[1] += n
            cell[5] = cell[5] or weight > 1.0
            if weight > 1.0:
                a["all"].append((weight, n))
            if status != "problem":
                continue
            cell[3] += n
            cell[4] += weight * n
            if weight > 1.0:
                a["sampled"].append((weight, n))
            else:
                a["exact"] += n
                a["unweighted"] += 0 if known else n
    routes = (
        f"SELECT {reader.key('routes')}, COALESCE(rt.tier, '{NO_GROUP}'),"
        f" {_STRATUM_ROUTE.format('rt.outcome')}, COUNT(*) FROM hitl_routes rt"
        " WHERE rt.created_at >= :since AND rt.created_at < :until GROUP BY 1, 2, 3"
    )
    for key, t, route, n in reader.rows(routes):
        for target in ("*", key) if grouped else ("*",):
            cells[target][(t, route)][0] += n
    for t, n in caught_by_tier.items():
        for target in ("*", t) if grouped else ("*",):
            cells[target][(t, "escalated")][6] += n
    level = reader.config.confidence_level
    out: dict[str, Recall] = {}
    for key in ["*", *(decisions if grouped else ()), *cells]:
        acc[key]["open"] += 0  # a group with escalations or routes still has a recall
    for key in list(acc):
        a = acc[key]
        d = decisions.get(key)
        caught = 0 if d is None else d.caught
        k = sum(n for _, n in a["sampled"])
        estimate = math.fsum(w * n for w, n in a["sampled"])
        pool = a["sampled"] or a["all"]
        mean_weight = math.fsum(w * n for w, n in pool) / sum(n for _, n in pool) if pool else 0.0
        low, high = poisson_interval(k, level)
        strata = tuple(
            Stratum(
                tier=t,
                route=route,
                routed=routed,
                reviewed=closed,
                open=still_open,
                problems=problems,
                estimated_missed=None if route == "escalated" or not closed else missed,
                caught=got,
            )
            for (t, route), (routed, closed, still_open, problems, missed, _, got) in sorted(
                cells[key].items(), key=lambda item: (_ROUTE_ORDER.get(item[0][1], 3), item[0])
            )
        )
        out[key] = Recall(
            caught=caught,
            found=k + a["exact"],
            found_exact=a["exact"],
            estimated_missed=a["exact"] + estimate,
            missed_low=a["exact"] + mean_weight * low,
            missed_high=a["exact"] + mean_weight * high,
            reviews_closed=a["closed"],
            reviews_open=a["open"],
            unweighted=a["unweighted"],
            sampled_problems=k,
            sampled_strata=sum(1 for cell in cells[key].values() if cell[5]),
            strata=strata,
            level=level,
        )
    return out


_ROUTE_ORDER = {"escalated": 0, "review": 1, "alone": 2}


def _time_to_escalate(reader: _Reader) -> dict[str, Latency]:
    # The route that sent this request to a human: the thread's last escalated route
    # before it, unless an earlier request of the thread already answered that route.
    sql = (
        f"SELECT {reader.key('requests')}, r.created_at,"
        " (SELECT MAX(x.created_at) FROM hitl_routes x WHERE x.thread_id = r.thread_id"
        "  AND x.outcome = 'escalated' AND x.created_at <= r.created_at"
        "  AND NOT EXISTS (SELECT 1 FROM hitl_requests p WHERE p.thread_id = r.thread_id"
        "   AND p.created_at < r.created_at AND p.created_at >= x.created_at)),"
        " r.request_id FROM hitl_requests r WHERE r.created_at >= :since AND r.created_at < :until"
    )
    # The outbox has no index on request_id: read its deliveries once, not per request.
    # A `created` notification is queued in the same transaction as the request.
    delivered_at: dict[str, float] = {}
    for request_id, at in reader.rows(
        "SELECT request_id, delivered_at FROM hitl_outbox WHERE kind = 'created'"
        " AND delivered_at IS NOT NULL AND created_at >= :since AND created_at < :until"
    ):
        delivered_at[request_id] = min(at, delivered_at.get(request_id, at))
    rows = [(k, c, routed, delivered_at.get(rid)) for k, c, routed, rid in reader.rows(sql)]
    notified = any(row[3] is not None for row in rows)
    grouped = reader.applies("requests")
    times: dict[str, list[float]] = defaultdict(list)
    undelivered: dict[str, int] = defaultdict(int)
    times["*"] = []
    for key, created, routed_at, delivered in rows:
        begin = created if routed_at is None else routed_at
        end = delivered if notified else created
        for target in ("*", key) if grouped else ("*",):
            if end is None:
                undelivered[target] += 1
            else:
                times[target].append(max(0.0, end - begin))
    source: Literal["notified", "recorded"] = "notified" if notified else "recorded"
    return {
        key: Latency(source=source, times=Distribution.of(values), undelivered=undelivered[key])
        for key, values in times.items()
    }


class _Lifecycle:
    """When each request joined and left the queue: depth at any time, per group."""

    def __init__(self, reader: _Reader) -> None:
        sql = (
            f"SELECT {reader.key('requests')}, r.created_at, {_CLOSED_AT}"
            " FROM hitl_requests r WHERE r.created_at < :until"
        )
        rows = reader.rows(sql)
        self.reader = reader
        self.created = sorted(row[1] for row in rows)
        self.closed = sorted(row[2] for row in rows if row[2] is not None)
        grouped = reader.applies("requests")
        until = reader.until
        before = until - reader.config.queue_lookback
        acc: dict[str, list[Any]] = defaultdict(lambda: [0, None, 0, 0, 0])
        acc["*"] = [0, None, 0, 0, 0]
        for key, created, closed in rows:
            for target in ("*", key) if grouped else ("*",):
                a = acc[target]
                if closed is None or closed >= until:
                    a[0] += 1
                    a[1] = created if a[1] is None else min(a[1], created)
                if created <= before and (closed is None or closed >= before):
                    a[2] += 1
                if created > before:
                    a[3] += 1
                if closed is not None and before < closed < until:
                    a[4] += 1
        self.queues = {
            key: Queue(
                depth=a[0],
                oldest_age=None if a[1] is None else until - a[1],
                depth_before=a[2],
                lookback=reader.config.queue_lookback,
                arrived=a[3],
                left=a[4],
            )
            for key, a in acc.items()
        }

    def depth(self, at: float) -> int:
        """Requests pending at `at` (one decided exactly then still counts)."""
        return bisect.bisect_right(self.created, at) - bisect.bisect_left(self.closed, at)

    def series(self) -> list[int]:
        r = self.reader
        return [self.depth(r.since + (i + 1) * r.step) for i in range(r.buckets)]


@dataclass
class _Acts:
    times: dict[str, list[float]]
    """Measured decision times per group (and `*`)."""
    unopened: dict[str, int]
    reviewers: list[ReviewerStats]
    human_seconds: float
    shallow_rate: float | None
    approval_rate: float | None


_ACTS = (
    # Decisions by people, and quorum votes that did not end up as the decision.
    "WITH acts AS (SELECT r.request_id AS request_id, d.reviewer AS reviewer, d.type AS type,"
    "  r.decided_at AS at, r.gate AS gate, r.tier AS tier, r.summary AS summary,"
    f"  r.reasons AS reasons, {args_sql('r')} AS args FROM hitl_requests r"
    "  JOIN hitl_decisions d ON d.request_id = r.request_id"
    "  WHERE r.decided_at >= :since AND r.decided_at < :until AND d.reviewer IS NOT :sweep"
    " UNION ALL SELECT r.request_id, v.reviewer, v.type, v.voted_at, r.gate, r.tier,"
    f"  r.summary, r.reasons, {args_sql('r')} FROM hitl_votes v"
    "  JOIN hitl_requests r ON r.request_id = v.request_id"
    "  WHERE v.voted_at >= :since AND v.voted_at < :until AND NOT EXISTS (SELECT 1"
    "  FROM hitl_decisions d WHERE d.request_id = v.request_id AND d.reviewer IS v.reviewer))"
    " SELECT COALESCE(reviewer, :none), type = 'approve', at, COALESCE(gate, :none),"
    " COALESCE(tier, :none),"
    # Opened: the reviewer's own first `shown`, else anyone's before the decision.
    " COALESCE((SELECT MIN(e.at) FROM hitl_events e WHERE e.request_id = a.request_id"
    "   AND e.kind = 'shown' AND e.actor IS a.reviewer AND e.at <= a.at),"
    "  (SELECT MIN(e.at) FROM hitl_events e WHERE e.request_id = a.request_id"
    "   AND e.kind = 'shown' AND e.at <= a.at)),"
    # The least time reading what the request shows takes (`reading_seconds`).
    " MAX(:min_read, (LENGTH(summary) + LENGTH(reasons) + LENGTH(args))"
    "  / :chars_per_word * 60.0 / :wpm)"
    " FROM acts a ORDER BY 1, at, request_id"
)


def _acts(reader: _Reader, lifecycle: _Lifecycle) -> _Acts:
    """Every human decision and quorum vote: time to correct and each reviewer's habits."""
    config = reader.config
    rows = reader.rows(
        _ACTS,
        sweep=SWEEP_ACTOR,
        none=NO_GROUP,
        min_read=config.min_read_seconds,
        chars_per_word=config.chars_per_word,
        wpm=config.reading_wpm,
    )
    column = {"reviewer": 0, "gate": 3, "tier": 4}.get(reader.group_by or "")
    acts = _Acts(
        times=defaultdict(list),
        unopened=defaultdict(int),
        reviewers=[],
        human_seconds=0.0,
        shallow_rate=None,
        approval_rate=None,
    )
    acts.times["*"] = []
    for name, group in itertools.groupby(rows, key=operator.itemgetter(0)):
        acts.reviewers.append(_reviewer(name, list(group), lifecycle, config, acts, column))
    shallow = [sum(r.shallow[i] for r in acts.reviewers) for i in (0, 1)]
    acts.shallow_rate = _share(shallow[1], shallow[0])
    acts.approval_rate = _share(
        sum(r.approvals for r in acts.reviewers), sum(r.decisions for r in acts.reviewers)
    )
    acts.human_seconds = math.fsum(acts.times["*"])
    return acts


def _reviewer(
    name: str,
    rows: list[tuple[Any, ...]],
    lifecycle: _Lifecycle,
    config: MetricsConfig,
    acts: _Acts,
    column: int | None,
) -> ReviewerStats:
    """One reviewer's acts, oldest first; their measured times go to `acts` too."""
    created, closed = lifecycle.created, lifecycle.closed
    right, left = bisect.bisect_right, bisect.bisect_left
    deep_at = config.deep_queue_depth
    times: list[float] = []
    histogram = [0] * len(DECISION_TIME_EDGES)
    by_tier: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sides = {True: [0, 0], False: [0, 0]}  # deep, shallow: decisions, approvals
    approvals = timed = fast = run = longest = 0
    longest_ended: float | None = None
    everyone = acts.times["*"]
    for row in rows:
        _, approve, at, _, tier, opened, read = row
        approvals += approve
        counts = by_tier[tier]
        counts[0] += 1
        counts[1] += approve
        run = run + 1 if approve else 0
        if run > longest:
            longest, longest_ended = run, at
        moment = at if opened is None else opened
        side = sides[right(created, moment) - left(closed, moment) >= deep_at]
        side[0] += 1
        side[1] += approve
        if opened is None:
            acts.unopened["*"] += 1
            if column is not None:
                acts.unopened[row[column]] += 1
            continue
        spent = at - opened
        times.append(spent)
        everyone.append(spent)
        if column is not None:
            acts.times[row[column]].append(spent)
        histogram[right(DECISION_TIME_EDGES, spent) - 1] += 1
        if approve:
            timed += 1
            fast += spent < read
    return ReviewerStats(
        reviewer=name,
        decisions=len(rows),
        approvals=approvals,
        by_tier={t: (d, a) for t, (d, a) in sorted(by_tier.items())},
        decision_time=Distribution.of(times),
        histogram=histogram,
        timed_approvals=timed,
        fast_approvals=fast,
        longest_run=longest,
        longest_run_ended=longest_ended,
        deep=(sides[True][0], sides[True][1]),
        shallow=(sides[False][0], sides[False][1]),
    )


def _outcomes(reader: _Reader, human_seconds: float) -> Outcomes:
    fail = {f"fail{i}": result for i, result in enumerate(reader.config.failure_results)}
    fails = ", ".join(f":{name}" for name in fail)
    # LIMIT -1 keeps SQLite from flattening the subquery, which would evaluate `ok` and
    # `human` once per use instead of once per thread.
    sql = (
        "SELECT COUNT(*), TOTAL(ok), TOTAL(human), TOTAL(ok AND human), TOTAL(cost),"
        f" COUNT(cost) FROM (SELECT (t.result NOT IN ({fails}) AND t.thread_id NOT IN"
        "  (SELECT thread_id FROM hitl_reviews WHERE status = 'problem')) AS ok,"
        "  t.thread_id IN (SELECT thread_id FROM hitl_requests) AS human, t.cost AS cost"
        "  FROM hitl_threads t WHERE t.result IS NOT NULL AND t.finished_at >= :since"
        "  AND t.finished_at < :until LIMIT -1) AS per_thread"
    )
    finished, succeeded, with_human, both, cost, costed = reader.rows(sql, **fail)[0]
    return Outcomes(
        finished=finished,
        succeeded=int(succeeded),
        with_human=int(with_human),
        succeeded_with_human=int(both),
        agent_cost=float(cost),
        costed=costed,
        human_seconds=human_seconds,
        human_cost=human_seconds / 3600.0 * reader.config.human_cost_per_hour,
    )
