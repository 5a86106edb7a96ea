"""The queue as `list` shows it: a table, `--plain` lines or `--json`, with neither typer
nor the desk (the typer app's `list`, in `queue`, and `quick` both run `show_queue`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph_hitl._time import iso
from langgraph_hitl.cli.output import ago, left, out, print_json, print_lines
from langgraph_hitl.errors import BadInputError

if TYPE_CHECKING:
    from rich.table import Table

    from langgraph_hitl._tables import Column
    from langgraph_hitl.ledger import RequestRecord, ReviewItem, ReviewLedger


@contextmanager
def _ledger(db: str | Path) -> Iterator[ReviewLedger]:
    """The ledger alone: `list` needs neither the desk nor a graph."""
    from langgraph_hitl.ledger import ReviewLedger

    with ReviewLedger.open(db) as ledger:
        yield ledger


def _request_columns() -> tuple[Column, ...]:
    from langgraph_hitl._tables import Column

    return (
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


def request_table(rows: list[RequestRecord], total: int) -> Table:
    from langgraph_hitl._tables import fitted_table

    title = f"{total} pending" + (f", showing {len(rows)}" if total > len(rows) else "")
    cells = [
        [
            rec.request_id,
            rec.thread_id,
            rec.gate or "-",
            rec.summary,
            rec.tier or "-",
            _who(rec),
            "-" if rec.confidence is None else f"{rec.confidence:.2f}",
            ago(rec.created_at),
            left(rec.deadline),
        ]
        for rec in rows
    ]
    return fitted_table(_request_columns(), cells, width=out.width, title=title)


def request_plain(rec: RequestRecord) -> str:
    from langgraph_hitl._tables import plain_line

    return plain_line(
        [
            rec.request_id,
            rec.thread_id,
            rec.gate,
            rec.tier,
            rec.required_role,
            len(rec.approvals),
            rec.quorum,
            rec.confidence,
            iso(rec.created_at),
            iso(rec.deadline),
            rec.summary,
        ]
    )


def _unapplied_columns() -> tuple[Column, ...]:
    from langgraph_hitl._tables import Column

    return (
        Column("request", ident=True),
        Column("thread", floor=16, drop=3),
        Column("decision", floor=8, drop=4),
        Column("by", floor=8, drop=5),
        Column("decided", floor=4, drop=6),
        Column("not applied because", floor=20, drop=2),
    )


def unapplied_table(rows: list[RequestRecord]) -> Table:
    """Decisions recorded and not applied: in sight until `resume` applies them."""
    from langgraph_hitl._tables import fitted_table

    cells = [
        [
            rec.request_id,
            rec.thread_id,
            "-" if rec.decision is None else rec.decision.type,
            "-" if rec.decision is None else rec.decision.reviewer or "-",
            ago(rec.decided_at),
            rec.apply_error or "not applied yet",
        ]
        for rec in rows
    ]
    title = (
        f"{len(rows)} decided, not applied (a worker or `resume ID` applies one, `cancel` ends"
        " a thread)"
    )
    return fitted_table(_unapplied_columns(), cells, width=out.width, title=title)


def _review_columns() -> tuple[Column, ...]:
    from langgraph_hitl._tables import Column

    return (
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


def review_table(items: list[ReviewItem], total: int) -> Table:
    from langgraph_hitl._tables import fitted_table

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
            ago(item.created_at),
        ]
        for item in items
    ]
    return fitted_table(_review_columns(), cells, width=out.width, title=title)


def review_plain(item: ReviewItem) -> str:
    from langgraph_hitl._tables import plain_line

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


def listing(total: int, limit: int, key: str, rows: list[Any]) -> dict[str, Any]:
    """The shape of `list --json`: how many there are in all, and whether rows were cut."""
    return {
        "total": total,
        "shown": len(rows),
        "truncated": total > len(rows),
        "limit": limit or None,
        key: rows,
    }


def show_queue(
    db: str | Path,
    *,
    gate: str | None = None,
    tier: str | None = None,
    review: bool = False,
    reviewer: str | None = None,
    limit: int = 200,
    plain: bool = False,
    as_json: bool = False,
) -> None:
    """Print what `list` prints: pending requests (or, with `review`, work queued for
    review after the fact) as a table, `--plain` lines or `--json`."""
    if plain and as_json:
        raise BadInputError("give at most one of --plain and --json")
    if review:
        with _ledger(db) as ledger:
            items = ledger.reviews(limit=limit or None)
            total = len(items) if not limit or len(items) < limit else ledger.count_reviews()
        if as_json:
            print_json(listing(total, limit, "reviews", [item.to_json() for item in items]))
        elif plain:
            print_lines(review_plain(item) for item in items)
        else:
            out.print(review_table(items, total))
        return
    with _ledger(db) as ledger:
        filters = {"gate": gate, "tier": tier, "reviewer": reviewer}
        rows = ledger.pending(**filters, limit=limit or None)
        total = len(rows) if not limit or len(rows) < limit else ledger.count_pending(**filters)
        open_roles = any(rec.eligible for rec in rows) and not ledger.reviewers()
        # A decision recorded and not applied is no longer pending, but it must not drop
        # out of sight: listed apart, with why applying it failed.
        unapplied = [
            rec
            for rec in ledger.to_apply()
            if gate in (None, rec.gate) and tier in (None, rec.tier)
        ]
    if as_json:
        shown = listing(total, limit, "requests", [rec.to_row() for rec in rows])
        shown["unapplied"] = [rec.to_row() for rec in unapplied]
        print_json(shown)
    elif plain:
        print_lines(request_plain(rec) for rec in rows)
    elif not rows and not unapplied:
        out.print("nothing pending")
    else:
        out.print(request_table(rows, total) if rows else "nothing pending")
        if unapplied:
            out.print(unapplied_table(unapplied))
        if open_roles:
            out.print(
                "note: no reviewers are registered, so anyone may decide; roles apply once"
                " one is (`langgraph-hitl reviewers add NAME --role ROLE`)",
                markup=False,
            )
