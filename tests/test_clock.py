"""Hosts whose clocks are wrong: refused before anything runs, never a stranded thread.

LangGraph orders a thread's checkpoints by ids made from the writer's wall clock. A
decider whose clock is behind the thread's last checkpoint would write checkpoints that
sort before it: the action would run, then the thread would read as if it never had
(stalled), and running it on would run the action again. Here a decider two days slow
(Debian's `faketime`, which `make test` installs) is refused with one line before
anything is recorded or run; one a second slow waits it out; a sweeper thirty days fast
cannot push everyone's next deadline thirty days out.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from processes import cli_env, one_line_error, query, run_cli

from langgraph_hitl import ReviewDesk
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.models import Decision

REPO = Path(__file__).resolve().parent.parent
GATED = "tests/graphs/gated_pay.py:make_graph"
FAKETIME = shutil.which("faketime")
needs_faketime = pytest.mark.skipif(
    FAKETIME is None, reason="Debian's faketime is not installed (make test installs it)"
)


def cli(db: Path, *args: str, shift: str | None = None) -> subprocess.CompletedProcess[str]:
    """One CLI process, its clock shifted by `shift` (faketime's `-2d`, `+30d`, ...)."""
    under: list[str] = []
    if shift is not None:
        assert FAKETIME is not None
        under = [FAKETIME, "-f", shift]
    return run_cli(db, *args, cwd=REPO, env={"LANGGRAPH_HITL_REVIEWER": "clock-test"}, under=under)


def pause(db: Path, thread: str, shift: str | None = None) -> str:
    data = json.dumps({"item_id": thread, "amount": 12.5})
    done = cli(db, "run", GATED, "--thread", thread, "--input", data, "--json", shift=shift)
    assert done.returncode == 0, done
    return str(json.loads(done.stdout)["pending"][0])


def checkpoints(db: Path, thread: str) -> int:
    return int(query(db, "SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", thread)[0][0])


def status_of(db: Path, rid: str) -> str:
    return str(query(db, "SELECT status FROM hitl_requests WHERE request_id = ?", rid)[0][0])


@needs_faketime
def test_a_decider_two_days_slow_is_refused_before_anything_is_recorded(hitl_db: Path) -> None:
    rid = pause(hitl_db, "slow-1")
    before = checkpoints(hitl_db, "slow-1")
    refused = cli(hitl_db, "approve", rid, shift="-2d")
    assert "clock is" in one_line_error(refused, 1) and "behind" in refused.stderr
    assert status_of(hitl_db, rid) == "pending"
    assert checkpoints(hitl_db, "slow-1") == before
    assert query(hitl_db, "SELECT COUNT(*) FROM pay_attempts") == [(0,)]
    # The same decision from a host with the right time goes through, once.
    assert cli(hitl_db, "approve", rid).returncode == 0
    assert query(hitl_db, "SELECT item_id FROM paid") == [("slow-1",)]
    assert query(hitl_db, "SELECT COUNT(*) FROM pay_attempts") == [(1,)]


@needs_faketime
def test_a_slow_resumer_leaves_the_decision_recorded_and_in_sight(hitl_db: Path) -> None:
    rid = pause(hitl_db, "slow-2")
    ReviewDesk(hitl_db, base=REPO).decide(rid, Decision.approve(reviewer="ana"), apply=False)
    refused = cli(hitl_db, "resume", "--all", shift="-2d")
    assert "behind" in one_line_error(refused, 1)
    with ReviewLedger.open(hitl_db) as ledger:
        rec = ledger.get(rid)
    assert rec.status == "decided"
    assert rec.apply_error is not None and "behind" in rec.apply_error
    assert query(hitl_db, "SELECT COUNT(*) FROM pay_attempts") == [(0,)]
    done = cli(hitl_db, "resume", "--all", "--json")
    assert done.returncode == 0, done
    assert json.loads(done.stdout)[0]["status"] == "done"
    assert status_of(hitl_db, rid) == "applied"
    assert query(hitl_db, "SELECT item_id FROM paid") == [("slow-2",)]


@needs_faketime
def test_running_a_thread_on_from_a_slow_host_is_refused(hitl_db: Path) -> None:
    data = json.dumps({"item_id": "again", "amount": 12.5})
    pause(hitl_db, "slow-3")
    rid = str(query(hitl_db, "SELECT request_id FROM hitl_requests")[0][0])
    assert cli(hitl_db, "approve", rid).returncode == 0
    before = checkpoints(hitl_db, "slow-3")
    refused = cli(hitl_db, "run", GATED, "--thread", "slow-3", "--input", data, shift="-2d")
    assert "behind" in one_line_error(refused, 1)
    assert checkpoints(hitl_db, "slow-3") == before


@needs_faketime
def test_after_a_host_two_days_fast_a_right_clock_is_refused_not_forked(hitl_db: Path) -> None:
    """A fast host's checkpoints sort in the future; writing before them would fork the
    thread's history, so the host with the right time is refused until the clocks agree."""
    rid = pause(hitl_db, "fast-1", shift="+2d")
    before = checkpoints(hitl_db, "fast-1")
    refused = cli(hitl_db, "approve", rid)
    assert "behind" in one_line_error(refused, 1)
    assert status_of(hitl_db, rid) == "pending"
    assert checkpoints(hitl_db, "fast-1") == before
    assert cli(hitl_db, "approve", rid, shift="+2d").returncode == 0
    assert query(hitl_db, "SELECT item_id FROM paid") == [("fast-1",)]


@needs_faketime
def test_a_decider_a_second_slow_waits_it_out(hitl_db: Path) -> None:
    rid = pause(hitl_db, "slow-4")
    done = cli(hitl_db, "approve", rid, shift="-1s")
    assert done.returncode == 0, done
    assert status_of(hitl_db, rid) == "applied"
    ids = [row[0] for row in query(hitl_db, "SELECT checkpoint_id FROM checkpoints")]
    parents = query(hitl_db, "SELECT parent_checkpoint_id FROM checkpoints")
    assert len(set(parents)) == len(parents) == len(ids)


def test_a_sweeper_far_ahead_cannot_push_the_next_deadline_out(tmp_path: Path) -> None:
    """A sweep whose clock is 30 days fast escalates (it cannot know better) but gives the
    next role one step from the deadline that ran out, not from its own wrong now."""
    from test_review_scale import payload

    with ReviewLedger.open(tmp_path / "l.sqlite", create=True) as ledger:
        rid = ledger.record_request(
            thread_id="t", interrupt_id="i" * 32, payload=payload("low"), graph="g"
        )
        rec = ledger.get(rid)
        assert rec.deadline is not None
        ahead = rec.created_at + 30 * 86_400
        assert ledger.sweep_step(rid, level=0, now=ahead) == "escalated"
        after = ledger.get(rid)
        assert after.deadline == pytest.approx(rec.deadline + 2 * 60)


ASYNC_DIRECT_ANSWER = """
import asyncio, sys
from pathlib import Path
from langgraph.types import Command
from langgraph_hitl import open_async_checkpointer
from langgraph_hitl.deciding._loader import load_target, with_checkpointer
from langgraph_hitl.errors import ClockSkewError

async def main() -> None:
    db, thread, repo, graph_ref = sys.argv[1:]
    async with open_async_checkpointer(db, graph=graph_ref, root=repo) as saver:
        graph = with_checkpointer(load_target(graph_ref, Path(repo)), saver)
        config = {"configurable": {"thread_id": thread}}
        try:
            await graph.ainvoke(Command(resume={"type": "approve"}), config, durability="sync")
        except ClockSkewError as err:
            print("refused:", err)

asyncio.run(main())
"""


@needs_faketime
def test_a_slow_app_answering_directly_writes_no_checkpoint_before_the_newest(
    hitl_db: Path,
) -> None:
    """An app two days slow answers the gate itself through the async saver (with
    `durability="sync"`, as the README asks of direct answers): the saver refuses the
    checkpoint that would sort first, so `pay` never runs there, and the thread, stalled,
    is finished once by `resume THREAD` from a host with the right time."""
    pause(hitl_db, "slow-5")
    assert FAKETIME is not None
    done = subprocess.run(
        [FAKETIME, "-f", "-2d", sys.executable, "-c", ASYNC_DIRECT_ANSWER, str(hitl_db), "slow-5",
         str(REPO), GATED],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "refused:" in done.stdout and "behind" in done.stdout, done
    # No checkpoint from the slow host: every one sorts after its parent.
    pairs = query(
        hitl_db, "SELECT checkpoint_id, parent_checkpoint_id FROM checkpoints WHERE thread_id = ?",
        "slow-5",
    )  # fmt: skip
    assert all(parent is None or child > parent for child, parent in pairs), pairs
    assert query(hitl_db, "SELECT COUNT(*) FROM pay_attempts") == [(0,)]
    resumed = cli(hitl_db, "resume", "slow-5", "--json")
    assert resumed.returncode == 0, resumed
    assert json.loads(resumed.stdout)[0]["values"]["status"] == "paid"
    assert query(hitl_db, "SELECT item_id FROM paid") == [("slow-5",)]
