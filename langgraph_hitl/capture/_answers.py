"""How a gate takes an answer: the desk applying what it recorded, or one given straight
to LangGraph with `Command(resume=...)`.

An answer reaches a gate by two paths, and both meet the same rules:

- **The desk** records a decision first (validated, authorized, counted toward a quorum,
  once), then resumes the thread under the thread's lease with exactly that decision.
  The gate accepts it when the run holds the lease and the answer is the one recorded.
- **A direct answer** (application code calling `graph.invoke(Command(resume=...))`)
  is recorded by the gate itself, under the same rules: the gate claims the thread's
  lease, so two direct answers, or a direct answer and a desk, never both act, then
  records the decision. Roles, the owner bar and the quorum apply; an approval short of
  its quorum is kept as a vote.

A direct answer the rules refuse is raised to its caller *in place*: the exception is a
LangGraph `GraphBubbleUp`, so LangGraph saves nothing for the gate's task, the answer is
not consumed and the question stays exactly as it was (same request, same votes). A gate
that simply raised would jam the thread: LangGraph would save the answer and replay it on
every later resume. The refusal is also kept in the audit trail where the ledger keeps
refusals (authorization, conflicts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.errors import GraphBubbleUp

from langgraph_hitl._pregel import auth_user_of, checkpointer_of, lease_of, task_id_of
from langgraph_hitl.capture._stock_hitl import signed_in_as
from langgraph_hitl.errors import (
    AlreadyDecidedError,
    HitlError,
    NotPendingError,
    QuorumPendingError,
    ThreadBusyError,
)
from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.ledger.leases import lease_owner
from langgraph_hitl.models import Decision, validate_decision


class AnswerRefused(GraphBubbleUp):
    """A direct answer the gate refused in place: nothing was saved, ask again.

    Every refusal raised to a direct caller is an instance of this class and of the
    langgraph-hitl error that says why (`NotAuthorizedError`, `AlreadyDecidedError`,
    `QuorumPendingError`, ...), so either can be caught.
    """


_REFUSALS: dict[type[HitlError], type[Exception]] = {}


def refused(error: HitlError) -> Exception:
    """`error` as an in-place refusal: the same error, and an `AnswerRefused`."""
    kind = type(error)
    if kind not in _REFUSALS:
        _REFUSALS[kind] = type(f"Refused{kind.__name__}", (kind, AnswerRefused), {})
    refusal = _REFUSALS[kind](*error.args)
    refusal.__cause__ = error.__cause__
    return refusal


def _same(a: Decision, b: Decision) -> bool:
    return Decision.model_validate(a.to_wire()).to_wire() == b.to_wire()


@dataclass(frozen=True, kw_only=True)
class LedgerAnswers:
    """The ledger of the run a gate is in, and how to take one of its task's answers."""

    ledger: ReviewLedger
    thread_id: str
    task_id: str
    lease: str | None
    user: str | None = None
    """Under Agent Server, the run's signed-in user: a direct answer is theirs."""

    @classmethod
    def for_run(cls, config: Any) -> LedgerAnswers | None:
        """The ledger behind the run's checkpointer, or None when it has none (not ours)."""
        ledger = getattr(checkpointer_of(config), "ledger", None)
        task_id = task_id_of(config)
        if not isinstance(ledger, ReviewLedger) or task_id is None:
            return None
        return cls(
            ledger=ledger,
            thread_id=str(config["configurable"]["thread_id"]),
            task_id=task_id,
            lease=lease_of(config),
            user=auth_user_of(config),
        )

    def take(self, ask: int, answer: Decision, problem: HitlError | None) -> bool:
        """Whether the gate may act on the answer to its `ask`-th question.

        `problem` is what the gate's own check found wrong with the answer (None: it
        fits the request as the gate builds it from state). Returns False when the gate
        should ask again; raises a refusal in place (see the module) when the answer came
        straight to LangGraph and the ledger's rules refuse it.
        """
        found = self.ledger.request_for_task(self.thread_id, self.task_id, ask)
        if found is None:
            raise refused(
                NotPendingError(
                    f"the question on thread {self.thread_id} is not in the review ledger;"
                    " `langgraph-hitl doctor` records it"
                )
            )
        rec, latest = found
        if not latest:
            # LangGraph replays a task's saved answers on every resume: this one was
            # refused before, and the gate asked again.
            return False
        if self.lease is not None and self.ledger.lease_holder(self.thread_id) == self.lease:
            # The desk applying what it recorded, under its lease.
            if rec.decision is None or not _same(rec.decision, answer):
                raise refused(
                    NotPendingError(
                        f"{rec.request_id}: the answer is not the decision the ledger holds"
                    )
                )
            return problem is None
        return self._take_direct(rec.request_id, answer, problem)

    def _take_direct(self, request_id: str, answer: Decision, problem: HitlError | None) -> bool:
        ledger = self.ledger
        rec = ledger.get(request_id)
        if self.user is not None:
            # A run the server authenticated: the answer is its signed-in user's, who
            # may not answer in someone else's name.
            named, answer = answer.reviewer, answer.model_copy(update={"reviewer": self.user})
            if named is not None and named != self.user:
                refusal = signed_in_as(self.user, named)
                ledger.add_event(
                    "refused",
                    request_id=request_id,
                    thread_id=self.thread_id,
                    actor=self.user,
                    data={"why": str(refusal), "type": answer.type},
                )
                raise refused(refusal)
        if rec.status in ("decided", "applied"):
            raise refused(
                AlreadyDecidedError(
                    f"request {request_id} was already decided; a decided request is applied"
                    " by the desk (`langgraph-hitl resume`)"
                )
            )
        if rec.status != "pending":
            raise refused(NotPendingError(f"request {request_id} is {rec.status}, not pending"))
        # Claim the thread before anything is written for this answer, the gate's new
        # question included: two answers, or an answer and a desk, never both act.
        owner = lease_owner()
        if not ledger.acquire_lease(self.thread_id, owner):
            raise refused(
                ThreadBusyError(
                    f"another process is applying thread {self.thread_id}; nothing was recorded"
                )
            )
        if problem is None:
            try:
                decision = validate_decision(rec.request, rec.as_seen(answer))
            except HitlError as error:
                problem = error
        if problem is not None:
            # Not a decision at all: the gate asks again, as it does with no ledger. The
            # claim is released when LangGraph saves the new question (`settle_task`).
            ledger.claim(request_id, owner)
            return False
        try:
            recorded = ledger.record_decision(request_id, decision)
        except HitlError as error:
            ledger.release_lease(self.thread_id, owner)
            raise refused(error) from None
        if recorded.status == "pending":
            ledger.release_lease(self.thread_id, owner)
            raise refused(
                QuorumPendingError(
                    f"{request_id}: approval {len(recorded.approvals)} of {recorded.quorum}"
                    f" recorded ({', '.join(recorded.approvals)}); it waits for more approvers"
                )
            )
        # The claim is released when LangGraph saves the gate's answer (`settle_task`).
        ledger.claim(request_id, owner)
        return True
