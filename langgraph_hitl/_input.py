"""Input that people and files hand the CLI and the config loaders, checked at the edge.

JSON here is strict JSON. Python's parser also takes `NaN`, `Infinity` and `-Infinity`,
and turns `1e999` into infinity: JSON has none of them, and no amount, confidence,
threshold or duration may be one (`NaN < 1500` is false, so a NaN amount slips past
every limit). They are refused with `BadInputError` (exit 2) naming where they were,
as are integers past 64 bits (a LangGraph checkpoint cannot hold them), nesting past
Python's recursion limit and text that is not valid Unicode. A file named with `@` is
read up to `MAX_INPUT_BYTES` and no further (`@/dev/zero` is refused, not read until
memory runs out).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any

from langgraph_hitl.errors import BadInputError

MAX_INPUT_BYTES = 32 * 1024 * 1024
"""The largest file an `@file` input may be (32 MiB)."""

_INT_RANGE = range(-(2**63), 2**64)
"""The integers msgpack, and so a LangGraph checkpoint, can hold."""


class _NotANumber(ValueError):
    """A JSON number Python's parser takes and JSON has not; carries the literal."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _constant(token: str) -> Any:
    raise _NotANumber(token)  # NaN, Infinity, -Infinity


def _float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _NotANumber(token)  # 1e999: past a double's range, read as infinity
    return value


def read_file(path: str, what: str, *, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of the file at `path`, at most `limit` bytes; else `BadInputError`.

    Example:
        >>> try:
        ...     read_file("/dev/zero", "--input", limit=1024)
        ... except BadInputError as error:
        ...     print(error)
        --input file /dev/zero is larger than 1,024 bytes, the most an input file may be
    """
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as error:
        raise BadInputError(f"cannot read {what} file {path}: {error.strerror}") from None
    if len(data) > limit:
        raise BadInputError(
            f"{what} file {path} is larger than {limit:,} bytes, the most an input file may be"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadInputError(f"{what} file {path} is not UTF-8: {error.reason}") from None


def parse_json(text: str, what: str) -> Any:
    """Strict JSON from `text`, or from a file when `text` is `@path`.

    Example:
        >>> parse_json('{"amount": 1250.5}', "--input")
        {'amount': 1250.5}
        >>> try:
        ...     parse_json('{"amount": NaN}', "--input")
        ... except BadInputError as error:
        ...     print(error)
        --input: NaN is not a JSON number (JSON has no NaN or Infinity)
    """
    if text.startswith("@"):
        text = read_file(text[1:], what)
    try:
        return _checked(_loads(text, what, or_text=False), what)
    except json.JSONDecodeError as error:
        raise BadInputError(f"{what} is not valid JSON: {error}") from None


def parse_json_or_text(text: str, what: str) -> Any:
    """JSON if `text` parses as JSON, else the text itself; never a number JSON lacks.

    `NaN`, `Infinity`, `1e999`, a number past Python's digit limit or nesting past its
    recursion limit are refused, not kept as text: they look like numbers (or JSON), and
    quietly turning them into text would change what the person meant. The text `NaN`
    is given as the JSON string `'"NaN"'`.

    Example:
        >>> parse_json_or_text("1880", "--set amount"), parse_json_or_text("Acme", "--set vendor")
        (1880, 'Acme')
    """
    try:
        value = _loads(text, what, or_text=True)
    except json.JSONDecodeError:
        return text
    return _checked(value, what)


def _loads(text: str, what: str, *, or_text: bool) -> Any:
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float)
    except _NotANumber as error:
        if error.token not in ("NaN", "Infinity", "-Infinity"):
            raise BadInputError(
                f"{what}: {error.token} is past the range of a JSON number"
            ) from None
        hint = f"; for the text, quote it: '{json.dumps(error.token)}'" if or_text else ""
        raise BadInputError(
            f"{what}: {error.token} is not a JSON number (JSON has no NaN or Infinity{hint})"
        ) from None
    except RecursionError:
        raise BadInputError(f"{what} is nested too deeply") from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer past Python's digit limit (4,300 by default)
        limit = sys.get_int_max_str_digits()
        raise BadInputError(f"{what}: a number of more than {limit:,} digits") from None


def _checked(value: Any, what: str) -> Any:
    problem = unusable(value)
    if problem is not None:
        where, message = problem
        raise BadInputError(f"{what}{f' at {where}' if where else ''}: {message}")
    return value


def unusable(value: Any) -> tuple[str, str] | None:
    """Where in `value` (dotted) a number or text JSON and a checkpoint cannot carry sits.

    Walks without recursion, so any depth is safe. Returns `(where, what)` or None.

    Example:
        >>> unusable({"policy": {"tiers": [{"sample_rate": float("nan")}]}})
        ('policy.tiers.0.sample_rate', 'nan is not a finite number')
    """
    todo: list[tuple[Any, str]] = [(value, "")]
    while todo:
        item, where = todo.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where, f"{item} is not a finite number"
        if isinstance(item, int) and not isinstance(item, bool) and item not in _INT_RANGE:
            return where, "an integer past 64 bits"
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return where, "text with a lone surrogate (\\ud800-\\udfff), not valid Unicode"
        elif isinstance(item, Mapping):
            for key, child in item.items():
                todo.append((key, where))
                todo.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list | tuple):
            todo.extend((v, f"{where}.{i}" if where else str(i)) for i, v in enumerate(item))
    return None


def finite(value: float, what: str) -> float:
    """`value` if it is a finite number; else `BadInputError` naming `what`.

    Example:
        >>> finite(0.25, "--target-rate")
        0.25
    """
    if not math.isfinite(value):
        raise BadInputError(f"{what}: {value} is not a finite number")
    return value
