"""The `langgraph-hitl` command line: the typer app and one module per command group.

`app` holds the typer app, its options and how every command reports errors; each
other module registers one group of commands when it is imported (`GROUPS` lists them,
in the order `--help` lists them):

- `decide`: run, approve, reject, modify, resume;
- `queue`: list, show, thread, history, review;
- `scale`: reviewers, batch review, sweep, cancel, respond;
- `learn`: train, export --overrides, calibrate;
- `metrics`; `watch`: notify, outbox, check; `worker`; `serve` (the browser inbox);
- `audit`: audit verify, audit export; `maintenance`: doctor, prune; `samples`.

`main` imports only the module of the command it runs (every one when it cannot tell
which, as for `--help`), so `show` does not pay for `metrics`, and runs `list` and
`approve` / `reject --no-apply` without typer at all (`quick`); `app`, read from this
package, has every command. Beside them, without typer: `output` holds what every
command prints and how a failure becomes one line; `listing` and `record` what `list`
and the deciding commands do, typer or not.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "app",
    "audit",
    "decide",
    "learn",
    "main",
    "maintenance",
    "metrics",
    "queue",
    "samples",
    "scale",
    "serve",
    "watch",
    "worker",
]

GROUPS: dict[str, tuple[str, ...]] = {
    "decide": ("run", "approve", "reject", "modify", "resume"),
    "queue": ("list", "show", "thread", "history", "review"),
    "scale": ("reviewers", "batch", "sweep", "cancel", "respond"),
    "learn": ("train", "export", "calibrate"),
    "metrics": ("metrics",),
    "watch": ("notify", "outbox", "check"),
    "worker": ("worker",),
    "serve": ("serve",),
    "audit": ("audit",),
    "maintenance": ("doctor", "prune"),
    "samples": ("samples",),
}
"""The command modules, in the order their commands are listed, and the commands (or
command groups) each registers."""

_ROOT_VALUES = ("--db", "--graph")
"""The root options that take a value (`--db PATH`, `--graph REF`)."""


def command_of(args: Sequence[str]) -> str | None:
    """The command `args` run (`list` in `--db x list --json`), or None when they name
    none or begin with an option this cannot read past (`--help`, `--version`).

    Example:
        >>> command_of(["--db", "hitl.sqlite", "batch", "approve", "high"])
        'batch'
        >>> command_of(["--help"]) is None
        True
    """
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _ROOT_VALUES:
            skip = True
        elif arg.startswith(tuple(f"{name}=" for name in _ROOT_VALUES)):
            continue
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return None


def modules_for(command: str | None) -> tuple[str, ...]:
    """The command modules to load to run `command`: its own, or every one for `--help`
    or a command that is not there (click then lists them all).

    Example:
        >>> modules_for("list")
        ('queue',)
        >>> modules_for(None) == tuple(GROUPS)
        True
    """
    for module, commands in GROUPS.items():
        if command in commands:
            return (module,)
    return tuple(GROUPS)


def load(modules: Sequence[str]) -> Any:
    """The `app` module, with the commands of `modules` registered (in `GROUPS` order,
    whatever the order asked for, so `--help` lists them as always)."""
    core = importlib.import_module("langgraph_hitl.cli.app")
    for module in GROUPS:
        if module in modules:
            importlib.import_module(f"{__name__}.{module}")
    # Importing the submodule bound `app` here to the module: `app` read from this package
    # is the typer app with every command, made by `__getattr__` below.
    if globals().get("app") is core:
        del globals()["app"]
    return core


def __getattr__(name: str) -> Any:
    if name == "app":
        core = load(tuple(GROUPS))
        globals()["app"] = core.app
        return core.app
    if name in GROUPS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: usage errors, too, are one line on stderr (exit 2).

    A closed output pipe (`... | head -1`) ends quietly with exit 0, whatever was printing.
    `list` and `approve` / `reject --no-apply` run without building the typer app when their
    arguments are ones `quick` reads; everything else runs in the typer app, with the
    module of its command loaded.
    """
    from langgraph_hitl.cli import quick
    from langgraph_hitl.cli.output import finish

    args = sys.argv[1:]

    def run() -> int:
        code = quick.run(args)
        if code is None:
            code = load(modules_for(command_of(args)))._run()
        return int(code)

    finish(run)
