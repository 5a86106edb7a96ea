"""CLI commands for review at scale: reviewers, batch review, sweep, cancel, respond.

Importing this module registers the commands on `langgraph_hitl.cli.app`.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer

from langgraph_hitl._tables import Column, fitted_table, plain_line
from langgraph_hitl.cli.app import (
    CommentOption,
    IdArgument,
    JsonFlag,
    NoApplyFlag,
    PlainFlag,
    ReviewerOption,
    WaitOption,
    _desk,
    _handled,
    _short,
    app,
)
from langgraph_hitl.cli.decide import _decide
from langgraph_hitl.cli.output import out
from langgraph_hitl.cli.output import print_json as _print_json
from langgraph_hitl.cli.output import print_lines as _print_lines
from langgraph_hitl.cli.record import reason_given, rejection
from langgraph_hitl.errors import BadInputError
from langgraph_hitl.ledger.store.postgres import is_postgres

reviewers_app = typer.Typer(
    help="Who may decide what: reviewers and their roles, kept in the ledger.",
    no_args_is_help=True,
)
app.add_typer(reviewers_app, name="reviewers")

ActorOption = Annotated[
    str | None,
    typer.Option(
        "--reviewer",
        metavar="NAME",
        help="Who makes the change, for the trail [env LANGGRAPH_HITL_REVIEWER].",
        envvar="LANGGRAPH_HITL_REVIEWER",
    ),
]


@reviewers_app.command(
    "add",
    epilog="The role must be one the deployment knows: a role of the review policy in"
    " hitl.toml ([policy] roles and tier roles; --config, $LANGGRAPH_HITL_CONFIG or"
    " ./hitl.toml) or one the ledger's requests name (each gate with a policy records its"
    " whole role chain). While neither names any role yet (a new deployment registering"
    " reviewers before its first run), any role is taken, and the output says so.",
)
@_handled
def reviewers_add(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The reviewer's name, as --reviewer gives it.")
    ],
    role: Annotated[
        str, typer.Option(metavar="ROLE", help="Their role, e.g. junior, senior, manager.")
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="TOML file whose [policy] names the roles [env LANGGRAPH_HITL_CONFIG;"
            " default ./hitl.toml if there is one].",
            show_default=False,
        ),
    ] = None,
    actor: ActorOption = None,
    password: Annotated[
        bool,
        typer.Option(
            "--password",
            help="Set (or reset) their password for signing in to the browser inbox"
            " (`langgraph-hitl serve`): asked twice, hidden, on a terminal; read from the"
            " first line of standard input otherwise. Stored as an argon2id hash only."
            " Needs the web extra.",
        ),
    ] = False,
) -> None:
    """Register a reviewer with a role, or change their role (said, and logged)."""
    known = _known_roles(config)
    if known and role not in known:
        raise BadInputError(
            f"unknown role {role!r}: the roles this deployment knows are {', '.join(known)}"
            " (from its review policy and the requests in the ledger)"
        )
    # Hashed before anything is written: a refused password leaves the reviewer as it was.
    hashed = _read_password_hash() if password else None
    with _desk().ledger(create=True) as ledger:
        before = ledger.add_reviewer(name, role, actor=actor)
        if hashed is not None:
            ledger.set_password_hash(name, hashed, actor=actor)
    if before is not None and before != role:
        out.print(f"{name}: {before} -> {role} (role changed)", markup=False)
    elif before is not None:
        out.print(f"{name}: {role} (unchanged)", markup=False)
    elif not known:
        out.print(
            f"{name}: {role} (no policy or request names any role yet, so {role!r} could not"
            " be checked)",
            markup=False,
        )
    else:
        out.print(f"{name}: {role}", markup=False)
    if hashed is not None:
        out.print(f"{name}: password set", markup=False)


def _read_password_hash() -> str:
    """The argon2id hash of a password asked twice on a terminal, or piped in."""
    import sys

    try:
        from langgraph_hitl.web.auth import hash_password
    except ImportError:
        raise BadInputError(
            "--password needs the web extra: pip install 'langgraph-hitl[web]'"
        ) from None
    if sys.stdin.isatty():
        given = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        given = sys.stdin.readline().rstrip("\r\n")
    if not given:
        raise BadInputError("no password given (type it twice, or pipe it on standard input)")
    return hash_password(str(given))


def _known_roles(config: Path | None) -> list[str]:
    """Roles the deployment knows: its policy's chain first, then the ledger's requests'."""
    from langgraph_hitl._config import load_config
    from langgraph_hitl.capture.policy import ReviewPolicy
    from langgraph_hitl.errors import ConfigurationError

    roles: list[str] = []
    path, data = load_config(config)
    if path is not None and data.keys() & {"policy", "roles", "tiers"}:
        try:
            policy = ReviewPolicy.from_toml(path)
        except ConfigurationError as error:
            raise BadInputError(str(error)) from None
        tiers = [tier.role for tier in policy.tiers.values() if tier.role]
        roles = list(dict.fromkeys([*policy.roles, *tiers]))
    desk = _desk()
    if is_postgres(desk.path) or Path(desk.path).is_file():
        with desk.ledger() as ledger:
            roles += ledger.request_roles()
    return list(dict.fromkeys(roles))


@reviewers_app.command("remove")
@_handled
def reviewers_remove(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The reviewer to remove.")],
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
    cells = [[row["name"], row["role"], row["added_at"]] for row in rows]
    columns = (Column("name", ident=True), Column("role", floor=10), Column("added", floor=19))
    out.print(fitted_table(columns, cells, width=out.width))


# -- batch review ------------------------------------------------------------------

batch_app = typer.Typer(
    help="Review many requests at once: pending requests grouped by gate and action.\n\n"
    "Without a subcommand, shows each group as one table of the fields that differ.\n"
    "`batch approve GROUP` / `batch reject GROUP` decide a group, or the part of it that\n"
    "passes --where (on args, tier, confidence, thread) and --limit: each request is\n"
    "still recorded and applied on its own, exactly once, with a result per request.\n"
    "--dry-run runs the same checks (role, owner, quorum) and says who would be refused\n"
    "and why, writing nothing. Exit 0 when every request was decided; 1 when the ledger\n"
    "failed midway (the decisions before it stand; every result is printed); else the\n"
    "exit code of the first that was not decided. A dry run exits as the real run would.",
    invoke_without_command=True,
)
app.add_typer(batch_app, name="batch")

GroupArgument = Annotated[
    str,
    typer.Argument(
        metavar="GROUP",
        help="The group: gate/action as `batch` shows it, its number, or its gate.",
    ),
]
WhereOption = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        metavar="FIELD<OP>VALUE",
        help="FIELD OP VALUE, OP one of = != < <= > >= ~ (contains); repeat to AND.",
    ),
]
LimitOption = Annotated[
    int, typer.Option(metavar="N", min=0, help="Decide at most this many; 0 for all.")
]
DryRunFlag = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Say per request what would happen, and who would be refused and why (the"
        " same role, owner and quorum checks); write nothing.",
    ),
]


@batch_app.callback(
    epilog="--plain prints one pending request per line, fields separated by tabs: the"
    " group, the request id, the thread id, then FIELD=VALUE for each field that differs"
    " within the group (VALUE as compact JSON)."
)
@_handled
def batch_show(
    ctx: typer.Context,
    reviewer: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Only what this reviewer may decide; noted as shown."),
    ] = None,
    plain: PlainFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Show pending requests grouped by gate and action."""
    from langgraph_hitl.deciding.batch import groups

    if ctx.invoked_subcommand is not None:
        return
    if plain and as_json:
        raise BadInputError("give at most one of --plain and --json")
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
    if plain:
        _print_lines(
            plain_line(
                [
                    group.key,
                    rec.request_id,
                    rec.thread_id,
                    *(f"{k}={_compact(v)}" for k, v in group.row(rec).items()),
                ]
            )
            for group in found
            for rec in group.requests
        )
        return
    if not found:
        out.print("nothing pending")
    for number, group in enumerate(found, start=1):
        same = ", ".join(f"{k}={_cell(v, 24)}" for k, v in group.same.items())
        # The request id is what a reviewer copies: the fields that differ fold, then the
        # last of them are left out, before it is ever cut.
        columns = [Column("request", ident=True)] + [
            Column(name, floor=12, drop=i + 1) for i, name in enumerate(group.differing)
        ]
        cells = [
            [rec.request_id, *(_cell(value, name=k) for k, value in group.row(rec).items())]
            for rec in group.requests
        ]
        title = f"{number}. {group.key}: {len(group.requests)} pending"
        caption = f"all: {same}" if same else None
        out.print(fitted_table(columns, cells, width=out.width, title=title, caption=caption))


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _cell(value: Any, width: int = 32, *, name: str = "") -> str:
    if name == "thread" and isinstance(value, str):
        return value  # an id someone may type: folded if need be, never shortened
    return value if isinstance(value, str) and len(value) <= width else _short(value, width)


def _batch_decide(
    name: str,
    decision: dict[str, Any],
    where: list[str] | None,
    limit: int,
    dry_run: bool,
    as_json: bool,
    needed: bool = False,
    no_apply: bool = False,
) -> None:
    from langgraph_hitl._config import apply_default
    from langgraph_hitl.deciding.batch import Condition, decide_batch, find_group, groups, select
    from langgraph_hitl.deciding.batch import dry_run as check_batch
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
            result = check_batch(ledger, chosen, parsed, group=group.key)
    if not dry_run:
        here = not no_apply and apply_default() == "here"
        result = decide_batch(_desk(), chosen, parsed, group=group.key, needed=needed, apply=here)
    if as_json:
        _print_json({"dry_run": dry_run, **result.to_json()})
    else:
        for item in result.items:
            detail = f" ({item.detail})" if item.detail else ""
            out.print(f"{item.request_id}  {item.result}{detail}", markup=False)
        counts = ", ".join(f"{n} {what}" for what, n in sorted(result.counts().items()))
        line = f"{parsed.type} {group.key}: {counts or 'nothing selected'}"
        if dry_run:
            line = f"dry run, {line}; nothing was recorded"
        elif result.exit_code == 1 and result.counts().get("not tried"):
            line += "; the decisions above the failure stand, `batch` again tries the rest"
        out.print(line, markup=False)
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
    no_apply: NoApplyFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Approve a group (or the part passing --where), each request on its own."""
    decision = {"type": "approve", "reviewer": reviewer, "comment": comment}
    _batch_decide(group, decision, where, limit, dry_run, as_json, needed=needed, no_apply=no_apply)


@batch_app.command("reject")
@_handled
def batch_reject(
    group: GroupArgument,
    reason: Annotated[
        str, typer.Option(metavar="TEXT", help="Why: kept with every request rejected.")
    ],
    where: WhereOption = None,
    limit: LimitOption = 0,
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    dry_run: DryRunFlag = False,
    no_apply: NoApplyFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Reject a group (or the part passing --where), each request on its own."""
    decision = rejection(reason, reviewer, comment)
    _batch_decide(group, decision, where, limit, dry_run, as_json, no_apply=no_apply)


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
    ident: Annotated[
        str, typer.Argument(metavar="THREAD", help="A thread id, or a request id of the thread.")
    ],
    reason: Annotated[
        str, typer.Option(metavar="TEXT", help="Why the work is stopped; kept in the trail.")
    ],
    reviewer: ReviewerOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Stop a thread for good: its pending requests are cancelled, it never resumes."""
    cancelled = _desk().cancel(ident, reason_given(reason), reviewer=reviewer)
    if as_json:
        _print_json({"cancelled": cancelled})
        return
    out.print(f"cancelled {ident}: {len(cancelled)} request(s) closed", markup=False)


@app.command()
@_handled
def respond(
    ident: IdArgument,
    response: Annotated[
        str,
        typer.Option(
            metavar="JSON|TEXT",
            help="The outcome, in the agent's place (JSON if it parses, else plain text).",
        ),
    ],
    reviewer: ReviewerOption = None,
    comment: CommentOption = None,
    no_apply: NoApplyFlag = False,
    wait: WaitOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Answer in the agent's place: the graph continues from the human's outcome.

    The gate must allow `respond` (it was built with `on_respond=`).
    """
    from langgraph_hitl._input import parse_json_or_text

    value = parse_json_or_text(response, "--response")
    payload = {"type": "respond", "response": value, "reviewer": reviewer, "comment": comment}
    _decide(ident, payload, as_json, no_apply=no_apply, wait=wait)


# -- the browser inbox's sign-in: reset links and sessions -----------------------------

DEFAULT_URL = "http://127.0.0.1:8080"
RESET_VALID = "30m"

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The reviewer.")]


@reviewers_app.command(
    "reset",
    epilog="The code is in the link's fragment (after #): a browser never sends that part"
    " to the server, nor in a Referer, so it stays out of server and proxy logs; the"
    " inbox's page reads it with a small script, or the reviewer pastes it. The ledger"
    " keeps only its SHA-256; a new link replaces an unused one. Setting the password"
    " through it ends every session the reviewer has.",
)
@_handled
def reviewers_reset(
    name: NameArgument,
    url: Annotated[
        str,
        typer.Option(
            "--url",
            metavar="URL",
            help="The inbox's address as the reviewer reaches it.",
        ),
    ] = DEFAULT_URL,
    valid: Annotated[
        str,
        typer.Option(
            "--valid",
            metavar="DURATION",
            help="How long the link works (e.g. 30m, 2h; at most 24h).",
        ),
    ] = RESET_VALID,
    actor: ActorOption = None,
) -> None:
    """Print a one-time link that lets a reviewer set a new password in the inbox.

    Give it to them over a channel you trust; it works once, for a short time.
    """
    from langgraph_hitl._time import iso, parse_duration

    if not url.startswith(("http://", "https://")):
        raise BadInputError(f"bad --url {url!r}: give the inbox's address, e.g. {DEFAULT_URL}")
    seconds = parse_duration(valid)
    if not 0 < seconds <= 24 * 3600:
        raise BadInputError(f"bad --valid {valid!r}: a reset link works for up to 24h")
    token = secrets.token_urlsafe(32)
    with _desk().ledger() as ledger:
        expires = ledger.add_reset_token(name, token, seconds=seconds, actor=actor)
    out.print(f"{url.rstrip('/')}/reset#{token}", markup=False)
    out.print(f"for {name}; works once, until {iso(expires)}", markup=False)


@reviewers_app.command("sessions")
@_handled
def reviewers_sessions(name: NameArgument, as_json: JsonFlag = False) -> None:
    """List a reviewer's inbox sessions (active, ended, expired), newest first.

    The id is the start of the digest the ledger keeps: it tells sessions apart and
    signs nobody in.
    """
    with _desk().ledger() as ledger:
        rows = ledger.sessions(name)
        known = any(row["name"] == name for row in ledger.reviewers())
    if not known and not rows:
        raise BadInputError(f"no reviewer named {name!r}")
    if as_json:
        _print_json(rows)
        return
    cells = [
        [row["id"], row["method"], row["state"], row["created"], row["last_seen"], row["expires"]]
        for row in rows
    ]
    columns = (
        Column("id", ident=True),
        Column("method", floor=8),
        Column("state", floor=7),
        Column("created", floor=19),
        Column("last seen", floor=19),
        Column("expires", floor=19),
    )
    out.print(fitted_table(columns, cells, width=out.width))


@reviewers_app.command("signout")
@_handled
def reviewers_signout(name: NameArgument, actor: ActorOption = None) -> None:
    """End every inbox session of a reviewer, in every browser (logged)."""
    with _desk().ledger() as ledger:
        if not any(row["name"] == name for row in ledger.reviewers()):
            raise BadInputError(f"no reviewer named {name!r}")
        ended = ledger.end_sessions(name, actor=actor)
    out.print(f"{name}: {ended} session{'s' if ended != 1 else ''} ended", markup=False)
