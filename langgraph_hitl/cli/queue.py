"""CLI commands that read the queue: `list`, `show`, `thread`, `history` and `review`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from langgraph_hitl._tables import Column, fitted_table, plain_line
from langgraph_hitl._tables import escape as escape_text
from langgraph_hitl._time import iso
from langgraph_hitl.capture._conversation import conversation_lines
from langgraph_hitl.cli.app import (
    IdArgument,
    JsonFlag,
    PlainFlag,
    ReviewerOption,
    _ago,
    _desk,
    _handled,
    _left,
    _print_json,
    _print_lines,
    _print_thread,
    _short,
    app,
    out,
)
from langgraph_hitl.errors import BadInputError
from langgraph_hitl.ledger import RequestRecord, ReviewItem

# -- reading -------------------------------------------------------------------------


REQUEST_COLUMNS = (
    Column("request", ident=True),
    Column("thread", floor=16, drop=3),
    Column("gate", floor=15, drop=7),
    Column("summary", floor=16, drop=2),
    Column("tier", floor=8, drop=6),
    Column("who", floor=11, drop=4),
    Column("conf", floor=4, drop=8),
    Column("age", floor=4, drop=9),
    Column("left", floor=10, drop=5),
)
PLAIN_REQUEST = (
    "request_id thread_id gate tier role approvals quorum confidence created_at deadline summary"
)
"""The fields of `list --plain`, in order (the summary last: it is free text)."""


def _who(rec: RequestRecord) -> str:
    who = rec.required_role or "-"
    return who + (f" {len(rec.approvals)}/{rec.quorum}" if rec.quorum > 1 else "")


def _request_table(rows: list[RequestRecord], total: int) -> Table:
    title = f"{total} pending" + (f", showing {len(rows)}" if total > len(rows) else "")
    cells = [
        [
            rec.request_id,
            rec.thread_id,
            rec.gate or "-",
            rec.request.summary,
            rec.request.risk_tier,
            _who(rec),
            "-" if rec.request.confidence is None else f"{rec.request.confidence:.2f}",
            _ago(rec.created_at),
            _left(rec.deadline),
        ]
        for rec in rows
    ]
    return fitted_table(REQUEST_COLUMNS, cells, width=out.width, title=title)


def _request_plain(rec: RequestRecord) -> str:
    return plain_line(
        [
            rec.request_id,
            rec.thread_id,
            rec.gate,
            rec.request.risk_tier,
            rec.required_role,
            len(rec.approvals),
            rec.quorum,
            rec.request.confidence,
            iso(rec.created_at),
            iso(rec.deadline),
            rec.request.summary,
        ]
    )


UNAPPLIED_COLUMNS = (
    Column("request", ident=True),
    Column("thread", floor=16, drop=3),
    Column("decision", floor=8, drop=4),
    Column("by", floor=8, drop=5),
    Column("decided", floor=4, drop=6),
    Column("not applied because", floor=20, drop=2),
)


def _unapplied_table(rows: list[RequestRecord]) -> Table:
    """Decisions recorded and not applied: in sight until `resume` applies them."""
    cells = [
        [
            rec.request_id,
            rec.thread_id,
            "-" if rec.decision is None else rec.decision.type,
            "-" if rec.decision is None else rec.decision.reviewer or "-",
            _ago(rec.decided_at),
            rec.apply_error or "not applied yet",
        ]
        for rec in rows
    ]
    title = (
        f"{len(rows)} decided, not applied (a worker or `resume ID` applies one, `cancel` ends"
        " a thread)"
    )
    return fitted_table(UNAPPLIED_COLUMNS, cells, width=out.width, title=title)


REVIEW_COLUMNS = (
    Column("review", ident=True),
    Column("thread", floor=16, drop=3),
    Column("action", floor=12, drop=5),
    Column("summary", floor=16, drop=2),
    Column("tier", floor=8, drop=4),
    Column("conf", floor=4, drop=6),
    Column("age", floor=4, drop=7),
)
PLAIN_REVIEW = "review_id thread_id action tier confidence created_at summary"
"""The fields of `list --review --plain`, in order."""


def _review_table(items: list[ReviewItem], total: int) -> Table:
    title = f"{total} queued for review after the fact" + (
        f", showing {len(items)}" if total > len(items) else ""
    )
    cells = [
        [
            item.review_id,
            item.thread_id,
            item.action["name"],
            item.summary,
            item.tier or "-",
            "-" if item.confidence is None else f"{item.confidence:.2f}",
            _ago(item.created_at),
        ]
        for item in items
    ]
    return fitted_table(REVIEW_COLUMNS, cells, width=out.width, title=title)


def _review_plain(item: ReviewItem) -> str:
    return plain_line(
        [
            item.review_id,
            item.thread_id,
            item.action["name"],
            item.tier,
            item.confidence,
            iso(item.created_at),
            item.summary,
        ]
    )


def _listing(total: int, limit: int, key: str, rows: list[Any]) -> dict[str, Any]:
    """The shape of `list --json`: how many there are in all, and whether rows were cut."""
    return {
        "total": total,
        "shown": len(rows),
        "truncated": total > len(rows),
        "limit": limit or None,
        key: rows,
    }


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
    if plain and as_json:
        raise BadInputError("give at most one of --plain and --json")
    desk = _desk()
    if review:
        with desk.ledger() as ledger:
            items = ledger.reviews(limit=limit or None)
            total = len(items) if not limit or len(items) < limit else ledger.count_reviews()
        if as_json:
            _print_json(_listing(total, limit, "reviews", [item.to_json() for item in items]))
        elif plain:
            _print_lines(_review_plain(item) for item in items)
        else:
            out.print(_review_table(items, total))
        return
    with desk.ledger() as ledger:
        filters = {"gate": gate, "tier": tier, "reviewer": reviewer}
        rows = ledger.pending(**filters, limit=limit or None)
        total = len(rows) if not limit or len(rows) < limit else ledger.count_pending(**filters)
        open_roles = any(rec.eligible for rec in rows) and not ledger.reviewers()
        # A decision recorded and not applied is no longer pending, but it must not drop
        # out of sight: listed apart, with why applying it failed.
        unapplied = [
            rec
            for rec in ledger.to_apply()
            if gate in (None, rec.gate) and tier in (None, rec.request.risk_tier)
        ]
    if as_json:
        listing = _listing(total, limit, "requests", [rec.to_row() for rec in rows])
        listing["unapplied"] = [rec.to_row() for rec in unapplied]
        _print_json(listing)
    elif plain:
        _print_lines(_request_plain(rec) for rec in rows)
    elif not rows and not unapplied:
        out.print("nothing pending")
    else:
        out.print(_request_table(rows, total) if rows else "nothing pending")
        if unapplied:
            out.print(_unapplied_table(unapplied))
        if open_roles:
            out.print(
                "note: no reviewers are registered, so anyone may decide; roles apply once"
                " one is (`langgraph-hitl reviewers add NAME --role ROLE`)",
                markup=False,
            )


def _show_request(rec: RequestRecord) -> None:
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
    with _desk().ledger() as ledger:
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
    out.print(fitted_table(HISTORY_COLUMNS, cells, width=out.width, title=f"history of {ident}"))


HISTORY_COLUMNS = (
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
