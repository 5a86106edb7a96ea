"""What the CLI prints, as a reviewer or a script reads it, in real processes.

- Request ids (and every other id someone copies) are never cut: at 80 columns, when
  piped (rich then assumes 80), and narrower, the other columns fold and then drop
  out first, and the table says which it left out.
- `--plain` is one record per line, tab-separated, nothing cut, control characters
  escaped; `--json` of `list` says how many there are in all and whether it was cut.
- A closed output pipe (`... | head -1`) ends any command quietly with exit 0.
- `--version`, and `--help` placeholders that read as words.

The queue is made once per module and backend (a SQLite file, a PostgreSQL database), in
this process, by really running the invoice graph. What the ledger hands back (the agent's
hostile text, counts, order) is checked on both; how a table folds to the terminal's width
is the same whatever the rows came from, and is checked on SQLite (`ON_SQLITE`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer.main
from backends import BACKENDS, new_database
from postgres import copy_of
from processes import cli_env, query
from rich.cells import cell_len

from langgraph_hitl.cli import app
from langgraph_hitl.deciding.desk import ReviewDesk

REPO = Path(__file__).resolve().parent.parent
LONG_THREAD = "invoice-from-the-eu-subsidiary-2026-11-26-batch-0007"
HOSTILE_VENDOR = "Evil\tCorp\nLtd \x1b[31mRED\x1b[0m \u202eexe.pdf [bold]x[/bold] :money_bag:"
REQUEST_ID = re.compile(r"req_[0-9a-f]{12}")


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "examples" / "invoices" / f"{name}.json").read_text())
    return data


@dataclass(frozen=True)
class Queue:
    db: Path | str
    requests: dict[str, str]
    """Request id -> thread id, of everything pending."""
    review_ids: list[str]


@pytest.fixture(scope="module", params=BACKENDS)
def queue(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Queue:
    db = new_database(request, request.param, tmp_path_factory.mktemp("queue"))
    desk = ReviewDesk(db, base=REPO)
    hostile = {
        **example("large"),
        "invoice_id": "INV-6666",
        "vendor": HOSTILE_VENDOR,
        "amount": 66_000.0,
        "line_items": [{"description": "x", "quantity": 1, "unit_price": 66_000.0}],
    }
    runs = {
        "INV-1003": example("large"),
        LONG_THREAD: example("messy"),
        "INV-1006": example("huge"),
        "INV-6666": hostile,
        "INV-1002": example("blurry"),
    }
    requests: dict[str, str] = {}
    reviews: list[str] = []
    with desk.keep_graphs():
        for thread, invoice in runs.items():
            status = desk.run("invoice", invoice, thread_id=thread)
            requests.update({rid: thread for rid in status.pending})
            if status.values.get("review_id"):
                reviews.append(status.values["review_id"])
    assert len(requests) == 4 and len(reviews) == 1
    return Queue(db, requests, reviews)


ON_SQLITE = pytest.mark.parametrize("queue", ["sqlite"], indirect=True)
"""For what only the rendering decides: the queue on SQLite alone."""


def cli(
    db: Path | str, *args: str, columns: int | None = None, stdout: Any = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """One CLI process, stdout piped (or `stdout`), no terminal anywhere, so rich sees none."""
    env = {k: v for k, v in cli_env().items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.args, done.returncode, done.stdout, done.stderr)
    assert done.stderr == "", done.stderr
    return done.stdout


# -- ids are never cut -----------------------------------------------------------------------


TABLES = {
    "list": (["list"], "requests"),
    "batch": (["batch"], "requests"),
    "history": (["history", "INV-1006"], "some"),
}


@ON_SQLITE
@pytest.mark.parametrize("columns", [80, None, 60], ids=["COLUMNS=80", "piped", "COLUMNS=60"])
@pytest.mark.parametrize("table", sorted(TABLES))
def test_request_ids_are_never_cut(queue: Queue, table: str, columns: int | None) -> None:
    """Every request id shows whole on one line; other columns fold or drop out first."""
    args, which = TABLES[table]
    printed = ok(cli(queue.db, *args, columns=columns))
    width = columns or 80  # piped: rich assumes 80 columns
    lines = printed.splitlines()
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table and all(cell_len(line) <= width for line in table), printed
    whole = {found for line in lines for found in REQUEST_ID.findall(line)}
    # A cut id leaves its head behind: `req_5403ee5` on one line, `3ca61` on the next.
    heads = {found for line in lines for found in re.findall(r"req_[0-9a-f]*", line)}
    assert heads == whole, f"cut ids: {heads - whole}\n{printed}"
    if which == "requests":
        assert whole == set(queue.requests), printed
    else:
        assert whole, printed


def test_review_and_reviewer_ids_are_never_cut(queue: Queue) -> None:
    printed = ok(cli(queue.db, "list", "--review", columns=80))
    assert queue.review_ids[0] in printed.split(), printed
    reviewer = "a-reviewer-with-a-rather-long-name-for-a-table@example.com"
    ok(cli(queue.db, "reviewers", "add", reviewer, "--role", "manager"))
    try:
        listed = ok(cli(queue.db, "reviewers", "list", columns=60))
        assert reviewer in listed.split(), listed
    finally:
        ok(cli(queue.db, "reviewers", "remove", reviewer))


@ON_SQLITE
def test_a_narrow_table_says_what_it_left_out(queue: Queue) -> None:
    printed = ok(cli(queue.db, "list", columns=60))
    assert "too narrow to show:" in printed and "--plain or --json has them" in printed
    wide = ok(cli(queue.db, "list", columns=250))
    assert "too narrow" not in wide
    header = next(line for line in wide.splitlines() if "request" in line and "summary" in line)
    for column in ("thread", "gate", "tier", "who", "conf", "age", "left"):
        assert column in header, header


def test_agent_text_is_shown_as_text(queue: Queue) -> None:
    """Control characters are escaped and markup is not read, in tables and in --plain."""
    for printed in (ok(cli(queue.db, "list", columns=250)), ok(cli(queue.db, "list", "--plain"))):
        assert "\x1b" not in printed and "\u202e" not in printed
        assert "\\x1b[31mRED" in printed and "\\u202e" in printed
        assert "[bold]x[/bold]" in printed.replace("\n", "").replace("│", "").replace(" ", "")
        assert ":money_bag:" in printed.replace("\n", "").replace("│", "").replace(" ", "")
    shown = ok(cli(queue.db, "show", "INV-6666", columns=250))
    assert "[bold]x[/bold]" in shown and ":money_bag:" in shown  # the summary, as text
    assert "\x1b" not in shown and "\u202e" not in shown and "\\x1b[31mRED" in shown


# -- --plain and --json ----------------------------------------------------------------------


def test_list_plain_is_one_request_per_line(queue: Queue) -> None:
    rows = json.loads(ok(cli(queue.db, "list", "--json")))["requests"]
    lines = ok(cli(queue.db, "list", "--plain", columns=40)).splitlines()
    assert len(lines) == len(rows) == len(queue.requests)
    for line, row in zip(lines, rows, strict=True):
        fields = line.split("\t")
        assert len(fields) == 11, fields
        request_id, thread_id, gate, tier, role, approvals, quorum, conf, created = fields[:9]
        assert (request_id, thread_id, gate, tier, role) == (
            row["request_id"],
            row["thread_id"],
            row["gate"],
            row["tier"],
            row["required_role"],
        )
        assert (int(approvals), int(quorum)) == (len(row["approvals"]), row["quorum"])
        assert float(conf) == row["confidence"] and created == row["created_at"]
        assert fields[9] == (row["deadline"] or "")
        # The summary whole, with tab and newline escaped so the line stays one record.
        unescaped = fields[10].replace("\\t", "\t").replace("\\n", "\n")
        if "\\x1b" not in fields[10]:
            assert unescaped == row["summary"], (fields[10], row["summary"])
    assert LONG_THREAD in {line.split("\t")[1] for line in lines}


def test_batch_plain_and_review_plain(queue: Queue) -> None:
    lines = ok(cli(queue.db, "batch", "--plain")).splitlines()
    assert {line.split("\t")[1] for line in lines} == set(queue.requests)
    assert all(line.split("\t")[0] == "approve_payment/pay_invoice" for line in lines)
    assert all("=" in field for line in lines for field in line.split("\t")[3:])
    (review,) = ok(cli(queue.db, "list", "--review", "--plain")).splitlines()
    assert review.split("\t")[:3] == [queue.review_ids[0], "INV-1002", "pay_invoice"]
    both = cli(queue.db, "list", "--plain", "--json")
    assert both.returncode == 2 and both.stderr.startswith("error: ") and both.stdout == ""


def test_list_json_says_how_many_in_all_and_whether_it_was_cut(queue: Queue) -> None:
    cut = json.loads(ok(cli(queue.db, "list", "--limit", "2", "--json")))
    assert (cut["total"], cut["shown"], cut["truncated"], cut["limit"]) == (4, 2, True, 2)
    assert len(cut["requests"]) == 2
    whole = json.loads(ok(cli(queue.db, "list", "--limit", "0", "--json")))
    assert (whole["total"], whole["shown"], whole["truncated"], whole["limit"]) == (
        4,
        4,
        False,
        None,
    )
    assert "4 pending, showing 2" in ok(cli(queue.db, "list", "--limit", "2", columns=120))
    reviews = json.loads(ok(cli(queue.db, "list", "--review", "--json")))
    assert (reviews["total"], reviews["truncated"], len(reviews["reviews"])) == (1, False, 1)


# -- a closed pipe ---------------------------------------------------------------------------

PIPED = {
    "list --json": ["list", "--json"],
    "list": ["list"],
    "list --plain": ["list", "--plain"],
    "show --json": ["show", "INV-1003", "--json"],
    "history": ["history", "INV-1006"],
    "batch": ["batch"],
    "audit export": ["audit", "export"],
    "audit verify": ["audit", "verify"],
    "thread": ["thread", "INV-1003"],
    "metrics --prometheus": ["metrics", "--prometheus"],
}
"""Commands that read the database: on both backends (a PostgreSQL connection is open
as the pipe closes)."""
PIPED_WITHOUT_DATABASE = {
    "--help": ["--help"],
    "--version": ["--version"],
    "list --help": ["list", "--help"],
}


def closed_pipe(db: Path | str, args: list[str]) -> None:
    """Whatever prints meets a reader that has gone: exit 0, nothing on stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader left before the first byte: every write fails
    try:
        done = cli(db, *args, stdout=write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, ""), (args, done.returncode, done.stderr)


@pytest.mark.parametrize("args", PIPED.values(), ids=PIPED.keys())
def test_a_closed_pipe_ends_quietly_with_exit_0(queue: Queue, args: list[str]) -> None:
    closed_pipe(queue.db, args)


@ON_SQLITE
@pytest.mark.parametrize("args", PIPED_WITHOUT_DATABASE.values(), ids=PIPED_WITHOUT_DATABASE.keys())
def test_a_closed_pipe_ends_help_quietly_with_exit_0(queue: Queue, args: list[str]) -> None:
    closed_pipe(queue.db, args)


def test_head_1_of_a_big_output(tmp_path: Path) -> None:
    """`... | head -1` in a shell, with more output than a pipe holds: exit 0, quiet.
    (SQLite alone: the closed pipe tests above read from both backends.)"""
    db = tmp_path / "hitl.sqlite"
    big = {**example("large"), "po_number": "PO-" + "7" * 300_000}
    status = ReviewDesk(db, base=REPO).run("invoice", big, thread_id="big")
    (rid,) = status.pending
    reason = "duplicate " * 12_000  # 120 kB of reason in the reject event
    ok(cli(db, "reject", rid, "--reason", reason))
    env = {k: v for k, v in cli_env().items() if k != "COLUMNS"}
    hitl = f"{sys.executable} -m langgraph_hitl --db {db}"
    for command in (
        "export --overrides",
        "audit export",
        "history big --json",
        f"show {rid} --json",
    ):
        done = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {hitl} {command} | head -1 >/dev/null"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (done.returncode, done.stderr) == (0, ""), (command, done.returncode, done.stderr)


# -- what a command loads ----------------------------------------------------------------------


LOADED = (
    "import atexit, sys\n"
    "def loaded():\n"
    "    names = ['langgraph', 'typer', 'rich', 'langgraph_hitl.deciding.desk',"
    " 'langgraph_hitl.cli.metrics', 'langgraph_hitl.cli.scale']\n"
    "    print('LOADED', *[n for n in names if n in sys.modules], file=sys.stderr)\n"
    "atexit.register(loaded)\n"
    "from langgraph_hitl.cli import main\n"
    "sys.argv = ['langgraph-hitl', *sys.argv[1:]]\n"
    "main()\n"
)


@contextlib.contextmanager
def copy_of_queue(queue: Queue, folder: Path, name: str) -> Iterator[Path | str]:
    """A copy of the queue's database, for a test that decides: a file beside the others,
    or a PostgreSQL copy, dropped afterwards."""
    if isinstance(queue.db, str):
        with copy_of(queue.db) as url:
            yield url
        return
    db = folder / f"{name}.sqlite"
    shutil.copyfile(queue.db, db)
    yield db


def loaded(db: Path | str, *args: str) -> tuple[str, list[str]]:
    """A CLI run's output, and which of LangGraph, typer, rich, the desk and two command
    modules it had loaded when it exited."""
    done = subprocess.run(
        [sys.executable, "-c", LOADED, "--db", str(db), *args],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done
    *_, last = done.stderr.splitlines()
    assert last.startswith("LOADED"), done.stderr
    return done.stdout, last.split()[1:]


def test_a_command_loads_what_it_needs(queue: Queue, tmp_path: Path) -> None:
    """`list` loads neither LangGraph, typer, the desk nor the other commands' modules (nor
    rich for JSON), `approve --no-apply` neither LangGraph nor typer; `--help` still lists
    every command, and each command group works."""
    listing, modules = loaded(queue.db, "list", "--json")
    assert len(json.loads(listing)["requests"]) == len(queue.requests)
    assert modules == []
    table, modules = loaded(queue.db, "list")
    assert sorted(REQUEST_ID.findall(table)) == sorted(queue.requests)
    assert modules == ["rich"]
    helped, _ = loaded(queue.db, "--help")
    assert all(f"  {name} " in helped for name in ("list", "metrics", "batch", "worker"))
    batch, modules = loaded(queue.db, "batch", "--plain")
    assert "langgraph_hitl.cli.scale" in modules and "langgraph_hitl.cli.metrics" not in modules
    assert sorted(REQUEST_ID.findall(batch)) == sorted(queue.requests)
    rid = sorted(queue.requests)[0]
    with copy_of_queue(queue, tmp_path, "copy") as db:
        recorded, modules = loaded(db, "approve", rid, "--no-apply", "--reviewer", "ana")
    assert recorded.startswith(f"{rid}: approv") and " recorded" in recorded
    assert "langgraph" not in modules and "typer" not in modules


def test_every_command_is_in_groups() -> None:
    """`main` loads a command's module by `GROUPS`: every command of the app is listed there,
    under the module that registers it (one missing would load every module to run)."""
    from langgraph_hitl.cli import GROUPS

    owners: dict[str, set[str]] = {}
    for command in app.registered_commands:
        assert command.callback is not None
        name = command.name or typer.main.get_command_name(command.callback.__name__)
        owners[name] = {command.callback.__module__}
    for group in app.registered_groups:
        assert group.name is not None and group.typer_instance is not None
        callbacks = [sub.callback for sub in group.typer_instance.registered_commands]
        owners[group.name] = {f.__module__ for f in callbacks if f is not None}
    listed = {
        name: {f"langgraph_hitl.cli.{module}"} for module, names in GROUPS.items() for name in names
    }
    assert owners == listed


# The command lines `list` and `approve` / `reject --no-apply` run without typer: each
# gives what the typer app gives (output, error line, exit code, what it records).
SAME_AS_TYPER = [
    ["list"],
    ["list", "--json", "--limit", "2"],
    ["list", "--plain", "--tier=high"],
    ["list", "--review", "--json"],
    ["list", "--gate", "nowhere"],
    ["list", "--json", "--plain"],
    ["list", "--limit", "18446744073709551616"],
    ["--db", "missing.sqlite", "list"],
    ["approve", "{rid}", "--no-apply", "--reviewer", "ana", "--comment", "ok"],
    ["approve", "--no-apply", "{rid}", "--json", "--needed"],
    ["approve", "nope", "--no-apply"],
    ["approve", "{rid}", "--no-apply", "--reviewer", "ana", "--reviewer=mia"],
    ["reject", "{rid}", "--no-apply", "--reason", "sent twice"],
    ["reject", "{rid}", "--no-apply", "--reason", "  "],
]


@pytest.mark.parametrize("args", SAME_AS_TYPER, ids=" ".join)
def test_without_typer_as_with_it(queue: Queue, tmp_path: Path, args: list[str]) -> None:
    rid = sorted(queue.requests)[0]
    runs = []
    for entry in ("main", "app.main"):  # `cli.main` reads these itself; `app.main` is typer
        with copy_of_queue(queue, tmp_path, entry) as db:
            runs.append(run_entry(entry, db, [arg.format(rid=rid) for arg in args], tmp_path))
    assert runs[0] == runs[1]


def run_entry(entry: str, db: Path | str, argv: list[str], cwd: Path) -> tuple[Any, ...]:
    """Exit code, stdout, stderr and what the ledger holds after `argv` ran through
    `langgraph_hitl.cli.main` (`entry` "main") or the typer app's own (`"app.main"`)."""
    script = (
        "import sys\n"
        f"from langgraph_hitl.cli{'.app' if entry == 'app.main' else ''} import main\n"
        "sys.argv = ['langgraph-hitl', *sys.argv[1:]]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "--db", str(db), *argv],
        cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    decisions = query(db, "SELECT type, reviewer, comment FROM hitl_decisions")
    events = query(db, "SELECT kind, request_id, actor FROM hitl_events ORDER BY seq")
    return (done.returncode, done.stdout, done.stderr, decisions, events)


# -- --version and --help ----------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    assert ok(cli(tmp_path / "none.sqlite", "--version")) == (
        f"langgraph-hitl {version('langgraph-hitl')}\n"
    )


TYPE_PLACEHOLDER = re.compile(r"<(str|int|float|path|bool|list\[.*?\]|[a-z]+ range)>")


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _commands(sub, (*path, name))
    return found


@pytest.mark.parametrize("path", _commands(typer.main.get_command(app)), ids=" ".join)
def test_help_placeholders_read_as_words(path: tuple[str, ...]) -> None:
    """Every option's placeholder is a word (`--where FIELD<OP>VALUE`), not a type name."""
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    options = [line for line in result.output.splitlines() if line.lstrip().startswith("-")]
    assert options, result.output
    bad = [line for line in options if TYPE_PLACEHOLDER.search(line)]
    assert bad == [], "\n".join(bad)
