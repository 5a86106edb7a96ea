"""CLI commands `audit verify` and `audit export`: the trail, checked and handed over."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from langgraph_hitl.cli.app import JsonFlag, _fail, _handled, _ledger, app
from langgraph_hitl.cli.output import err, out
from langgraph_hitl.cli.output import print_json as _print_json

# -- keeping it right ----------------------------------------------------------------

audit_app = typer.Typer(
    help="The tamper-evident audit trail: verify the hash chain, export it.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
@_handled
def audit_verify(
    expect_head: Annotated[
        str | None,
        typer.Option(
            metavar="HASH",
            help="The head hash (64 hex digits) kept from an earlier verify: catches"
            " cut-off events.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check every event's hash link; exit 1 and name the first broken one."""
    from langgraph_hitl.ledger.audit import verify

    if expect_head is not None:
        expect_head = expect_head.strip().lower()  # `verify` refuses what is not a hash
    with _ledger() as ledger:
        report = verify(ledger, expect_head=expect_head)
    if as_json:
        _print_json(report.to_json())
    elif report.ok:
        out.print(f"audit trail intact: {report.events} events, head {report.head}", markup=False)
    if not report.ok:
        _fail(f"audit trail broken: {report.problem}", 1)


@audit_app.command("export")
@_handled
def audit_export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write JSONL here (default stdout)."),
    ] = None,
) -> None:
    """Write every event, with its hashes, as JSON lines for an auditor."""
    from langgraph_hitl.ledger.audit import export

    with _ledger() as ledger:
        if output is None:
            export(ledger, sys.stdout)
            return
        with output.open("w", encoding="utf-8") as handle:
            count = export(ledger, handle)
    err.print(f"wrote {count} events to {output}", markup=False)
