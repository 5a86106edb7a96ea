"""Time in the ledger: its clock, ISO stamps, and durations people type (`30d`, `4h`)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from langgraph_hitl.errors import BadInputError

_CLOCK: list[Callable[[], float]] = [time.time]


def clock() -> float:
    """The ledger's clock: seconds since the epoch. Wall time unless `simulated_clock` is on."""
    return _CLOCK[-1]()


@contextmanager
def simulated_clock(source: Callable[[], float]) -> Iterator[None]:
    """Stamp the ledger's rows and events from `source` instead of the wall clock.

    For simulations and tests that need history spread over days (the seeded invoice
    simulation uses it); process-wide while the block runs.

    Example:
        >>> with simulated_clock(lambda: 1_700_000_000.0):
        ...     clock()
        1700000000.0
    """
    _CLOCK.append(source)
    try:
        yield
    finally:
        _CLOCK.remove(source)


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC stamp (None stays None)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def to_seconds(value: datetime | None) -> float | None:
    """A datetime as seconds since the epoch (None stays None)."""
    return None if value is None else value.timestamp()


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

MAX_DURATION_S = 100 * 365 * 86400.0
"""The longest duration anyone may give (100 years): a date that far back or ahead is
still a date, and `99999999999999d` is a typo, not an overflow deep in a command."""


def parse_duration(text: str) -> float:
    """Seconds in `30d`, `12h`, `90m`, `45s`, `2w` (combinations like `1d12h` too).

    At most `MAX_DURATION_S` (100 years); anything else is a `BadInputError`.

    Example:
        >>> parse_duration("1d12h")
        129600.0
    """
    parts = re.fullmatch(r"(?:\d+(?:\.\d+)?[smhdw])+", text.strip())
    if not parts:
        raise BadInputError(f"bad duration {text!r}: use a number and a unit, e.g. 30d, 12h, 90m")
    total = float(
        sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smhdw])", text))
    )
    if not total <= MAX_DURATION_S:  # also refuses inf (`1e400` digits) and NaN
        raise BadInputError(f"bad duration {_clip(text)!r}: longer than 100 years")
    return total


def _clip(text: str, width: int = 40) -> str:
    text = text.strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def seconds(value: Any) -> Any:
    """A duration field in seconds, for pydantic validators: text (`4h`) is parsed.

    Anything else is returned as given, for the field's own type to check. Bad text
    raises `ValueError`, which pydantic reports against the field.

    Example:
        >>> seconds("90m"), seconds(30.0)
        (5400.0, 30.0)
    """
    if not isinstance(value, str):
        return value
    try:
        return parse_duration(value)
    except BadInputError as err:
        raise ValueError(str(err)) from None
