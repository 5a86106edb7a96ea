"""CLI commands for watching a deployment: notify, outbox, check.

    langgraph-hitl notify [--webhook URL] [--secret-env NAME] [--command "argv ..."]
                          [--config FILE] [--once | --loop --interval 5] [--json]
    langgraph-hitl outbox [--all] [--json]
    langgraph-hitl check GRAPH [--config FILE] [--window 30d] [--json]

`notify --once` exits 1 when a delivery failed this round (it is retried later, with
backoff); `check` exits 1 when a checklist item failed (unknowns do not fail).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from langgraph_hitl._tables import Column, fitted_table
from langgraph_hitl.cli.app import JsonFlag, _desk, _fail, _handled, _state, app
from langgraph_hitl.cli.output import ago as _ago
from langgraph_hitl.cli.output import out
from langgraph_hitl.cli.output import print_json as _print_json
from langgraph_hitl.errors import BadInputError

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="TOML file with a [notify] table [env LANGGRAPH_HITL_CONFIG; default ./hitl.toml].",
        show_default=False,
    ),
]


def _report_line(report: Any) -> str:
    line = f"delivered {report.delivered}, failed {report.failed}"
    if report.overdue_queued:
        line += f" ({report.overdue_queued} newly overdue)"
    return line


@app.command()
@_handled
def notify(
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            metavar="URL",
            help="POST notifications to this URL [env LANGGRAPH_HITL_WEBHOOK_URL].",
        ),
    ] = None,
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            metavar="NAME",
            help="Name of the env var holding the webhook's HMAC secret"
            " [default LANGGRAPH_HITL_WEBHOOK_SECRET].",
        ),
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(
            "--command",
            metavar="ARGV",
            help='Run this command per notification, JSON on stdin ("argv ...", no shell).',
        ),
    ] = None,
    config: ConfigOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due, then exit (default).")
    ] = False,
    loop: Annotated[
        bool, typer.Option("--loop", help="Keep delivering until interrupted.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(metavar="SECONDS", help="Seconds between rounds with --loop.", min=0.05),
    ] = 5.0,
    limit: Annotated[
        int, typer.Option(metavar="N", help="At most this many rows per round.", min=1)
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Deliver due notifications (webhook, command hook) from the outbox; retry failures."""
    from langgraph_hitl.notify import NotifyConfig, deliver

    if once and loop:
        raise BadInputError("give --once or --loop, not both")
    settings = NotifyConfig.load(
        config, webhook_url=webhook, secret_env=secret_env, command=command
    )
    notifiers = settings.notifiers()
    if not notifiers:
        raise BadInputError(
            "no notifier configured: give --webhook URL or --command, or a [notify] table"
            " in hitl.toml"
        )
    # A loop may start before any graph ran (it creates the file); a single round on a
    # missing file is a mistyped --db.
    with _desk().ledger(create=loop) as ledger:
        if not loop:
            report = deliver(ledger, notifiers, limit=limit, cli=settings.cli)
            _print_round(report, as_json)
            if report.failed:
                raise typer.Exit(1)
            return
        try:
            while True:
                report = deliver(ledger, notifiers, limit=limit, cli=settings.cli)
                if report.delivered or report.failed:
                    _print_round(report, as_json)
                time.sleep(interval)
        except KeyboardInterrupt:
            # Ctrl-C is how a loop stops. A row claimed mid-send is taken over by the
            # next deliverer as soon as this process is gone.
            return


def _print_round(report: Any, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
        sys.stdout.flush()
        return
    out.print(_report_line(report), markup=False)
    for item in report.items:
        if item["status"] == "failed":
            out.print(f"  {item['outbox_id']} {item['kind']}: {item['error']}", markup=False)


@app.command()
@_handled
def outbox(
    all_: Annotated[bool, typer.Option("--all", help="Include delivered notifications.")] = False,
    limit: Annotated[
        int, typer.Option(metavar="N", min=0, help="At most this many rows; 0 for all.")
    ] = 200,
    as_json: JsonFlag = False,
) -> None:
    """List notifications not yet delivered: due, retrying (with the last error), being sent."""
    from langgraph_hitl.notify import outbox as rows_of

    with _desk().ledger() as ledger:
        rows = rows_of(ledger, include_delivered=all_, limit=limit or None)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        out.print("outbox empty: every notification was delivered", markup=False)
        return
    cells = [
        [
            str(row["outbox_id"]),
            row["kind"],
            row["request_id"] or "-",
            row["state"],
            str(row["attempts"]),
            _when(row["created_at"], ago=True),
            _when(row["next_attempt_at"], ago=False),
            row["last_error"] or "",
        ]
        for row in rows
    ]
    title = f"{len(rows)} notifications"
    out.print(fitted_table(OUTBOX_COLUMNS, cells, width=out.width, title=title))


OUTBOX_COLUMNS = (
    Column("id", ident=True),
    Column("kind", floor=9, drop=4),
    Column("request", ident=True),
    Column("state", floor=8),
    Column("tries", floor=5, drop=5),
    Column("age", floor=4, drop=6),
    Column("next", floor=6, drop=3),
    Column("last error", floor=16, drop=2),
)


def _when(iso: str | None, *, ago: bool) -> str:
    from datetime import datetime

    if iso is None:
        return "-"
    ts = datetime.fromisoformat(iso).timestamp()
    if ago:
        return _ago(ts)
    left = ts - time.time()
    return "now" if left <= 0 else f"in {_ago(time.time() - left)}"


_MARKS = {"pass": "PASS", "fail": "FAIL", "unknown": "UNKNOWN"}


@app.command()
@_handled
def check(
    graph: Annotated[
        str,
        typer.Argument(
            metavar="GRAPH", help="A langgraph.json name, path/to/file.py:attr or module:attr."
        ),
    ],
    config: ConfigOption = None,
    window: Annotated[
        str,
        typer.Option(
            metavar="DURATION", help="How far back the metrics history counts, e.g. 30d, 12h."
        ),
    ] = "30d",
    as_json: JsonFlag = False,
) -> None:
    """Check a graph and its configuration against the HITL deployment checklist.

    Each item is pass, fail or unknown, with the reason. Exit 1 when any item fails.
    The ledger (--db) supplies the metrics history.
    """
    from langgraph_hitl._time import parse_duration
    from langgraph_hitl.insight.checklist import check_deployment
    from langgraph_hitl.notify import NotifyConfig

    span = parse_duration(window)
    settings: NotifyConfig | None = None
    problem: str | None = None
    try:
        settings = NotifyConfig.load(config)
    except BadInputError as error:
        problem = str(error)
    report = check_deployment(
        graph, notify=settings, notify_problem=problem, db=_state.db, window=span
    )
    if as_json:
        _print_json(report.to_json())
    else:
        out.print(f"check {graph}", markup=False)
        for item in report.items:
            out.print(f"  {_MARKS[item.status]:<8} {item.title}: {item.reason}", markup=False)
        counts = report.to_json()["counts"]
        out.print(
            f"{counts['pass']} pass, {counts['fail']} fail, {counts['unknown']} unknown",
            markup=False,
        )
    if not report.ok:
        failed = "; ".join(f"{item.key}: {item.reason}" for item in report.failed)
        _fail(f"check failed: {failed}", 1)
