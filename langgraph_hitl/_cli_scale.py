"""CLI commands for review at scale: reviewers, batch review, sweep, cancel, respond.

Importing this module registers the commands on `langgraph_hitl.cli.app`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from langgraph_hitl.cli import (
    CommentOption,
    IdArgument,
    JsonFlag,
    ReviewerOption,
    _decide,
    _desk,
    _handled,
    _print_json,
    _short,
    app,
    out,
)
from langgraph_hitl.errors import BadInputError

reviewers_app = typer.Typer(
    help="Who may decide what: reviewers and their roles, kept in the ledger.",
    no_args_is_help=True,
)
app.add_typer(reviewers_app, name="reviewers")

ActorOption = Annotated[
    str | None,
    typer.Option(
        "--reviewer",
        help="Who makes the change, for the trail [env LANGGRAPH_HITL_REVIEWER].",
        envvar="LANGGRAPH_HITL_REVIEWER",
    ),
]


@reviewers_app.command("add")
@_handled
def reviewers_add(
    name: Annotated[str, typer.Argument(help="The reviewer's name, as --reviewer gives it.")],
    role: Annotated[str, typer.Option(help="Their role, e.g. junior, senior, manager.")],
    actor: ActorOption = None,
) -> None:
    """Register a reviewer with a role, or change their role."""
    with _desk().ledger(create=True) as ledger:
        ledger.add_reviewer(name, role, actor=actor)
    out.print(f"{name}: {role}", markup=False)


@reviewers_app.command("remove")
@_handled
def reviewers_remove(
    name: Annotated[str, typer.Argument(help="The reviewer to remove.")],
    actor: ActorOption = None,
) -> None:
    """Remove a reviewer: they can no longer decide requests that need a role."""
    with _desk().ledger() as ledger:
        ledger.remove_reviewer(name, actor=actor)
    out.print(f"removed {name}", markup=False)


@reviewers_app.command("list")
@_handled
def reviewers_list(as_json: JsonFlag = False) -> None:
    """List reviewers and their roles."""
    with _desk().ledger() as ledger:
        rows = ledger.reviewers()
    if as_json:
        _print_json(rows)
        return
    table = Table("name", "role", "added")
    for row in rows:
        table.add_row(row["name"], row["role"], row["added_at"])
    out.print(table)


# -- batch review ------------------------------------------------------------------

batch_app = typer.Typer(
    help="Review many requests at once: pending requests grouped by gate and action.\n\n"
    "Without a subcommand, shows each group as one table of the fields that differ.\n"
    "`batch approve GROUP` / `batch reject GROUP` decide a group, or the part of it that\n"
    "passes --where (on args, tier, confidence, thread) and --limit: each request is\n"
    "still recorded and applied on its own, exactly once, with a result per request.\n"
    "Exit 0 when every request was decided, else the exit code of the first that was not.",
    invoke_without_command=True,
)
app.add_typer(batch_app, name="batch")

GroupArgument = Annotated[
    str,
    typer.Argument(help="The group: gate/action as `batch` shows it, its number, or its gate."),
]
WhereOption = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help="FIELD OP VALUE, OP one of = != < <= > >= ~ (contains); repeat to AND.",
    ),
]
LimitOption = Annotated[int, typer.Option(help="Decide at most this many; 0 for all.")]
DryRunFlag = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be decided; decide nothing.")
]


@batch_app.callback()
@_handled
def batch_show(
    ctx: typer.Context,
    reviewer: Annotated[
        str | None, typer.Option(help="Only what this reviewer may decide; noted as shown.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show pending requests grouped by gate and action."""
    from langgraph_hitl.batch import groups

    if ctx.invoked_subcommand is not None:
        return
    with _desk().ledger() as ledger:
        found = groups(ledger.pending(reviewer=reviewer))
        shown = [rec for group in found for rec in group.requests] if reviewer is not None else []
        for rec in shown:
            ledger.add_event(
                "shown",
                request_id=rec.request_id,
                thread_id=rec.thread_id,
                actor=reviewer,
                data={"via": "batch"},
            )
    if as_json:
        _print_json([group.to_json() for group in found])
        return
    if not found:
        out.print("nothing pending")
    for number, group in enumerate(found, start=1):
        same = ", ".join(f"{k}={_cell(v, 24)}" for k, v in group.same.items())
        table = Table(
            "request",
            *group.differing,
            title=f"{number}. {group.key}: {len(group.requests)} pending",
            caption=f"all: {same}" if same else None,
        )
        for rec in group.requests:
            row = group.row(rec)
            table.add_row(rec.request_id, *(_cell(row[name]) for name in group.differing))
        out.print(table)


def _cell(value: Any, width: int = 32) -> str:
    return value if isinstance(value, str) and len(value) <= width else _short(value, width)


def _batch_decide(
    name: str,
    decision: dict[str, Any],
    where: list[str] | None,
    limit: int,
    dry_run: bool,
    as_json: bool,
    needed: bool = False,
) -> None:
    from langgraph_hitl.batch import Condition, decide_batch, find_group, groups, select
    from langgraph_hitl.models import Decision

    conditions = [Condition.parse(text) for text in where or []]
    try:
        parsed = Decision.model_validate(decision)
    except ValueError as error:
        raise BadInputError(f"invalid decision: {error}".splitlines()[0]) from None
    with _desk().ledger() as ledger:
        group = find_group(groups(ledger.pending()), name)
    chosen = select(group, conditions, limit or None)
    if dry_run:
        if as_json:
            _print_json([{"request_id": r.request_id, **group.row(r)} for r in chosen])
        else:
            out.print(f"would {parsed.type} {len(chosen)} of {group.key}:", markup=False)
            for rec in chosen:
                out.print(f"  {rec.request_id}  {rec.request.summary}", markup=False)
        return
    result = decide_batch(_desk(), chosen, parsed, group=group.key, needed=needed)
    if as_json:
        _print_json(result.to_json())
    else:
        for item in result.items:
            detail = f" ({item.detail})" if item.detail else ""
            out.print(f"{item.request_id}  {item.result}{detail}", markup=False)
        counts = ", ".join(f"{n} {what}" for what, n in sorted(result.counts().items()))
        out.print(f"{parsed.type} {group.key}: {counts or 'nothing selected'}", markup=False)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@batch_app.command("approve")
@_handled
def batch_approve(
    group: GroupArgument,
    where: WhereOption = None,
    limit: LimitOption = 0,
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    needed: Annotated[
        bool,
        typer.Option("--needed", help="Each escalation was worth a look (escalation precision)."),
    ] = False,
    dry_run: DryRunFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Approve a group (or the part passing --where), each request on its own."""
    decision = {"type": "approve", "reviewer": reviewer, "comment": comment}
    _batch_decide(group, decision, where, limit, dry_run, as_json, needed=needed)


@batch_app.command("reject")
@_handled
def batch_reject(
    group: GroupArgument,
    reason: Annotated[str, typer.Option(help="Why: kept with every request rejected.")],
    where: WhereOption = None,
    limit: LimitOption = 0,
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    dry_run: DryRunFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Reject a group (or the part passing --where), each request on its own."""
    if not reason.strip():
        raise BadInputError("--reason must not be empty")
    decision = {"type": "reject", "reason": reason, "reviewer": reviewer, "comment": comment}
    _batch_decide(group, decision, where, limit, dry_run, as_json)


# -- deadlines, stop and take over -------------------------------------------------------


@app.command()
@_handled
def sweep(
    no_apply: Annotated[
        bool, typer.Option("--no-apply", help="Record timeout decisions; do not resume.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Escalate overdue requests one role up their chain; decide those at its end.

    Safe to run from cron, and twice at once: each step is taken once. At the end of
    the chain the request's timeout decision (reject unless its tier says otherwise)
    is recorded as `langgraph-hitl:sweep` and applied. Exit 1 when a recorded timeout
    decision could not be applied yet (`resume` applies it).
    """
    steps = _desk().sweep(apply=not no_apply)
    failed = any(step.get("error") for step in steps)
    if as_json:
        _print_json(steps)
        if failed:
            raise typer.Exit(1)
        return
    if not steps:
        out.print("nothing overdue")
    for step in steps:
        if step["step"] == "escalated":
            text = f"escalated to {step['role']}"
        else:
            text = f"timed out: {step['decision']}" + (
                " applied" if step["applied"] else " recorded"
            )
            if step.get("error"):
                text += f" (applying failed: {step['error']}; `resume` applies it later)"
        out.print(f"{step['request_id']}  {text}", markup=False)
    if failed:
        raise typer.Exit(1)


@app.command()
@_handled
def cancel(
    ident: Annotated[str, typer.Argument(help="A thread id, or a request id of the thread.")],
    reason: Annotated[str, typer.Option(help="Why the work is stopped; kept in the trail.")],
    reviewer: ReviewerOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Stop a thread for good: its pending requests are cancelled, it never resumes."""
    if not reason.strip():
        raise BadInputError("--reason must not be empty")
    cancelled = _desk().cancel(ident, reason, reviewer=reviewer)
    if as_json:
        _print_json({"cancelled": cancelled})
        return
    out.print(f"cancelled {ident}: {len(cancelled)} request(s) closed", markup=False)


@app.command()
@_handled
def respond(
    ident: IdArgument,
    response: Annotated[
        str, typer.Option(help="The outcome, in the agent's place (JSON, or plain text).")
    ],
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Answer in the agent's place: the graph continues from the human's outcome.

    The gate must allow `respond` (it was built with `on_respond=`).
    """
    try:
        value: Any = json.loads(response)
    except ValueError:
        value = response
    payload = {"type": "respond", "response": value, "reviewer": reviewer, "comment": comment}
    _decide(ident, payload, as_json)
