"""The processes of a team on one PostgreSQL database, for `test_team.py` and `make team`.

    python tests/team.py app DB FIRST COUNT
        An app server: pauses invoices FIRST .. FIRST+COUNT-1 (thread `team-N`, invoice
        `TEAM-N`, each 52,000: over the limit, so each waits for one manager) through
        `ReviewDesk.run`.
    python tests/team.py reviewer DB SEED TOTAL MODE
        A reviewer: until TOTAL threads have their decision applied, records decisions
        on what is pending, in an order and with decisions drawn from `random.Random(SEED)`
        (approve, reject, modify), never applying them (`--no-apply`'s path). MODE `api`
        decides through `ReviewDesk.decide`; `batch` runs `langgraph-hitl batch approve
        --no-apply --limit 25` processes (every other turn), with API decisions
        between them.

Each prints one JSON line when it ends: what it did and how often the database went away
under it (a server restart mid-run). Workers are `langgraph-hitl worker` processes. A
restart cuts every connection: each call that fails for it is tried again, and an app
whose run was cut finds out from the ledger where its thread stands before it goes on.
Run from the repository root (`invoice` resolves through its `langgraph.json`).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
INVOICE = json.loads((REPO / "examples" / "invoices" / "large.json").read_text())
RETRY_PAUSE_S = 0.2


def _gone(error: BaseException) -> bool:
    """The database went away (a restart), or a run it cut still holds its thread's lease
    (it could not be given back; it expires): worth trying again, not a failure."""
    from langgraph_hitl.errors import DatabaseError, ThreadBusyError
    from langgraph_hitl.ledger.store.postgres import from_server

    return isinstance(error, DatabaseError | ThreadBusyError) or from_server(error)


def invoice(n: int) -> dict[str, Any]:
    # Each its own invoice: its own number, purchase order and amount (the graph holds
    # look-alike copies as duplicates, which is not what this test is about).
    lines = [dict(line) for line in INVOICE["line_items"]]
    lines[-1]["unit_price"] = float(lines[-1]["unit_price"]) + n
    return {
        **INVOICE, "invoice_id": f"TEAM-{n}", "po_number": f"PO-T{n}",
        "amount": float(INVOICE["amount"]) + n, "line_items": lines,
    }  # fmt: skip


def modified(args: dict[str, Any]) -> dict[str, Any]:
    """An edit that still validates: half the amount, one line that adds up to it."""
    half = round(float(args["amount"]) / 2, 2)
    return {**args, "amount": half, "line_items": [
        {"description": "Half", "quantity": 1, "unit_price": half}
    ]}  # fmt: skip


def _one(ledger: Any, sql: str, *params: Any) -> Any:
    return ledger.conn.execute(sql, params).fetchone()[0]


def app(db: str, first: int, count: int) -> dict[str, Any]:
    from langgraph_hitl import ReviewDesk
    from langgraph_hitl.errors import ConflictError, ThreadBusyError
    from langgraph_hitl.maintenance import doctor

    desk = ReviewDesk(db)
    cut, repaired, n = 0, 0, first
    while n < first + count:
        try:
            with desk.keep_graphs():
                while n < first + count:
                    thread_id = f"team-{n}"
                    with desk.ledger() as ledger:
                        # A run cut after its pause was recorded is not run again.
                        paused = _one(
                            ledger, "SELECT COUNT(*) FROM hitl_requests WHERE thread_id = ?",
                            thread_id,
                        )  # fmt: skip
                    if not paused:
                        try:
                            desk.run("invoice", invoice(n), thread_id=thread_id)
                        except ThreadBusyError:
                            raise  # a cut run's lease, not yet expired: try again
                        except ConflictError:
                            # Cut after LangGraph saved the pause, before the ledger
                            # mirrored it: `doctor` records what the ledger missed.
                            report = doctor(desk)
                            repaired += len(report.findings)
                    n += 1
        except Exception as error:
            if not _gone(error):
                raise
            cut += 1
            time.sleep(RETRY_PAUSE_S)
    return {"role": "app", "paused": count, "cut": cut, "repaired": repaired}


def reviewer(db: str, seed: int, total: int, mode: str) -> dict[str, Any]:
    from langgraph_hitl import Decision, ReviewDesk
    from langgraph_hitl.errors import ConflictError

    rng = random.Random(seed)
    desk = ReviewDesk(db)
    name = f"reviewer-{seed}"
    turn = 0
    counts = {"approve": 0, "reject": 0, "modify": 0, "batch": 0, "lost_race": 0, "cut": 0}
    while True:
        try:
            with desk.ledger() as ledger:
                # Done when every thread's decision is applied: applying may ask again
                # (a gate that refuses an answer), so deciding alone is not the end.
                applied = (
                    "SELECT COUNT(DISTINCT thread_id) FROM hitl_requests WHERE status = 'applied'"
                )
                if _one(ledger, applied) >= total:
                    break
                waiting = ledger.pending(limit=40)
            turn += 1
            if mode == "batch" and waiting and turn % 2:
                done = subprocess.run(
                    [sys.executable, "-m", "langgraph_hitl", "--db", db, "batch", "approve",
                     "approve_payment", "--limit", "25", "--no-apply", "--reviewer", name,
                     "--json"],
                    cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
                )  # fmt: skip
                if done.returncode in (0, 3):  # 3: another reviewer decided one first
                    counts["batch"] += 1
                else:
                    print(done.returncode, done.stderr.strip()[-300:], file=sys.stderr)
                continue
            rng.shuffle(waiting)
            for record in waiting[:10]:
                kind = rng.choices(["approve", "reject", "modify"], [7, 2, 1])[0]
                if kind == "approve":
                    decision = Decision.approve(reviewer=name)
                elif kind == "reject":
                    decision = Decision.reject("not this one", reviewer=name)
                else:
                    decision = Decision.modify(modified(record.request.action.args), reviewer=name)
                try:
                    desk.decide(record.request_id, decision, apply=False)
                    counts[kind] += 1
                except ConflictError:
                    counts["lost_race"] += 1  # another reviewer decided it first
            if not waiting:
                time.sleep(RETRY_PAUSE_S)  # the apps have not paused more yet
        except Exception as error:
            if not _gone(error):
                raise
            counts["cut"] += 1
            time.sleep(RETRY_PAUSE_S)
    return {"role": "reviewer", "name": name, **counts}


def main(argv: list[str]) -> None:
    role, db, *rest = argv
    if role == "app":
        report = app(db, int(rest[0]), int(rest[1]))
    elif role == "reviewer":
        report = reviewer(db, int(rest[0]), int(rest[1]), rest[2])
    else:
        raise SystemExit(f"unknown role {role!r}")
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
