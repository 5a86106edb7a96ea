"""What a careful accounts-payable clerk checks before an invoice is paid.

Every check has a name, and every problem it finds is one line led by that name, so a
reviewer reads why in one line (`duplicate: GLX 4706 is GLX-4706 from Globex Ltd, paid
in thread INV-88`). What the checks compare against is data the deployment gives them,
never constants: the vendor master (`vendors.json`) and the invoices already paid or
pending (the graph's register).

============  ==========================================================================
check         a problem when
============  ==========================================================================
`missing`     a required field is empty: invoice_id, vendor, amount, currency,
              due_date, line_items
`vendor`      the vendor is not in the vendor master, by name or alias (case and spacing
              aside); a name close to one there says which (`looks like Initech LLC`)
`duplicate`   the same invoice number from the same vendor (compared without case,
              spaces, punctuation or leading zeros), or the same vendor and amount
              issued within `NEAR_DUPLICATE_DAYS` days under the same purchase order
              (or without one), is already paid or pending
`dates`       a date is not a real date; the due date is before the issue date or more
              than `MAX_TERMS_DAYS` after it; the invoice is dated over a day after it
              arrived
`lines`       a line has no description, a quantity not above zero, a negative price,
              or a number that is not one
`totals`      the lines do not add up to the amount, within `TOLERANCE_PER_LINE` a line
`currency`    the vendor does not bill in that currency
`po`          no purchase order on an amount above the vendor's threshold
`amount`      the amount is above the largest the vendor usually bills (its `usual_amount`)
============  ==========================================================================

`confidence_of()` combines the checks with the scan's quality: how sure the graph is that
the invoice may be paid as it was read. A clean invoice never falls below 0.5 however
poor the scan (it is paid and, under 0.9, looked at afterwards); each failed check cuts
it below 0.5.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from langgraph_hitl.errors import ConfigurationError

REQUIRED = ("invoice_id", "vendor", "amount", "currency", "due_date", "line_items")
NEAR_DUPLICATE_DAYS = 5
"""Same vendor, same amount, issued this many days apart or fewer: a possible duplicate.
Under a week, so a weekly or monthly bill of the same amount is not one."""
MAX_TERMS_DAYS = 180
"""A due date further than this after the issue date is a misread or a typo."""
TOLERANCE_PER_LINE = 0.01
"""How far the lines may add up from the amount, per line: each line's rounding."""
LOOKS_LIKE = 0.85
"""Similarity (0..1, of names with look-alike characters folded) from which an unknown
vendor name is said to look like a known one."""
VENDORS_FILE = "vendors.json"
VENDORS_ENV = "LANGGRAPH_HITL_VENDORS"

CLEAN_FLOOR = 0.5
"""The confidence of a clean invoice read from an unreadable scan (OCR confidence 0)."""
CUT: dict[str, float] = {
    # How much a failed check leaves of the confidence: all stay below 0.5 on their own.
    "missing": 0.2,
    "vendor": 0.2,
    "duplicate": 0.15,
    "dates": 0.3,
    "lines": 0.3,
    "totals": 0.3,
    "currency": 0.3,
    "po": 0.45,
    "amount": 0.45,
}

_LEGAL = frozenset(
    {"ag", "bv", "co", "corp", "corporation", "gmbh", "group", "inc", "incorporated", "limited"}
    | {"llc", "l.l.c", "ltd", "nv", "plc", "sa"}
)
# Characters a forged or misread name swaps for one another, folded to one.
_LOOK_ALIKE = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "5": "s", "$": "s"})


# -- the vendor master ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Vendor:
    """One vendor of the master file.

    Example:
        >>> acme = Vendor(name="Acme GmbH", currencies=("EUR",), po_required_above=5000)
        >>> acme.bills_in("USD"), acme.needs_po(8400.0)
        (False, True)
    """

    name: str
    aliases: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    """The currencies it bills in; empty: any."""
    po_required_above: float | None = None
    """Amounts above this need a purchase order; None: never."""
    usual_amount: tuple[float, float] | None = None
    """The smallest and largest amount its invoices usually come to."""

    def bills_in(self, currency: str) -> bool:
        return not self.currencies or currency in self.currencies

    def needs_po(self, amount: float) -> bool:
        return self.po_required_above is not None and amount > self.po_required_above


@dataclass(frozen=True, kw_only=True)
class VendorMatch:
    """How an invoice's vendor name matched the master."""

    vendor: Vendor | None
    """The vendor it is (by name or alias), else None."""
    looks_like: Vendor | None = None
    """For a name not in the master: the vendor it is close to, if any."""


class VendorMaster:
    """The vendors that may be paid: names, aliases, currencies, PO thresholds, usual amounts.

    Example:
        >>> master = VendorMaster.load(packaged_vendor_master())
        >>> master.match("INITECH").vendor.name
        'Initech LLC'
        >>> master.match("lnitech LLC").looks_like.name
        'Initech LLC'
        >>> master.match("Hooli Partners")
        VendorMatch(vendor=None, looks_like=None)
    """

    def __init__(self, vendors: Iterable[Vendor], *, source: str = "") -> None:
        self.vendors = list(vendors)
        self.source = source
        self._by_name: dict[str, Vendor] = {}
        for vendor in self.vendors:
            for name in (vendor.name, *vendor.aliases):
                key = _plain(name)
                other = self._by_name.get(key)
                if other is not None and other is not vendor:
                    raise ConfigurationError(
                        f"{source or 'vendor master'}: {name!r} names both {other.name!r}"
                        f" and {vendor.name!r}"
                    )
                self._by_name[key] = vendor

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VendorMaster:
        """Read a vendor master file (JSON: `{"vendors": [{"name": ..., ...}]}`).

        Raises:
            ConfigurationError: The file is missing, not JSON, or a vendor is malformed
                (the message names the file and the vendor).
        """
        where = str(path)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigurationError(f"cannot read vendor master {where}: {err.strerror}") from None
        except ValueError as err:
            raise ConfigurationError(f"vendor master {where} is not JSON: {err}") from None
        rows = data.get("vendors") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not rows:
            raise ConfigurationError(f"vendor master {where}: expected a non-empty 'vendors' list")
        return cls((_vendor(row, where, n) for n, row in enumerate(rows, 1)), source=where)

    def match(self, name: str) -> VendorMatch:
        """The vendor this name is, or the one it looks like."""
        exact = self._by_name.get(_plain(name))
        if exact is not None:
            return VendorMatch(vendor=exact)
        folded, bare = _fold(name), _fold(name, bare=True)
        best, score = None, 0.0
        for key, vendor in self._by_name.items():
            ratio = difflib.SequenceMatcher(None, folded, _fold(key)).ratio()
            if bare and bare == _fold(key, bare=True):
                ratio = 1.0  # the same name under another legal form: `Acme AG`
            if ratio > score:
                best, score = vendor, ratio
        return VendorMatch(vendor=None, looks_like=best if score >= LOOKS_LIKE else None)


def _vendor(row: Any, where: str, n: int) -> Vendor:
    if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"]:
        raise ConfigurationError(f"vendor master {where}: vendor {n} has no name")
    name = row["name"]
    unknown = set(row) - {"name", "aliases", "currencies", "po_required_above", "usual_amount"}
    if unknown:
        raise ConfigurationError(f"vendor master {where}: {name}: unknown keys {sorted(unknown)}")
    aliases, currencies = row.get("aliases", []), row.get("currencies", [])
    for key, value in (("aliases", aliases), ("currencies", currencies)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigurationError(f"vendor master {where}: {name}: {key} must be a list of text")
    po = row.get("po_required_above")
    if po is not None and _finite(po) is None:
        raise ConfigurationError(
            f"vendor master {where}: {name}: po_required_above must be a number"
        )
    usual = row.get("usual_amount")
    if usual is not None and not (
        isinstance(usual, list)
        and len(usual) == 2
        and all(_finite(v) is not None for v in usual)
        and 0 <= usual[0] <= usual[1]
    ):
        raise ConfigurationError(
            f"vendor master {where}: {name}: usual_amount must be [smallest, largest]"
        )
    return Vendor(
        name=name,
        aliases=tuple(aliases),
        currencies=tuple(c.upper() for c in currencies),
        po_required_above=None if po is None else float(po),
        usual_amount=None if usual is None else (float(usual[0]), float(usual[1])),
    )


def packaged_vendor_master() -> Path:
    """The example vendor master shipped beside the graph (and in the wheel)."""
    return Path(__file__).resolve().with_name(VENDORS_FILE)


def find_vendor_master(db: str | os.PathLike[str] | None = None) -> Path:
    """The deployment's vendor master: `$LANGGRAPH_HITL_VENDORS`, else `vendors.json`
    beside the database (a SQLite file), else the example that ships with the graph.

    Raises:
        ConfigurationError: `$LANGGRAPH_HITL_VENDORS` names a file that is not there.

    Example:
        >>> find_vendor_master("/nowhere/hitl.sqlite") == packaged_vendor_master()
        True
    """
    named = os.environ.get(VENDORS_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"${VENDORS_ENV} names {named}, which is not a file")
        return path
    if db is not None and "://" not in str(db):  # a SQLite file, not a PostgreSQL URL
        beside = Path(db).absolute().parent / VENDORS_FILE
        if beside.is_file():
            return beside
    return packaged_vendor_master()


def _plain(name: str) -> str:
    return " ".join(name.casefold().split())


def _fold(name: str, *, bare: bool = False) -> str:
    """A name with look-alike characters folded to one, and nothing but letters and digits;
    `bare` drops legal forms (GmbH, Ltd, LLC...) too."""
    text = name.casefold()
    if bare:
        text = " ".join(w for w in re.split(r"[\s,]+", text) if w.strip(".&") not in _LEGAL)
    text = text.replace("rn", "m").replace("vv", "w").translate(_LOOK_ALIKE)
    return re.sub(r"[^0-9a-z]", "", text)


# -- the checks ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Earlier:
    """An invoice already paid or pending in another thread (the graph's register)."""

    thread_id: str
    invoice_id: str
    vendor: str
    amount: float | None
    issued: date | None
    """Its issue date, else the day it was received."""
    po_number: str | None = None
    status: str
    """`pending` or `paid`."""


def number_key(invoice_id: str) -> str:
    """An invoice number without case, spaces or punctuation: `GLX 4706` is `GLX4706`."""
    return re.sub(r"[^0-9A-Z]", "", invoice_id.upper())


def same_number(one: str, other: str) -> bool:
    """Whether two invoice numbers are the same number spelled two ways.

    Case, spaces and punctuation aside, and leading zeros of each group of digits.

    Example:
        >>> same_number("GLX 4706", "glx-4706"), same_number("GLX-04706", "GLX4706")
        (True, True)
        >>> same_number("AC-2026-000412", "AC-2026-0412"), same_number("GLX-4706", "GLX-4707")
        (True, False)
    """
    if number_key(one) == number_key(other):
        return True

    def groups(text: str) -> list[str]:
        parts = re.findall(r"[A-Z]+|[0-9]+", text.upper())
        return [str(int(p)) if p.isdigit() else p for p in parts]

    return groups(one) == groups(other)


def vendor_key(name: str, match: VendorMatch) -> str:
    """What the register files an invoice under: the master's name, else the name given."""
    return match.vendor.name if match.vendor is not None else _plain(name)


def parse_date(value: Any) -> date | None:
    """A `YYYY-MM-DD` text as a date, else None (`2026-02-30` is none)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def check_invoice(
    invoice: dict[str, Any],
    *,
    master: VendorMaster,
    earlier: Sequence[Earlier] = (),
    received: date | None = None,
) -> list[str]:
    """Every problem a careful clerk would find, each led by its check's name.

    Args:
        invoice: The invoice as read (`amount` None when unreadable).
        master: The vendor master.
        earlier: Invoices paid or pending elsewhere that share its vendor (the register's
            candidates; this function decides which are duplicates).
        received: The day it arrived (default: no arrival check).

    Example:
        >>> master = VendorMaster.load(packaged_vendor_master())
        >>> check_invoice({"invoice_id": "GLX-4706", "vendor": "Globex Ltd", "amount": 640.0,
        ...     "currency": "USD", "due_date": "2026-12-20",
        ...     "line_items": [{"description": "Backup", "quantity": 1, "unit_price": 640.0}]},
        ...     master=master)
        []
        >>> check_invoice({"invoice_id": "GLX-4706", "vendor": "Gl0bex Ltd", "amount": 640.0,
        ...     "currency": "GBP", "due_date": "2026-02-30",
        ...     "line_items": [{"description": "Backup", "quantity": 0, "unit_price": 640.0}]},
        ...     master=master)  # doctest: +NORMALIZE_WHITESPACE
        ["vendor: 'Gl0bex Ltd' is not in the vendor master; looks like Globex Ltd",
         "dates: due date '2026-02-30' is not a date",
         'lines: line 1 has quantity 0',
         'totals: line items add up to 0.00, not 640.00 (tolerance 0.01)']
    """
    problems = [f"missing: {name}" for name in REQUIRED if invoice.get(name) in (None, "", [])]
    name = invoice.get("vendor")
    match = master.match(name) if isinstance(name, str) and name else None
    vendor = match.vendor if match is not None else None
    if match is not None and vendor is None:
        close = match.looks_like
        problems.append(
            f"vendor: {name!r} is not in the vendor master"
            + (f"; looks like {close.name}" if close is not None else "")
        )
    amount = _finite(invoice.get("amount"))
    issued = parse_date(invoice.get("issue_date"))
    if match is not None and isinstance(name, str):
        problems += _duplicates(
            invoice, vendor_key(name, match), amount, issued or received, earlier
        )
    problems += _dates(invoice, issued, received)
    problems += _lines(invoice.get("line_items"), amount)
    currency = invoice.get("currency")
    if vendor is not None and isinstance(currency, str) and currency:
        if not re.fullmatch(r"[A-Z]{3}", currency):
            problems.append(f"currency: {currency!r} is not a currency code")
        elif not vendor.bills_in(currency):
            billed = " or ".join(vendor.currencies)
            problems.append(f"currency: {currency}, but {vendor.name} bills in {billed}")
    if vendor is not None and amount is not None:
        if vendor.needs_po(amount) and not invoice.get("po_number"):
            problems.append(
                f"po: no purchase order on {amount:,.2f}; {vendor.name} needs one above"
                f" {vendor.po_required_above:,.2f}"
            )
        usual = vendor.usual_amount
        if usual is not None and amount > usual[1]:
            problems.append(
                f"amount: {amount:,.2f} is above the largest {vendor.name} usually bills"
                f" ({usual[1]:,.2f})"
            )
    return problems


def _duplicates(
    invoice: dict[str, Any],
    key: str,
    amount: float | None,
    issued: date | None,
    earlier: Sequence[Earlier],
) -> list[str]:
    number = invoice.get("invoice_id")
    mine = number if isinstance(number, str) and number else None
    po = invoice.get("po_number")
    found: list[str] = []
    for other in earlier:
        if other.vendor != key:
            continue
        where = "already paid" if other.status == "paid" else "still pending"
        where += f" in thread {other.thread_id}"
        if mine is not None and same_number(mine, other.invoice_id):
            if other.invoice_id == number:
                found.append(f"duplicate: {number} is {where}")
            else:
                found.append(f"duplicate: {number} is {other.invoice_id} from {key}, {where}")
        elif (
            amount is not None
            and other.amount is not None
            and abs(other.amount - amount) < 0.005
            and issued is not None
            and other.issued is not None
            and abs((issued - other.issued).days) <= NEAR_DUPLICATE_DAYS
            # Two orders of the same thing carry two purchase orders; a bill sent twice, one.
            and (not po or not other.po_number or po == other.po_number)
        ):
            days = abs((issued - other.issued).days)
            found.append(
                f"duplicate: same vendor and amount as {other.invoice_id}, issued {days} days"
                f" apart, {where}"
            )
    return found


def _dates(invoice: dict[str, Any], issued: date | None, received: date | None) -> list[str]:
    found: list[str] = []
    raw_issue, raw_due = invoice.get("issue_date"), invoice.get("due_date")
    if raw_issue not in (None, "") and issued is None:
        found.append(f"dates: issue date {raw_issue!r} is not a date")
    due = parse_date(raw_due)
    if raw_due not in (None, "") and due is None:
        found.append(f"dates: due date {raw_due!r} is not a date")
    if issued is not None and due is not None:
        if due < issued:
            found.append(f"dates: due {due} before it was issued ({issued})")
        elif due > issued + timedelta(days=MAX_TERMS_DAYS):
            found.append(
                f"dates: due {due}, {(due - issued).days} days after it was issued"
                f" (more than {MAX_TERMS_DAYS})"
            )
    if received is not None:
        # A vendor a time zone ahead may date an invoice the day after it arrives.
        if issued is not None and issued > received + timedelta(days=1):
            found.append(f"dates: issued {issued}, after it was received ({received})")
        if issued is None and due is not None and due > received + timedelta(days=365):
            found.append(f"dates: due {due}, more than a year after it was received")
    return found


def _lines(items: Any, amount: float | None) -> list[str]:
    if items in (None, []):
        return []
    if not isinstance(items, list):
        return ["lines: line items are not a list"]
    found: list[str] = []
    total = 0.0
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            found.append(f"lines: line {n} is not a line item")
            total = math.nan
            continue
        description = item.get("description")
        if not isinstance(description, str) or not description.strip():
            found.append(f"lines: line {n} has no description")
        quantity, price = _finite(item.get("quantity")), _finite(item.get("unit_price"))
        for key, value in (("quantity", quantity), ("unit price", price)):
            if value is None:
                found.append(f"lines: line {n} {key} is unreadable")
        if quantity is not None and quantity <= 0:
            found.append(f"lines: line {n} has quantity {quantity:g}")
        if price is not None and price < 0:
            found.append(f"lines: line {n} has a negative unit price ({price:,.2f})")
        total += math.nan if quantity is None or price is None else quantity * price
    tolerance = TOLERANCE_PER_LINE * len(items)
    if amount is not None and math.isfinite(total) and abs(total - amount) > tolerance + 1e-9:
        found.append(
            f"totals: line items add up to {total:,.2f}, not {amount:,.2f}"
            f" (tolerance {tolerance:,.2f})"
        )
    return found


def check_name(problem: str) -> str:
    """The check a problem line came from: `duplicate` for `duplicate: ...`."""
    return problem.split(":", 1)[0]


def confidence_of(ocr: float | None, problems: Sequence[str]) -> float | None:
    """How sure the graph is that the invoice may be paid as read, 0..1 (None: unknown).

    The scan's quality sets where a clean invoice sits between 0.5 and 1; each failed
    check cuts that by its own factor (`CUT`), so one problem leaves it under 0.5.

    Example:
        >>> confidence_of(0.72, [])  # a blurry scan of a clean invoice: reviewed afterwards
        0.86
        >>> confidence_of(0.97, ["totals: line items add up to 1,880.00, not 1,800.00"])
        0.295
        >>> confidence_of(None, []) is None  # an unreadable OCR score stays unknown
        True
    """
    if ocr is None:
        return None
    value = CLEAN_FLOOR + (1 - CLEAN_FLOOR) * ocr
    for problem in problems:
        value *= CUT.get(check_name(problem), 0.3)
    return round(value, 3)


def _finite(value: Any) -> float | None:
    """A finite number (not a bool, not text), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
