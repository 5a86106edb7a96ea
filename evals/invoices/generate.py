"""Write the labelled invoice sets: seeded, with the truth kept apart from the input.

    python evals/invoices/generate.py              # rewrites tuned/ and unseen/ here
    python evals/invoices/generate.py --out DIR    # or writes them under DIR

Each set is two files of JSON lines, in arrival order:

    invoices.jsonl   {"thread_id", "invoice"}: what the graph is given, and nothing else
    truth.jsonl      {"thread_id", "kind", "needs_human", "decision", "fix", "detail"}

The truth is what this script put into the invoice (its `kind`), never what any graph
made of it: this file imports nothing of langgraph-hitl and never runs a graph. It reads
the vendor master (`graphs/vendors.json`) only to know who the vendors are, as the
people who send invoices do.

The world both sets are drawn from: vendors bill in their own number formats, currencies
and amounts, now and then a bigger order than usual; some bill the same amount every
week or month; departments place the same standard order twice in a week, under their
own purchase orders or under none; scans are mostly good and sometimes poor, and a poor
one may misread a letter of the vendor's name; a vendor ahead in time dates an invoice
the day after it arrives; names come as the master spells them, as an alias, or in
capitals. All of that is clean: a careful clerk pays it. Into that flow go the problems
the clerk stops:

    kind                a careful clerk's decision
    misread_total       OCR misread the amount; the lines are right      modify: the amount
    lookalike_vendor    a name made to pass for a known vendor's         reject
    unknown_vendor      a vendor not in the master                       reject
    duplicate_exact     the same invoice sent again                      reject
    duplicate_reissued  the same invoice, its number spelled otherwise   reject
    duplicate_resent    the same bill under a new number, days later     reject
    wrong_currency      billed in a currency the vendor does not use     reject
    impossible_date     a due date before the issue date, not a date,
                        years ahead, or an invoice dated after arrival   reject
    bad_quantity        a line with quantity zero or below, or a
                        negative price                                   reject
    missing_po          no purchase order above the vendor's threshold   modify (the PO
                                                                         exists) or reject
    inflated_quantity   a quantity keyed ten times over: the lines agree,
                        and the total is over the vendor's usual largest reject
    over_limit          a clean invoice over the 10,000 approval limit   approve, marked
                                                                         needed

`needs_human` is true for every kind but `clean`. Not in the sets: problems that leave
no trace in the invoice, the vendor master or what was paid before (a quantity keyed ten
times over that stays within the vendor's usual amounts, an OCR misread that keeps the
lines and the total in agreement, a forged invoice that copies a real one perfectly): no
check the graph makes can see them, only a look at the paper or the purchase order
can, which is what sampling work after the fact is for. The two sets differ in seed, size, mix
of kinds, scan quality, dates, which vendors bill most, and in the ways names and numbers
are disguised: `unseen` uses disguises `tuned` never does. The project tunes the graph on
`tuned` only.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENDORS = HERE.parent.parent / "graphs" / "vendors.json"
LIMIT = 10_000.0
"""The approval limit the organisation sets: above it, a manager signs."""

# How each vendor numbers, describes and spaces its bills: the world, not the master.
STYLE: dict[str, dict[str, Any]] = {
    "Acme GmbH": {
        "number": "AC-{year}-{n:04d}",
        "items": [("Toner cartridges", 40, 120), ("Printer service", 150, 600), ("Paper", 20, 60)],
        "terms": [30],
    },
    "Globex Ltd": {
        "number": "GLX-{n}",
        "items": [("Cloud backup", 200, 900), ("Support hours", 90, 160), ("Storage", 50, 400)],
        "terms": [30, 45],
    },
    "Initech LLC": {
        "number": "INI/{yy}/{n:05d}",
        "items": [
            ("Licence seats", 90, 160),
            ("Onboarding", 800, 3000),
            ("Support plan", 400, 2000),
        ],
        "terms": [30, 60],
    },
    "Umbrella Corp": {
        "number": "UMB{n:06d}",
        "items": [("Safety gloves", 30, 60), ("Lab freezers", 4000, 18000), ("Reagents", 80, 900)],
        "terms": [45, 90],
    },
    "Soylent Foods BV": {
        "number": "SF-{n}",
        "items": [("Catering", 150, 900), ("Snacks", 20, 120)],
        "terms": [14],
    },
    "Wonka Supplies Ltd": {
        "number": "W{n}",
        "items": [("Confectionery", 5, 40), ("Gift boxes", 15, 90)],
        "terms": [30],
    },
    "Cyberdyne Systems Inc": {
        "number": "CYB-{n}-A",
        "items": [("Robot arm service", 1500, 9000), ("Sensors", 200, 1200)],
        "terms": [30, 60],
    },
    "Tyrell Corp": {
        "number": "TY{yy}{n:04d}",
        "items": [("Consulting days", 900, 1600), ("Travel", 150, 900)],
        "terms": [30],
    },
}
STRANGERS = [
    ("Hooli Partners", "EUR"),
    ("Vandelay Industries", "USD"),
    ("Pied Piper Ltd", "USD"),
    ("Dunder Mifflin Paper", "USD"),
    ("Prestige Worldwide", "GBP"),
    ("Bluth Company", "USD"),
]
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY")
CLERKS = ("kim", "lee", "noor")
KINDS = (
    "misread_total",
    "lookalike_vendor",
    "unknown_vendor",
    "duplicate_exact",
    "duplicate_reissued",
    "duplicate_resent",
    "wrong_currency",
    "impossible_date",
    "bad_quantity",
    "missing_po",
    "inflated_quantity",
    "over_limit",
)


@dataclass(frozen=True, kw_only=True)
class Mix:
    """What one set is drawn with."""

    name: str
    seed: int
    count: int
    start: date
    kinds: dict[str, float]
    """The share of invoices carrying each kind of problem; the rest are clean."""
    vendor_weights: dict[str, float]
    ocr_mean: float
    poor_scans: float
    """Share of clean invoices scanned poorly."""
    recurring: dict[str, tuple[int, float]]
    """Vendor -> (days between bills, amount) for bills of the same amount."""
    standard_orders: float
    """Share of clean invoices that repeat a recent order of the same amount: two
    departments ordering the same thing, under their own purchase orders..."""
    standard_without_po: float
    """...or, this share of the time, both without one."""
    big_orders: float
    """Share of clean invoices over the vendor's usual largest (up to three times it)."""
    name_glitches: float
    """Share of poor scans whose OCR misread a character of the vendor's name."""
    post_dated: float
    """Share of clean invoices dated the day after they arrived (a vendor ahead in time)."""
    lookalikes: tuple[str, ...]
    renumberings: tuple[str, ...]
    resend_days: int
    """A duplicate re-sent under a new number is dated up to this many days later."""
    per_day: int = 8
    """Invoices received a day."""


TUNED = Mix(
    name="tuned",
    seed=20261201,
    count=400,
    start=date(2026, 9, 1),
    kinds={
        "misread_total": 0.025,
        "lookalike_vendor": 0.015,
        "unknown_vendor": 0.015,
        "duplicate_exact": 0.015,
        "duplicate_reissued": 0.015,
        "duplicate_resent": 0.015,
        "wrong_currency": 0.01,
        "impossible_date": 0.015,
        "bad_quantity": 0.015,
        "missing_po": 0.02,
        "inflated_quantity": 0.015,
        "over_limit": 0.04,
    },
    vendor_weights={
        "Acme GmbH": 14,
        "Globex Ltd": 12,
        "Initech LLC": 8,
        "Umbrella Corp": 8,
        "Soylent Foods BV": 6,
        "Wonka Supplies Ltd": 5,
        "Cyberdyne Systems Inc": 4,
        "Tyrell Corp": 5,
    },
    ocr_mean=0.86,
    poor_scans=0.1,
    recurring={"Globex Ltd": (30, 640.0), "Soylent Foods BV": (7, 420.0)},
    standard_orders=0.015,
    standard_without_po=0.4,
    big_orders=0.02,
    name_glitches=0.1,
    post_dated=0.005,
    lookalikes=("i_to_l", "o_to_zero", "trailing_dot", "suffix"),
    renumberings=("space", "no_separator", "lower"),
    resend_days=4,
)

UNSEEN = Mix(
    name="unseen",
    seed=77031,
    count=500,
    start=date(2027, 1, 11),
    kinds={
        "misread_total": 0.02,
        "lookalike_vendor": 0.025,
        "unknown_vendor": 0.01,
        "duplicate_exact": 0.015,
        "duplicate_reissued": 0.02,
        "duplicate_resent": 0.02,
        "wrong_currency": 0.01,
        "impossible_date": 0.02,
        "bad_quantity": 0.01,
        "missing_po": 0.03,
        "inflated_quantity": 0.02,
        "over_limit": 0.035,
    },
    vendor_weights={
        "Acme GmbH": 8,
        "Globex Ltd": 9,
        "Initech LLC": 6,
        "Umbrella Corp": 6,
        "Soylent Foods BV": 9,
        "Wonka Supplies Ltd": 9,
        "Cyberdyne Systems Inc": 6,
        "Tyrell Corp": 8,
    },
    ocr_mean=0.8,
    poor_scans=0.18,
    recurring={
        "Globex Ltd": (30, 640.0),
        "Soylent Foods BV": (7, 395.5),
        "Wonka Supplies Ltd": (14, 212.4),
    },
    standard_orders=0.02,
    standard_without_po=0.4,
    big_orders=0.03,
    name_glitches=0.1,
    post_dated=0.01,
    lookalikes=(
        "i_to_l",
        "o_to_zero",
        "trailing_dot",
        "suffix",
        "m_to_rn",
        "double_letter",
        "drop_letter",
        "swap_letters",
    ),
    renumberings=("space", "no_separator", "lower", "leading_zeros", "slash"),
    resend_days=5,
)

MIXES = {mix.name: mix for mix in (TUNED, UNSEEN)}


@dataclass
class Made:
    """One invoice as sent, and the truth about it."""

    invoice: dict[str, Any]
    kind: str
    decision: str
    fix: dict[str, Any] | None = None
    detail: str = ""
    vendor: str | None = None
    """The real vendor it came from (None for a stranger or a look-alike)."""


@dataclass
class World:
    mix: Mix
    rng: random.Random
    vendors: dict[str, dict[str, Any]]
    made: list[Made] = field(default_factory=list)
    serial: dict[str, int] = field(default_factory=dict)
    last_recurring: dict[str, date] = field(default_factory=dict)

    # -- the ordinary flow ---------------------------------------------------------------

    def number(self, vendor: str, issued: date) -> str:
        self.serial[vendor] = self.serial.get(vendor, self.rng.randrange(1000, 5000))
        self.serial[vendor] += self.rng.randrange(1, 4)
        pattern = STYLE[vendor]["number"]
        return str(pattern.format(year=issued.year, yy=issued.year % 100, n=self.serial[vendor]))

    def ocr(self, poor: bool) -> float:
        mean = 0.55 if poor else self.mix.ocr_mean
        return round(min(0.99, max(0.3, self.rng.gauss(mean, 0.09))), 2)

    def lines(self, vendor: str, target: float) -> list[dict[str, Any]]:
        """Lines from the vendor's catalogue that come to about `target`."""
        rng = self.rng
        catalogue = STYLE[vendor]["items"]
        count = min(len(catalogue), rng.choice((1, 1, 2, 2, 3)))
        chosen = rng.sample(catalogue, count)
        weights = [rng.uniform(0.5, 1.5) for _ in chosen]
        lines = []
        for (description, low, high), weight in zip(chosen, weights, strict=True):
            share = target * weight / sum(weights)
            price = rng.uniform(low, high)
            quantity = max(1, round(share / price))
            price = round(share / quantity, 3 if rng.random() < 0.1 else 2)
            lines.append({"description": description, "quantity": quantity, "unit_price": price})
        return lines

    def clean(self, received: date, vendor: str | None = None, amount: float | None = None) -> Made:
        rng = self.rng
        mix = self.mix
        if vendor is None:
            names = sorted(mix.vendor_weights)
            vendor = rng.choices(names, [mix.vendor_weights[n] for n in names])[0]
        master = self.vendors[vendor]
        low, high = master["usual_amount"]
        detail = ""
        if amount is None:
            top = min(high, LIMIT * 0.98)
            if rng.random() < mix.big_orders and high * 1.05 < LIMIT:
                low, top, detail = high, min(high * 3, LIMIT * 0.98), "a bigger order than usual"
            amount = math.exp(rng.uniform(math.log(low), math.log(max(top, low * 1.01))))
        lines = self.lines(vendor, amount)
        total = round(sum(li["quantity"] * li["unit_price"] for li in lines), 2)
        issued = received - timedelta(days=rng.randrange(0, 11))
        if rng.random() < mix.post_dated:
            issued, detail = received + timedelta(days=1), "dated the day after it arrived"
        terms = 0 if rng.random() < 0.05 else rng.choice(STYLE[vendor]["terms"])
        po = master.get("po_required_above")
        needs_po = po is not None and total > po
        roll = rng.random()
        name = (
            vendor
            if roll < 0.8
            else vendor.upper()
            if roll < 0.85
            else rng.choice(master.get("aliases") or [vendor])
        )
        currencies = master["currencies"]
        currency = currencies[1] if len(currencies) > 1 and rng.random() < 0.2 else currencies[0]
        poor = rng.random() < mix.poor_scans
        if poor and rng.random() < mix.name_glitches:
            name, detail = glitch(name, rng), f"OCR misread the name of {vendor} on a poor scan"
        invoice = {
            "invoice_id": self.number(vendor, issued),
            "vendor": name,
            "amount": total,
            "currency": currency,
            "po_number": f"PO-{rng.randrange(10_000, 99_999)}"
            if needs_po or rng.random() < 0.7
            else None,
            "issue_date": issued.isoformat(),
            "due_date": (issued + timedelta(days=terms)).isoformat(),
            "line_items": lines,
            "ocr_confidence": self.ocr(poor),
            "submitted_by": rng.choice(CLERKS),
            "received_on": received.isoformat(),
        }
        return Made(invoice=invoice, kind="clean", decision="approve", vendor=vendor, detail=detail)

    def recurring(self, received: date) -> Made | None:
        for vendor, (every, amount) in sorted(self.mix.recurring.items()):
            last = self.last_recurring.get(vendor)
            due = last is None or (received - last).days >= every
            if not due:
                continue
            issued = received if last is None else last + timedelta(days=every)
            self.last_recurring[vendor] = issued
            made = self.clean(received, vendor)
            description = f"{STYLE[vendor]['items'][0][0]}, {calendar.month_name[issued.month]}"
            made.invoice.update(
                {
                    "amount": amount,
                    "line_items": [
                        {"description": description, "quantity": 1, "unit_price": amount}
                    ],
                    "issue_date": issued.isoformat(),
                    "due_date": (issued + timedelta(days=14)).isoformat(),
                    "invoice_id": self.number(vendor, issued),
                }
            )
            made.detail = f"bills {amount:,.2f} every {every} days"
            return made
        return None

    def recent(self, days: int = 30) -> list[Made]:
        """Clean invoices from real vendors received in the last `days` days."""
        last = date.fromisoformat(self.made[-1].invoice["received_on"]) if self.made else None
        return [
            m
            for m in self.made[-60:]
            if m.kind == "clean"
            and m.vendor is not None
            and last is not None
            and (last - date.fromisoformat(m.invoice["received_on"])).days <= days
        ]

    def standard_order(self, received: date) -> Made | None:
        """The same order again from another department: a new number and PO, same amount."""
        without = self.rng.random() < self.mix.standard_without_po
        earlier = [
            m
            for m in self.recent(5)
            if not m.detail and (m.invoice["po_number"] is None) == without
        ]
        if not earlier:
            return None
        source = self.rng.choice(earlier)
        copy = json.loads(json.dumps(source.invoice))
        issued = date.fromisoformat(copy["issue_date"]) + timedelta(days=self.rng.randrange(0, 4))
        copy.update(
            invoice_id=self.number(source.vendor or "", issued),
            vendor=source.vendor,
            issue_date=issued.isoformat(),
            due_date=(issued + timedelta(days=30)).isoformat(),
            po_number=None if without else f"PO-{self.rng.randrange(10_000, 99_999)}",
            received_on=received.isoformat(),
            submitted_by=self.rng.choice(CLERKS),
            ocr_confidence=self.ocr(False),
        )
        how = "neither with a PO" if without else "under its own PO"
        return Made(
            invoice=copy,
            kind="clean",
            decision="approve",
            vendor=source.vendor,
            detail=f"the same order as {source.invoice['invoice_id']}, {how}",
        )

    # -- the problems ------------------------------------------------------------------------

    def problem(self, kind: str, received: date) -> Made | None:
        return getattr(self, f"make_{kind}")(received)  # type: ignore[no-any-return]

    def make_misread_total(self, received: date) -> Made:
        made = self.clean(received)
        true = made.invoice["amount"]
        read = misread(true, self.rng)
        made.invoice["amount"] = read
        made.invoice["ocr_confidence"] = self.ocr(self.rng.random() < 0.5)
        made.kind, made.decision, made.fix = "misread_total", "modify", {"amount": true}
        made.detail = f"the scan says {true:,.2f}; OCR read {read:,.2f}"
        return made

    def make_lookalike_vendor(self, received: date) -> Made:
        made = self.clean(received)
        real = made.vendor or ""
        fake, style = disguise(real, self.mix.lookalikes, self.rng)
        made.invoice["vendor"] = fake
        made.kind, made.decision, made.vendor = "lookalike_vendor", "reject", None
        made.detail = f"{fake!r} passes for {real} ({style})"
        return made

    def make_unknown_vendor(self, received: date) -> Made:
        made = self.clean(received)
        name, currency = self.rng.choice(STRANGERS)
        made.invoice.update(
            vendor=name, currency=currency, invoice_id=f"{self.rng.randrange(100, 9999)}"
        )
        made.kind, made.decision, made.vendor = "unknown_vendor", "reject", None
        made.detail = f"{name} is nobody the company buys from"
        return made

    def _copy(self, received: date) -> tuple[Made, dict[str, Any]] | None:
        earlier = self.recent()
        if not earlier:
            return None
        source = self.rng.choice(earlier)
        copy = json.loads(json.dumps(source.invoice))
        copy.update(received_on=received.isoformat(), ocr_confidence=self.ocr(False))
        return source, copy

    def make_duplicate_exact(self, received: date) -> Made | None:
        found = self._copy(received)
        if found is None:
            return None
        source, copy = found
        return Made(
            invoice=copy,
            kind="duplicate_exact",
            decision="reject",
            vendor=source.vendor,
            detail=f"sent again: {source.invoice['invoice_id']}",
        )

    def make_duplicate_reissued(self, received: date) -> Made | None:
        found = self._copy(received)
        if found is None:
            return None
        source, copy = found
        style = self.rng.choice(self.mix.renumberings)
        copy["invoice_id"] = renumber(copy["invoice_id"], style)
        if copy["invoice_id"] == source.invoice["invoice_id"]:
            copy["invoice_id"] = renumber(copy["invoice_id"], "space")
        return Made(
            invoice=copy,
            kind="duplicate_reissued",
            decision="reject",
            vendor=source.vendor,
            detail=f"{copy['invoice_id']!r} is {source.invoice['invoice_id']} ({style})",
        )

    def make_duplicate_resent(self, received: date) -> Made | None:
        found = self._copy(received)
        if found is None:
            return None
        source, copy = found
        days = self.rng.randrange(0, self.mix.resend_days + 1)
        issued = date.fromisoformat(copy["issue_date"]) + timedelta(days=days)
        copy.update(
            invoice_id=self.number(source.vendor or "", issued),
            issue_date=issued.isoformat(),
            due_date=(issued + timedelta(days=30)).isoformat(),
        )
        return Made(
            invoice=copy,
            kind="duplicate_resent",
            decision="reject",
            vendor=source.vendor,
            detail=f"{source.invoice['invoice_id']} billed again {days} days later as"
            f" {copy['invoice_id']}",
        )

    def make_wrong_currency(self, received: date) -> Made:
        made = self.clean(received)
        usual = self.vendors[made.vendor or ""]["currencies"]
        made.invoice["currency"] = self.rng.choice([c for c in CURRENCIES if c not in usual])
        made.kind, made.decision = "wrong_currency", "reject"
        made.detail = f"billed in {made.invoice['currency']}; the vendor bills in {usual}"
        return made

    def make_impossible_date(self, received: date) -> Made:
        made = self.clean(received)
        inv, rng = made.invoice, self.rng
        issued = date.fromisoformat(inv["issue_date"])
        how = rng.choice(("due_before_issue", "no_such_day", "years_ahead", "after_arrival"))
        if how == "due_before_issue":
            inv["due_date"] = (issued - timedelta(days=rng.randrange(5, 40))).isoformat()
        elif how == "no_such_day":
            month, day = rng.choice(((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31)))
            inv["due_date"] = f"{issued.year + (month < issued.month)}-{month:02d}-{day:02d}"
        elif how == "years_ahead":
            due = date.fromisoformat(inv["due_date"])
            inv["due_date"] = due.replace(year=due.year + rng.choice((10, 20, 36))).isoformat()
        else:
            inv["issue_date"] = (received + timedelta(days=rng.randrange(3, 40))).isoformat()
            inv["due_date"] = (
                date.fromisoformat(inv["issue_date"]) + timedelta(days=30)
            ).isoformat()
        made.kind, made.decision = "impossible_date", "reject"
        made.detail = f"{how}: issued {inv['issue_date']}, due {inv['due_date']}"
        return made

    def make_bad_quantity(self, received: date) -> Made:
        made = self.clean(received)
        lines = made.invoice["line_items"]
        line = self.rng.choice(lines)
        how = self.rng.choice(("zero", "negative", "negative_price"))
        if how == "zero":
            line["quantity"] = 0
        elif how == "negative":
            line["quantity"] = -abs(line["quantity"])
        else:
            line["unit_price"] = -abs(line["unit_price"])
        made.invoice["amount"] = round(sum(li["quantity"] * li["unit_price"] for li in lines), 2)
        made.kind, made.decision = "bad_quantity", "reject"
        made.detail = f"{how} on {line['description']!r}"
        return made

    def make_missing_po(self, received: date) -> Made | None:
        rng = self.rng
        names = sorted(n for n, v in self.vendors.items() if v.get("po_required_above"))
        vendor = rng.choice(names)
        threshold = self.vendors[vendor]["po_required_above"]
        top = max(self.vendors[vendor]["usual_amount"][1] * 1.5, threshold * 1.3)
        amount = rng.uniform(threshold * 1.05, min(top, LIMIT * 0.98))
        if amount <= threshold:
            return None
        made = self.clean(received, vendor, amount)
        if made.invoice["amount"] <= threshold:
            return None
        made.invoice["po_number"] = None
        made.kind = "missing_po"
        if rng.random() < 0.5:
            made.decision, made.fix = "modify", {"po_number": f"PO-{rng.randrange(10_000, 99_999)}"}
            made.detail = "the order exists; its PO was left off"
        else:
            made.decision, made.detail = "reject", "nobody ordered it through purchasing"
        return made

    def make_inflated_quantity(self, received: date) -> Made | None:
        """A quantity keyed ten times over, billing more than the vendor ever does: the
        trace a clerk sees. (Keyed ten times over within the vendor's usual range, it
        leaves none in the invoice, the master or the history: not in this set.)"""
        for _ in range(10):
            made = self.clean(received)
            lines = made.invoice["line_items"]
            line = self.rng.choice(lines)
            line["quantity"] = line["quantity"] * 10
            made.invoice["amount"] = round(
                sum(li["quantity"] * li["unit_price"] for li in lines), 2
            )
            largest = self.vendors[made.vendor or ""]["usual_amount"][1]
            if largest < made.invoice["amount"] <= LIMIT:
                made.kind, made.decision = "inflated_quantity", "reject"
                made.detail = (
                    f"{line['description']!r} keyed as {line['quantity']}, ten times the order:"
                    f" {made.invoice['amount']:,.2f} against a usual largest of {largest:,.2f}"
                )
                return made
        return None

    def make_over_limit(self, received: date) -> Made | None:
        rng = self.rng
        names = sorted(n for n, v in self.vendors.items() if v["usual_amount"][1] > LIMIT)
        vendor = rng.choice(names)
        high = self.vendors[vendor]["usual_amount"][1]
        amount = math.exp(rng.uniform(math.log(LIMIT * 1.02), math.log(high)))
        made = self.clean(received, vendor, amount)
        if made.invoice["amount"] <= LIMIT:
            return None
        made.invoice["po_number"] = (
            made.invoice["po_number"] or f"PO-{rng.randrange(10_000, 99_999)}"
        )
        made.kind, made.decision = "over_limit", "approve_needed"
        made.detail = f"{made.invoice['amount']:,.2f} is over the {LIMIT:,.0f} approval limit"
        return made


# -- disguises -------------------------------------------------------------------------------


def misread(amount: float, rng: random.Random) -> float:
    """An amount as OCR might misread it: digits swapped or confused, a decimal point moved."""
    text = f"{amount:.2f}"
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    for _ in range(20):
        how = rng.choice(("swap", "confuse", "shift"))
        if how == "shift":
            value = round(amount * rng.choice((10, 0.1)), 2)
        elif how == "swap":
            i = rng.choice(digits[:-1])
            j = i + 1 if text[i + 1].isdigit() else i + 2
            chars = list(text)
            chars[i], chars[j] = chars[j], chars[i]
            value = float("".join(chars))
        else:
            pairs = {"3": "8", "8": "3", "5": "6", "6": "5", "1": "7", "7": "1", "0": "8"}
            spots = [i for i in digits if text[i] in pairs]
            if not spots:
                continue
            i = rng.choice(spots)
            value = float(text[:i] + pairs[text[i]] + text[i + 1 :])
        if value > 0 and abs(value - amount) > 0.5:
            return value
    return round(amount * 10, 2)


def glitch(name: str, rng: random.Random) -> str:
    """A vendor's name as OCR misreads it on a poor scan: one character."""
    confusions = {"m": "rn", "l": "1", "o": "0", "e": "c", "i": "l", "B": "8", "S": "5"}
    spots = [i for i, c in enumerate(name) if c in confusions]
    if not spots:
        return name
    i = rng.choice(spots)
    return name[:i] + confusions[name[i]] + name[i + 1 :]


def disguise(name: str, styles: tuple[str, ...], rng: random.Random) -> tuple[str, str]:
    """A name made to pass for `name`, and how: one of `styles` that applies to it."""
    found: list[tuple[str, str]] = []
    letters = [i for i, c in enumerate(name) if c.isalpha() and i > 0]
    i = rng.choice(letters)
    for style in styles:
        fake = None
        if style == "i_to_l" and ("I" in name or "l" in name):
            fake = name.replace("I", "l", 1) if "I" in name else name.replace("l", "I", 1)
        elif style == "o_to_zero" and "o" in name:
            fake = name.replace("o", "0", 1)
        elif style == "trailing_dot":
            fake = name + "."
        elif style == "suffix":
            for real, other in (("GmbH", "AG"), ("Ltd", "LLC"), ("LLC", "Inc"), ("Corp", "Group"),
                                ("BV", "NV"), ("Inc", "Ltd")):  # fmt: skip
                if name.endswith(real):
                    fake = name[: -len(real)] + other
                    break
        elif style == "m_to_rn" and "m" in name:
            fake = name.replace("m", "rn", 1)
        elif style == "double_letter":
            fake = name[:i] + name[i] + name[i:]
        elif style == "drop_letter":
            fake = name[:i] + name[i + 1 :]
        elif style == "swap_letters" and i + 1 < len(name) and name[i + 1].isalpha():
            fake = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        if fake is not None and fake.casefold() != name.casefold():
            found.append((fake, style))
    return rng.choice(found)


def renumber(number: str, style: str) -> str:
    """The same invoice number as a re-issue might spell it."""
    if style == "space":
        if any(c in number for c in "-/"):
            return number.replace("-", " ").replace("/", " ")
        return re.sub(r"(?<=[A-Za-z])(?=[0-9])", " ", number, count=1)
    if style == "no_separator":
        return "".join(c for c in number if c.isalnum())
    if style == "lower":
        return number.lower().replace("-", "")
    if style == "leading_zeros":
        return re.sub(r"[0-9]+", lambda m: "00" + m.group(), number, count=1)
    if style == "slash":
        if "-" in number:
            return number.replace("-", "/")
        return re.sub(r"(?<=[A-Za-z])(?=[0-9])", "/", number, count=1)
    raise ValueError(style)


# -- the sets --------------------------------------------------------------------------------


def build(mix: Mix) -> list[Made]:
    """Every invoice of the set, in arrival order, with the truth about it."""
    data = json.loads(VENDORS.read_text(encoding="utf-8"))
    world = World(
        mix=mix, rng=random.Random(mix.seed), vendors={v["name"]: v for v in data["vendors"]}
    )
    rng = world.rng
    kinds = sorted(mix.kinds)
    per_day = mix.per_day
    while len(world.made) < mix.count:
        received = mix.start + timedelta(days=len(world.made) // per_day)
        made: Made | None = None
        if len(world.made) % per_day == 0:
            made = world.recurring(received)
        roll = rng.random()
        if made is None:
            for kind in kinds:
                roll -= mix.kinds[kind]
                if roll < 0:
                    made = world.problem(kind, received)
                    break
        if made is None and rng.random() < mix.standard_orders:
            made = world.standard_order(received)
        if made is None:
            made = world.clean(received)
        world.made.append(made)
    return world.made


def write(mix: Mix, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    made = build(mix)
    width = len(str(len(made)))
    with (
        (folder / "invoices.jsonl").open("w", encoding="utf-8") as inputs,
        (folder / "truth.jsonl").open("w", encoding="utf-8") as truths,
    ):
        for n, m in enumerate(made, 1):
            thread = f"{mix.name}-{n:0{width}d}"
            inputs.write(
                json.dumps({"thread_id": thread, "invoice": m.invoice}, sort_keys=True) + "\n"
            )
            truth = {
                "thread_id": thread,
                "kind": m.kind,
                "needs_human": m.kind != "clean",
                "decision": m.decision,
                "fix": m.fix,
                "detail": m.detail,
            }
            truths.write(json.dumps(truth, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=HERE, help="Write SET/invoices.jsonl and SET/truth.jsonl here."
    )
    args = parser.parse_args(argv)
    for mix in MIXES.values():
        write(mix, args.out / mix.name)
        print(f"wrote {mix.count} invoices to {args.out / mix.name}")


if __name__ == "__main__":
    main()
