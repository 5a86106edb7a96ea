"""Tables for people and tab-separated lines for scripts, where an id is never cut.

A reviewer copies a request id out of `list` or `batch` to decide it, so an id column
is one line at its full width whatever the terminal (or pipe: 80 columns) allows;
the other columns fold onto more lines first, then the least useful are left out and
the caption says which. `--plain` prints one record per line, fields separated by
tabs, nothing shortened, for `cut`, `awk` and `while read`.

Everything shown came from an agent: control characters (a terminal escape, a bidi
override, a tab or newline that would break a line into fields) are shown escaped,
and nothing is read as rich markup.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Marks that reorder how a line reads (`\u202e` shows `fdp.exe` as `exe.pdf`)."""


def escape(text: str, *, plain: bool = False) -> str:
    """`text` with control characters and bidi marks written as escapes.

    With `plain`, backslashes are doubled too, so a script can tell `\\t` from a tab.

    Example:
        >>> escape("Pay INV-9\\tnow\\x1b[31m")
        'Pay INV-9\\\\tnow\\\\x1b[31m'
    """
    if (text.isprintable() and not _BIDI.intersection(text)) and not (plain and "\\" in text):
        return text
    out = []
    for char in text:
        if char == "\\" and plain:
            out.append("\\\\")
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char in _BIDI or unicodedata.category(char) == "Cc":
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def plain_line(fields: Sequence[object]) -> str:
    """One record as a tab-separated line: None is an empty field, nothing is cut.

    Example:
        >>> plain_line(["req_3f2a9c1b7d40", "INV-1003", None, "Pay\\tnow"])
        'req_3f2a9c1b7d40\\tINV-1003\\t\\tPay\\\\tnow'
    """
    return "\t".join("" if value is None else escape(str(value), plain=True) for value in fields)


@dataclass(frozen=True)
class Column:
    """A column of a fitted table.

    `floor` is the narrowest it stays readable at (narrower content folds onto more
    lines); when even the floors do not fit, columns with the highest `drop` are left
    out first, and a column with `drop=0` never is. An `ident` column holds ids that
    people copy: one line, full width, never folded, cut or left out.
    """

    header: str
    floor: int = 12
    drop: int = 0
    ident: bool = False


_BORDER = 3
"""What each column adds to the width besides its content: padding either side, a rule."""


def fitted_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    width: int,
    title: str | None = None,
    caption: str | None = None,
) -> Table:
    """A rich table that fits `width` without ever cutting an ident column.

    Example:
        >>> table = fitted_table(
        ...     [Column("request", ident=True), Column("summary", floor=20)],
        ...     [["req_3f2a9c1b7d40", "Pay INV-1003: 52,000.00 USD to Initech LLC"]],
        ...     width=40,
        ... )
        >>> [(c.header, c.no_wrap, c.min_width) for c in table.columns]
        [('request', True, 16), ('summary', False, 20)]
    """
    mins = []
    for index, column in enumerate(columns):
        longest = max((cell_len(escape(row[index])) for row in rows), default=0)
        head = cell_len(column.header)
        mins.append(max(longest, head) if column.ident else max(head, min(longest, column.floor)))
    kept = list(range(len(columns)))
    droppable = sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: -columns[i].drop)
    left_out = []
    while sum(mins[i] + _BORDER for i in kept) + 1 > width and droppable:
        gone = droppable.pop(0)
        kept.remove(gone)
        left_out.append(columns[gone].header)
    notes = [caption] if caption else []
    if left_out:
        notes.append(f"too narrow to show: {', '.join(left_out)} (--plain or --json has them)")
    # Text, never markup (a group's title and caption hold agent text), and wrapped at
    # the table's width although the console prints everything else unwrapped.
    table = Table(
        title=None if title is None else Text(escape(title), no_wrap=False, overflow="fold"),
        caption=Text(escape("\n".join(notes)), no_wrap=False, overflow="fold") if notes else None,
    )
    for i in kept:
        column = columns[i]
        if column.ident:
            table.add_column(column.header, no_wrap=True, min_width=mins[i])
        else:
            table.add_column(column.header, overflow="fold", min_width=mins[i])
    for row in rows:
        table.add_row(*(Text(escape(row[i])) for i in kept))
    return table
