"""Errors raised by langgraph-hitl.

Every error derives from one root, and each branch carries the exit code the CLI
uses for it, so the mapping lives in exactly one place::

    HitlError                      exit 1   anything not listed below
    ├── ConfigurationError         exit 1   a gate, router or graph was set up wrongly
    ├── ApplyError                 exit 1   a decision is recorded, applying it failed
    ├── UnapprovedActionError      exit 1   an action path found no human approval for it
    ├── BadInputError              exit 2   the caller asked for something invalid
    │   ├── UnknownRequestError             no such request or thread
    │   ├── DecisionNotAllowedError         the gate does not allow that decision
    │   ├── InvalidEditError                edited args fail the action's schema
    │   ├── GraphNotFoundError              a graph reference cannot be loaded
    │   └── DatabaseError                   missing, unreadable or not a database
    ├── ConflictError              exit 3   the world moved on
    │   ├── AlreadyDecidedError             another decision won
    │   ├── NotPendingError                 superseded, cancelled, or the thread moved
    │   └── ThreadBusyError                 another process is resuming the thread
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
    """A decision was recorded, but resuming the thread with it failed.

    The decision stands (it is never asked for again); `resume` applies it once the
    cause (a graph that no longer loads, a node that raised) is fixed.
    """


class UnapprovedActionError(HitlError):
    """An action that needs a human approval found none in the ledger for what it would do.

    Raised by `require_approval`: state written as if by the gate (`update_state(...,
    as_node=...)`) cannot forge an approval the ledger never recorded.
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


class ThreadBusyError(ConflictError):
    """Another process holds the thread's lease and is resuming it."""


class NotAuthorizedError(HitlError):
    """The reviewer's role may not decide this request, or they own the work (exit 4).

    The refusal is kept in the audit trail. A reviewer's name is attribution, not proof
    of identity: see the README on what to put in front of a shared ledger.
    """

    exit_code = 4
