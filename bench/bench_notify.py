"""Time to escalate, for real: from the routing decision to a webhook receiver holding it.

N large invoices are run through the invoice graph in this process, one after the other
(each escalates: the amount is over the limit). Meanwhile a separate
`langgraph-hitl notify --loop --interval S --webhook URL` process delivers the outbox to
a local HTTP server in this process, which verifies each signature. Once every
`created` notification is delivered, `langgraph_hitl.insight.metrics.compute` reads time to
escalate (routing row to delivery) from the ledger, as `langgraph-hitl metrics` does.

Run once per polling interval: the interval bounds the wait, the rest is the work.

Sizes: HITL_BENCH_SCALE=default (N=200) or full (N=1000).
Run: .venv/bin/python bench/bench_notify.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from _common import REPO, pick, scratch_dir, table

from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.insight.metrics import compute
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.notify import verify_signature

N: int = pick(200, 1000)
INTERVALS = (5.0, 1.0, 0.2)
SECRET = "bench-secret"
LARGE = json.loads((REPO / "examples" / "invoices" / "large.json").read_text())


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[str]] = []
    bad: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if verify_signature(SECRET, body, dict(self.headers.items())):
            self.received.append(self.headers["X-Hitl-Delivery"])
        else:
            self.bad.append(self.headers.get("X-Hitl-Delivery", "?"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def run_once(tmp: Path, interval: float, url: str) -> list[Any]:
    db = tmp / f"notify-{interval}.sqlite"
    desk = ReviewDesk(db, base=REPO)
    with desk.ledger(create=True):
        pass
    env = {**os.environ, "BENCH_WEBHOOK_SECRET": SECRET}
    argv = [sys.executable, "-m", "langgraph_hitl", "--db", str(db), "notify", "--loop"]
    argv += ["--interval", str(interval), "--webhook", url, "--secret-env", "BENCH_WEBHOOK_SECRET"]
    notifier = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        with desk.keep_graphs():
            for i in range(N):
                invoice = {**LARGE, "invoice_id": f"INV-{i:06d}"}
                status = desk.run("invoice", invoice, thread_id=f"t{i:06d}")
                if status.status != "paused":
                    raise RuntimeError(f"invoice {i} did not pause: {status.status}")
        deadline = time.monotonic() + 60 + 5 * interval
        while time.monotonic() < deadline:
            with ReviewLedger.open(db) as ledger:
                left = ledger.conn.execute(
                    "SELECT COUNT(*) FROM hitl_outbox WHERE kind = 'created'"
                    " AND delivered_at IS NULL"
                ).fetchone()[0]
            if not left:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{left} notifications still undelivered")
    finally:
        notifier.terminate()
        notifier.wait(timeout=30)
    report = compute(db, window="1d")
    tte = report.to_json()["overall"]["time_to_escalate"]
    if tte["source"] != "notified" or tte["count"] != N:
        raise RuntimeError(f"unexpected time-to-escalate figures: {tte}")
    return [interval, tte["count"], tte["p50"], tte["p95"], tte["p99"]]


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    rows = []
    try:
        with scratch_dir("notify") as tmp:
            for interval in INTERVALS:
                rows.append(run_once(tmp, interval, url))
                print(f"  interval {interval} s done", file=sys.stderr, flush=True)
    finally:
        server.shutdown()
        server.server_close()
    if Receiver.bad:
        raise RuntimeError(f"{len(Receiver.bad)} deliveries failed their signature check")
    print(
        table(
            f"Time to escalate: routing decision -> signed webhook received, {N} escalations"
            " per row, one `notify --loop` process (seconds)",
            ["poll interval s", "escalations", "p50 s", "p95 s", "p99 s"],
            rows,
        )
    )
    print(f"{len(Receiver.received)} webhooks received, every signature valid\n")


if __name__ == "__main__":
    main()
