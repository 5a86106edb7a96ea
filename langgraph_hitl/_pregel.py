"""The run-config keys langgraph-hitl reads or sets, LangGraph's private ones among them.

LangGraph hands every node and every checkpointer call the run's `configurable` dict.
Three of its keys are private and undocumented; they are named here, and only here, and
`tests/test_pregel_keys.py` pins what each one does, so a LangGraph upgrade that moves
one fails there and not in a reviewer's hands:

- `__pregel_strict_resume`: set, LangGraph raises `UnknownInterruptError` before writing
  anything when a resume names an interrupt id that is not pending.
- `__pregel_checkpointer`: inside a node, the checkpointer the run uses (our saver, whose
  ledger a gate consults for a direct answer).
- `__pregel_task_id`: inside a node, the id of its task, as the checkpointer's
  `put_writes` receives it (the ledger keeps it beside each request).

`langgraph_auth_user_id` is Agent Server's (`langgraph dev` included), public in its
docs: the signed-in user a run was started by, when the server authenticates (empty
under its no-auth default). A direct answer in such a run is that user's.

`__hitl_lease` is our own: the lease a desk holds while it applies a thread. LangGraph
passes every `configurable` key on to nodes and to `put` / `put_writes`, and keys that
begin with `__` are left out of checkpoint metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STRICT_RESUME_KEY = "__pregel_strict_resume"
CHECKPOINTER_KEY = "__pregel_checkpointer"
TASK_ID_KEY = "__pregel_task_id"
LEASE_KEY = "__hitl_lease"
AUTH_USER_KEY = "langgraph_auth_user_id"


def run_config(thread_id: str, *, lease: str | None = None) -> dict[str, Any]:
    """A run config for `thread_id` with LangGraph's strict resume on, and our lease if held.

    Example:
        >>> run_config("INV-7")["configurable"]["thread_id"]
        'INV-7'
    """
    configurable: dict[str, Any] = {"thread_id": thread_id, STRICT_RESUME_KEY: True}
    if lease is not None:
        configurable[LEASE_KEY] = lease
    return {"configurable": configurable}


def _configurable(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (config or {}).get("configurable") or {}


def lease_of(config: Mapping[str, Any] | None) -> str | None:
    """The lease the run was started under, if a desk started it."""
    value = _configurable(config).get(LEASE_KEY)
    return value if isinstance(value, str) else None


def checkpointer_of(config: Mapping[str, Any] | None) -> Any:
    """Inside a node: the checkpointer of the run, or None."""
    return _configurable(config).get(CHECKPOINTER_KEY)


def task_id_of(config: Mapping[str, Any] | None) -> str | None:
    """Inside a node: the id of its task, or None."""
    value = _configurable(config).get(TASK_ID_KEY)
    return value if isinstance(value, str) else None


def auth_user_of(config: Mapping[str, Any] | None) -> str | None:
    """Under Agent Server: the signed-in user who started the run, or None.

    Example:
        >>> auth_user_of({"configurable": {"thread_id": "R-42", "langgraph_auth_user_id": "mia"}})
        'mia'
        >>> auth_user_of({"configurable": {"langgraph_auth_user_id": ""}}) is None
        True
    """
    value = _configurable(config).get(AUTH_USER_KEY)
    return value if isinstance(value, str) and value else None
