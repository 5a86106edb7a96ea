"""CLI command `metrics`: how review is going, and the warning signs of it going wrong."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from langgraph_hitl.cli.app import JsonFlag, _desk, _handled, app
from langgraph_hitl.cli.output import err, out
from langgraph_hitl.cli.output import print_json as _print_json
from langgraph_hitl.errors import BadInputError, ConfigurationError

if TYPE_CHECKING:
    from langgraph_hitl.insight.metrics import MetricsReport, WarningSign

CHECK_EXIT = 1
"""`metrics --check` exits with this when any warning sign fires (as `audit verify` and
`doctor` do when they find something)."""


def _since(text: str, now: float) -> float | None:
    """`7d`, `12h` (that long ago), an ISO date or time (UTC unless it says), or `all`."""
    if text.strip().lower() == "all":
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        from langgraph_hitl._time import parse_duration

        try:
            return now - parse_duration(text)
        except BadInputError:
            raise BadInputError(
                f"bad --since {text!r}: use a duration of at most 100 years (7d, 12h), an"
                " ISO date or `all`"
            ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@app.command(
    epilog=f"Exit codes: 0 done (and, with --check, no warning sign); {CHECK_EXIT}"
    " with --check when a warning sign fired; 2 bad input (a bad --since, --by or"
    " --config, a missing database)."
)
@_handled
def metrics(
    since: Annotated[
        str,
        typer.Option(
            metavar="DURATION|DATE|all",
            help="Start of the window: a duration back from now (7d, 12h), an ISO"
            " date (UTC), or `all`.",
        ),
    ] = "7d",
    by: Annotated[
        str | None,
        typer.Option("--by", metavar="gate|tier|reviewer", help="Also per gate, tier or reviewer."),
    ] = None,
    as_json: JsonFlag = False,
    prometheus: Annotated[
        bool, typer.Option("--prometheus", help="Print Prometheus' text exposition format.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", metavar="FILE", help="Also write a self-contained HTML report with charts."
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help=f"Exit {CHECK_EXIT} when any warning sign fires (cron, CI)."),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="TOML file of thresholds, reading speed and human cost.",
        ),
    ] = None,
) -> None:
    """How review is going: escalation, precision, recall, timings, queue, cost.

    Warning signs come first: too cautious or too aggressive, overrides rising, slow
    escalation, a growing queue, recall resting on too few sampled problems,
    rubber-stamping. Precision is per escalation (asked again after an edit, it is
    still one), shown counted from overrides and with --needed marks. Recall is
    estimated per tier and route (stratum); work that ran alone and was never reviewed
    is reported as unmeasured with its volume, and the overall recall is then an upper
    bound. --json (`recall.strata`, `recall.bound`, `recall.unmeasured`,
    `decisions.precision_from_overrides`), --prometheus and --html give the same figures
    to machines, Prometheus and people.
    """
    from langgraph_hitl.insight._report import to_html
    from langgraph_hitl.insight.metrics import (
        GROUP_BYS,
        MetricsConfig,
        compute,
        to_prometheus,
        warning_signs,
    )

    if as_json and prometheus:
        raise BadInputError("give at most one of --json and --prometheus")
    if by is not None and by not in GROUP_BYS:
        raise BadInputError(f"bad --by {by!r}: use gate, tier or reviewer")
    try:
        settings = MetricsConfig() if config is None else MetricsConfig.from_toml(config)
    except ConfigurationError as error:
        raise BadInputError(str(error)) from None
    now = time.time()
    start = _since(since, now)
    with _desk().ledger() as ledger:
        report = compute(ledger, since=start, until=now, group_by=by, config=settings)
    signs = warning_signs(report)
    if html is not None:
        try:
            html.write_text(to_html(report, signs), encoding="utf-8")
        except OSError as error:
            raise BadInputError(f"cannot write {html}: {error.strerror}") from None
        err.print(f"wrote {html}", markup=False)
    if as_json:
        _print_json({"warnings": [s.to_json() for s in signs], **report.to_json()})
    elif prometheus:
        sys.stdout.write(to_prometheus(report, signs))
    else:
        _print_table(report, signs)
    if check and signs:
        raise typer.Exit(CHECK_EXIT)


def _print_table(report: MetricsReport, signs: list[WarningSign]) -> None:
    """Warning signs on top, then the figures and the reviewers."""
    from langgraph_hitl.insight._report import recall_note, reviewer_rows, strata_rows, summary_rows

    for sign in signs:
        out.print(f"WARNING {sign.line()}", markup=False)
    if not signs:
        out.print("no warning signs", markup=False)
    since = datetime.fromtimestamp(report.since, UTC).strftime("%Y-%m-%d %H:%M")
    until = datetime.fromtimestamp(report.until, UTC).strftime("%Y-%m-%d %H:%M")
    out.print(f"window {since} to {until} UTC", markup=False)
    for header, rows in (summary_rows(report), strata_rows(report), reviewer_rows(report)):
        if rows:
            table = Table(*header)
            for row in rows:
                table.add_row(*row)
            out.print(table)
    out.print(recall_note(report), markup=False)
