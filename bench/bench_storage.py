"""Storage amplification: what one invoice of S bytes costs in the database.

The invoice graph (`graphs/invoice.py`, through `ReviewDesk` on a real SQLite file) runs
one invoice whose `line_items` carry S bytes of JSON (S is the size of the whole
invoice as JSON), for a small invoice (the reference), 1 MB, 13 MB and 30 MB (the sizes
of the report that opened this). Each invoice is over the 10,000 limit, so the thread
pauses at the approval gate; then it is approved and pays. Each step runs in a fresh
child process, as the CLI would:

  run       `ReviewDesk(db).run("invoice", invoice, thread_id=...)`, the invoice read
            from a JSON file (as `run --input @file` does): the thread pauses.
  approve   `ReviewDesk(db).approve(thread_id, reviewer=...)`: recorded, applied, paid.
  modify    on a copy of the paused file instead: `ReviewDesk(db).modify(...)` with the
            invoice's PO number edited (the decision carries the whole args), paid.

Printed, for each S:

  - bytes per paused thread (after `run`) and per finished thread (after `approve`,
    or after `modify`),
    per table (LangGraph's `checkpoints` and `writes`, each `hitl_*` table; indexes
    counted with their table; an empty database's pages subtracted), as a multiple of
    S; the whole file, as SQLite left it (free pages included) and vacuumed;
  - where the bytes are: the largest columns, summed over their rows (writes by
    channel), as multiples of S;
  - each child's peak memory (`ru_maxrss`) and wall time.

Figures only: nothing passes or fails on time or size (`tests/test_storage.py` pins the
bound). Sizes: HITL_BENCH_SCALE=default (a small invoice, 1, 13 and 30 MB) or full (adds
100 MB).
Scratch files go to $HITL_BENCH_TMP (default: the system temp dir).
Run: .venv/bin/python bench/bench_storage.py
"""

from __future__ import annotations

import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import REPO, compact_size, pick, scratch_dir, settle, table, table_bytes

MB = 1_000_000
SIZES: list[int] = pick(
    [1_000, 1 * MB, 13 * MB, 30 * MB], [1_000, 1 * MB, 13 * MB, 30 * MB, 100 * MB]
)
AMOUNT = 52_000.0
THREAD = "INV-BIG"
PHASES = ("paused", "finished", "modified")
STEPS = ("run (pauses)", "approve (pays)", "modify (pays)")


def invoice_of(size: int) -> dict[str, Any]:
    """An invoice over the limit whose JSON is about `size` bytes, most of it line items.

    The first line carries the amount; the others cost nothing, so the lines add up.
    Descriptions are varied text (no two alike), as a real invoice's would be.
    """
    invoice: dict[str, Any] = {
        "invoice_id": THREAD,
        "vendor": "Initech LLC",
        "amount": AMOUNT,
        "currency": "USD",
        "po_number": "PO-7802",
        "due_date": "2026-12-31",
        "line_items": [{"description": "Annual licence", "quantity": 1, "unit_price": AMOUNT}],
        "ocr_confidence": 0.95,
    }
    base = len(json.dumps(invoice))
    line = 1_000  # bytes of JSON per extra line item
    text = 1_000 - len(json.dumps({"description": "", "quantity": 1, "unit_price": 0.0})) - 2
    for n in range(max(0, (size - base) // line)):
        words = f"scanned page {n}: " + "".join(f"{(n * 7919 + i) % 9973:04x}" for i in range(250))
        invoice["line_items"].append(
            {"description": words[:text], "quantity": 1, "unit_price": 0.0}
        )
    return invoice


def child(step: str, db: str, arg: str) -> None:
    """Run one step in this (fresh) process; print its wall time and peak memory as JSON."""
    from langgraph_hitl.deciding.desk import ReviewDesk

    desk = ReviewDesk(db, base=REPO)
    start = time.perf_counter()
    if step == "run":
        invoice = json.loads(Path(arg).read_text())
        status = desk.run("invoice", invoice, thread_id=THREAD).status
    else:
        if step == "approve":
            outcome = desk.approve(THREAD, reviewer="ana")
        else:
            (pending,) = desk.pending(thread_id=THREAD)
            edited = {**pending.request.action.args, "po_number": "PO-7803"}
            outcome = desk.modify(THREAD, edited, reviewer="ana")
        status = "?" if outcome.thread is None else outcome.thread.status
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"status": status, "seconds": seconds, "peak_mb": peak_kb / 1024}))


def step(name: str, db: Path, arg: str = "") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", name, str(db), arg],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def columns(path: Path) -> dict[str, int]:
    """Bytes per `table.column` (writes split by channel), summed over rows."""
    settle(path)
    conn = sqlite3.connect(path)
    try:
        out: dict[str, int] = {}
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
            if r[0] != "sqlite_sequence"
        ]
        for name in tables:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
            if name == "writes":
                for channel, size in conn.execute(
                    "SELECT channel, SUM(LENGTH(value)) FROM writes GROUP BY channel"
                ):
                    out[f"writes.value [{channel}]"] = int(size or 0)
                continue
            sums = conn.execute(
                "SELECT " + ", ".join(f"SUM(LENGTH({c}))" for c in cols) + f" FROM {name}"
            ).fetchone()
            for col, size in zip(cols, sums, strict=True):
                out[f"{name}.{col}"] = int(size or 0)
        return out
    finally:
        conn.close()


def rows_of(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")]
        return {n: conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}
    finally:
        conn.close()


def measure(tmp: Path, size: int, empty: dict[str, int]) -> dict[str, Any]:
    source = tmp / f"invoice-{size}.json"
    source.write_text(json.dumps(invoice_of(size)))
    state = source.stat().st_size
    db = tmp / f"storage-{size}.sqlite"
    edited = tmp / f"storage-{size}-modify.sqlite"
    result: dict[str, Any] = {"size": state}
    for phase, (name, arg) in (
        ("paused", ("run", str(source))),
        ("finished", ("approve", "")),
        ("modified", ("modify", "")),
    ):
        if phase == "finished":
            shutil.copyfile(db, edited)  # the paused thread, to modify instead
        target = edited if phase == "modified" else db
        ran = step(name, target, arg)
        settle(target)
        result[phase] = {
            "step": ran,
            "tables": {t: b - empty.get(t, 0) for t, b in table_bytes(target).items()},
            "file": target.stat().st_size,
            "vacuumed": compact_size(target),
            "columns": columns(target),
            "rows": rows_of(target),
        }
    source.unlink()
    db.unlink()
    edited.unlink()
    return result


def empty_tables(tmp: Path) -> dict[str, int]:
    """The pages an empty database's tables take (each table's first page)."""
    from langgraph_hitl.checkpointing import open_checkpointer

    path = tmp / "empty.sqlite"
    with open_checkpointer(path) as saver:
        saver.setup()
    sizes = table_bytes(path)
    path.unlink()
    return sizes


def ratio(value: float, size: int) -> str:
    return f"{value / size:.2f}x"


def report(results: list[dict[str, Any]]) -> None:
    big = [r for r in results if r["size"] >= MB // 2]
    header = ["S (invoice JSON)"] + [f"{r['size'] / MB:.1f} MB" for r in big]
    rows: list[list[Any]] = []
    for phase in PHASES:
        names = sorted(
            {t for r in big for t, b in r[phase]["tables"].items() if b >= 0.005 * r["size"]},
            key=lambda t: -big[-1][phase]["tables"].get(t, 0),
        )
        for name in names:
            rows.append(
                [f"{phase}: {name}"]
                + [ratio(r[phase]["tables"].get(name, 0), r["size"]) for r in big]
            )
        rows.append(
            [f"{phase}: whole file, as left"] + [ratio(r[phase]["file"], r["size"]) for r in big]
        )
        rows.append(
            [f"{phase}: whole file, vacuumed"]
            + [ratio(r[phase]["vacuumed"], r["size"]) for r in big]
        )
    print(
        table(
            "Bytes in the database per thread, as a multiple of the invoice's size S"
            " (one thread per file; an empty database's pages subtracted per table)",
            header,
            rows,
        )
    )
    rows = []
    for r in results:
        for phase, what in zip(PHASES, STEPS, strict=True):
            ran = r[phase]["step"]
            rows.append(
                [
                    f"{r['size']:,}",
                    what,
                    ran["status"],
                    ran["seconds"],
                    ran["peak_mb"],
                    r[phase]["file"] / MB,
                    r[phase]["vacuumed"] / MB,
                ]
            )
    print(
        table(
            "Each step in a fresh process: wall s, peak memory (ru_maxrss), file MB after it",
            ["S bytes", "step", "status", "wall s", "peak MB", "file MB", "vacuumed MB"],
            rows,
            left=(1, 2),
        )
    )
    largest = results[-1]
    for phase in PHASES:
        cols = largest[phase]["columns"]
        top = sorted(
            ((k, v) for k, v in cols.items() if v >= 0.01 * largest["size"]),
            key=lambda kv: -kv[1],
        )
        print(
            table(
                f"Where the bytes are, {phase} thread, S = {largest['size']:,}: columns summed"
                " over their rows (1% of S or more)",
                ["table.column", "bytes", "x S", "rows in table"],
                [
                    [
                        k,
                        v,
                        ratio(v, largest["size"]),
                        largest[phase]["rows"].get(k.split(".")[0], "-"),
                    ]
                    for k, v in top
                ],
            )
        )
    small = results[0]
    print(
        "Reference, a small invoice (S = {:,} bytes): paused thread {:,} bytes, approved"
        " {:,}, modified {:,} (tables less an empty database's)\n".format(
            small["size"],
            *(sum(small[phase]["tables"].values()) for phase in PHASES),
        )
    )


def main() -> None:
    results = []
    with scratch_dir("storage") as tmp:
        empty = empty_tables(tmp)
        for size in SIZES:
            results.append(measure(tmp, size, empty))
            print(f"  measured S = {size:,}", file=sys.stderr, flush=True)
    report(results)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
