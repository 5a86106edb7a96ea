"""Renderings of a `MetricsReport`: Prometheus text, summary rows, and a self-contained HTML.

The HTML report has no script, no stylesheet or font from elsewhere, no network: its
charts are inline SVG drawn here, each an `<svg role="img">` with an `aria-label` and a
`<title>` naming it, so a test (or a screen reader) can find it.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langgraph_hitl.insight.metrics import Distribution, MetricSet, MetricsReport, WarningSign

# -- Prometheus ------------------------------------------------------------------------

_Getter = Callable[["MetricSet"], "float | None"]


def _esc(name: str) -> _Getter:
    return lambda m: None if m.escalation is None else getattr(m.escalation, name)


def _dec(name: str) -> _Getter:
    return lambda m: None if m.decisions is None else getattr(m.decisions, name)


def _rec(name: str) -> _Getter:
    return lambda m: None if m.recall is None else getattr(m.recall, name)


def _que(name: str) -> _Getter:
    return lambda m: None if m.queue is None else getattr(m.queue, name)


def _out(name: str) -> _Getter:
    return lambda m: None if m.outcomes is None else getattr(m.outcomes, name)


GAUGES: tuple[tuple[str, str, _Getter], ...] = (
    ("routed", "Routed work in the window.", _esc("routed")),
    ("escalated", "Routed work sent to a human first.", _esc("escalated")),
    ("escalation_rate", "Escalated over routed.", _esc("rate")),
    ("decisions", "Human decisions in the window.", _dec("decided")),
    ("overrides", "Rejects, edits and responses by humans.", _dec("overrides")),
    ("timeouts", "Decisions the deadline sweep took.", _dec("timeouts")),
    (
        "escalation_precision",
        "Human decisions that changed the outcome or were marked needed.",
        _dec("precision"),
    ),
    (
        "escalation_precision_from_overrides",
        "Human decisions that changed the outcome (no needed marks).",
        _dec("precision_from_overrides"),
    ),
    ("override_rate", "Overrides over human decisions.", _dec("override_rate")),
    ("overrides_per_day", "Override frequency.", _dec("overrides_per_day")),
    ("override_trend", "Override rate, second half of the window minus first.", _dec("trend")),
    (
        "escalation_recall",
        "Problems that reached a human (estimate; an upper bound when work went unmeasured).",
        _rec("recall"),
    ),
    ("recall_unmeasured", "Routed work that ran alone and was never reviewed.", _rec("unmeasured")),
    (
        "recall_sampled_problems",
        "Problems found by sampled reviews: what the recall estimate rests on.",
        _rec("sampled_problems"),
    ),
    ("escalation_recall_low", "Lower end of the recall interval.", _rec("low")),
    ("escalation_recall_high", "Upper end of the recall interval.", _rec("high")),
    ("missed_problems_estimated", "Problems in work not escalated.", _rec("estimated_missed")),
    ("queue_depth", "Pending requests at the window's end.", _que("depth")),
    ("oldest_pending_age_seconds", "Age of the oldest pending request.", _que("oldest_age")),
    ("threads_finished", "Threads finished in the window.", _out("finished")),
    ("task_success_rate", "Finished threads that ended as intended.", _out("success_rate")),
    ("cost_per_resolution", "Agent cost plus human time per thread.", _out("cost_per_resolution")),
)


def to_prometheus(report: MetricsReport, signs: Sequence[WarningSign] = ()) -> str:
    """`langgraph_hitl.insight.metrics.to_prometheus`."""
    out = _Families()
    out.gauge("window_seconds", "Length of the window.", {}, report.until - report.since)
    scopes: list[tuple[dict[str, str], MetricSet]] = [({}, report.overall)]
    if report.group_by is not None:
        scopes += [({report.group_by: key}, m) for key, m in report.groups.items()]
    for labels, m in scopes:
        for name, help_text, get in GAUGES:
            out.gauge(name, help_text, labels, get(m))
        if m.time_to_escalate is not None:
            times = m.time_to_escalate.times
            help_text = "Routing decision to reviewer notified (or request recorded)."
            out.summary("time_to_escalate_seconds", help_text, labels, times)
        if m.time_to_correct is not None:
            help_text = "A reviewer opening a request to deciding it."
            out.summary("time_to_correct_seconds", help_text, labels, m.time_to_correct)
    for s in report.overall.recall.strata if report.overall.recall is not None else ():
        labels = {"stratum_tier": s.tier, "route": s.route}
        out.gauge("stratum_routed", "Routed work per tier and route.", labels, s.routed)
        help_text = "Problems let through per tier and route (estimate; absent when unmeasured)."
        out.gauge("stratum_missed_estimated", help_text, labels, s.estimated_missed)
    for r in report.reviewers:
        labels = {"reviewer": r.reviewer}
        out.gauge("reviewer_decisions", "Decisions and quorum votes.", labels, r.decisions)
        out.gauge("reviewer_approval_rate", "Approvals over decisions.", labels, r.approval_rate)
        out.gauge(
            "reviewer_fast_approvals", "Approvals faster than reading.", labels, r.fast_approvals
        )
        out.gauge("reviewer_longest_approval_run", "Approvals in a row.", labels, r.longest_run)
        help_text = "Opening a request to deciding it, per reviewer."
        out.summary("reviewer_decision_seconds", help_text, labels, r.decision_time)
    out.gauge("warnings", "Warning signs that fired.", {}, len(signs))
    for sign in signs:
        labels = {"name": sign.name, "scope": sign.scope}
        out.gauge("warning", "A warning sign that fired.", labels, 1)
    return out.text()


class _Families:
    """Samples grouped by metric family, families in the order first seen."""

    PREFIX = "langgraph_hitl_"

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[str]]] = {}

    def _add(self, name: str, kind: str, help_text: str, sample: str) -> None:
        self._families.setdefault(self.PREFIX + name, (kind, help_text, []))[2].append(sample)

    def gauge(self, name: str, help_text: str, labels: dict[str, str], value: float | None) -> None:
        if value is not None:
            sample = f"{self.PREFIX}{name}{_labels(labels)} {float(value)!r}"
            self._add(name, "gauge", help_text, sample)

    def summary(self, name: str, help_text: str, labels: dict[str, str], d: Distribution) -> None:
        full = self.PREFIX + name
        for q in (50, 95, 99):
            value = d.at(q)
            if value is not None:
                quantile = _labels({**labels, "quantile": str(q / 100)})
                self._add(name, "summary", help_text, f"{full}{quantile} {value!r}")
        self._add(name, "summary", help_text, f"{full}_sum{_labels(labels)} {d.total!r}")
        self._add(name, "summary", help_text, f"{full}_count{_labels(labels)} {d.count}")

    def text(self) -> str:
        lines: list[str] = []
        for name, (kind, help_text, samples) in self._families.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


# -- rows for people -------------------------------------------------------------------


def pct(value: float | None) -> str:
    """A share as a percentage, or `-`."""
    return "-" if value is None else f"{value * 100:.1f}%"


def span(seconds: float | None) -> str:
    """A duration for people: 0.8 s, 42 s, 3.5 min, 2.0 h, 1.5 d; or `-`."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86_400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"


def _cells(m: MetricSet) -> dict[str, str]:
    """Short values, one per figure, so a table fits a terminal."""
    cells: dict[str, str] = {}
    if m.escalation is not None:
        e = m.escalation
        cells["routed"] = str(e.routed)
        cells["escalation rate"] = pct(e.rate)
    if m.decisions is not None:
        d = m.decisions
        cells["human decisions"] = str(d.decided)
        cells["precision (from overrides)"] = pct(d.precision_from_overrides)
        cells["precision (with --needed marks)"] = pct(d.precision)
        cells["override rate"] = pct(d.override_rate)
        cells["override trend"] = "-" if d.trend is None else f"{d.trend * 100:+.1f} pts"
        per_day = d.overrides_per_day
        cells["overrides per day"] = "-" if per_day is None else f"{per_day:.1f}"
        cells["timeouts (sweep)"] = str(d.timeouts)
    if m.recall is not None:
        r = m.recall
        bound = r.bound and r.recall is not None
        cells["recall"] = f"at most {pct(r.recall)}" if bound else pct(r.recall)
        interval = "-" if r.low is None else f"{pct(r.low)}-{pct(r.high)}"
        cells[f"recall {r.level * 100:g}% interval"] = interval
        cells["problems found / reviews"] = f"{r.found}/{r.reviews_closed}"
        cells["sampled problems"] = str(r.sampled_problems)
        cells["unmeasured (routed, never reviewed)"] = str(r.unmeasured)
    if m.time_to_escalate is not None:
        t = m.time_to_escalate
        for q in (50, 95, 99):
            cells[f"time to escalate p{q}"] = span(t.times.at(q))
        cells["time to escalate ends"] = t.source
    if m.time_to_correct is not None:
        for q in (50, 95, 99):
            cells[f"time to correct p{q}"] = span(m.time_to_correct.at(q))
        cells["decisions never opened"] = str(m.unopened)
    if m.queue is not None:
        cells["queue depth"] = str(m.queue.depth)
        cells["oldest pending"] = span(m.queue.oldest_age)
    if m.outcomes is not None:
        o = m.outcomes
        cells["task success"] = pct(o.success_rate)
        cost = o.cost_per_resolution
        cells["cost per resolution"] = "-" if cost is None else f"{cost:.2f}"
        cells["human hours"] = f"{o.human_seconds / 3600:.1f}"
    return cells


def summary_rows(report: MetricsReport) -> tuple[list[str], list[list[str]]]:
    """A header (`metric`, `all`, then each group) and one row per figure."""
    scopes = [("all", report.overall), *report.groups.items()]
    cells = [_cells(m) for _, m in scopes]
    names = list(dict.fromkeys(name for c in cells for name in c))
    header = ["metric", *(name for name, _ in scopes)]
    return header, [[name, *(c.get(name, "") for c in cells)] for name in names]


def strata_rows(report: MetricsReport) -> tuple[list[str], list[list[str]]]:
    """One row per tier x route: routed, reviews closed, problems found, the misses
    estimated (`unmeasured` where nothing was reviewed) and, for escalated work, what
    humans caught."""
    header = ["tier", "route", "routed", "reviews", "found", "missed", "caught"]
    r = report.overall.recall
    rows = []
    for s in () if r is None else r.strata:
        if s.status == "unmeasured":
            missed = "unmeasured"
        else:
            missed = "" if s.estimated_missed is None else f"{s.estimated_missed:g}"
        reviews = f"{s.reviewed}" + (f" (+{s.open} open)" if s.open else "")
        caught = str(s.caught) if s.route == "escalated" else ""
        rows.append([s.tier, s.route, str(s.routed), reviews, str(s.problems), missed, caught])
    return header, rows


def recall_note(report: MetricsReport) -> str:
    """What the recall figure rests on, per tier, and whether it is a bound."""
    r = report.overall.recall
    if r is None or r.recall is None:
        return "No after-the-fact review was closed in the window: recall is not estimated."
    text = (
        f"Recall {pct(r.recall)} rests on {r.reviews_closed} closed reviews and"
        f" {r.sampled_problems} problem{'s' if r.sampled_problems != 1 else ''} found by"
        " sample (each weighted by 1 / its sampling rate)."
    )
    tiers = ", ".join(f"{tier} {pct(value)}" for tier, value in r.by_tier().items())
    if tiers:
        text += f" By tier: {tiers}."
    if r.bound:
        text += (
            f" It is an upper bound: {r.unmeasured} routed items ran alone in strata never"
            " reviewed (status unmeasured), and what they let through is unknown."
        )
    return text


def reviewer_rows(report: MetricsReport) -> tuple[list[str], list[list[str]]]:
    """One row per reviewer: decisions, approvals, decision time, rubber-stamp counts."""
    header = ["reviewer", "decided", "approved", "p50", "p95", "fast", "run", "deep q."]
    rows = [
        [
            r.reviewer,
            str(r.decisions),
            pct(r.approval_rate),
            span(r.decision_time.p50),
            span(r.decision_time.p95),
            f"{r.fast_approvals}/{r.timed_approvals}",
            str(r.longest_run),
            f"{r.deep[1]}/{r.deep[0]}",
        ]
        for r in report.reviewers
    ]
    return header, rows


# -- HTML ------------------------------------------------------------------------------

_W, _H = 720, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 28, 36

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 64rem;
       color: #1d2430; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.muted { color: #5b6575; }
.warnings { border: 1px solid #d9a400; background: #fff8e1; padding: 0.6rem 1rem; }
.warnings.none { border-color: #3a9d5d; background: #eef9f1; }
.warnings li { margin: 0.25rem 0; } .warnings code { font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin-top: 0.5rem; }
th, td { border-bottom: 1px solid #e3e6eb; padding: 0.3rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f4f6f9; }
figure { margin: 1rem 0; } figcaption { color: #5b6575; font-size: 0.9rem; }
svg text { font: 11px system-ui, sans-serif; fill: #3b4350; }
svg text.heading { font-size: 13px; font-weight: 600; fill: #1d2430; }
.axis { stroke: #9aa3b1; stroke-width: 1; } .grid { stroke: #eceff3; stroke-width: 1; }
.line { fill: none; stroke: #2f6fdf; stroke-width: 2; }
.area { fill: #2f6fdf; fill-opacity: 0.12; stroke: none; }
.limit { stroke: #d9534f; stroke-width: 1; stroke-dasharray: 4 3; }
.bar { fill: #2f6fdf; } .bar.fast { fill: #d9534f; }
"""


def to_html(report: MetricsReport, signs: Sequence[WarningSign] = ()) -> str:
    """The report as one self-contained HTML page: warnings, charts, tables.

    Example:
        >>> from langgraph_hitl.insight.metrics import compute, warning_signs
        >>> report = compute("hitl.sqlite", window="7d")
        >>> page = to_html(report, warning_signs(report))
        >>> page.startswith("<!DOCTYPE html>"), "rubber_stamp_fast" in page
        (True, True)
    """
    e = html.escape
    since, until = _when(report.since), _when(report.until)
    grouped = f", by {report.group_by}" if report.group_by else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Review metrics {e(since)} to {e(until)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Review metrics</h1>",
        f'<p class="muted">{e(since)} to {e(until)} UTC{e(grouped)}.'
        f" Computed in {report.seconds:.2f} s.</p>",
        _warnings_html(signs),
        "<h2>Over time</h2>",
        _figure(_queue_chart(report), "Requests waiting for a decision at the end of each step."),
        _figure(
            _escalation_chart(report),
            "Share of routed work sent to a human first; dashed lines are the warning limits.",
        ),
        _figure(_override_chart(report), "Share of human decisions that changed the outcome."),
        "<h2>Figures</h2>",
        _table(*summary_rows(report)),
        '<h2 id="recall">Recall by stratum</h2>',
        f'<p class="muted">{e(recall_note(report))} Precision is shown counted from'
        " overrides and with the approvals reviewers marked needed (<code>--needed</code>)."
        "</p>",
        _table(*strata_rows(report)),
        "<h2>Reviewers</h2>",
        _figure(
            _decision_time_chart(report),
            "From opening a request to deciding it, one row per reviewer, each scaled to its"
            " own largest bin; red: under 2 s.",
        ),
        _table(*reviewer_rows(report)),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _warnings_html(signs: Sequence[WarningSign]) -> str:
    if not signs:
        return '<div class="warnings none"><strong>No warning signs.</strong></div>'
    items = "".join(
        f"<li><code>{html.escape(s.name)}</code> [{html.escape(s.scope)}]:"
        f" {html.escape(s.message)}"
        f'<br><span class="muted">{html.escape(_numbers(s))}</span></li>'
        for s in signs
    )
    return (
        f'<div class="warnings"><strong>{len(signs)} warning signs</strong><ul>{items}</ul></div>'
    )


def _numbers(sign: WarningSign) -> str:
    flat = ", ".join(f"{k}: {_short(v)}" for k, v in asdict(sign)["numbers"].items())
    return f"value {_short(sign.value)}, threshold {_short(sign.threshold)}; {flat}"


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _svg(title: str, height: int, body: list[str], slug: str) -> str:
    t = html.escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{t}"'
        f' data-chart="{slug}" width="{_W}" height="{height}" viewBox="0 0 {_W} {height}">'
        f'<title>{t}</title><text class="heading" x="0" y="14">{t}</text>{"".join(body)}</svg>'
    )


def _line(cls: str, x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'


def _text(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{html.escape(text)}</text>'


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1.0, 2.0, 2.5, 5.0, 10.0) if value <= step * power)


def _time_chart(
    report: MetricsReport,
    title: str,
    slug: str,
    values: Sequence[float | None],
    *,
    rate: bool,
    limits: Sequence[tuple[float, str]] = (),
) -> str:
    """A line over the window's steps, with gaps where a step has no value."""
    known = [v for v in values if v is not None]
    top = _nice_max(max([*known, *(v for v, _ in limits), 0.05 if rate else 1.0]))
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    floor, right = _TOP + plot_h, _W - _RIGHT
    n = len(values)

    def x(i: float) -> float:
        return _LEFT + plot_w * (i + 0.5) / max(n, 1)

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - v / top)

    def say(v: float) -> str:
        return pct(v) if rate else f"{v:g}"

    body = []
    for i in range(5):
        tick = top * i / 4
        body += [_line("grid", _LEFT, y(tick), right, y(tick))]
        body += [_text(_LEFT - 6, y(tick) + 4, say(tick), "end")]
    body += [_line("axis", _LEFT, _TOP, _LEFT, floor), _line("axis", _LEFT, floor, right, floor)]
    starts = report.series.starts
    for i in sorted({0, n // 2, n - 1}):
        anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
        body.append(_text(x(i), _H - 12, _when(starts[i]), anchor))
    for value, label in limits:
        body += [_line("limit", _LEFT, y(value), right, y(value))]
        body += [_text(right, y(value) - 4, label, "end")]
    segment: list[tuple[float, float]] = []
    for i, point in enumerate([*values, None]):
        if point is not None:
            segment.append((x(i), y(point)))
            body.append(
                f'<circle cx="{x(i):.1f}" cy="{y(point):.1f}" r="2.5" fill="#2f6fdf">'
                f"<title>{_when(starts[i])}: {say(point)}</title></circle>"
            )
            continue
        if not segment:
            continue
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in segment)
        if not rate:
            area = f"{segment[0][0]:.1f},{floor:.1f} {points} {segment[-1][0]:.1f},{floor:.1f}"
            body.append(f'<polygon class="area" points="{area}"/>')
        body.append(f'<polyline class="line" points="{points}"/>')
        segment = []
    if not known:
        body.append(_text(_W / 2, _H / 2, "no data in the window"))
    return _svg(title, _H, body, slug)


def _queue_chart(report: MetricsReport) -> str:
    depth: list[float | None] = [float(v) for v in report.series.queue_depth]
    return _time_chart(report, "Queue depth over time", "queue-depth", depth, rate=False)


def _escalation_chart(report: MetricsReport) -> str:
    c = report.config
    limits = [
        (c.escalation_rate_max, f"too cautious over {pct(c.escalation_rate_max)}"),
        (c.escalation_rate_min, f"too aggressive under {pct(c.escalation_rate_min)}"),
    ]
    rates = report.series.escalation_rate
    return _time_chart(
        report, "Escalation rate over time", "escalation-rate", rates, rate=True, limits=limits
    )


def _override_chart(report: MetricsReport) -> str:
    rates = report.series.override_rate
    return _time_chart(report, "Override rate over time", "override-rate", rates, rate=True)


def _tick(seconds: float) -> str:
    """A bin edge, short: 30s, 2m, 1h."""
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _decision_time_chart(report: MetricsReport) -> str:
    """One row of histogram bars per reviewer, each row scaled to its own largest bin."""
    from langgraph_hitl.insight.metrics import DECISION_TIME_EDGES as EDGES

    labels = [f"<{_tick(EDGES[1])}"]
    labels += [f"{_tick(a)}-{_tick(b)}" for a, b in itertools.pairwise(EDGES[1:])]
    labels.append(f"{_tick(EDGES[-1])}+")
    row_h, label_w = 34, 120
    reviewers = report.reviewers
    height = _TOP + row_h * max(len(reviewers), 1) + _BOTTOM
    bar_w = (_W - label_w - _RIGHT) / len(EDGES)
    body = [_text(label_w + bar_w * (j + 0.5), height - 12, t) for j, t in enumerate(labels)]
    for i, r in enumerate(reviewers):
        base = _TOP + (i + 1) * row_h - 4
        body.append(_text(label_w - 8, base - row_h / 2 + 8, r.reviewer, "end"))
        body.append(_line("axis", label_w, base, _W - _RIGHT, base))
        most = max(r.histogram, default=0) or 1
        for j, count in enumerate(r.histogram):
            h = (row_h - 8) * count / most
            fast = " fast" if j == 0 else ""  # under 2 s: hardly anything can be read
            tip = html.escape(f"{r.reviewer}: {count} decisions in {labels[j]}")
            body.append(
                f'<rect class="bar{fast}" x="{label_w + bar_w * j + 2:.1f}" y="{base - h:.1f}"'
                f' width="{bar_w - 4:.1f}" height="{h:.1f}"><title>{tip}</title></rect>'
            )
    if not reviewers:
        body.append(_text(_W / 2, _TOP + 20, "no decisions in the window"))
    return _svg("Decision time per reviewer", height, body, "decision-time")
