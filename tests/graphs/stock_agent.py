"""Agents built with LangChain's `create_agent` and its stock `HumanInTheLoopMiddleware`.

The chat model is scripted: a pure function of the conversation, so any process that
loads this module continues a thread the same way (no network, no LLM).

- The user asks for anything: the model proposes two tool calls in one turn,
  `refund(order_id="A-42", amount=80.0)` and `email(to=..., body=...)`, and says why.
- After the tool results: it answers with every tool result it got, in order.

`refund` and `email` append a row to the `actions` table of the database the agent's
checkpointer uses (tool, args as JSON): what ran, and with which args. That database
is a SQLite file, or a PostgreSQL one when the checkpointer's is.

`batched` and `per_call` are factories taking the checkpointer (the middleware's two
modes); `reject_only` gates `email` with approve and reject only.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, tool

ACTIONS = "CREATE TABLE IF NOT EXISTS actions (seq INTEGER PRIMARY KEY, tool TEXT, args TEXT)"


class ScriptedModel(BaseChatModel):
    """Two tool calls for the user's request, then a summary of what the tools said."""

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        if isinstance(messages[-1], HumanMessage):
            reply = AIMessage(
                content="The parcel arrived damaged: I will refund it and tell the customer.",
                tool_calls=[
                    {"name": "refund", "args": {"order_id": "A-42", "amount": 80.0}, "id": "c1"},
                    {
                        "name": "email",
                        "args": {"to": "ada@example.com", "body": "Your refund is on its way."},
                        "id": "c2",
                    },
                ],
            )
        else:
            said = [str(m.content) for m in messages if isinstance(m, ToolMessage)]
            reply = AIMessage(content="Done. " + " | ".join(said))
        return ChatResult(generations=[ChatGeneration(message=reply)])


ACTIONS_PG = "CREATE TABLE IF NOT EXISTS actions (seq SERIAL PRIMARY KEY, tool TEXT, args TEXT)"


def _note(path: str, name: str | None, args: dict[str, Any] | None = None) -> None:
    """Create the `actions` table if need be; with a `name`, append what ran."""
    row = None if name is None else (name, json.dumps(args))
    if path.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(path, autocommit=True) as pg:
            pg.execute(ACTIONS_PG)
            if row is not None:
                pg.execute("INSERT INTO actions (tool, args) VALUES (%s, %s)", row)
        return
    with closing(sqlite3.connect(path, timeout=30)) as conn, conn:
        conn.execute(ACTIONS)
        if row is not None:
            conn.execute("INSERT INTO actions (tool, args) VALUES (?, ?)", row)


def _tools(path: str) -> list[BaseTool]:
    def note(name: str, args: dict[str, Any]) -> None:
        _note(path, name, args)

    @tool
    def refund(order_id: str, amount: float) -> str:
        """Refund an order."""
        note("refund", {"order_id": order_id, "amount": amount})
        return f"refunded {amount:.2f} on {order_id}"

    @tool
    def email(to: str, body: str) -> str:
        """Email a customer."""
        note("email", {"to": to, "body": body})
        return f"emailed {to}"

    return [refund, email]


def _agent(checkpointer: Any, interrupt_on: dict[str, Any], mode: str) -> Any:
    path = str(checkpointer.path)
    _note(path, None)
    middleware = HumanInTheLoopMiddleware(interrupt_on, interrupt_mode=mode)  # type: ignore[arg-type]
    return create_agent(
        ScriptedModel(), _tools(path), middleware=[middleware], checkpointer=checkpointer
    )


def batched(checkpointer: Any) -> Any:
    return _agent(checkpointer, {"refund": True, "email": True}, "batched")


def per_call(checkpointer: Any) -> Any:
    return _agent(checkpointer, {"refund": True, "email": True}, "per_call")


def reject_only(checkpointer: Any) -> Any:
    email_review = {"allowed_decisions": ["approve", "reject"]}
    return _agent(checkpointer, {"refund": True, "email": email_review}, "batched")


def actions(path: Any) -> list[tuple[str, dict[str, Any]]]:
    """What the tools did, in order."""
    with closing(sqlite3.connect(str(path))) as conn:
        rows = conn.execute("SELECT tool, args FROM actions ORDER BY seq").fetchall()
    return [(name, json.loads(args)) for name, args in rows]
