"""LangChain agents (`create_agent`) reviewed through the ledger: LangChain's own
HumanInTheLoopMiddleware, and our `ApprovalMiddleware`.

The chat models are scripted (`tests/graphs/stock_agent.py`, `examples/refund_agent.py`):
pure functions of the conversation, no network, no LLM. Deciding happens in real CLI
processes on a real SQLite file wherever the promise is about other processes.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from processes import Fifos, cli_env, finish, one_line_error, query, run_cli, start_cli

from langgraph_hitl import ReviewDesk, ReviewLedger
from langgraph_hitl.checkpointing import open_checkpointer
from langgraph_hitl.errors import NotAuthorizedError, QuorumPendingError

REPO = Path(__file__).resolve().parent.parent
STOCK = "tests/graphs/stock_agent.py"
REVIEW = "tests/graphs/review_agent.py:make_agent"
EXAMPLE = "examples/refund_agent.py:make_agent"


def cli(
    db: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(db, *args, cwd=REPO, env=env)


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout) if done.stdout.lstrip().startswith(("{", "[")) else done.stdout


def start(db: Path, graph: str, message: str, thread: str) -> dict[str, Any]:
    status = ok(cli(db, "run", graph, "--message", message, "--thread", thread, "--json"))
    assert isinstance(status, dict)
    return status


def actions(db: Path) -> list[tuple[str, dict[str, Any]]]:
    return [(name, json.loads(args)) for name, args in query(db, "SELECT tool, args FROM actions")]


def refunds(db: Path) -> list[tuple[Any, ...]]:
    return query(db, "SELECT order_id, amount FROM refunds")


def messages(db: Path, thread: str) -> list[dict[str, Any]]:
    status = ok(cli(db, "thread", thread, "--json"))
    found: list[dict[str, Any]] = status["values"]["messages"]
    return found


def last_words(db: Path, thread: str) -> str:
    return str(messages(db, thread)[-1]["content"])


# -- LangChain's HumanInTheLoopMiddleware ---------------------------------------------------


def test_batched_pause_is_decided_per_tool_call_and_resumed_once_in_order(hitl_db: Path) -> None:
    """Two tool calls in one turn: two requests in `list`; the second is edited in one
    process, the first approved in another; the agent resumes once, with the decisions
    in the middleware's order, and each tool runs as decided."""
    status = start(hitl_db, f"{STOCK}:batched", "the parcel arrived broken", "B-1")
    assert status["status"] == "paused"
    refund_id, email_id = status["pending"]
    listed = ok(cli(hitl_db, "list", "--json"))["requests"]
    assert [(r["request_id"], r["action"]["name"]) for r in listed] == [
        (refund_id, "refund"),
        (email_id, "email"),
    ]
    # The second call first: the pause waits for the other, and nothing runs yet.
    body = "Refund of 80.00 on its way."
    edited = ok(cli(hitl_db, "modify", email_id, "--set", f"body={body}", "--reviewer", "ana"))
    assert "still open: " + refund_id in edited
    assert ok(cli(hitl_db, "thread", "B-1", "--json"))["pending"] == [refund_id]
    assert actions(hitl_db) == []
    shown = ok(cli(hitl_db, "show", refund_id))
    assert f"{email_id}  email  decided: modify by ana" in shown
    done = ok(cli(hitl_db, "approve", refund_id, "--reviewer", "ben", "--json"))
    assert done["applied"] and done["thread"]["status"] == "done"
    # Each decision reached its own tool call (the two tools run as parallel tasks).
    assert sorted(actions(hitl_db)) == [
        ("email", {"to": "ada@example.com", "body": body}),
        ("refund", {"order_id": "A-42", "amount": 80.0}),
    ]
    # Resumed once: both decisions were applied under one lease, in one resume.
    sql = "SELECT DISTINCT applier FROM hitl_requests WHERE thread_id = 'B-1'"
    assert len(query(hitl_db, sql)) == 1
    applied = query(hitl_db, "SELECT request_id FROM hitl_events WHERE kind = 'applied'")
    assert sorted(applied) == sorted([(refund_id,), (email_id,)])


def test_per_call_pauses_are_decided_one_by_one(hitl_db: Path) -> None:
    """Per-call mode: one pause per tool call, each answered on its own; a rejection's
    message reaches the model as the tool's result, and a response replaces the tool."""
    status = start(hitl_db, f"{STOCK}:per_call", "the parcel arrived broken", "P-1")
    refund_id, email_id = status["pending"]
    ok(cli(hitl_db, "reject", refund_id, "--reason", "refund the card on file instead"))
    assert ok(cli(hitl_db, "thread", "P-1", "--json"))["pending"] == [email_id]
    ok(cli(hitl_db, "respond", email_id, "--response", "Called Ada instead.", "--json"))
    assert actions(hitl_db) == []
    words = last_words(hitl_db, "P-1")
    assert "User rejected the tool call for `refund` with reason: refund the card" in words
    assert "Called Ada instead." in words


def test_decisions_are_checked_against_the_middlewares_allowed_decisions(hitl_db: Path) -> None:
    """A tool that allows approve and reject only refuses an edit before LangGraph sees it
    (exit 2, nothing recorded); its schema-checked edit of another tool is refused too."""
    status = start(hitl_db, f"{STOCK}:reject_only", "broken", "R-1")
    email_id = status["pending"][1]
    error = one_line_error(cli(hitl_db, "modify", email_id, "--set", "to=x@example.com"), 2)
    assert "'modify' is not allowed" in error
    assert query(hitl_db, "SELECT COUNT(*) FROM hitl_decisions") == [(0,)]
    status = start(hitl_db, f"{STOCK}:per_call", "broken", "R-2")
    error = one_line_error(cli(hitl_db, "modify", status["pending"][0], "--set", "amount=lots"), 2)
    assert "amount" in error


def test_direct_answers_to_the_stock_middleware_are_recorded(hitl_db: Path) -> None:
    """`Command(resume=...)` straight to LangGraph: the ledger records who answered what;
    an answer the ledger's rules would refuse is recorded with the refusal beside it."""
    from langgraph.types import Command

    from tests.graphs.stock_agent import batched

    with open_checkpointer(hitl_db, graph=f"{STOCK}:batched", root=REPO) as saver:
        agent = batched(saver)
        config = {"configurable": {"thread_id": "D-1"}}
        agent.invoke({"messages": [{"role": "user", "content": "broken"}]}, config)
        first, second = saver.ledger.pending(thread_id="D-1")
        # A reviewer records a decision on the second call; the app then answers both.
        saver.ledger.record_decision(second.request_id, _approve("ana"))
        answer = {"decisions": [{"type": "approve", "reviewer": "zed"}, {"type": "reject"}]}
        agent.invoke(Command(resume=answer), config)
        events = {(e["request_id"], e["kind"]): e for e in saver.ledger.events(thread_id="D-1")}
    assert (first.request_id, "answered_directly") in events
    outside = events[(second.request_id, "answered_outside_rules")]
    assert "already decided" in outside["data"]["why"]
    assert [r[0] for r in query(hitl_db, "SELECT status FROM hitl_requests")] == ["applied"] * 2
    assert ok(cli(hitl_db, "audit", "verify", "--json"))["ok"] is True


def test_under_agent_server_a_direct_answer_to_the_stock_middleware_is_the_users(
    hitl_db: Path,
) -> None:
    """Agent Server names a run's signed-in user in its config: the stock middleware's
    direct answers are recorded as that user's, and one naming somebody else is recorded
    beside the refusal (the tool ran on it)."""
    from langgraph.types import Command

    from tests.graphs.stock_agent import batched

    with open_checkpointer(hitl_db, graph=f"{STOCK}:batched", root=REPO) as saver:
        agent = batched(saver)
        config = {"configurable": {"thread_id": "U-1", "langgraph_auth_user_id": "ana"}}
        agent.invoke({"messages": [{"role": "user", "content": "broken"}]}, config)
        first, second = saver.ledger.pending(thread_id="U-1")
        answer = {"decisions": [{"type": "approve"}, {"type": "approve", "reviewer": "zed"}]}
        agent.invoke(Command(resume=answer), config)
        events = {(e["request_id"], e["kind"]): e for e in saver.ledger.events(thread_id="U-1")}
        decided = {
            rec.request_id: rec.decision.reviewer
            for rec in (saver.ledger.get(first.request_id), saver.ledger.get(second.request_id))
            if rec.decision is not None
        }
    assert (first.request_id, "answered_directly") in events
    outside = events[(second.request_id, "answered_outside_rules")]
    assert "signed-in user is ana, but the answer names zed" in outside["data"]["why"]
    assert decided == {first.request_id: "ana", second.request_id: "ana"}


def _approve(reviewer: str) -> Any:
    from langgraph_hitl import Decision

    return Decision.approve(reviewer=reviewer)


def test_sigkill_between_recording_and_applying_then_resume(hitl_db: Path, fifos: Fifos) -> None:
    """A decider killed after recording, as the agent resumes (before the tool runs):
    `resume --all` applies the decision once, and the refund is made once."""
    start(hitl_db, REVIEW, "Order 42 arrived broken", "K-1")
    [rid] = ok(cli(hitl_db, "thread", "K-1", "--json"))["pending"]
    decider = start_cli(hitl_db, "approve", rid, "--reviewer", "ana", env=fifos.env("scorer"))
    fifos.wait_ready(decider)
    decider.send_signal(signal.SIGKILL)
    finish(decider)
    assert refunds(hitl_db) == []
    assert query(hitl_db, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [
        ("decided",)
    ]
    ok(cli(hitl_db, "resume", "--all"))
    assert refunds(hitl_db) == [("42", 180.0)]
    assert "I've refunded 180.00 USD for order 42" in last_words(hitl_db, "K-1")
    ok(cli(hitl_db, "resume", "--all"))
    assert refunds(hitl_db) == [("42", 180.0)]


def test_racing_deciders_on_one_agent_pause_have_one_winner(hitl_db: Path) -> None:
    """Two processes approve and reject the same tool call at once: one wins, the other
    exits 3, and the tool runs at most once."""
    start(hitl_db, EXAMPLE, "Order 42 arrived broken", "X-1")
    [rid] = ok(cli(hitl_db, "thread", "X-1", "--json"))["pending"]
    procs = [
        start_cli(hitl_db, "approve", rid, "--reviewer", "ana"),
        start_cli(hitl_db, "reject", rid, "--reason", "duplicate", "--reviewer", "ben"),
    ]
    codes = sorted(finish(p).returncode for p in procs)
    assert codes == [0, 3]
    assert len(query(hitl_db, "SELECT * FROM hitl_decisions")) == 1
    assert len(refunds(hitl_db)) <= 1
    assert ok(cli(hitl_db, "thread", "X-1", "--json"))["status"] == "done"


# -- our ApprovalMiddleware --------------------------------------------------------------


def test_example_walkthrough_edit_from_another_process(hitl_db: Path) -> None:
    """The README's tour: the agent proposes a refund, pauses, a reviewer edits the amount
    from another process, the agent refunds that and answers the customer."""
    status = start(hitl_db, EXAMPLE, "Order 42 arrived broken, please refund it", "R-42")
    [rid] = status["pending"]
    shown = ok(cli(hitl_db, "show", rid, "--json"))
    request = shown["request"]
    assert request["risk_tier"] == "high" and shown["eligible_roles"] == ["manager"]
    assert "I recommend a full refund" in request["recommendation"]
    assert request["attempted"][0].startswith('lookup_order(order_id="42") -> ')
    assert request["goal"] == "Order 42 arrived broken, please refund it"
    assert any("user: Order 42" in line for line in request["history"])
    assert "amount 180.00 is over the 100.00 limit" in request["reasons"]
    assert shown["deadline"] is not None
    ok(cli(hitl_db, "modify", rid, "--set", "amount=90", "--reviewer", "ana"))
    assert refunds(hitl_db) == [("42", 90.0)]
    turns = ok(cli(hitl_db, "thread", "R-42"))
    assert "assistant: I've refunded 90.00 USD for order 42" in turns
    assert "user: Order 42 arrived broken" in turns


def test_rejection_reaches_the_model_with_the_reason(hitl_db: Path) -> None:
    start(hitl_db, EXAMPLE, "Order 42 arrived broken", "J-1")
    [rid] = ok(cli(hitl_db, "thread", "J-1", "--json"))["pending"]
    ok(cli(hitl_db, "reject", rid, "--reason", "already replaced the kettle"))
    assert refunds(hitl_db) == []
    assert last_words(hitl_db, "J-1") == (
        "I'm sorry: I can't refund order 42 (already replaced the kettle)."
    )


def _route(db: Path, thread: str, message: str, confidence: float) -> dict[str, Any]:
    import os

    from tests.graphs.review_agent import make_agent

    os.environ["REVIEW_AGENT_CONFIDENCE"] = str(confidence)
    try:
        with open_checkpointer(db, graph=REVIEW, root=REPO) as saver:
            config = {"configurable": {"thread_id": thread}}
            make_agent(saver).invoke({"messages": [{"role": "user", "content": message}]}, config)
            [route] = [r for r in saver.ledger.routes(thread_id=thread)]
            return route
    finally:
        del os.environ["REVIEW_AGENT_CONFIDENCE"]


def test_middleware_routes_by_amount_tier_and_confidence(hitl_db: Path) -> None:
    """The same tool call runs alone, is sampled, is queued for review, or escalates, by
    its amount (tier) and the scorer's confidence; every outcome is in the routing log."""
    from tests.graphs.review_agent import POLICY

    # Order 7 refunds 35: tier low; sampled at 50% per tool call, drawn from thread and call.
    sampled = next(f"S-{i}" for i in range(50) if POLICY.sample(f"S-{i}:refund", 0.5))
    alone = next(f"S-{i}" for i in range(50) if not POLICY.sample(f"S-{i}:refund", 0.5))
    assert _route(hitl_db, alone, "order 7 is broken", 0.9)["outcome"] == "autonomous"
    assert _route(hitl_db, sampled, "order 7 is broken", 0.9)["outcome"] == "sampled"
    assert _route(hitl_db, "M-1", "order 7 is broken", 0.6)["outcome"] == "review"
    low = _route(hitl_db, "L-1", "order 7 is broken", 0.3)
    assert (low["outcome"], low["reasons"]) == ("escalated", ["low confidence (0.30 < 0.50)"])
    high = _route(hitl_db, "H-1", "order 42 is broken", 0.95)
    assert (high["outcome"], high["tier"]) == ("escalated", "high")
    assert (_route(hitl_db, "C-1", "order 9 is broken", 0.95)["tier"]) == "critical"
    # What ran alone was refunded; what escalated waits; sampled and review are queued.
    assert sorted(refunds(hitl_db)) == [("7", 35.0)]  # one order id: refunded once
    with ReviewLedger.open(hitl_db) as ledger:
        assert {r.thread_id for r in ledger.reviews()} == {sampled, "M-1"}
        assert {r.thread_id for r in ledger.pending()} == {"L-1", "H-1", "C-1"}


def test_quorum_and_deadlines_on_an_agents_tool_call(hitl_db: Path) -> None:
    """A critical refund needs two managers (the first approval is a vote); a high one
    nobody decides escalates to a director at its deadline, then is rejected, and the
    model is told."""
    start(hitl_db, REVIEW, "Order 9 arrived broken", "Q-1")
    for name, role in (
        ("sue", "support"),
        ("ana", "manager"),
        ("ben", "manager"),
        ("dee", "director"),
    ):
        ok(cli(hitl_db, "reviewers", "add", name, "--role", role))
    [rid] = ok(cli(hitl_db, "thread", "Q-1", "--json"))["pending"]
    assert "sue is a support and may not decide" in one_line_error(
        cli(hitl_db, "approve", rid, "--reviewer", "sue"), 4
    )
    vote = ok(cli(hitl_db, "approve", rid, "--reviewer", "ana"))
    assert "approval 1 of 2 recorded" in vote and refunds(hitl_db) == []
    ok(cli(hitl_db, "approve", rid, "--reviewer", "ben"))
    assert refunds(hitl_db) == [("9", 2500.0)]

    start(hitl_db, REVIEW, "Order 42 arrived broken", "T-1")
    [late] = ok(cli(hitl_db, "thread", "T-1", "--json"))["pending"]
    desk = ReviewDesk(hitl_db, base=REPO)
    deadline = desk.show(late).deadline
    assert deadline is not None
    [step] = desk.sweep(now=deadline + 1)
    assert (step["step"], step["role"]) == ("escalated", "director")
    [final] = desk.sweep(now=deadline + 2 * 3600 + 2)
    assert (final["step"], final["decision"], final["applied"]) == ("timed_out", "reject", True)
    assert ("42", 180.0) not in refunds(hitl_db)
    assert "nobody decided before the deadline" in last_words(hitl_db, "T-1")


def test_a_direct_answer_to_the_middleware_meets_the_ledgers_rules(hitl_db: Path) -> None:
    """`Command(resume=...)` to our middleware's pause: a support agent is refused in
    place (nothing saved), a first manager's approval of a critical refund is a vote, and
    a second manager's acts; the refund is made once."""
    from langgraph.types import Command

    from tests.graphs.review_agent import make_agent

    with open_checkpointer(hitl_db, graph=REVIEW, root=REPO) as saver:
        for name, role in (("sue", "support"), ("ana", "manager"), ("ben", "manager")):
            saver.ledger.add_reviewer(name, role)
        agent = make_agent(saver)
        config = {"configurable": {"thread_id": "Y-1"}}
        agent.invoke({"messages": [{"role": "user", "content": "order 9 broke"}]}, config)
        with pytest.raises(NotAuthorizedError):
            agent.invoke(Command(resume={"type": "approve", "reviewer": "sue"}), config)
        with pytest.raises(QuorumPendingError):
            agent.invoke(Command(resume={"type": "approve", "reviewer": "ana"}), config)
        assert agent.get_state(config).interrupts
        # A front end built for LangChain's middleware answers in its batched form.
        agent.invoke(
            Command(resume={"decisions": [{"type": "approve", "reviewer": "ben"}]}), config
        )
    assert refunds(hitl_db) == [("9", 2500.0)]


def test_metrics_and_audit_cover_gate_and_agent_requests(hitl_db: Path, load_invoice: Any) -> None:
    """One ledger holding an invoice gate's requests and an agent's: metrics count both,
    `audit verify` vouches for both, and an edited agent request breaks the chain."""
    invoice = json.dumps(load_invoice("large"))
    ok(cli(hitl_db, "run", "invoice", "--input", invoice, "--thread", "INV-1"))
    ok(cli(hitl_db, "reject", "INV-1", "--reason", "duplicate"))
    start(hitl_db, EXAMPLE, "Order 42 arrived broken", "A-1")
    ok(cli(hitl_db, "modify", "A-1", "--set", "amount=90"))
    metrics = ok(cli(hitl_db, "metrics", "--json", "--by", "gate"))
    groups = metrics["groups"]
    assert groups["approve_payment"]["decisions"]["by_type"] == {"reject": 1}
    assert groups["tools"]["decisions"]["by_type"] == {"modify": 1}
    overall = metrics["overall"]
    assert overall["escalation"]["routed"] == 2 and overall["escalation"]["escalated"] == 2
    assert ok(cli(hitl_db, "audit", "verify", "--json"))["ok"] is True
    with closing(sqlite3.connect(hitl_db)) as conn, conn:
        # A forgery: the agent's refund, decided by a manager, now says anyone could.
        conn.execute("UPDATE hitl_requests SET eligible = NULL WHERE thread_id = 'A-1'")
    broken = cli(hitl_db, "audit", "verify")
    assert broken.returncode == 1
    [agent_request] = query(hitl_db, "SELECT request_id FROM hitl_requests WHERE thread_id = 'A-1'")
    assert agent_request[0] in broken.stdout + broken.stderr


def _record_only(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A reviewer's `langgraph-hitl ... --no-apply` process; it says on its last stderr
    line how many LangGraph / LangChain modules it loaded, and whether the agent's file."""
    script = (
        "import atexit, sys\n"
        "def loaded():\n"
        "    names = [m for m in sys.modules if m.split('.')[0] in ('langgraph', 'langchain')]\n"
        "    print('LOADED', len(names), 'stock_agent' in str(sys.modules), file=sys.stderr)\n"
        "atexit.register(loaded)\n"
        "from langgraph_hitl.cli import main\n"
        f"sys.argv = ['langgraph-hitl', '--db', {str(db)!r}, *{list(args)!r}, '--no-apply']\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=cli_env(),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_decisions_recorded_on_a_stock_pause_are_applied_by_a_worker(hitl_db: Path) -> None:
    """Record here, apply there, for LangChain's middleware: each tool call of a batched
    pause is recorded by a process that loads neither LangGraph, LangChain nor the agent;
    the first says which call is still open (and `--wait` does not wait for a worker that
    cannot apply yet); one `worker` round then resumes the pause once, in its order."""
    status = start(hitl_db, f"{STOCK}:batched", "the parcel arrived broken", "W-1")
    refund_id, email_id = status["pending"]
    body = "Refund of 80.00 on its way."
    first = _record_only(hitl_db, "modify", email_id, "--set", f"body={body}", "--reviewer", "ana")
    assert first.returncode == 0, first
    assert first.stderr.splitlines()[-1] == "LOADED 0 False"
    assert f"{email_id}: modify recorded" in first.stdout
    assert f"a worker resumes it when all are decided; still open: {refund_id}" in first.stdout
    # Nothing a worker can apply yet: the pause waits for its other call.
    assert ok(cli(hitl_db, "worker", "--once")).strip() == "nothing to apply"
    assert actions(hitl_db) == []

    second = _record_only(hitl_db, "approve", refund_id, "--reviewer", "ben")
    assert second.returncode == 0, second
    assert second.stderr.splitlines()[-1] == "LOADED 0 False"
    assert "approve recorded; a worker applies it" in second.stdout
    unapplied = ok(cli(hitl_db, "list", "--json"))["unapplied"]
    assert sorted(row["request_id"] for row in unapplied) == sorted([refund_id, email_id])

    worked = cli(hitl_db, "worker", "--once", "--json")
    assert worked.returncode == 0, worked
    assert [json.loads(line) for line in worked.stdout.splitlines()] == [
        {"thread_id": "W-1", "result": "applied", "status": "done", "error": None}
    ]
    assert sorted(actions(hitl_db)) == [
        ("email", {"to": "ada@example.com", "body": body}),
        ("refund", {"order_id": "A-42", "amount": 80.0}),
    ]
    # One resume for the pause, by the worker: both applied under one lease.
    sql = "SELECT DISTINCT applier FROM hitl_requests WHERE thread_id = 'W-1'"
    assert len(query(hitl_db, sql)) == 1
    assert ok(cli(hitl_db, "worker", "--once")).strip() == "nothing to apply"


def test_wait_on_a_stock_pause_with_calls_open_returns_at_once(hitl_db: Path) -> None:
    """`approve --wait` on one tool call of a batched pause whose other call is open:
    recorded, told what is still open, exit 0; nothing applied."""
    status = start(hitl_db, f"{STOCK}:batched", "the parcel arrived broken", "W-2")
    refund_id, email_id = status["pending"]
    done = ok(cli(hitl_db, "approve", refund_id, "--wait", "120", "--reviewer", "ana", "--json"))
    assert done["applied"] is False and done["waits_for"] == [email_id]
    assert ok(cli(hitl_db, "thread", "W-2", "--json"))["pending"] == [email_id]
    assert actions(hitl_db) == []


# -- the README --------------------------------------------------------------------------

README_SECTION = "## LangChain agents"
REQUEST_ID = re.compile(r"req_[0-9a-f]{12}")


def _walkthrough() -> list[tuple[list[str], list[str], int]]:
    """The README's agent walkthrough: each `$ langgraph-hitl` command, the lines the
    README shows after it, and the exit code it gives (`# exit N`, else 0)."""
    section = (REPO / "README.md").read_text().split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```console\n(.*?)```", section, re.S)[0]
    steps: list[tuple[list[str], list[str], int]] = []
    command = False
    for line in block.splitlines():
        if line.startswith("$ "):
            command = line.startswith("$ langgraph-hitl ")
            if command:
                steps.append((shlex.split(line[2:].split("  #", 1)[0])[1:], [], 0))
        elif command and line.strip():
            argv, shown, code = steps[-1]
            noted = re.search(r"\s+# exit (\d+)$", line)
            if noted:
                line, code = line[: noted.start()], int(noted.group(1))
            steps[-1] = (argv, [*shown, line], code)
    return steps


def _same_text(lines: list[str]) -> list[str]:
    """Lines as compared: request ids and ages vary from run to run; trailing blanks."""
    return [
        re.sub(r"created \d+s ago", "created Ns ago", REQUEST_ID.sub("req_ID", line)).rstrip()
        for line in lines
        if line.strip()
    ]


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """Every `langgraph-hitl` command of the README's agent walkthrough, in order, in the
    repository, on a fresh database: the exit code and the output the README shows (a
    panel the README shortens with `...` is checked by its exit code only)."""
    steps = _walkthrough()
    assert [argv[0] for argv, _, _ in steps] == [
        "run", "show", "reviewers", "reviewers", "modify", "modify", "thread",
    ]  # fmt: skip
    db = tmp_path / "refunds.sqlite"
    for argv, shown, code in steps:
        done = run_cli(db, *argv, cwd=REPO, env={"COLUMNS": "80"})
        assert done.returncode == code, (argv, done)
        if any("..." in line for line in shown):
            continue
        assert _same_text((done.stdout + done.stderr).splitlines()) == _same_text(shown), argv
    assert refunds(db) == [("42", 90.0)]


def test_a_batched_stock_pause_on_postgresql(postgres_dsn: str) -> None:
    """The same commands on PostgreSQL: each tool call of a batched pause decided from its
    own process (one only recorded, for a worker), the pause resumed once, in order."""
    import psycopg

    status = start(postgres_dsn, f"{STOCK}:batched", "the parcel arrived broken", "G-1")
    refund_id, email_id = status["pending"]
    body = "Refund of 80.00 on its way."
    edited = ok(cli(postgres_dsn, "modify", email_id, "--set", f"body={body}", "--no-apply"))
    assert f"still open: {refund_id}" in edited
    assert ok(cli(postgres_dsn, "worker", "--once")).strip() == "nothing to apply"
    ok(cli(postgres_dsn, "approve", refund_id, "--no-apply"))
    worked = cli(postgres_dsn, "worker", "--once", "--json")
    assert worked.returncode == 0, worked
    assert json.loads(worked.stdout)["status"] == "done"
    with psycopg.connect(postgres_dsn) as conn:
        ran = conn.execute("SELECT tool, args FROM actions ORDER BY tool").fetchall()
        appliers = conn.execute(
            "SELECT DISTINCT applier FROM hitl_requests WHERE thread_id = 'G-1'"
        ).fetchall()
    assert [(tool, json.loads(args)) for tool, args in ran] == [
        ("email", {"to": "ada@example.com", "body": body}),
        ("refund", {"order_id": "A-42", "amount": 80.0}),
    ]
    assert len(appliers) == 1
