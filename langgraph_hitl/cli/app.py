"""The `langgraph-hitl` command line: run graphs, review and decide from any process.

Exit codes (also in `--help`): 0 done; 1 anything else (a batch whose ledger failed
midway, too); 2 bad input (unparsable JSON, NaN or Infinity, a file too big, a number
out of range, unknown id, a decision the gate does not allow, an edit that fails the
schema, missing or unreadable database); 3 conflict (already decided, no longer
pending, stale); 4 not authorized (the reviewer's role may not decide it, or they own
the work). Every failure is one line on stderr; nothing pending changes. A closed
output pipe (`| head -1`) is not a failure: exit 0.
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from langgraph_hitl._config import database_default
from langgraph_hitl.cli.output import ago as _ago
from langgraph_hitl.cli.output import check_text as _check_text
from langgraph_hitl.cli.output import err, failure, finish, out, print_error
from langgraph_hitl.cli.output import left as _left
from langgraph_hitl.cli.output import print_json as _print_json
from langgraph_hitl.cli.queue import PLAIN_REQUEST, PLAIN_REVIEW, show_queue
from langgraph_hitl.cli.record import decide, desk_at
from langgraph_hitl.cli.record import print_thread as _print_thread
from langgraph_hitl.errors import BadInputError, HitlError
from langgraph_hitl.ledger.store.postgres import database

if TYPE_CHECKING:
    from langgraph_hitl._tables import Column
    from langgraph_hitl.ledger import RequestRecord, ReviewLedger

EXIT_CODES = """\
Exit codes: 0 done; 1 anything else (a batch whose ledger failed midway, too); 2 bad
input (unparsable JSON, NaN or Infinity, an @file over 32 MiB, a number or duration
out of range, unknown id, a decision the gate does not allow, an edit that fails the
schema, missing or unreadable database); 3 conflict (already decided, no longer
pending, stale); 4 not authorized (the reviewer's role may not decide it, or they own
the work). A closed output pipe is not a failure: exit 0.
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


F = TypeVar("F", bound=Callable[..., Any])

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="PATH|URL",
        help="SQLite file with checkpoints and ledger, or a postgresql:// URL of the"
        " database holding them [env LANGGRAPH_HITL_DB; hitl.toml [database] url;"
        " default ./hitl.sqlite]",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
ReviewerOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME", help="Who decides [env LANGGRAPH_HITL_REVIEWER; default the OS user]."
    ),
]
CommentOption = Annotated[
    str | None, typer.Option(metavar="TEXT", help="A note kept in the audit trail.")
]
IdArgument = Annotated[
    str,
    typer.Argument(
        metavar="ID", help="A request id, or a thread id with exactly one pending request."
    ),
]


class _State:
    db: str | Path = Path("hitl.sqlite")
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
        except (Exception, KeyboardInterrupt) as error:
            line, code = failure(error)
            if line is None:
                raise typer.Exit(code) from None  # our reader left: stdout is silenced
            _fail(line, code)

    return wrapper  # type: ignore[return-value]


def _fail(message: str, code: int) -> None:
    print_error(message)
    raise typer.Exit(code)


def _desk() -> Any:
    return desk_at(_state.db, _state.graph)


@contextmanager
def _ledger() -> Iterator[ReviewLedger]:
    """The ledger alone, for a command that only reads it: no desk, no graph."""
    from langgraph_hitl.ledger import ReviewLedger

    with ReviewLedger.open(_state.db) as ledger:
        yield ledger


def command_names() -> set[str]:
    """The commands and command groups registered on `app` so far (this module's, and
    those of the command modules imported since)."""
    from typer.main import get_command_name

    names = {
        info.name or get_command_name(info.callback.__name__)
        for info in app.registered_commands
        if info.callback is not None
    }
    return names | {info.name for info in app.registered_groups if info.name}


def _parse_json(text: str, what: str) -> Any:
    """Strict JSON from text, or from a file when text is `@path` (bounded in size)."""
    from langgraph_hitl._input import parse_json

    return parse_json(text, what)


def _short(value: Any, width: int = 48) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("langgraph-hitl")
    except PackageNotFoundError:  # run from a checkout that was never installed
        number = "unknown (not installed)"
    out.print(f"langgraph-hitl {number}", markup=False)
    raise typer.Exit(0)


@app.callback()
def _main(
    db: DbOption = None,
    graph: Annotated[
        str | None,
        typer.Option(
            metavar="REF",
            help="Graph to load when applying decisions, instead of the one the thread "
            "recorded (name, file.py:attr, module:attr), resolved from the current "
            "directory: for a graph file that moved.",
        ),
    ] = None,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_version
        ),
    ] = False,
) -> None:
    try:
        _state.db = database(db or database_default())
    except HitlError as error:
        _fail(str(error), error.exit_code)
    _state.graph = graph


# -- running -------------------------------------------------------------------------


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


# -- reading -------------------------------------------------------------------------


PlainFlag = Annotated[
    bool,
    typer.Option(
        "--plain",
        help="One record per line, fields separated by tabs, nothing cut or folded (for"
        " scripts; control characters escaped as \\t, \\n, \\xNN).",
    ),
]


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


# -- deciding ------------------------------------------------------------------------


NoApplyFlag = Annotated[
    bool,
    typer.Option(
        "--no-apply",
        help="Record the decision only; a `langgraph-hitl worker` where the graph lives"
        ' applies it (the default when hitl.toml says [deciding] apply = "worker").',
    ),
]
WaitOption = Annotated[
    float | None,
    typer.Option(
        "--wait",
        metavar="SECONDS",
        min=0,
        max=86_400,
        help="Record only, then wait up to SECONDS for a worker to apply it and say how it"
        " went (exit 1 if applying failed or no worker did in time). A tool call of an"
        " agent's batched pause is applied with the pause's other calls: while some are"
        " undecided, it says which and returns at once.",
        show_default=False,
    ),
]


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
        typer.Option(
            metavar="HASH",
            help="The head hash (64 hex digits) kept from an earlier verify: catches"
            " cut-off events.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check every event's hash link; exit 1 and name the first broken one."""
    from langgraph_hitl.ledger.audit import verify

    if expect_head is not None:
        expect_head = expect_head.strip().lower()  # `verify` refuses what is not a hash
    with _ledger() as ledger:
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
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write JSONL here (default stdout)."),
    ] = None,
) -> None:
    """Write every event, with its hashes, as JSON lines for an auditor."""
    from langgraph_hitl.ledger.audit import export

    with _ledger() as ledger:
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
        str,
        typer.Option(metavar="DURATION", help="Age of the last checkpoint, e.g. 30d, 12h, 90m."),
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


def main() -> None:
    """Run the typer app on the command line: usage errors, too, are one line on stderr
    (exit 2). A closed output pipe (`... | head -1`) ends quietly with exit 0, whatever
    was printing. (`langgraph_hitl.cli.main` is the console script: it runs `list`
    without building this app.)
    """
    finish(_run)


def _run() -> int:
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
            # `langgraph-hitl` or `langgraph-hitl reviewers` alone: the help, no error.
            out.print(message, markup=False)
            return 0
        err.print(f"error: {message}", markup=False)
        code = getattr(error, "exit_code", 2)
    return code if isinstance(code, int) else 0
