"""Bad input, generated: the "Bad input" promise of DESIGN.md, tested with hypothesis.

    Bad input (malformed JSON, an unknown id, an edit that fails the schema, a decision
    the gate does not allow, a missing or corrupt database) gets one clear line on
    stderr and a documented exit code; nothing pending is lost or changed.

Concretely, for every input generated here: exit 2 (bad input) or 3 (conflict), 1 only
where README's exit-code table says so; stderr is exactly one line starting `error: `
and never a traceback; and the database holds exactly what it held before (every table
for exit 2; every table but the append-only event log for exit 3, where the refusal is
logged). An input that turns out to be valid must do what it says.

One module-scoped fixture runs the invoice graph once to a paused request. Examples that
could consume that request (any decision that might be valid, any CLI call) run on a
fresh byte copy of the file, so no example ever changes the fixture; examples that must
fail run against the fixture itself and prove they changed nothing.

The properties that decide against the database (sections 1 and 2's decisions and
argument lists) run on SQLite and on PostgreSQL, where a copy is `CREATE DATABASE ...
TEMPLATE` and "nothing changed" compares every row of every table. The rest stays on
SQLite (`ON_SQLITE`), each section says why.

Everything is real: the invoice graph, LangGraph, SQLite files on disk, a PostgreSQL
server. The CLI runs in-process (`typer.testing.CliRunner` for commands, `main()` with
`sys.argv` set for whole argument lists and usage errors) and, for a handful of usage
errors, as a real process. Hypothesis runs derandomized with a modest number of examples
per property.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from backends import BACKENDS, backend_of, new_database
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st
from postgres import copy_of
from processes import query, table_rows
from pydantic import ValidationError
from typer.testing import CliRunner

from langgraph_hitl.cli import app, main
from langgraph_hitl.deciding.desk import ReviewDesk, default_reviewer
from langgraph_hitl.errors import ConflictError, HitlError
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.models import ApprovalRequest, Decision, validate_decision

REPO = Path(__file__).resolve().parent.parent
LARGE: dict[str, Any] = json.loads((REPO / "examples" / "invoices" / "large.json").read_text())
THREAD = "t1"
REVIEWER = "prop-tester"
INVOICE_ARGS: dict[str, Any] = {
    key: LARGE[key]
    for key in ("invoice_id", "vendor", "amount", "currency", "due_date", "line_items", "po_number")
}
"""The args of the paused request: the invoice as the graph's `extract` node keeps it."""

ENV: dict[str, str | None] = {
    "LANGGRAPH_HITL_DEBUG": None,  # tracebacks on purpose: never in these tests
    "LANGGRAPH_HITL_DB": None,
    "LANGGRAPH_HITL_REVIEWER": REVIEWER,
}

# Huge inputs are the point; Hypothesis warns when it prints one.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(PROPERTY, max_examples=30)

UNICODE = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
"""Text with no NUL (no argv carries one) and no lone surrogates."""


def argv_text(max_size: int) -> st.SearchStrategy[str]:
    """What an argv can carry, now and then with bytes that are not UTF-8 in it (which
    Python decodes to lone surrogates)."""
    plain = st.text(UNICODE, max_size=max_size)
    undecodable = st.builds(
        lambda head, byte, tail: head + byte + tail,
        st.text(UNICODE, max_size=max_size // 2),
        st.sampled_from(["\udc80", "\udcff"]),
        st.text(UNICODE, max_size=max_size // 2),
    )
    return st.one_of(plain, plain, undecodable)


# -- the paused request and copies of it -----------------------------------------------


class Paused:
    """The invoice graph paused at its gate, once per module and backend (a short repr:
    the image is big)."""

    def __init__(self, db: Path | str, request_id: str, request: ApprovalRequest) -> None:
        self.db = db
        self.request_id = request_id
        self.request = request
        self.image = db.read_bytes() if isinstance(db, Path) else None
        """SQLite's whole file, byte for byte, as the run left it (WAL checkpointed on close)."""
        self.state = db_state(db)

    def __repr__(self) -> str:
        return f"Paused({backend_of(self.db)}, {self.request_id})"


def db_state(path: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    return table_rows(path)


def pending_state(state: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """Everything but the append-only event log (where a refused conflict is noted)."""
    return {name: rows for name, rows in state.items() if name != "hitl_events"}


@pytest.fixture(scope="module", params=BACKENDS)
def paused(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Paused:
    db = new_database(request, request.param, tmp_path_factory.mktemp("paused"))
    status = ReviewDesk(db, base=REPO).run("invoice", LARGE, thread_id=THREAD)
    assert status.status == "paused" and len(status.pending) == 1
    with ReviewLedger.open(db) as ledger:
        rec = ledger.get(status.pending[0])
    assert rec.status == "pending"
    assert rec.request.action.args == INVOICE_ARGS
    assert rec.request.allowed_decisions == ["approve", "reject", "modify", "respond"]
    if isinstance(db, Path):
        assert not Path(f"{db}-wal").exists(), "a connection is still open: the copy would lag"
    return Paused(db, rec.request_id, rec.request)


ON_SQLITE = pytest.mark.parametrize("paused", ["sqlite"], indirect=True)
"""For a test of SQLite's files, or of what is refused before any database is opened."""


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scratch")


@contextlib.contextmanager
def scratch_file(scratch: Path, content: bytes | None = None) -> Iterator[Path]:
    """A fresh file (or only a fresh path, when `content` is None), removed afterwards."""
    path = scratch / f"{uuid.uuid4().hex}.sqlite"
    if content is not None:
        path.write_bytes(content)
    try:
        yield path
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def fresh_copy(paused: Paused, scratch: Path) -> contextlib.AbstractContextManager[Path | str]:
    if isinstance(paused.db, str):
        return copy_of(paused.db)  # nobody may be connected to it: a leak fails here
    return scratch_file(scratch, paused.image)


def assert_fixture_untouched(paused: Paused) -> None:
    assert db_state(paused.db) == paused.state
    if isinstance(paused.db, Path):
        assert paused.db.read_bytes() == paused.image


# -- running the CLI -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str
    argv: Sequence[str]

    def __str__(self) -> str:
        lines = [f"argv {list(self.argv)!r}", f"exit {self.code}"]
        return "\n".join([*lines, f"stdout {self.out!r}", f"stderr {self.err!r}"])


RUNNER = CliRunner(env=ENV)


def invoke(db: Path | str, *args: str) -> Ran:
    """A command through the typer app (no usage errors expected), from the repo root."""
    argv = ["--db", str(db), *args]
    with contextlib.chdir(REPO):
        result = RUNNER.invoke(app, argv)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}: a traceback\n{result.stderr}")
    return observed(Ran(result.exit_code, result.stdout, result.stderr, argv))


def observed(ran: Ran) -> Ran:
    """Note the outcome for `--hypothesis-show-statistics` (outside a property: nothing)."""
    with contextlib.suppress(Exception):
        event(f"exit {ran.code}")
    return ran


@contextlib.contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_main(argv: Sequence[str]) -> Ran:
    """`langgraph-hitl ARGV` through the console-script entry point, in this process."""
    out, err = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    sys.argv = ["langgraph-hitl", *argv]
    try:
        with (
            contextlib.chdir(REPO),
            environment(ENV),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                main()
            except SystemExit as done:
                code = done.code
            else:
                raise AssertionError("main() returned instead of exiting")
    finally:
        sys.argv = saved_argv
    assert isinstance(code, int), f"exit status {code!r} is not a code"
    return observed(Ran(code, out.getvalue(), err.getvalue(), list(argv)))


def in_a_process(argv: Sequence[str], *args: str | bytes) -> Ran:
    """`python -m langgraph_hitl ARGS` in its own process, from the repository root, with
    none of `ENV` set; reported as `argv`."""
    env = {k: v for k, v in os.environ.items() if k not in ENV}
    done = subprocess.run(
        [sys.executable, "-m", "langgraph_hitl", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr, argv)


def assert_one_error_line(ran: Ran, codes: Sequence[int] = (2, 3)) -> None:
    """The failure half of the promise: a documented code, one `error: ` line, no traceback.

    One line is one `\n`-terminated line, with no `\r` in it: what a terminal breaks on.
    """
    assert ran.code in codes, str(ran)
    assert "Traceback" not in ran.err + ran.out, str(ran)
    assert ran.err.startswith("error: "), str(ran)
    assert ran.err.endswith("\n") and ran.err.count("\n") == 1, f"not one line\n{ran}"
    assert "\r" not in ran.err, f"not one line\n{ran}"
    assert ran.err[len("error: ") :].strip(), f"says nothing\n{ran}"


def assert_refused_and_unchanged(ran: Ran, db: Path | str, before: dict[str, Any]) -> None:
    """A refusal that left the database as it was (the event log may note a conflict)."""
    assert_one_error_line(ran)
    after = db_state(db)
    if ran.code == 2:
        assert after == before, f"bad input changed the database\n{ran}"
    else:
        assert pending_state(after) == pending_state(before), f"a conflict changed state\n{ran}"


def assert_gate_took_it(db: Path | str) -> None:
    """The gate accepted the decision the desk accepted: it did not ask again over it.

    (The invoice graph may ask again, about an edited invoice that no longer adds up;
    only a gate that refuses its resume value asks with a `problem`.)
    """
    rows = query(db, "SELECT payload FROM hitl_requests WHERE status = 'pending'")
    problems = [json.loads(payload).get("problem") for (payload,) in rows]
    assert problems == [None] * len(problems), f"the gate refused an accepted decision: {problems}"


# -- strategies ------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(
        [
            math.inf,
            -math.inf,
            math.nan,
            10**400,
            -(10**400),
            2**63,
            -0.0,
            1e308,
            5e-324,
            "",
            " ",
            "\x00",
            "\n",
            "line one\nline two",
            "\u202e\u200b",
            "\U0001f4b8" * 3,
            "pay_invoice",
            "edit",
        ]
    )
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)


def nest(depth: int, leaf: Any, in_dicts: bool) -> Any:
    for _ in range(depth):
        leaf = {"k": leaf} if in_dicts else [leaf]
    return leaf


NUMBERS = (
    st.floats()
    | st.integers()
    | st.sampled_from([math.inf, -math.inf, math.nan, 10**308, 10**309, 10**400, 1e308, 0.5])
)
NUMERIC_FIELDS = ("amount", "quantity", "unit_price")
DEEP = st.builds(nest, st.integers(2, 900), SCALARS, st.booleans())
HUGE_TEXT = st.builds(
    lambda char, n: char * n, st.characters(codec="utf-8"), st.integers(10_000, 200_000)
)
VALUES = JSON_VALUES | DEEP | HUGE_TEXT

FIELDS = (
    "type",
    "args",
    "action_name",
    "reason",
    "response",
    "reviewer",
    "comment",
    "decided_at",
    "seen_digest",
    "edited_action",
    "message",
)
TYPES = ("approve", "reject", "modify", "edit", "respond")
DATES = st.sampled_from(
    [
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00-12:00",
        "9999-12-31T23:59:59",
        "yesterday",
        "",
        0,
        -1,
        1e20,
        10**30,
    ]
)

ARG_PATHS: tuple[tuple[str | int, ...], ...] = (
    ("amount",),
    ("currency",),
    ("due_date",),
    ("invoice_id",),
    ("vendor",),
    ("po_number",),
    ("line_items",),
    ("line_items", 0),
    ("line_items", 1),
    ("line_items", 0, "quantity"),
    ("line_items", 0, "unit_price"),
    ("line_items", 1, "description"),
)


@st.composite
def edited_args(draw: st.DrawFn) -> Any:
    """The request's args with one to three fields set, removed or added."""
    args = copy.deepcopy(INVOICE_ARGS)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ARG_PATHS))
        target: Any = args
        for step in path[:-1]:
            ok = (isinstance(target, dict) and step in target) or (
                isinstance(target, list) and isinstance(step, int) and step < len(target)
            )
            if not ok:
                break
            target = target[step]
        else:
            last = path[-1]
            op = draw(st.sampled_from(["set", "set", "delete", "extra"]))
            if isinstance(target, dict) and op == "extra":
                target[draw(st.text(min_size=1, max_size=12))] = draw(VALUES)
            elif isinstance(target, dict) and op == "delete":
                target.pop(last, None)
            elif isinstance(target, dict) or (
                isinstance(target, list) and isinstance(last, int) and last < len(target)
            ):
                target[last] = draw(NUMBERS if last in NUMERIC_FIELDS else VALUES | NUMBERS)
    if draw(st.integers(0, 9)) == 0:
        return draw(VALUES)  # not even an object
    return args


@st.composite
def mutated_decisions(draw: st.DrawFn) -> dict[str, Any]:
    """A valid decision in our shape or LangChain's, with one thing made wrong (or not)."""
    base = draw(
        st.sampled_from(
            [
                {"type": "approve"},
                {"type": "reject", "reason": "duplicate invoice"},
                {"type": "reject", "message": "duplicate invoice"},
                {"type": "modify", "args": INVOICE_ARGS},
                {"type": "modify", "args": INVOICE_ARGS, "action_name": "pay_invoice"},
                {"type": "edit", "edited_action": {"name": "pay_invoice", "args": INVOICE_ARGS}},
                {"type": "respond", "response": "paid by hand"},
            ]
        )
    )
    decision = copy.deepcopy(base)
    mutation = draw(
        st.sampled_from(["args", "type", "drop", "extra", "field", "edited_action", "none"])
    )
    if mutation == "args":
        edited = draw(edited_args())
        if "edited_action" in decision:
            decision["edited_action"]["args"] = edited
        else:
            decision["args"] = edited
            # Mostly as an edit; sometimes args on a decision that carries none.
            decision["type"] = draw(st.sampled_from(["modify", "modify", decision["type"]]))
    elif mutation == "type":
        decision["type"] = draw(st.sampled_from(TYPES) | VALUES)
    elif mutation == "drop":
        decision.pop(draw(st.sampled_from(sorted(decision))))
    elif mutation == "extra":
        decision[draw(st.text(max_size=12))] = draw(VALUES)
    elif mutation == "field":
        field = draw(st.sampled_from(FIELDS))
        decision[field] = draw(DATES if field == "decided_at" else VALUES)
    elif mutation == "edited_action":
        decision["type"] = "edit"
        decision["edited_action"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": st.sampled_from(["pay_invoice", "refund", ""]) | VALUES,
                    "args": edited_args(),
                    "description": VALUES,
                },
            )
            | VALUES
        )
    return decision


DECISION_PAYLOADS = (
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), VALUES, max_size=6)
    | st.fixed_dictionaries(
        {"type": st.sampled_from(TYPES) | VALUES},
        optional={field: DATES if field == "decided_at" else VALUES for field in FIELDS[1:]},
    )
    | mutated_decisions()
    | mutated_decisions()  # again and again: the nearly valid ones find the most
    | mutated_decisions()
    | mutated_decisions()
)


# -- 1. decision payloads through ReviewDesk.decide ------------------------------------


@settings(PROPERTY, max_examples=100)
@given(payload=DECISION_PAYLOADS)
@example(payload={"type": "modify", "args": {**INVOICE_ARGS, "amount": math.inf}})
@example(payload={"type": "modify", "args": {**INVOICE_ARGS, "amount": 10**400}})
@example(payload={"type": "edit", "edited_action": {"args": {**INVOICE_ARGS, "amount": math.nan}}})
@example(payload={"type": "approve", "response": nest(300, 1, False)})
@example(payload={"type": "modify", "args": {**INVOICE_ARGS, "amount": 10**20}})
@example(payload={"type": "reject", "reason": "\udcff"})
def test_decide_refuses_bad_decisions_and_changes_nothing(
    paused: Paused, scratch: Path, payload: dict[str, Any]
) -> None:
    """Any decision payload: refused with exit 2 and nothing written, or valid and recorded.

    The model refuses what is not a decision at all (the CLI turns that ValueError into
    exit 2); `validate_decision` predicts, from the request as the ledger holds it,
    whether the desk must refuse. A refused one runs against the fixture and must leave
    every table as it was; a valid one runs on a copy and must be recorded as given.
    """
    try:
        decision = Decision.model_validate(payload)
    except ValidationError:
        event("not a decision")
        return  # the CLI's `_decide` catches exactly this (a ValueError): exit 2
    desk = ReviewDesk(paused.db, base=REPO)
    try:
        expected = validate_decision(paused.request, decision)
    except HitlError as refusal:
        assert refusal.exit_code == 2
        event(f"refused: {type(refusal).__name__}")
        note(f"refused: {refusal}")
        for ident in (paused.request_id, THREAD):
            with pytest.raises(HitlError) as raised:
                desk.decide(ident, decision)
            assert raised.value.exit_code == 2, raised.value
            assert type(raised.value) is type(refusal)
        assert_fixture_untouched(paused)
        return

    # Valid for the request: decide it for real, on a copy.
    event(f"valid {decision.type}")
    with fresh_copy(paused, scratch) as db:
        before = db_state(db)
        try:
            outcome = ReviewDesk(db, base=REPO).decide(paused.request_id, decision)
        except ConflictError as conflict:
            # Bound to other args than the request shows: refused, and logged as refused.
            assert decision.seen_digest not in (None, paused.request.action.digest()), conflict
            assert pending_state(db_state(db)) == pending_state(before)
            return
        recorded = outcome.request.decision
        assert recorded is not None
        assert outcome.applied and outcome.request.status == "applied"
        assert recorded.type == expected.type
        assert recorded.args == expected.args, "recorded other args than were validated"
        assert recorded.reason == expected.reason
        assert recorded.comment == expected.comment
        assert recorded.response == expected.response
        assert recorded.reviewer == (expected.reviewer or default_reviewer())
        assert_gate_took_it(db)
    assert_fixture_untouched(paused)


# -- 2. the CLI: --set, --args, and whole argument lists ---------------------------------

SET_KEYS = st.sampled_from(
    [
        "amount",
        "currency",
        "po_number",
        "vendor",
        "due_date",
        "invoice_id",
        "line_items",
        "line_items.0",
        "line_items.0.quantity",
        "line_items.1.unit_price",
        "line_items.1.description",
        "line_items.2.quantity",
        "line_items.-1.quantity",
        "line_items.x",
        "amount.value",
        "vendor.name",
        "new_field",
        "",
        ".",
        "..",
        "a..b",
        "line_items.",
        "line\nitems.0",
        "amount\n",
    ]
) | argv_text(20)
SET_VALUES = (
    st.sampled_from(
        [
            "5",
            "-5",
            "0",
            "1e308",
            "1e999",
            "-1e999",
            "Infinity",
            "-Infinity",
            "NaN",
            "1" * 5000,
            "[" * 5000 + "]" * 5000,
            '{"a":' * 2000 + "1" + "}" * 2000,
            "null",
            "true",
            "{}",
            "[]",
            '"USD"',
            "usd",
            "",
            "=",
            "line one\nline two",
        ]
    )
    | argv_text(40)
    | JSON_VALUES.map(json.dumps)
)
NUMBER_TEXT = (
    st.sampled_from(["Infinity", "-Infinity", "NaN", "1e999", "1" * 309, "1" * 400, "1" * 5000])
    | NUMBERS.map(json.dumps)
    | st.integers().map(str)
)
SET_ITEMS = (
    st.builds(lambda key, value: f"{key}={value}", SET_KEYS, SET_VALUES)
    | st.builds(
        lambda key, value: f"{key}={value}",
        st.sampled_from(["amount", "line_items.0.quantity", "line_items.1.unit_price"]),
        NUMBER_TEXT,
    )
    | argv_text(20)
)
IDENTS = st.sampled_from(["t1", "request"]) | (
    st.sampled_from(["req_000000000000", "nope", "-", "--json"]) | argv_text(16)
)


def resolve_ident(ident: str, paused: Paused) -> str:
    return paused.request_id if ident == "request" else ident


def check_decision_command(
    ran: Ran, db: Path | str, paused: Paused, before: dict[str, Any]
) -> None:
    """A decision command: applied when it succeeded, else refused with nothing changed."""
    note(str(ran))
    if ran.code == 0:
        assert ran.err == "", str(ran)
        with ReviewLedger.open(db) as ledger:
            rec = ledger.get(paused.request_id)
        assert rec.status == "applied" and rec.decision is not None, str(ran)
        # What was recorded (and applied) is what was validated: valid for the request.
        validate_decision(paused.request, rec.decision)
        assert_gate_took_it(db)
    else:
        assert_refused_and_unchanged(ran, db, before)


@PROPERTY
@given(items=st.lists(SET_ITEMS, min_size=1, max_size=3), ident=IDENTS)
@example(items=["amount=Infinity"], ident="t1")
@example(items=["amount=1e999"], ident="t1")
@example(items=["amount=" + "1" * 400], ident="t1")
@example(items=["amount=" + "1" * 5000], ident="t1")
@example(items=["line_items.0.quantity=" + "[" * 5000 + "]" * 5000], ident="t1")
@example(items=["line\nitems.0=1"], ident="t1")
@example(items=["amount=100000000000000000000"], ident="t1")
@example(items=['vendor="\\ud800"'], ident="t1")
@example(items=["vendor=\udcff"], ident="t1")
def test_modify_set_values(paused: Paused, scratch: Path, items: list[str], ident: str) -> None:
    """`modify --set KEY=VALUE ...` with any keys and values: applied, or one line and no change."""
    with fresh_copy(paused, scratch) as db:
        sets = [f"--set={item}" for item in items]
        ran = invoke(db, "modify", *sets, "--", resolve_ident(ident, paused))
        check_decision_command(ran, db, paused, paused.state)


ARGS_TEXT = (
    edited_args().map(lambda args: json.dumps(args))
    | JSON_VALUES.map(json.dumps)
    | argv_text(60)
    | st.sampled_from(
        [
            "",
            "{",
            "{}",
            "null",
            "[" * 5000 + "]" * 5000,
            '{"amount": ' + "9" * 5000 + "}",
            '{"amount": Infinity}',
            '{"amount": NaN}',
            '{"amount": -Infinity}',
            '{"amount": 1e999}',
            '{"line_items": [{"quantity": NaN}]}',
            "@/dev/zero",
            "@",
            "@/nonexistent/args.json",
            "@/",
            "@" + str(REPO),
            "@" + sys.executable,  # not UTF-8 text
        ]
    )
)


@PROPERTY
@given(args=ARGS_TEXT, ident=IDENTS)
@example(args="[" * 5000 + "]" * 5000, ident="t1")
@example(args='{"amount": ' + "9" * 5000 + "}", ident="t1")
@example(args="@" + sys.executable, ident="t1")
@example(args=json.dumps({**INVOICE_ARGS, "vendor": "\ud800"}), ident="t1")
def test_modify_args_json(paused: Paused, scratch: Path, args: str, ident: str) -> None:
    """`modify --args JSON` with any text: applied, or one line and no change."""
    with fresh_copy(paused, scratch) as db:
        ran = invoke(db, "modify", f"--args={args}", "--", resolve_ident(ident, paused))
        check_decision_command(ran, db, paused, paused.state)


COMMANDS = (
    "list",
    "show",
    "history",
    "approve",
    "reject",
    "modify",
    "resume",
    "review",
    "thread",
    "respond",
    "cancel",
    "batch",
    "sweep",
    "reviewers",
    "metrics",
    "outbox",
    "calibrate",
    "export",
    "audit",
    "prune",
)
OPTIONS = (
    "--json",
    "--gate",
    "--tier",
    "--limit",
    "--review",
    "--reviewer",
    "--comment",
    "--reason",
    "--set",
    "--args",
    "--all",
    "--ok",
    "--problem",
    "--response",
    "--where",
    "--dry-run",
    "--role",
    "--since",
    "--by",
    "--check",
    "--prometheus",
    "--overrides",
    "--target-rate",
    "--no-apply",
    "--needed",
    "--plain",
    "--expect-head",
    "--older-than",
    "--window",
    "--test-size",
    "--bogus",
    "-x",
    "--",
)
ODD_NUMBERS = [
    *("nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1e999", "-1e999"),
    *("9" * 25, "9" * 25 + "d", "9" * 400 + "w", "99999999999999w", "1e308"),
    *('{"a": NaN}', '{"amount": Infinity}', "amount<NaN", "amount=Infinity", "amount=1e999"),
    *("@/dev/zero", "@/dev/null", "g" * 64, "0" * 63, "F" * 64),
]
"""Numbers JSON has not, numbers past every range, files without end, hashes that are not."""
TOKENS = (
    st.sampled_from(OPTIONS)
    | st.sampled_from(["t1", "request", "nope", "rev_000000000000", "amount=5", "{}"])
    | st.sampled_from(["approve", "reject", "add", "list", "remove", "1", "amount<5", "7d"])
    | st.sampled_from(["-1", "0", "abc", "1" * 30, " ", ""])
    | st.sampled_from(ODD_NUMBERS)
    | argv_text(12)
)


@PROPERTY
@given(
    command=st.sampled_from(COMMANDS) | argv_text(10),
    rest=st.lists(TOKENS, max_size=5),
)
@example(command="thread", rest=["nope"])
@example(command="list", rest=["--limit", "1" * 30])
@example(command="reject", rest=["t1", "--reason", " "])
@example(command="show", rest=["\udcff"])
@example(command="list", rest=["--gate", "x\udc80"])
@example(command="calibrate", rest=["--target-rate", "nan"])
@example(command="export", rest=["--overrides", "--since", "9" * 25 + "d"])
@example(command="audit", rest=["verify", "--expect-head", "g" * 64])
@example(command="prune", rest=["--older-than", "9" * 400 + "w"])
@example(command="respond", rest=["t1", "--response", "NaN"])
@example(command="list", rest=["--limit", "9" * 25])
def test_any_argument_list(paused: Paused, scratch: Path, command: str, rest: list[str]) -> None:
    """Any argument list through `main()`: success, or one line, exit 2 or 3, no change."""
    argv = [command, *(resolve_ident(token, paused) for token in rest)]
    with fresh_copy(paused, scratch) as db:
        ran = run_main(["--db", str(db), *argv])
        note(str(ran))
        if ran.code == 0:
            assert "Traceback" not in ran.err + ran.out and ran.err == "", str(ran)
        else:
            assert_refused_and_unchanged(ran, db, paused.state)


REAL_PROCESS = {
    "bad --limit": ["list", "--limit", "abc"],
    "missing id": ["approve"],
    "unknown command": ["no-such-command"],
    "unknown option": ["modify", "t1", "--bogus"],
    "missing --reason": ["reject", "t1"],
    "--db without a value": ["--db"],
    "id not UTF-8": ["show", "t\udcff"],  # the byte 0xff, as Python decodes argv
    "--set not UTF-8": ["modify", "t1", "--set", "vendor=\udcff"],
    "bad --where": ["batch", "approve", "1", "--where", "amount<<5"],
    "no such group": ["batch", "reject", "nope", "--reason", "dup"],
    "reviewer without a role": ["reviewers", "add", "jo"],
    "bad --by": ["metrics", "--by", "colour"],
    "bad --since": ["metrics", "--since", "fortnight"],
    "respond without --response": ["respond", "t1"],
    "cancel without --reason": ["cancel", "t1"],
}


DEEP = "[" * 5000 + "]" * 5000
ODD_INPUTS: dict[str, tuple[list[str], str]] = {
    "--input NaN": (["run", "invoice", "--input", '{"amount": NaN}'], "--input: NaN"),
    "--input Infinity": (["run", "invoice", "--input", '{"amount": -Infinity}'], "-Infinity"),
    "--input 1e999": (["run", "invoice", "--input", '{"amount": 1e999}'], "1e999"),
    "--input @/dev/zero": (["run", "invoice", "--input", "@/dev/zero"], "larger than"),
    "--args @/dev/zero": (["modify", "t1", "--args", "@/dev/zero"], "--args file /dev/zero"),
    "--args NaN": (["modify", "t1", "--args", '{"amount": NaN}'], "--args: NaN"),
    "--set NaN": (["modify", "t1", "--set", "amount=NaN"], "--set amount: NaN"),
    "--set Infinity": (["modify", "t1", "--set", "amount=Infinity"], "Infinity"),
    "--set too deep": (["modify", "t1", "--set", f"vendor={DEEP}"], "nested too deeply"),
    "--set digits": (["modify", "t1", "--set", "po_number=" + "7" * 5000], "--set po_number"),
    "--response NaN": (["respond", "t1", "--response", "NaN"], "--response: NaN"),
    "--response too deep": (["respond", "t1", "--response", DEEP], "nested too deeply"),
    "--where NaN": (["batch", "approve", "1", "--where", "amount<NaN"], "NaN"),
    "--where Infinity": (["batch", "approve", "1", "--where", "amount=Infinity"], "Infinity"),
    "--since huge": (["export", "--overrides", "--since", "9" * 30 + "d"], "100 years"),
    "metrics --since huge": (["metrics", "--since", "99999999999999w"], "100 years"),
    "--older-than inf": (["prune", "--older-than", "9" * 400 + "w"], "100 years"),
    "--window huge": (["check", "invoice", "--window", "9" * 30 + "d"], "100 years"),
    "--limit huge": (["list", "--limit", "9" * 20], "--limit"),
    "--target-rate nan": (["calibrate", "--target-rate", "nan"], "--target-rate: nan"),
    "--test-size inf": (["train", "--test-size", "inf"], "--test-size: inf"),
    "metrics --config /dev/zero": (["metrics", "--config", "/dev/zero"], "larger than"),
    "notify --config /dev/zero": (["notify", "--once", "--config", "/dev/zero"], "larger than"),
    "reviewers --config /dev/zero": (
        ["reviewers", "add", "jo", "--role", "junior", "--config", "/dev/zero"],
        "larger than",
    ),
    "--expect-head xyz": (["audit", "verify", "--expect-head", "xyz"], "malformed"),
    "--expect-head g*64": (["audit", "verify", "--expect-head", "g" * 64], "malformed"),
}
"""Each odd input: refused with exit 2 and one line that names where it was."""


# Refused as the arguments are read, before any database is opened: SQLite alone.
@ON_SQLITE
@pytest.mark.parametrize("argv,where", ODD_INPUTS.values(), ids=ODD_INPUTS.keys())
def test_odd_inputs_are_refused_naming_where(paused: Paused, argv: list[str], where: str) -> None:
    """NaN and Infinity (JSON literals Python's parser takes), endless files, nesting too
    deep to parse, numbers past every range, malformed hashes: exit 2, one line naming
    the input, in a real process, and the paused request untouched."""
    ran = in_a_process(argv, "--db", str(paused.db), *argv)
    assert_one_error_line(ran, codes=(2,))
    assert where in ran.err, str(ran)
    assert_fixture_untouched(paused)


@ON_SQLITE
@pytest.mark.parametrize("argv", REAL_PROCESS.values(), ids=REAL_PROCESS.keys())
def test_usage_errors_in_a_real_process(paused: Paused, argv: list[str]) -> None:
    """Usage errors, and bytes that are not UTF-8, through the real entry point in its own
    process: one line, exit 2, and the request untouched."""
    db_args = [] if argv == ["--db"] else ["--db", str(paused.db)]
    ran = in_a_process(argv, *db_args, *map(os.fsencode, argv))
    assert_one_error_line(ran, codes=(2,))
    assert_fixture_untouched(paused)


# -- 3. graph references for run ---------------------------------------------------------
# A reference or an input that is refused is refused before the thread's database is
# written, whichever it is: these run on fresh SQLite files.

IDENTIFIERS = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)
RAISING = {
    "RuntimeError": "raise RuntimeError({message!r})",
    "ValueError": "raise ValueError({message!r})",
    "ZeroDivisionError": "1 / 0  # {message!r}",
    "NameError": "undefined_name  # {message!r}",
    "ImportError": "import hitl_no_such_module_for_tests  # {message!r}",
    "SyntaxError": "def broken(:  # {message!r}",
    "SystemExit": "raise SystemExit({message!r})",
    "sys.exit(3)": "import sys\nsys.exit(3)  # {message!r}",
}
NOT_GRAPHS = """\
number = 42
text = "a graph, honestly"
nothing = None
items = [1, 2]
mapping = {"graph": "no"}


def returns_number():
    return 1


def factory_of_nothing(checkpointer):
    return None


class Klass:
    pass
"""


@pytest.fixture(scope="module")
def graph_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("graph_refs")
    (folder / "_hitl_not_graphs.py").write_text(NOT_GRAPHS)
    return folder


@contextlib.contextmanager
def import_state_kept() -> Iterator[None]:
    """Loading a graph file puts its folder on `sys.path`: take it off again."""
    saved = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = saved


def assert_no_thread(db: Path, thread: str) -> None:
    """Nothing was created for the thread (the file itself may be new and empty)."""
    if not db.exists():
        return
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        for table in ("hitl_threads", "hitl_requests"):
            if table in tables:
                rows = conn.execute(f"SELECT * FROM {table} WHERE thread_id = ?", (thread,))
                assert rows.fetchall() == [], f"{table} has a row for {thread}"
        if "checkpoints" in tables:
            rows = conn.execute("SELECT 1 FROM checkpoints WHERE thread_id = ?", (thread,))
            assert rows.fetchall() == [], f"checkpoints for {thread}"


def check_bad_reference(scratch: Path, ref: str, codes: Sequence[int] = (2,)) -> None:
    with scratch_file(scratch) as db, import_state_kept():
        ran = invoke(db, "run", "--thread", "ref-thread", "--", ref)
        assert_one_error_line(ran, codes=codes)
        assert_no_thread(db, "ref-thread")


FOLDER = "{folder}"
"""Stands for the module's folder of graph files in a generated reference."""

BAD_REFERENCES = st.one_of(
    # A name langgraph.json does not have.
    argv_text(30).filter(lambda s: ":" not in s and s != "invoice").map(lambda name: ("ref", name)),
    # A file that is not there.
    st.builds(
        lambda where, stem, attr: ("ref", f"{where}/{stem}.py:{attr}"),
        st.sampled_from([f"{FOLDER}/missing", "no/such/dir", FOLDER]),
        IDENTIFIERS,
        IDENTIFIERS,
    ),
    # A module that is not there.
    st.builds(
        lambda dotted, attr: ("ref", f"hitl_no_such_{'.'.join(dotted)}:{attr}"),
        st.lists(IDENTIFIERS, min_size=1, max_size=3),
        IDENTIFIERS,
    ),
    # An attribute that is not there, or is not a graph.
    st.builds(
        lambda attr: ("ref", f"{FOLDER}/_hitl_not_graphs.py:{attr}"),
        st.sampled_from(
            [
                *("number", "text", "nothing", "items", "mapping", "returns_number", "Klass"),
                *("factory_of_nothing", "missing", ""),
            ]
        )
        | IDENTIFIERS,
    ),
    # A file that raises (or exits) when imported.
    st.tuples(
        st.just("raises"),
        st.sampled_from(sorted(RAISING)),
        st.text(UNICODE, max_size=40) | st.just("first line\nsecond line"),
    ),
)


def materialize(spec: tuple[str, ...], folder: Path) -> str:
    """The reference a generated spec stands for, writing the raising file it names."""
    if spec[0] == "ref":
        return spec[1].replace(FOLDER, str(folder))
    _, error, message = spec
    source = RAISING[error].format(message=message)
    path = folder / f"_hitl_raises_{hashlib.sha256(source.encode()).hexdigest()[:16]}.py"
    path.write_text(source + "\n", encoding="utf-8")
    return f"{path}:graph"


@FEW
@given(spec=BAD_REFERENCES)
@example(spec=("raises", "RuntimeError", "first line\nsecond line"))
@example(spec=("raises", "SystemExit", "usage: graph.py [-h]"))
@example(spec=("raises", "sys.exit(3)", ""))
@example(spec=("ref", f"{FOLDER}/_hitl_not_graphs.py:number"))
@example(spec=("ref", f"{FOLDER}/_hitl_not_graphs.py:factory_of_nothing"))
@example(spec=("ref", "line one\nline two"))
def test_run_bad_graph_reference(graph_files: Path, scratch: Path, spec: tuple[str, ...]) -> None:
    """`run REF` with a reference that names no graph: exit 2, one line, no thread."""
    check_bad_reference(scratch, materialize(spec, graph_files))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '"invoice"',
        "{",
        "[" * 5000 + "]" * 5000,
        '{"amount": ' + "1" * 5000 + "}",
        '{"vendor": "\\ud800"}',
        "@/nonexistent/input.json",
        "@" + sys.executable,
        '{"invoice_id": "INV-9", "amount": NaN}',
        '{"ocr_confidence": Infinity}',
        '{"ocr_confidence": -Infinity}',
        '{"amount": 1e999}',
        '{"line_items": [{"quantity": 1, "unit_price": NaN}]}',
        "@/dev/zero",
    ],
    ids=[
        *("empty", "array", "string", "broken", "deep", "digits", "surrogate", "missing"),
        *("binary", "NaN", "Infinity", "-Infinity", "1e999", "nested NaN", "endless file"),
    ],
)
def test_run_bad_input_json(scratch: Path, text: str) -> None:
    """`run invoice --input` that is not a JSON object: exit 2, one line, no thread."""
    with scratch_file(scratch) as db:
        ran = invoke(db, "run", "invoice", "--thread", "input-thread", "--input", text)
        assert_one_error_line(ran, codes=(2,))
        assert_no_thread(db, "input-thread")


def test_run_factory_that_raises_is_the_graph_raising(tmp_path: Path, scratch: Path) -> None:
    """A factory that raises is the user's graph code failing: exit 1, still one line."""
    path = tmp_path / "_hitl_raising_factory.py"
    path.write_text("def make(checkpointer):\n    raise ValueError('no graph\\ntoday')\n")
    check_bad_reference(scratch, f"{path}:make", codes=(1,))


# -- 4. database paths -------------------------------------------------------------------
# SQLite's files alone: missing, a directory, empty, random bytes, cut short, read-only.
# (A PostgreSQL URL that names no database: `tests/test_postgres.py`.)

DB_COMMANDS = (["list"], ["show", THREAD], ["approve", THREAD])


@pytest.mark.parametrize("command", DB_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("kind", ["missing file", "missing folder", "a directory"])
def test_db_missing_or_a_directory(tmp_path: Path, command: list[str], kind: str) -> None:
    """No database there: exit 2, one line, and nothing is created."""
    db = {
        "missing file": tmp_path / "nope.sqlite",
        "missing folder": tmp_path / "no" / "such" / "hitl.sqlite",
        "a directory": tmp_path,
    }[kind]
    listing = sorted(tmp_path.rglob("*"))
    ran = invoke(db, *command)
    assert_one_error_line(ran, codes=(2,))
    assert sorted(tmp_path.rglob("*")) == listing, "a failed command created files"


@pytest.mark.parametrize("command", DB_COMMANDS, ids=lambda c: c[0])
def test_db_empty_file(tmp_path: Path, command: list[str]) -> None:
    """An empty file is a valid, empty SQLite database: nothing pending, unknown ids.

    Decided: `list` exits 0 with nothing pending; `show` and `approve` exit 2 (no such
    request). Opening it gives the file the ledger's (empty) tables, as opening any SQLite
    file does; nothing was pending, so nothing pending changed.
    """
    db = tmp_path / "empty.sqlite"
    db.write_bytes(b"")
    ran = invoke(db, *command)
    if command == ["list"]:
        assert (ran.code, ran.out.strip(), ran.err) == (0, "nothing pending", ""), str(ran)
    else:
        assert_one_error_line(ran, codes=(2,))
        assert "no request or thread" in ran.err
    state = db_state(db)
    assert state.get("hitl_requests", []) == [] and state.get("hitl_decisions", []) == []


SQLITE_HEADER = b"SQLite format 3\x00"


@FEW
@given(
    content=st.binary(min_size=1, max_size=8192)
    | st.binary(max_size=8192).map(lambda tail: SQLITE_HEADER + tail),
    command=st.sampled_from(DB_COMMANDS),
)
@example(content=b"\x00", command=["approve", THREAD])  # SQLite takes one byte for empty
def test_db_random_bytes(scratch: Path, content: bytes, command: list[str]) -> None:
    """A file of random bytes (with or without SQLite's magic header): exit 2, file unchanged."""
    with scratch_file(scratch, content) as db:
        ran = invoke(db, *command)
        note(str(ran))
        assert_one_error_line(ran, codes=(2,))
        assert db.read_bytes() == content


@ON_SQLITE
@PROPERTY
@given(data=st.data(), command=st.sampled_from(DB_COMMANDS))
def test_db_truncated(
    paused: Paused, scratch: Path, data: st.DataObject, command: list[str]
) -> None:
    """A real database cut short anywhere: refused (exit 2, file unchanged), or readable.

    Readable means SQLite found nothing wrong where the command looked (a cut through the
    last pages only loses checkpoint data; it checks pages as it reads them, not on
    opening). Then `approve` records the decision and fails to apply it: exit 1, the
    documented "recorded, but applying it failed" (SQLite's own integrity check passes: the
    zeroed bytes are inside blobs), or, found before recording, "nothing was recorded".
    """
    size = len(paused.image)
    # Anywhere, and often in the last pages: past the schema, through checkpoint data.
    cut = data.draw(st.integers(1, size) | st.integers(max(1, size - 3 * 4096), size), label="cut")
    content = paused.image[:cut]
    with scratch_file(scratch, content) as db:
        ran = invoke(db, *command)
        note(str(ran))
        if ran.code == 0:
            assert ran.err == "", str(ran)
        elif ran.code == 1:
            # The ledger's pages were intact; the zeroed checkpoint data failed to load,
            # before the decision was recorded or after: the documented ApplyError, exit 1.
            # LangGraph's serializer may log a warning about the damaged blob first (at two
            # cut points of the last 12 KiB): not ours to silence, so only the last line is.
            assert command[0] == "approve", str(ran)
            *warnings, last = ran.err.splitlines() or [""]
            assert_one_error_line(dataclasses.replace(ran, err=last + "\n"), codes=(1,))
            assert not any(line.startswith(("error: ", "Traceback")) for line in warnings)
            assert (
                "is recorded, but applying it failed" in last or "nothing was recorded" in last
            ), str(ran)
        else:
            assert_one_error_line(ran, codes=(2,))
            assert db.read_bytes() == content, "a refused command changed the file"


def root_writes_read_only_files(folder: Path) -> bool:
    probe = folder / "probe"
    probe.write_bytes(b"")
    probe.chmod(0o444)
    try:
        with probe.open("ab"):
            return True
    except PermissionError:
        return False
    finally:
        probe.chmod(0o644)
        probe.unlink()


@ON_SQLITE
@pytest.mark.parametrize("command", DB_COMMANDS, ids=lambda c: c[0])
def test_db_read_only(paused: Paused, tmp_path: Path, command: list[str]) -> None:
    """A read-only database: readable commands work; anything that must write exits 2.

    Whoever can write a file despite its mode (root) has no read-only files to test.
    """
    if root_writes_read_only_files(tmp_path):
        pytest.skip("running as a user who writes 0o444 files anyway (root): not read-only")
    db = tmp_path / "hitl.sqlite"
    db.write_bytes(paused.image)
    db.chmod(0o444)
    try:
        ran = invoke(db, *command, *(["--json"] if command == ["list"] else []))
        if command == ["list"]:
            assert ran.code == 0 and paused.request_id in ran.out, str(ran)
        elif ran.code != 0:
            assert_one_error_line(ran, codes=(2,))
        assert command[0] != "approve" or ran.code == 2, f"approved a read-only file\n{ran}"
        assert db.read_bytes() == paused.image
    finally:
        db.chmod(0o644)
