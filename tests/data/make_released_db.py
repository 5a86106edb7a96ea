"""Write `released-0.1.0.sqlite.gz`: a database as langgraph-hitl 0.1.0 leaves it, gzipped.

Run it with the released code (commit 0381ae9, `langgraph-hitl` 0.1.0), from the root
of that checkout, so its `langgraph.json` names the invoice graph:

    python /path/to/tests/data/make_released_db.py /path/to/tests/data/released-0.1.0.sqlite.gz

`tests/test_blobs.py` opens an unzipped copy with the current code. The threads:

  INV-1003  paused at the approval gate (examples/invoices/large.json)
  INV-1005  modified (amount 1880), then paid (examples/invoices/typo.json)

Everything is deterministic but the clock, the checkpoint ids and the request ids.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from langgraph_hitl import ReviewDesk


def main(out: Path) -> None:
    work = out.with_suffix(".work.sqlite")
    work.unlink(missing_ok=True)
    base = Path.cwd()
    desk = ReviewDesk(work, base=base)
    invoices = base / "examples" / "invoices"

    def load(name: str) -> dict[str, Any]:
        return dict(json.loads((invoices / f"{name}.json").read_text()))

    desk.run("invoice", load("large"), thread_id="INV-1003")
    typo = load("typo")
    desk.run("invoice", typo, thread_id="INV-1005")
    edited = {k: typo[k] for k in ("invoice_id", "vendor", "currency", "po_number", "due_date")}
    edited.update(amount=1880.0, line_items=typo["line_items"])
    desk.modify("INV-1005", edited, reviewer="ana", comment="amount per line items")
    packed = out.with_suffix(".vacuumed")
    packed.unlink(missing_ok=True)
    conn = sqlite3.connect(work)
    try:
        conn.execute("VACUUM INTO ?", (str(packed),))
    finally:
        conn.close()
    out.write_bytes(gzip.compress(packed.read_bytes(), compresslevel=9, mtime=0))
    for leftover in (packed, work, Path(f"{work}-wal"), Path(f"{work}-shm")):
        leftover.unlink(missing_ok=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
