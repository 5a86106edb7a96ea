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

import errno
import functools
import json
import math
import os
import select
import sqlite3
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from langgraph_hitl._config import database_default
from langgraph_hitl.errors import BadInputError, HitlError
from langgraph_hitl.ledger.store.postgres import database, first_line, from_server, redact

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


class _Console(Console):
    """Rich's console, but a reader that went away (`| head -1`) is not a failure."""

    def on_broken_pipe(self) -> None:
        # Rich's own handler exits 1; `_handled` and `main` end quietly with exit 0.
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")


out = _Console(highlight=False, soft_wrap=True)
err = _Console(stderr=True, highlight=False, soft_wrap=True)

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
            if from_server(error):
                _fail(f"database error: {redact(first_line(error))}", 2)
            if isinstance(error, BrokenPipeError) and _stdout_gone():
                _reader_gone()  # our reader left; a graph's own broken pipe is exit 1
            # A failure inside the user's graph, or a bug: one line, unless debugging.
            if os.environ.get("LANGGRAPH_HITL_DEBUG"):
                raise
            _fail(f"{type(error).__name__}: {error}".splitlines()[0], 1)

    return wrapper  # type: ignore[return-value]


def _stdout_gone() -> bool:
    """True when stdout is a pipe (or socket) whose reader has closed its end."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's buffer)
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _reader_gone() -> None:
    """End quietly, exit 0: whoever read the output (`| head -1`) has what they wanted.

    Commands print after their work is done, so nothing is left half-done.
    """
    _silence_stdout()
    raise typer.Exit(0)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush has nowhere to fail."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _check_text(params: dict[str, Any]) -> None:
    """Refuse arguments SQLite, JSON or a checkpoint cannot carry, naming the option.

    Text must be UTF-8 (SQLite cannot store undecodable bytes); a number must be finite
    (click's float parsing takes `nan` and `inf`, and `nan` passes every range check)
    and an integer must fit in 64 bits (SQLite's LIMIT and a checkpoint hold no more).
    """
    for name, value in params.items():
        label = name.rstrip("_").replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and not _is_unicode(item):
                raise BadInputError(f"{label}: not UTF-8 text (undecodable bytes)")
            # Numbers come from options only (every argument is text).
            if isinstance(item, float) and not math.isfinite(item):
                raise BadInputError(f"--{label}: {item} is not a finite number")
            if isinstance(item, int) and not isinstance(item, bool) and item not in _INT64:
                raise BadInputError(f"--{label}: {item} is out of range")


_INT64 = range(-(2**63), 2**63)


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
    from langgraph_hitl.deciding.desk import ReviewDesk

    return ReviewDesk(_state.db, graph=_state.graph)


def _print_lines(lines: Iterable[str]) -> None:
    """Lines exactly as given: no markup, no emoji codes, no wrapping (`--plain`)."""
    for line in lines:
        sys.stdout.write(line + "\n")


def _print_json(value: Any) -> None:
    from langgraph_hitl.deciding.desk import to_jsonable

    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")


def _parse_json(text: str, what: str) -> Any:
    """Strict JSON from text, or from a file when text is `@path` (bounded in size)."""
    from langgraph_hitl._input import parse_json

    return parse_json(text, what)


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
    if status.why:
        out.print(f"  why: {status.why}", markup=False)
    if status.pending:
        out.print(f"  see it:    langgraph-hitl show {status.pending[0]}", markup=False)
        out.print(f"  decide it: langgraph-hitl approve {status.pending[0]}", markup=False)


def main() -> None:
    """Console-script entry point: usage errors, too, are one line on stderr (exit 2).

    A closed output pipe (`... | head -1`) ends quietly with exit 0, whatever was printing.
    """
    try:
        code = _run()
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe is noise
    except BrokenPipeError:
        _silence_stdout()
        code = 0
    except SystemExit as done:
        # Typer ends with exit 1 when printing help meets a closed pipe: not a failure.
        if done.code != 1 or not _stdout_gone():
            raise
        _silence_stdout()
        code = 0
    sys.exit(code)


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
