"""A team on one PostgreSQL database: apps pause, reviewers record, workers apply.

App processes pause invoices, reviewer processes record decisions (`ReviewDesk.decide`
with `apply=False`, and `batch approve --no-apply`), `langgraph-hitl worker` processes
apply them; workers are SIGKILLed as the work goes on (and replaced), and the server is
restarted once mid-run. At the end: every thread finished, every request applied once,
every approved invoice paid once and no rejected one, and the audit chain intact.

`make test` runs it with `$HITL_TEAM_REQUESTS` requests (default 120); `make team` runs
the full size (2,000 requests, 8 workers, 4 reviewers) and prints the counts. Progress is
read from the ledger, never from a clock: the run fails only when nothing moves for
`STALL_POLLS` polls in a row.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from postgres import PostgresServer
from processes import REPO, cli_env, finish, track

WORKERS = int(os.environ.get("HITL_TEAM_WORKERS", "8"))
REVIEWERS = int(os.environ.get("HITL_TEAM_REVIEWERS", "4"))
REQUESTS = int(os.environ.get("HITL_TEAM_REQUESTS", "120"))
APPS = 2
TEAM_ENV = {"LANGGRAPH_HITL_LEASE_S": "10"}
"""A lease a restart kept from being given back expires in 10 s, not the default 60."""
POLL_S = 0.5
STALL_POLLS = 360  # three minutes with nothing decided or applied: something is stuck
KILL_AT = (0.1, 0.3, 0.45, 0.65, 0.8)  # shares of the requests applied
RESTART_AT = 0.5


def start(argv: list[str], log: Path) -> subprocess.Popen[str]:
    """A process whose output goes to a file (a full pipe would stall it)."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, cwd=REPO, env=cli_env(TEAM_ENV), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    return track(proc)


def script(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "tests" / "team.py"), *args]


def worker(dsn: str) -> list[str]:
    return [sys.executable, "-m", "langgraph_hitl", "--db", dsn, "worker", "--json"]


def counts(dsn: str) -> tuple[int, int, int]:
    """Threads with a decision, threads applied, requests pending."""
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT COUNT(DISTINCT thread_id) FILTER (WHERE status IN ('decided', 'applied')),"
            " COUNT(DISTINCT thread_id) FILTER (WHERE status = 'applied'),"
            " COUNT(*) FILTER (WHERE status = 'pending') FROM hitl_requests"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def run_team(server: PostgresServer, dsn: str, logs: Path) -> dict[str, Any]:
    rng = random.Random(20261126)
    share = -(-REQUESTS // APPS)
    apps = [
        start(script("app", dsn, str(i * share), str(min(share, REQUESTS - i * share))),
              logs / f"app{i}.log")
        for i in range(APPS)
    ]  # fmt: skip
    reviewers = [
        start(script("reviewer", dsn, str(seed), str(REQUESTS), "batch" if seed == 0 else "api"),
              logs / f"reviewer{seed}.log")
        for seed in range(REVIEWERS)
    ]  # fmt: skip
    workers = [start(worker(dsn), logs / f"worker{i}.log") for i in range(WORKERS)]
    kills: list[float] = []
    restarted = False
    last, still = (-1, -1, -1), 0
    while True:
        try:
            now = counts(dsn)
        except psycopg.Error:
            now = last  # mid-restart
        applied = now[1]
        if applied >= REQUESTS and all(p.poll() is not None for p in apps + reviewers):
            break
        for mark in KILL_AT:
            if mark not in kills and applied >= mark * REQUESTS:
                kills.append(mark)
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                workers[victim] = start(worker(dsn), logs / f"worker-r{len(kills)}.log")
        if not restarted and applied >= RESTART_AT * REQUESTS:
            server.restart()
            restarted = True
        for proc in apps + reviewers:
            assert proc.poll() in (None, 0), (proc.args, (logs / "..").resolve())
        still = still + 1 if now == last else 0
        if still >= STALL_POLLS:
            stuck = rows(dsn, "SELECT status, COUNT(*) FROM hitl_requests GROUP BY status")
            known = {r[0] for r in rows(dsn, "SELECT DISTINCT thread_id FROM hitl_requests")}
            never = sorted({f"team-{n}" for n in range(REQUESTS)} - known)
            raise AssertionError(
                f"no progress at {now} of {REQUESTS} ({stuck}; never paused: {never});"
                f" logs in {logs}"
            )
        last = now
        time.sleep(POLL_S)  # a poll of the ledger's progress, not a wait for an event
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    for proc in workers:
        finish(proc)
    reports = [
        json.loads((logs / f"{name}.log").read_text().splitlines()[-1])
        for name in [f"app{i}" for i in range(APPS)] + [f"reviewer{i}" for i in range(REVIEWERS)]
    ]
    return {"kills": len(kills), "restarted": restarted, "reports": reports}


def test_a_team_on_one_database_loses_nothing_and_does_nothing_twice(
    postgres_server: PostgresServer, postgres_dsn: str, tmp_path: Path
) -> None:
    team = run_team(postgres_server, postgres_dsn, tmp_path)
    dsn = postgres_dsn
    assert team["kills"] == len(KILL_AT) and team["restarted"]
    assert sum(r.get("batch", 0) for r in team["reports"]) > 0  # batch --no-apply took part

    threads = rows(dsn, "SELECT COUNT(DISTINCT thread_id) FROM hitl_requests")[0][0]
    by_status = dict(rows(dsn, "SELECT status, COUNT(*) FROM hitl_requests GROUP BY status"))
    by_type = dict(rows(dsn, "SELECT type, COUNT(*) FROM hitl_decisions GROUP BY type"))
    applied_twice = rows(
        dsn,
        "SELECT request_id FROM hitl_events WHERE kind = 'applied'"
        " GROUP BY request_id HAVING COUNT(*) > 1",
    )
    applied_events = rows(dsn, "SELECT COUNT(*) FROM hitl_events WHERE kind = 'applied'")[0][0]
    payments, invoices = rows(dsn, "SELECT COUNT(*), COUNT(DISTINCT invoice_id) FROM payments")[0]
    paid_rejected = rows(
        dsn,
        "SELECT p.invoice_id FROM payments p JOIN hitl_requests r ON r.thread_id = p.thread_id"
        " JOIN hitl_decisions d ON d.request_id = r.request_id WHERE d.type = 'reject'",
    )
    unfinished = rows(
        dsn, "SELECT thread_id FROM hitl_threads WHERE result IS NULL AND thread_id LIKE 'team-%'"
    )
    figures = {
        "requests": REQUESTS, "workers": WORKERS, "reviewers": REVIEWERS, "threads": threads,
        "statuses": by_status, "decisions": by_type, "payments": payments,
        "applied_events": applied_events,
        "workers_killed": team["kills"], "server_restarts": 1,
        "lost_races": sum(r.get("lost_race", 0) for r in team["reports"]),
        "batches": sum(r.get("batch", 0) for r in team["reports"]),
        "cut_by_restart": sum(r.get("cut", 0) for r in team["reports"]),
        "repaired_by_doctor": sum(r.get("repaired", 0) for r in team["reports"]),
    }  # fmt: skip
    print("\nteam:", json.dumps(figures))

    assert threads == REQUESTS  # every invoice paused, none lost
    # Each thread's request applied, none stranded; a run the restart cut and the app ran
    # again leaves its first request superseded, never decided.
    assert by_status.get("applied") == REQUESTS, by_status
    assert set(by_status) <= {"applied", "superseded"}, by_status
    assert sum(by_type.values()) == REQUESTS  # one decision per thread
    assert applied_twice == []
    assert payments == invoices == by_type.get("approve", 0) + by_type.get("modify", 0)
    assert paid_rejected == []
    assert unfinished == []
    verified = finish(
        track(
            subprocess.Popen(
                [sys.executable, "-m", "langgraph_hitl", "--db", dsn, "audit", "verify"],
                cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True,
            )
        )
    )  # fmt: skip
    assert verified.returncode == 0 and "intact" in verified.stdout, verified
