"""CLI commands that read the queue: `list`, `show`, `thread`, `history` and `review`.

What `list` prints is `listing.show_queue` (also here as `show_queue`), which `quick`
runs without typer, rich (for `--json` and `--plain`) or the desk.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from langgraph_hitl.cli.app import (
    IdArgument,
    JsonFlag,
    PlainFlag,
    ReviewerOption,
    _desk,
    _handled,
    _ledger,
    _short,
    _state,
    app,
)
from langgraph_hitl.cli.listing import PLAIN_REQUEST, PLAIN_REVIEW, show_queue
from langgraph_hitl.cli.output import ago as _ago
from langgraph_hitl.cli.output import left as _left
from langgraph_hitl.cli.output import out
from langgraph_hitl.cli.output import print_json as _print_json
from langgraph_hitl.cli.record import print_thread as _print_thread
from langgraph_hitl.errors import BadInputError

if TYPE_CHECKING:
    from langgraph_hitl._tables import Column
    from langgraph_hitl.ledger import RequestRecord

# -- reading -------------------------------------------------------------------------


@app.command(
    "list",
    epilog=f"--plain fields: {PLAIN_REQUEST.replace(' ', ', ')}; with --review:"
    f" {PLAIN_REVIEW.replace(' ', ', ')}. --json prints {{total, shown, truncated, limit,"
    " requests} (with --review: reviews).",
)
@_handled
def list_(
    gate: Annotated[
        str | None, typer.Option(metavar="NODE", help="Only this gate (node name).")
    ] = None,
    tier: Annotated[str | None, typer.Option(metavar="TIER", help="Only this risk tier.")] = None,
    review: Annotated[
        bool, typer.Option("--review", help="List work queued for review after the fact.")
    ] = False,
    reviewer: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Only what this reviewer may decide (their role, not their own work).",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", min=0, help="At most this many rows; 0 for all.")
    ] = 200,
    plain: PlainFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """List pending requests: overdue first, then by time left, then oldest (no graph import).

    Decisions recorded but not applied (applying failed, or the process died) are listed
    apart, with why, until `resume` applies them (`unapplied` in --json).
    """
    show_queue(
        _state.db,
        gate=gate,
        tier=tier,
        review=review,
        reviewer=reviewer,
        limit=limit,
        plain=plain,
        as_json=as_json,
    )


def _show_request(rec: RequestRecord) -> None:
    from rich.panel import Panel
    from rich.text import Text

    from langgraph_hitl._tables import escape as escape_text

    req = rec.request
    lines = ["", ""]
    lines.append(f"action     {req.action.name}")
    for key, value in req.action.args.items():
        lines.append(f"  {key:<12} {_short(value, 70)}")
    facts = [
        ("tier", req.risk_tier),
        ("confidence", "-" if req.confidence is None else f"{req.confidence:.2f}"),
        ("goal", req.goal),
        ("recommends", req.recommendation),
        ("failure", req.failure_reason),
        ("deadline", None if rec.deadline is None else _left(rec.deadline, suffix=" left")),
        ("decides", " or ".join(rec.eligible) if rec.eligible else None),
        (
            "quorum",
            f"{rec.quorum} approvals, {len(rec.approvals)} so far"
            + (f" ({', '.join(rec.approvals)})" if rec.approvals else "")
            if rec.quorum > 1
            else None,
        ),
        ("owner", rec.owner),
    ]
    lines += [f"{name:<10} {value}" for name, value in facts if value]
    if rec.proposal is not None:
        # Under a quorum a reviewer edited the args: approvals now count for these.
        changed = {k: v for k, v in rec.proposal.items() if req.action.args.get(k) != v}
        gone = [k for k in req.action.args if k not in rec.proposal]
        lines.append("proposed edit (what approvals now count for):")
        lines += [f"  {key:<12} {_short(value, 70)}" for key, value in changed.items()]
        lines += [f"  {key:<12} (removed)" for key in gone]
    for title, items in (
        ("why escalated", req.reasons),
        ("alternatives", req.alternatives),
        ("history", req.history),
        ("attempted", req.attempted),
    ):
        if items:
            lines.append(f"{title}:")
            lines += [f"  - {item}" for item in items]
    if req.data:
        lines.append("data:")
        lines += [f"  {key:<12} {_short(value, 70)}" for key, value in req.data.items()]
    lines.append("")
    lines.append(
        f"status {rec.status} · thread {rec.thread_id} · gate {rec.gate} · "
        f"digest {rec.args_digest[:12]} · created {_ago(rec.created_at)} ago"
    )
    lines += _pause_lines(rec)
    if rec.decision is not None:
        who = rec.decision.reviewer or "someone"
        lines.append(f"decided: {rec.decision.type} by {who}")
        if rec.status == "decided":
            lines.append(f"not applied: {rec.apply_error or 'not yet'} (`resume` applies it)")
    else:
        lines.append(f"allowed: {', '.join(req.allowed_decisions)}")
    # Everything here came from an agent: plain Text (no markup, no emoji codes), with
    # control characters and bidi marks shown escaped, the summary in bold; long lines
    # fold at the panel's edge rather than being cut.
    body = Text(escape_text(req.summary), style="bold", no_wrap=False, overflow="fold")
    body.append("\n" + "\n".join(escape_text(line) for line in lines[1:]))
    out.print(Panel(body, title=rec.request_id, expand=False))


def _pause_lines(rec: RequestRecord) -> list[str]:
    """For a tool call of a batched agent pause: the pause's calls and which are open."""
    if rec.pause is None or rec.pause.get("mode") != "batched":
        return []
    with _ledger() as ledger:
        members = ledger.pause_members(rec)
    lines = [
        f"one of {len(members)} tool calls the agent paused on at once (answered together,"
        " when all are decided):"
    ]
    for member in members:
        state = member.status
        if member.decision is not None:
            state += f": {member.decision.type} by {member.decision.reviewer or 'someone'}"
        mark = "this" if member.request_id == rec.request_id else "    "
        lines.append(f"  {mark} {member.request_id}  {member.request.action.name}  {state}")
    return lines


@app.command()
@_handled
def show(
    ident: IdArgument,
    reviewer: ReviewerOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a whole request, laid out to judge at a glance."""
    rec = _desk().show(ident, reviewer=reviewer)
    if as_json:
        _print_json(rec.to_json())
    else:
        _show_request(rec)


@app.command()
@_handled
def thread(
    thread_id: Annotated[str, typer.Argument(metavar="THREAD", help="The thread id.")],
    as_json: JsonFlag = False,
) -> None:
    """Show where a thread stands: paused, done, stalled or cancelled, with its state.

    An agent's conversation (a `messages` key) is shown turn by turn, its tool calls
    and their results included; `--json` has the whole state.
    """
    from rich.text import Text

    from langgraph_hitl._tables import escape as escape_text
    from langgraph_hitl.capture._conversation import conversation_lines

    status = _desk().thread(thread_id)
    if as_json:
        _print_json(status.to_json())
        return
    _print_thread(status, False)
    values = status.to_json()["values"]
    turns = conversation_lines(values.get("messages"))
    if turns is None:
        out.print_json(json.dumps(values))
        return
    # Everything here came from an agent or its user: shown as plain, escaped text.
    out.print(Text("\n".join(escape_text(line) for line in turns)), soft_wrap=False)
    rest = {k: v for k, v in values.items() if k != "messages"}
    if rest:
        out.print_json(json.dumps(rest))


@app.command()
@_handled
def history(
    ident: Annotated[str, typer.Argument(metavar="ID", help="A request id or a thread id.")],
    as_json: JsonFlag = False,
) -> None:
    """Every event of a request or thread: created, shown, decided, applied."""
    from langgraph_hitl._tables import fitted_table

    events = _desk().history(ident)
    if as_json:
        _print_json(events)
        return
    cells = [
        [
            event["at"],
            event["kind"],
            event["request_id"] or "-",
            event["actor"] or "-",
            _short(event["data"], 60) if event["data"] else "",
        ]
        for event in events
    ]
    out.print(fitted_table(_history_columns(), cells, width=out.width, title=f"history of {ident}"))


def _history_columns() -> tuple[Column, ...]:
    from langgraph_hitl._tables import Column

    return (
        Column("at", floor=19, drop=3),
        Column("event", floor=17),
        Column("request", ident=True),
        Column("by", floor=10, drop=2),
        Column("details", floor=16, drop=1),
    )


@app.command()
@_handled
def review(
    review_id: Annotated[
        str, typer.Argument(metavar="REVIEW_ID", help="A review id from `list --review`.")
    ],
    ok: Annotated[bool, typer.Option("--ok", help="The work was right.")] = False,
    problem: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help="What was wrong: counted as a miss in metrics."),
    ] = None,
    reviewer: ReviewerOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Close an item queued for review after the fact."""
    if ok == (problem is not None):
        raise BadInputError("give exactly one of --ok or --problem TEXT")
    if problem is not None and not problem.strip():
        raise BadInputError("--problem must say what was wrong")
    item = _desk().close_review(review_id, problem=problem, reviewer=reviewer)
    if as_json:
        _print_json(item.to_json())
    else:
        out.print(f"{item.review_id}: {item.status}", markup=False)
