"""The whole path on PostgreSQL: real `langgraph-hitl` processes against a real server.

The invoice graph runs, pauses, is decided from other processes and pays exactly once
into PostgreSQL with the same commands as on SQLite; racing deciders get one winner;
workers apply what reviewers record with `--no-apply`, once each, and ride out a server
restart; the audit chain verifies; a bad URL is one line with the password hidden; and
the same work gives the same metrics on both backends.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from postgres import PostgresServer
from processes import REPO, finish, one_line_error, start_cli
from test_ledger import new_request

from langgraph_hitl import ReviewLedger
from langgraph_hitl.ledger.store.postgres import POOL_SIZE

INVOICES = REPO / "examples" / "invoices"


def cli(db: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
    return finish(start_cli(db, *args, env={"LANGGRAPH_HITL_REVIEWER": "pg-test"}))


def rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def pause(db: str | Path, sample: str, thread: str, **changes: Any) -> str:
    invoice = {**json.loads((INVOICES / f"{sample}.json").read_text()), **changes}
    done = cli(db, "run", "invoice", "--input", json.dumps(invoice), "--thread", thread, "--json")
    assert done.returncode == 0, done
    [request_id] = json.loads(done.stdout)["pending"]
    return str(request_id)


def test_the_invoice_graph_pauses_is_decided_elsewhere_and_pays_once(postgres_dsn: str) -> None:
    approve = pause(postgres_dsn, "large", "pg-approve")
    # Other orders of the same amount, under their own purchase orders: no duplicates.
    reject = pause(postgres_dsn, "large", "pg-reject", invoice_id="INV-2001", po_number="PO-2001")
    modify = pause(postgres_dsn, "large", "pg-modify", invoice_id="INV-2002", po_number="PO-2002")

    listed = json.loads(cli(postgres_dsn, "list", "--json").stdout)
    assert {item["request_id"] for item in listed["requests"]} == {approve, reject, modify}

    assert cli(postgres_dsn, "approve", approve, "--reviewer", "mia").returncode == 0
    assert (
        cli(postgres_dsn, "reject", reject, "--reviewer", "mia", "--reason", "dup").returncode == 0
    )
    show = json.loads(cli(postgres_dsn, "show", modify, "--json").stdout)
    edited = {**show["request"]["action"]["args"], "amount": 26_000.0}
    edited["line_items"] = [{"description": "Half", "quantity": 1, "unit_price": 26_000.0}]
    done = cli(postgres_dsn, "modify", modify, "--args", json.dumps(edited), "--reviewer", "mia")
    assert done.returncode == 0, done

    statuses = {
        thread: json.loads(cli(postgres_dsn, "thread", thread, "--json").stdout)["status"]
        for thread in ("pg-approve", "pg-reject", "pg-modify")
    }
    assert statuses == {"pg-approve": "done", "pg-reject": "done", "pg-modify": "done"}
    paid = rows(postgres_dsn, "SELECT invoice_id, amount FROM payments ORDER BY invoice_id")
    assert paid == [("INV-1003", 52_000.0), ("INV-2002", 26_000.0)]

    # Deciding again is refused, and nothing is paid twice.
    again = cli(postgres_dsn, "approve", approve, "--reviewer", "ana")
    assert "already" in one_line_error(again, 3)
    assert len(rows(postgres_dsn, "SELECT 1 FROM payments")) == 2

    verified = cli(postgres_dsn, "audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified
    assert cli(postgres_dsn, "doctor").returncode == 0


def test_racing_deciders_get_one_winner(postgres_dsn: str) -> None:
    request_id = pause(postgres_dsn, "large", "pg-race")
    racers = [
        start_cli(postgres_dsn, kind, request_id, "--reviewer", f"r{n}", *extra)
        for n, (kind, extra) in enumerate([("approve", ()), ("reject", ("--reason", "no"))] * 3)
    ]
    done = [finish(proc) for proc in racers]
    assert sorted(d.returncode for d in done) == [0, 3, 3, 3, 3, 3], done
    decided = rows(
        postgres_dsn,
        "SELECT COUNT(*) FROM hitl_events WHERE kind = 'decided' AND request_id = %s",
        request_id,
    )
    assert decided == [(1,)]
    assert len(rows(postgres_dsn, "SELECT 1 FROM payments")) <= 1


def test_workers_apply_what_reviewers_record_once_each(
    postgres_dsn: str, postgres_server: PostgresServer
) -> None:
    requests = [
        pause(postgres_dsn, "large", f"pg-w{n}", invoice_id=f"INV-30{n:02d}", po_number=f"PO-{n}")
        for n in range(6)
    ]
    for request_id in requests:
        recorded = cli(postgres_dsn, "approve", request_id, "--no-apply", "--reviewer", "mia")
        assert recorded.returncode == 0, recorded
        assert "recorded" in recorded.stdout
    assert rows(postgres_dsn, "SELECT COUNT(*) FROM payments") == [(0,)]

    # A restart cuts every connection; workers started after it find all the work.
    postgres_server.restart()
    workers = [start_cli(postgres_dsn, "worker", "--once", "--json") for _ in range(2)]
    reports = [finish(proc) for proc in workers]
    assert all(report.returncode == 0 for report in reports), reports
    applied = [
        item["thread_id"]
        for report in reports
        for item in map(json.loads, report.stdout.splitlines())
        if item["result"] == "applied"
    ]
    assert sorted(applied) == sorted(f"pg-w{n}" for n in range(6))
    assert rows(postgres_dsn, "SELECT COUNT(*), COUNT(DISTINCT invoice_id) FROM payments") == [
        (6, 6)
    ]
    events = rows(postgres_dsn, "SELECT COUNT(*) FROM hitl_events WHERE kind = 'applied'")
    assert events == [(6,)]
    assert cli(postgres_dsn, "audit", "verify").returncode == 0


def test_a_long_running_worker_is_woken_by_a_recorded_decision(postgres_dsn: str) -> None:
    request_id = pause(postgres_dsn, "large", "pg-listen")
    # An interval far beyond any test's patience: only the notification can wake it soon.
    worker = start_cli(postgres_dsn, "worker", "--interval", "3600", "--json")
    assert worker.stdout is not None
    try:
        recorded = cli(postgres_dsn, "approve", request_id, "--no-apply", "--reviewer", "mia")
        assert recorded.returncode == 0, recorded
        line = json.loads(worker.stdout.readline())
        assert line == {
            "thread_id": "pg-listen",
            "result": "applied",
            "status": "done",
            "error": None,
        }
    finally:
        worker.terminate()
        finish(worker)
    assert rows(postgres_dsn, "SELECT COUNT(*) FROM payments") == [(1,)]


def test_a_bad_database_url_is_one_line_with_the_password_hidden(postgres_dsn: str) -> None:
    unreachable = "postgresql://ana:s3cret@127.0.0.1:1/hitl"
    line = one_line_error(cli(unreachable, "list"), 2)
    assert "s3cret" not in line and "ana:***@127.0.0.1:1/hitl" in line
    missing = postgres_dsn.rsplit("/", 1)[0] + "/no_such_database"
    assert "no_such_database" in one_line_error(cli(missing, "list"), 2)


def test_the_same_work_gives_the_same_figures_on_both_backends(
    postgres_dsn: str, hitl_db: Path
) -> None:
    def work(db: str | Path) -> dict[str, Any]:
        ids = [pause(db, sample, f"same-{sample}") for sample in ("large", "huge", "typo", "messy")]
        assert cli(db, "approve", ids[0], "--reviewer", "mia").returncode == 0
        assert cli(db, "reject", ids[2], "--reviewer", "mia", "--reason", "typo").returncode == 0
        overall = json.loads(cli(db, "metrics", "--json").stdout)["overall"]
        listed = json.loads(cli(db, "list", "--json").stdout)
        queue, outcomes = overall["queue"], overall["outcomes"]
        return {
            "escalation": overall["escalation"],
            "decisions": {k: overall["decisions"][k] for k in ("decided", "by_type", "precision")},
            "recall": overall["recall"],
            "queue": [queue["depth"], queue["arrived"], queue["left"]],
            "outcomes": [outcomes["finished"], outcomes["succeeded"], outcomes["with_human"]],
            "pending": sorted(item["summary"] for item in listed["requests"]),
        }

    assert work(postgres_dsn) == work(hitl_db)


def test_the_invoice_graph_holds_a_duplicate_on_postgresql(postgres_dsn: str) -> None:
    """The register of invoices seen lives in the database too: a copy is held."""
    pause(postgres_dsn, "large", "pg-d1")
    copy = pause(postgres_dsn, "large", "pg-d2", invoice_id="INV 1003")
    shown = json.loads(cli(postgres_dsn, "show", copy, "--json").stdout)
    assert shown["request"]["problems"][0] == (
        "duplicate: INV 1003 is INV-1003 from Initech LLC, still pending in thread pg-d1"
    )
    assert rows(postgres_dsn, "SELECT thread_id, status FROM invoice_register ORDER BY 1") == [
        ("pg-d1", "pending"),
        ("pg-d2", "pending"),
    ]


def test_doctor_records_a_pause_the_ledger_missed_and_prune_runs(postgres_dsn: str) -> None:
    request_id = pause(postgres_dsn, "large", "pg-doctor")
    # As if the server went away between LangGraph's write and the ledger's mirror of it.
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM hitl_requests WHERE thread_id = 'pg-doctor'")
    assert json.loads(cli(postgres_dsn, "list", "--json").stdout)["requests"] == []
    repaired = json.loads(cli(postgres_dsn, "doctor", "--json").stdout)
    assert [f["kind"] for f in repaired["findings"]] == ["missing_request"]
    listed = json.loads(cli(postgres_dsn, "list", "--json").stdout)["requests"]
    assert [item["request_id"] for item in listed] == [request_id]

    kept = json.loads(cli(postgres_dsn, "prune", "--older-than", "1h", "--json").stdout)
    assert kept["pruned"] == [] and kept["kept"] == {"waiting on a human": 1}
    assert kept["file_bytes_before"] > 0


def _backend_pid(ledger: ReviewLedger) -> int:
    return int(ledger.read("SELECT pg_backend_pid()")[0][0])


def test_a_long_lived_process_reuses_pooled_connections_across_a_restart(
    postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    """A desk or worker opens the ledger again and again: pooled opens, one after the
    other, share the pool's few connections instead of opening one each (a plain open gets its
    own); after the server restarts, the next pooled open works on a new connection, and
    nothing was lost."""
    with ReviewLedger.open(postgres_dsn, create=True, pooled=True) as first:
        rid = new_request(first)
    pids: set[int] = set()
    for _ in range(20):
        with ReviewLedger.open(postgres_dsn, pooled=True) as again:
            pids.add(_backend_pid(again))
    assert 1 <= len(pids) <= POOL_SIZE  # plain opens would have made 20
    with ReviewLedger.open(postgres_dsn) as plain:
        assert _backend_pid(plain) not in pids
    postgres_server.restart()
    with ReviewLedger.open(postgres_dsn, pooled=True) as after:
        assert _backend_pid(after) not in pids
        assert after.get(rid).status == "pending"
