"""CLI commands that run and decide: `run`, `approve`, `reject`, `modify`, `resume`.

What a deciding command does once it has its decision (record, apply or wait for a
worker, and say how it went) is `record.decide`, which `quick` runs without typer too.
"""

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
    _handled,
    _ledger,
    _parse_json,
    app,
)
from langgraph_hitl.cli.output import out
from langgraph_hitl.cli.output import print_json as _print_json
from langgraph_hitl.cli.record import decide, rejection
from langgraph_hitl.cli.record import print_thread as _print_thread
from langgraph_hitl.errors import BadInputError


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
    code = decide(_desk(), ident, decision, as_json, needed, no_apply=no_apply, wait=wait)
    if code:
        raise typer.Exit(code)


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
    _decide(ident, rejection(reason, reviewer, comment), as_json, no_apply=no_apply, wait=wait)


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
        with _ledger() as ledger:
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
