"""A team on one database: listing a large ledger, workers applying, recording from the CLI.

Every figure is taken on SQLite (one file) and on PostgreSQL (a throwaway server from
`tests/postgres.py`, started here: `initdb` into a temp folder, `fsync=off`, on this
machine). The package is driven only through its public names (`ReviewDesk`,
`ReviewLedger`, `Decision`) and its CLI as fresh processes. The work is the gate graph of
`_graphs.py` (agent -> gate -> act), paused at its gate by `ReviewDesk.run`.

1. list      `python -m langgraph_hitl --db DB list --json` in a fresh process, end to
             end, at 10,000 and 100,000 requests (1,000,000 too at full scale), against
             `python -c pass` in the same run, and `ReviewLedger.pending(limit=200)` +
             `count_pending()` in this process (the query alone, imports paid). Median of
             the runs after one untimed warm-up each, commands interleaved.
             How the ledger is made: 100 real threads paused and 100 run to the end
             (`ReviewDesk.run`, then `decide` + apply), then their ledger rows are copied
             with fresh ids by SQL `INSERT ... SELECT` straight on the tables (sqlite3 /
             psycopg; column names read from the database): `hitl_requests`,
             `hitl_decisions`, `hitl_threads` and `hitl_args` (each copy its own args
             digest). 2,000 requests are pending at every size, the rest finished
             (applied), spread back in time. Checkpoints and events are not copied (list
             reads neither), so this measures the ledger's query and the process at that
             many requests, not a checkpoint store of that size; the copies' audit chain
             does not cover them. PostgreSQL gets `VACUUM ANALYZE` after each bulk copy,
             as its autovacuum would.
2. throughput  Decide + apply: N threads paused (a template database, copied per run).
             PostgreSQL with W = 1, 2, 4, 8 `python -m langgraph_hitl --db DB worker --json`
             processes: the workers start and are warmed up (each applies at least one
             decision, so LangGraph and the graph are loaded), then, once idle, they are
             stopped (SIGSTOP); this process records the N decisions through
             `ReviewDesk.decide(..., apply=False)` (`--no-apply`'s path; timed: "record s");
             then the workers are continued (SIGCONT) and timed until every one of the N
             threads is applied ("apply s", read from the workers' `--json` lines, checked
             in the ledger afterwards). Reported: decisions per second applied
             (N / apply s) and recorded + applied (N / (record s + apply s)), the workers'
             CPU seconds per decision (from /proc), the threads a worker skipped because
             another held its lease ("busy"), and ratios to the reference: one SQLite
             process deciding and applying in-process (`ReviewDesk.decide` with apply,
             inside `keep_graphs()`, one warm-up decision first) on the same N threads.
             Rows for PostgreSQL in one process, and SQLite with 1 worker, separate the
             backend from the worker.
3. record    A fresh `approve ID --no-apply --reviewer r` process against `list` (plain)
             and against an `approve ID --reviewer r` process that applies in-process
             (loads LangGraph and the graph), on the same database with N paused threads;
             interleaved, median of the runs after one warm-up. Between runs this
             process applies what was recorded (`ReviewDesk.resume()`), so every `list`
             sees the same queue.
4. latency   Recorded -> applied by one waiting worker (warmed up, idle): this process
             records one decision (`decide(..., apply=False)`), notes the time it
             returned, and waits for the worker's line; latency is the request's
             `applied_at` in the ledger less that time ("wake" is `apply_started_at` less
             it: the worker found it and took the lease). Before each decision a pause
             drawn uniformly from 50 ms to 50 ms + the worker's interval (seeded), so
             decisions land at any point of a polling cycle. PostgreSQL: the idle
             worker LISTENs and the commit's NOTIFY wakes it (`--interval 1`, its
             default). SQLite: polling, at the default 1 s and at `--interval 0.1`.
5. bench_gate.py is the in-process decide + apply against plain LangGraph's resume; it
   is not repeated here (`run_all.py` runs it).

Figures only: nothing passes or fails on time. The machine is shared; the load average
is printed at the start and end.
Sizes: HITL_BENCH_SCALE=default (list at 10,000 and 100,000; N=200 threads; 7 CLI runs;
100 latency samples each) or full (list at 1,000,000 too; N=1000; 15 runs; 400 samples).
SQLite files go to $HITL_BENCH_TMP (default: the system temp dir), the PostgreSQL server's
data to the system temp dir; the list ledgers take about 2.5 KB per request on each
backend: about 1 GB in all at default scale, 7 GB at full. Without PostgreSQL's binaries
(or the `postgres` extra) the SQLite half runs and the PostgreSQL half says why it was
skipped.
Run: .venv/bin/python bench/bench_team.py [list] [throughput] [record] [latency]
(no argument: all four).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, REPO, median, pick, scratch_dir, settle, table
from _graphs import GATE_REF, item

from langgraph_hitl import Decision, ReviewDesk, ReviewLedger
from langgraph_hitl.ledger.store.postgres import close_pools

sys.path.insert(0, str(REPO / "tests"))
from postgres import PostgresServer, unavailable

LIST_SIZES: list[int] = pick([10_000, 100_000], [10_000, 100_000, 1_000_000])
LIST_PENDING = 2_000
SEED = 100
"""Real threads of each kind (paused, finished) that the list ledgers are copied from."""
N: int = pick(200, 1000)
WORKERS = (1, 2, 4, 8)
WARM = 4 * max(WORKERS)
"""Threads set aside to warm workers up (each worker applies at least one)."""
CLI_RUNS: int = pick(7, 15)
LATENCY_N: int = pick(100, 400)
REVIEWER = "bench"
PY = sys.executable
PARTS = ("list", "throughput", "record", "latency")


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ranked = sorted(values)
    rank = max(1, -(-len(ranked) * p // 100))
    return ranked[int(rank) - 1]


# -- the databases ---------------------------------------------------------------------


class Backend:
    """Where the ledger lives: a SQLite file or a PostgreSQL database; copies of it."""

    name = ""

    def target(self) -> str:
        raise NotImplementedError

    def copy(self, name: str) -> Backend:
        raise NotImplementedError


class SqliteDb(Backend):
    name = "SQLite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def target(self) -> str:
        return str(self.path)

    def copy(self, name: str) -> SqliteDb:
        settle(self.path)
        dest = self.path.with_name(f"{name}.sqlite")
        shutil.copyfile(self.path, dest)
        return SqliteDb(dest)


class PostgresDb(Backend):
    name = "PostgreSQL"

    def __init__(self, server: PostgresServer, database: str, *, template: str | None = None):
        import psycopg

        self.server = server
        self.database = database
        if template is not None:
            # A desk's pooled connections to the template stay open until closed.
            close_pools(str(server.dsn_for(template)))
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            suffix = "" if template is None else f' TEMPLATE "{template}"'
            conn.execute(f'CREATE DATABASE "{database}"{suffix}')

    def target(self) -> str:
        return str(self.server.dsn_for(self.database))

    def copy(self, name: str) -> PostgresDb:
        # A template may have no other session open while it is copied.
        return PostgresDb(self.server, name, template=self.database)


def pause(db: Backend, count: int, prefix: str) -> list[str]:
    """`count` threads of the gate graph paused at the gate; their request ids."""
    desk = ReviewDesk(db.target(), base=BENCH_DIR)
    ids = []
    with desk.keep_graphs():
        for i in range(count):
            run = desk.run(GATE_REF, item(i), thread_id=f"{prefix}-{i:07d}")
            if run.status != "paused" or len(run.pending) != 1:
                raise RuntimeError(f"thread {prefix}-{i} did not pause: {run.to_json()!r}")
            ids.append(run.pending[0])
    return ids


def decide_all(db: Backend, ids: Sequence[str], *, apply: bool) -> None:
    desk = ReviewDesk(db.target(), base=BENCH_DIR)
    with desk.keep_graphs():
        for request_id in ids:
            outcome = desk.decide(request_id, Decision.approve(reviewer=REVIEWER), apply=apply)
            if outcome.applied != apply:
                raise RuntimeError(f"{request_id}: {outcome.to_json()!r}")


def statuses(db: Backend, ids: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with ReviewLedger.open(db.target()) as ledger:
        for request_id in ids:
            status = ledger.get(request_id).status
            counts[status] = counts.get(status, 0) + 1
    return counts


def timed_process(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[1:]} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, done.stdout


def cli(db: Backend, *args: str) -> list[str]:
    return [PY, "-m", "langgraph_hitl", "--db", db.target(), *args]


# -- 1. list at scale ------------------------------------------------------------------


class Dialect:
    """The few SQL differences of the bulk copy between sqlite3 and psycopg."""

    def __init__(self, db: Backend) -> None:
        self.pg = isinstance(db, PostgresDb)
        self.mark = "%s" if self.pg else "?"

    def hex(self, expr: str, width: int) -> str:
        if self.pg:
            return f"lpad(to_hex({expr}), {width}, '0')"
        return f"printf('%0{width}x', {expr})"

    def dec(self, expr: str, width: int) -> str:
        if self.pg:
            return f"lpad(({expr})::text, {width}, '0')"
        return f"printf('%0{width}d', {expr})"

    def mod(self, a: str, b: str) -> str:
        return f"mod({a}, {b})" if self.pg else f"{a} % {b}"

    def series(self) -> str:
        """A CTE `s(idx)` of the integers [first, end), both bound parameters."""
        if self.pg:
            return f"s(idx) AS (SELECT generate_series({self.mark}::bigint, {self.mark} - 1))"
        m = self.mark
        return f"s(idx) AS (SELECT {m} UNION ALL SELECT idx + 1 FROM s WHERE idx + 1 < {m})"


class BulkLedger:
    """Grows a ledger to a number of requests by copying real rows with fresh ids.

    Seeds are the real `seed-*` threads' rows; the i-th copy of kind `f` (finished) or
    `p` (pending) gets thread `bulk{kind}-{i}`, request `req_{kind-digit}{i in hex}`,
    decision `dec_...`, args digest `bulk...`, and every time column moved back by
    (i + 1) x 0.5 s from its seed's.
    """

    TIME_COLUMNS = ("created_at", "decided_at", "apply_started_at", "applied_at", "opened_at",
                    "finished_at")  # fmt: skip

    def __init__(self, db: Backend) -> None:
        self.db = db
        self.sql = Dialect(db)
        self.copies = {"f": 0, "p": 0}

    @contextmanager
    def connect(self) -> Iterator[Any]:
        conn: Any
        if isinstance(self.db, PostgresDb):
            import psycopg

            conn = psycopg.connect(self.db.target())
        else:
            conn = sqlite3.connect(self.db.target())
        try:
            yield conn
            conn.commit()
        finally:
            conn.close()

    def columns(self, conn: Any, table_name: str) -> list[str]:
        if self.sql.pg:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                " AND is_identity = 'NO' ORDER BY ordinal_position",
                (table_name,),
            ).fetchall()
        else:
            rows = [(r[1],) for r in conn.execute(f"PRAGMA table_info({table_name})")]
        if not rows:
            raise RuntimeError(f"no table {table_name} in {self.db.target()}")
        return [r[0] for r in rows]

    def add(self, kind: str, count: int) -> None:
        """Add `count` copies of the seeds of `kind` (`f`: applied, `p`: pending)."""
        if count <= 0:
            return
        first, end = self.copies[kind], self.copies[kind] + count
        status = "applied" if kind == "f" else "pending"
        digit = "f" if kind == "f" else "e"
        sql = self.sql
        tid = f"'bulk{kind}-' || {sql.dec('s.idx', 8)}"
        ids = {
            "request_id": f"'req_{digit}' || {sql.hex('s.idx', 11)}",
            "thread_id": tid,
            "decision_id": f"'dec_{digit}' || {sql.hex('s.idx', 11)}",
            "args_digest": f"'bulk{kind}' || {sql.hex('s.idx', 59)}",
        }
        shift = "(s.idx + 1) * 0.5"
        seeds = (
            f"WITH RECURSIVE {sql.series()}, seed AS (SELECT ROW_NUMBER() OVER (ORDER BY"
            f" request_id) - 1 AS k, r.* FROM hitl_requests r WHERE r.thread_id LIKE {sql.mark}"
            f" AND r.status = '{status}'), n AS (SELECT COUNT(*) AS c FROM seed)"
        )
        pick_seed = f"FROM s, n, seed WHERE seed.k = {sql.mod('s.idx', 'n.c')}"
        with self.connect() as conn:
            plans = {
                "hitl_requests": ("seed", pick_seed, {
                    **{c: ids[c] for c in ("request_id", "thread_id", "args_digest")},
                    "decision_id": f"CASE WHEN seed.decision_id IS NULL THEN NULL"
                    f" ELSE {ids['decision_id']} END",
                }),
                "hitl_decisions": ("d", f"{pick_seed.replace('FROM s, n, seed', 'FROM s, n, seed JOIN hitl_decisions d ON d.request_id = seed.request_id')}", {  # noqa: E501
                    "decision_id": ids["decision_id"], "request_id": ids["request_id"],
                }),
                "hitl_threads": ("t", f"{pick_seed.replace('FROM s, n, seed', 'FROM s, n, seed JOIN hitl_threads t ON t.thread_id = seed.thread_id')}", {  # noqa: E501
                    "thread_id": tid, "lease_owner": "NULL", "lease_expires": "NULL",
                }),
                "hitl_args": ("a", f"{pick_seed.replace('FROM s, n, seed', 'FROM s, n, seed JOIN hitl_args a ON a.digest = seed.args_digest')}", {  # noqa: E501
                    "digest": ids["args_digest"],
                }),
            }  # fmt: skip
            for table_name, (alias, source, override) in plans.items():
                cols = self.columns(conn, table_name)
                exprs = []
                for col in cols:
                    if col in override:
                        exprs.append(override[col])
                    elif col in self.TIME_COLUMNS:
                        exprs.append(f"{alias}.{col} - {shift}")
                    else:
                        exprs.append(f"{alias}.{col}")
                conn.execute(
                    f"{seeds} INSERT INTO {table_name} ({', '.join(cols)})"
                    f" SELECT {', '.join(exprs)} {source}",
                    (first, end, "seed-%"),
                )
        self.copies[kind] = end
        if self.sql.pg:
            import psycopg

            with psycopg.connect(self.db.target(), autocommit=True) as conn:
                for table_name in ("hitl_requests", "hitl_decisions", "hitl_threads", "hitl_args"):
                    conn.execute(f"VACUUM ANALYZE {table_name}")
        else:
            settle(Path(self.db.target()))

    def counts(self) -> dict[str, int]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT status, COUNT(*) FROM hitl_requests GROUP BY status"
            ).fetchall()
        return {status: int(count) for status, count in rows}


def in_process_list(db: Backend) -> tuple[int, int]:
    with ReviewLedger.open(db.target()) as ledger:
        return len(ledger.pending(limit=200)), ledger.count_pending()


def measure_list(db: Backend, size: int) -> list[list[Any]]:
    commands = {
        "list": cli(db, "list", "--json"),
        "pass": [PY, "-c", "pass"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    shown = total = 0
    for attempt in range(CLI_RUNS + 1):
        order = list(commands) if attempt % 2 else list(reversed(commands))
        for name in order:
            elapsed, stdout = timed_process(commands[name])
            if attempt:
                times[name].append(elapsed)
            if name == "list":
                listing = json.loads(stdout)
                shown, total = len(listing["requests"]), listing["total"]
    query = []
    in_process_list(db)  # warm-up
    for _ in range(CLI_RUNS):
        start = time.perf_counter()
        found = in_process_list(db)
        query.append(time.perf_counter() - start)
    if found != (shown, total) or total != LIST_PENDING:
        raise RuntimeError(f"list shows {shown} of {total}, in-process {found}")
    list_ms, pass_ms = median(times["list"]) * 1e3, median(times["pass"]) * 1e3
    return [
        [db.name, size, list_ms, pass_ms, f"{list_ms / pass_ms:.1f}x",
         median(query) * 1e3, f"{shown} of {total}"],
    ]  # fmt: skip


def part_list(backends: dict[str, Callable[[str], Backend]]) -> None:
    rows: list[list[Any]] = []
    made: list[list[Any]] = []
    for make in backends.values():
        db = make("list")
        start = time.perf_counter()
        seeds = pause(db, 2 * SEED, "seed")
        decide_all(db, seeds[:SEED], apply=True)
        made.append([db.name, f"{2 * SEED} real threads", time.perf_counter() - start])
        bulk = BulkLedger(db)
        bulk.add("p", LIST_PENDING - SEED)
        for size in LIST_SIZES:
            start = time.perf_counter()
            bulk.add("f", size - LIST_PENDING - SEED - bulk.copies["f"])
            counts = bulk.counts()
            if sum(counts.values()) != size or counts.get("pending") != LIST_PENDING:
                raise RuntimeError(f"{db.name}: made {counts}, wanted {size:,}")
            made.append([db.name, f"copied up to {size:,}", time.perf_counter() - start])
            log(f"{db.name}: {size:,} requests ({counts})")
            rows += measure_list(db, size)
    print(
        table(
            f"1. `langgraph-hitl list --json` in a fresh process: wall ms, median of {CLI_RUNS}"
            f" runs (one warm-up); {LIST_PENDING:,} pending, the rest applied; ledger rows"
            f" copied from {SEED} real paused and {SEED} real finished threads",
            ["backend", "requests", "list ms", "python -c pass ms", "list / pass",
             "in-process query ms", "shown"],
            rows,
        )
    )  # fmt: skip
    print(
        table(
            "   How long making the ledgers took (real threads, then bulk copies up to each size)",
            ["backend", "step", "seconds"],
            made,
        )
    )


# -- workers ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Workers:
    """`langgraph-hitl worker --json` processes on one database, their lines timestamped."""

    def __init__(self, db: Backend, count: int, *, interval: float = 1.0) -> None:
        self.lock = threading.Condition()
        self.applied: list[tuple[float, int, str]] = []
        self.busy = 0
        self.failed: list[str] = []
        self.procs = [
            subprocess.Popen(
                cli(db, "worker", "--json", "--interval", str(interval)),
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(count)
        ]
        self.readers = [
            threading.Thread(target=self._read, args=(n, proc), daemon=True)
            for n, proc in enumerate(self.procs)
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, n: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.perf_counter()
            row = json.loads(line)
            with self.lock:
                if row["result"] == "applied":
                    self.applied.append((now, n, row["thread_id"]))
                elif row["result"] == "busy":
                    self.busy += 1
                else:
                    self.failed.append(f"{row['thread_id']}: {row['error']}")
                self.lock.notify_all()

    def wait_applied(self, count: int, timeout: float = 900.0) -> float:
        """Block until `count` threads were applied in all; the time of the last one."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.applied) < count:
                left = deadline - time.monotonic()
                dead = [p.pid for p in self.procs if p.poll() is not None]
                if left <= 0 or dead:
                    raise RuntimeError(
                        f"{len(self.applied)} of {count} applied; workers exited: {dead};"
                        f" failures: {self.failed[:3]}"
                    )
                self.lock.wait(min(left, 1.0))
            return self.applied[count - 1][0]

    def warm_up(self, db: Backend, ids: list[str]) -> int:
        """Record warm-up decisions until every worker applied one; how many it took."""
        used = 0
        while {n for _, n, _ in self.applied} != set(range(len(self.procs))):
            batch = ids[used : used + len(self.procs)]
            if not batch:
                raise RuntimeError("warm-up threads ran out before every worker applied one")
            decide_all(db, batch, apply=False)
            used += len(batch)
            self.wait_applied(used)
        return used

    def wait_idle(self, quiet: float = 0.5, timeout: float = 60.0) -> None:
        """Until no worker used CPU for `quiet` seconds (each waits for work)."""
        deadline = time.monotonic() + timeout
        before = [cpu_seconds(p.pid) for p in self.procs]
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = [cpu_seconds(p.pid) for p in self.procs]
            if now == before:
                return
            before = now
        raise RuntimeError("workers did not go idle")

    def signal(self, sig: int) -> None:
        for proc in self.procs:
            os.kill(proc.pid, sig)

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def stop(self) -> None:
        """SIGINT (a worker's Ctrl-C: it ends cleanly), SIGKILL if it lingers."""
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                os.kill(proc.pid, signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


# -- 2. throughput ---------------------------------------------------------------------


def with_workers(db: Backend, count: int, work: list[str], warm: list[str]) -> dict[str, Any]:
    workers = Workers(db, count)
    try:
        warm_used = workers.warm_up(db, warm)
        workers.wait_idle()
        workers.signal(signal.SIGSTOP)
        start = time.perf_counter()
        decide_all(db, work, apply=False)
        record_s = time.perf_counter() - start
        cpu_before = workers.cpu()
        start = time.perf_counter()
        workers.signal(signal.SIGCONT)
        last = workers.wait_applied(warm_used + len(work))
        apply_s = last - start
        cpu = workers.cpu() - cpu_before
        busy, failed = workers.busy, list(workers.failed)
        per_worker = [0] * count
        for _, n, _ in workers.applied[warm_used:]:
            per_worker[n] += 1
    finally:
        workers.stop()
    got = statuses(db, work)
    if got != {"applied": len(work)} or failed:
        raise RuntimeError(f"{db.name}, {count} workers: {got}, failures {failed[:3]}")
    return {
        "record_s": record_s, "apply_s": apply_s, "cpu_per": cpu / len(work), "busy": busy,
        "spread": "/".join(str(n) for n in per_worker), "warm": warm_used,
    }  # fmt: skip


def in_process(db: Backend, work: list[str], warm: list[str]) -> dict[str, Any]:
    decide_all(db, warm[:1], apply=True)  # the first load of LangGraph and the graph
    start = time.perf_counter()
    decide_all(db, work, apply=True)
    total = time.perf_counter() - start
    got = statuses(db, work)
    if got != {"applied": len(work)}:
        raise RuntimeError(f"{db.name}, in-process: {got}")
    return {"record_s": None, "apply_s": total, "cpu_per": None, "busy": "-", "spread": "-"}


def part_throughput(templates: dict[str, Backend]) -> None:
    runs: list[tuple[str, str, int]] = []
    if "sqlite" in templates:
        runs += [("SQLite, 1 process, in-process decide + apply", "sqlite", 0),
                 ("SQLite, 1 worker", "sqlite", 1)]  # fmt: skip
    if "postgres" in templates:
        runs.append(("PostgreSQL, 1 process, in-process decide + apply", "postgres", 0))
        runs += [(f"PostgreSQL, {w} worker{'s' * (w > 1)}", "postgres", w) for w in WORKERS]
    results = []
    for n, (label, key, count) in enumerate(runs):
        db = templates[key].copy(f"tput{n}")
        work, warm = TEMPLATE_IDS[key]["work"], TEMPLATE_IDS[key]["warm"]
        log(f"throughput: {label}")
        result = with_workers(db, count, work, warm) if count else in_process(db, work, warm)
        results.append((label, result))
    first = results[0]
    reference = N / first[1]["apply_s"] if first[0].startswith("SQLite, 1 process") else None

    def versus(rate: float) -> str:
        return "-" if reference is None else f"{rate / reference:.2f}x"

    rows = []
    for label, r in results:
        rate, both = N / r["apply_s"], N / (r["apply_s"] + (r["record_s"] or 0))
        rows.append([
            label, "-" if r["record_s"] is None else r["record_s"], r["apply_s"], rate,
            versus(rate), both, versus(both),
            "-" if r["cpu_per"] is None else r["cpu_per"] * 1e3, r["busy"], r["spread"],
        ])  # fmt: skip
    print(
        table(
            f"2. Decide + apply {N} paused threads of the gate graph (one approve each):"
            " workers stopped while one process records the decisions, then timed until"
            " every thread is applied; in-process rows decide and apply each in turn",
            ["how", "record s", "apply s", "applied/s", "vs SQLite", "recorded+applied/s",
             "vs SQLite", "worker CPU ms/decision", "busy skips", "applied per worker"],
            rows,
        )
    )  # fmt: skip
    if "postgres" in templates:
        print(
            table(
                "   Where PostgreSQL's time goes, per decision in one process (pg_stat_database"
                " of the run's database: sessions opened, transactions committed)",
                ["path", "wall ms", "sessions", "transactions"],
                pg_costs(templates["postgres"], TEMPLATE_IDS["postgres"]),
            )
        )


def pg_costs(template: Backend, ids: dict[str, list[str]]) -> list[list[Any]]:
    """Wall ms, sessions and transactions per decision: recording only, and deciding
    and applying in-process (the graph loaded once before)."""
    import psycopg

    assert isinstance(template, PostgresDb)
    db = template.copy("pgcost")
    half = len(ids["work"]) // 2

    def stats() -> tuple[int, int]:
        # A backend's counters reach the view when it exits (the desk's connections
        # are closed after each call) or within a second when idle.
        time.sleep(1.5)
        with psycopg.connect(db.server.dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database"
                " WHERE datname = %s",
                (db.database,),
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    decide_all(db, ids["warm"][:1], apply=True)
    rows = []
    for label, work, apply in (
        ("record only (decide, apply=False)", ids["work"][:half], False),
        ("decide + apply in-process", ids["work"][half:], True),
    ):
        before = stats()
        start = time.perf_counter()
        decide_all(db, work, apply=apply)
        wall = time.perf_counter() - start
        after = stats()
        rows.append([label, wall / len(work) * 1e3, (after[0] - before[0]) / len(work),
                     (after[1] - before[1]) / len(work)])  # fmt: skip
    return rows


# -- 3. recording from the CLI ---------------------------------------------------------


def part_record(templates: dict[str, Backend]) -> None:
    rows = []
    for key, template in templates.items():
        ids = TEMPLATE_IDS[key]["work"]
        if len(ids) < 2 * (CLI_RUNS + 1):
            raise RuntimeError("not enough paused threads for the CLI runs")
        db = template.copy("record")
        log(f"record from the CLI: {db.name}")
        desk = ReviewDesk(db.target(), base=BENCH_DIR)
        pending = list(ids)
        names = ("python -c pass", "list", "approve --no-apply", "approve (applies)")
        times: dict[str, list[float]] = {name: [] for name in names}
        for attempt in range(CLI_RUNS + 1):
            commands = {
                "python -c pass": [PY, "-c", "pass"],
                "list": cli(db, "list"),
                "approve --no-apply": cli(
                    db, "approve", pending.pop(), "--no-apply", "--reviewer", "r"
                ),
                "approve (applies)": cli(db, "approve", pending.pop(), "--reviewer", "r"),
            }
            order = list(names[attempt % 4 :] + names[: attempt % 4])
            for name in order:
                elapsed, _ = timed_process(commands[name])
                if attempt:
                    times[name].append(elapsed)
            desk.resume()  # apply the recorded one: the next `list` sees the same queue
        used = ids[len(pending) :]
        if statuses(db, used) != {"applied": len(used)}:
            raise RuntimeError(f"{db.name}: {statuses(db, used)}")
        ms = {name: median(values) * 1e3 for name, values in times.items()}
        no_apply = ms["approve --no-apply"]
        rows.append([
            db.name, ms["python -c pass"], ms["list"], no_apply, ms["approve (applies)"],
            f"{no_apply / ms['list']:.2f}x", f"{no_apply / ms['approve (applies)']:.2f}x",
            f"{ms['list'] / ms['python -c pass']:.1f}x",
        ])  # fmt: skip
    print(
        table(
            f"3. Recording a decision from the CLI, fresh processes: wall ms, median of"
            f" {CLI_RUNS} interleaved runs (one warm-up); {N} threads paused",
            ["backend", "python -c pass", "list", "approve --no-apply", "approve (applies)",
             "no-apply / list", "no-apply / approve", "list / pass"],
            rows,
        )
    )  # fmt: skip


# -- 4. latency ------------------------------------------------------------------------


def latency(db: Backend, interval: float, ids: list[str], warm: list[str]) -> list[Any]:
    rng = random.Random(13)
    workers = Workers(db, 1, interval=interval)
    desk = ReviewDesk(db.target(), base=BENCH_DIR)
    total, wake = [], []
    try:
        used = workers.warm_up(db, warm)
        workers.wait_idle()
        with ReviewLedger.open(db.target()) as ledger:
            for n, request_id in enumerate(ids, start=1):
                time.sleep(rng.uniform(0.05, 0.05 + interval))
                desk.decide(request_id, Decision.approve(reviewer=REVIEWER), apply=False)
                recorded = time.time()
                workers.wait_applied(used + n, timeout=60)
                rec = ledger.get(request_id)
                if rec.status != "applied" or rec.applied_at is None:
                    raise RuntimeError(f"{request_id}: {rec.status}")
                total.append(rec.applied_at - recorded)
                wake.append((rec.apply_started_at or rec.applied_at) - recorded)
    finally:
        workers.stop()
    return [
        len(total), median(wake) * 1e3, median(total) * 1e3, percentile(total, 90) * 1e3,
        percentile(total, 99) * 1e3, max(total) * 1e3,
    ]  # fmt: skip


def part_latency(templates: dict[str, Backend]) -> None:
    cases: list[tuple[str, str, float]] = []
    if "postgres" in templates:
        cases.append(("PostgreSQL, LISTEN/NOTIFY (--interval 1)", "postgres", 1.0))
    if "sqlite" in templates:
        cases += [("SQLite, polling every 1 s (default)", "sqlite", 1.0),
                  ("SQLite, polling every 0.1 s (--interval 0.1)", "sqlite", 0.1)]  # fmt: skip
    rows = []
    for n, (label, key, interval) in enumerate(cases):
        log(f"latency: {label}")
        db = templates[key].copy(f"latency{n}")
        ids, warm = TEMPLATE_IDS[key]["work"][:LATENCY_N], TEMPLATE_IDS[key]["warm"]
        rows.append([label, *latency(db, interval, ids, warm)])
    print(
        table(
            "4. Decision recorded -> applied by one waiting worker: ms from `decide(...,"
            " apply=False)` returning to the request's `applied_at` (wake: to its"
            " `apply_started_at`)",
            ["worker", "samples", "wake p50", "p50", "p90", "p99", "max"],
            rows,
        )
    )


# -- main ------------------------------------------------------------------------------


def missing_extra() -> str | None:
    """Why the PostgreSQL half cannot run in this environment's packages, or None."""
    import importlib.util

    for module in ("psycopg", "psycopg_pool", "langgraph.checkpoint.postgres"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[postgres]')"
    return None


TEMPLATE_IDS: dict[str, dict[str, list[str]]] = {}
"""Per backend: the request ids of the template's `work` and `warm` threads."""


def main(argv: list[str]) -> int:
    parts = [p for p in argv if p in PARTS] or list(PARTS)
    unknown = [p for p in argv if p not in PARTS]
    if unknown:
        print(f"error: unknown part {unknown[0]!r} (parts: {', '.join(PARTS)})", file=sys.stderr)
        return 2
    print(f"load average (1, 5, 15 min) at start: {load()}")
    why = unavailable() or missing_extra()
    server = None
    with scratch_dir("team") as tmp:
        try:
            if why is None:
                server = PostgresServer().start()
                import psycopg

                with psycopg.connect(server.dsn) as conn:
                    version = (conn.execute("SHOW server_version").fetchone() or ("?",))[0]
                print(f"PostgreSQL {version} (throwaway server, fsync=off, on this machine)\n")
            else:
                print(f"PostgreSQL skipped: {why}\n")
            makers: dict[str, Callable[[str], Backend]] = {
                "sqlite": lambda name: SqliteDb(tmp / f"{name}.sqlite")
            }
            if server is not None:
                pg = server
                makers["postgres"] = lambda name: PostgresDb(pg, name)
            if "list" in parts:
                part_list(makers)
            if set(parts) - {"list"}:
                templates = {}
                for key, make in makers.items():
                    start = time.perf_counter()
                    templates[key] = make("template")
                    TEMPLATE_IDS[key] = {
                        "work": pause(templates[key], N, "work"),
                        "warm": pause(templates[key], WARM, "warm"),
                    }
                    log(f"{key}: {N + WARM} threads paused in {time.perf_counter() - start:.0f} s")
                if "throughput" in parts:
                    part_throughput(templates)
                if "record" in parts:
                    part_record(templates)
                if "latency" in parts:
                    part_latency(templates)
        finally:
            if server is not None:
                server.stop()
    print(f"load average (1, 5, 15 min) at end: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
