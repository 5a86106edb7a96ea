"""End-to-end tests: the `langgraph-hitl` CLI as separate OS processes on a real database.

Every test drives `python -m langgraph_hitl --db DB ...` with `subprocess`, from the
repository root (so `invoice` resolves through `langgraph.json`), and checks the exit
code, the `--json` output, stderr (one line, never a traceback) and the database itself:
the invoice graph's `payments` table and the ledger's `hitl_*` tables. Each test runs on
a SQLite file and on a PostgreSQL database (the `database` fixture).

Nothing is mocked and nothing sleeps. The crash tests use `tests/graphs/gated_pay.py`,
which, when its process is told to through the environment, writes a line to one FIFO
and then blocks reading another at a chosen point; the test waits for that line (a
bounded `select`), then kills the process with SIGKILL.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from backends import backend_of
from processes import Fifos, finish, one_line_error, query, records, start_cli

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "invoices"
GATED_PAY = "tests/graphs/gated_pay.py:make_graph"

ROW_KEYS = {
    "request_id",
    "thread_id",
    "graph",
    "gate",
    "action",
    "summary",
    "tier",
    "confidence",
    "reasons",
    "created_at",
    "deadline",
}
THREAD_KEYS = {"thread_id", "status", "pending", "values", "why"}
Done = subprocess.CompletedProcess[str]


# -- processes -------------------------------------------------------------------------


def start(db: Path | str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start one CLI process on `db`; it runs until `finish` collects it."""
    return start_cli(db, *args, env={"LANGGRAPH_HITL_REVIEWER": "e2e-default", **(env or {})})


def cli(db: Path | str, *args: str, env: dict[str, str] | None = None) -> Done:
    return finish(start(db, *args, env=env))


def cli_all(db: Path | str, *commands: Sequence[str]) -> list[Done]:
    """Run independent commands at the same time; results in the order given."""
    procs = [start(db, *command) for command in commands]
    return [finish(proc) for proc in procs]


def ok(result: Done) -> Any:
    """Exit 0, nothing on stderr; the parsed stdout JSON."""
    assert result.returncode == 0, result
    assert result.stderr == "", result
    return json.loads(result.stdout)


def refused(result: Done, code: int, *needles: str) -> str:
    """A documented failure: the exit code, one line on stderr, no traceback, no stdout."""
    line = one_line_error(result, code)
    for needle in needles:
        assert needle in line, result
    return line


# -- the database ------------------------------------------------------------------------


def request_row(db: Path | str, request_id: str) -> dict[str, Any]:
    rows = records(db, "SELECT * FROM hitl_requests WHERE request_id = ?", request_id)
    assert len(rows) == 1, request_id
    return rows[0]


def payments(db: Path | str) -> list[tuple[Any, ...]]:
    return query(
        db,
        "SELECT invoice_id, vendor, amount, currency, thread_id, approved_by FROM payments"
        " ORDER BY invoice_id",
    )


def event_kinds(db: Path | str, request_id: str) -> list[str]:
    return [
        kind
        for (kind,) in query(
            db, "SELECT kind FROM hitl_events WHERE request_id = ? ORDER BY seq", request_id
        )
    ]


def assert_history_not_forked(db: Path | str, thread_id: str) -> None:
    """Two resumes of one interrupt fork a thread's history: two children of one parent."""
    forks = query(
        db,
        "SELECT parent_checkpoint_id, COUNT(*) FROM checkpoints WHERE thread_id = ?"
        " AND checkpoint_ns = '' AND parent_checkpoint_id IS NOT NULL"
        " GROUP BY parent_checkpoint_id HAVING COUNT(*) > 1",
        thread_id,
    )
    assert forks == [], f"thread {thread_id} history forked: {forks}"


# -- invoices ------------------------------------------------------------------------------


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def large_invoice(invoice_id: str, amount: float) -> dict[str, Any]:
    """Clean but over the autonomous limit: escalated, tier high."""
    return {
        **example("large"),
        "invoice_id": invoice_id,
        "amount": amount,
        "line_items": [{"description": "Licences", "quantity": 1, "unit_price": amount}],
    }


def medium_invoice() -> dict[str, Any]:
    """Small, one validation failure (the lines do not add up) and a low OCR score."""
    return {
        "invoice_id": "INV-1005",
        "vendor": "Umbrella Corp",
        "amount": 1800.0,
        "currency": "EUR",
        "po_number": "PO-7815",
        "due_date": "2026-12-18",
        "line_items": [{"description": "Safety gloves, boxes", "quantity": 40, "unit_price": 47.0}],
        "ocr_confidence": 0.58,
    }


def run_invoice(db: Path | str, thread: str, data: dict[str, Any] | str) -> dict[str, Any]:
    given = data if isinstance(data, str) else json.dumps(data)
    status: dict[str, Any] = ok(
        cli(db, "run", "invoice", "--input", given, "--thread", thread, "--json")
    )
    return status


def run_args(thread: str, data: dict[str, Any], graph: str = "invoice") -> list[str]:
    return ["run", graph, "--input", json.dumps(data), "--thread", thread, "--json"]


@pytest.fixture
def db(database: Path | str) -> Path | str:
    """The test's database, on each backend."""
    return database


# -- 1. pause in one process, decide in another ----------------------------------------------


def test_run_pauses_then_approve_in_another_process_pays_once(db: Path | str) -> None:
    run = run_invoice(db, "inv-large", "@examples/invoices/large.json")
    assert set(run) == THREAD_KEYS
    assert run["thread_id"] == "inv-large"
    assert run["status"] == "paused"
    assert len(run["pending"]) == 1 and run["pending"][0].startswith("req_")
    assert run["values"]["invoice"]["amount"] == 52000.0
    assert run["values"]["route"] == "escalate"
    rid = run["pending"][0]
    assert request_row(db, rid)["status"] == "pending"
    assert payments(db) == []

    thread, shown = cli_all(
        db, ["thread", "inv-large", "--json"], ["show", rid, "--reviewer", "bob", "--json"]
    )
    assert ok(thread) == run
    shown = ok(shown)
    assert shown["request_id"] == rid
    assert shown["thread_id"] == "inv-large"
    assert shown["status"] == "pending"
    assert shown["decision"] is None
    assert shown["action"]["name"] == "pay_invoice"
    assert shown["action"]["args"]["amount"] == 52000.0
    assert shown["request"]["allowed_decisions"] == ["approve", "reject", "modify", "respond"]

    outcome = ok(cli(db, "approve", rid, "--reviewer", "ana", "--comment", "PO ok", "--json"))
    assert outcome["request_id"] == rid
    assert outcome["decision"] == "approve"
    assert outcome["applied"] is True
    assert outcome["thread"]["status"] == "done"
    assert outcome["thread"]["pending"] == []
    assert outcome["thread"]["values"]["status"] == "paid"

    assert request_row(db, rid)["status"] == "applied"
    assert payments(db) == [("INV-1003", "Initech LLC", 52000.0, "USD", "inv-large", "ana")]
    assert query(db, "SELECT type, reviewer, comment FROM hitl_decisions") == [
        ("approve", "ana", "PO ok")
    ]
    assert_history_not_forked(db, "inv-large")

    thread, by_request, by_thread, shown = cli_all(
        db,
        ["thread", "inv-large", "--json"],
        ["history", rid, "--json"],
        ["history", "inv-large", "--json"],
        ["show", rid, "--json"],
    )
    thread = ok(thread)
    assert set(thread) == THREAD_KEYS
    assert thread["status"] == "done" and thread["pending"] == []
    assert thread["values"]["status"] == "paid"
    assert thread["values"]["payment"] == {"invoice_id": "INV-1003", "amount": 52000.0}
    events = ok(by_request)
    assert [e["kind"] for e in events] == ["created", "shown", "decided", "applied"]
    assert {e["request_id"] for e in events} == {rid}
    assert events[1]["actor"] == "bob"
    assert events[2]["actor"] == "ana"
    assert events[2]["data"]["type"] == "approve"
    assert events[3]["data"] == {"outcome": "done", "decided_by": events[2]["actor"]}
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    routed, *rest = ok(by_thread)
    assert rest == events
    assert routed["kind"] == "routed" and routed["data"]["outcome"] == "escalated"
    shown = ok(shown)
    assert shown["status"] == "applied"
    assert shown["decision"]["type"] == "approve"
    assert shown["decision"]["reviewer"] == "ana"


def test_reject_with_reason_closes_the_thread_without_paying(db: Path | str) -> None:
    rid = run_invoice(db, "inv-large", large_invoice("INV-2001", 30000.0))["pending"][0]

    outcome = ok(
        cli(
            db,
            "reject",
            "inv-large",
            "--reason",
            "no contract on file",
            "--reviewer",
            "carol",
            "--json",
        )
    )
    assert outcome["request_id"] == rid
    assert outcome["decision"] == "reject"
    assert outcome["applied"] is True
    values = outcome["thread"]["values"]
    assert outcome["thread"]["status"] == "done"
    assert values["status"] == "rejected"
    assert values["rejection_reason"] == "no contract on file"
    assert values.get("payment") is None

    assert request_row(db, rid)["status"] == "applied"
    assert payments(db) == []
    [(kind, reviewer, payload)] = query(db, "SELECT type, reviewer, payload FROM hitl_decisions")
    assert (kind, reviewer) == ("reject", "carol")
    assert json.loads(payload)["reason"] == "no contract on file"
    assert event_kinds(db, rid) == ["created", "decided", "applied"]


def _messy_edit(tmp_path: Path, how: str, args: dict[str, Any]) -> list[str]:
    if how == "set":
        return ["--set", "amount=900", "--set", "vendor=Acme GmbH"]
    edited = {**args, "amount": 900, "vendor": "Acme GmbH"}
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    return ["--args", f"@{path}"]


@pytest.mark.parametrize("how", ["set", "args"])
def test_modify_messy_invoice_pays_the_edited_values(
    tmp_path: Path, db: Path | str, how: str
) -> None:
    run = run_invoice(db, "inv-messy", example("messy"))
    assert run["status"] == "paused"
    assert len(run["values"]["problems"]) == 2
    rid = run["pending"][0]
    before = ok(cli(db, "show", rid, "--json"))
    assert before["tier"] == "high"

    edit = _messy_edit(tmp_path, how, before["action"]["args"])
    outcome = ok(cli(db, "modify", rid, *edit, "--reviewer", "dan", "--json"))
    assert outcome["decision"] == "modify"
    assert outcome["applied"] is True
    assert outcome["thread"]["status"] == "done"
    assert outcome["thread"]["values"]["status"] == "paid"
    assert outcome["thread"]["values"]["payment"] == {"invoice_id": "INV-1004", "amount": 900.0}

    assert payments(db) == [("INV-1004", "Acme GmbH", 900.0, "EUR", "inv-messy", "dan")]
    assert request_row(db, rid)["status"] == "applied"
    [(payload,)] = query(db, "SELECT payload FROM hitl_decisions WHERE request_id = ?", rid)
    decision = json.loads(payload)
    assert decision["type"] == "modify"
    assert decision["args"]["amount"] == 900
    assert decision["args"]["vendor"] == "Acme GmbH"
    # The digest binds the decision to what the reviewer was shown, not to the edit.
    assert decision["seen_digest"] == before["args_digest"]


def test_modify_that_leaves_a_problem_asks_again_then_pays(db: Path | str) -> None:
    first = run_invoice(db, "inv-messy", example("messy"))["pending"][0]

    outcome = ok(cli(db, "modify", first, "--set", "amount=900", "--json"))
    assert outcome["applied"] is True
    again = outcome["thread"]
    assert again["status"] == "paused"
    assert len(again["pending"]) == 1 and again["pending"][0] != first
    second = again["pending"][0]
    assert request_row(db, first)["status"] == "applied"
    assert payments(db) == []

    shown = ok(cli(db, "show", "inv-messy", "--json"))
    assert shown["request_id"] == second
    assert shown["action"]["args"]["amount"] == 900
    assert shown["action"]["args"]["vendor"] == "Hooli Partners"
    assert shown["reasons"] == ["after edit: vendor: 'Hooli Partners' is not in the vendor master"]

    outcome = ok(cli(db, "modify", "inv-messy", "--set", "vendor=Acme GmbH", "--json"))
    assert outcome["request_id"] == second
    assert outcome["thread"]["status"] == "done"
    assert payments(db) == [("INV-1004", "Acme GmbH", 900.0, "EUR", "inv-messy", "e2e-default")]
    assert [r[0] for r in query(db, "SELECT status FROM hitl_requests")] == ["applied"] * 2


def test_list_rows_order_and_filters(db: Path | str) -> None:
    high = run_invoice(db, "t-high", example("large"))["pending"][0]
    medium = run_invoice(db, "t-medium", medium_invoice())["pending"][0]

    results = cli_all(
        db,
        ["list", "--json"],
        ["list", "--gate", "approve_payment", "--json"],
        ["list", "--gate", "no_such_gate", "--json"],
        ["list", "--tier", "high", "--json"],
        ["list", "--tier", "medium", "--json"],
        ["list", "--tier", "low", "--json"],
        ["list", "--tier", "high", "--gate", "approve_payment", "--json"],
        ["list", "--limit", "1", "--json"],
    )
    listings = [ok(result) for result in results]
    everything, by_gate, no_gate, high_only, medium_only, low_only, both, limited = (
        listing["requests"] for listing in listings
    )
    # How many there are in all, and whether the rows were cut, with the rows.
    assert [(x["total"], x["shown"], x["truncated"]) for x in listings] == [
        (2, 2, False),
        (2, 2, False),
        (0, 0, False),
        (1, 1, False),
        (1, 1, False),
        (0, 0, False),
        (1, 1, False),
        (2, 1, True),
    ]
    assert listings[0]["limit"] == 200 and listings[-1]["limit"] == 1
    # Nearest deadline first: the medium tier's step is 4 h, the high tier's 8 h.
    assert [row["request_id"] for row in everything] == [medium, high]
    assert everything[0]["deadline"] < everything[1]["deadline"]
    for row in everything:
        assert set(row) >= ROW_KEYS, set(row)
        assert row["graph"] == "invoice"
        assert row["gate"] == "approve_payment"
        assert row["action"]["name"] == "pay_invoice"
        assert isinstance(row["action"]["args"], dict)
        assert isinstance(row["reasons"], list) and row["reasons"]
        assert isinstance(row["confidence"], float)
    second, first = everything
    assert first["thread_id"] == "t-high"
    assert first["tier"] == "high"
    assert first["summary"] == "Pay INV-1003: 52,000.00 USD to Initech LLC"
    assert first["reasons"] == [
        "amount 52,000.00 is over the 10,000.00 limit",
        "tier high always goes to a human",
    ]
    assert first["confidence"] == 0.975  # clean: 0.5 + 0.5 x OCR 0.95
    assert (first["required_role"], first["eligible_roles"]) == ("manager", ["manager"])
    span = datetime.fromisoformat(first["deadline"]) - datetime.fromisoformat(first["created_at"])
    assert span.total_seconds() == pytest.approx(8 * 3600)
    assert first["action"]["args"]["amount"] == 52000.0
    assert second["thread_id"] == "t-medium"
    assert second["tier"] == "medium"
    assert second["eligible_roles"] == ["senior", "manager"]
    assert (
        "totals: line items add up to 1,880.00, not 1,800.00 (tolerance 0.01)" in second["reasons"]
    )
    assert by_gate == everything
    assert no_gate == []
    assert [row["request_id"] for row in high_only] == [high]
    assert [row["request_id"] for row in medium_only] == [medium]
    assert low_only == []
    assert [row["request_id"] for row in both] == [high]
    assert [row["request_id"] for row in limited] == [medium]


# -- 2. autonomous and sampled work ---------------------------------------------------------------


def test_routine_pays_without_pause_and_blurry_is_queued_for_review(db: Path | str) -> None:
    run_invoice(db, "t-routine", "@examples/invoices/routine.json")
    blurry2 = {
        **example("blurry"),
        "invoice_id": "INV-2002",
        "vendor": "Acme GmbH",
        "currency": "EUR",
    }
    routine, blurry, other = map(
        ok,
        cli_all(
            db,
            ["thread", "t-routine", "--json"],
            run_args("t-blurry", example("blurry")),
            run_args("t-blurry-2", blurry2),
        ),
    )
    assert routine["status"] == "done" and routine["pending"] == []
    assert routine["values"]["status"] == "paid"
    assert routine["values"]["route"] == "autonomous"
    for status in (blurry, other):
        assert status["status"] == "done" and status["pending"] == []
        assert status["values"]["status"] == "paid"
        assert status["values"]["route"] == "review"
        assert status["values"]["review_id"].startswith("rev_")
    assert query(db, "SELECT COUNT(*) FROM hitl_requests") == [(0,)]
    assert [(p[0], p[2], p[4]) for p in payments(db)] == [
        ("INV-1001", 1250.0, "t-routine"),
        ("INV-1002", 640.0, "t-blurry"),
        ("INV-2002", 640.0, "t-blurry-2"),
    ]

    pending, listed_reviews = map(
        ok, cli_all(db, ["list", "--json"], ["list", "--review", "--json"])
    )
    assert pending["requests"] == [] and pending["total"] == 0
    assert (listed_reviews["total"], listed_reviews["truncated"]) == (2, False)
    reviews = listed_reviews["reviews"]
    assert {item["thread_id"]: item["review_id"] for item in reviews} == {
        "t-blurry": blurry["values"]["review_id"],
        "t-blurry-2": other["values"]["review_id"],
    }
    for item in reviews:
        assert item["status"] == "open"
        assert item["action"]["name"] == "pay_invoice"
        assert item["confidence"] == 0.86  # a clean invoice's confidence: 0.5 + 0.5 x OCR 0.72
    fine, wrong = blurry["values"]["review_id"], other["values"]["review_id"]

    closed_ok, closed_problem = map(
        ok,
        cli_all(
            db,
            ["review", fine, "--ok", "--reviewer", "eve", "--json"],
            ["review", wrong, "--problem", "PO belongs to Globex", "--reviewer", "eve", "--json"],
        ),
    )
    assert (closed_ok["status"], closed_ok["reviewer"], closed_ok["note"]) == ("ok", "eve", None)
    assert (closed_problem["status"], closed_problem["note"]) == ("problem", "PO belongs to Globex")

    again_ok, again_problem, other_way, unknown, both_flags, listed = cli_all(
        db,
        ["review", fine, "--ok"],
        ["review", wrong, "--problem", "still wrong"],
        ["review", fine, "--problem", "changed my mind"],
        ["review", "rev_000000000000", "--ok"],
        ["review", fine, "--ok", "--problem", "x"],
        ["list", "--review", "--json"],
    )
    refused(again_ok, 3, "already closed")
    refused(again_problem, 3, "already closed")
    refused(other_way, 3, "already closed")
    refused(unknown, 2, "rev_000000000000")
    refused(both_flags, 2, "--ok")
    assert ok(listed)["reviews"] == []
    assert query(db, "SELECT review_id, status, reviewer, note FROM hitl_reviews ORDER BY 2") == [
        (fine, "ok", "eve", None),
        (wrong, "problem", "eve", "PO belongs to Globex"),
    ]
    assert len(payments(db)) == 3


# -- 3. the same decision twice --------------------------------------------------------------------


def test_same_decision_twice_second_is_a_conflict(db: Path | str) -> None:
    rid = run_invoice(db, "inv-large", example("large"))["pending"][0]
    first = ok(cli(db, "approve", rid, "--reviewer", "ana", "--json"))
    assert first["applied"] is True and first["thread"]["status"] == "done"

    again, again_json, by_thread, reject, modify = cli_all(
        db,
        ["approve", rid, "--reviewer", "ana"],
        ["approve", rid, "--reviewer", "bob", "--json"],
        ["approve", "inv-large"],
        ["reject", rid, "--reason", "too late"],
        ["modify", rid, "--set", "amount=1"],
    )
    refused(again, 3, rid, "already decided", "approve by ana")
    refused(again_json, 3, "already decided")
    # A thread whose request was decided has nothing pending: a conflict (exit 3).
    refused(by_thread, 3, "no pending request", rid)
    refused(reject, 3, "already decided")
    refused(modify, 3)

    assert payments(db) == [("INV-1003", "Initech LLC", 52000.0, "USD", "inv-large", "ana")]
    assert query(db, "SELECT request_id, type FROM hitl_decisions") == [(rid, "approve")]
    kinds = event_kinds(db, rid)
    assert kinds[:3] == ["created", "decided", "applied"]
    assert kinds.count("decided") == 1 and kinds.count("applied") == 1
    assert_history_not_forked(db, "inv-large")


# -- 4. two deciders at the same moment ------------------------------------------------------------


def test_two_processes_deciding_at_once_one_wins(db: Path | str) -> None:
    # Ten races on SQLite; on PostgreSQL four (every pairing below: approve/approve,
    # approve/reject, each started first), which keep the cost of thirty CLI processes
    # from doubling. `tests/test_postgres.py` races four deciders on one request, too.
    count = 10 if backend_of(db) == "sqlite" else 4
    invoices = {
        f"race-{i}": large_invoice(f"INV-{3000 + i}", 20000.0 + 100 * i) for i in range(count)
    }
    threads = list(invoices)
    ok(cli(db, *run_args(threads[0], invoices[threads[0]])))
    ok_runs = [ok(r) for r in cli_all(db, *(run_args(t, invoices[t]) for t in threads[1:]))]
    assert all(run["status"] == "paused" for run in ok_runs)
    rids = {t: request_row_id(db, t) for t in threads}

    def pair(i: int, rid: str) -> list[tuple[str, str, list[str]]]:
        first = ("approve", f"a{i}", ["approve", rid, "--reviewer", f"a{i}", "--json"])
        if i % 2 == 0:
            second = ("approve", f"b{i}", ["approve", rid, "--reviewer", f"b{i}", "--json"])
        else:
            second = (
                "reject",
                f"b{i}",
                ["reject", rid, "--reason", "race", "--reviewer", f"b{i}", "--json"],
            )
        return [first, second] if i % 4 != 3 else [second, first]

    # Both deciders of a request are started before either is waited on; five
    # requests at a time, so that the pairs overlap too.
    outcomes: dict[str, list[tuple[str, str, Done]]] = {}
    for wave in (range(0, min(5, count)), range(5, count)):
        started = [
            (
                threads[i],
                [(kind, who, start(db, *args)) for kind, who, args in pair(i, rids[threads[i]])],
            )
            for i in wave
        ]
        for t, procs in started:
            outcomes[t] = [(kind, who, finish(proc)) for kind, who, proc in procs]

    approved = 0
    for t, results in outcomes.items():
        rid = rids[t]
        codes = sorted(result.returncode for _, _, result in results)
        assert codes == [0, 3], "\n".join(str(r) for _, _, r in results)
        [(kind, who, winner)] = [x for x in results if x[2].returncode == 0]
        [(_, _, loser)] = [x for x in results if x[2].returncode != 0]
        won = ok(winner)
        assert won["request_id"] == rid
        assert won["decision"] == kind
        assert won["applied"] is True
        assert won["thread"]["status"] == "done"
        refused(loser, 3, "already decided")

        assert query(db, "SELECT type, reviewer FROM hitl_decisions WHERE request_id = ?", rid) == [
            (kind, who)
        ]
        assert request_row(db, rid)["status"] == "applied"
        kinds = event_kinds(db, rid)
        assert sorted(kinds) == ["applied", "created", "decided", "refused"], kinds
        invoice = invoices[t]
        paid = query(
            db, "SELECT amount, thread_id FROM payments WHERE invoice_id = ?", invoice["invoice_id"]
        )
        if kind == "approve":
            approved += 1
            assert won["thread"]["values"]["status"] == "paid"
            assert paid == [(invoice["amount"], t)]
        else:
            assert won["thread"]["values"]["status"] == "rejected"
            assert paid == []
        assert_history_not_forked(db, t)
    assert approved >= count // 2  # every approve/approve pair pays
    assert len(payments(db)) == approved
    assert query(db, "SELECT COUNT(*) FROM hitl_decisions") == [(count,)]


def request_row_id(db: Path | str, thread_id: str) -> str:
    [(rid,)] = query(db, "SELECT request_id FROM hitl_requests WHERE thread_id = ?", thread_id)
    return str(rid)


# -- 5. bad input changes nothing ------------------------------------------------------------------


def _snapshot(db: Path | str, rid: str) -> dict[str, Any]:
    writes = "writes" if backend_of(db) == "sqlite" else "checkpoint_writes"  # LangGraph's
    return {
        "request": request_row(db, rid),
        "requests": query(db, "SELECT request_id, status FROM hitl_requests ORDER BY 1"),
        "decisions": query(db, "SELECT * FROM hitl_decisions"),
        "threads": query(db, "SELECT thread_id, graph, lease_owner FROM hitl_threads ORDER BY 1"),
        "checkpoints": query(db, "SELECT thread_id, checkpoint_id FROM checkpoints ORDER BY 1, 2"),
        "writes": query(db, f"SELECT COUNT(*) FROM {writes}"),
        "payments": payments(db),
        "reviews": query(db, "SELECT COUNT(*) FROM hitl_reviews"),
    }


def test_bad_input_exits_2_with_one_line_and_changes_nothing(
    tmp_path: Path, db: Path | str
) -> None:
    rid = run_invoice(db, "inv-large", example("large"))["pending"][0]
    missing = tmp_path / "missing.json"
    no_db = tmp_path / "no-such.sqlite"
    fresh_db = tmp_path / "fresh.sqlite"
    noise = tmp_path / "noise.sqlite"
    noise_bytes = bytes(range(256)) * 64
    noise.write_bytes(noise_bytes)
    empty_dir = tmp_path / "empty-dir"
    empty_dir.mkdir()
    before_show = ok(cli(db, "show", rid, "--json"))
    before_list = ok(cli(db, "list", "--json"))
    before = _snapshot(db, rid)

    cases: list[tuple[Path | str, list[str], int, tuple[str, ...]]] = [
        (db, ["run", "invoice", "--input", '{"invoice_id": ', "--thread", "inv-large"], 2,
         ("--input is not valid JSON",)),
        (db, ["run", "invoice", "--input", f"@{missing}", "--thread", "t-new"], 2,
         ("cannot read --input file", "missing.json")),
        (db, ["run", "invoice", "--input", "[1, 2]", "--thread", "t-new"], 2,
         ("JSON object",)),
        (db, ["run", "no_such_graph", "--input", "{}", "--thread", "t-new"], 2,
         ("no graph named 'no_such_graph'",)),
        (db, ["run", "tests/graphs/no_such_file.py:make_graph", "--input", "{}"], 2,
         ("no such file",)),
        (db, ["run", "graphs/invoice.py:no_such_attr", "--input", "{}"], 2,
         ("no attribute 'no_such_attr'",)),
        (db, ["approve", "req_000000000000"], 2, ("req_000000000000",)),
        (db, ["show", "req_000000000000", "--json"], 2, ("req_000000000000",)),
        (db, ["history", "req_000000000000", "--json"], 2, ("req_000000000000",)),
        (db, ["approve", "no-such-thread"], 2, ("no-such-thread",)),
        (db, ["reject", "req_000000000000", "--reason", "x"], 2, ("req_000000000000",)),
        (db, ["modify", rid, "--set", "amount=-5"], 2, ("amount",)),
        (db, ["modify", "inv-large", "--set", "amount=-5", "--json"], 2, ("amount",)),
        (db, ["modify", rid, "--set", "currency=usd"], 2, ("currency",)),
        (db, ["modify", rid, "--set", "line_items.7=2"], 2, ("no item",)),
        (db, ["modify", rid, "--set", "vendor"], 2, ("KEY=VALUE",)),
        (db, ["modify", rid, "--set", "amount=900", "--args", "{}"], 2, ("either --set",)),
        (db, ["modify", rid], 2, ("either --set",)),
        (db, ["modify", rid, "--args", '{"amount": 5'], 2, ("--args is not valid JSON",)),
        (db, ["modify", rid, "--args", "[5]"], 2, ("--args must be a JSON object",)),
        (db, ["modify", rid, "--args", f"@{missing}"], 2, ("cannot read --args file",)),
        (db, ["modify", rid, "--args", '{"invoice_id": "INV-1003"}'], 2, ("edited",)),
        (db, ["reject", rid, "--reason", "   "], 2, ("--reason",)),
        (db, ["resume"], 2, ("--all",)),
        (db, ["run", "invoice", "--input", "@examples/invoices/large.json", "--thread",
              "inv-large"], 3, ("paused", rid)),
    ]  # fmt: skip
    # Files that are not the database: SQLite's alone (`tests/test_postgres.py` has a
    # PostgreSQL URL that names no database).
    files: list[tuple[Path | str, list[str], int, tuple[str, ...]]] = [
        (fresh_db, ["run", "no_such_graph", "--input", "{}"], 2, ("no graph named",)),
        (no_db, ["list", "--json"], 2, ("no database", str(no_db))),
        (no_db, ["approve", rid], 2, ("no database",)),
        (noise, ["list", "--json"], 2, (str(noise),)),
        (noise, ["show", rid, "--json"], 2, (str(noise),)),
        (empty_dir, ["list", "--json"], 2, (str(empty_dir),)),
    ]  # fmt: skip
    if backend_of(db) == "sqlite":
        cases += files
    procs = [start(path, *args) for path, args, _, _ in cases]
    # `reject` without `--reason` is a usage error: still one line, exit 2.
    usage = start(db, "reject", rid)
    for proc, (_, _, code, needles) in zip(procs, cases, strict=True):
        refused(finish(proc), code, *needles)
    refused(finish(usage), 2, "Missing option '--reason'")

    assert not no_db.exists()
    assert not fresh_db.exists()
    assert noise.read_bytes() == noise_bytes
    assert list(empty_dir.iterdir()) == []
    assert _snapshot(db, rid) == before
    after_show, after_list, thread = map(
        ok,
        cli_all(db, ["show", rid, "--json"], ["list", "--json"], ["thread", "inv-large", "--json"]),
    )
    assert after_show == before_show
    assert after_list == before_list
    assert thread["status"] == "paused" and thread["pending"] == [rid]

    # Nothing jammed: the same request still takes a good decision.
    outcome = ok(cli(db, "approve", rid, "--json"))
    assert outcome["thread"]["values"]["status"] == "paid"
    assert len(payments(db)) == 1


def test_thread_that_never_paused_has_nothing_to_decide(db: Path | str) -> None:
    run_invoice(db, "t-routine", example("routine"))
    result = cli(db, "approve", "t-routine")
    # The thread exists but never had a request: nothing pending is a conflict (3).
    refused(result, 3, "t-routine", "never paused")
    assert len(payments(db)) == 1


def test_graph_moved_after_pausing_is_caught_before_recording_and_graph_option_recovers(
    tmp_path: Path, db: Path
) -> None:
    """A graph file that moved is found out before the decision is recorded (nothing is
    stranded); --graph then points at where it went."""
    moved = tmp_path / "gated_pay.py"
    source = REPO / GATED_PAY.rpartition(":")[0]
    moved.write_text(source.read_text())
    (tmp_path / "_pay_common.py").write_text((source.parent / "_pay_common.py").read_text())
    data = {"item_id": "M-1", "amount": 3.0}
    status = ok(cli(db, *run_args("g-moved", data, graph=f"{moved}:make_graph")))
    [rid] = status["pending"]
    moved.rename(tmp_path / "elsewhere.py")

    failed = refused(cli(db, "approve", rid, "--reviewer", "ana"), 2, "no such file")
    assert "elsewhere" not in failed
    assert request_row(db, rid)["status"] == "pending"
    assert event_kinds(db, rid) == ["created"]

    graph = f"{tmp_path / 'elsewhere.py'}:make_graph"
    applied = ok(cli(db, "--graph", graph, "approve", rid, "--reviewer", "ana", "--json"))
    assert applied["thread"]["status"] == "done"
    assert request_row(db, rid)["status"] == "applied"
    assert paid(db) == [("M-1", 3.0, "g-moved")]


# -- 6. a process killed between recording and applying a decision --------------------------------


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    finish(proc)  # reaped: a zombie would still look alive to the lease check
    assert proc.returncode == -signal.SIGKILL


def paid(db: Path | str) -> list[tuple[Any, ...]]:
    return query(db, "SELECT item_id, amount, thread_id FROM paid")


def attempts(db: Path | str) -> int:
    return int(query(db, "SELECT COUNT(*) FROM pay_attempts")[0][0])


def run_gated(db: Path | str, thread: str, item_id: str, amount: float) -> str:
    data = {"item_id": item_id, "amount": amount}
    status = ok(cli(db, *run_args(thread, data, graph=GATED_PAY)))
    assert status["status"] == "paused"
    [rid] = status["pending"]
    return str(rid)


@pytest.mark.parametrize(
    ("decide", "amount"),
    [(["approve", "--reviewer", "ana"], 12.5), (["modify", "--set", "amount=7.5"], 7.5)],
    ids=["approve", "modify"],
)
def test_killed_after_recording_before_applying_resume_all_applies_once(
    db: Path | str, fifos: Fifos, decide: list[str], amount: float
) -> None:
    rid = run_gated(db, "g-1", "A-1", 12.5)
    assert attempts(db) == 0

    # The desk records the decision, then resumes the thread: it stops as the gate runs
    # again, before LangGraph has taken the answer.
    proc = start(db, decide[0], rid, *decide[1:], "--json", env=fifos.env("gate"))
    assert fifos.wait_ready(proc).startswith("gate ")
    row = request_row(db, rid)
    assert row["status"] == "decided"
    kill(proc)

    assert request_row(db, rid)["status"] == "decided"
    assert paid(db) == [] and attempts(db) == 0
    listed = ok(cli(db, "list", "--json"))["requests"]
    assert listed == []  # decided is no longer pending, even though not yet applied

    resumed = ok(cli(db, "resume", "--all", "--json"))
    assert [(s["thread_id"], s["status"], s["pending"]) for s in resumed] == [("g-1", "done", [])]
    assert resumed[0]["values"]["status"] == "paid"
    assert request_row(db, rid)["status"] == "applied"
    assert paid(db) == [("A-1", amount, "g-1")]
    assert attempts(db) == 1

    again, decide_again = cli_all(db, ["resume", "--all", "--json"], [decide[0], rid, *decide[1:]])
    assert ok(again) == []
    refused(decide_again, 3, "already decided")
    assert paid(db) == [("A-1", amount, "g-1")]
    assert attempts(db) == 1
    kinds = event_kinds(db, rid)
    assert kinds.count("decided") == 1 and kinds.count("applied") == 1
    assert_history_not_forked(db, "g-1")


@pytest.mark.parametrize("point", ["pay-before", "pay-after"])
def test_killed_inside_the_action_resume_finishes_it_at_most_once(
    db: Path | str, fifos: Fifos, point: str
) -> None:
    rid = run_gated(db, "g-2", "B-2", 40.0)

    proc = start(db, "approve", rid, "--json", env=fifos.env(point))
    assert fifos.wait_ready(proc).startswith(f"{point} ")
    row = request_row(db, rid)
    assert row["status"] == "decided"
    assert row["apply_started_at"] is not None
    assert attempts(db) == 1
    assert paid(db) == ([] if point == "pay-before" else [("B-2", 40.0, "g-2")])
    kill(proc)
    assert request_row(db, rid)["status"] == "decided"

    resumed = ok(cli(db, "resume", rid, "--json"))
    assert [(s["thread_id"], s["status"], s["pending"]) for s in resumed] == [("g-2", "done", [])]
    assert resumed[0]["values"]["status"] == "paid"
    assert request_row(db, rid)["status"] == "applied"
    assert paid(db) == [("B-2", 40.0, "g-2")]
    assert attempts(db) == 2  # the node ran again; its insert is idempotent

    again, thread = cli_all(db, ["resume", "--all", "--json"], ["thread", "g-2", "--json"])
    assert ok(again) == []
    thread = ok(thread)
    assert thread["status"] == "done" and thread["values"]["status"] == "paid"
    assert paid(db) == [("B-2", 40.0, "g-2")]
    assert attempts(db) == 2
    kinds = event_kinds(db, rid)
    assert kinds.count("decided") == 1 and kinds.count("applied") == 1
