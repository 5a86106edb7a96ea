"""The commands a reviewer runs most, run without building the typer app.

`list`, and `approve` / `reject` with `--no-apply`, run in a fresh process each time, and
building the typer app costs more than most of what they do (typer builds a pydantic
adapter for every option). `run` reads such a command line itself when it holds only
what it knows (the root `--db` and `--graph`, the command's own options, each once or
as click reads them, a later value winning) and runs the same code as the typer app's
command (`listing.show_queue`, `record.decide`), after the same checks in the same order.
Anything else (`--help`, a mistake, an option it does not know, a value it would have
to interpret) is left to the typer app, which says what is wrong as for any command.

Example:
    >>> line = read(["--db", "hitl.sqlite", "list", "--tier=high", "--json"])
    >>> line.command, line.db, line.options
    ('list', 'hitl.sqlite', {'tier': 'high', 'as_json': True})
    >>> read(["list", "--limit", "-1"]) is None  # the typer app says what is wrong
    True
    >>> read(["approve", "req_3f2a9c1b7d40"]) is None  # applies here: LangGraph is loaded
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_hitl.cli.output import check_text, failure, is_unicode, print_error

ROOT = {"--db": "db", "--graph": "graph"}

OPTIONS: dict[str, dict[str, str]] = {
    "list": {"--gate": "gate", "--tier": "tier", "--reviewer": "reviewer", "--limit": "limit"},
    "approve": {"--reviewer": "reviewer", "--comment": "comment"},
    "reject": {"--reason": "reason", "--reviewer": "reviewer", "--comment": "comment"},
}
"""Each command's options that take a value, by the keyword its code takes."""

FLAGS: dict[str, dict[str, str]] = {
    "list": {"--review": "review", "--plain": "plain", "--json": "as_json"},
    "approve": {"--needed": "needed", "--no-apply": "no_apply", "--json": "as_json"},
    "reject": {"--no-apply": "no_apply", "--json": "as_json"},
}


@dataclass(frozen=True)
class Line:
    """A command line `run` can run."""

    command: str
    db: str | None = None
    graph: str | None = None
    ident: str | None = None
    """The request (or thread) id `approve` and `reject` decide."""
    options: dict[str, Any] = field(default_factory=dict)


def read(args: Sequence[str]) -> Line | None:
    """The command line `args` as `run` runs it, or None to leave it to the typer app."""
    root: dict[str, str] = {}
    rest = list(args)
    while rest and rest[0] not in OPTIONS:
        name, value, rest = _option(rest, ROOT)
        if name is None:
            return None
        root[name] = value
    if not rest:
        return None
    command, rest = rest[0], rest[1:]
    options: dict[str, Any] = {}
    ident: str | None = None
    while rest:
        if rest[0] in FLAGS[command]:
            options[FLAGS[command][rest.pop(0)]] = True
            continue
        if not rest[0].startswith("-") and command != "list" and ident is None:
            ident = rest.pop(0)
            if not is_unicode(ident):
                return None
            continue
        name, value, rest = _option(rest, OPTIONS[command])
        if name is None:
            return None
        options[name] = value
    if "limit" in options:
        # Digits only: anything else (a sign, a blank, 64 bits or more) is the typer
        # app's to refuse, in its words.
        limit = options["limit"]
        if not (limit.isascii() and limit.isdigit() and len(limit) < 19):
            return None
        options["limit"] = int(limit)
    if command != "list" and (ident is None or not options.get("no_apply")):
        return None  # applying loads LangGraph anyway: the typer app's
    if command == "reject" and "reason" not in options:
        return None
    return Line(command, root.get("db"), root.get("graph"), ident, options)


def _option(args: list[str], names: dict[str, str]) -> tuple[str | None, str, list[str]]:
    """The keyword and value of the option at the head of `args` (`--name value` or
    `--name=value`) if it is one of `names` with a value read as is; the arguments after."""
    name, eq, value = args[0].partition("=")
    if name not in names:
        return None, "", args
    if eq:
        rest = args[1:]
    elif len(args) > 1:
        value, rest = args[1], args[2:]
    else:
        return None, "", args
    # A value that looks like an option, or is not text SQLite can hold: the typer app's.
    if value.startswith("-") or not is_unicode(value):
        return None, "", args
    return names[name], value, rest


def run(args: Sequence[str]) -> int | None:
    """Run `args` when `read` reads them; the exit code. None, having done nothing, for
    anything else: the typer app runs it."""
    line = read(args)
    if line is None:
        return None
    try:
        return _run(line)
    except (Exception, KeyboardInterrupt) as error:
        message, code = failure(error)
        if message is not None:
            print_error(message)
        return code


def _run(line: Line) -> int:
    from langgraph_hitl._config import database_default
    from langgraph_hitl.ledger.store.postgres import database

    # As the typer app: the database first (its root callback), then the arguments' text.
    db = database(line.db or database_default())
    options = dict(line.options)
    if line.command == "list":
        check_text(options)
        from langgraph_hitl.cli.listing import show_queue

        show_queue(db, **options)
        return 0
    from langgraph_hitl.cli.record import decide, desk_at, rejection

    reviewer, comment = options.pop("reviewer", None), options.pop("comment", None)
    as_json = options.pop("as_json", False)
    check_text({"ident": line.ident, "reviewer": reviewer, "comment": comment, **options})
    if line.command == "reject":
        decision = rejection(options.pop("reason"), reviewer, comment)
    else:
        decision = {"type": line.command, "reviewer": reviewer, "comment": comment}
    assert line.ident is not None
    return decide(
        desk_at(db, line.graph),
        line.ident,
        decision,
        as_json,
        options.pop("needed", False),
        no_apply=True,
    )
