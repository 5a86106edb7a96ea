"""The inbox's queue under load: requests per second and latency at 10,000 pending requests.

A ledger holds 10,000 pending requests (recorded through `ReviewLedger.record_request`
from a gate's interrupt payload, as a gate records them; no graphs run: the queue page
reads the ledger only), of four tiers, four gates and four actions, half of them for
managers only and half for anyone, a quarter with deadlines. A real `langgraph-hitl serve`
process serves it; a load client in this process (httpx, `CONNECTIONS` concurrent
connections, signed in as a manager through the sign-in form) asks for each path
`REQUESTS` times after `WARM` untimed requests, and reports requests per second (all
answers over the wall time) and p50/p99 latency of single answers.

Paths: `/` (the page: the reviewer's counts per gate, tier and action, and the first 200
rows), `/api/queue` (the same as JSON), `/?tier=critical` (filtered), and `/` for a
junior (who sees half of the queue).

The client and the server share the machine: the figures are the pair's, not the
server's alone. On PostgreSQL (Debian's server, throwaway, `fsync=off`, as `tests/
postgres.py` starts it) when the binaries are there; otherwise SQLite only, and it says
why. Figures only: nothing here passes or fails on time.

Sizes: HITL_BENCH_SCALE=default (10,000 requests, 400 timed answers per path) or full
(the same queue, 2,000 answers per path).
Run: .venv/bin/python bench/bench_inbox.py
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from _common import REPO, pick, scratch_dir, table

from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.ledger.store.postgres import close_pools
from langgraph_hitl.models import REQUEST_KIND, Action, ApprovalRequest
from langgraph_hitl.web.auth import hash_password

sys.path.insert(0, str(REPO / "tests"))
from postgres import PostgresServer, unavailable

PENDING = 10_000
REQUESTS: int = pick(400, 2_000)
WARM = 20
CONNECTIONS = 4
SECRET = "a benchmark key that is long enough to sign sessions"
PASSWORD = "a long benchmark passphrase"
ADDRESS = re.compile(r"inbox on (http://\S+?)/ ")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TIERS = ("low", "medium", "high", "critical")
GATES = ("approve_payment", "approve_refund", "notify", "close_account")
ACTIONS = ("pay_invoice", "refund", "send_email", "close_account")


def log(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ranked = sorted(values)
    return ranked[max(0, min(len(ranked) - 1, round(p / 100 * len(ranked)) - 1))]


def payload(i: int) -> dict[str, Any]:
    request = ApprovalRequest(
        action=Action(name=ACTIONS[i % 4], args={"invoice_id": f"INV-{i:05d}", "amount": i}),
        summary=f"Pay INV-{i:05d}: {i:,}.00 USD to Vendor {i % 97}",
        reasons=["amount over the limit"],
        risk_tier=TIERS[i % 4],
        confidence=(i % 100) / 100,
        review_roles=["manager"] if i % 2 else ["junior", "manager"],
        deadline_in=3600.0 + i if i % 4 == 0 else None,
    )
    return {
        "kind": REQUEST_KIND,
        "version": 1,
        "gate": GATES[(i // 4) % 4],
        "request": request.to_wire(),
        "args_digest": request.action.digest(),
    }


def populate(db: str | Path) -> float:
    """PENDING requests and two reviewers with passwords; the seconds it took."""
    start = time.perf_counter()
    with ReviewLedger.open(db, create=True) as ledger:
        for name, role in (("ana", "manager"), ("jun", "junior")):
            ledger.add_reviewer(name, role)
            ledger.set_password_hash(name, hash_password(PASSWORD))
        for i in range(PENDING):
            ledger.record_request(
                thread_id=f"t{i:06d}", interrupt_id=uuid.uuid4().hex, payload=payload(i)
            )
    return time.perf_counter() - start


def serve(db: str | Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
    env["LANGGRAPH_HITL_SECRET"] = SECRET
    proc = subprocess.Popen(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), "serve", "--port", "0"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = ADDRESS.search(line)
    if not found:
        proc.kill()
        raise RuntimeError(f"serve did not start: {line!r} {proc.communicate()[1]}")
    return proc, found.group(1)


async def measure(url: str, name: str, path: str) -> list[Any]:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        page = await client.get("/login")
        token = CSRF.search(page.text)
        assert token, page.text
        signed = await client.post(
            "/login", data={"csrf": token.group(1), "name": name, "password": PASSWORD}
        )
        assert signed.status_code == 303, signed.text
        query = path.partition("?")[2]
        rows = len((await client.get("/api/queue" + (f"?{query}" if query else ""))).json())
        latencies: list[float] = []
        todo = iter(range(WARM + REQUESTS))

        async def worker() -> None:
            for n in todo:
                start = time.perf_counter()
                answer = await client.get(path)
                elapsed = time.perf_counter() - start
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: {answer.status_code}")
                if n >= WARM:
                    latencies.append(elapsed)

        # Untimed warm-up first, one connection at a time.
        for _ in range(WARM):
            next(todo)
            await client.get(path)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        wall = time.perf_counter() - start
    return [
        path if name == "ana" else f"{path} (junior)",
        rows,
        len(latencies) / wall,
        percentile(latencies, 50) * 1e3,
        percentile(latencies, 99) * 1e3,
    ]


def run(label: str, db: str | Path) -> None:
    log(f"{label}: recording {PENDING:,} requests")
    seconds = populate(db)
    close_pools()
    log(f"{label}: {PENDING:,} recorded in {seconds:.0f} s; serving")
    proc, url = serve(db)
    rows = []
    try:
        for name, path in (
            ("ana", "/"),
            ("ana", "/api/queue"),
            ("ana", "/?tier=critical"),
            ("jun", "/"),
        ):
            log(f"{label}: {path} as {name}")
            rows.append(asyncio.run(measure(url, name, path)))
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    print(
        table(
            f"{label}: {PENDING:,} pending requests, `langgraph-hitl serve`, {CONNECTIONS}"
            f" concurrent connections, {REQUESTS} timed answers per path (load average at"
            f" the end: {load()})",
            ["path", "rows shown", "requests/s", "p50 ms", "p99 ms"],
            rows,
        )
    )


def main() -> None:
    print(f"load average (1, 5, 15 min) at start: {load()}\n")
    with scratch_dir("inbox") as tmp:
        run("SQLite", tmp / "inbox.sqlite")
        why = unavailable()
        if why is not None:
            print(f"PostgreSQL skipped: {why}")
            return
        server = PostgresServer().start()
        try:
            run("PostgreSQL", server.create_database())
        finally:
            close_pools()
            server.stop()


if __name__ == "__main__":
    main()
