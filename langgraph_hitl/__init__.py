"""langgraph-hitl: human approval gates, a review ledger and a CLI for LangGraph.

Names are imported lazily, so reading the queue (`ReviewLedger`, `langgraph-hitl
list` and `show`) never imports LangGraph.

Example:
    >>> from langgraph_hitl import ApprovalGate, ConfidenceRouter, open_checkpointer
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langgraph_hitl.capture.agents import ApprovalMiddleware
    from langgraph_hitl.capture.gates import ApprovalGate, require_approval
    from langgraph_hitl.capture.policy import ReviewPolicy, Routing, Tier, record_route
    from langgraph_hitl.capture.routers import ConfidenceRouter, RiskRules
    from langgraph_hitl.checkpointing import open_async_checkpointer, open_checkpointer
    from langgraph_hitl.deciding.desk import ReviewDesk, ThreadStatus
    from langgraph_hitl.errors import (
        AlreadyDecidedError,
        BadInputError,
        ConfigurationError,
        ConflictError,
        HitlError,
        NotAuthorizedError,
        NotPendingError,
    )
    from langgraph_hitl.ledger import ReviewLedger
    from langgraph_hitl.models import Action, ApprovalRequest, Decision

_WHERE = {
    "Action": "models",
    "AlreadyDecidedError": "errors",
    "ApprovalGate": "capture.gates",
    "ApprovalMiddleware": "capture.agents",
    "ApprovalRequest": "models",
    "BadInputError": "errors",
    "ConfidenceRouter": "capture.routers",
    "ConfigurationError": "errors",
    "ConflictError": "errors",
    "Decision": "models",
    "HitlError": "errors",
    "NotAuthorizedError": "errors",
    "NotPendingError": "errors",
    "ReviewDesk": "deciding.desk",
    "ReviewPolicy": "capture.policy",
    "Routing": "capture.policy",
    "Tier": "capture.policy",
    "record_route": "capture.policy",
    "ReviewLedger": "ledger",
    "RiskRules": "capture.routers",
    "ThreadStatus": "deciding.desk",
    "open_async_checkpointer": "checkpointing",
    "open_checkpointer": "checkpointing",
    "require_approval": "capture.gates",
}

__all__ = [
    "Action",
    "AlreadyDecidedError",
    "ApprovalGate",
    "ApprovalMiddleware",
    "ApprovalRequest",
    "BadInputError",
    "ConfidenceRouter",
    "ConfigurationError",
    "ConflictError",
    "Decision",
    "HitlError",
    "NotAuthorizedError",
    "NotPendingError",
    "ReviewDesk",
    "ReviewLedger",
    "ReviewPolicy",
    "RiskRules",
    "Routing",
    "ThreadStatus",
    "Tier",
    "open_async_checkpointer",
    "open_checkpointer",
    "record_route",
    "require_approval",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'langgraph_hitl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"langgraph_hitl.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
