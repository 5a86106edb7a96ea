"""langgraph-hitl's saver as the checkpointer of LangGraph's own server (`langgraph dev`).

A real `langgraph dev` process on loopback, a free port, its project's `langgraph.json`
naming `langgraph_hitl.server.checkpointer`, driven with `langgraph-sdk` as Studio or an
app would drive it. The server's threads pause into our ledger (`list`), the CLI decides
them in other processes, and the server reads the result; an answer sent through the
server's API meets the same rules as one given to the CLI. The agents are
`tests/graphs/server_agent.py`: the refund example under `ApprovalMiddleware`, and under
LangChain's stock HumanInTheLoopMiddleware (no network, no LLM).

The server's telemetry, version check and browser are off, and it binds 127.0.0.1 only.
It is ready when its health endpoint (`/ok`) answers: polled a bounded number of times.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from processes import cli_env, one_line_error, query, run_cli

REPO = Path(__file__).resolve().parent.parent
AGENTS = REPO / "tests" / "graphs" / "server_agent.py"

READY_TRIES = 600
"""How many times the health endpoint is asked before the server counts as failed."""
READY_INTERVAL_S = 0.2
"""Between two asks (so at most two minutes on a busy machine)."""
START_ATTEMPTS = 3
"""Fresh ports tried when another process takes the free one first."""

QUIET = {
    # No analytics, version check or tracing: nothing leaves loopback.
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def healthy(url: str) -> bool:
    """Whether the server at `url` answers its health check (no proxy, loopback only)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/ok", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class DevServer:
    """A running `langgraph dev` on a project folder holding `hitl.sqlite`."""

    url: str
    project: Path
    db: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self) -> Any:
        from langgraph_sdk import get_sync_client

        return get_sync_client(url=self.url, api_key=None)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`langgraph-hitl` in the server's project folder, on its database."""
        return run_cli(self.db, *args, cwd=self.project, env={"LANGGRAPH_HITL_DB": str(self.db)})


def _start(project: Path, db: Path) -> DevServer:
    """Start `langgraph dev` in `project`; return once `/ok` answers (bounded polling)."""
    for _attempt in range(START_ATTEMPTS):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = project / f"server-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "langgraph_cli", "dev"),
                    *("--host", "127.0.0.1", "--port", str(port)),
                    *("--no-browser", "--no-reload"),
                ],
                cwd=project,
                env=cli_env({**QUIET, "LANGGRAPH_HITL_DB": str(db)}),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = DevServer(url=url, project=project, db=db, proc=proc, log=log)
        for _try in range(READY_TRIES):
            if proc.poll() is not None:
                raise AssertionError(f"langgraph dev exited {proc.returncode}:\n{log.read_text()}")
            if "already in use" in log.read_text(errors="replace"):
                break  # another process took the port: it moved elsewhere; try a fresh one
            if healthy(url):
                return server
            time.sleep(READY_INTERVAL_S)  # polling the health endpoint, bounded
        else:
            _stop(server)
            raise AssertionError(f"langgraph dev not ready on {url}:\n{log.read_text()}")
        _stop(server)
    raise AssertionError(f"no free port held for langgraph dev in {START_ATTEMPTS} tries")


def _stop(server: DevServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """One dev server for the module, its project in a fresh folder, reviewers registered."""
    project = tmp_path_factory.mktemp("studio-project")
    db = project / "hitl.sqlite"
    (project / "langgraph.json").write_text(
        json.dumps(
            {
                # The agents import the repository's `examples` package.
                "dependencies": [str(REPO)],
                "graphs": {"refunds": f"{AGENTS}:agent", "stock": f"{AGENTS}:stock"},
                "checkpointer": {"path": "langgraph_hitl.server.checkpointer"},
            }
        )
    )
    running = _start(project, db)
    try:
        for name, role in (("mia", "manager"), ("jo", "support")):
            assert running.cli("reviewers", "add", name, "--role", role).returncode == 0
        yield running
    finally:
        _stop(running)


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout) if done.stdout.lstrip().startswith(("{", "[")) else done.stdout


@pytest.fixture
def client(server: DevServer) -> Iterator[Any]:
    """A `langgraph-sdk` client of the server, closed after the test."""
    with server.client() as opened:
        yield opened


def pause(client: Any, graph: str, message: str) -> str:
    """Start a run of `graph` through the server's API; it must pause. Its thread id."""
    thread_id: str = client.threads.create()["thread_id"]
    out = client.runs.wait(
        thread_id, graph, input={"messages": [{"role": "user", "content": message}]}
    )
    assert out.get("__interrupt__"), out
    return thread_id


def pending(server: DevServer, thread_id: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = ok(server.cli("list", "--json"))["requests"]
    return [r for r in listed if r["thread_id"] == thread_id]


def refunds(server: DevServer, order_id: str) -> list[tuple[Any, ...]]:
    return query(server.db, "SELECT order_id, amount FROM refunds WHERE order_id = ?", order_id)


def last_words(client: Any, thread_id: str) -> str:
    return str(client.threads.get_state(thread_id)["values"]["messages"][-1]["content"])


def test_a_server_run_pauses_into_the_ledger_and_the_cli_decides_it(
    server: DevServer, client: Any
) -> None:
    """A run started through the server's API pauses at our middleware: `list` has it with
    the context package; the CLI refuses a support agent (exit 4, nothing changes) and
    applies a manager's edit; the server then reads the finished conversation."""
    thread_id = pause(client, "refunds", "Order 42 arrived broken")
    assert client.threads.get_state(thread_id)["next"] == ["tools"]
    [listed] = pending(server, thread_id)
    assert (listed["graph"], listed["gate"], listed["tier"]) == ("refunds", "tools", "high")
    assert listed["action"]["name"] == "issue_refund"
    assert listed["action"]["args"]["amount"] == 180.0
    rid = listed["request_id"]
    shown = ok(server.cli("show", rid, "--json"))
    assert "I recommend a full refund" in shown["request"]["recommendation"]
    # The thread remembers the server's graph id and folder: the CLI loads the same agent.
    assert query(server.db, "SELECT graph FROM hitl_threads WHERE thread_id = ?", thread_id) == [
        ("refunds",)
    ]

    error = one_line_error(server.cli("approve", rid, "--reviewer", "jo"), 4)
    assert "jo is a support and may not decide" in error
    assert [r["request_id"] for r in pending(server, thread_id)] == [rid]

    ok(server.cli("modify", rid, "--set", "amount=90", "--reviewer", "mia"))
    assert refunds(server, "42") == [("42", 90.0)]
    state = client.threads.get_state(thread_id)
    assert state["next"] == [] and state["interrupts"] == []
    assert (
        last_words(client, thread_id) == "I've refunded 90.00 USD for order 42. Sorry about that!"
    )
    assert pending(server, thread_id) == []


def test_an_answer_through_the_server_meets_the_same_rules(server: DevServer, client: Any) -> None:
    """`Command(resume=...)` sent through the server's API: a support agent's approval is
    refused in place (the run fails with the refusal, the pause stays exactly as it was,
    nothing is refunded); a manager's is recorded and acts once; the CLI is then told it
    was decided."""
    thread_id = pause(client, "refunds", "Order 42 arrived broken")
    [listed] = pending(server, thread_id)
    rid = listed["request_id"]
    before = client.threads.get_state(thread_id)["interrupts"]

    refused = client.runs.wait(
        thread_id,
        "refunds",
        command={"resume": {"type": "approve", "reviewer": "jo"}},
        raise_error=False,
    )
    assert "jo is a support and may not decide" in json.dumps(refused)
    assert client.threads.get_state(thread_id)["interrupts"] == before
    assert [r["request_id"] for r in pending(server, thread_id)] == [rid]
    events = query(
        server.db, "SELECT kind, actor FROM hitl_events WHERE request_id = ? ORDER BY seq", rid
    )
    assert ("refused", "jo") in events

    done = client.runs.wait(
        thread_id, "refunds", command={"resume": {"type": "approve", "reviewer": "mia"}}
    )
    assert "I've refunded 180.00 USD for order 42" in str(done["messages"][-1]["content"])
    decided = query(
        server.db, "SELECT type, reviewer FROM hitl_decisions WHERE request_id = ?", rid
    )
    assert decided == [("approve", "mia")]
    assert query(server.db, "SELECT status FROM hitl_requests WHERE request_id = ?", rid) == [
        ("applied",)
    ]
    error = one_line_error(server.cli("approve", rid, "--reviewer", "mia"), 3)
    assert rid in error
    assert ok(server.cli("audit", "verify", "--json"))["ok"] is True


def test_the_stock_middleware_under_the_server(server: DevServer, client: Any) -> None:
    """LangChain's own HumanInTheLoopMiddleware, run by the server: its pause is in
    `list`; the CLI's rejection reaches the model; an edit sent through the server's API
    in the middleware's own format is recorded as answered directly, and runs edited."""
    thread_id = pause(client, "stock", "Order 7 arrived broken")
    [listed] = pending(server, thread_id)
    assert listed["gate"] == "HumanInTheLoopMiddleware.after_model"
    ok(server.cli("reject", listed["request_id"], "--reason", "no photo", "--reviewer", "mia"))
    assert last_words(client, thread_id) == "I'm sorry: I can't refund order 7 (no photo)."
    assert refunds(server, "7") == []

    thread_id = pause(client, "stock", "Order 7 arrived broken")
    [listed] = pending(server, thread_id)
    edited = {"name": "issue_refund", "args": {"order_id": "7", "amount": 20.0, "reason": "late"}}
    answer = {"decisions": [{"type": "edit", "edited_action": edited, "reviewer": "mia"}]}
    client.runs.wait(thread_id, "stock", command={"resume": answer})
    assert refunds(server, "7") == [("7", 20.0)]
    rid = listed["request_id"]
    assert query(
        server.db, "SELECT type, reviewer FROM hitl_decisions WHERE request_id = ?", rid
    ) == [("modify", "mia")]
    kinds = [
        k for (k,) in query(server.db, "SELECT kind FROM hitl_events WHERE request_id = ?", rid)
    ]
    assert "answered_directly" in kinds
    assert pending(server, thread_id) == []


def test_recorded_here_applied_by_a_worker_the_server_reads_it(
    server: DevServer, client: Any
) -> None:
    """A reviewer records with `--no-apply`; `langgraph-hitl worker` (in the server's
    project folder) loads the server's agent and resumes the thread; the server's API
    then reads the answer."""
    thread_id = pause(client, "stock", "Order 7 arrived broken")
    [listed] = pending(server, thread_id)
    recorded = ok(server.cli("approve", listed["request_id"], "--no-apply", "--reviewer", "mia"))
    assert "approve recorded; a worker applies it" in recorded
    assert client.threads.get_state(thread_id)["interrupts"]  # recorded, not applied
    worked = server.cli("worker", "--once", "--json")
    assert worked.returncode == 0, worked
    applied = [json.loads(line) for line in worked.stdout.splitlines()]
    assert {"thread_id": thread_id, "result": "applied", "status": "done", "error": None} in applied
    assert last_words(client, thread_id) == (
        "I've refunded 35.00 USD for order 7. Sorry about that!"
    )


def test_the_server_checkpointer_follows_the_clis_database_to_postgresql(
    postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`$LANGGRAPH_HITL_DB` a `postgresql://` URL, as the CLI reads it: the server's
    checkpointer is our PostgreSQL saver. A run as the server makes one (its graph id in
    the run's config, `ainvoke` on the server's loop) pauses into the ledger under that
    graph id and folder; the CLI in that folder decides it, and the agent finishes."""
    import asyncio

    import psycopg

    from langgraph_hitl.server import checkpointer
    from tests.graphs.stock_agent import batched

    (tmp_path / "langgraph.json").write_text(
        json.dumps({"graphs": {"stock": f"{REPO}/tests/graphs/stock_agent.py:batched"}})
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LANGGRAPH_HITL_DB", postgres_dsn)

    async def serve() -> str:
        async with checkpointer() as saver:
            config = {"configurable": {"thread_id": "S-1", "graph_id": "stock"}}
            ask = {"messages": [{"role": "user", "content": "The parcel arrived broken"}]}
            out = await batched(saver).ainvoke(ask, config)
            return type(saver).__name__ if out.get("__interrupt__") else "did not pause"

    assert asyncio.run(serve()) == "HitlPostgresSaver"
    with psycopg.connect(postgres_dsn) as conn:
        threads = conn.execute("SELECT graph, graph_root FROM hitl_threads").fetchall()
    assert threads == [("stock", str(tmp_path.resolve()))]
    listed = run_cli(postgres_dsn, "list", "--json", cwd=tmp_path)
    refund_id, email_id = [r["request_id"] for r in ok(listed)["requests"]]
    ok(run_cli(postgres_dsn, "approve", email_id, cwd=tmp_path))
    done = ok(run_cli(postgres_dsn, "approve", refund_id, "--json", cwd=tmp_path))
    assert done["thread"]["status"] == "done"
    with psycopg.connect(postgres_dsn) as conn:
        ran = conn.execute("SELECT tool FROM actions ORDER BY tool").fetchall()
    assert ran == [("email",), ("refund",)]
