"""Shared fixtures: the repository root, the sample invoices, a fresh database on each
backend (`database`) or a SQLite file alone (`hitl_db`), FIFOs, a PostgreSQL server for
the session and a fresh database on it per test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backends import BACKENDS, new_database
from postgres import PostgresServer, unavailable
from processes import STARTED, Fifos

REPO_ROOT = Path(__file__).resolve().parent.parent

# The graphs the tests run are loaded by the tests (often in other processes), never
# collected: `--doctest-modules` would import each one here, and `graphs/server_agent.py`
# opens its database on import, as `langgraph dev` loads it.
collect_ignore_glob = ["graphs/*"]

# The inbox's fixtures (`inbox`, `served`, `browser`, `new_context`).
pytest_plugins = ["web_support"]


@pytest.fixture
def repo_root() -> Path:
    """The repository root: where `langgraph.json` and `examples/` live."""
    return REPO_ROOT


@pytest.fixture
def load_invoice() -> Callable[[str], dict[str, Any]]:
    """Load a sample invoice by name, e.g. `load_invoice("large")`."""

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (REPO_ROOT / "examples" / "invoices" / f"{name}.json").read_text()
        )
        return data

    return load


@pytest.fixture(autouse=True)
def _no_pooled_connections_left() -> Iterator[None]:
    """Each test's desks leave no pooled PostgreSQL connection open after it: a session
    touches hundreds of databases, and a copy (`CREATE DATABASE ... TEMPLATE`) or a drop
    needs its source free."""
    yield
    from langgraph_hitl.ledger.store.postgres import close_pools

    close_pools()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A fresh database, once on each backend: a SQLite file's path (not created yet),
    and the URL of a new, empty PostgreSQL database (that half skips, saying why, where
    no server can be started). Every suite that runs on both backends takes this."""
    return new_database(request, request.param, tmp_path)


@pytest.fixture
def hitl_db(tmp_path: Path) -> Path:
    """A path for a fresh SQLite file (checkpoints and ledger); not created yet. For the
    tests that run on SQLite alone; those on both backends take `database`."""
    return tmp_path / "hitl.sqlite"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for the session (`tests/postgres.py`); skips, saying
    why, where none can be started."""
    why = unavailable()
    if why is not None:
        pytest.skip(why)
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server: its connection string. For the
    tests of PostgreSQL alone (its server, restarts); see `database` for both backends."""
    return postgres_server.create_database()


@pytest.fixture
def fifos(tmp_path: Path) -> Iterator[Fifos]:
    """The crash-point handshake FIFOs, in the test's folder (`processes.Fifos`)."""
    handshake = Fifos(tmp_path / "ready.fifo", tmp_path / "block.fifo")
    try:
        yield handshake
    finally:
        handshake.close()


@pytest.fixture(autouse=True)
def _no_stray_processes() -> Iterator[None]:
    """Kill, by their own handles, any process a failing test left running."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
