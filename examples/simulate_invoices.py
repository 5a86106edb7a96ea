"""Simulate a few hundred invoices through the invoice graph, with seeded human reviewers.

Every feature of review at scale shows up on real data in one SQLite file: routing
(autonomous, sampled, review, escalated) with sampling of medium invoices, tiers and
role chains, two managers above 100,000, an owner who may not approve their own
invoice, deadlines swept up the chain (and rejected at its end), batch approval,
cancel and respond, after-the-fact reviews, a predictive model trained halfway from
the ledger's own history, and one reviewer who approves everything unread.

The simulation runs on a simulated clock over the last `--days` days, so the ledger's
history looks like weeks of work; the graph, the ledger and every decision are real.

    python examples/simulate_invoices.py [--db sim.sqlite] [--invoices 400] [--seed 7]
    langgraph-hitl --db sim.sqlite metrics        # what the history says
    langgraph-hitl --db sim.sqlite list           # what is still waiting
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_hitl import Decision, HitlError, ReviewDesk
from langgraph_hitl.batch import Condition, decide_batch, groups, select
from langgraph_hitl.ledger import RequestRecord, simulated_clock
from langgraph_hitl.notify import Notification, deliver
from langgraph_hitl.predict import model_beside

ROOT = Path(__file__).resolve().parent.parent

VENDORS = ["Acme GmbH", "Globex Ltd", "Initech LLC", "Umbrella Corp"]
STRANGERS = ["Hooli Partners", "Vandelay Industries"]
CLERKS = ["kim", "lee"]
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
    bad: bool
    """A human who reads it carefully rejects it (fraud pattern, a stranger, a duplicate)."""
    typo: float | None = None
    """The amount as it should be, when OCR misread it: a careful human fixes it."""


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
        self.start = time.time() - days * DAY
        self.span = days * DAY * 0.995
        self.now = self.start
        self.queue: list[Event] = []
        self.seq = itertools.count()
        self.desk = ReviewDesk(db, base=ROOT)
        self.truth: dict[str, Invoice] = {}
        self.tally: Counter[str] = Counter()
        self.trained: dict[str, Any] | None = None
        self.off_shift = time.time() - 4 * HOUR
        self.channel = TeamChannel()

    # -- the world ---------------------------------------------------------------------

    def invoice(self, n: int) -> Invoice:
        rng = self.rng
        stranger = rng.random() < 0.08
        vendor = rng.choice(STRANGERS if stranger else VENDORS)
        roll = rng.random()
        if roll < 0.03:
            amount = round(rng.uniform(100_001, 250_000), 2)
        elif roll < 0.18:
            amount = round(rng.uniform(10_001, 60_000), 2)
        else:
            amount = round(rng.lognormvariate(7.0, 0.9), 2)
        has_po = rng.random() > 0.12
        invoice_id = f"INV-{n + 1:05d}"
        if n > 20 and rng.random() < 0.02:
            invoice_id = f"INV-{rng.randrange(1, n):05d}"  # sent twice
        typo = None
        billed = amount
        if rng.random() < 0.07:
            typo, billed = amount, round(amount * rng.choice([0.1, 10.0, 1.1]), 2)
        data = {
            "invoice_id": invoice_id,
            "vendor": vendor,
            "amount": billed,
            "currency": "EUR",
            "po_number": f"PO-{rng.randrange(10_000)}" if has_po else None,
            "due_date": "2026-12-31",
            "line_items": [{"description": "services", "quantity": 1, "unit_price": amount}],
            "ocr_confidence": round(min(0.99, max(0.35, rng.gauss(0.86, 0.1))), 2),
            "submitted_by": rng.choice(CLERKS) if rng.random() > 0.05 else "mia",
            "agent_cost": round(rng.uniform(0.002, 0.04), 4),
        }
        # The pattern a careful reviewer knows and the confidence score does not:
        # Globex bills over 8,000 without a PO are mostly wrong, strangers often are.
        risky = vendor == "Globex Ltd" and amount > 8_000 and not has_po
        bad = rng.random() < (0.75 if risky else 0.55 if stranger else 0.03)
        return Invoice(data=data, bad=bad, typo=typo)

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
        if self.trained is not None:
            # The graph loads the saved model when it is built: build it again.
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
        self.tally[f"route {status.values.get('routing', {}).get('outcome')}"] += 1
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
        weights = [3.0 if name == "rex" else 1.0 for name in eligible]
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
        if who == "rex":
            decision = Decision.approve(**fields)
        elif rec.quorum > 1:  # approve or reject only: each approver signs the same thing
            bad = inv.bad or inv.typo is not None
            decision = (
                Decision.reject("not as ordered", **fields) if bad else (Decision.approve(**fields))
            )
        elif roll < 0.01:
            self.desk.cancel(rid, "vendor dispute: on hold", reviewer=who)
            self.tally["cancelled"] += 1
            return
        elif roll < 0.03:
            decision = Decision.respond("paid by phone by accounts", **fields)
        elif inv.bad and roll < 0.97:
            decision = Decision.reject("does not match what we ordered", **fields)
        elif inv.typo is not None and rec.request.action.args["amount"] != inv.typo:
            fixed = {**rec.request.action.args, "amount": inv.typo}
            decision = Decision.modify(fixed, **fields)
        elif roll > 0.985:
            decision = Decision.reject("not sure about this one", **fields)
        else:
            decision = Decision.approve(**fields)
        try:
            outcome = self.desk.decide(rid, decision)
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
            bad = self.truth[item.thread_id].bad
            self.desk.close_review(
                item.review_id,
                problem="paid, but should not have been" if bad else None,
                reviewer="sam",
            )
            self.tally["reviewed problem" if bad else "reviewed ok"] += 1

    def on_train(self) -> None:
        try:
            from langgraph_hitl.predict import train
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
    print(f"\nnext: langgraph-hitl --db {args.db} metrics")


if __name__ == "__main__":
    main()
