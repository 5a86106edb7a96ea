"""Metrics and warning signs on ledgers with known answers, the CLI, Prometheus and HTML.

Each ledger is a real database, a SQLite file and a PostgreSQL database in turn (the
`database` fixture), made by `ReviewLedger` and filled with direct INSERTs at chosen times
(seconds after `T0`), so every figure has an answer worked out by hand here, and the
metrics' SQL gives it on both. One test goes through the ledger's own API instead. The
CLI runs as real processes; the HTML report is rendered by headless Chromium.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backends import backend_of, new_database
from prometheus_client.parser import text_string_to_metric_families

from langgraph_hitl.errors import BadInputError, ConfigurationError
from langgraph_hitl.insight._report import to_html
from langgraph_hitl.insight.metrics import (
    NEEDED_EVENT,
    MetricsConfig,
    MetricsReport,
    compute,
    percentile,
    poisson_interval,
    reading_seconds,
    to_prometheus,
    warning_signs,
)
from langgraph_hitl.ledger import SWEEP_ACTOR, ReviewLedger, connect
from langgraph_hitl.models import Action, ApprovalRequest, Decision

T0 = 1_700_000_000.0
DAY = 86_400.0
WINDOW = 2 * DAY
CLI = [str(Path(sys.executable).with_name("langgraph-hitl"))]


class Book:
    """Writes ledger rows at chosen times (seconds after T0) into a real ledger (a SQLite
    file or a PostgreSQL database), on a connection of its own, as another writer would."""

    def __init__(self, path: Path | str) -> None:
        with ReviewLedger.open(path, create=True):
            pass
        self.path = path
        self.conn = connect(path, create=False)
        self.n = 0

    def close(self) -> None:
        self.conn.commit()
        self.conn.close()

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def route(
        self,
        outcome: str,
        at: float,
        *,
        tier: str = "high",
        thread: str | None = None,
        rate: float | None = None,
    ) -> str:
        route_id = self._id("rt_")
        self.conn.execute(
            "INSERT INTO hitl_routes (route_id, thread_id, outcome, tier, sample_rate, reasons,"
            " created_at) VALUES (?, ?, ?, ?, ?, '[]', ?)",
            (route_id, thread or self._id("th-"), outcome, tier, rate, T0 + at),
        )
        return route_id

    def request(
        self,
        at: float,
        *,
        thread: str | None = None,
        gate: str = "approve_payment",
        tier: str = "high",
        summary: str = "Pay INV-7: 52,000.00 EUR to Acme GmbH",
    ) -> str:
        request_id = self._id("req_")
        self.conn.execute(
            "INSERT INTO hitl_requests (request_id, thread_id, interrupt_id, gate, action_name,"
            " action_args, summary, tier, reasons, status, created_at, payload, args_digest)"
            " VALUES (?, ?, ?, ?, 'pay_invoice', '{}', ?, ?, '[]', 'pending', ?, '{}', 'd')",
            (request_id, thread or self._id("th-"), request_id, gate, summary, tier, T0 + at),
        )
        self.event("created", request_id, at)
        return request_id

    def event(self, kind: str, request_id: str, at: float, actor: str | None = None) -> None:
        self.conn.execute(
            "INSERT INTO hitl_events (at, kind, request_id, actor, data, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, '{}', '', '')",
            (T0 + at, kind, request_id, actor),
        )

    def decide(self, request_id: str, kind: str, reviewer: str, at: float) -> None:
        self.conn.execute(
            "INSERT INTO hitl_decisions (decision_id, request_id, type, reviewer, payload,"
            " seen_digest, decided_at) VALUES (?, ?, ?, ?, '{}', 'd', ?)",
            (self._id("dec_"), request_id, kind, reviewer, T0 + at),
        )
        self.conn.execute(
            "UPDATE hitl_requests SET status = 'applied', decided_at = ?, applied_at = ?"
            " WHERE request_id = ?",
            (T0 + at, T0 + at, request_id),
        )

    def review_case(
        self,
        reviewer: str,
        kind: str,
        *,
        opened: float,
        took: float,
        tier: str = "high",
        gate: str = "approve_payment",
        summary: str = "Pay INV-7: 52,000.00 EUR to Acme GmbH",
    ) -> str:
        """A request created 5 s before it is opened, shown to `reviewer`, decided."""
        request_id = self.request(opened - 5, tier=tier, gate=gate, summary=summary)
        self.event("shown", request_id, opened, reviewer)
        self.decide(request_id, kind, reviewer, opened + took)
        return request_id

    def vote(self, request_id: str, reviewer: str, kind: str, at: float) -> None:
        self.conn.execute(
            "INSERT INTO hitl_votes (request_id, reviewer, type, voted_at) VALUES (?, ?, ?, ?)",
            (request_id, reviewer, kind, T0 + at),
        )

    def outbox(self, request_id: str, created: float, delivered: float | None) -> None:
        self.conn.execute(
            "INSERT INTO hitl_outbox (event_seq, kind, request_id, body, created_at,"
            " next_attempt_at, delivered_at) VALUES (0, 'created', ?, '{}', ?, ?, ?)",
            (request_id, T0 + created, T0 + created, None if delivered is None else T0 + delivered),
        )

    def review(
        self,
        status: str,
        at: float,
        *,
        route_id: str | None = None,
        thread: str | None = None,
        rate: float | None = None,
        tier: str | None = "low",
    ) -> None:
        self.conn.execute(
            "INSERT INTO hitl_reviews (review_id, thread_id, action_name, action_args, summary,"
            " tier, reasons, status, created_at, route_id, sample_rate)"
            " VALUES (?, ?, 'pay_invoice', '{}', 'Pay', ?, '[]', ?, ?, ?, ?)",
            (self._id("rev_"), thread or self._id("th-"), tier, status, T0 + at, route_id, rate),
        )

    def finish(
        self, result: str, at: float, *, cost: float | None, thread: str | None = None
    ) -> str:
        thread = thread or self._id("th-")
        self.conn.execute(
            "INSERT INTO hitl_threads (thread_id, created_at, result, cost, finished_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (thread, T0 + at - 10, result, cost, T0 + at),
        )
        return thread


@pytest.fixture
def book(database: Path | str) -> Iterator[Book]:
    b = Book(database)
    yield b
    b.close()


@pytest.fixture
def sqlite_book(hitl_db: Path) -> Iterator[Book]:
    """A book on SQLite alone, for what happens after the figures are computed (rendering,
    argument checks): the backend only matters to `compute`, which `book` runs on both."""
    b = Book(hitl_db)
    yield b
    b.close()


def run(book: Book, **kwargs: Any) -> MetricsReport:
    book.conn.commit()
    kwargs.setdefault("since", T0)
    kwargs.setdefault("until", T0 + WINDOW)
    return compute(book.path, **kwargs)


def names(report: MetricsReport, config: MetricsConfig | None = None) -> set[str]:
    return {sign.name for sign in warning_signs(report, config)}


def healthy(book: Book) -> None:
    """A review process with nothing wrong: every check should stay quiet on it."""
    for i in range(100):
        book.route("escalated" if i % 5 == 0 else "autonomous", 100 + i * 1500)
    people = ["ana", "ben", "cy"]
    for i in range(60):
        kind = "reject" if i % 5 == 0 else "approve"
        book.review_case(people[i % 3], kind, opened=1000 + i * 2800, took=30 + i % 7)


# -- small pieces ------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0


def test_poisson_interval_matches_known_garwood_limits() -> None:
    # Reference values: chi-square quantiles (scipy.stats.chi2.ppf) halved.
    assert poisson_interval(0) == pytest.approx((0.0, 3.6889), abs=1e-4)
    assert poisson_interval(2) == pytest.approx((0.2422, 7.2247), abs=1e-4)
    assert poisson_interval(10) == pytest.approx((4.7954, 18.3904), abs=1e-4)
    assert poisson_interval(1000) == pytest.approx((938.97, 1063.95), abs=0.01)
    assert poisson_interval(3, 0.90)[1] < poisson_interval(3, 0.99)[1]


def test_reading_time_follows_the_configured_speed() -> None:
    assert reading_seconds(600, MetricsConfig()) == 15.0  # 100 words at 400 a minute
    assert reading_seconds(600, MetricsConfig(reading_wpm=200)) == 30.0
    assert reading_seconds(6, MetricsConfig(min_read_seconds=2)) == 2.0


def test_config_loads_from_toml_with_durations(tmp_path: Path) -> None:
    top = tmp_path / "top.toml"
    top.write_text('escalation_rate_max = 0.3\ntime_to_escalate_max = "2m"\n')
    assert MetricsConfig.from_toml(top).time_to_escalate_max == 120.0
    table = tmp_path / "table.toml"
    table.write_text('[metrics]\nqueue_lookback = "12h"\nhuman_cost_per_hour = 80\n')
    loaded = MetricsConfig.from_toml(table)
    assert (loaded.queue_lookback, loaded.human_cost_per_hour) == (43_200.0, 80.0)
    bad = tmp_path / "bad.toml"
    bad.write_text("escalation_rate_maxx = 0.3\n")
    with pytest.raises(ConfigurationError, match="escalation_rate_maxx"):
        MetricsConfig.from_toml(bad)
    with pytest.raises(ConfigurationError, match="cannot read"):
        MetricsConfig.from_toml(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="above"):
        MetricsConfig(escalation_rate_min=0.5, escalation_rate_max=0.4)


@pytest.mark.parametrize("literal", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("key", ["human_cost_per_hour", "time_to_escalate_max", "reading_wpm"])
def test_config_refuses_nan_and_infinity(tmp_path: Path, key: str, literal: str) -> None:
    """TOML has nan and inf; a threshold of either would make a warning never (or always)
    fire. Refused naming the key, from a file and from Python alike."""
    path = tmp_path / "hitl.toml"
    path.write_text(f"[metrics]\n{key} = {literal}\n")
    with pytest.raises(ConfigurationError, match=f"{key}: .* is not a finite number"):
        MetricsConfig.from_toml(path)
    with pytest.raises(ValueError, match="finite number"):
        MetricsConfig.model_validate({key: float(literal)})


# -- each metric, known answers ------------------------------------------------------------


def test_escalation_rate_overall_and_per_tier(book: Book) -> None:
    for i in range(30):
        book.route("escalated" if i < 6 else "autonomous", 100 + i, tier="high")
    for i in range(10):
        book.route(["escalated", "sampled", "review", "autonomous"][i % 4], 200 + i, tier="low")
    book.route("escalated", -50)  # before the window
    report = run(book, group_by="tier")
    e = report.overall.escalation
    assert e is not None
    assert (e.routed, e.escalated, e.rate) == (40, 9, 9 / 40)
    assert e.outcomes == {"escalated": 9, "autonomous": 26, "sampled": 3, "review": 2}
    high, low = report.groups["high"].escalation, report.groups["low"].escalation
    assert high is not None and low is not None
    assert (high.rate, low.rate) == (6 / 30, 3 / 10)
    assert sum(report.series.routed) == 40 and sum(report.series.escalated) == 9
    # Work done alone never reaches a gate: there is no escalation rate per gate.
    book.request(300, gate="approve_payment")
    by_gate = run(book, group_by="gate").groups
    assert by_gate["approve_payment"].escalation is None
    assert by_gate["approve_payment"].queue is not None


def test_precision_override_rate_and_timeouts(book: Book) -> None:
    at = 1000.0
    for kind, count in (("approve", 6), ("reject", 2), ("modify", 1), ("respond", 1)):
        for _ in range(count):
            book.review_case("ana", kind, opened=at, took=20)
            at += 100
    needed = book.review_case("ben", "approve", opened=at, took=20)
    book.event(NEEDED_EVENT, needed, at + 30, "ben")
    timed_out = book.request(at + 100)
    book.decide(timed_out, "reject", SWEEP_ACTOR, at + 200)
    report = run(book, group_by="reviewer")
    d = report.overall.decisions
    assert d is not None
    assert (d.decided, d.approved, d.overrides, d.marked_needed, d.timeouts) == (11, 7, 4, 1, 1)
    assert d.by_type == {"approve": 7, "reject": 2, "modify": 1, "respond": 1}
    assert d.precision == pytest.approx(5 / 11)
    assert d.override_rate == pytest.approx(4 / 11)
    assert d.overrides_per_day == pytest.approx(4 / 2)
    ana, ben = report.groups["ana"].decisions, report.groups["ben"].decisions
    assert ana is not None and ben is not None
    assert (ana.override_rate, ben.precision) == (4 / 10, 1.0)
    assert SWEEP_ACTOR not in report.groups  # timeouts are nobody's decisions
    assert [r.reviewer for r in report.reviewers] == ["ana", "ben"]


def test_override_trend_compares_the_window_halves(book: Book) -> None:
    for i in range(30):
        book.review_case("ana", "reject" if i < 3 else "approve", opened=1000 + i * 100, took=20)
        kind = "reject" if i < 12 else "approve"
        book.review_case("ana", kind, opened=DAY + 1000 + i * 100, took=20)
    d = run(book).overall.decisions
    assert d is not None
    assert d.first_half == (30, 3) and d.second_half == (30, 12)
    assert d.trend == pytest.approx(0.3)
    assert "overrides_rising" in names(run(book))


def test_recall_is_estimated_from_sampled_reviews_weighted_by_rate(book: Book) -> None:
    for _ in range(8):  # caught: escalations a human changed
        book.review_case("ana", "reject", opened=1000, took=10)
    for _ in range(2):
        book.review_case("ana", "approve", opened=1000, took=10)
    for i in range(30):  # work sampled at 10%: 2 of 30 reviews found a problem
        rid = book.route("sampled", 500 + i, rate=0.1, tier="low")
        book.review("problem" if i < 2 else "ok", 600 + i, route_id=rid, tier="low")
    for i in range(10):  # middle-confidence work, all reviewed: 1 problem, counted as is
        rid = book.route("review", 700 + i, rate=1.0, tier="low")
        book.review("problem" if i == 0 else "ok", 800 + i, route_id=rid, tier="low")
    for i in range(5):  # still open: not counted
        book.review("open", 900 + i, route_id=book.route("sampled", 900, rate=0.1))
    escalated = book.route("escalated", 950)  # reviewed escalated work is not a miss
    book.review("problem", 960, route_id=escalated)
    r = run(book).overall.recall
    assert r is not None
    assert (r.caught, r.found, r.found_exact, r.reviews_closed, r.reviews_open) == (8, 3, 1, 40, 5)
    assert r.estimated_missed == pytest.approx(1 + 2 * 10)
    assert r.recall == pytest.approx(8 / (8 + 21))
    low, high = poisson_interval(2, 0.95)
    assert r.low == pytest.approx(8 / (8 + 1 + 10 * high))
    assert r.high == pytest.approx(8 / (8 + 1 + 10 * low))
    assert r.width == pytest.approx(r.high - r.low) and r.width > 0.3  # two problems: wide


def test_recall_matches_reviews_by_thread_and_flags_missing_rates(
    book: Book, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    book.review_case("ana", "reject", opened=1000, took=10)
    book.route("sampled", 100, thread="INV-9", rate=0.25, tier="medium")
    book.review("problem", 200, thread="INV-9", tier=None)  # no route_id: found by thread
    book.review("problem", 300)  # no route and no rate: weighted 1, said so
    report = run(book, group_by="tier")
    r = report.overall.recall
    assert r is not None
    assert (r.estimated_missed, r.unweighted, r.found_exact) == (4.0 + 1.0, 1, 1)
    assert r.recall == pytest.approx(1 / 6)
    medium, high = report.groups["medium"].recall, report.groups["high"].recall
    assert medium is not None and medium.estimated_missed == 4.0
    assert high is not None and (high.caught, high.recall) == (1, None)  # nothing reviewed
    # No review closed at all: no estimate, rather than a recall of 100%.
    empty = Book(new_database(request, backend_of(book.path), tmp_path / "empty"))
    empty.review_case("ana", "reject", opened=1000, took=10)
    unknown = run(empty).overall.recall
    empty.close()
    assert unknown is not None and unknown.caught == 1 and unknown.recall is None


def test_time_to_escalate_from_route_to_notification(book: Book) -> None:
    delays = [2, 4, 6, 8, 100]
    for i, delay in enumerate(delays):
        thread = f"INV-{i}"
        book.route("escalated", 1000 + i * 500, thread=thread)
        rid = book.request(1000 + i * 500 + 1, thread=thread, gate="approve_payment")
        book.outbox(rid, 1000 + i * 500 + 1, 1000 + i * 500 + delay)
    # A second request on a thread whose route an earlier request answered: from itself.
    again = book.request(1000 + 4 * 500 + 50, thread="INV-4", gate="approve_refund")
    book.outbox(again, 1000 + 4 * 500 + 50, 1000 + 4 * 500 + 53)
    book.request(9000, gate="approve_refund")  # notification not delivered (yet)
    report = run(book, group_by="gate")
    t = report.overall.time_to_escalate
    assert t is not None and t.source == "notified"
    assert (t.times.count, t.undelivered) == (6, 1)
    ordered = sorted([*delays, 3])
    assert t.times.p50 == pytest.approx(percentile(ordered, 50))
    assert t.times.p95 == pytest.approx(percentile(ordered, 95))
    assert t.times.p99 == pytest.approx(percentile(ordered, 99))
    refund = report.groups["approve_refund"].time_to_escalate
    assert refund is not None and (refund.times.count, refund.undelivered) == (1, 1)
    slow = {s.scope: s for s in warning_signs(report) if s.name == "slow_escalation"}
    assert set(slow) == {"all", "gate=approve_payment"}
    assert slow["all"].value == pytest.approx(percentile(ordered, 95))
    assert slow["all"].threshold == 60.0


def test_time_to_escalate_falls_back_to_the_recorded_request(book: Book) -> None:
    for i, delay in enumerate([0.5, 1.5, 2.5]):
        thread = f"INV-{i}"
        book.route("escalated", 1000 + i * 100, thread=thread)
        book.request(1000 + i * 100 + delay, thread=thread)
    t = run(book).overall.time_to_escalate
    assert t is not None and t.source == "recorded"
    assert (t.times.count, t.times.p50, t.undelivered) == (3, pytest.approx(1.5), 0)
    assert "slow_escalation" not in names(run(book))


def test_time_to_correct_from_opening_to_deciding(book: Book) -> None:
    for took in (10, 20, 30, 40):
        book.review_case("ana", "approve", opened=1000 + took * 10, took=took)
    # Opened by someone else (their `show` named the OS user): that opening counts.
    other = book.request(5000)
    book.event("shown", other, 5010, "root")
    book.decide(other, "reject", "ben", 5060)
    book.decide(book.request(6000), "approve", "ben", 6100)  # never opened
    report = run(book, group_by="reviewer")
    c = report.overall.time_to_correct
    assert c is not None
    assert (c.count, report.overall.unopened) == (5, 1)
    assert c.p50 == pytest.approx(30.0) and c.total == pytest.approx(150.0)
    ben = report.groups["ben"]
    assert ben.time_to_correct is not None and ben.time_to_correct.count == 1
    assert ben.unopened == 1


def test_quorum_votes_count_for_each_reviewer(book: Book) -> None:
    rid = book.request(1000)
    book.event("shown", rid, 1010, "ana")
    book.event("shown", rid, 1020, "ben")
    book.vote(rid, "ana", "approve", 1040)
    book.vote(rid, "ben", "approve", 1080)
    book.decide(rid, "approve", "ben", 1080)  # ben's vote completed the quorum
    report = run(book)
    assert [(r.reviewer, r.decisions, r.decision_time.total) for r in report.reviewers] == [
        ("ana", 1, 30.0),
        ("ben", 1, 60.0),
    ]
    assert report.overall.decisions is not None and report.overall.decisions.decided == 1


def test_queue_depth_age_and_growth(book: Book) -> None:
    until = WINDOW
    for i in range(3):  # waiting since the first day
        book.request(1000 + i)
    for i in range(12):  # arrived in the last day, still waiting
        book.request(until - DAY / 2 + i)
    done = book.request(until - DAY - 100)  # left the queue in the last day
    book.decide(done, "approve", "ana", until - 500)
    cancelled = book.request(2000)
    book.conn.execute(
        "UPDATE hitl_requests SET status = 'cancelled' WHERE request_id = ?", (cancelled,)
    )
    book.event("cancelled", cancelled, 3000)
    report = run(book, group_by="tier")
    q = report.overall.queue
    assert q is not None
    assert (q.depth, q.depth_before, q.arrived, q.left) == (15, 4, 12, 1)
    assert q.oldest_age == pytest.approx(until - 1000)
    assert report.series.queue_depth[0] == 3 and report.series.queue_depth[-1] == 15
    signs = {s.name: s for s in warning_signs(report)}
    assert signs["queue_growing"].numbers["depth"] == 15
    quiet = MetricsConfig(queue_growth_min=12)
    assert "queue_growing" not in names(report, quiet)


def test_task_success_and_cost_per_resolution(book: Book) -> None:
    for i in range(4):
        book.finish("paid", 1000 + i, cost=1.0)
    book.finish("cancelled", 2000, cost=0.5)
    flawed = book.finish("paid", 3000, cost=None)
    book.review("problem", 3100, thread=flawed)
    with_human = book.finish("rejected", 4000, cost=0.25)
    book.conn.execute(
        "INSERT INTO hitl_requests (request_id, thread_id, interrupt_id, action_name,"
        " action_args, summary, reasons, status, created_at, payload, args_digest)"
        " VALUES ('req_h', ?, 'i', 'pay', '{}', 'Pay', '[]', 'applied', ?, '{}', 'd')",
        (with_human, T0 + 3900),
    )
    book.finish("paid", -100, cost=9.0)  # finished before the window
    book.review_case("ana", "approve", opened=5000, took=1800)
    book.review_case("ana", "reject", opened=6000, took=1800)
    report = run(book, config=MetricsConfig(human_cost_per_hour=10))
    o = report.overall.outcomes
    assert o is not None
    assert (o.finished, o.succeeded, o.with_human, o.succeeded_with_human) == (7, 5, 1, 1)
    assert o.success_rate == pytest.approx(5 / 7)
    assert (o.agent_cost, o.costed, o.human_seconds) == (4.75, 6, 3600.0)
    assert o.human_cost == pytest.approx(10.0)
    assert o.cost_per_resolution == pytest.approx((4.75 + 10.0) / 7)


def test_the_window_bounds_what_counts(book: Book) -> None:
    book.route("escalated", -10)
    book.route("autonomous", 10)
    book.route("escalated", WINDOW + 10)
    e = run(book).overall.escalation
    assert e is not None and (e.routed, e.escalated) == (1, 0)
    book.conn.commit()
    week = compute(book.path, until=T0 + WINDOW + 20, window="7d").overall.escalation
    assert week is not None and (week.routed, week.escalated) == (3, 2)
    everything = compute(book.path, until=T0 + WINDOW + 20)
    assert everything.since == T0 - 10
    with pytest.raises(BadInputError, match="empty"):
        compute(book.path, since=T0 + 5, until=T0)
    with pytest.raises(BadInputError, match="group"):
        compute(book.path, group_by="vendor")  # type: ignore[arg-type]


def test_metrics_through_the_ledger_api(database: Path | str) -> None:
    """The same figures when the ledger's own methods wrote the rows."""
    with ReviewLedger.open(database, create=True) as ledger:
        for i in range(4):
            outcome = "escalated" if i == 0 else "sampled"
            routing = {"outcome": outcome, "tier": "high", "sample_rate": 0.5}
            route_id = ledger.record_route(thread_id=f"INV-{i}", routing=routing, node="score")
            request = ApprovalRequest(
                action=Action(name="pay_invoice", args={"amount": 52_000 + i}),
                summary=f"Pay INV-{i}",
                risk_tier="high",
            )
            if outcome == "escalated":
                payload = {"gate": "approve_payment", "request": request.to_wire()}
                rid = ledger.record_request(thread_id=f"INV-{i}", interrupt_id="i", payload=payload)
                ledger.add_event("shown", request_id=rid, thread_id=f"INV-{i}", actor="ana")
                ledger.record_decision(rid, Decision.reject("unknown vendor", reviewer="ana"))
            else:
                review_id = ledger.queue_review(
                    thread_id=f"INV-{i}", request=request, route_id=route_id, sample_rate=0.5
                )
                ledger.close_review(
                    review_id, problem="paid twice" if i == 1 else None, reviewer="cy"
                )
            ledger.finish_thread(f"INV-{i}", "paid", cost=0.5)
        report = compute(ledger)
    o = report.overall
    assert o.escalation is not None and o.escalation.rate == 0.25
    assert o.decisions is not None and (o.decisions.decided, o.decisions.overrides) == (1, 1)
    assert o.recall is not None and o.recall.estimated_missed == 2.0
    assert o.recall.recall == pytest.approx(1 / 3)
    assert o.queue is not None and o.queue.depth == 0
    assert o.outcomes is not None and (o.outcomes.finished, o.outcomes.succeeded) == (4, 3)
    assert o.time_to_correct is not None and o.time_to_correct.count == 1


# -- warning signs ---------------------------------------------------------------------------


def test_healthy_review_raises_no_warning_sign(book: Book) -> None:
    healthy(book)
    report = run(book, group_by="tier")
    assert warning_signs(report) == []


@pytest.mark.parametrize(("escalated", "sign"), [(12, "too_cautious"), (1, "too_aggressive")])
def test_escalation_rate_signs(book: Book, escalated: int, sign: str) -> None:
    for i in range(25):
        book.route("escalated" if i < escalated else "autonomous", 100 + i)
    found = {s.name: s for s in warning_signs(run(book))}
    assert set(found) == {sign}
    assert found[sign].value == pytest.approx(escalated / 25)
    assert found[sign].numbers["routed"] == 25
    # Too little routed work to judge: quiet.
    assert names(run(book), MetricsConfig(min_routed=26)) == set()


def test_rubber_stamp_fast_approvals(book: Book) -> None:
    long_summary = "x" * 598  # + '[]' + '{}' = 602 characters, about 100 words: 15 s
    for i in range(10):
        book.review_case("ben", "approve", opened=1000 + i * 100, took=2, summary=long_summary)
        book.review_case("ana", "approve", opened=1000 + i * 100, took=40, summary=long_summary)
    report = run(book)
    ben = next(r for r in report.reviewers if r.reviewer == "ben")
    assert (ben.fast_approvals, ben.timed_approvals) == (10, 10)
    assert ben.histogram[1] == 10  # 2-5 s
    found = [s for s in warning_signs(report) if s.name == "rubber_stamp_fast"]
    assert [s.scope for s in found] == ["reviewer=ben"]
    # At ten times the reading speed, two seconds is plausible (applied when computing).
    assert "rubber_stamp_fast" not in names(run(book, config=MetricsConfig(reading_wpm=4000)))


def test_rubber_stamp_long_run_of_approvals(book: Book) -> None:
    for i in range(60):
        book.review_case("ben", "approve", opened=1000 + i * 100, took=30)
        kind = "reject" if i % 4 == 0 else "approve"
        book.review_case("ana", kind, opened=1000 + i * 100, took=30)
    report = run(book)
    runs = {r.reviewer: r.longest_run for r in report.reviewers}
    assert runs == {"ana": 3, "ben": 60}
    found = [s for s in warning_signs(report) if s.name == "rubber_stamp_run"]
    assert [s.scope for s in found] == ["reviewer=ben"]
    assert found[0].numbers["expected_by_chance"] < 0.01
    assert "rubber_stamp_run" not in names(report, MetricsConfig(approval_run_max=61))


def test_rubber_stamp_approving_far_more_than_peers(book: Book) -> None:
    for i in range(30):
        book.review_case("ben", "approve", opened=1000 + i * 100, took=30, tier="high")
        kind = "reject" if i % 2 else "approve"
        book.review_case("ana", kind, opened=1000 + i * 100, took=30, tier="high")
        book.review_case("ben", kind, opened=9000 + i * 100, took=30, tier="low")
        book.review_case("cy", kind, opened=9000 + i * 100, took=30, tier="low")
    found = [s for s in warning_signs(run(book)) if s.name == "rubber_stamp_peers"]
    assert [(s.scope, s.numbers["tier"]) for s in found] == [("reviewer=ben", "high")]
    assert found[0].value == pytest.approx(1.0 - 0.5)
    assert found[0].numbers["z"] > 3


def test_rubber_stamp_approvals_in_a_deep_queue(book: Book) -> None:
    config = MetricsConfig(deep_queue_depth=10, min_decisions=8)
    for i in range(8):  # a short queue: half approved
        book.review_case("ben", "approve" if i % 2 else "reject", opened=1000 + i * 100, took=30)
    for i in range(12):  # then a backlog that never clears
        book.request(5000 + i)
    for i in range(8):  # in the deep queue: everything approved
        book.review_case("ben", "approve", opened=6000 + i * 100, took=30)
    report = run(book, config=config)
    ben = report.reviewers[0]
    assert (ben.shallow, ben.deep) == ((8, 4), (8, 8))
    found = [s for s in warning_signs(report) if s.name == "rubber_stamp_deep_queue"]
    assert len(found) == 1 and found[0].value == pytest.approx(0.5)
    assert found[0].numbers["baseline"] == "own"


def test_deep_queue_with_the_same_approval_rate_is_quiet(book: Book) -> None:
    config = MetricsConfig(deep_queue_depth=10, min_decisions=8)
    for i in range(8):
        book.review_case("ben", "approve" if i % 2 else "reject", opened=1000 + i * 100, took=30)
    for i in range(12):
        book.request(5000 + i)
    for i in range(8):
        book.review_case("ben", "approve" if i % 2 else "reject", opened=6000 + i * 100, took=30)
    assert "rubber_stamp_deep_queue" not in names(run(book, config=config))


# -- renderings ---------------------------------------------------------------------------


def test_prometheus_output_parses_with_the_reference_parser(book: Book) -> None:
    healthy(book)
    book.request(WINDOW - 100, tier='weird "tier"\\')  # label values get escaped
    for i in range(15):
        book.request(WINDOW - 50 + i)
    report = run(book, group_by="tier")
    signs = warning_signs(report)
    assert signs, "the queue grew: at least one warning sign"
    families = {f.name: f for f in text_string_to_metric_families(to_prometheus(report, signs))}
    rate = families["langgraph_hitl_escalation_rate"]
    assert rate.type == "gauge"
    by_tier = {s.labels.get("tier"): s.value for s in rate.samples}
    assert by_tier[None] == pytest.approx(0.2)
    assert "high" in by_tier
    assert 'weird "tier"\\' in {
        s.labels.get("tier") for s in families["langgraph_hitl_queue_depth"].samples
    }
    summary = families["langgraph_hitl_time_to_correct_seconds"]
    assert summary.type == "summary"
    quantiles = {s.labels.get("quantile") for s in summary.samples if not s.labels.get("tier")}
    assert {"0.5", "0.95", "0.99"} <= quantiles
    assert families["langgraph_hitl_warnings"].samples[0].value == len(signs)
    fired = {
        (s.labels["name"], s.labels["scope"]) for s in families["langgraph_hitl_warning"].samples
    }
    assert ("queue_growing", "all") in fired


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if shutil.which("apt-get") is None:
            pytest.skip("no chromium, and no apt-get to install it (make test installs it)")
        pytest.fail("chromium is missing: `make test` installs it (apt-get install chromium)")
    return found


PROBE = """
<script>
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("svg[role=img]")].map((svg) => {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll("polyline, rect, circle")];
    return {
      label: svg.getAttribute("aria-label"),
      title: svg.querySelector("title") && svg.querySelector("title").textContent,
      width: box.width,
      height: box.height,
      drawn: marks.filter((m) => m.getBBox().width > 0 || m.getBBox().height > 0).length,
      lines: svg.querySelectorAll("polyline").length,
    };
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(charts);
  document.body.appendChild(out);
});
</script>
"""


def test_html_report_renders_its_charts_in_headless_chromium(
    sqlite_book: Book, tmp_path: Path
) -> None:
    chromium = _chromium()
    book = sqlite_book
    healthy(book)
    for i in range(60):
        book.route("escalated", DAY + i * 60)
    report = run(book, group_by="tier")
    page = to_html(report, warning_signs(report))
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "too_cautious" in page  # warnings on top
    # The report has no script; the test adds one that measures what Chromium drew.
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    start = done.stdout.index('<pre id="probe">') + len('<pre id="probe">')
    charts = json.loads(
        done.stdout[start : done.stdout.index("</pre>", start)].replace("&quot;", '"')
    )
    by_label = {c["label"]: c for c in charts}
    assert set(by_label) == {
        "Queue depth over time",
        "Escalation rate over time",
        "Override rate over time",
        "Decision time per reviewer",
    }
    for chart in charts:
        assert chart["title"] == chart["label"]
        assert chart["width"] > 600 and chart["height"] > 100
        assert chart["drawn"] > 0, chart
    assert by_label["Queue depth over time"]["lines"] >= 1
    assert by_label["Escalation rate over time"]["lines"] >= 1
    assert by_label["Decision time per reviewer"]["drawn"] >= 3  # a bar row per reviewer


# -- the CLI, as real processes ----------------------------------------------------------------


def cli(db: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
    return subprocess.run(
        [*CLI, "--db", str(db), "metrics", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_json_check_prometheus_and_html(book: Book, tmp_path: Path) -> None:
    healthy(book)
    book.conn.commit()
    since = datetime_arg(T0)
    fine = cli(book.path, "--since", since, "--json", "--check")
    assert fine.returncode == 0, fine.stderr
    data = json.loads(fine.stdout)
    assert data["warnings"] == []
    assert data["overall"]["escalation"]["rate"] == pytest.approx(0.2)
    assert {"window", "overall", "groups", "reviewers", "series", "config"} <= set(data)

    for i in range(40):  # now far too cautious
        book.route("escalated", WINDOW - 1000 + i)
    book.conn.commit()
    html = tmp_path / "report.html"
    bad = cli(book.path, "--since", since, "--check", "--by", "tier", "--html", str(html))
    assert bad.returncode == 1, bad.stderr
    first = bad.stdout.splitlines()[0]
    assert first.startswith("WARNING too_cautious [all]")  # warnings on top
    assert "Escalation rate over time" in html.read_text()

    prom = cli(book.path, "--since", "all", "--prometheus")
    assert prom.returncode == 0
    names_found = {f.name for f in text_string_to_metric_families(prom.stdout)}
    assert "langgraph_hitl_escalation_rate" in names_found


def test_cli_bad_input_is_one_line_and_exit_2(sqlite_book: Book, tmp_path: Path) -> None:
    book = sqlite_book
    book.conn.commit()
    config = tmp_path / "m.toml"
    config.write_text("escalation_rate_max = 2\n")
    for args in (
        ["--by", "vendor"],
        ["--since", "last tuesday"],
        ["--config", str(config)],
        ["--json", "--prometheus"],
    ):
        done = cli(book.path, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error:")
    missing = cli(tmp_path / "nope.sqlite", "--json")
    assert missing.returncode == 2 and "no database" in missing.stderr


def datetime_arg(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_report_json_is_plain_json(book: Book) -> None:
    healthy(book)
    data = run(book, group_by="reviewer").to_json()
    text = json.dumps(data)
    assert "NaN" not in text and "Infinity" not in text
    assert set(data["groups"]) == {"ana", "ben", "cy"}
    assert len(data["series"]["queue_depth"]) == MetricsConfig().buckets
    assert math.isclose(data["window"]["seconds"], WINDOW)


# -- what recall can and cannot see ------------------------------------------------------------


def escalation(book: Book, at: float, *kinds: str, needed: bool = False, tier: str = "high") -> str:
    """An escalated route and its requests, each decided in turn (asked again after an
    edit): one escalation however many requests."""
    thread = book._id("th-")
    book.route("escalated", at, tier=tier, thread=thread)
    for n, kind in enumerate(kinds):
        request_id = book.request(at + 10 + n * 100, thread=thread, tier=tier)
        book.decide(request_id, kind, "ana", at + 60 + n * 100)
        if needed:
            book.event(NEEDED_EVENT, request_id, at + 61 + n * 100, "ana")
    return thread


def strata_book(book: Book) -> None:
    """Escalated, reviewed in full, sampled, and never looked at: one of each."""
    for i in range(8):
        escalation(book, 1000 + i * 300, "reject")
    for i in range(2):
        escalation(book, 4000 + i * 300, "approve")
    for i in range(40):  # medium work alone: 4 sampled at 10%, one problem found
        sampled = i % 10 == 0
        rid = book.route("sampled" if sampled else "autonomous", 6000 + i, rate=0.1, tier="medium")
        if sampled:
            book.review("problem" if i == 0 else "ok", 7000 + i, route_id=rid, tier="medium")
    for i in range(10):  # middle confidence, all reviewed: one problem, counted
        rid = book.route("review", 8000 + i, rate=1.0, tier="medium")
        book.review("problem" if i == 0 else "ok", 9000 + i, route_id=rid, tier="medium")
    for i in range(50):  # low work alone, never sampled: what it lets through is unknown
        book.route("autonomous", 10_000 + i, rate=0.0, tier="low")


def test_recall_per_stratum_says_what_it_cannot_see(book: Book) -> None:
    strata_book(book)
    r = run(book).overall.recall
    assert r is not None
    got = [(s.tier, s.route, s.routed, s.reviewed, s.problems, s.estimated_missed, s.caught,
            s.status) for s in r.strata]  # fmt: skip
    assert got == [
        ("high", "escalated", 10, 0, 0, None, 8, "decided"),
        ("medium", "review", 10, 10, 1, 1.0, 0, "reviewed"),
        ("low", "alone", 50, 0, 0, None, 0, "unmeasured"),
        ("medium", "alone", 40, 4, 1, 10.0, 0, "sampled"),
    ]
    # 8 caught, 1 counted miss, 10 estimated from one sampled miss; the low tier's unknown.
    assert r.recall == pytest.approx(8 / (8 + 1 + 10))
    assert (r.bound, r.unmeasured, r.sampled_problems) == (True, 50, 1)
    assert r.by_tier() == {"high": 1.0, "medium": 0.0, "low": None}
    assert "recall_thin" in names(run(book))
    data = run(book).to_json()["overall"]["recall"]
    assert (data["bound"], data["unmeasured"], data["by_tier"]["high"]) == (True, 50, 1.0)
    assert [s["status"] for s in data["strata"]] == ["decided", "reviewed", "unmeasured", "sampled"]
    # Sample the low tier too and the bound goes: every stratum is measured.
    for i in range(5):
        rid = book.route("sampled", 10_100 + i, rate=0.1, tier="low")
        book.review("ok", 10_200 + i, route_id=rid, tier="low")
    measured = run(book).overall.recall
    assert measured is not None and not measured.bound and measured.unmeasured == 0


def test_recall_thin_warns_below_the_configured_number_of_sampled_problems(
    book: Book, tmp_path: Path
) -> None:
    strata_book(book)
    report = run(book)
    (sign,) = [s for s in warning_signs(report) if s.name == "recall_thin"]
    assert sign.line() == (
        "recall_thin [all]: recall 42.1% rests on 1 sampled problem (fewer than 5): its 95%"
        f" interval is {report.overall.recall.low * 100:.1f}%-"  # type: ignore[union-attr]
        f"{report.overall.recall.high * 100:.1f}%; at most, since 50 routed items were never"  # type: ignore[union-attr]
        " reviewed"
    )
    assert "recall_thin" not in names(report, MetricsConfig(recall_min_problems=1))
    config = tmp_path / "metrics.toml"
    config.write_text("recall_min_problems = 1\n")
    assert MetricsConfig.from_toml(config).recall_min_problems == 1
    book.conn.commit()
    quiet = cli(book.path, "--since", datetime_arg(T0), "--json", "--config", str(config))
    assert quiet.returncode == 0, quiet.stderr
    assert "recall_thin" not in {w["name"] for w in json.loads(quiet.stdout)["warnings"]}


def test_precision_counts_escalations_and_says_whether_marks_count(book: Book) -> None:
    """Asked again after an edit is still one escalation; precision is labelled."""
    escalation(book, 1000, "modify", "approve")  # edited, asked again, approved: needed
    escalation(book, 2000, "approve", needed=True)  # approved, marked needed
    escalation(book, 3000, "approve")  # a false alarm
    escalation(book, 4000, "reject")
    d = run(book).overall.decisions
    assert d is not None
    assert (d.decided, d.overrides, d.marked_needed) == (5, 2, 1)
    assert (d.escalations, d.escalations_overridden, d.escalations_needed) == (4, 2, 3)
    assert d.precision == pytest.approx(3 / 4)  # with --needed marks
    assert d.precision_from_overrides == pytest.approx(2 / 4)
    assert d.override_rate == pytest.approx(2 / 5)  # per decision
    recall = run(book).overall.recall
    assert recall is not None and recall.caught == 3
    book.conn.commit()
    shown = cli(book.path, "--since", datetime_arg(T0))
    assert shown.returncode == 0, shown.stderr
    assert "precision (from overrides)" in shown.stdout
    assert "precision (with --needed marks)" in shown.stdout
    data = json.loads(cli(book.path, "--since", datetime_arg(T0), "--json").stdout)
    decisions = data["overall"]["decisions"]
    assert decisions["precision"] == decisions["precision_with_needed"] == 0.75
    assert decisions["precision_from_overrides"] == 0.5
    assert decisions["escalations"] == 4


def test_cli_and_html_show_the_strata_and_the_bound(book: Book, tmp_path: Path) -> None:
    strata_book(book)
    book.conn.commit()
    html = tmp_path / "report.html"
    shown = cli(book.path, "--since", datetime_arg(T0), "--html", str(html))
    assert shown.returncode == 0, shown.stderr
    assert "at most 42.1%" in shown.stdout
    assert "unmeasured" in shown.stdout
    assert "It is an upper bound: 50 routed items ran alone in strata never reviewed" in " ".join(
        shown.stdout.split()
    )
    page = html.read_text()
    assert "Recall by stratum" in page and "unmeasured" in page and "at most 42.1%" in page
    assert "precision (from overrides)" in page and "precision (with --needed marks)" in page
    prom = cli(book.path, "--since", datetime_arg(T0), "--prometheus")
    families = {f.name: f for f in text_string_to_metric_families(prom.stdout)}
    assert families["langgraph_hitl_recall_unmeasured"].samples[0].value == 50
    strata = {
        (s.labels["stratum_tier"], s.labels["route"]): s.value
        for s in families["langgraph_hitl_stratum_routed"].samples
    }
    assert strata[("low", "alone")] == 50
