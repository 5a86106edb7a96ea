"""Metrics in the inbox: the HTML report's figures and warning signs as a page, kept live.

`/metrics` shows what `langgraph-hitl metrics` computes (`insight.metrics.compute` and
`warning_signs`, laid out by the report's own `summary_rows`, `strata_rows`,
`reviewer_rows` and `recall_note`): the warning signs first, each marked, then the
figures, recall by stratum and the reviewers. `/api/metrics` answers the same JSON as
`metrics --json`, plus those rows as the page shows them (`shown`); `static/metrics.js`
fetches it every 15 seconds and refreshes the page in place. Both take `since` (a
duration such as `7d`, `12h`, or `all`; 7 days by default) and `by` (`gate`, `tier` or
`reviewer`), as the CLI's `--since` and `--by`.

Who may see them: an auditor, a reviewer whose role the ledger ranks highest (see
`history`): the figures are the whole ledger's, and the reviewers' table and the
rubber-stamp signs judge colleagues by name. Anyone else gets 403, by page or JSON.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from langgraph_hitl.errors import BadInputError, NotAuthorizedError
from langgraph_hitl.web.history import reader
from langgraph_hitl.web.inbox import Inbox, guarded, inbox_of

if TYPE_CHECKING:
    from langgraph_hitl.insight.metrics import GroupBy, MetricsReport, WarningSign

REFRESH_SECONDS = 15
"""How often the page fetches the figures again."""
DEFAULT_SINCE = "7d"


@dataclass(frozen=True, kw_only=True)
class Window:
    """What the page is asked for: the window's start, as given, and a grouping."""

    since: str = DEFAULT_SINCE
    by: GroupBy | None = None

    @classmethod
    def of(cls, request: Request) -> Window:
        """From the query string; `BadInputError` for a bad `since` or `by`."""
        from langgraph_hitl._time import parse_duration
        from langgraph_hitl.insight.metrics import GROUP_BYS

        since = request.query_params.get("since", DEFAULT_SINCE).strip() or DEFAULT_SINCE
        if since.lower() != "all":
            try:
                parse_duration(since)
            except BadInputError:
                raise BadInputError(
                    f"bad since {since[:40]!r}: use a duration (7d, 12h) or all"
                ) from None
        by = request.query_params.get("by", "").strip() or None
        for allowed in GROUP_BYS:
            if by == allowed:
                return cls(since=since, by=allowed)
        if by is not None:
            raise BadInputError(f"bad by {by[:40]!r}: use gate, tier or reviewer")
        return cls(since=since)

    def start(self, now: float) -> float | None:
        from langgraph_hitl._time import parse_duration

        return None if self.since.lower() == "all" else now - parse_duration(self.since)


def figures(inbox: Inbox, name: str, window: Window) -> tuple[MetricsReport, list[WarningSign]]:
    """The report and its warning signs, computed for an auditor."""
    from langgraph_hitl.insight.metrics import MetricsConfig, compute, warning_signs

    now = time.time()
    with inbox.ledger() as ledger:
        who = reader(ledger, name)
        if not who.auditor:
            raise NotAuthorizedError(
                f"{name} is a {who.role or 'reviewer'} and may not read the metrics of the whole"
                " ledger"
            )
        report = compute(
            ledger, since=window.start(now), until=now, group_by=window.by, config=MetricsConfig()
        )
    return report, warning_signs(report)


def _short(value: float) -> str:
    return f"{value:.3g}"


def shown(report: MetricsReport, signs: list[WarningSign]) -> dict[str, Any]:
    """What the page shows, as text: the same rows the HTML report and the CLI table use."""
    from datetime import UTC, datetime

    from langgraph_hitl.insight._report import (
        recall_note,
        reviewer_rows,
        strata_rows,
        summary_rows,
    )

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")

    def table(header_rows: tuple[list[str], list[list[str]]]) -> dict[str, Any]:
        header, rows = header_rows
        return {"header": header, "rows": rows}

    grouped = f", by {report.group_by}" if report.group_by else ""
    return {
        "window": f"{when(report.since)} to {when(report.until)} UTC{grouped}",
        "computed": f"computed in {report.seconds:.2f} s",
        "warnings": [
            {
                "name": s.name,
                "scope": s.scope,
                "message": s.message,
                "numbers": f"value {_short(s.value)}, threshold {_short(s.threshold)}",
            }
            for s in signs
        ],
        "summary": table(summary_rows(report)),
        "strata": table(strata_rows(report)),
        "reviewers": table(reviewer_rows(report)),
        "recall_note": recall_note(report),
    }


async def metrics_page(request: Request) -> Response:
    inbox = inbox_of(request)
    window = Window.of(request)
    report, signs = await run_in_threadpool(figures, inbox, request.state.reviewer, window)
    context = {
        "shown": shown(report, signs),
        "window": window,
        "refresh": REFRESH_SECONDS,
    }
    return inbox.page(request, "metrics.html", context)


async def api_metrics(request: Request) -> Response:
    """`metrics --json`'s answer for the same window, plus the rows as shown."""
    inbox = inbox_of(request)
    window = Window.of(request)
    report, signs = await run_in_threadpool(figures, inbox, request.state.reviewer, window)
    return JSONResponse(
        {
            "warnings": [s.to_json() for s in signs],
            **report.to_json(),
            "shown": shown(report, signs),
        }
    )


ROUTES: list[BaseRoute] = [
    Route("/metrics", guarded(metrics_page), methods=["GET"]),
    Route("/api/metrics", guarded(api_metrics), methods=["GET"]),
]
