"""Shared fixtures: the repository root, the sample invoices, a fresh database path, FIFOs,
a PostgreSQL server for the session and a fresh database on it per test."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres import PostgresServer, unavailable
from processes import STARTED, Fifos

REPO_ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture
def hitl_db(tmp_path: Path) -> Path:
    """A path for a fresh SQLite file (checkpoints and ledger); not created yet."""
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
    """A fresh, empty database on the session's server: its connection string."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.dsn_for(name)


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
