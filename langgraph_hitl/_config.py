"""The deployment's `hitl.toml`: where it is and its tables, read one way.

The file named by `--config`, else `$LANGGRAPH_HITL_CONFIG`, else `./hitl.toml` when
there is one. Read as untrusted input: at most 32 MiB of UTF-8 TOML, errors as one line
(`BadInputError`, exit 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from langgraph_hitl._input import read_file
from langgraph_hitl.errors import BadInputError

CONFIG_FILE = "hitl.toml"
CONFIG_ENV = "LANGGRAPH_HITL_CONFIG"


def config_path(explicit: Path | None = None) -> Path | None:
    """The deployment's config file, or None when none is named and ./hitl.toml is absent."""
    named = explicit or os.environ.get(CONFIG_ENV)
    if named:
        return Path(named)
    here = Path(CONFIG_FILE)
    return here if here.is_file() else None


def load_config(explicit: Path | None = None) -> tuple[Path | None, dict[str, Any]]:
    """The config file and its tables (`{}` when there is none).

    Example:
        >>> try:
        ...     load_config(Path("no-such.toml"))
        ... except BadInputError as error:
        ...     print(error)
        cannot read config file no-such.toml: No such file or directory
    """
    path = config_path(explicit)
    if path is None:
        return None, {}
    import tomllib  # only where a config file exists: most commands never parse one

    try:
        return path, tomllib.loads(read_file(str(path), "config"))
    except tomllib.TOMLDecodeError as error:
        raise BadInputError(f"config {path} is not valid TOML: {error}") from None


def apply_default(explicit: Path | None = None) -> str:
    """Where deciding commands apply by default: `here` (in the deciding process, as on
    one machine) or `worker` (record only; `langgraph-hitl worker` applies), from
    `[deciding] apply` in the config; `here` when it says nothing.
    """
    path, data = load_config(explicit)
    value = (data.get("deciding") or {}).get("apply", "here")
    if value not in ("here", "worker"):
        raise BadInputError(
            f'config {path}: [deciding] apply must be "here" or "worker", not {value!r}'
        )
    return str(value)


DB_ENV = "LANGGRAPH_HITL_DB"
DEFAULT_DB = "hitl.sqlite"


def database_default(explicit: Path | None = None) -> str:
    """The database when `--db` names none: `$LANGGRAPH_HITL_DB`, else `[database] url` in
    the config (a SQLite path or a `postgresql://` URL), else ./hitl.sqlite.

    Example:
        >>> database_default()
        'hitl.sqlite'
    """
    named = os.environ.get(DB_ENV)
    if named:
        return named
    path, data = load_config(explicit)
    value = (data.get("database") or {}).get("url")
    if value is None:
        return DEFAULT_DB
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"config {path}: [database] url must be a path or a postgresql:// URL")
    return value
