"""Run a labelled invoice set through the invoice graph and say how well it routed.

    python evals/invoices/run.py                  # both sets: tuned, then unseen
    python evals/invoices/run.py tuned --db /tmp/eval   # keep the ledgers there
    make eval                                     # the same, from the repository root

Every invoice goes through the real graph (`invoice`, with the vendor master it ships
with) into a real ledger, in arrival order. A careful reviewer works the queue a little
behind the arrivals (so a copy can arrive while its original still waits): they take the
decision the truth file gives (reject, correct, approve, or approve and mark the
escalation needed for an invoice over the approval limit), and at the end they close the
after-the-fact reviews, finding a problem exactly where the truth has one.

Then it prints, against the truth alone (`truth.jsonl`, which the graph never sees):

* escalation rate, precision (escalations that needed a human) and recall (invoices
  that needed a human and got one before paying), with the misses by kind and the false
  alarms by the check that raised them;
* what `langgraph-hitl metrics --json` measured on the same ledger, from the reviewers'
  decisions and the sampled reviews alone, and how far that is from the truth;
* what `calibrate` proposes on the ledger, and the share of invoices that needed a human
  in each band of the graph's confidence.

`--json` prints all of it as one object per set. Exit 0 whatever the figures: this
reports, it does not judge. The reviewer here decides at machine speed, so `metrics`
flags them as a rubber stamp (`rubber_stamp_fast`): expected, and about them alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_hitl import Decision, ReviewDesk
from langgraph_hitl.deciding.feedback import calibrate

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SETS = ("tuned", "unseen")
REVIEWERS = {
    "jo": "junior",
    "ana": "junior",
    "sam": "senior",
    "tom": "senior",
    "mia": "manager",
    "max": "manager",
}
LAG = 12
"""The reviewer decides a request once this many more invoices have arrived."""
BANDS = (0.0, 0.3, 0.5, 0.7, 0.9, 1.01)


def load(name: str, limit: int | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The set's inputs, in order, and its truth by thread (read from separate files)."""
    folder = HERE / name
    inputs = [json.loads(line) for line in (folder / "invoices.jsonl").open(encoding="utf-8")]
    truth = {}
    for line in (folder / "truth.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        truth[row["thread_id"]] = row
    if [row["thread_id"] for row in inputs] != list(truth):
        raise SystemExit(f"{folder}: invoices.jsonl and truth.jsonl name different threads")
    if limit is not None:
        inputs = inputs[:limit]
    return inputs, truth


@dataclass
class Seen:
    """What happened to one invoice."""

    thread_id: str
    outcome: str
    tier: str | None
    confidence: float | None
    problems: list[str]
    status: str | None = None
    decisions: list[str] = field(default_factory=list)


class Reviewer:
    """Decides each request as the truth says a careful reviewer would."""

    def __init__(self, desk: ReviewDesk, truth: dict[str, Any]) -> None:
        self.desk = desk
        self.truth = truth

    def who(self, request_id: str, exclude: list[str]) -> str:
        rec = self.desk.show(request_id)
        for name, role in REVIEWERS.items():
            if (not rec.eligible or role in rec.eligible) and name not in exclude + rec.approvals:
                return name
        raise RuntimeError(f"nobody may decide {request_id}")

    def decide(self, request_id: str, seen: Seen) -> list[str]:
        """Decide one request (every vote a quorum needs); the requests it led to."""
        truth = self.truth[seen.thread_id]
        done: list[str] = []
        while True:
            name = self.who(request_id, done)
            rec = self.desk.show(request_id, reviewer=name)
            args = rec.request.action.args
            kind = truth["decision"]
            fixed = truth["fix"] is not None and all(
                args.get(k) == v for k, v in truth["fix"].items()
            )
            if kind == "modify" and fixed:
                kind = "approve"  # asked again about the corrected invoice: it checks out
            if kind == "modify" and rec.quorum > 1:
                kind = "reject"  # under a quorum, each approver signs the same thing
            if kind == "modify":
                decision = Decision.modify({**args, **truth["fix"]}, reviewer=name)
            elif kind == "reject":
                decision = Decision.reject(f"{truth['kind']}: {truth['detail']}", reviewer=name)
            else:
                decision = Decision.approve(reviewer=name)
            outcome = self.desk.decide(request_id, decision, needed=kind == "approve_needed")
            seen.decisions.append(decision.type)
            done.append(name)
            if outcome.request.status == "pending":
                continue  # a vote: the quorum needs another approver
            return [] if outcome.thread is None else list(outcome.thread.pending)


def evaluate(name: str, db: Path, *, limit: int | None = None) -> dict[str, Any]:
    """Run one set through the graph into `db` and measure it."""
    inputs, truth = load(name, limit)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    desk = ReviewDesk(db, base=REPO)
    with desk.ledger(create=True) as ledger:
        for reviewer, role in REVIEWERS.items():
            ledger.add_reviewer(reviewer, role, actor="eval")
    reviewer = Reviewer(desk, truth)
    seen: dict[str, Seen] = {}
    queue: list[tuple[int, str, str]] = []

    def work(until: int) -> None:
        while queue and queue[0][0] <= until:
            _, request_id, thread = queue.pop(0)
            for again in reviewer.decide(request_id, seen[thread]):
                queue.insert(0, (until, again, thread))

    with desk.keep_graphs():
        for n, row in enumerate(inputs):
            thread = row["thread_id"]
            status = desk.run("invoice", row["invoice"], thread_id=thread)
            routing = status.values.get("routing") or {}
            seen[thread] = Seen(
                thread_id=thread,
                outcome=str(routing.get("outcome")),
                tier=routing.get("tier"),
                confidence=routing.get("confidence"),
                problems=list(status.values.get("problems") or []),
            )
            queue += [(n + LAG, request_id, thread) for request_id in status.pending]
            work(n)
        work(len(inputs) + LAG)
        for item in desk.reviews():
            t = truth[item.thread_id]
            problem = f"paid, but {t['kind']}: {t['detail']}" if t["needs_human"] else None
            desk.close_review(item.review_id, problem=problem, reviewer="sam")
        for thread, s in seen.items():
            s.status = desk.thread(thread).values.get("status")
    with desk.ledger() as ledger:
        calibration = calibrate(ledger, target_rate=0.3)
    metrics = _metrics(db)
    return {
        "set": name,
        "invoices": len(inputs),
        "truth": _truth_figures(seen, truth),
        "metrics": metrics,
        "calibration": calibration.to_json()["proposal"],
        "bands": _bands(seen, truth),
    }


def _truth_figures(seen: dict[str, Seen], truth: dict[str, Any]) -> dict[str, Any]:
    needs = {t for t in seen if truth[t]["needs_human"]}
    escalated = {t for t, s in seen.items() if s.outcome == "escalated"}
    caught = needs & escalated
    kinds = Counter(truth[t]["kind"] for t in needs)
    missed = Counter(truth[t]["kind"] for t in needs - escalated)
    alarms: Counter[str] = Counter()
    for t in escalated - needs:
        checks = sorted({p.split(":", 1)[0] for p in seen[t].problems}) or ["(no problem)"]
        alarms.update(checks)
    by_tier: dict[str, Counter[str]] = defaultdict(Counter)
    for s in seen.values():
        by_tier[s.tier or "-"][s.outcome] += 1
    return {
        "escalation_rate": len(escalated) / len(seen),
        "precision": len(caught) / len(escalated) if escalated else None,
        "recall": len(caught) / len(needs) if needs else None,
        "needs_human": len(needs),
        "escalated": len(escalated),
        "caught": len(caught),
        "false_alarms": len(escalated - needs),
        "by_kind": {k: {"count": n, "missed": missed.get(k, 0)} for k, n in sorted(kinds.items())},
        "misses": [
            {
                "thread_id": t,
                "kind": truth[t]["kind"],
                "detail": truth[t]["detail"],
                "outcome": seen[t].outcome,
                "confidence": seen[t].confidence,
            }
            for t in sorted(needs - escalated)
        ],
        "false_alarms_by_check": dict(sorted(alarms.items())),
        "false_alarm_examples": [
            {"thread_id": t, "problems": seen[t].problems, "detail": truth[t]["detail"]}
            for t in sorted(escalated - needs)
        ],
        "routes_by_tier": {k: dict(v) for k, v in sorted(by_tier.items())},
        "paid_though_needing_a_human": sorted(
            t for t in needs - escalated if seen[t].status == "paid"
        ),
    }


def _bands(seen: dict[str, Seen], truth: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for low, high in itertools.pairwise(BANDS):
        inside = [
            t for t, s in seen.items() if s.confidence is not None and low <= s.confidence < high
        ]
        needing = sum(truth[t]["needs_human"] for t in inside)
        rows.append(
            {"from": low, "to": min(high, 1.0), "invoices": len(inside), "needing_a_human": needing}
        )
    unknown = [t for t, s in seen.items() if s.confidence is None]
    rows.append(
        {"from": None, "to": None, "invoices": len(unknown),
         "needing_a_human": sum(truth[t]["needs_human"] for t in unknown)}
    )  # fmt: skip
    return rows


def _metrics(db: Path) -> dict[str, Any]:
    """`langgraph-hitl metrics --json` on the run's ledger, as a user would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), "metrics", "--since", "all",
         "--json"],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"metrics failed: {done.stderr.strip()}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def report_lines(result: dict[str, Any]) -> list[str]:
    """The figures of one set, for people."""
    t, m = result["truth"], result["metrics"]["overall"]
    recall = m.get("recall") or {}
    decisions = m.get("decisions") or {}
    measured = {
        "escalation rate": (m["escalation"]["rate"], t["escalation_rate"]),
        "precision": (decisions.get("precision"), t["precision"]),
        "recall": (recall.get("recall"), t["recall"]),
    }
    lines = [
        f"== {result['set']}: {result['invoices']} invoices, {t['needs_human']} needing a human",
        f"truth    escalation {_pct(t['escalation_rate'])} ({t['escalated']}) · precision"
        f" {_pct(t['precision'])} · recall {_pct(t['recall'])} ({t['caught']} of"
        f" {t['needs_human']}) · false alarms {t['false_alarms']}",
    ]
    for kind, row in t["by_kind"].items():
        lines.append(f"  {kind:<20} {row['count']:>3} needing a human, {row['missed']} missed")
    for miss in t["misses"]:
        lines.append(
            f"  missed {miss['thread_id']}: {miss['kind']} ({miss['detail']}); routed"
            f" {miss['outcome']} at {miss['confidence']}"
        )
    if t["false_alarms_by_check"]:
        alarms = ", ".join(f"{k} {n}" for k, n in t["false_alarms_by_check"].items())
        lines.append(f"  false alarms by check: {alarms}")
    lines.append(
        f"metrics  escalation {_pct(m['escalation']['rate'])} · precision"
        f" {_pct(decisions.get('precision_from_overrides'))} from overrides,"
        f" {_pct(decisions.get('precision'))} with --needed marks · recall"
        f" {_pct(recall.get('recall'))}"
        + (" (a bound)" if recall.get("bound") else "")
        + f" ({_pct(recall.get('low'))}-{_pct(recall.get('high'))})"
    )
    for s in recall.get("strata", []):
        lines.append(
            f"  {s['tier']:<9} {s['route']:<10} {s['routed']:>4} routed, {s['reviewed']:>3}"
            f" reviewed, {s['problems']} problems, est. misses {s['estimated_missed']}"
            f" [{s['status']}]"
        )
    for label, (got, want) in measured.items():
        if got is None or want is None:
            lines.append(f"  {label}: metrics {_pct(got)}, truth {_pct(want)}")
            continue
        gap = (got - want) * 100
        verdict = "within 5 points" if abs(gap) <= 5 else "MORE than 5 points off"
        lines.append(
            f"  {label}: metrics {_pct(got)}, truth {_pct(want)}: {gap:+.1f} pts, {verdict}"
        )
    warnings = [w["name"] for w in result["metrics"].get("warnings", [])]
    if warnings:
        lines.append(f"  metrics warnings: {', '.join(sorted(set(warnings)))}")
    c = result["calibration"]
    lines.append(
        f"calibrate proposes review_at={c['review_at']}, autonomous_at={c['autonomous_at']}"
    )
    bands = " · ".join(
        ("unknown" if b["from"] is None else f"{b['from']:.1f}-{b['to']:.1f}")
        + f": {b['needing_a_human']}/{b['invoices']}"
        for b in result["bands"]
        if b["invoices"]
    )
    lines.append(f"needing a human by confidence band: {bands}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", metavar="SET", help="tuned, unseen (default: both)")
    parser.add_argument("--db", type=Path, help="Keep each set's ledger as DIR/SET.sqlite.")
    parser.add_argument("--limit", type=int, help="Only the first N invoices of each set.")
    parser.add_argument("--json", action="store_true", help="One JSON object per set.")
    args = parser.parse_args(argv)
    for name in args.sets:
        if name not in SETS:
            parser.error(f"unknown set {name!r}: the sets are {', '.join(SETS)}")
    with tempfile.TemporaryDirectory(prefix="hitl-eval-") as tmp:
        folder = args.db or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.sets or SETS:
            result = evaluate(name, folder / f"{name}.sqlite", limit=args.limit)
            if args.json:
                print(json.dumps(result, sort_keys=True))
            else:
                print("\n".join(report_lines(result)) + "\n")


if __name__ == "__main__":
    main()
