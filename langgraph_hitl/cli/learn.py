"""CLI commands that learn from decisions: train, export --overrides, calibrate."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from langgraph_hitl.cli.app import JsonFlag, _desk, _handled, app
from langgraph_hitl.cli.output import err, out
from langgraph_hitl.cli.output import print_json as _print_json
from langgraph_hitl.errors import BadInputError

if TYPE_CHECKING:
    from langgraph_hitl.deciding.feedback import CalibrationReport


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@app.command("train")
@_handled
def train_command(
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Where to save the model (plain JSON) [default: override-model.json beside"
            " the database, where the invoice graph looks for it].",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(metavar="N", min=0, max=2**32 - 1, help="Fixes the held-out split.")
    ] = 0,
    test_size: Annotated[
        float, typer.Option(metavar="SHARE", help="Share of history held out, in (0, 1).")
    ] = 0.25,
    as_json: JsonFlag = False,
) -> None:
    """Train the override predictor on the ledger's history (needs langgraph-hitl[predict]).

    Prints its precision and recall on a held-out split next to a confidence threshold
    alone, and saves the model as JSON for `ReviewPolicy(predictor=OverrideModel.load(...))`.
    """
    from langgraph_hitl.capture.predict import model_beside, train

    desk = _desk()
    with desk.ledger() as ledger:
        model, report = train(ledger, seed=seed, test_size=test_size)
    saved = model.save(out_path or model_beside(desk.path))
    if as_json:
        _print_json({"model_path": str(saved), **report.to_json()})
        return
    lines = [
        f"trained on {report.n_train} of {report.n_examples} examples ({report.overrides}"
        f" overrides; {report.from_decisions} decisions, {report.from_reviews} reviews),"
        f" tested on {report.n_test} held out",
        f"{'held out':<28} {'precision':>9} {'recall':>7} {'f1':>5} {'flagged':>8}",
    ]
    rules = (
        (f"model (p >= {report.threshold:.2f})", report.model),
        (f"confidence < {report.baseline_threshold:.2f}", report.baseline),
    )
    for name, scores in rules:
        lines.append(
            f"{name:<28} {_num(scores.precision):>9} {_num(scores.recall):>7}"
            f" {scores.f1:>5.2f} {_pct(scores.flag_rate):>8}"
        )
    lines.append(f"baseline: {report.baseline_rule}")
    if not report.beats_baseline:
        lines.append("the model does not beat confidence alone on this history")
    if not report.converged:
        lines.append("warning: the solver did not converge")
    lines.append(f"saved {saved}")
    for line in lines:
        out.print(line, markup=False)


@app.command("export")
@_handled
def export_command(
    overrides: Annotated[
        bool,
        typer.Option(
            "--overrides",
            help="Export every reject, modify and respond decision as a training example.",
        ),
    ] = False,
    out_file: Annotated[
        str,
        typer.Option(
            "--out", metavar="FILE", help="Write JSON lines here; '-' for stdout (default)."
        ),
    ] = "-",
    since: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="Only decisions this recent, e.g. 30d, 12h."),
    ] = None,
) -> None:
    """Export learning data as JSON lines (--overrides is the only kind for now)."""
    from langgraph_hitl._time import parse_duration
    from langgraph_hitl.deciding.feedback import export_overrides

    if not overrides:
        raise BadInputError("say what to export: --overrides (the only kind for now)")
    cutoff = None if since is None else datetime.now(UTC) - timedelta(seconds=parse_duration(since))
    with _desk().ledger() as ledger:
        if out_file == "-":
            export_overrides(ledger, sys.stdout, since=cutoff)
            return
        target = Path(out_file)
        try:
            with target.open("w", encoding="utf-8") as handle:
                count = export_overrides(ledger, handle, since=cutoff)
        except OSError as error:
            raise BadInputError(f"cannot write {target}: {error.strerror}") from None
    err.print(f"wrote {count} overrides to {target}", markup=False)


@app.command("calibrate")
@_handled
def calibrate_command(
    target_rate: Annotated[
        float,
        typer.Option(metavar="RATE", help="The highest escalation rate acceptable, in (0, 1]."),
    ] = 0.2,
    as_json: JsonFlag = False,
) -> None:
    """Propose confidence thresholds from history. Changes nothing: set them yourself."""
    from langgraph_hitl.deciding.feedback import calibrate

    with _desk().ledger() as ledger:
        report = calibrate(ledger, target_rate=target_rate)
    if as_json:
        _print_json(report.to_json())
        return
    caught_of = report.overrides + report.problems
    lines = [
        f"{report.routed} routed items (escalated now: {_pct(report.current_escalation_rate)});"
        f" {report.overrides} overrides, {report.problems} review problems",
        f"{'escalate below':<15} {'escalated':>9} {'caught':>14}",
    ]
    for row in report.rows:
        mark = " <- review_at" if row.threshold == report.review_at else ""
        if row.threshold == report.autonomous_at and row.threshold != report.review_at:
            mark = " <- autonomous_at"
        lines.append(
            f"{row.threshold:<15.2f} {_pct(row.escalation_rate):>9}"
            f" {f'{row.caught}/{caught_of} ({_pct(row.caught_share)})':>14}{mark}"
        )
    lines.append(_proposal(report))
    lines.append("nothing was changed: this is a proposal; set the thresholds yourself")
    for line in lines:
        out.print(line, markup=False)


def _proposal(report: CalibrationReport) -> str:
    best, widest = report.proposed, report.widest
    if best is None:
        return (
            f"no threshold keeps escalation within {_pct(report.target_rate)}: even"
            " 0.00 escalates more (work without a confidence always escalates)"
        )
    text = (
        f"proposed: review_at={best.threshold:.2f} (escalates {_pct(best.escalation_rate)},"
        f" catches {_pct(best.caught_share)} of overrides)"
    )
    if widest is not None:
        reviewed = widest.escalation_rate - best.escalation_rate
        text += (
            f", autonomous_at={widest.threshold:.2f} (reviews {_pct(reviewed)} more after the"
            f" fact, catches {_pct(widest.caught_share)})"
        )
    return text
