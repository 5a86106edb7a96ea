"""What a deciding command does once it has its decision: record it (and apply it, or wait
for a worker to), and say how it went. Without typer: the typer app's `approve`, `reject`,
`modify` and `batch`'s single decisions run `decide`, and so does `quick` for `approve`
and `reject --no-apply`.

Each function returns the command's exit code after printing; a failure is one line on
stderr (`print_error`), as everywhere in the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph_hitl.cli.output import out, print_error, print_json, say
from langgraph_hitl.errors import BadInputError

if TYPE_CHECKING:
    from langgraph_hitl.deciding.desk import ReviewDesk
    from langgraph_hitl.ledger import RequestRecord


def reason_given(reason: str) -> str:
    """`--reason` as given; a blank one is refused (exit 2): it is kept in the trail.

    Example:
        >>> reason_given("sent twice")
        'sent twice'
    """
    if not reason.strip():
        raise BadInputError("--reason must not be empty")
    return reason


def rejection(reason: str, reviewer: str | None, comment: str | None) -> dict[str, Any]:
    """A reject decision as the deciding commands hand it to `decide` (or `batch`)."""
    return {
        "type": "reject",
        "reason": reason_given(reason),
        "reviewer": reviewer,
        "comment": comment,
    }


def desk_at(db: str | Path, graph: str | None) -> ReviewDesk:
    from langgraph_hitl.deciding.desk import ReviewDesk

    return ReviewDesk(db, graph=graph)


def decide(
    desk: ReviewDesk,
    ident: str,
    decision: dict[str, Any],
    as_json: bool,
    needed: bool = False,
    *,
    no_apply: bool = False,
    wait: float | None = None,
) -> int:
    """Validate, record and (here, or by a worker when asked to wait) apply `decision`."""
    from langgraph_hitl._config import apply_default
    from langgraph_hitl.models import Decision

    try:
        parsed = Decision.model_validate(decision)
    except ValueError as error:
        raise BadInputError(f"invalid decision: {error}".splitlines()[0]) from None
    # Record here, apply there: a process that only records imports neither LangGraph
    # nor the graph.
    here = not no_apply and wait is None and apply_default() == "here"
    outcome = desk.decide(ident, parsed, needed=needed, apply=here)
    rec = outcome.request
    if rec.status == "decided" and not here:
        if outcome.waits_for:
            # A tool call of a batched agent pause: no worker applies it until the
            # pause's other calls are decided too, so there is nothing to wait for yet.
            if as_json:
                print_json(outcome.to_json())
            else:
                out.print(f"{rec.request_id}: {parsed.type} recorded", markup=False)
                say_still_open(rec, outcome.waits_for, "a worker resumes it")
            return 0
        if wait is not None:
            return wait_for_worker(desk, rec.request_id, parsed.type, wait, as_json)
        if as_json:
            print_json(outcome.to_json())
        else:
            say(
                f"{rec.request_id}: {parsed.type} recorded; a worker applies it"
                " (`langgraph-hitl worker`)"
            )
        return 0
    if as_json:
        print_json(outcome.to_json())
        return 0
    if rec.status == "pending":
        out.print(
            f"{rec.request_id}: approval {len(rec.approvals)} of {rec.quorum} recorded"
            f" ({', '.join(rec.approvals)}); it resumes when {rec.quorum} reviewers approved",
            markup=False,
        )
        return 0
    out.print(f"{rec.request_id}: {parsed.type} recorded", markup=False)
    if outcome.waits_for:
        say_still_open(rec, outcome.waits_for, "resumes")
    if outcome.thread is not None:
        print_thread(outcome.thread, False)
    return 0


def say_still_open(rec: RequestRecord, waits_for: list[str], who_resumes: str) -> None:
    """A tool call of a batched agent pause: the agent resumes once, with them all."""
    out.print(
        f"  the agent paused on {(rec.pause or {}).get('count', '')} tool calls at once and"
        f" {who_resumes} when all are decided; still open: {', '.join(waits_for)}",
        markup=False,
    )


def wait_for_worker(
    desk: ReviewDesk, request_id: str, kind: str, timeout: float, as_json: bool
) -> int:
    """After recording: the worker's outcome, read back from the ledger."""
    rec = desk.wait_applied(request_id, timeout=timeout)
    with desk.ledger() as ledger:
        applied = [e for e in ledger.events(request_id=request_id) if e["kind"] == "applied"]
        why = ledger.why(rec)
    report = {
        "request_id": request_id,
        "decision": kind,
        "status": rec.status,
        "applied": rec.status == "applied",
        "applied_by": applied[-1]["actor"] if applied else None,
        "outcome": applied[-1]["data"].get("outcome") if applied else None,
        "apply_error": rec.apply_error,
    }
    if rec.status == "applied":
        if as_json:
            print_json(report)
        else:
            out.print(
                f"{request_id}: {kind} applied by {report['applied_by']} (thread"
                f" {report['outcome']})",
                markup=False,
            )
        return 0
    if as_json:
        print_json(report)
    if rec.status in ("cancelled", "superseded"):
        print_error(f"{kind} of {request_id} is recorded, but the request was {rec.status}: {why}")
        return 3
    if rec.apply_error:
        print_error(
            f"{kind} of {request_id} is recorded; applying it failed: {rec.apply_error}"
            " (a worker tries again; `langgraph-hitl cancel` ends the thread)"
        )
        return 1
    print_error(
        f"{kind} of {request_id} is recorded, not applied within {timeout:g}s: is a worker"
        " running (`langgraph-hitl worker`)?"
    )
    return 1


def print_thread(status: Any, as_json: bool) -> None:
    """Where a thread stands, and what to run next when it waits on a human."""
    if as_json:
        print_json(status.to_json())
        return
    line = f"thread {status.thread_id}: {status.status}"
    outcome = status.values.get("status")
    if status.status == "done" and isinstance(outcome, str):
        line += f" ({outcome})"
    if status.pending:
        line += f", waiting on {', '.join(status.pending)}"
    out.print(line, markup=False)
    if status.why:
        out.print(f"  why: {status.why}", markup=False)
    if status.pending:
        out.print(f"  see it:    langgraph-hitl show {status.pending[0]}", markup=False)
        out.print(f"  decide it: langgraph-hitl approve {status.pending[0]}", markup=False)
