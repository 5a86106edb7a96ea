"""Shared fixtures: the repository root, the sample invoices, a fresh database path, FIFOs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
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
