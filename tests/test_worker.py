"""Record here, apply there: reviewers record with `--no-apply`, workers apply.

Real `langgraph-hitl` processes on a real SQLite file and on a real PostgreSQL database (the
`database` fixture): a reviewer's process that only records imports neither LangGraph nor
the graph; `worker` processes apply each recorded decision once, two at a time or killed
midway; `approve --wait` reads the worker's outcome back from the ledger; a deployment
can make recording the default.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from processes import REPO, Fifos, cli_env, finish, one_line_error, query, start_cli, track

TIERED = "tests/graphs/tiered_pay.py:make_graph"


FAULT = "tests/graphs/fault_pay.py:make_graph"


def cli(
    db: Path | str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return finish(
        start_cli(db, *args, env={"LANGGRAPH_HITL_REVIEWER": "worker-test", **(env or {})})
    )


def pause(db: Path | str, item: str, graph: str = TIERED, tier: str = "high") -> str:
    data = json.dumps({"item_id": item, "amount": 50.0, "tier": tier})
    done = cli(db, "run", graph, "--input", data, "--thread", item, "--json")
    assert done.returncode == 0, done
    [rid] = json.loads(done.stdout)["pending"]
    return str(rid)


def paid(db: Path | str) -> list[tuple[str, ...]]:
    return query(db, "SELECT item_id FROM paid ORDER BY item_id")


def test_a_reviewer_records_without_langgraph_and_a_worker_applies(database: Path | str) -> None:
    rid = pause(database, "w-1")
    # The reviewer's process: the CLI's own `main`, with a check at exit of what it loaded.
    script = (
        "import atexit, sys\n"
        "def loaded():\n"
        "    names = [m for m in sys.modules if m == 'langgraph' or m.startswith('langgraph.')]\n"
        "    print('LANGGRAPH', len(names), 'tiered_pay' in str(sys.modules), file=sys.stderr)\n"
        "atexit.register(loaded)\n"
        "from langgraph_hitl.cli import main\n"
        f"sys.argv = ['langgraph-hitl', '--db', {str(database)!r}, 'approve', {rid!r},"
        " '--no-apply', '--reviewer', 'ana']\n"
        "main()\n"
    )
    recorded = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=cli_env(),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded
    assert "approve recorded; a worker applies it" in recorded.stdout
    assert recorded.stderr.splitlines()[-1] == "LANGGRAPH 0 False"
    assert paid(database) == []
    listed = json.loads(cli(database, "list", "--json").stdout)
    assert [row["request_id"] for row in listed["unapplied"]] == [rid]

    worked = cli(database, "worker", "--once", "--json")
    assert worked.returncode == 0, worked
    assert [json.loads(line) for line in worked.stdout.splitlines()] == [
        {"thread_id": "w-1", "result": "applied", "status": "done", "error": None}
    ]
    assert paid(database) == [("w-1",)]
    history = json.loads(cli(database, "history", rid, "--json").stdout)
    [applied] = [e for e in history if e["kind"] == "applied"]
    assert applied["data"]["decided_by"] == "ana" and applied["actor"] != "ana"
    assert cli(database, "worker", "--once").stdout.strip() == "nothing to apply"


def test_two_workers_at_once_apply_each_decision_once(database: Path | str) -> None:
    rids = [pause(database, f"w-{n}") for n in range(6)]
    for rid in rids:
        assert cli(database, "approve", rid, "--no-apply", "--reviewer", "ana").returncode == 0
    workers = [start_cli(database, "worker", "--once", "--json") for _ in range(2)]
    results = [finish(proc) for proc in workers]
    assert all(done.returncode == 0 for done in results), results
    items = [json.loads(line) for done in results for line in done.stdout.splitlines()]
    applied = [item["thread_id"] for item in items if item["result"] == "applied"]
    assert sorted(applied) == sorted(f"w-{n}" for n in range(6))  # each by one worker
    assert paid(database) == [(f"w-{n}",) for n in range(6)]
    assert query(database, "SELECT COUNT(*) FROM pay_attempts") == [(6,)]
    kinds = query(database, "SELECT COUNT(*) FROM hitl_events WHERE kind = 'applied'")
    assert kinds == [(6,)]


def test_approve_wait_reads_the_workers_outcome(database: Path | str) -> None:
    rid = pause(database, "w-wait")
    worker = track(
        subprocess.Popen(
            [sys.executable, "-m", "langgraph_hitl", "--db", str(database), "worker",
             "--interval", "0.05"],
            cwd=REPO, env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
    )  # fmt: skip
    try:
        done = cli(database, "approve", rid, "--wait", "60", "--reviewer", "ana", "--json")
    finally:
        worker.send_signal(signal.SIGINT)
        stopped = finish(worker)
    assert done.returncode == 0, done
    report = json.loads(done.stdout)
    assert (report["status"], report["applied"], report["outcome"]) == ("applied", True, "done")
    assert stopped.returncode == 0, stopped
    assert paid(database) == [("w-wait",)]


def test_approve_wait_with_no_worker_says_so(database: Path | str) -> None:
    rid = pause(database, "w-none")
    done = cli(database, "approve", rid, "--wait", "0", "--reviewer", "ana")
    assert "is a worker running" in one_line_error(done, 1)
    # Recorded all the same: the next worker applies it.
    assert query(database, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [
        ("decided",)
    ]


def test_a_deployment_can_make_recording_the_default(database: Path | str, tmp_path: Path) -> None:
    rid = pause(database, "w-conf")
    config = tmp_path / "deploy.toml"
    config.write_text('[deciding]\napply = "worker"\n')
    env = {"LANGGRAPH_HITL_CONFIG": str(config)}
    done = cli(database, "reject", rid, "--reason", "dup", "--reviewer", "ana", env=env)
    assert done.returncode == 0 and "a worker applies it" in done.stdout, done
    assert cli(database, "worker", "--once").returncode == 0
    assert query(database, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [
        ("applied",)
    ]
    config.write_text('[deciding]\napply = "elsewhere"\n')
    other = pause(database, "w-conf2")
    bad = cli(database, "approve", other, "--reviewer", "ana", env=env)
    assert '[deciding] apply must be "here" or "worker"' in one_line_error(bad, 2)
    assert query(database, "SELECT status FROM hitl_requests WHERE request_id = ?", other) == [
        ("pending",)
    ]


def test_a_failing_apply_is_kept_and_retried(database: Path | str) -> None:
    rid = pause(database, "w-fail")
    assert cli(database, "reject", rid, "--reason", "no", "--no-apply").returncode == 0
    down = {"TIERED_REFUSE_FAILS": "1"}
    failed = cli(database, "worker", "--once", env=down)
    assert failed.returncode == 1
    assert "failed, kept for the next round" in failed.stdout
    assert "rejection notice service is down" in failed.stdout
    listed = json.loads(cli(database, "list", "--json").stdout)
    assert "service is down" in listed["unapplied"][0]["apply_error"]
    assert cli(database, "worker", "--once").returncode == 0
    assert query(database, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [
        ("applied",)
    ]


def test_a_sweeps_timeout_decision_is_applied_by_a_worker(database: Path | str) -> None:
    data = json.dumps({"item_id": "w-late", "amount": 50.0, "tier": "high"})
    env = {"TIERED_DEADLINE_S": "0.001"}
    ran = cli(database, "run", TIERED, "--input", data, "--thread", "w-late", "--json", env=env)
    [rid] = json.loads(ran.stdout)["pending"]
    swept = cli(database, "sweep", "--no-apply", "--json")
    assert [step["step"] for step in json.loads(swept.stdout)] == ["timed_out"], swept
    assert cli(database, "worker", "--once").returncode == 0
    assert query(database, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [
        ("applied",)
    ]
    assert paid(database) == []  # the end of the chain rejects


def test_a_worker_killed_midway_is_taken_over(database: Path | str, fifos: Fifos) -> None:
    """SIGKILL a worker inside `pay`; the next worker takes the dead one's lease and
    finishes the thread: paid once."""
    rid = pause(database, "w-kill", graph=FAULT)
    assert cli(database, "approve", rid, "--no-apply", "--reviewer", "ana").returncode == 0
    first = start_cli(database, "worker", "--once", env=fifos.env("pay-before"))
    assert fifos.wait_ready(first).startswith("pay-before ")
    first.send_signal(signal.SIGKILL)
    finish(first)
    second = cli(database, "worker", "--once", "--json")
    assert second.returncode == 0, second
    assert json.loads(second.stdout.splitlines()[0])["result"] == "applied"
    assert query(database, "SELECT item_id FROM paid") == [("w-kill",)]
    assert query(database, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [
        ("applied",)
    ]


@pytest.mark.parametrize("command", ["approve", "reject", "modify", "respond"])
def test_every_deciding_command_takes_no_apply(database: Path | str, command: str) -> None:
    assert "--no-apply" in cli(database, command, "--help").stdout
    assert "--wait" in cli(database, command, "--help").stdout


def test_batch_records_and_a_worker_applies(database: Path | str) -> None:
    for n in range(3):
        pause(database, f"b-{n}")
    done = cli(database, "batch", "approve", "1", "--no-apply", "--reviewer", "ana", "--json")
    assert done.returncode == 0, done
    assert {item["result"] for item in json.loads(done.stdout)["items"]} == {"recorded"}
    assert paid(database) == []
    assert cli(database, "worker", "--once").returncode == 0
    assert paid(database) == [(f"b-{n}",) for n in range(3)]
