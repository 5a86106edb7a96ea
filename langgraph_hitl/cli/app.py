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

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from langgraph_hitl._config import database_default
from langgraph_hitl.cli.output import check_text as _check_text
from langgraph_hitl.cli.output import err, failure, finish, out, print_error
from langgraph_hitl.cli.record import desk_at
from langgraph_hitl.errors import HitlError
from langgraph_hitl.ledger.store.postgres import database

if TYPE_CHECKING:
    from langgraph_hitl.ledger import ReviewLedger

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
PlainFlag = Annotated[
    bool,
    typer.Option(
        "--plain",
        help="One record per line, fields separated by tabs, nothing cut or folded (for"
        " scripts; control characters escaped as \\t, \\n, \\xNN).",
    ),
]


class _State:
    db: str | Path = Path("hitl.sqlite")
    graph: str | None = None


_state = _State()


def _handled(command: F) -> F:
    """Map every expected failure to one stderr line and its exit code, in one place
    (`output.failure`, which `quick` uses too)."""

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
    """The commands and command groups registered on `app` so far (by the command modules
    imported: `langgraph_hitl.cli.GROUPS`)."""
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


def main() -> None:
    """Run the typer app, with every command, on the command line: usage errors, too, are
    one line on stderr (exit 2). A closed output pipe (`... | head -1`) ends quietly with
    exit 0, whatever was printing. (`langgraph_hitl.cli.main` is the console script: it
    loads only the command's module, and runs `list` and `approve` / `reject --no-apply`
    without building this app.)
    """
    from langgraph_hitl.cli import GROUPS, load

    load(tuple(GROUPS))
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
