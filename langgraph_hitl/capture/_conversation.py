"""An agent's conversation as lines a person reads: `thread` and the reviewer's context.

Messages come as LangChain message objects (inside an agent) or as their JSON form (a
thread's state read back by the CLI); both read the same. Everything here came from a
model, a tool or a user: callers show it as untrusted text (escaped, never markup).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _get(message: Any, key: str, default: Any = None) -> Any:
    if isinstance(message, dict):
        return message.get(key, default)
    return getattr(message, key, default)


def text_of(message: Any) -> str:
    """A message's text: string content, or the text parts of a list of content blocks."""
    content = _get(message, "content", "")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            block if isinstance(block, str) else str(block.get("text", ""))
            for block in content
            if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
        ]
        return " ".join(part for part in parts if part)
    return str(content)


def call_text(name: str, args: Any) -> str:
    """A tool call as one line: `refund(order_id="A-42", amount=80.0)`.

    Example:
        >>> call_text("refund", {"order_id": "A-42", "amount": 80.0})
        'refund(order_id="A-42", amount=80.0)'
    """
    if not isinstance(args, dict):
        return f"{name}({json.dumps(args, default=str)})"
    shown = ", ".join(
        f"{k}={json.dumps(v, default=str, ensure_ascii=False)}" for k, v in args.items()
    )
    return f"{name}({shown})"


def role_of(message: Any) -> str:
    """`user`, `assistant`, `tool` or `system`."""
    kind = str(_get(message, "type", "") or _get(message, "role", ""))
    return _ROLES.get(kind, kind or "message")


def turn_lines(message: Any) -> list[str]:
    """One message as lines: who said what, and the tool calls it made.

    Example:
        >>> turn_lines({"type": "ai", "content": "Refunding.", "tool_calls": [
        ...     {"name": "refund", "args": {"order_id": "A-42"}, "id": "c1"}]})
        ['assistant: Refunding.', '  -> refund(order_id="A-42")']
    """
    role = role_of(message)
    text = text_of(message)
    if role == "tool":
        head = f"tool {_get(message, 'name') or ''}".rstrip()
        status = _get(message, "status")
        head += " (error)" if status == "error" else ""
        lines = [f"{head}: {text}"]
    else:
        lines = [f"{role}: {text}"] if text or role != "assistant" else []
    for call in _get(message, "tool_calls", None) or []:
        lines.append(f"  -> {call_text(str(_get(call, 'name')), _get(call, 'args', {}))}")
    return lines or [f"{role}:"]


def conversation_lines(messages: Any) -> list[str] | None:
    """Every turn of a conversation as lines; None when `messages` is not a conversation."""
    if not isinstance(messages, list | tuple) or not all(
        isinstance(m, dict) and ("type" in m or "role" in m) for m in messages
    ):
        return None
    return [line for message in messages for line in turn_lines(message)]


def recent_turns(messages: Sequence[Any], count: int) -> list[str]:
    """The last `count` messages, one line each (tool calls folded in), for a reviewer."""
    out = []
    for message in list(messages)[-count:] if count > 0 else []:
        out.append(" ".join(line.strip() for line in turn_lines(message)))
    return out


def tool_results(messages: Iterable[Any]) -> list[str]:
    """What the agent already tried: each earlier tool call and what it returned."""
    calls: dict[str, str] = {}
    out = []
    for message in messages:
        for call in _get(message, "tool_calls", None) or []:
            calls[str(_get(call, "id"))] = call_text(str(_get(call, "name")), _get(call, "args"))
        if role_of(message) == "tool":
            call = calls.get(str(_get(message, "tool_call_id")), str(_get(message, "name")))
            out.append(f"{call} -> {text_of(message)}")
    return out
