"""The invoice walkthrough that `make demo` runs.

Every step is a separate `langgraph-hitl` process on one SQLite file, as a team would
use it: the agent runs and pauses in one process, a reviewer decides later in another.

    python examples/invoice_walkthrough.py [--db demo.sqlite]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli(db: Path, *args: str, expect: int = 0) -> str:
    """Run one `langgraph-hitl` command in its own process and show it like a terminal."""
    shown = " ".join(shlex.quote(a) for a in args)
    print(f"\n$ langgraph-hitl {shown}")
    proc = subprocess.run(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"COLUMNS": "110", **_env()},
    )
    print((proc.stdout + proc.stderr).rstrip())
    if proc.returncode != expect:
        sys.exit(f"walkthrough: expected exit {expect}, got {proc.returncode}")
    if expect:
        print(f"(exit {proc.returncode})")
    return proc.stdout


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "LANGGRAPH_HITL_DB"}


def say(text: str) -> None:
    print(f"\n# {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=ROOT / "demo.sqlite")
    db = parser.parse_args().db
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)

    say("A clean invoice with high OCR confidence pays on its own.")
    cli(db, "run", "invoice", "--input", "@examples/invoices/routine.json", "--thread", "INV-1001")

    say("A blurry scan (confidence 0.72) pays too, and is queued for review after the fact.")
    cli(db, "run", "invoice", "--input", "@examples/invoices/blurry.json", "--thread", "INV-1002")
    cli(db, "list", "--review")

    say("52,000 USD is over the 10,000 limit: whatever the confidence, a human decides.")
    cli(db, "run", "invoice", "--input", "@examples/invoices/large.json", "--thread", "INV-1003")
    say("Two more pause: an unknown vendor whose line items do not add up, and an OCR typo.")
    cli(db, "run", "invoice", "--input", "@examples/invoices/messy.json", "--thread", "INV-1004")
    cli(db, "run", "invoice", "--input", "@examples/invoices/typo.json", "--thread", "INV-1005")

    say("Hours later, in another process, a reviewer opens the queue.")
    cli(db, "list")
    cli(db, "show", "INV-1003", "--reviewer", "ana")

    say("Approve it: the decision is recorded once, then the thread resumes and pays.")
    cli(db, "approve", "INV-1003", "--reviewer", "ana", "--comment", "PO-7802 matches the contract")

    say("A second click on the same request is refused (exit 3), and nothing pays twice.")
    cli(db, "approve", "INV-1003", "--reviewer", "ben", expect=3)

    say("Fix the OCR typo instead of rejecting: the edited invoice is re-validated, then paid.")
    cli(db, "modify", "INV-1005", "--set", "amount=1880", "--reviewer", "ana")

    say("An edit that breaks the schema is refused (exit 2); the request stays pending.")
    cli(db, "modify", "INV-1004", "--set", "amount=-5", "--reviewer", "ana", expect=2)

    say("Reject the unknown vendor, with a reason the agent and the audit trail keep.")
    cli(db, "reject", "INV-1004", "--reason", "Hooli Partners is not an approved vendor")

    say("Close the after-the-fact review, and read the trail of the large invoice.")
    review_id = json.loads(cli(db, "list", "--review", "--json"))["reviews"][0]["review_id"]
    cli(db, "review", review_id, "--ok", "--reviewer", "ana")
    cli(db, "history", "INV-1003")

    say("The payments table: one row per paid invoice, never two.")
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT invoice_id, vendor, amount, currency, approved_by FROM payments "
            "ORDER BY invoice_id"
        ).fetchall()
    for row in rows:
        print("  ", " | ".join("-" if v is None else str(v) for v in row))

    say("Review at scale: register reviewers; roles now decide who may decide what.")
    cli(db, "reviewers", "add", "jo", "--role", "junior")
    cli(db, "reviewers", "add", "mia", "--role", "manager")
    cli(db, "reviewers", "add", "max", "--role", "manager")
    big = "@examples/invoices/huge.json"
    say("210,000 EUR is the critical tier: two different managers must approve.")
    cli(db, "run", "invoice", "--input", big, "--thread", "INV-1006")
    cli(db, "list", "--reviewer", "jo")
    cli(db, "approve", "INV-1006", "--reviewer", "jo", expect=4)
    cli(db, "approve", "INV-1006", "--reviewer", "mia")
    cli(db, "approve", "INV-1006", "--reviewer", "mia", expect=3)
    cli(db, "approve", "INV-1006", "--reviewer", "max")
    print(
        f"\nDone. Explore it yourself: .venv/bin/langgraph-hitl --db {db.name} list --json"
        "\nTwo simulated weeks of it, for metrics: python examples/simulate_invoices.py"
    )


if __name__ == "__main__":
    main()
