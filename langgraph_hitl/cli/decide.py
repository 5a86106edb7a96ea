"""CLI commands that run and decide: `run`, `approve`, `reject`, `modify`, `resume`."""

from __future__ import annotations

import copy
from typing import Annotated, Any

import typer

from langgraph_hitl.cli.app import (
    CommentOption,
    IdArgument,
    JsonFlag,
    NoApplyFlag,
    ReviewerOption,
    WaitOption,
    _desk,
    _fail,
    _handled,
    _parse_json,
    _print_json,
    _print_thread,
    app,
    out,
)
from langgraph_hitl.errors import BadInputError
from langgraph_hitl.ledger import RequestRecord


@app.command()
@_handled
def run(
    graph: Annotated[
        str,
        typer.Argument(
            metavar="GRAPH",
            help="A name from ./langgraph.json (or a packaged graph: invoice),"
            " path/to/file.py:attr or module:attr.",
        ),
    ],
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            metavar="JSON|@FILE",
            help="The input as JSON, or @file.json (at most 32 MiB). NaN and Infinity are"
            " refused: JSON has neither.",
        ),
    ] = None,
    thread: Annotated[
        str | None, typer.Option(metavar="ID", help="Thread id (default: a new one).")
    ] = None,
    message: Annotated[
        list[str] | None,
        typer.Option(
            "--message",
            "-m",
            metavar="TEXT",
            help="For an agent (LangChain's create_agent, or any graph with a `messages`"
            ' key): the input {"messages": [{"role": "user", "content": TEXT}]}. Repeat'
            " for several user messages.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a graph or an agent until it ends or pauses for a human.

    GRAPH may be a LangChain agent (`create_agent`, with langgraph-hitl's
    ApprovalMiddleware or LangChain's HumanInTheLoopMiddleware): its pauses are
    listed and decided like a gate's, one request per tool call. The thread records
    GRAPH with the directory it resolves from, so a reviewer decides from any
    directory. Graphs with async nodes run too. Sample input: `langgraph-hitl samples`.
    """
    if input is not None and message:
        raise BadInputError("give --input or --message, not both")
    value = None if input is None else _parse_json(input, "--input")
    if value is not None and not isinstance(value, dict):
        raise BadInputError("--input must be a JSON object")
    if message:
        value = {"messages": [{"role": "user", "content": text} for text in message]}
    _print_thread(_desk().run(graph, value, thread_id=thread), as_json)


# -- deciding ------------------------------------------------------------------------


def _decide(
    ident: str,
    decision: dict[str, Any],
    as_json: bool,
    needed: bool = False,
    *,
    no_apply: bool = False,
    wait: float | None = None,
) -> None:
    from langgraph_hitl._config import apply_default
    from langgraph_hitl.models import Decision

    try:
        parsed = Decision.model_validate(decision)
    except ValueError as error:
        raise BadInputError(f"invalid decision: {error}".splitlines()[0]) from None
    # Record here, apply there: a process that only records imports neither LangGraph
    # nor the graph.
    here = not no_apply and wait is None and apply_default() == "here"
    outcome = _desk().decide(ident, parsed, needed=needed, apply=here)
    rec = outcome.request
    if rec.status == "decided" and not here:
        if outcome.waits_for:
            # A tool call of a batched agent pause: no worker applies it until the
            # pause's other calls are decided too, so there is nothing to wait for yet.
            if as_json:
                _print_json(outcome.to_json())
            else:
                out.print(f"{rec.request_id}: {parsed.type} recorded", markup=False)
                _say_still_open(rec, outcome.waits_for, "a worker resumes it")
            return
        if wait is not None:
            _wait_for_worker(rec.request_id, parsed.type, wait, as_json)
            return
        if as_json:
            _print_json(outcome.to_json())
        else:
            out.print(
                f"{rec.request_id}: {parsed.type} recorded; a worker applies it"
                " (`langgraph-hitl worker`)",
                markup=False,
            )
        return
    if as_json:
        _print_json(outcome.to_json())
        return
    if rec.status == "pending":
        out.print(
            f"{rec.request_id}: approval {len(rec.approvals)} of {rec.quorum} recorded"
            f" ({', '.join(rec.approvals)}); it resumes when {rec.quorum} reviewers approved",
            markup=False,
        )
        return
    out.print(f"{rec.request_id}: {parsed.type} recorded", markup=False)
    if outcome.waits_for:
        _say_still_open(rec, outcome.waits_for, "resumes")
    if outcome.thread is not None:
        _print_thread(outcome.thread, False)


def _say_still_open(rec: RequestRecord, waits_for: list[str], who_resumes: str) -> None:
    """A tool call of a batched agent pause: the agent resumes once, with them all."""
    out.print(
        f"  the agent paused on {(rec.pause or {}).get('count', '')} tool calls at once and"
        f" {who_resumes} when all are decided; still open: {', '.join(waits_for)}",
        markup=False,
    )


def _wait_for_worker(request_id: str, kind: str, timeout: float, as_json: bool) -> None:
    """After recording: the worker's outcome, read back from the ledger."""
    desk = _desk()
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
            _print_json(report)
        else:
            out.print(
                f"{request_id}: {kind} applied by {report['applied_by']} (thread"
                f" {report['outcome']})",
                markup=False,
            )
        return
    if as_json:
        _print_json(report)
    if rec.status in ("cancelled", "superseded"):
        _fail(f"{kind} of {request_id} is recorded, but the request was {rec.status}: {why}", 3)
    if rec.apply_error:
        _fail(
            f"{kind} of {request_id} is recorded; applying it failed: {rec.apply_error}"
            " (a worker tries again; `langgraph-hitl cancel` ends the thread)",
            1,
        )
    _fail(
        f"{kind} of {request_id} is recorded, not applied within {timeout:g}s: is a worker"
        " running (`langgraph-hitl worker`)?",
        1,
    )


@app.command()
@_handled
def approve(
    ident: IdArgument,
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    needed: Annotated[
        bool,
        typer.Option(
            "--needed",
            help="The escalation was worth a human look, though the proposal stands"
            " (counts toward escalation precision in metrics).",
        ),
    ] = False,
    no_apply: NoApplyFlag = False,
    wait: WaitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a request and resume its thread."""
    decision = {"type": "approve", "reviewer": reviewer, "comment": comment}
    _decide(ident, decision, as_json, needed=needed, no_apply=no_apply, wait=wait)


@app.command()
@_handled
def reject(
    ident: IdArgument,
    reason: Annotated[
        str, typer.Option(metavar="TEXT", help="Why: shown to the agent and kept in the trail.")
    ],
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    no_apply: NoApplyFlag = False,
    wait: WaitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Reject a request with a reason and resume its thread."""
    if not reason.strip():
        raise BadInputError("--reason must not be empty")
    payload = {"type": "reject", "reason": reason, "reviewer": reviewer, "comment": comment}
    _decide(ident, payload, as_json, no_apply=no_apply, wait=wait)


def _set_path(args: dict[str, Any], dotted: str, value: Any) -> None:
    target: Any = args
    parts = dotted.split(".")
    for part in parts[:-1]:
        if isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        elif isinstance(target, dict) and isinstance(target.get(part), dict | list):
            target = target[part]
        else:
            raise BadInputError(f"--set {dotted}: {part!r} is not a field that holds others")
    last = parts[-1]
    if isinstance(target, list):
        if not (last.isdigit() and int(last) < len(target)):
            raise BadInputError(f"--set {dotted}: no item {last!r}")
        target[int(last)] = value
    else:
        target[last] = value


@app.command()
@_handled
def modify(
    ident: IdArgument,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="KEY=VALUE edit of one arg; VALUE is JSON if it parses, else text; "
            "dots reach nested fields (line_items.0.quantity=2). Repeatable.",
        ),
    ] = None,
    args: Annotated[
        str | None,
        typer.Option(
            "--args",
            metavar="JSON|@FILE",
            help="The whole edited args as JSON, or @file.json (at most 32 MiB).",
        ),
    ] = None,
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    no_apply: NoApplyFlag = False,
    wait: WaitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a request with edited args and resume its thread."""
    from langgraph_hitl._input import parse_json_or_text

    if bool(set_) == (args is not None):
        raise BadInputError("give either --set KEY=VALUE (repeatable) or --args JSON")
    if args is not None:
        edited = _parse_json(args, "--args")
        if not isinstance(edited, dict):
            raise BadInputError("--args must be a JSON object")
    else:
        with _desk().ledger() as ledger:
            current = ledger.resolve(ident)
        # From the args as they stand: a quorum's proposal, if a reviewer edited them.
        edited = copy.deepcopy(current.current_args)
        for item in set_ or []:
            key, sep, raw = item.partition("=")
            if not sep or not key:
                raise BadInputError(f"--set {item!r}: expected KEY=VALUE")
            # JSON if it parses, else text; a number JSON lacks (NaN, 1e999), nesting
            # too deep to parse or too many digits is refused, never kept as text.
            _set_path(edited, key, parse_json_or_text(raw, f"--set {key}"))
    payload = {"type": "modify", "args": edited, "reviewer": reviewer, "comment": comment}
    _decide(ident, payload, as_json, no_apply=no_apply, wait=wait)


@app.command()
@_handled
def resume(
    ident: Annotated[
        str | None,
        typer.Argument(metavar="ID", help="A request or thread id; omit with --all."),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every thread with a decision not yet applied.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Apply recorded decisions that were not applied (the process died in between)."""
    if (ident is None) == (not all_):
        raise BadInputError("give a request or thread id, or --all")
    threads = _desk().resume(ident)
    if as_json:
        _print_json([status.to_json() for status in threads])
    elif not threads:
        out.print("nothing to resume")
    for status in [] if as_json else threads:
        _print_thread(status, False)
