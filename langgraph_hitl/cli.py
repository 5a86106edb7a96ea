"""The `langgraph-hitl` command line: run graphs, review and decide from any process.

Exit codes (also in `--help`): 0 done; 1 anything else; 2 bad input (unparsable JSON,
unknown id, a decision the gate does not allow, an edit that fails the schema,
missing or unreadable database); 3 conflict (already decided, no longer pending,
stale); 4 not authorized (the reviewer's role may not decide it, or they own the
work). Every failure is one line on stderr; nothing pending changes.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from langgraph_hitl.errors import BadInputError, HitlError
from langgraph_hitl.ledger import RequestRecord, ReviewItem

EXIT_CODES = """\
Exit codes: 0 done; 1 anything else; 2 bad input (unparsable JSON, unknown id, a
decision the gate does not allow, an edit that fails the schema, missing or
unreadable database); 3 conflict (already decided, no longer pending, stale); 4 not
authorized (the reviewer's role may not decide it, or they own the work).
"""

app = typer.Typer(
    name="langgraph-hitl",
    help="Human approval for LangGraph graphs: run, list, show, decide, resume; review at"
    " scale (roles, batch, deadlines); know how review is going (metrics, notify,"
    " check).\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="SQLite file with checkpoints and ledger "
        "[env LANGGRAPH_HITL_DB; default ./hitl.sqlite]",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
ReviewerOption = Annotated[
    str | None,
    typer.Option(help="Who decides [env LANGGRAPH_HITL_REVIEWER; default the OS user]."),
]
CommentOption = Annotated[str | None, typer.Option(help="A note kept in the audit trail.")]
IdArgument = Annotated[
    str, typer.Argument(help="A request id, or a thread id with exactly one pending request.")
]


class _State:
    db: Path = Path("hitl.sqlite")
    graph: str | None = None


_state = _State()


def _handled(command: F) -> F:
    """Map every expected failure to one stderr line and its exit code, in one place."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            _check_text(kwargs)
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except HitlError as error:
            _fail(str(error), error.exit_code)
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                _fail(f"the database stayed locked by another process: {error}", 1)
            _fail(f"database error: {error}", 2)
        except sqlite3.DatabaseError as error:
            _fail(f"database error: {error}", 2)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as error:
            # A failure inside the user's graph, or a bug: one line, unless debugging.
            if os.environ.get("LANGGRAPH_HITL_DEBUG"):
                raise
            _fail(f"{type(error).__name__}: {error}".splitlines()[0], 1)

    return wrapper  # type: ignore[return-value]


def _check_text(params: dict[str, Any]) -> None:
    """Refuse arguments holding bytes that are not UTF-8 (SQLite cannot store them)."""
    for name, value in params.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not _is_unicode(text):
                option = name.rstrip("_").replace("_", "-")
                raise BadInputError(f"{option}: not UTF-8 text (undecodable bytes)")


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: undecodable argv bytes, or a JSON escape
        return False
    return True


def _fail(message: str, code: int) -> None:
    # One line, whatever the message carries (a path, a key, an error text with newlines).
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    err.print(f"error: {line}", markup=False)
    raise typer.Exit(code)


def _desk() -> Any:
    from langgraph_hitl.desk import ReviewDesk

    return ReviewDesk(_state.db, graph=_state.graph)


def _print_json(value: Any) -> None:
    from langgraph_hitl.desk import to_jsonable

    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")


def _parse_json(text: str, what: str) -> Any:
    """JSON from text, or from a file when text is `@path`."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as error:
            raise BadInputError(f"cannot read {what} file {text[1:]}: {error.strerror}") from None
        except UnicodeDecodeError as error:
            raise BadInputError(f"{what} file {text[1:]} is not UTF-8: {error.reason}") from None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        # ValueError: JSONDecodeError, or an integer past Python's digit limit.
        raise BadInputError(f"{what} is not valid JSON: {error}") from None
    try:
        unicode = _is_unicode(json.dumps(value, ensure_ascii=False))
    except RecursionError:
        raise BadInputError(f"{what} is nested too deeply") from None
    if not unicode:
        raise BadInputError(f"{what} holds a lone surrogate escape (\\ud800-\\udfff)")
    return value


def _ago(ts: float | None) -> str:
    if ts is None:
        return "-"
    seconds = datetime.now(UTC).timestamp() - ts
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _left(deadline: float | None, suffix: str = "") -> str:
    if deadline is None:
        return "-"
    now = datetime.now(UTC).timestamp()
    if deadline < now:
        return f"overdue {_ago(deadline)}"
    return _ago(now - (deadline - now)) + suffix


def _short(value: Any, width: int = 48) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


@app.callback()
def _main(
    db: DbOption = None,
    graph: Annotated[
        str | None,
        typer.Option(
            help="Graph to load when applying decisions, instead of the one the thread "
            "recorded (name, file.py:attr, module:attr), resolved from the current "
            "directory: for a graph file that moved."
        ),
    ] = None,
) -> None:
    _state.db = db or Path(os.environ.get("LANGGRAPH_HITL_DB") or "hitl.sqlite")
    _state.graph = graph


# -- running -------------------------------------------------------------------------


def _print_thread(status: Any, as_json: bool) -> None:
    if as_json:
        _print_json(status.to_json())
        return
    line = f"thread {status.thread_id}: {status.status}"
    outcome = status.values.get("status")
    if status.status == "done" and isinstance(outcome, str):
        line += f" ({outcome})"
    if status.pending:
        line += f", waiting on {', '.join(status.pending)}"
    out.print(line, markup=False)
    if status.pending:
        out.print(f"  see it:    langgraph-hitl show {status.pending[0]}", markup=False)
        out.print(f"  decide it: langgraph-hitl approve {status.pending[0]}", markup=False)


@app.command()
@_handled
def run(
    graph: Annotated[
        str,
        typer.Argument(
            help="A name from ./langgraph.json (or a packaged graph: invoice),"
            " path/to/file.py:attr or module:attr."
        ),
    ],
    input: Annotated[
        str | None, typer.Option("--input", help="The input as JSON, or @file.json.")
    ] = None,
    thread: Annotated[str | None, typer.Option(help="Thread id (default: a new one).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a graph until it ends or pauses at a gate.

    The thread records GRAPH with the directory it resolves from, so a reviewer decides
    from any directory. Graphs with async nodes run too. Sample input:
    `langgraph-hitl samples`.
    """
    value = None if input is None else _parse_json(input, "--input")
    if value is not None and not isinstance(value, dict):
        raise BadInputError("--input must be a JSON object")
    _print_thread(_desk().run(graph, value, thread_id=thread), as_json)


@app.command()
@_handled
def thread(
    thread_id: Annotated[str, typer.Argument(help="The thread id.")], as_json: JsonFlag = False
) -> None:
    """Show where a thread stands: paused, done or stalled, with its state."""
    status = _desk().thread(thread_id)
    if as_json:
        _print_json(status.to_json())
        return
    _print_thread(status, False)
    out.print_json(json.dumps(status.to_json()["values"]))


# -- reading -------------------------------------------------------------------------


def _request_table(rows: list[RequestRecord], total: int) -> Table:
    table = Table(
        title=f"{total} pending" + (f", showing {len(rows)}" if total > len(rows) else "")
    )
    columns = ("request", "thread", "gate", "summary", "tier", "who", "conf", "age", "left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for rec in rows:
        req = rec.request
        who = rec.required_role or "-"
        if rec.quorum > 1:
            who += f" {len(rec.approvals)}/{rec.quorum}"
        table.add_row(
            rec.request_id,
            rec.thread_id,
            rec.gate or "-",
            req.summary,
            req.risk_tier,
            who,
            "-" if req.confidence is None else f"{req.confidence:.2f}",
            _ago(rec.created_at),
            _left(rec.deadline),
        )
    return table


def _review_table(items: list[ReviewItem]) -> Table:
    table = Table(title=f"{len(items)} queued for review after the fact")
    for column in ("review", "thread", "action", "summary", "tier", "conf", "age"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            item.review_id,
            item.thread_id,
            item.action["name"],
            item.summary,
            item.tier or "-",
            "-" if item.confidence is None else f"{item.confidence:.2f}",
            _ago(item.created_at),
        )
    return table


@app.command("list")
@_handled
def list_(
    gate: Annotated[str | None, typer.Option(help="Only this gate (node name).")] = None,
    tier: Annotated[str | None, typer.Option(help="Only this risk tier.")] = None,
    review: Annotated[
        bool, typer.Option("--review", help="List work queued for review after the fact.")
    ] = False,
    reviewer: Annotated[
        str | None,
        typer.Option(help="Only what this reviewer may decide (their role, not their own work)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows; 0 for all.")] = 200,
    as_json: JsonFlag = False,
) -> None:
    """List pending requests: overdue first, then by time left, then oldest (no graph import)."""
    desk = _desk()
    if review:
        items = desk.reviews(limit=limit or None)
        if as_json:
            _print_json([item.to_json() for item in items])
        else:
            out.print(_review_table(items))
        return
    with desk.ledger() as ledger:
        filters = {"gate": gate, "tier": tier, "reviewer": reviewer}
        rows = ledger.pending(**filters, limit=limit or None)
        total = len(rows) if not limit or len(rows) < limit else ledger.count_pending(**filters)
        open_roles = any(rec.eligible for rec in rows) and not ledger.reviewers()
    if as_json:
        _print_json([rec.to_row() for rec in rows])
    elif not rows:
        out.print("nothing pending")
    else:
        out.print(_request_table(rows, total))
        if open_roles:
            out.print(
                "note: no reviewers are registered, so anyone may decide; roles apply once"
                " one is (`langgraph-hitl reviewers add NAME --role ROLE`)",
                markup=False,
            )


def _show_request(rec: RequestRecord) -> None:
    req = rec.request
    lines = [f"[bold]{req.summary}[/bold]", ""]
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
    if rec.decision is not None:
        who = rec.decision.reviewer or "someone"
        lines.append(f"decided: {rec.decision.type} by {who}")
    else:
        lines.append(f"allowed: {', '.join(req.allowed_decisions)}")
    from rich.markup import escape

    body = "\n".join(line if line.startswith("[bold]") else escape(line) for line in lines)
    out.print(Panel(body, title=rec.request_id, expand=False))


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
def history(
    ident: Annotated[str, typer.Argument(help="A request id or a thread id.")],
    as_json: JsonFlag = False,
) -> None:
    """Every event of a request or thread: created, shown, decided, applied."""
    events = _desk().history(ident)
    if as_json:
        _print_json(events)
        return
    table = Table(title=f"history of {ident}")
    for column in ("at", "event", "request", "by", "details"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(
            event["at"],
            event["kind"],
            event["request_id"] or "-",
            event["actor"] or "-",
            _short(event["data"], 60) if event["data"] else "",
        )
    out.print(table)


# -- deciding ------------------------------------------------------------------------


def _decide(ident: str, decision: dict[str, Any], as_json: bool, needed: bool = False) -> None:
    from langgraph_hitl.models import Decision

    try:
        parsed = Decision.model_validate(decision)
    except ValueError as error:
        raise BadInputError(f"invalid decision: {error}".splitlines()[0]) from None
    outcome = _desk().decide(ident, parsed, needed=needed)
    if as_json:
        _print_json(outcome.to_json())
        return
    rec = outcome.request
    if rec.status == "pending":
        out.print(
            f"{rec.request_id}: approval {len(rec.approvals)} of {rec.quorum} recorded"
            f" ({', '.join(rec.approvals)}); it resumes when {rec.quorum} reviewers approved",
            markup=False,
        )
        return
    out.print(f"{rec.request_id}: {parsed.type} recorded", markup=False)
    if outcome.thread is not None:
        _print_thread(outcome.thread, False)


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
    as_json: JsonFlag = False,
) -> None:
    """Approve a request and resume its thread."""
    decision = {"type": "approve", "reviewer": reviewer, "comment": comment}
    _decide(ident, decision, as_json, needed=needed)


@app.command()
@_handled
def reject(
    ident: IdArgument,
    reason: Annotated[str, typer.Option(help="Why: shown to the agent and kept in the trail.")],
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Reject a request with a reason and resume its thread."""
    if not reason.strip():
        raise BadInputError("--reason must not be empty")
    payload = {"type": "reject", "reason": reason, "reviewer": reviewer, "comment": comment}
    _decide(ident, payload, as_json)


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
            help="KEY=VALUE edit of one arg; VALUE is JSON if it parses, else text; "
            "dots reach nested fields (line_items.0.quantity=2). Repeatable.",
        ),
    ] = None,
    args: Annotated[
        str | None, typer.Option("--args", help="The whole edited args as JSON, or @file.json.")
    ] = None,
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a request with edited args and resume its thread."""
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
            try:
                value = json.loads(raw)
            except (ValueError, RecursionError):  # not JSON (or too big, too deep): text
                value = raw
            _set_path(edited, key, value)
    payload = {"type": "modify", "args": edited, "reviewer": reviewer, "comment": comment}
    _decide(ident, payload, as_json)


@app.command()
@_handled
def resume(
    ident: Annotated[
        str | None, typer.Argument(help="A request or thread id; omit with --all.")
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


@app.command()
@_handled
def review(
    review_id: Annotated[str, typer.Argument(help="A review id from `list --review`.")],
    ok: Annotated[bool, typer.Option("--ok", help="The work was right.")] = False,
    problem: Annotated[
        str | None, typer.Option(help="What was wrong: counted as a miss in metrics.")
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
        typer.Option(help="The head hash kept from an earlier verify: catches cut-off events."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check every event's hash link; exit 1 and name the first broken one."""
    from langgraph_hitl.audit import verify

    with _desk().ledger() as ledger:
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
        Path | None, typer.Option("--output", "-o", help="Write JSONL here (default stdout).")
    ] = None,
) -> None:
    """Write every event, with its hashes, as JSON lines for an auditor."""
    from langgraph_hitl.audit import export

    with _desk().ledger() as ledger:
        if output is None:
            export(ledger, sys.stdout)
            return
        with output.open("w", encoding="utf-8") as handle:
            count = export(ledger, handle)
    err.print(f"wrote {count} events to {output}", markup=False)


@app.command()
@_handled
def doctor(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report only; change nothing.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Find and repair disagreements between the ledger and the checkpoints."""
    from langgraph_hitl.maintenance import doctor as run_doctor

    report = run_doctor(_desk(), repair=not dry_run)
    if as_json:
        _print_json(report.to_json())
    else:
        out.print(f"checked {report.checked_threads} threads", markup=False)
        for item in report.findings:
            mark = "fixed" if item["fixed"] else "open "
            out.print(
                f"  {mark} {item['kind']:<18} {item['thread_id']}: {item['detail']}", markup=False
            )
        if not report.findings:
            out.print("ledger and checkpoints agree", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@_handled
def prune(
    older_than: Annotated[
        str, typer.Option(help="Age of the last checkpoint, e.g. 30d, 12h, 90m.")
    ],
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="VACUUM afterwards so the file shrinks.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete finished threads' checkpoints; keep their audit trail; never touch a paused one."""
    from langgraph_hitl._time import parse_duration
    from langgraph_hitl.maintenance import prune as run_prune

    report = run_prune(_desk(), older_than=parse_duration(older_than), vacuum=vacuum)
    if as_json:
        _print_json(report.to_json())
        return
    out.print(f"pruned {len(report.pruned)} finished threads", markup=False)
    for reason, count in sorted(report.kept.items()):
        out.print(f"  kept {count}: {reason}", markup=False)
    out.print(
        f"database: {report.bytes_before:,} -> {report.bytes_after:,} bytes on disk, "
        f"{report.used_before:,} -> {report.used_after:,} bytes in use",
        markup=False,
    )


# Commands of review at scale, learning from decisions, watching the review process
# and the packaged samples live in their own modules; importing them registers them.
from langgraph_hitl import (  # noqa: E402,F401
    _cli_learn,
    _cli_metrics,
    _cli_samples,
    _cli_scale,
    _cli_watch,
)


def main() -> None:
    """Console-script entry point: usage errors, too, are one line on stderr (exit 2)."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        err.print("error: aborted", markup=False)
        code = 1
    except typer.TyperException as error:
        # Typer's usage errors (missing option, bad value, unknown command).
        formatter = getattr(error, "format_message", None)
        message = formatter() if callable(formatter) else str(error)
        if type(error).__name__ == "NoArgsIsHelpError":
            out.print(message, markup=False)  # bare `langgraph-hitl`: the help, no error
        else:
            err.print(f"error: {message}", markup=False)
        code = getattr(error, "exit_code", 2)
    sys.exit(code if isinstance(code, int) else 0)
