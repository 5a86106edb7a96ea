"""Fault injection: SIGKILL a deciding CLI process at random moments, then recover.

Each trial pauses one `tests/graphs/fault_pay.py` thread (a gate, then `pay`, `book` and
`notify`: idempotent inserts keyed by item id, each run of each also appended to
`step_attempts`), starts a real `langgraph-hitl approve | reject | modify` process on
it, and kills it with SIGKILL at a point drawn from a seeded `random.Random`: half the
trials by time, half at a FIFO handshake point:

    delay        a random delay from process start (the fault injection itself, not a
                 wait): it lands in start-up, in recording, between recording and
                 applying, in the gate, in a step, or in a checkpoint write. Delays are
                 drawn over phase times measured on this machine: before the trials,
                 and as the trials report when their apply started.
    import       the graph module's import, before the decision is recorded (the
                 decider loads the graph first, to check the decision can be applied)
    gate         the gate's request builder as the gate runs again on resume: the
                 decision is recorded and its apply started, LangGraph has not taken it
    pay-before   inside `pay`, before its insert
    pay-after    inside `pay`, after its insert
    checkpoint   inside the checkpoint write after the gate took its answer: the gate's
                 writes are saved, the checkpoint after them is not
    notify       inside `notify`: `pay` and `book` are done and checkpointed
    import, then delay
                 held at the graph import, released, then killed a random time later
                 (a third of the handshake trials: from there the apply is close and
                 steady, so these kills land in the gate, a step or a checkpoint write)

Where each kill landed is read back from the ledger, the checkpoint and the side-effect
tables. Then a real `langgraph-hitl resume --all` process, and the invariants: a
recorded decision is applied and its side effects happened once (approve / modify) or
never (reject); a request with no decision recorded is still pending, and deciding it
then works; the ledger and the checkpoint agree on what is pending; the thread ends
done; the history never forks.

`HITL_FAULT_TRIALS` sets the number of trials (default 100), `HITL_FAULT_SEED` the
seed. Run with `-s` to see the summary.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from processes import Fifos, cli_env, finish, query, track

from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.models import Decision

REPO = Path(__file__).resolve().parent.parent
GRAPH = "tests/graphs/fault_pay.py:make_graph"
STEPS = ("pay", "book", "notify")
TABLES = ("paid", "booked", "notified")
TRIALS = int(os.environ.get("HITL_FAULT_TRIALS", "100"))
SEED = int(os.environ.get("HITL_FAULT_SEED", "424242"))
# Two at a time: the machine has two cores. Each trial has its own database file, so a
# trial's `resume --all` sees only its own thread: it never meets (and waits up to 30 s
# on the lease of) the other trial's live decider, and a failing trial reproduces alone.
CONCURRENCY = 2
# The last, twice as likely: held at the graph import, released, and killed a random
# time later (the apply is some 15 ms from there, and steadier than from process start).
HANDSHAKES = (
    "import",
    "gate",
    "checkpoint",
    "pay-before",
    "pay-after",
    "notify",
    *["import, then delay"] * 2,
)
KINDS = ("approve", "reject", "modify")


def _cli_argv() -> list[str]:
    script = Path(sys.executable).parent / "langgraph-hitl"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "langgraph_hitl"]


def start(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*_cli_argv(), "--db", str(db), *args],
        cwd=REPO,
        env=cli_env({"LANGGRAPH_HITL_REVIEWER": "faults-default", **(env or {})}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    track(proc)
    return proc


def beside(db: Path) -> Fifos:
    """The crash-point handshake FIFOs beside a trial's own database."""
    return Fifos(db.with_suffix(".ready"), db.with_suffix(".block"))


def count(db: Path, sql: str, *params: Any) -> int:
    return int(query(db, sql, *params)[0][0])


# -- setting up ---------------------------------------------------------------------------


def populate(specs: list[tuple[Path, str, str, float]]) -> dict[Path, str]:
    """One paused thread per database, all run in this one process."""
    rids: dict[Path, str] = {}
    for db, thread_id, item_id, amount in specs:
        status = ReviewDesk(db, base=REPO).run(
            GRAPH, {"item_id": item_id, "amount": amount}, thread_id=thread_id
        )
        assert status.status == "paused", status
        [rids[db]] = status.pending
    return rids


def modified(amount: float) -> float:
    return round(amount / 4, 2)


def decide_argv(kind: str, rid: str, reviewer: str, amount: float) -> list[str]:
    if kind == "approve":
        return ["approve", rid, "--reviewer", reviewer, "--json"]
    if kind == "reject":
        return ["reject", rid, "--reason", "not this one", "--reviewer", reviewer, "--json"]
    return ["modify", rid, "--set", f"amount={modified(amount)}", "--reviewer", reviewer, "--json"]


class Timing:
    """When, from process start, a decider records and applies: measured, then kept fresh.

    Calibration runs give the first figures; every trial whose apply started before its
    kill adds one, so kills by time keep aiming at where the apply is under the load of
    the trials themselves. The apply lasts some 10 to 30 ms and its start moves by tens
    of ms from run to run, so the aim is also nudged by where the last kills landed.
    """

    def __init__(self, decided: list[float], started: list[float], lasted: list[float]) -> None:
        self.decided = statistics.median(decided)
        self.lasted = statistics.median(lasted)
        self.exited = 0.0
        self.released_applied = 0.0  # from the release at `import` to applied
        self.started = list(started)
        self.nudge = 0.0
        self._lock = threading.Lock()

    def apply_started(self) -> float:
        with self._lock:
            return statistics.median(self.started[-12:]) + self.nudge

    def observe(self, started: float | None, window: str | None, phase: str) -> None:
        with self._lock:
            if started is not None:
                self.started.append(started)
            if window == "applying":
                if phase in ("before recording", "recorded, not applying"):
                    self.nudge += 0.005  # too early
                elif phase in ("after applying", "finished first"):
                    self.nudge -= 0.005  # too late

    def window(self, name: str) -> tuple[float, float]:
        start = self.apply_started()
        return {
            "whole": (0.0, self.exited * 1.1),
            "recorded": (self.decided - 0.05, start + self.lasted + 0.05),
            "applying": (start - 0.015, start + self.lasted + 0.005),
        }[name]


def calibrate(tmp_path: Path) -> Timing:
    """Time whole approve processes, two at a time (as the trials run), on this machine.

    Two more are held at the graph import and released, to time the rest from there.
    """
    specs = [
        (tmp_path / f"calibrate-{i}.sqlite", f"cal-{i}", f"CAL-{i}", 10.0 + i) for i in range(8)
    ]
    rids = populate(specs)
    decided, started, lasted, exited, released = [], [], [], [], []
    for number, pair in enumerate((specs[0:2], specs[2:4], specs[4:6], specs[6:8])):
        hold = number == 3
        began = time.time()
        runs = []
        for db, *_ in pair:
            fifos = beside(db) if hold else None
            argv = decide_argv("approve", rids[db], "cal", 1.0)
            runs.append((db, fifos, start(db, *argv, env=fifos.env("import") if fifos else None)))
        for db, fifos, proc in runs:
            let_go = None
            if fifos is not None:
                fifos.wait_ready(proc)
                let_go = time.time()
                fifos.release()
            done = finish(proc)
            if fifos is not None:
                fifos.close()
            assert done.returncode == 0, done
            # When the decision was recorded: its `decided` event (a decision's own time
            # is when the reviewer took it, before the decider loaded the graph to check
            # it can be applied).
            [(at_decided, at_started, at_applied)] = query(
                db,
                "SELECT (SELECT at FROM hitl_events e WHERE e.request_id = r.request_id"
                " AND e.kind = 'decided'), apply_started_at, applied_at FROM hitl_requests r"
                " WHERE request_id = ?",
                rids[db],
            )
            if let_go is not None:
                released.append(at_applied - let_go)
                continue
            exited.append(time.time() - began)
            decided.append(at_decided - began)
            started.append(at_started - began)
            lasted.append(at_applied - at_started)
    timing = Timing(decided, started, lasted)
    timing.exited = statistics.median(exited)
    timing.released_applied = max(released)
    return timing


@dataclass(frozen=True)
class Trial:
    index: int
    seed: int
    db: Path
    thread_id: str
    request_id: str
    item_id: str
    amount: float
    point: str
    kind: str
    window: str | None
    where_in_window: float  # 0..1, drawn with the rest; the window is timed at run time


def plan(index: int, db: Path, rid: str, spec: tuple[Path, str, str, float]) -> Trial:
    seed = SEED * 1000 + index
    rng = random.Random(seed)
    point = "delay" if rng.random() < 0.5 else rng.choice(HANDSHAKES)
    # The steps run only after an approval or an edit: a reject never reaches them.
    kind = rng.choice(
        KINDS if point in ("delay", "import", "gate", "checkpoint") else ("approve", "modify")
    )
    # Half the kills by time aim at the apply itself (gate, steps, checkpoint writes).
    window = rng.choice(("whole", "recorded", "applying", "applying")) if point == "delay" else None
    _, thread_id, item_id, amount = spec
    return Trial(
        index, seed, db, thread_id, rid, item_id, amount, point, kind, window, rng.random()
    )


# -- the invariants -----------------------------------------------------------------------


def graph_state(db: Path, thread_id: str) -> Any:
    """The thread's state through LangGraph, the graph compiled on `open_checkpointer`."""
    from langgraph_hitl.checkpointing import open_checkpointer
    from langgraph_hitl.deciding._loader import load_target, with_checkpointer

    with open_checkpointer(db) as saver:
        graph = with_checkpointer(load_target(GRAPH, REPO), saver)
        return graph.get_state({"configurable": {"thread_id": thread_id}})


def assert_ledger_matches_checkpoint(db: Path, thread_id: str) -> Any:
    """Pending in the ledger iff waiting in the checkpoint; applied never waits."""
    state = graph_state(db, thread_id)
    waiting = {item.id for item in state.interrupts}
    rows = query(db, "SELECT request_id, interrupt_id, status FROM hitl_requests")
    for rid, interrupt_id, status in rows:
        if status == "pending":
            assert interrupt_id in waiting, f"{rid} pending in the ledger, not in the checkpoint"
        if status == "applied":
            assert interrupt_id not in waiting, f"{rid} applied, but its interrupt still waits"
    # A waiting interrupt is pending in the ledger, or decided and not yet applied.
    open_ids = {iid for _, iid, status in rows if status in ("pending", "decided")}
    assert waiting <= open_ids, f"interrupts {waiting - open_ids} waiting, not open in the ledger"
    return state


def step_attempts(db: Path) -> dict[str, int]:
    rows = query(db, "SELECT step, COUNT(*) FROM step_attempts GROUP BY step")
    return {step: dict(rows).get(step, 0) for step in STEPS}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_done(trial: Trial) -> dict[str, int]:
    """Applied, the thread done, each step's effect once (approve / modify) or never."""
    db, rid = trial.db, trial.request_id
    assert query(db, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [("applied",)]
    state = assert_ledger_matches_checkpoint(db, trial.thread_id)
    assert state.interrupts == () and state.next == () and state.tasks == (), state
    attempts = step_attempts(db)
    effects = {
        table: query(db, f"SELECT item_id, amount, thread_id FROM {table}") for table in TABLES
    }
    if trial.kind == "reject":
        assert state.values["status"] == "rejected", state.values
        assert effects == {table: [] for table in TABLES}, effects
        assert attempts == {step: 0 for step in STEPS}, attempts
    else:
        amount = trial.amount if trial.kind == "approve" else modified(trial.amount)
        assert state.values["status"] == "paid", state.values
        once = [(trial.item_id, amount, trial.thread_id)]
        assert effects == {table: once for table in TABLES}, effects
        # One kill costs at most one re-run of the step it landed in.
        assert all(n >= 1 for n in attempts.values()), attempts
        assert sum(attempts.values()) <= len(STEPS) + 1, attempts
    assert query(db, "SELECT type FROM hitl_decisions WHERE request_id = ?", rid) == [(trial.kind,)]
    kinds = [k for (k,) in query(db, "SELECT kind FROM hitl_events WHERE request_id = ?", rid)]
    assert kinds.count("decided") == 1 and kinds.count("applied") == 1, kinds
    forks = query(
        db,
        "SELECT parent_checkpoint_id, COUNT(*) FROM checkpoints WHERE thread_id = ?"
        " AND checkpoint_ns = '' AND parent_checkpoint_id IS NOT NULL"
        " GROUP BY parent_checkpoint_id HAVING COUNT(*) > 1",
        trial.thread_id,
    )
    assert forks == [], f"history forked: {forks}"
    for (owner,) in query(db, "SELECT lease_owner FROM hitl_threads WHERE lease_owner IS NOT NULL"):
        # Only a killed decider can leave a lease behind; the next resumer takes it over.
        assert not _alive(int(owner.split(":")[1])), f"lease still held by {owner}"
    return attempts


def where(trial: Trial, killed: bool) -> tuple[str, bool]:
    """Where the kill landed, from the ledger, the checkpoint and the side-effect tables.

    Returns the phase and whether a decision was recorded.
    """
    db, rid = trial.db, trial.request_id
    [(status, apply_started)] = query(
        db, "SELECT status, apply_started_at FROM hitl_requests WHERE request_id = ?", rid
    )
    recorded = count(db, "SELECT COUNT(*) FROM hitl_decisions WHERE request_id = ?", rid) == 1
    attempts = step_attempts(db)
    state = assert_ledger_matches_checkpoint(db, trial.thread_id)
    if not recorded or apply_started is None:
        assert sum(attempts.values()) == 0, attempts
        assert all(count(db, f"SELECT COUNT(*) FROM {t}") == 0 for t in TABLES)
    if not recorded:
        assert status == "pending", status
        return "before recording", False
    if status == "applied":
        return ("after applying" if killed else "finished first"), True
    if apply_started is None:
        return "recorded, not applying", True
    if state.interrupts:
        return "applying, gate not yet answered", True
    if not state.next and state.tasks:
        # The step's tasks saved their writes; the checkpoint after them was not written.
        return f"{','.join(t.name for t in state.tasks)} done, step not checkpointed", True
    if state.next == ("approve_pay",):
        return "in the gate", True
    if state.next == ("refuse",):
        return "before refuse", True
    if len(state.next) == 1 and state.next[0] in STEPS:
        node = state.next[0]
        if attempts[node] == 0:
            return f"before {node}", True
        if node == "pay":
            return ("in pay, paid" if count(db, "SELECT COUNT(*) FROM paid") else "in pay"), True
        return f"in {node}", True
    assert state.next == (), state.next
    return "run finished, not marked applied", True


@dataclass
class Result:
    trial: Trial
    killed: bool
    recorded: bool
    phase: str
    resumed: bool
    reruns: int
    delay: float | None


def run_trial(trial: Trial, timing: Timing) -> Result:
    db, rid = trial.db, trial.request_id
    argv = decide_argv(trial.kind, rid, f"r{trial.index}", trial.amount)
    fifos = None
    delay = None
    if trial.point == "delay":
        assert trial.window is not None
        low, high = timing.window(trial.window)
        delay = max(0.0, low + trial.where_in_window * (high - low))
    else:
        fifos = beside(db)
    began = time.time()
    try:
        point = trial.point.split(",")[0]
        proc = start(db, *argv, env=None if fifos is None else fifos.env(point))
        if fifos is not None:
            line = fifos.wait_ready(proc)
            assert line.startswith(f"{point} "), line
        if trial.point == "import, then delay":
            assert fifos is not None
            # From the graph import on, the rest of the run is short and steady: a kill
            # a random time after the release lands in the apply far more often.
            delay = trial.where_in_window * (timing.released_applied * 1.5 + 0.005)
            began = time.time()
            fifos.release()
        if delay is not None:
            # The fault injection itself: SIGKILL `delay` seconds after the start (or the
            # release). Not `proc.wait(timeout=...)`: it polls in steps of up to 50 ms,
            # more than the whole apply lasts.
            time.sleep(max(0.0, began + delay - time.time()))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGKILL)
        done = finish(proc)
    finally:
        if fifos is not None:
            fifos.close()
    killed = done.returncode == -signal.SIGKILL
    assert killed or done.returncode == 0, done
    if not killed:
        assert json.loads(done.stdout)["applied"] is True, done
    [(apply_started,)] = query(
        db, "SELECT apply_started_at FROM hitl_requests WHERE request_id = ?", rid
    )
    phase, recorded = where(trial, killed)
    if trial.point != "import, then delay":
        timing.observe(
            None if apply_started is None else apply_started - began, trial.window, phase
        )
    expected = {
        "import": "before recording",
        "gate": "applying, gate not yet answered",
        "pay-before": "in pay",
        "pay-after": "in pay, paid",
        "notify": "in notify",
        "checkpoint": "approve_pay done, step not checkpointed",
    }
    assert phase == expected.get(trial.point, phase), phase
    [(status,)] = query(db, "SELECT status FROM hitl_requests WHERE request_id = ?", rid)

    # -- recovery: a real `resume --all` -------------------------------------------------
    done = finish(start(db, "resume", "--all", "--json"))
    assert done.returncode == 0 and done.stderr == "", done
    resumed = json.loads(done.stdout)
    if status == "decided":
        assert [(s["thread_id"], s["status"]) for s in resumed] == [(trial.thread_id, "done")]
    else:
        assert resumed == [], resumed

    if not recorded:
        # Nothing recorded: still pending, in the ledger and in the checkpoint alike ...
        assert query(db, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [
            ("pending",)
        ]
        state = assert_ledger_matches_checkpoint(db, trial.thread_id)
        assert len(state.interrupts) == 1 and state.next == ("approve_pay",), state
        # ... and it can still be decided and applied.
        decision = {
            "approve": Decision.approve(reviewer="after"),
            "reject": Decision.reject("not this one", reviewer="after"),
            "modify": Decision.modify(
                {"item_id": trial.item_id, "amount": modified(trial.amount)}, reviewer="after"
            ),
        }[trial.kind]
        outcome = ReviewDesk(db, base=REPO).decide(rid, decision)
        assert outcome.applied and outcome.thread is not None, outcome
        assert outcome.thread.status == "done", outcome
    attempts = assert_done(trial)
    reruns = sum(attempts.values()) - (0 if trial.kind == "reject" else len(STEPS))
    return Result(trial, killed, recorded, phase, bool(resumed), reruns, delay)


def guarded(trial: Trial, timing: Timing) -> Result:
    try:
        return run_trial(trial, timing)
    except AssertionError as error:
        raise AssertionError(
            f"trial {trial.index} (seed {trial.seed}, HITL_FAULT_SEED={SEED}): point"
            f" {trial.point} ({trial.window}), decision {trial.kind}, db {trial.db}: {error}"
        ) from error


def test_sigkill_while_deciding_then_resume_all(tmp_path: Path) -> None:
    began = time.monotonic()
    timing = calibrate(tmp_path)
    specs = [
        (tmp_path / f"trial-{i:03d}.sqlite", f"f-{i:03d}", f"ITEM-{i:03d}", 10.0 + 3 * i)
        for i in range(TRIALS)
    ]
    rids = populate(specs)
    trials = [plan(i, spec[0], rids[spec[0]], spec) for i, spec in enumerate(specs)]
    calibrated = (timing.decided, timing.apply_started(), timing.lasted, timing.exited)
    observed_from = len(timing.started)

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        results = list(pool.map(lambda trial: guarded(trial, timing), trials))

    assert len(results) == TRIALS
    timed = [r for r in results if r.delay is not None]
    landed = Counter(r.phase for r in timed)
    print("\nfaults: where the kills by time landed, by the window aimed at:")
    aims = Counter((r.trial.window or r.trial.point, r.phase) for r in timed)
    for (aim, phase), n in sorted(aims.items()):
        print(f"  {n:3d}  {aim:<18} {phase}")
    points = Counter(r.trial.point for r in results)
    killed = Counter(r.trial.point for r in results if r.killed)
    print(
        f"faults: seed {SEED}, {TRIALS} trials in {time.monotonic() - began:.1f}s"
        f" (calibrated: recorded at {calibrated[0]:.2f}s, apply at {calibrated[1]:.2f}s"
        f" for {calibrated[2] * 1000:.0f}ms, exit at {calibrated[3]:.2f}s; applied"
        f" {timing.released_applied * 1000:.0f}ms after a release at import);"
        f" points {dict(points)}; killed {dict(killed)}, {TRIALS - sum(killed.values())}"
        f" finished first; kills by time landed {dict(landed)};"
        f" decisions recorded before the kill {sum(r.recorded for r in results)};"
        f" needed resume {sum(r.resumed for r in results)};"
        f" step re-runs {sum(r.reruns for r in results)};"
        " lost 0, doubled 0 (asserted per trial)"
    )
    starts = timing.started[observed_from:]
    if len(starts) > 1:
        print(
            f"faults: apply started {statistics.mean(starts):.3f}s after process start,"
            f" stdev {statistics.stdev(starts) * 1000:.0f}ms over {len(starts)} trials;"
            f" final nudge {timing.nudge * 1000:+.0f}ms"
        )


@pytest.mark.parametrize("kind", ["approve", "reject"])
def test_killed_between_the_gates_writes_and_its_checkpoint(tmp_path: Path, kind: str) -> None:
    """The gate's answer saved as writes, the checkpoint after it not: resume finishes it.

    LangGraph's `get_state` shows no `next` then (the task has its writes), so a resume
    that went by `next` alone marked the decision applied and never ran `pay`.
    """
    db = tmp_path / "one.sqlite"
    spec = (db, "f-one", "ITEM-ONE", 21.0)
    rids = populate([spec])
    trial = Trial(0, 0, db, "f-one", rids[db], "ITEM-ONE", 21.0, "checkpoint", kind, None, 0.0)
    # No kill by time here: the timing figures are never read.
    result = run_trial(trial, Timing([0.0], [0.0], [0.0]))
    assert result.killed and result.recorded and result.resumed
    assert result.phase == "approve_pay done, step not checkpointed"
