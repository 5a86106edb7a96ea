"""Simulate a few hundred invoices through the invoice graph, with seeded human reviewers.

Every feature of review at scale shows up on real data in one SQLite file: routing
(autonomous, sampled, review, escalated) with sampling of every tier that pays alone,
tiers and role chains, two managers above 100,000, an owner who may not approve their
own invoice, deadlines swept up the chain (and rejected at its end), batch approval,
cancel and respond, after-the-fact reviews, a predictive model trained halfway from
the ledger's own history, and one reviewer who approves everything unread.

The invoices come from the world the labelled evaluation set is drawn from
(`evals/invoices/generate.py`, with this run's seed): clean invoices from the vendors in
the vendor master, and the problems a clerk stops (misread totals, look-alike and
unknown vendors, duplicates, wrong currencies, impossible dates, bad quantities, missing
purchase orders, inflated quantities, amounts over the limit). Careful reviewers decide
as the truth says (and mark an over-limit approval `--needed`); `rex` approves
everything in two seconds. At the end it prints the truth (what reached a human, what
was paid though it needed one) beside what `metrics` can know from the ledger alone.

The simulation runs on a simulated clock over the last `--days` days, so the ledger's
history looks like weeks of work; the graph, the ledger and every decision are real.

    python examples/simulate_invoices.py [--db sim.sqlite] [--invoices 400] [--seed 7]
    langgraph-hitl --db sim.sqlite metrics        # what the history says
    langgraph-hitl --db sim.sqlite list           # what is still waiting
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import itertools
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langgraph_hitl import Decision, HitlError, ReviewDesk
from langgraph_hitl.capture.predict import model_beside
from langgraph_hitl.deciding.batch import Condition, decide_batch, groups, select
from langgraph_hitl.ledger import RequestRecord, simulated_clock
from langgraph_hitl.notify import Notification, deliver

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "evals" / "invoices"))
from generate import TUNED, Made, build  # noqa: E402  (the labelled set's world)

REVIEWERS = {
    "jo": "junior",
    "ana": "junior",
    "sam": "senior",
    "rex": "manager",  # approves everything, in seconds: the metrics should notice
    "mia": "manager",
    "max": "manager",
}
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass
class Invoice:
    """One generated invoice and the truth about it that only the simulation knows."""

    data: dict[str, Any]
    made: Made
    """What the generator put into it: its kind, and a careful clerk's decision."""

    @property
    def needs_human(self) -> bool:
        return self.made.kind != "clean"


class TeamChannel:
    """Where notifications land: a chat channel, as far as the simulation is concerned."""

    name = "team-channel"
    timeout = 5.0
    kinds = frozenset({"created", "escalated", "timed_out", "decided", "overdue"})

    def __init__(self) -> None:
        self.lines: list[str] = []

    def send(self, notification: Notification) -> None:
        self.lines.append(notification.text)


@dataclass(order=True)
class Event:
    at: float
    seq: int
    kind: str = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


class Simulation:
    def __init__(self, db: Path, *, invoices: int, seed: int, days: float) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.count = invoices
        # From a midnight: the hours of day (a feature of the override model) and so every
        # figure are the same on every run of a seed, whenever it runs.
        self.start = (time.time() // DAY - math.ceil(days)) * DAY
        self.span = days * DAY * 0.995
        self.now = self.start
        self.queue: list[Event] = []
        self.seq = itertools.count()
        self.desk = ReviewDesk(db, base=ROOT)
        self.truth: dict[str, Invoice] = {}
        self.tally: Counter[str] = Counter()
        self.trained: dict[str, Any] | None = None
        self.off_shift = self.start + self.span - 4 * HOUR
        self.channel = TeamChannel()
        self.seen: dict[str, dict[str, Any]] = {}
        mix = dataclasses.replace(
            TUNED,
            name="sim",
            seed=seed,
            count=invoices,
            start=datetime.fromtimestamp(self.start, UTC).date(),
            per_day=max(1, math.ceil(invoices / max(days, 1.0))),
        )
        self.made = build(mix)

    # -- the world ---------------------------------------------------------------------

    def invoice(self, n: int) -> Invoice:
        made = self.made[n]
        data = dict(made.invoice)
        if self.rng.random() < 0.05:
            data["submitted_by"] = "mia"  # a manager's own invoice: she may not approve it
        data["agent_cost"] = round(self.rng.uniform(0.002, 0.04), 4)
        return Invoice(data=data, made=made)

    def at(self, when: float, kind: str, **data: Any) -> None:
        heapq.heappush(self.queue, Event(when, next(self.seq), kind, data))

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        with self.desk.ledger(create=True) as ledger:
            for name, role in REVIEWERS.items():
                ledger.add_reviewer(name, role, actor="simulation")
        gap = self.span / self.count
        for n in range(self.count):
            self.at(self.start + n * gap + self.rng.uniform(0, gap), "arrive", n=n)
        for hour in range(int(self.span / HOUR) + 1):
            self.at(self.start + hour * HOUR + 1, "sweep")
            if hour % 24 == 17:
                self.at(self.start + hour * HOUR + 2, "batch")
                self.at(self.start + hour * HOUR + 3, "review")
        self.at(self.start + self.span * 0.6, "train")
        end = time.time() - 60
        with simulated_clock(lambda: self.now), self.desk.keep_graphs():
            while self.queue and self.queue[0].at < end:
                event = heapq.heappop(self.queue)
                self.now = event.at
                getattr(self, f"on_{event.kind}")(**event.data)
                if event.kind == "train":
                    break
        # The graph loads a saved model when it is built: build it again (with the model,
        # or without one if there was too little history to train on).
        with simulated_clock(lambda: self.now), self.desk.keep_graphs():
            while self.queue and self.queue[0].at < end:
                event = heapq.heappop(self.queue)
                self.now = event.at
                getattr(self, f"on_{event.kind}")(**event.data)

    def on_arrive(self, n: int) -> None:
        inv = self.invoice(n)
        thread = f"sim-{n + 1:05d}"
        self.truth[thread] = inv
        status = self.desk.run("invoice", inv.data, thread_id=thread)
        routing = status.values.get("routing", {})
        self.seen[thread] = routing
        self.tally[f"route {routing.get('outcome')}"] += 1
        for rid in status.pending:
            self.schedule_review(rid, thread)
        self.notify_soon()

    def notify_soon(self) -> None:
        # `langgraph-hitl notify --loop` polls the outbox every 30 s or so.
        self.at(self.now + self.rng.uniform(0.5, 30.0), "notify")

    def on_notify(self) -> None:
        with self.desk.ledger() as ledger:
            report = deliver(ledger, [self.channel], now=self.now)
        self.tally["notifications sent"] += report.delivered

    def schedule_review(self, rid: str, thread: str) -> None:
        with self.desk.ledger() as ledger:
            rec = ledger.get(rid)
        # A human gets to it after a while; some never do before the deadline.
        mean = {"low": 20 * MINUTE, "medium": 150 * MINUTE}.get(rec.request.risk_tier, 3 * HOUR)
        wait = self.rng.expovariate(1 / mean)
        self.at(self.now + wait, "decide", rid=rid, thread=thread, attempt=0)

    def reviewer_for(self, rec: RequestRecord) -> str | None:
        eligible = [
            name
            for name, role in REVIEWERS.items()
            if (not rec.eligible or role in rec.eligible)
            and name != rec.owner
            and name not in rec.approvals
        ]
        if not eligible:
            return None
        # rex clears his queue fastest, so he ends up with more of it.
        weights = [1.5 if name == "rex" else 1.0 for name in eligible]
        return self.rng.choices(eligible, weights)[0]

    def on_decide(self, rid: str, thread: str, attempt: int) -> None:
        if self.now > self.off_shift:
            return  # the last hours: reviewers have gone home, the queue waits
        with self.desk.ledger() as ledger:
            rec = ledger.get(rid)
        if rec.status != "pending":
            return
        who = self.reviewer_for(rec)
        if who is None:
            return
        inv = self.truth[thread]
        self.desk.show(rid, reviewer=who)
        words = len(str(rec.request.to_wire()).split())
        reading = 2.0 if who == "rex" else max(8.0, self.rng.gauss(words / 3.5, 10.0))
        self.now += reading
        fields = {"reviewer": who}  # decided now, on the simulated clock
        roll = self.rng.random()
        truth = inv.made
        args = rec.request.action.args
        fixed = truth.fix is not None and all(args.get(k) == v for k, v in truth.fix.items())
        needed = False
        if who == "rex":
            decision = Decision.approve(**fields)
        elif rec.quorum > 1:  # approve or reject only: each approver signs the same thing
            if truth.decision in ("reject", "modify") and not fixed:
                decision = Decision.reject(f"{truth.kind}: {truth.detail}", **fields)
            else:
                decision, needed = Decision.approve(**fields), truth.decision == "approve_needed"
        elif roll < 0.01:
            self.desk.cancel(rid, "vendor dispute: on hold", reviewer=who)
            self.tally["cancelled"] += 1
            return
        elif roll < 0.03:
            decision = Decision.respond("paid by phone by accounts", **fields)
        elif truth.decision == "reject":
            decision = Decision.reject(f"{truth.kind}: {truth.detail}", **fields)
        elif truth.decision == "modify" and not fixed:
            decision = Decision.modify({**args, **(truth.fix or {})}, **fields)
        elif truth.decision == "approve_needed":
            decision, needed = Decision.approve(**fields), True
        elif roll > 0.985:
            decision = Decision.reject("not sure about this one", **fields)
        else:
            decision = Decision.approve(**fields)
        try:
            outcome = self.desk.decide(rid, decision, needed=needed)
        except HitlError as error:
            self.tally[f"refused {type(error).__name__}"] += 1
            self.at(self.now + HOUR, "decide", rid=rid, thread=thread, attempt=attempt + 1)
            return
        self.tally[f"decided {decision.type}"] += 1
        if outcome.request.status == "pending":  # a quorum needs another manager
            self.at(
                self.now + self.rng.expovariate(1 / HOUR),
                "decide",
                rid=rid,
                thread=thread,
                attempt=attempt + 1,
            )
        for next_id in outcome.thread.pending if outcome.thread else []:
            self.schedule_review(next_id, thread)
        self.notify_soon()

    def on_sweep(self) -> None:
        steps = self.desk.sweep(now=self.now)
        for step in steps:
            self.tally[f"sweep {step['step']}"] += 1
            if step["step"] == "escalated":
                self.schedule_review(step["request_id"], step["thread_id"])
        if steps:
            self.notify_soon()

    def on_batch(self) -> None:
        # Once a day a junior clears small invoices from known vendors in one go.
        with self.desk.ledger() as ledger:
            found = groups(ledger.pending(reviewer="jo"))
        for group in found:
            where = [Condition.parse("amount<1500"), Condition.parse("vendor~Acme")]
            chosen = select(group, where)
            for rec in chosen:
                self.desk.show(rec.request_id, reviewer="jo")
            self.now += 5.0 * len(chosen)
            decision = Decision.approve(reviewer="jo")
            result = decide_batch(self.desk, chosen, decision, group=group.key)
            self.tally["batch approved"] += result.counts().get("applied", 0)

    def on_review(self) -> None:
        # After-the-fact review: a senior reads what ran alone and was sampled.
        for item in self.desk.reviews():
            truth = self.truth[item.thread_id]
            bad = truth.needs_human
            self.desk.close_review(
                item.review_id,
                problem=f"paid, but {truth.made.kind}: {truth.made.detail}" if bad else None,
                reviewer="sam",
            )
            self.tally["reviewed problem" if bad else "reviewed ok"] += 1

    def truth_figures(self) -> dict[str, Any]:
        """What reached a human, against what the generator put in each invoice."""
        needs = {t for t, inv in self.truth.items() if inv.needs_human}
        escalated = {t for t, r in self.seen.items() if r.get("outcome") == "escalated"}
        caught = needs & escalated
        with self.desk.ledger() as ledger:
            approved_by_rex = {
                row[0]
                for row in ledger.conn.execute(
                    "SELECT r.thread_id FROM hitl_requests r JOIN hitl_decisions d"
                    " ON d.request_id = r.request_id WHERE d.reviewer = 'rex'"
                    " AND d.type = 'approve'"
                )
            }
        return {
            "routed": len(self.seen),
            "escalation_rate": len(escalated) / len(self.seen) if self.seen else None,
            "precision": len(caught) / len(escalated) if escalated else None,
            "recall": len(caught) / len(needs) if needs else None,
            "needs_human": len(needs),
            "missed": Counter(self.truth[t].made.kind for t in needs - escalated),
            "rex_approved_needing": len(caught & approved_by_rex),
            "rex_approved": len(escalated & approved_by_rex),
        }

    def on_train(self) -> None:
        try:
            from langgraph_hitl.capture.predict import train
        except ImportError:
            return
        try:
            with self.desk.ledger() as ledger:
                model, report = train(ledger, seed=7)
        except (HitlError, ImportError) as error:
            print(f"not training yet: {error}")
            return
        model.save(model_beside(self.db))
        self.trained = report.to_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=ROOT / "sim.sqlite")
    parser.add_argument("--invoices", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=float, default=14.0)
    args = parser.parse_args()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    model_beside(args.db).unlink(missing_ok=True)
    sim = Simulation(args.db, invoices=args.invoices, seed=args.seed, days=args.days)
    began = time.perf_counter()
    sim.run()
    print(
        f"simulated {args.invoices} invoices over {args.days:g} days into {args.db}"
        f" in {time.perf_counter() - began:.1f}s"
    )
    for key, value in sorted(sim.tally.items()):
        print(f"  {key:<32} {value}")
    if sim.trained is not None:
        t = sim.trained
        print(
            f"override model trained at 60% of the run on {t['n_train']} examples,"
            f" tested on {t['n_test']} held out:"
        )
        for name, scores in (("model (p >= 0.70)", t["model"]), ("baseline", t["baseline"])):
            print(
                f"  {name:<18} precision {scores['precision'] or 0:.2f}"
                f"  recall {scores['recall'] or 0:.2f}  flagged {scores['flag_rate']:.0%}"
            )
        print(f"  baseline: {t['baseline']['rule']}")
    t = sim.truth_figures()
    missed = ", ".join(f"{k} {n}" for k, n in sorted(t["missed"].items())) or "none"
    print(
        f"truth: {t['needs_human']} of {t['routed']} invoices needed a human; escalation"
        f" {t['escalation_rate']:.1%}, precision {t['precision']:.1%}, recall"
        f" {t['recall']:.1%} (missed: {missed})"
    )
    print(
        f"  rex approved {t['rex_approved']} escalations unread, {t['rex_approved_needing']}"
        " of them needing a human: metrics counts those as needless (precision) and cannot"
        " see them as misses (recall)"
    )
    print(f"\nnext: langgraph-hitl --db {args.db} metrics")


if __name__ == "__main__":
    main()
