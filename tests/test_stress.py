"""Stress: many processes deciding the same pending requests at the same moment.

200 invoice threads (each over the autonomous limit, so each pauses at the gate) are
populated in this process. Then 8 decider processes, each going through all 200 in its
own seeded order with a seeded random approve / reject / modify / respond / cancel of
the thread, and a handful of real `langgraph-hitl approve` processes are released
together from one start pipe, while a reader runs `langgraph-hitl list --json` over and
over. Afterwards: one winner per request, every other attempt refused with exit code 3,
every request applied or (its thread cancelled) cancelled, payments exactly for the
approvals and edits, nothing applied after a cancel, no lock error, no forked
checkpoint history, and every listing read whole while the queue drained.

That a reader is never blocked behind a decider is proven without a clock: a decider
is stopped inside its write transaction (its decision written, not committed, the write
lock held, as a second writer finds), and `list` completes meanwhile and still shows
the request pending. How long `list` takes while deciders race is a figure, not a
test: `bench/bench_race.py`.

`HITL_STRESS_REQUESTS` sets the number of requests (default 200), `HITL_STRESS_SEED`
the seed. Run with `-s` to see the counts.
"""

from __future__ import annotations

import json
import os
import random
import select
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from processes import track

from langgraph_hitl.deciding.desk import ReviewDesk

REPO = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "race_worker.py"
REQUESTS = int(os.environ.get("HITL_STRESS_REQUESTS", "200"))
SEED = int(os.environ.get("HITL_STRESS_SEED", "20260611"))
DECIDERS = 8
CLI_RACERS = 6
READY_TIMEOUT_S = 120.0
PROCESS_TIMEOUT_S = 600.0


def _env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LANGGRAPH_HITL_", "E2E_"))
    }
    env["LANGGRAPH_HITL_REVIEWER"] = "stress-default"
    return env


def _cli_argv() -> list[str]:
    script = Path(sys.executable).parent / "langgraph-hitl"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "langgraph_hitl"]


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        return conn.execute(sql, params).fetchall()


class StartPipe:
    """Processes do their imports, say so on `ready`, then block on `start` until released.

    Closing the write end of `start` wakes every reader at once (EOF): a start barrier
    across unrelated processes, with no sleeping.
    """

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.ready_r, self.ready_w = os.pipe()
        self.start_r, self.start_w = os.pipe()
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, mode: str, *args: str) -> subprocess.Popen[bytes]:
        with (
            open(self.logs / f"{name}.out", "wb") as out,
            open(self.logs / f"{name}.err", "wb") as err,
        ):
            proc = subprocess.Popen(
                [sys.executable, str(WORKER), mode, str(self.ready_w), str(self.start_r), *args],
                cwd=REPO,
                env=_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                pass_fds=(self.ready_w, self.start_r),
            )
        track(proc)
        self.procs.append((name, proc))
        return proc

    def wait_ready(self) -> None:
        """Every spawned process has written its ready byte (bounded wait)."""
        os.close(self.ready_w)
        os.close(self.start_r)
        got = 0
        deadline = time.monotonic() + READY_TIMEOUT_S
        while got < len(self.procs):
            left = deadline - time.monotonic()
            readable, _, _ = select.select([self.ready_r], [], [], max(0.0, min(left, 1.0)))
            if readable:
                chunk = os.read(self.ready_r, 64)
                if not chunk:
                    break  # every process exited or closed its end
                got += len(chunk)
            elif left <= 0:
                break
        os.close(self.ready_r)
        if got < len(self.procs):
            dead = [(name, self.output(name)) for name, p in self.procs if p.poll() is not None]
            pytest.fail(f"{got} of {len(self.procs)} processes got ready; exited: {dead}")

    def release(self) -> None:
        os.close(self.start_w)

    def output(self, name: str) -> tuple[str, str]:
        return (
            (self.logs / f"{name}.out").read_text(),
            (self.logs / f"{name}.err").read_text(),
        )


def populate(db: Path, count: int) -> dict[str, dict[str, Any]]:
    """`count` paused invoice threads, all in this one process; request id -> facts."""
    base = json.loads((REPO / "examples" / "invoices" / "large.json").read_text())
    desk = ReviewDesk(db, base=REPO)
    made: dict[str, dict[str, Any]] = {}
    for i in range(count):
        amount = 10_000.0 + 1.0 + 37.0 * i
        invoice = {
            **base,
            "invoice_id": f"INV-S{i:05d}",
            "amount": amount,
            "line_items": [{"description": "Licences", "quantity": 1, "unit_price": amount}],
        }
        thread_id = f"stress-{i:05d}"
        status = desk.run("invoice", invoice, thread_id=thread_id)
        assert status.status == "paused", status
        [rid] = status.pending
        made[rid] = {"thread_id": thread_id, "invoice_id": invoice["invoice_id"], "amount": amount}
    return made


def first_in_order(request_ids: Sequence[str], seed: int) -> str:
    """The request a decider with `seed` tries first (it shuffles the same way)."""
    order = list(request_ids)
    random.Random(seed).shuffle(order)
    return order[0]


def run_list(argv: list[str], db: Path) -> dict[str, Any]:
    """One `list --json` process: its exit code, the rows it listed (all), its stderr."""
    proc = subprocess.run(
        [*argv, "--db", str(db), "list", "--limit", "0", "--json"],
        cwd=REPO,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,  # a hang guard only: a blocked reader fails before it
    )
    rows = None
    if proc.returncode == 0:
        try:
            rows = json.loads(proc.stdout)["requests"]
        except (json.JSONDecodeError, KeyError, TypeError):
            rows = None
    return {"code": proc.returncode, "rows": rows, "err": proc.stderr}


def final_threads(db: Path, thread_ids: Sequence[str]) -> dict[str, Any]:
    """Each thread's checkpointed state, read through LangGraph with our checkpointer."""
    from langgraph_hitl.checkpointing import open_checkpointer
    from langgraph_hitl.deciding._loader import load_target, with_checkpointer

    out: dict[str, Any] = {}
    with open_checkpointer(db, graph="invoice") as saver:
        graph = with_checkpointer(load_target("invoice", REPO), saver)
        for thread_id in thread_ids:
            out[thread_id] = graph.get_state({"configurable": {"thread_id": thread_id}})
    return out


def test_many_deciders_one_winner_per_request(tmp_path: Path) -> None:
    db = tmp_path / "stress.sqlite"
    logs = tmp_path / "logs"
    logs.mkdir()
    made = populate(db, REQUESTS)
    rids = [rec.request_id for rec in ReviewDesk(db, base=REPO).pending()]
    assert sorted(rids) == sorted(made)

    rng = random.Random(SEED)
    gate = StartPipe(logs)
    decider_seeds = [SEED * 100 + i for i in range(DECIDERS)]
    deciders = [
        gate.spawn(f"w{i}", "decide", str(db), str(seed), f"w{i}")
        for i, seed in enumerate(decider_seeds)
    ]
    # Half the CLI racers take on a decider's first request (a tight race), half a
    # random one (which they usually win, so the CLI applies too).
    cli_targets = [
        first_in_order(rids, decider_seeds[j % DECIDERS]) if j % 2 == 0 else rng.choice(rids)
        for j in range(CLI_RACERS)
    ]
    racers = [
        gate.spawn(
            f"cli{j}", "cli", "--db", str(db), "approve", rid, "--reviewer", f"cli{j}", "--json"
        )
        for j, rid in enumerate(cli_targets)
    ]
    gate.wait_ready()
    list_argv = _cli_argv()

    gate.release()
    lists: list[dict[str, Any]] = []
    while any(proc.poll() is None for proc in (*deciders, *racers)) or not lists:
        lists.append(run_list(list_argv, db))
    for proc in (*deciders, *racers):
        proc.wait(timeout=PROCESS_TIMEOUT_S)

    # -- what each process saw -------------------------------------------------------
    reports = []
    for i, proc in enumerate(deciders):
        out, err = gate.output(f"w{i}")
        assert proc.returncode == 0, (f"w{i}", proc.returncode, err)
        assert err == "", (f"w{i}", err)
        reports.append(json.loads(out))
    wins: dict[str, list[dict[str, Any]]] = {}
    attempts = refusals = 0
    refusal_kinds: Counter[str] = Counter()
    for report in reports:
        assert report["unexpected"] == [], report["unexpected"]
        assert report["locked"] == 0
        assert report["attempts"] == REQUESTS
        assert len(report["wins"]) + sum(report["refusals"].values()) == REQUESTS
        assert set(report["refusal_codes"]) <= {3}
        attempts += report["attempts"]
        refusals += sum(report["refusals"].values())
        refusal_kinds.update(report["refusals"])
        for win in report["wins"]:
            if win["type"] != "cancel":
                assert win["applied"] is True, win
                assert win["thread_status"] == "done", win
            win["who"] = report["name"]
            wins.setdefault(win["request_id"], []).append(win)
    cli_wins = 0
    for j, (proc, rid) in enumerate(zip(racers, cli_targets, strict=True)):
        out, err = gate.output(f"cli{j}")
        attempts += 1
        if proc.returncode == 0:
            assert err == "", err
            outcome = json.loads(out)
            assert outcome["request_id"] == rid and outcome["applied"] is True, outcome
            assert outcome["thread"]["status"] == "done", outcome
            cli_wins += 1
            wins.setdefault(rid, []).append(
                {"request_id": rid, "type": "approve", "args": None, "who": f"cli{j}"}
            )
        else:
            assert proc.returncode == 3, (f"cli{j}", proc.returncode, out, err)
            assert out == "", out
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), err
            assert any(why in lines[0] for why in ("already decided", "cancelled")), err
            refusals += 1
            refusal_kinds["cli exit 3"] += 1

    # -- one winner per request, every other attempt refused --------------------------
    assert {rid: len(ws) for rid, ws in wins.items() if len(ws) != 1} == {}
    assert set(wins) == set(made)
    assert attempts - refusals == REQUESTS
    won = {rid: ws[0] for rid, ws in wins.items()}
    cancelled = {rid for rid, win in won.items() if win["type"] == "cancel"}
    status = dict(query(db, "SELECT request_id, status FROM hitl_requests"))
    assert status == {rid: "cancelled" if rid in cancelled else "applied" for rid in made}
    for rid in cancelled:
        assert won[rid]["closed"] == [rid], won[rid]
    results = dict(query(db, "SELECT thread_id, result FROM hitl_threads"))
    assert {made[rid]["thread_id"] for rid in cancelled} == {
        thread for thread, result in results.items() if result == "cancelled"
    }
    decisions = {
        rid: (kind, who)
        for rid, kind, who in query(db, "SELECT request_id, type, reviewer FROM hitl_decisions")
    }
    # A decision is recorded once per request; under a cancel, one may have been recorded
    # before the cancel took the thread: it was never applied.
    for rid, win in won.items():
        if rid in cancelled:
            continue
        assert decisions[rid] == (win["type"], win["who"]), (rid, decisions.get(rid), win)
    events = dict(query(db, "SELECT kind, COUNT(*) FROM hitl_events GROUP BY kind"))
    assert events.get("decided") == len(decisions), events
    assert events.get("applied") == REQUESTS - len(cancelled), events
    assert events.get("thread_cancelled", 0) == len(cancelled), events
    assert events.get("refused", 0) <= refusals, events  # refusals of record_decision
    assert query(db, "SELECT thread_id FROM hitl_threads WHERE lease_owner IS NOT NULL") == []

    # -- payments: exactly the approvals and edits, each once ------------------------
    doubled = "SELECT invoice_id, COUNT(*) FROM payments GROUP BY 1 HAVING COUNT(*) > 1"
    assert query(db, doubled) == []
    rows = query(db, "SELECT invoice_id, amount, thread_id FROM payments")
    paid = {invoice_id: (amount, thread_id) for invoice_id, amount, thread_id in rows}
    expected = {}
    for rid, win in won.items():
        facts = made[rid]
        if win["type"] == "approve":
            expected[facts["invoice_id"]] = (facts["amount"], facts["thread_id"])
        elif win["type"] == "modify":
            assert win["args"]["amount"] == round(facts["amount"] / 2, 2), win
            expected[facts["invoice_id"]] = (round(facts["amount"] / 2, 2), facts["thread_id"])
    assert paid == expected

    # -- checkpoints: done, never forked ------------------------------------------------
    forks = query(
        db,
        "SELECT thread_id, parent_checkpoint_id, COUNT(*) FROM checkpoints WHERE checkpoint_ns = ''"
        " AND parent_checkpoint_id IS NOT NULL GROUP BY thread_id, parent_checkpoint_id"
        " HAVING COUNT(*) > 1",
    )
    assert forks == []
    states = final_threads(db, [facts["thread_id"] for facts in made.values()])
    outcome = {"reject": "rejected", "respond": "handled_by_human"}
    for rid, win in won.items():
        state = states[made[rid]["thread_id"]]
        if rid in cancelled:
            # Stopped at the gate for good: its question is never answered.
            assert state.interrupts and "status" not in state.values, (rid, state)
            continue
        assert state.interrupts == () and state.next == () and state.tasks == (), (rid, state)
        want = outcome.get(win["type"], "paid")
        assert state.values["status"] == want, (rid, win["type"], state.values)

    # -- the reader ---------------------------------------------------------------------
    failed = [entry for entry in lists if entry["code"] != 0 or entry["err"]]
    assert failed == []
    assert all(isinstance(entry["rows"], list) for entry in lists)
    depths = [len(entry["rows"]) for entry in lists]
    assert depths == sorted(depths, reverse=True), depths  # the queue only drains
    listed = {row["request_id"] for entry in lists for row in entry["rows"]}
    assert listed <= set(made)

    kinds = Counter(ws[0]["type"] for ws in wins.values())
    print(
        f"\nstress: seed {SEED}, {REQUESTS} requests, {DECIDERS} deciders + {CLI_RACERS} CLI"
        f" approvers; attempts {attempts}, wins {REQUESTS} ({dict(kinds)}; CLI {cli_wins}),"
        f" refusals {refusals} ({dict(refusal_kinds)}); payments {len(paid)};"
        f" list --json x{len(lists)}, every one whole"
    )


def test_a_reader_is_not_blocked_by_a_decider_holding_its_write_transaction(
    tmp_path: Path,
) -> None:
    """`list` completes while a decider holds the write lock mid-decision; no clock.

    The decider is a real `ReviewDesk.decide` stopped inside the ledger's transaction,
    after its decision row is written. That it holds the write lock then is shown by a
    second writer, which cannot begin (busy timeout 0). The reader runs as a real
    `langgraph-hitl list` process: if it waited on the writer it could only finish
    after the release below (or fail with "locked" after its busy timeout); it
    finishes first, exit 0, and still sees the request pending (the decision is not
    committed). Then the decider commits and applies, and the request leaves the queue.
    """
    db = tmp_path / "reader.sqlite"
    logs = tmp_path / "logs"
    logs.mkdir()
    made = populate(db, 3)
    rid = sorted(made)[0]
    gate = StartPipe(logs)
    holder = gate.spawn("holder", "hold", str(db), rid, "holder")
    gate.wait_ready()  # the decider is inside its write transaction now

    with (
        closing(sqlite3.connect(db, timeout=0)) as writer,
        pytest.raises(sqlite3.OperationalError, match="locked"),
    ):
        writer.execute("BEGIN IMMEDIATE")
    argv = _cli_argv()
    read = run_list(argv, db)
    assert (read["code"], read["err"]) == (0, ""), read
    assert {row["request_id"] for row in read["rows"]} == set(made)  # rid still pending
    groups = subprocess.run(
        [*argv, "--db", str(db), "batch", "--json"],
        cwd=REPO,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
    )
    assert (groups.returncode, groups.stderr) == (0, ""), groups
    assert json.loads(groups.stdout)[0]["count"] == 3
    assert holder.poll() is None, "the decider finished before the reader: nothing proven"

    gate.release()
    assert holder.wait(timeout=PROCESS_TIMEOUT_S) == 0, gate.output("holder")
    report = json.loads(gate.output("holder")[0])
    assert (report["status"], report["applied"]) == ("applied", True)
    after = run_list(argv, db)
    assert {row["request_id"] for row in after["rows"]} == set(made) - {rid}
