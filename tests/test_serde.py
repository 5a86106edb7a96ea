"""Which of your types a checkpoint revives: derived from the graph, plus what you list.

Pins LangGraph's private allowlist derivation (`langgraph._internal._serde`), which
`langgraph_hitl.checkpointing._serde` wraps in one place, and checks the round trip through a real
SQLite file: a type the state declares comes back as itself, one nobody declared or
listed comes back as plain data.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from langgraph_hitl import ConfigurationError, open_checkpointer
from langgraph_hitl.checkpointing._serde import (
    allowed_by_config,
    graph_allowlist,
    parse_type_names,
    with_allowlist,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "graphs" / "shapes"))
import subgraph_gate  # noqa: E402

HERE = __name__


class Tier(enum.Enum):
    LOW = "low"
    HIGH = "high"


@dataclass
class Address:
    city: str


@dataclass
class Payee:
    name: str
    address: Address


class Line(BaseModel):
    amount: float


class Invoice(BaseModel):
    lines: list[Line]
    tier: Tier | None = None


@dataclass
class Note:
    """In state under `Any`: no schema names it."""

    text: str


class State(TypedDict, total=False):
    invoice: Invoice
    payee: Annotated[Payee | None, "the payee"]
    payees: dict[str, list[Payee]]
    note: Any


def keep(state: State) -> dict[str, Any]:
    return {}


def graph(checkpointer: Any) -> Any:
    builder: StateGraph[Any] = StateGraph(State)
    builder.add_node("keep", keep)
    builder.add_edge(START, "keep")
    builder.add_edge("keep", END)
    return builder.compile(checkpointer=checkpointer)


def test_derivation_lists_models_dataclasses_and_enums_at_any_depth() -> None:
    """LangGraph's derivation walks TypedDicts, unions, containers, Annotated, models
    and dataclasses (this pins the private helper we call)."""
    allowed = graph_allowlist(graph(None))
    for cls in (Invoice, Line, Tier, Payee, Address):
        assert (HERE, cls.__name__) in allowed, cls
    assert (HERE, "Note") not in allowed
    # LangChain's messages are always listed.
    assert ("langchain_core.messages.ai", "AIMessage") in allowed


def test_subgraph_state_types_are_listed_too() -> None:
    with open_checkpointer(":memory:") as saver:
        allowed = graph_allowlist(subgraph_gate.make_graph(saver))
    assert ("subgraph_gate", "Receipt") in allowed  # only the subgraph's state has it
    assert ("billing", "Invoice") in allowed


def test_round_trip_revives_declared_types_and_refuses_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    config = {"configurable": {"thread_id": "t"}}
    value = {
        "invoice": Invoice(lines=[Line(amount=1.5)], tier=Tier.HIGH),
        "payee": Payee("Acme", Address("Berlin")),
        "payees": {"eu": [Payee("Initech", Address("Paris"))]},
        "note": Note("net 30"),
    }
    with open_checkpointer(db) as saver:
        graph(saver).invoke(value, config)
    with open_checkpointer(db) as saver:
        plain = graph(saver).get_state(config).values
        derived = with_allowlist(graph(saver)).get_state(config).values
        listed = with_allowlist(graph(saver), {(HERE, "Note")}).get_state(config).values
    assert isinstance(plain["invoice"], dict) and isinstance(plain["payee"], dict)
    assert derived["invoice"] == value["invoice"] and derived["invoice"].tier is Tier.HIGH
    assert derived["payee"] == value["payee"]
    assert derived["payees"]["eu"][0].address == Address("Paris")
    assert derived["note"] == {"text": "net 30"}  # nobody listed it: plain data
    assert listed["note"] == Note("net 30")


def test_the_copy_with_an_allowlist_keeps_the_savers_ledger_path_and_graph(
    tmp_path: Path,
) -> None:
    with open_checkpointer(tmp_path / "hitl.sqlite", graph="flows/pay.py:make") as saver:
        copy = with_allowlist(graph(saver)).checkpointer
        assert copy is not saver
        assert copy.ledger is saver.ledger and copy.conn is saver.conn
        assert copy.lock is saver.lock
        assert (copy.path, copy.graph, copy.root) == (saver.path, saver.graph, saver.root)
        assert copy.root == Path.cwd().resolve()


def test_type_names_from_the_environment_and_hitl_toml(tmp_path: Path) -> None:
    env = {"LANGGRAPH_HITL_ALLOWED_TYPES": "billing.models.Invoice, billing:Payee,"}
    (tmp_path / "hitl.toml").write_text(
        '[policy]\nroles = ["junior"]\n[serializer]\nallowed_types = ["flows.pay.Memo"]\n'
    )
    assert allowed_by_config(tmp_path, env) == {
        ("billing.models", "Invoice"),
        ("billing", "Payee"),
        ("flows.pay", "Memo"),
    }
    named = tmp_path / "other.toml"
    named.write_text('[serializer]\nallowed_types = ["x.Y"]\n')
    assert allowed_by_config(tmp_path, {"LANGGRAPH_HITL_CONFIG": str(named)}) == {("x", "Y")}
    assert allowed_by_config(tmp_path / "nowhere", {}) == set()


def test_a_hitl_toml_with_only_a_serializer_table_is_no_metrics_config(tmp_path: Path) -> None:
    from langgraph_hitl.insight.metrics import MetricsConfig

    file = tmp_path / "hitl.toml"
    file.write_text('[serializer]\nallowed_types = ["flows.pay.Memo"]\n')
    assert MetricsConfig.from_toml(file) == MetricsConfig()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[serializer]\nallowed_types = 'x.Y'\n", "must be a list of type names"),
        ("[serializer]\nallowed_types = ['Invoice']\n", "'Invoice' is not a type name"),
        ("[serializer\n", "cannot read"),
    ],
)
def test_bad_serializer_settings_are_named(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "hitl.toml").write_text(toml)
    with pytest.raises(ConfigurationError, match=message):
        allowed_by_config(tmp_path, {})


def test_type_names_need_a_module() -> None:
    with pytest.raises(ConfigurationError, match=r"write module\.Name"):
        parse_type_names(["Invoice"], where="$LANGGRAPH_HITL_ALLOWED_TYPES")
