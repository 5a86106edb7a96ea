"""The seeded invoice simulation runs end to end, and metrics see what it put there.

Its invoices come from the labelled set's world, so the simulation knows the truth: it
prints what reached a human against what needed one, and `rex`'s unread approvals,
which metrics cannot tell from needless escalations (it flags him instead).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_simulation_then_metrics_flags_the_rubber_stamper(tmp_path: Path) -> None:
    db = tmp_path / "sim.sqlite"
    sim = subprocess.run(
        [sys.executable, str(REPO / "examples" / "simulate_invoices.py"), "--db", str(db),
         "--invoices", "250", "--days", "8", "--seed", "7"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stderr
    assert "override model trained" in sim.stdout
    truth = re.search(
        r"truth: (\d+) of 250 invoices needed a human; escalation ([\d.]+)%, precision"
        r" ([\d.]+)%, recall ([\d.]+)%",
        sim.stdout,
    )
    assert truth is not None, sim.stdout
    # The seed's targets, against the truth: escalation 10-30%, precision over 80%,
    # recall over 95%.
    escalation, precision, recall = (float(truth.group(i)) for i in (2, 3, 4))
    assert 10 <= escalation <= 30 and precision > 80 and recall > 95, truth.group(0)
    with sqlite3.connect(db) as conn:
        outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM hitl_routes GROUP BY 1"))
        reviewers = {r[0] for r in conn.execute("SELECT DISTINCT reviewer FROM hitl_decisions")}
        votes = conn.execute("SELECT COUNT(*) FROM hitl_votes").fetchone()[0]
    assert sum(outcomes.values()) == 250
    assert {"autonomous", "review", "escalated"} <= set(outcomes)
    assert "rex" in reviewers and votes > 0
    assert (tmp_path / "override-model.json").exists()
    metrics = subprocess.run(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), "metrics", "--since", "30d",
         "--json", "--check"],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )  # fmt: skip
    assert metrics.returncode == 1, metrics.stderr  # --check: a warning sign fired
    report = json.loads(metrics.stdout)
    flagged = {(w["name"], w["scope"]) for w in report["warnings"]}
    assert ("rubber_stamp_fast", "reviewer=rex") in flagged
    assert all(scope == "reviewer=rex" for name, scope in flagged if name.startswith("rubber"))
    assert report["overall"]["escalation"]["routed"] == 250
    # Metrics read precision from the decisions: rex's unread approvals count as needless.
    assert report["overall"]["decisions"]["precision_with_needed"] * 100 < precision
