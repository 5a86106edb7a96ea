"""Processes the tests start, remembered so that a failing test leaves none running."""

from __future__ import annotations

import subprocess
from typing import Any

STARTED: list[subprocess.Popen[Any]] = []
"""Processes a test started; `track` them so a failing test leaves none running."""


def track(proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
    """Remember a started process, to be killed if the test ends while it still runs."""
    STARTED.append(proc)
    return proc
