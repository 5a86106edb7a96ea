"""The graphs teams already have, end to end: paused in one process, decided in another.

Each shape in `tests/graphs/shapes/` is run (`langgraph-hitl run`, or from Python with
`stream` / `open_async_checkpointer` + `ainvoke`) in a process started in the
repository root, then decided by `langgraph-hitl` processes started in another
directory, on the same real SQLite file. Every action node writes a row to the file's
`actions` table (thread, node, process id, the type names it found in state): the tests
check the action ran once, in the deciding process, on the types the state declares.

The runs are the shared set-up: one module fixture starts them all, a few at a time,
on one database (a thread per shape); each test then decides its own thread.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from processes import cli_env, track

from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.models import Decision

REPO = Path(__file__).resolve().parent.parent
SHAPES = "tests/graphs/shapes"
FROM_PYTHON = REPO / SHAPES / "from_python.py"
TIMEOUT_S = 180.0
AT_ONCE = 3

INVOICE = {
    "invoice_id": "INV-1",
    "amount": 120.5,
    "currency": "EUR",
    "lines": [{"description": "bolts", "amount": 120.5}],
}
PAYEE = {"name": "Acme GmbH", "address": {"city": "Berlin", "country": "DE"}, "tags": ["ap"]}
TYPED_INPUT = {"invoice": INVOICE, "payee": PAYEE, "memo": "net 30"}
DECLARED = {
    "invoice": "Invoice",
    "line": "LineItem",
    "currency": "Currency",
    "payee": "Payee",
    "address": "Address",
    "remittance": "Remittance",
    "remittance_currency": "Currency",
}
MEMO_TYPE = "tests.graphs.shapes.typed_state.Memo"

# thread -> (graph reference, input); each is run by `langgraph-hitl run` from REPO.
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "typed": (f"{SHAPES}/typed_state.py:make_graph", TYPED_INPUT),
    "typed-allowed": (f"{SHAPES}/typed_state.py:make_graph", TYPED_INPUT),
    "pydantic": (f"{SHAPES}/pydantic_state.py:make_graph", {"invoice": INVOICE}),
    "dataclass": (f"{SHAPES}/dataclass_state.py:make_graph", {"raw": TYPED_INPUT}),
    "subgraph": (f"{SHAPES}/subgraph_gate.py:make_graph", {"raw": INVOICE}),
    "parallel": (f"{SHAPES}/parallel_gates.py:make_graph", {"amounts": {"a": 1, "b": 2, "c": 3}}),
    "send": (
        f"{SHAPES}/send_fanout.py:make_graph",
        {"items": [{"id": f"x{i}", "amount": i} for i in (1, 2, 3)]},
    ),
    "sequence": (f"{SHAPES}/sequence_gates.py:make_graph", {"order": "O-1", "amount": 7.0}),
    "loop": (f"{SHAPES}/loop_gate.py:make_graph", {"round": 0}),
    "async": (f"{SHAPES}/async_graphs.py:async_graph", {"raw": INVOICE}),
    "mixed": (f"{SHAPES}/async_graphs.py:mixed_graph", {"raw": INVOICE}),
}
# thread -> (mode, input); each is paused by `from_python.py` from REPO.
FROM_PY: dict[str, tuple[str, dict[str, Any]]] = {
    "streamed": ("stream", TYPED_INPUT),
    "ainvoked": ("async", {"raw": INVOICE}),
    "ainvoked-resumed": ("async", {"raw": INVOICE}),
}


@dataclass(frozen=True)
class Done:
    argv: Sequence[str]
    code: int
    out: str
    err: str
    pid: int

    def __str__(self) -> str:
        return f"{' '.join(self.argv)}\nexit {self.code}\nstdout: {self.out}\nstderr: {self.err}"

    def json(self) -> Any:
        assert self.code == 0, str(self)
        return json.loads(self.out)


def start(
    argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=cli_env({"LANGGRAPH_HITL_REVIEWER": "shapes", **(env or {})}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return track(proc)


def finish(proc: subprocess.Popen[str]) -> Done:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    return Done([str(a) for a in proc.args], proc.returncode, out, err, proc.pid)


def hitl(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args]


def in_batches(commands: list[tuple[list[str], Path]]) -> list[Done]:
    """Run commands a few at a time (the machine has two cores); results in order."""
    results: list[Done] = []
    for i in range(0, len(commands), AT_ONCE):
        procs = [start(argv, cwd) for argv, cwd in commands[i : i + AT_ONCE]]
        results += [finish(proc) for proc in procs]
    return results


@dataclass
class Shapes:
    db: Path
    elsewhere: Path
    runs: dict[str, Done]

    def decide(self, *args: str, env: dict[str, str] | None = None) -> Done:
        """One `langgraph-hitl` process started in another directory than the graphs'."""
        return finish(start(hitl(self.db, *args), self.elsewhere, env))

    def decide_all(self, *commands: Sequence[str]) -> list[Done]:
        procs = [start(hitl(self.db, *command), self.elsewhere) for command in commands]
        return [finish(proc) for proc in procs]

    def pending(self, thread: str) -> list[str]:
        with ReviewDesk(self.db).ledger() as ledger:
            return [rec.request_id for rec in ledger.pending(thread_id=thread)]

    def actions(self, thread: str) -> list[tuple[str, int, dict[str, Any]]]:
        with closing(sqlite3.connect(self.db, timeout=30)) as conn:
            rows = conn.execute(
                "SELECT node, pid, facts FROM actions WHERE thread_id = ? ORDER BY seq", (thread,)
            ).fetchall()
        return [(node, pid, json.loads(facts)) for node, pid, facts in rows]

    def statuses(self, thread: str) -> list[str]:
        with closing(sqlite3.connect(self.db, timeout=30)) as conn:
            rows = conn.execute(
                "SELECT status FROM hitl_requests WHERE thread_id = ? ORDER BY created_at",
                (thread,),
            ).fetchall()
        return [status for (status,) in rows]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shapes]:
    """Every shape paused once, on one database, by processes started in REPO."""
    root = tmp_path_factory.mktemp("shapes")
    db, elsewhere = root / "hitl.sqlite", root / "elsewhere"
    elsewhere.mkdir()
    commands = [
        (hitl(db, "run", ref, "--thread", thread, "--input", json.dumps(data), "--json"), REPO)
        for thread, (ref, data) in RUNS.items()
    ] + [
        ([sys.executable, str(FROM_PYTHON), mode, str(db), thread, json.dumps(data)], REPO)
        for thread, (mode, data) in FROM_PY.items()
    ]
    results = in_batches(commands)
    runs = dict(zip([*RUNS, *FROM_PY], results, strict=True))
    for thread, done in runs.items():
        assert done.code == 0, f"{thread}: {done}"
    yield Shapes(db, elsewhere, runs)


def paused(shapes: Shapes, thread: str, count: int = 1) -> list[str]:
    """The thread's pending request ids, checked against what its run said."""
    rids = shapes.pending(thread)
    assert len(rids) == count, (thread, rids)
    if thread in RUNS:
        status = shapes.runs[thread].json()
        assert status["status"] == "paused" and sorted(status["pending"]) == sorted(rids)
    return rids


def approved_once(shapes: Shapes, thread: str, decider: Done) -> dict[str, Any]:
    """Exit 0, the thread done, and one `pay` row written by the deciding process."""
    outcome = decider.json()
    assert outcome["applied"] is True and outcome["thread"]["status"] == "done", decider
    (row,) = [r for r in shapes.actions(thread) if r[0] == "pay"]
    assert row[1] == decider.pid  # the action ran in the decider, not the run
    assert decider.pid != shapes.runs[thread].pid
    return row[2]


# -- your own types in state -------------------------------------------------------------


def test_typed_dict_state_holding_pydantic_models_dataclasses_and_enums(shapes: Shapes) -> None:
    """The everyday `invoice: Invoice` in a TypedDict: `pay` gets an Invoice, not a dict."""
    (rid,) = paused(shapes, "typed")
    decider = shapes.decide("approve", rid, "--json")
    facts = approved_once(shapes, "typed", decider)
    assert {k: facts[k] for k in DECLARED} == DECLARED
    # A type no schema declares and nobody listed stays plain data: refused, and said.
    assert facts["memo"] == "dict"
    assert f"Blocked deserialization of {MEMO_TYPE}" in decider.err
    thread = shapes.decide("thread", "typed", "--json").json()
    assert thread["values"]["invoice"]["lines"] == INVOICE["lines"]
    assert thread["values"]["payee"]["address"] == PAYEE["address"]


def test_a_type_the_project_lists_comes_back_as_itself(shapes: Shapes) -> None:
    """`$LANGGRAPH_HITL_ALLOWED_TYPES` revives a type no schema names."""
    (rid,) = paused(shapes, "typed-allowed")
    env = {"LANGGRAPH_HITL_ALLOWED_TYPES": f"billing.Nothing, {MEMO_TYPE}"}
    facts = approved_once(shapes, "typed-allowed", shapes.decide("approve", rid, "--json", env=env))
    assert facts["memo"] == "Memo"
    assert {k: facts[k] for k in DECLARED} == DECLARED


def test_pydantic_model_state(shapes: Shapes) -> None:
    (rid,) = paused(shapes, "pydantic")
    facts = approved_once(shapes, "pydantic", shapes.decide("approve", rid, "--json"))
    assert facts == {"invoice": "Invoice", "line": "LineItem", "currency": "Currency"}


def test_dataclass_state_holding_a_nested_dataclass(shapes: Shapes) -> None:
    (rid,) = paused(shapes, "dataclass")
    facts = approved_once(shapes, "dataclass", shapes.decide("approve", rid, "--json"))
    assert facts == {"invoice": "Invoice", "payee": "Payee", "address": "Address"}


# -- where the gate is -------------------------------------------------------------------


def test_gate_inside_a_subgraph(shapes: Shapes) -> None:
    """A subgraph's gate is decided like any other; its own state types come back too."""
    (rid,) = paused(shapes, "subgraph")
    facts = approved_once(shapes, "subgraph", shapes.decide("approve", rid, "--json"))
    assert facts == {"invoice": "Invoice", "receipt": "Receipt"}
    assert [node for node, _, _ in shapes.actions("subgraph")] == ["pay", "close"]
    assert shapes.actions("subgraph")[1][2] == {"status": "paid"}


def test_three_parallel_gates_decided_by_id_from_three_processes(shapes: Shapes) -> None:
    rids = paused(shapes, "parallel", 3)
    results = shapes.decide_all(*(["approve", rid, "--json"] for rid in rids))
    # Each process exits 0 with its own request applied (by itself, or by another
    # process that held the thread's lease and applied every decision waiting).
    assert sorted(done.json()["request_id"] for done in results) == sorted(rids)
    assert all(done.json()["applied"] for done in results)
    assert sorted(node for node, _, _ in shapes.actions("parallel")) == ["pay_a", "pay_b", "pay_c"]
    assert shapes.statuses("parallel") == ["applied"] * 3
    assert shapes.decide("thread", "parallel", "--json").json()["status"] == "done"


def test_send_fan_out_to_one_gate(shapes: Shapes) -> None:
    """One request per item; two approved and one rejected, each from its own process."""
    rids = paused(shapes, "send", 3)
    with ReviewDesk(shapes.db).ledger() as ledger:
        item_of = {rid: ledger.get(rid).request.action.args["id"] for rid in rids}
    first, second, third = sorted(rids, key=item_of.__getitem__)
    assert shapes.decide("approve", first, "--json").code == 0
    assert shapes.decide("reject", second, "--reason", "not this one", "--json").code == 0
    last = shapes.decide("approve", third, "--json").json()
    assert last["thread"]["status"] == "done"
    paid = sorted(facts["item"] for node, _, facts in shapes.actions("send"))
    assert paid == [item_of[first], item_of[third]]


def test_two_gates_in_sequence(shapes: Shapes) -> None:
    (order,) = paused(shapes, "sequence")
    after_first = shapes.decide("approve", order, "--json").json()
    assert after_first["thread"]["status"] == "paused"
    (bill,) = after_first["thread"]["pending"]
    assert bill != order
    last = shapes.decide("approve", bill, "--json").json()
    assert last["thread"]["status"] == "done" and last["thread"]["values"]["status"] == "billed"
    assert [(node, facts) for node, _, facts in shapes.actions("sequence")] == [
        ("ship", {"order": "O-1"}),
        ("bill", {"amount": 7.0}),
    ]


def test_the_same_gate_visited_twice_in_a_loop(shapes: Shapes) -> None:
    (first,) = paused(shapes, "loop")
    again = shapes.decide("approve", "loop", "--json").json()
    assert again["thread"]["status"] == "paused"
    (second,) = again["thread"]["pending"]
    assert second != first
    done = shapes.decide("approve", "loop", "--json").json()
    assert done["thread"]["status"] == "done"
    assert [facts["round"] for _, _, facts in shapes.actions("loop")] == [1, 2]
    with ReviewDesk(shapes.db).ledger() as ledger:
        assert {ledger.get(rid).gate for rid in (first, second)} == {"approve_round"}


# -- async graphs, and graphs run from your own Python ------------------------------------


def test_async_only_graph(shapes: Shapes) -> None:
    """Every node of ours `async def`: run and decided by the CLI (ainvoke on its loop)."""
    (rid,) = paused(shapes, "async")
    facts = approved_once(shapes, "async", shapes.decide("approve", rid, "--json"))
    assert facts == {"invoice": "Invoice"}


def test_mixed_sync_and_async_graph(shapes: Shapes) -> None:
    (rid,) = paused(shapes, "mixed")
    approved_once(shapes, "mixed", shapes.decide("approve", rid, "--json"))
    assert [node for node, _, _ in shapes.actions("mixed")] == ["pay", "audit"]


def test_graph_streamed_from_python_decided_from_the_cli(shapes: Shapes) -> None:
    (asked,) = shapes.runs["streamed"].out.split()
    (rid,) = paused(shapes, "streamed")
    with ReviewDesk(shapes.db).ledger() as ledger:
        assert ledger.get(rid).interrupt_id == asked
    facts = approved_once(shapes, "streamed", shapes.decide("approve", rid, "--json"))
    assert {k: facts[k] for k in DECLARED} == DECLARED


def test_thread_paused_with_ainvoke_is_decided_from_the_cli(shapes: Shapes) -> None:
    (rid,) = paused(shapes, "ainvoked")
    facts = approved_once(shapes, "ainvoked", shapes.decide("approve", rid, "--json"))
    assert facts == {"invoice": "Invoice"}


def test_thread_paused_with_ainvoke_is_resumed_from_the_cli(shapes: Shapes) -> None:
    """A decision recorded (not applied) on an async thread: `resume` applies it, once."""
    (rid,) = paused(shapes, "ainvoked-resumed")
    outcome = ReviewDesk(shapes.db).decide(rid, Decision.approve(reviewer="ana"), apply=False)
    assert outcome.request.status == "decided" and not outcome.applied
    resumed = shapes.decide("resume", rid, "--json").json()
    assert [(s["thread_id"], s["status"]) for s in resumed] == [("ainvoked-resumed", "done")]
    assert shapes.statuses("ainvoked-resumed") == ["applied"]
    assert len(shapes.actions("ainvoked-resumed")) == 1
    assert shapes.decide("resume", "--all", "--json").json() == []


# -- references that resolve from anywhere ------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project of its own: the shape graphs under flows/, named in langgraph.json."""
    proj = tmp_path / "proj"
    shutil.copytree(REPO / SHAPES, proj / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    (proj / "langgraph.json").write_text(
        json.dumps({"graphs": {"typed": "./flows/typed_state.py:make_graph"}})
    )
    (proj / "hitl.toml").write_text('[serializer]\nallowed_types = ["flows.typed_state.Memo"]\n')
    return proj


def pause_typed(db: Path, project: Path, thread: str) -> str:
    """Run the project's `typed` graph by its name, from the project; its pending request."""
    data = json.dumps(TYPED_INPUT)
    argv = hitl(db, "run", "typed", "--input", data, "--thread", thread, "--json")
    (rid,) = finish(start(argv, project)).json()["pending"]
    return str(rid)


def test_langgraph_json_name_resolves_from_the_recorded_root(project: Path, tmp_path: Path) -> None:
    """Run by name in the project; decided elsewhere; the project's hitl.toml applies."""
    db, elsewhere = tmp_path / "hitl.sqlite", tmp_path / "elsewhere"
    elsewhere.mkdir()
    rid = pause_typed(db, project, "n1")
    decided = finish(start(hitl(db, "approve", rid, "--json"), elsewhere))
    assert decided.json()["thread"]["status"] == "done", decided
    with closing(sqlite3.connect(db)) as conn:
        facts = json.loads(conn.execute("SELECT facts FROM actions").fetchone()[0])
        origin = conn.execute("SELECT graph, graph_root FROM hitl_threads").fetchone()
    assert origin == ("typed", str(project))
    # Types under their dotted name from the project root: flows.typed_state.Memo.
    assert facts["memo"] == "Memo" and facts["remittance"] == "Remittance"


def test_a_root_that_moved_falls_back_to_the_current_directory(
    project: Path, tmp_path: Path
) -> None:
    """The root is gone: the error names it and what was tried, before anything is
    recorded; from the new place, the same decision goes through."""
    db, elsewhere = tmp_path / "hitl.sqlite", tmp_path / "elsewhere"
    elsewhere.mkdir()
    rid = pause_typed(db, project, "m1")
    moved = project.rename(tmp_path / "moved")

    # Found out before the decision is recorded: nothing is stranded (exit 2).
    failed = finish(start(hitl(db, "approve", rid), elsewhere))
    assert failed.code == 2 and failed.out == "", failed
    (line,) = failed.err.splitlines()
    assert f"its project root {project} does not exist here" in line
    assert f"so {elsewhere} was tried" in line

    approved = finish(start(hitl(db, "approve", rid, "--json"), moved))
    assert approved.json()["thread"]["status"] == "done", approved
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM actions").fetchone() == (1,)


def test_a_name_recorded_from_python_resolves_from_that_process_root(tmp_path: Path) -> None:
    """`open_checkpointer(graph="invoice", root=...)` in an app; approved elsewhere. The
    invoice graph logs its route (naming the graph) before the gate asks: the root
    still goes with the reference."""
    from langgraph_hitl.graphs.invoice import make_graph

    from langgraph_hitl import open_checkpointer

    db, elsewhere = tmp_path / "hitl.sqlite", tmp_path / "elsewhere"
    elsewhere.mkdir()
    large = json.loads((REPO / "examples" / "invoices" / "large.json").read_text())
    with open_checkpointer(db, graph="invoice", root=REPO) as saver:
        make_graph(saver).invoke(large, {"configurable": {"thread_id": "app-1"}})
        assert saver.ledger.thread_origin("app-1") == ("invoice", str(REPO))
    decided = finish(start(hitl(db, "approve", "app-1", "--json"), elsewhere))
    assert decided.json()["thread"]["values"]["status"] == "paid", decided
