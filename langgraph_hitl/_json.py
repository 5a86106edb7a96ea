"""The JSON form digests are taken over, without pydantic.

The ledger stores and compares digests on every read path (`list` among them); the
models (`langgraph_hitl.models`, pydantic) are loaded only where a request or a decision
is validated, so a process that only reads the queue does not pay for them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the form digests are taken over.

    Example:
        >>> canonical_json({"b": 1, "a": [1.5, "é"]})
        '{"a":[1.5,"é"],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def action_digest(name: str, args: dict[str, Any]) -> str:
    """A SHA-256 over an action's name and args (`Action.digest`).

    Example:
        >>> action_digest("pay", {"amount": 1})[:12]
        'f7250f54809c'
    """
    return hashlib.sha256(canonical_json({"name": name, "args": args}).encode()).hexdigest()
