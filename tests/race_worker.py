"""Processes for `test_stress.py`, started as scripts; they wait on a start pipe.

    python tests/race_worker.py decide READY_FD START_FD DB SEED NAME
        Decides every pending request of DB through the Python API, in an order and
        with decisions drawn from `random.Random(SEED)`: approve, reject, modify,
        respond (`ReviewDesk.decide`) or cancel its thread (`ReviewDesk.cancel`);
        prints one JSON report on stdout.
    python tests/race_worker.py cli READY_FD START_FD ARG...
        The `langgraph-hitl` console script's `main()` with ARG... as its arguments.
    python tests/race_worker.py hold READY_FD START_FD DB REQUEST_ID NAME
        Approves REQUEST_ID through `ReviewDesk.decide`, and stops inside the ledger's
        write transaction, its decision row written and not yet committed: it writes
        its byte to READY_FD there (not before its imports), and commits, applies and
        prints the outcome once the test closes START_FD.

Both do their imports first, write one byte to READY_FD, then block reading START_FD
until the test closes the pipe's other end: every process is released at once, and
nothing here sleeps. Run from the repository root (`invoice` resolves through its
`langgraph.json`).
"""

from __future__ import annotations

import copy
import json
import os
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
KINDS = ("approve", "reject", "modify", "respond", "cancel")


def _ready_then_wait(ready_fd: int, start_fd: int) -> None:
    os.write(ready_fd, b".")
    os.close(ready_fd)
    os.read(start_fd, 1)  # returns b"" when the test closes the write end
    os.close(start_fd)


def modified_args(args: dict[str, Any]) -> dict[str, Any]:
    """An edit of an invoice that still validates: half the amount, one matching line."""
    edited = copy.deepcopy(args)
    half = round(float(args["amount"]) / 2, 2)
    edited["amount"] = half
    edited["line_items"] = [
        {"description": "Edited by a reviewer", "quantity": 1, "unit_price": half}
    ]
    return edited


def decide(ready_fd: int, start_fd: int, db: str, seed: int, name: str) -> dict[str, Any]:
    from langgraph_hitl.checkpointing import open_checkpointer  # noqa: F401  (warm import)
    from langgraph_hitl.deciding._loader import load_target
    from langgraph_hitl.deciding.desk import ReviewDesk
    from langgraph_hitl.errors import (
        AlreadyDecidedError,
        ConflictError,
        NotPendingError,
        ThreadBusyError,
    )
    from langgraph_hitl.models import Decision

    load_target("invoice", REPO)  # the graph module, imported before the start
    desk = ReviewDesk(db, base=REPO)
    rng = random.Random(seed)
    pending = desk.pending()
    order = [rec.request_id for rec in pending]
    args = {rec.request_id: rec.request.action.args for rec in pending}
    threads = {rec.request_id: rec.thread_id for rec in pending}
    rng.shuffle(order)
    plan = [(rid, rng.choice(KINDS)) for rid in order]

    report: dict[str, Any] = {
        "name": name,
        "attempts": 0,
        "wins": [],
        "refusals": {},
        "refusal_codes": [],
        "unexpected": [],
        "locked": 0,
    }
    _ready_then_wait(ready_fd, start_fd)
    started = time.monotonic()
    for rid, kind in plan:
        if kind == "approve":
            decision = Decision.approve(reviewer=name)
        elif kind == "reject":
            decision = Decision.reject(f"rejected by {name}", reviewer=name)
        elif kind == "respond":
            decision = Decision.respond(f"paid by phone, says {name}", reviewer=name)
        else:
            decision = Decision.modify(modified_args(args[rid]), reviewer=name)
        report["attempts"] += 1
        try:
            if kind == "cancel":
                closed = desk.cancel(threads[rid], f"stopped by {name}", reviewer=name)
                report["wins"].append({"request_id": rid, "type": "cancel", "closed": closed})
                continue
            outcome = desk.decide(rid, decision)
        except ConflictError as error:
            kind_name = type(error).__name__
            report["refusals"][kind_name] = report["refusals"].get(kind_name, 0) + 1
            report["refusal_codes"].append(error.exit_code)
            # A cancel is refused while another process applies the thread (busy).
            expected = AlreadyDecidedError | NotPendingError | ThreadBusyError
            if not isinstance(error, expected) or (
                isinstance(error, ThreadBusyError) and kind != "cancel"
            ):
                report["unexpected"].append(f"{rid}: {kind_name}: {error}")
        except Exception as error:  # counted, and the test asserts there are none
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                report["locked"] += 1
            report["unexpected"].append(f"{rid}: {type(error).__name__}: {error}")
        else:
            thread = outcome.thread
            report["wins"].append(
                {
                    "request_id": rid,
                    "type": kind,
                    "args": outcome.request.decision.args if outcome.request.decision else None,
                    "applied": outcome.applied,
                    "thread_status": None if thread is None else thread.status,
                    "values_status": None if thread is None else thread.values.get("status"),
                }
            )
    report["seconds"] = time.monotonic() - started
    return report


def hold(ready_fd: int, start_fd: int, db: str, request_id: str, name: str) -> dict[str, Any]:
    from langgraph_hitl.deciding.desk import ReviewDesk
    from langgraph_hitl.ledger import ReviewLedger
    from langgraph_hitl.models import Decision

    insert = ReviewLedger._insert_decision

    def insert_then_wait(self: ReviewLedger, conn: sqlite3.Connection, *args: Any) -> None:
        # Inside record_decision's BEGIN IMMEDIATE, after its writes: the write lock
        # is held until this returns and the transaction commits.
        insert(self, conn, *args)
        _ready_then_wait(ready_fd, start_fd)

    ReviewLedger._insert_decision = insert_then_wait  # type: ignore[method-assign]
    outcome = ReviewDesk(db, base=REPO).decide(request_id, Decision.approve(reviewer=name))
    return {"request_id": request_id, "status": outcome.request.status, "applied": outcome.applied}


def main(argv: list[str]) -> None:
    mode, ready_fd, start_fd, *rest = argv
    if mode == "decide":
        db, seed, name = rest
        report = decide(int(ready_fd), int(start_fd), db, int(seed), name)
        sys.stdout.write(json.dumps(report) + "\n")
    elif mode == "hold":
        db, request_id, name = rest
        report = hold(int(ready_fd), int(start_fd), db, request_id, name)
        sys.stdout.write(json.dumps(report) + "\n")
    elif mode == "cli":
        from langgraph_hitl.cli import main as cli_main

        _ready_then_wait(int(ready_fd), int(start_fd))
        sys.argv = ["langgraph-hitl", *rest]
        cli_main()
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
