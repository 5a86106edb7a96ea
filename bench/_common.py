"""Helpers shared by the benchmarks: scale, scratch files, medians, tables, file sizes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent

SCALE = os.environ.get("HITL_BENCH_SCALE", "default").strip().lower() or "default"
"""`default` (a few minutes for `make bench`) or `full` (the larger sizes)."""

if SCALE not in ("default", "full"):
    raise SystemExit(f"HITL_BENCH_SCALE must be 'default' or 'full', not {SCALE!r}")

FULL = SCALE == "full"


def pick(default: Any, full: Any) -> Any:
    """The default-scale value, or the full-scale one under `HITL_BENCH_SCALE=full`."""
    return full if FULL else default


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory on disk (`$HITL_BENCH_TMP` or the system temp dir), removed after."""
    root = os.environ.get("HITL_BENCH_TMP") or None
    path = Path(tempfile.mkdtemp(prefix=f"hitl-{prefix}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


class Timer:
    """Accumulates wall time of `with timer:` blocks."""

    def __init__(self) -> None:
        self.total = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.total += time.perf_counter() - self._start


def table(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    left: Sequence[int] = (0,),
) -> str:
    """A plain text table: the `left` columns left-aligned, the rest right-aligned."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i in left else row[i].rjust(widths[i])
            for i in range(len(row))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [line(cells[0]), rule] + [line(row) for row in cells[1:]]
    return "\n".join([title, "", *body, ""])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def settle(path: Path) -> None:
    """Fold the WAL into the main file, so the file's size is the data's size."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def compact_size(path: Path) -> int:
    """The bytes the database takes once its WAL is folded in and it is vacuumed (on a copy)."""
    settle(path)
    copy = path.with_name(path.stem + ".vacuum.sqlite")
    copy.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("VACUUM INTO ?", (str(copy),))
    finally:
        conn.close()
    size = copy.stat().st_size
    copy.unlink()
    return size


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes per table (indexes counted with their table), from SQLite's `dbstat`."""
    settle(path)
    conn = sqlite3.connect(path)
    try:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema").fetchall())
        sizes: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table_name = owner.get(name, name)
            sizes[table_name] = sizes.get(table_name, 0) + int(size)
        return sizes
    finally:
        conn.close()
