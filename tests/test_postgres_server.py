"""The throwaway PostgreSQL server the PostgreSQL half of the suite runs against.

`make test` installs Debian's `postgresql` and adds the user it runs under as root;
`tests/postgres.py` starts the server. This pins that it is real, that LangGraph's own
Postgres checkpointer works on it, and that a restart keeps the data.
"""

from __future__ import annotations

from typing import Any, TypedDict

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from postgres import PostgresServer


class State(TypedDict, total=False):
    amount: float
    answer: Any


def ask(state: State) -> State:
    return {"answer": interrupt({"pay": state["amount"]})}


def test_langgraphs_postgres_saver_pauses_and_resumes(postgres_dsn: str) -> None:
    builder: StateGraph[State] = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    config: Any = {"configurable": {"thread_id": "INV-7"}}
    with PostgresSaver.from_conn_string(postgres_dsn) as saver:
        saver.setup()
        graph = builder.compile(checkpointer=saver)
        (pending,) = graph.invoke({"amount": 52_000.0}, config)["__interrupt__"]
        assert pending.value == {"pay": 52_000.0}
    with PostgresSaver.from_conn_string(postgres_dsn) as saver:  # another connection
        graph = builder.compile(checkpointer=saver)
        assert graph.invoke(Command(resume="approved"), config)["answer"] == "approved"


def test_a_restart_keeps_the_data(postgres_server: PostgresServer, postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (7)")
    postgres_server.restart()
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
