"""CLI commands `doctor` and `prune`: keeping a deployment's database healthy."""

from __future__ import annotations

from typing import Annotated

import typer

from langgraph_hitl.cli.app import JsonFlag, _desk, _handled, app
from langgraph_hitl.cli.output import out
from langgraph_hitl.cli.output import print_json as _print_json


@app.command()
@_handled
def doctor(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report only; change nothing.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Find and repair disagreements between the ledger and the checkpoints."""
    from langgraph_hitl.maintenance import doctor as run_doctor

    report = run_doctor(_desk(), repair=not dry_run)
    if as_json:
        _print_json(report.to_json())
    else:
        out.print(f"checked {report.checked_threads} threads", markup=False)
        for item in report.findings:
            mark = "fixed" if item["fixed"] else "open "
            out.print(
                f"  {mark} {item['kind']:<18} {item['thread_id']}: {item['detail']}", markup=False
            )
        if not report.findings:
            out.print("ledger and checkpoints agree", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@_handled
def prune(
    older_than: Annotated[
        str,
        typer.Option(metavar="DURATION", help="Age of the last checkpoint, e.g. 30d, 12h, 90m."),
    ],
    vacuum: Annotated[
        bool,
        typer.Option(
            "--vacuum",
            help="Afterwards, SQLite: VACUUM so the file shrinks. PostgreSQL: VACUUM the"
            " pruned tables so their space is reused at once (the size on disk stays).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete finished threads' checkpoints; keep their audit trail; never touch a paused one.

    Reports the checkpoint rows removed and the database's size. On SQLite the freed
    pages are reused at once and --vacuum shrinks the file. On PostgreSQL deleted rows
    take their space until VACUUM runs (autovacuum, or --vacuum now), then the same
    tables reuse it; the size on disk does not shrink (VACUUM FULL would, locking the
    tables: run it yourself in a quiet hour if you must).
    """
    from langgraph_hitl._time import parse_duration
    from langgraph_hitl.maintenance import prune as run_prune

    report = run_prune(_desk(), older_than=parse_duration(older_than), vacuum=vacuum)
    if as_json:
        _print_json(report.to_json())
        return
    out.print(
        f"pruned {len(report.pruned)} finished threads ({report.rows_removed:,} checkpoint rows)",
        markup=False,
    )
    for reason, count in sorted(report.kept.items()):
        out.print(f"  kept {count}: {reason}", markup=False)
    in_use = (
        ""
        if report.used_before is None or report.used_after is None
        else f", {report.used_before:,} -> {report.used_after:,} bytes in use"
    )
    out.print(
        f"database: {report.bytes_before:,} -> {report.bytes_after:,} bytes on disk{in_use}",
        markup=False,
    )
