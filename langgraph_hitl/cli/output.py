"""What every command prints, and how a failure becomes one line: without typer.

The consoles are rich's, made on first use, so a command that prints JSON or tab-separated
lines never imports rich; `failure` is the one mapping from an exception to a stderr
line and an exit code (see `errors.py` for the codes), used by the typer app's commands
and by the command lines run without typer (`quick`); `finish` ends the process the
same way for both.
"""

from __future__ import annotations

import errno
import json
import math
import os
import select
import sqlite3
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from langgraph_hitl.errors import BadInputError, HitlError
from langgraph_hitl.ledger.store.postgres import first_line, from_server, redact

if TYPE_CHECKING:
    from rich.console import Console


def _console(*, stderr: bool) -> Console:
    """Rich's console, but a reader that went away (`| head -1`) is not a failure."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # Rich's own handler exits 1; `failure` and `finish` end quietly with exit 0.
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")

    return _Console(stderr=stderr, highlight=False, soft_wrap=True)


class _Lazy:
    """A console made on first use."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = _console(stderr=self._stderr)
        return getattr(self._console, name)


out: Console = _Lazy(stderr=False)  # type: ignore[assignment]
err: Console = _Lazy(stderr=True)  # type: ignore[assignment]


def say(line: str) -> None:
    """A line of our own words, ids and numbers, as it is: no agent text in it to escape,
    so no rich to import for it."""
    sys.stdout.write(line + "\n")


def print_lines(lines: Iterable[str]) -> None:
    """Lines exactly as given: no markup, no emoji codes, no wrapping (`--plain`)."""
    for line in lines:
        sys.stdout.write(line + "\n")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_jsonable, indent=2, ensure_ascii=False) + "\n")


def _jsonable(value: Any) -> Any:
    """A value JSON has no type for, as the desk writes state (`to_jsonable`): imported
    only when there is one, so printing the queue never loads the desk."""
    from langgraph_hitl.deciding.desk import to_jsonable

    return to_jsonable(value)


def print_error(message: str) -> None:
    """`error: ...` on stderr: one line, whatever the message carries (a path, a key, an
    error text with newlines)."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    err.print(f"error: {line}", markup=False)


def failure(error: BaseException) -> tuple[str | None, int]:
    """The stderr line and exit code for an expected failure (`None`: a reader that went
    away, stdout silenced, exit 0); a bug is re-raised under `LANGGRAPH_HITL_DEBUG`."""
    if isinstance(error, HitlError):
        return str(error), error.exit_code
    if isinstance(error, sqlite3.OperationalError) and (
        "locked" in str(error) or "busy" in str(error)
    ):
        return f"the database stayed locked by another process: {error}", 1
    if isinstance(error, sqlite3.DatabaseError):
        return f"database error: {error}", 2
    if isinstance(error, KeyboardInterrupt):
        return "interrupted", 130
    if from_server(error):
        return f"database error: {redact(first_line(error))}", 2
    if isinstance(error, BrokenPipeError) and stdout_gone():
        # Our reader left (`| head -1`): it has what it wanted, and commands print after
        # their work is done, so nothing is left half-done. A graph's own broken pipe is
        # exit 1.
        silence_stdout()
        return None, 0
    # A failure inside the user's graph, or a bug: one line, unless debugging.
    if os.environ.get("LANGGRAPH_HITL_DEBUG"):
        raise error
    return f"{type(error).__name__}: {error}".splitlines()[0], 1


def stdout_gone() -> bool:
    """True when stdout is a pipe (or socket) whose reader has closed its end."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's buffer)
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush has nowhere to fail."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def check_text(params: dict[str, Any]) -> None:
    """Refuse arguments SQLite, JSON or a checkpoint cannot carry, naming the option.

    Text must be UTF-8 (SQLite cannot store undecodable bytes); a number must be finite
    (click's float parsing takes `nan` and `inf`, and `nan` passes every range check)
    and an integer must fit in 64 bits (SQLite's LIMIT and a checkpoint hold no more).
    """
    for name, value in params.items():
        label = name.rstrip("_").replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and not is_unicode(item):
                raise BadInputError(f"{label}: not UTF-8 text (undecodable bytes)")
            # Numbers come from options only (every argument is text).
            if isinstance(item, float) and not math.isfinite(item):
                raise BadInputError(f"--{label}: {item} is not a finite number")
            if isinstance(item, int) and not isinstance(item, bool) and item not in INT64:
                raise BadInputError(f"--{label}: {item} is out of range")


INT64 = range(-(2**63), 2**63)


def is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: undecodable argv bytes, or a JSON escape
        return False
    return True


def ago(ts: float | None) -> str:
    if ts is None:
        return "-"
    seconds = datetime.now(UTC).timestamp() - ts
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def left(deadline: float | None, suffix: str = "") -> str:
    if deadline is None:
        return "-"
    now = datetime.now(UTC).timestamp()
    if deadline < now:
        return f"overdue {ago(deadline)}"
    return ago(now - (deadline - now)) + suffix


def finish(run: Callable[[], int]) -> None:
    """Run a command line and exit with its code; a closed output pipe (`... | head -1`)
    ends quietly with exit 0, whatever was printing."""
    try:
        code = run()
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe is noise
    except BrokenPipeError:
        silence_stdout()
        code = 0
    except SystemExit as done:
        # Typer ends with exit 1 when printing help meets a closed pipe: not a failure.
        if done.code != 1 or not stdout_gone():
            raise
        silence_stdout()
        code = 0
    sys.exit(code)
