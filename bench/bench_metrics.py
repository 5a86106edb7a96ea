"""`langgraph-hitl metrics` on a ledger of 100,000 requests: how long the figures take.

The ledger is written directly (`executemany` into the tables `ReviewLedger` creates),
seeded, over 30 days: for every request, an escalated routing row, the request, its
`created` notification (delivered), a `shown` event, a decision by one of 8 reviewers
(approve 80%, reject 10%, modify 8%, respond 2%; 2% left pending) and its events;
three routing rows of work that was not escalated per request (autonomous, sampled at
10%, and review), after-the-fact reviews of the sampled and reviewed work (5% find a
problem), and a finished thread with a cost for each. Event hashes are placeholders:
metrics do not read them.

Timed, median of several runs after one untimed warm-up (warm page cache):

  compute, in-process      `metrics.compute(ledger, since=None)` over the whole ledger,
                           imports already paid; also with `group_by="tier"`, and over
                           the CLI's default window, the last 7 of the 30 days.
  warning signs            `metrics.warning_signs(report)`.
  CLI --json               `langgraph-hitl --db DB metrics --since all --json`, a fresh
                           process, end to end.
  CLI --html               the same with `--html FILE` (the table on stdout).
  python startup           `python -c pass`: the floor under any fresh process.

Sizes: HITL_BENCH_SCALE=default (10,000 and 100,000 requests) or full (adds 300,000).
Scratch files go to $HITL_BENCH_TMP (default: the system temp dir).
Run: .venv/bin/python bench/bench_metrics.py
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import REPO, Timer, median, pick, scratch_dir, settle, table

from langgraph_hitl.insight.metrics import compute, warning_signs
from langgraph_hitl.ledger import ReviewLedger

SIZES: list[int] = pick([10_000, 100_000], [10_000, 100_000, 300_000])
RUNS = 5
DAY = 86_400.0
REVIEWERS = [f"reviewer-{i}" for i in range(8)]
TIERS = ("low", "medium", "high")
GATES = ("approve_payment", "approve_refund")
TYPES = (("approve", 0.80), ("reject", 0.10), ("modify", 0.08), ("respond", 0.02))


def _pick_type(rng: random.Random) -> str:
    draw = rng.random()
    for kind, share in TYPES:
        if draw < share:
            return kind
        draw -= share
    return "approve"


def build(path: Path, requests: int, *, seed: int = 7) -> None:
    """Write a ledger of `requests` approval requests and 3x as much other routed work."""
    with ReviewLedger.open(path, create=True):
        pass  # the schema, as the library makes it
    rng = random.Random(seed)
    now = time.time()
    start = now - 30 * DAY
    routes: list[tuple[Any, ...]] = []
    reqs: list[tuple[Any, ...]] = []
    decisions: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    reviews: list[tuple[Any, ...]] = []
    threads: list[tuple[Any, ...]] = []
    args = json.dumps({"invoice_id": "INV-0", "amount": 52000.0, "vendor": "Initech LLC"})
    payload = json.dumps({"gate": "approve_payment", "request": {"summary": "Pay INV-0"}})
    for i in range(requests):
        t0 = start + (now - start) * i / requests
        tier = rng.choice(TIERS)
        thread = f"INV-{i}"
        routes.append((f"rt_e{i}", thread, "escalated", tier, 0.4, 0, None, "[]", t0))
        created = t0 + rng.uniform(0.01, 0.2)
        request_id = f"req_{i:012d}"
        pending = rng.random() < 0.02 and i > requests * 0.9
        shown = created + rng.expovariate(1 / 600.0)
        decided = shown + rng.expovariate(1 / 40.0)
        kind = _pick_type(rng)
        reviewer = rng.choice(REVIEWERS)
        reqs.append(
            (
                request_id,
                thread,
                f"int-{i}",
                rng.choice(GATES),
                "pay_invoice",
                args,
                f"Pay INV-{i}: 52,000.00 USD to Initech LLC",
                tier,
                0.4,
                '["amount 52,000.00 is over the 10,000.00 limit"]',
                "pending" if pending else "applied",
                created,
                payload,
                "digest",
                None if pending else decided,
                None if pending else decided + 0.3,
            )
        )
        events.append((created, "created", request_id, thread, None))
        outbox.append((len(events), "created", request_id, thread, created, created + 1.5))
        events.append((shown, "shown", request_id, thread, reviewer))
        if not pending:
            decisions.append((f"dec_{i}", request_id, kind, reviewer, decided))
            events.append((decided, "decided", request_id, thread, reviewer))
            events.append((decided + 0.3, "applied", request_id, thread, reviewer))
        if not pending:
            result = "rejected" if kind == "reject" else "paid"
            threads.append((thread, t0, result, 0.02, decided + 0.3))
        for j, outcome in enumerate(("autonomous", "sampled", "review")):
            other = f"{thread}-{j}"
            rate = {"autonomous": 0.1, "sampled": 0.1, "review": 1.0}[outcome]
            at = t0 + j
            routes.append((f"rt_{i}_{j}", other, outcome, tier, 0.8, 0, rate, "[]", at))
            threads.append((other, at, "paid", 0.01, at + 1))
            if outcome != "autonomous":
                status = "problem" if rng.random() < 0.05 else "ok"
                reviews.append((f"rev_{i}_{j}", other, status, at + 2, f"rt_{i}_{j}", rate))
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO hitl_routes (route_id, thread_id, outcome, tier, confidence, sampled,"
            " sample_rate, reasons, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            routes,
        )
        conn.executemany(
            "INSERT INTO hitl_requests (request_id, thread_id, interrupt_id, gate, action_name,"
            " action_args, summary, tier, confidence, reasons, status, created_at, payload,"
            " args_digest, decided_at, applied_at) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            reqs,
        )
        conn.executemany(
            "INSERT INTO hitl_decisions (decision_id, request_id, type, reviewer, payload,"
            " seen_digest, decided_at) VALUES (?, ?, ?, ?, '{}', 'digest', ?)",
            decisions,
        )
        conn.executemany(
            "INSERT INTO hitl_events (at, kind, request_id, thread_id, actor, data, prev_hash,"
            " hash) VALUES (?, ?, ?, ?, ?, '{}', '', '')",
            events,
        )
        conn.executemany(
            "INSERT INTO hitl_outbox (event_seq, kind, request_id, thread_id, body, created_at,"
            " next_attempt_at, delivered_at) VALUES (?, ?, ?, ?, '{}', ?, 0, ?)",
            outbox,
        )
        conn.executemany(
            "INSERT INTO hitl_reviews (review_id, thread_id, action_name, action_args, summary,"
            " reasons, status, created_at, route_id, sample_rate) VALUES"
            " (?, ?, 'pay_invoice', '{}', 'Pay', '[]', ?, ?, ?, ?)",
            reviews,
        )
        conn.executemany(
            "INSERT INTO hitl_threads (thread_id, created_at, result, cost, finished_at)"
            " VALUES (?, ?, ?, ?, ?)",
            threads,
        )
    settle(path)


def timed(fn: Any, runs: int = RUNS) -> float:
    """Median wall milliseconds of `fn()` over `runs` runs, after one untimed warm-up."""
    fn()
    times = []
    for _ in range(runs):
        timer = Timer()
        with timer:
            fn()
        times.append(timer.total * 1000)
    return median(times)


def cli(db: Path, *extra: str) -> None:
    argv = [str(REPO / ".venv" / "bin" / "langgraph-hitl"), "--db", str(db), "metrics"]
    done = subprocess.run(
        [*argv, "--since", "all", *extra], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"metrics failed ({done.returncode}): {done.stderr.strip()}")


def main() -> int:
    rows = []
    with scratch_dir("metrics") as scratch:
        for size in SIZES:
            db = scratch / f"ledger-{size}.sqlite"
            build_timer = Timer()
            with build_timer:
                build(db, size)
            with ReviewLedger.open(db) as ledger:
                report = compute(ledger)
                plain = timed(lambda ledger=ledger: compute(ledger))
                by_tier = timed(lambda ledger=ledger: compute(ledger, group_by="tier"))
                week = timed(lambda ledger=ledger: compute(ledger, window="7d"))
                signs = timed(lambda report=report: warning_signs(report))
            json_ms = timed(lambda db=db: cli(db, "--json"))
            html_ms = timed(
                lambda db=db, scratch=scratch: cli(db, "--html", str(scratch / "r.html"))
            )
            floor = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
            overall = report.overall
            assert overall.decisions is not None and overall.escalation is not None
            rows.append(
                [
                    f"{size:,}",
                    f"{overall.escalation.routed:,}",
                    f"{build_timer.total:.1f}",
                    plain,
                    by_tier,
                    week,
                    signs,
                    json_ms,
                    html_ms,
                    floor,
                    f"{db.stat().st_size / 2**20:.0f}",
                ]
            )
            print(
                f"{size:,} requests: compute {plain:.0f} ms, CLI --json {json_ms:.0f} ms",
                flush=True,
            )
    print()
    print(
        table(
            f"metrics wall time, median of {RUNS} runs after a warm-up (ms unless named)",
            [
                "requests",
                "routed",
                "build s",
                "compute",
                "compute by tier",
                "compute 7d",
                "warning signs",
                "CLI --json",
                "CLI --html",
                "python -c pass",
                "file MiB",
            ],
            rows,
            left=(),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
