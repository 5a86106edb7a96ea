"""CLI commands for review at scale: reviewers, batch review, sweep, cancel, respond."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from langgraph_hitl.cli import JsonFlag, _desk, _handled, _print_json, app, out

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
