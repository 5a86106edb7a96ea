"""Errors raised by langgraph-hitl.

Every error derives from one root, and each branch carries the exit code the CLI
uses for it, so the mapping lives in exactly one place::

    HitlError                      exit 1   anything not listed below
    ├── ConfigurationError         exit 1   a gate, router or graph was set up wrongly
    ├── ApplyError                 exit 1   a decision could not be applied
    ├── UnapprovedActionError      exit 1   an action path found no human approval for it
    ├── ClockSkewError             exit 1   this host's clock is behind the thread's checkpoints
    ├── AuditError                 exit 1   a row the audit trail does not vouch for
    ├── BadInputError              exit 2   the caller asked for something invalid
    │   ├── UnknownRequestError             no such request or thread
    │   ├── DecisionNotAllowedError         the gate does not allow that decision
    │   ├── InvalidEditError                edited args fail the action's schema
    │   ├── GraphNotFoundError              a graph reference cannot be loaded
    │   └── DatabaseError                   missing, unreadable or not a database
    ├── ConflictError              exit 3   the world moved on
    │   ├── AlreadyDecidedError             another decision won
    │   ├── NotPendingError                 superseded, cancelled, or the thread moved
    │   ├── QuorumPendingError              an approval was counted; more are needed
    │   └── ThreadBusyError                 another process is resuming the thread
    │       └── LeaseLostError              another process took the thread over mid-apply
    └── NotAuthorizedError         exit 4   this reviewer may not take this decision

Developer mistakes (`ConfigurationError`) are raised when a gate or router is built,
not halfway through a run.
"""

from __future__ import annotations


class HitlError(Exception):
    """Root of every error langgraph-hitl raises on purpose.

    Example:
        >>> try:
        ...     raise AlreadyDecidedError("request r-1 was already approved by ana")
        ... except HitlError as err:
        ...     err.exit_code
        3
    """

    exit_code: int = 1


class ConfigurationError(HitlError, ValueError):
    """A gate, router or graph reference was configured wrongly by the developer."""


class ApplyError(HitlError):
    """A decision could not be applied.

    Found before recording (the thread's checkpoint cannot be read), the decision is not
    recorded. Found after (a node raised), the decision stands: it is never asked for
    again, the error stays in sight in `list`, `thread` and `doctor`, and `resume`
    applies it once the cause is fixed (or `cancel` ends the thread).
    """


class UnapprovedActionError(HitlError):
    """An action that needs a human approval found none in the ledger for what it would do.

    Raised by `require_approval`: state written as if by the gate (`update_state(...,
    as_node=...)`) cannot forge an approval the ledger never recorded.
    """


class ClockSkewError(HitlError):
    """This host's clock is behind the thread's last checkpoint.

    LangGraph orders a thread's checkpoints by ids made from the wall clock: a checkpoint
    written by a slow clock sorts before the ones already there, and the thread would read
    as if its newest steps never ran. Nothing is written; fix the clock and run again.
    """


class AuditError(HitlError):
    """A request or decision in the ledger does not match the audit trail that recorded it.

    It was written, edited or deleted behind the ledger's back: it is not acted on.
    `langgraph-hitl audit verify` names what does not check out.
    """


class BadInputError(HitlError):
    """The input names something unknown or asks for something not allowed (exit 2)."""

    exit_code = 2


class UnknownRequestError(BadInputError, LookupError):
    """No request (or thread) has that id."""


class DecisionNotAllowedError(BadInputError):
    """The decision type is not one the request allows."""


class InvalidEditError(BadInputError):
    """The edited args of a `modify` decision do not fit the action's schema."""


class GraphNotFoundError(BadInputError):
    """A graph reference (`file.py:attr`, `module:attr` or a langgraph.json name) failed."""


class DatabaseError(BadInputError):
    """The database is missing, unreadable, read-only or not a SQLite file."""


class ConflictError(HitlError):
    """The request is no longer in the state the caller expected (exit 3)."""

    exit_code = 3


class AlreadyDecidedError(ConflictError):
    """Another decision for the request was recorded first."""


class NotPendingError(ConflictError):
    """The request was superseded, cancelled or its thread moved on."""


class QuorumPendingError(ConflictError):
    """An approval was counted toward a request's quorum; it waits for more approvers.

    Raised to a caller who answered a gate directly with `Command(resume=...)`: the
    approval is kept as a vote and the question stays as it was.
    """


class ThreadBusyError(ConflictError):
    """Another process holds the thread's lease and is resuming it."""


class LeaseLostError(ThreadBusyError):
    """Another process took over the thread's lease while this one was applying.

    The saver checks the lease in the same transaction as each checkpoint write, so the
    process that lost it stops before it writes anything more.
    """


class NotAuthorizedError(HitlError):
    """The reviewer's role may not decide this request, or they own the work (exit 4).

    The refusal is kept in the audit trail. A reviewer's name is attribution, not proof
    of identity: see the README on what to put in front of a shared ledger.
    """

    exit_code = 4
