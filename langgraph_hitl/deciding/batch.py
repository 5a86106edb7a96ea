"""Batch review: pending requests grouped by decision type, decided a group at a time.

A group is every pending request of one gate and action (`approve_payment/pay_invoice`).
Deciding a group still records and applies each request on its own, exactly once:
each decision is its own short transaction (another reviewer is never locked out for
more than a moment), and each thread is resumed under its own lease, so two reviewers
batch-approving the same group at once get one winner per request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langgraph_hitl.capture.routers import as_number, lookup
from langgraph_hitl.errors import ApplyError, BadInputError, HitlError
from langgraph_hitl.ledger import RequestRecord, ReviewLedger
from langgraph_hitl.models import Decision

if TYPE_CHECKING:
    from langgraph_hitl.deciding.desk import ReviewDesk

_WHERE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|!=|=|<|>|~)\s*(.*?)\s*$")
_OPERATORS = ("<=", ">=", "!=", "=", "<", ">", "~")


def group_key(rec: RequestRecord) -> str:
    """The group a request belongs to: `gate/action`."""
    return f"{rec.gate or '-'}/{rec.request.action.name}"


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One `--where` test on a request: `amount<5000`, `vendor=Acme GmbH`, `vendor~acme`.

    Fields are the action's args (dots walk into them), or `tier`, `confidence`,
    `thread`. `=`/`!=` compare numbers by value and text exactly; `<`, `<=`, `>`, `>=`
    need numbers; `~` is a case-insensitive substring test.

    Example:
        >>> cond = Condition.parse("amount<5000")
        >>> cond.matches({"amount": 1250.0}), cond.matches({"amount": 52000})
        (True, False)
    """

    field: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse `FIELD OP VALUE`; `BadInputError` names what is wrong."""
        found = _WHERE.match(text)
        if found is None:
            raise BadInputError(
                f"bad --where {text!r}: use FIELD OP VALUE with OP one of"
                f" {' '.join(_OPERATORS)} (e.g. amount<5000)"
            )
        name, op, value = found.groups()
        try:
            number = float(value.replace(",", ""))
        except ValueError:
            number = 0.0  # text: compared as text
        if not math.isfinite(number):  # NaN, inf, 1e999: no amount is ever < NaN
            raise BadInputError(f"bad --where {text!r}: {value} is not a finite number")
        if op in ("<", "<=", ">", ">=") and as_number(value) is None:
            raise BadInputError(f"bad --where {text!r}: {op} needs a number, got {value!r}")
        return cls(field=name, op=op, value=value)

    def matches(self, fields: dict[str, Any]) -> bool:
        """Whether a request's fields pass; a missing field never does."""
        actual = lookup(fields, self.field)
        if actual is None:
            return False
        if self.op == "~":
            return self.value.lower() in str(actual).lower()
        left, right = as_number(actual), as_number(self.value)
        if self.op in ("=", "!="):
            same = (
                left == right
                if left is not None and right is not None
                else (str(actual) == self.value)
            )
            return same if self.op == "=" else not same
        if left is None or right is None:
            return False
        return {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[self.op]


def _fields(rec: RequestRecord) -> dict[str, Any]:
    req = rec.request
    return {
        **req.action.args,
        "tier": req.risk_tier,
        "confidence": req.confidence,
        "thread": rec.thread_id,
    }


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


@dataclass(frozen=True, kw_only=True)
class BatchGroup:
    """Pending requests of one gate and action, with the fields that differ among them."""

    key: str
    requests: list[RequestRecord]
    differing: list[str]
    """Args (dotted), then tier and confidence, whose values are not the same for all."""
    same: dict[str, Any]
    """Fields every request of the group shares, with their one value."""

    def row(self, rec: RequestRecord) -> dict[str, Any]:
        """The differing fields of one request."""
        flat = _flat(_fields(rec))
        return {name: flat.get(name) for name in self.differing}

    def fields(self) -> list[str]:
        """Every field a `--where` may test in this group: leaves and the dicts above them."""
        names: set[str] = set()
        for name in (*self.differing, *self.same):
            parts = name.split(".")
            names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
        return sorted(names)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.key,
            "count": len(self.requests),
            "differing": self.differing,
            "same": self.same,
            "requests": [{"request_id": r.request_id, **self.row(r)} for r in self.requests],
        }


def groups(records: Iterable[RequestRecord]) -> list[BatchGroup]:
    """Group pending requests by gate and action, largest group first."""
    by_key: dict[str, list[RequestRecord]] = {}
    for rec in records:
        by_key.setdefault(group_key(rec), []).append(rec)
    result = []
    for key, recs in by_key.items():
        flats = [_flat(_fields(r)) for r in recs]
        names = list(dict.fromkeys(name for flat in flats for name in flat))
        differing, same = [], {}
        for name in names:
            values = {repr(flat.get(name)) for flat in flats}
            if len(values) > 1:
                differing.append(name)
            else:
                same[name] = flats[0].get(name)
        result.append(BatchGroup(key=key, requests=recs, differing=differing, same=same))
    return sorted(result, key=lambda g: (-len(g.requests), g.key))


def select(
    group: BatchGroup, where: Sequence[Condition] = (), limit: int | None = None
) -> list[RequestRecord]:
    """The group's requests that pass every condition, in queue order, at most `limit`.

    A condition on a field no request of the group has is a `BadInputError` naming the
    fields there are: a misspelt `amunt<1500` would otherwise quietly match nothing.
    """
    known = group.fields()
    for cond in where:
        if cond.field not in known:
            raise BadInputError(
                f"bad --where: no request in {group.key} has a field {cond.field!r}"
                f" (fields: {', '.join(known)})"
            )
    chosen = [r for r in group.requests if all(c.matches(_fields(r)) for c in where)]
    return chosen[:limit] if limit else chosen


@dataclass(kw_only=True)
class ItemResult:
    """What happened to one request of a batch."""

    request_id: str
    thread_id: str
    result: str
    """`applied`; `recorded` (not applied yet: `resume` applies it); `vote` (short of its
    quorum); `refused` (and why); `failed` (the ledger itself failed: nothing of this one
    was kept); `not tried` (the batch stopped at a failure before it). In a dry run:
    `would apply`, `would vote` or `would be refused`."""
    detail: str | None = None
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "thread_id": self.thread_id,
            "result": self.result,
            "detail": self.detail,
            "exit_code": self.exit_code,
        }


@dataclass(kw_only=True)
class BatchResult:
    """Per-item results of deciding a batch."""

    group: str
    decision: str
    items: list[ItemResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every item was decided; 1 when the ledger failed midway (a partial
        failure: what came before stands); else the exit code of the first that was not.
        """
        if any(item.result in ("failed", "not tried") for item in self.items):
            return 1
        return next((item.exit_code for item in self.items if item.exit_code), 0)

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for item in self.items:
            found[item.result] = found.get(item.result, 0) + 1
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "decision": self.decision,
            "counts": self.counts(),
            "items": [item.to_json() for item in self.items],
        }


def find_group(all_groups: Sequence[BatchGroup], name: str) -> BatchGroup:
    """A group by its key, its gate or action alone when that is unambiguous, or number."""
    if name.isdigit() and 1 <= int(name) <= len(all_groups):
        return all_groups[int(name) - 1]
    matches = [g for g in all_groups if name in (g.key, *g.key.split("/", 1))]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(g.key for g in all_groups) or "none pending"
    if not matches:
        raise BadInputError(f"no pending group {name!r} (groups: {known})")
    raise BadInputError(f"{name!r} names several groups: use one of {known}")


def decide_batch(
    desk: ReviewDesk,
    requests: Sequence[RequestRecord],
    decision: Decision,
    *,
    group: str,
    needed: bool = False,
    apply: bool = True,
) -> BatchResult:
    """Decide each request on its own (recorded once, applied once), graphs loaded once.

    `needed=True` marks each escalation as worth a look (see `ReviewDesk.decide`);
    `apply=False` records only, for a worker to apply (`recorded`, no graph loaded).
    When the ledger itself fails (a full disk, an I/O error), the batch stops there:
    every decision before it stands (each was its own transaction), the failed one and
    the rest are reported as `failed` and `not tried`, and `exit_code` is 1.
    """
    result = BatchResult(group=group, decision=decision.type)
    with desk.keep_graphs():
        for index, rec in enumerate(requests):
            item = ItemResult(request_id=rec.request_id, thread_id=rec.thread_id, result="")
            result.items.append(item)
            try:
                outcome = desk.decide(rec.request_id, decision, needed=needed, apply=apply)
            except ApplyError as error:
                item.result, item.detail, item.exit_code = "recorded", str(error), error.exit_code
            except HitlError as error:
                item.result, item.detail, item.exit_code = "refused", str(error), error.exit_code
            except Exception as error:
                item.result, item.exit_code = "failed", 1
                item.detail = f"{type(error).__name__}: {error}".splitlines()[0]
                result.items += [
                    ItemResult(
                        request_id=rest.request_id,
                        thread_id=rest.thread_id,
                        result="not tried",
                        detail=f"the batch stopped at the failure of {rec.request_id}",
                        exit_code=1,
                    )
                    for rest in requests[index + 1 :]
                ]
                break
            else:
                final = outcome.request
                if final.status == "pending":
                    item.result = "vote"
                    item.detail = f"{len(final.approvals)} of {final.quorum} approvals"
                else:
                    item.result = "applied" if outcome.applied else "recorded"
                    item.detail = None if outcome.thread is None else outcome.thread.status
    return result


def dry_run(
    ledger: ReviewLedger, requests: Sequence[RequestRecord], decision: Decision, *, group: str
) -> BatchResult:
    """What `decide_batch` would do, changing nothing: per request, applied, a vote, or
    refused and why.

    Each request gets the desk's own validation (`validate_decision`) and the ledger's
    own checks of roles, the owner bar, quorum and votes (`ReviewLedger.check_decision`,
    rolled back), so a dry run and the real run cannot disagree. `exit_code` is what the
    real run would exit with. Nothing is written, not even a refusal.
    """
    from langgraph_hitl.deciding.desk import default_reviewer
    from langgraph_hitl.models import validate_decision

    if decision.reviewer is None:
        decision = decision.model_copy(update={"reviewer": default_reviewer()})
    result = BatchResult(group=group, decision=decision.type)
    for rec in requests:
        item = ItemResult(request_id=rec.request_id, thread_id=rec.thread_id, result="")
        result.items.append(item)
        try:
            valid = validate_decision(rec.request, decision)
            after = ledger.check_decision(rec.request_id, valid)
        except HitlError as error:
            item.result, item.detail, item.exit_code = (
                "would be refused",
                str(error),
                error.exit_code,
            )
            continue
        if after.status == "pending":
            item.result = "would vote"
            item.detail = f"{len(after.approvals)} of {after.quorum} approvals"
        else:
            item.result = "would apply"
    return result
