"""The ledger's two backends, as the suites that run on both see them.

`conftest.database` (a fresh database per test) and the module-scoped fixtures that
build one shared database per module (`tests/test_cli_output.py`, `tests/test_bad_input.py`)
all make theirs with `new_database`, over `BACKENDS`: a SQLite file's path, or the URL
of a fresh PostgreSQL database on the session's server (`tests/postgres.py`). Where no
server can be started, the PostgreSQL half skips and says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BACKENDS = ("sqlite", "postgres")
"""The ids of the two halves: `test_x[sqlite]`, `test_x[postgres]`."""


def new_database(request: pytest.FixtureRequest, backend: str, folder: Path) -> Path | str:
    """A fresh, empty database on `backend`: `folder / "hitl.sqlite"` (not created yet;
    the folder is), or the URL of a new database on the session's PostgreSQL server."""
    if backend == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "hitl.sqlite"
    server = request.getfixturevalue("postgres_server")
    url: str = server.create_database()
    return url


def backend_of(database: Path | str) -> str:
    """Which of `BACKENDS` a database from `new_database` is on."""
    return "postgres" if str(database).startswith("postgresql://") else "sqlite"
