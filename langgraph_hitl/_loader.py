"""Find a user's graph by reference and give it our checkpointer.

A reference is a name from `langgraph.json`'s `graphs`, `path/to/file.py:attr` or
`package.module:attr`. The attribute may be an uncompiled `StateGraph`, a compiled
graph, or a factory that takes a checkpointer and returns either.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from langgraph_hitl.errors import GraphNotFoundError

CONFIG_FILE = "langgraph.json"


def _from_config(name: str, base: Path) -> str | None:
    config = base / CONFIG_FILE
    if not config.is_file():
        return None
    try:
        graphs = json.loads(config.read_text()).get("graphs", {})
    except (OSError, ValueError) as err:
        raise GraphNotFoundError(f"{config} is not valid JSON: {err}") from err
    target = graphs.get(name)
    if target is None:
        return None
    if not isinstance(target, str) or ":" not in target:
        raise GraphNotFoundError(f"{config}: graph {name!r} must be 'path.py:attr'")
    path, _, attr = target.rpartition(":")
    if path.endswith(".py"):
        path = str((base / path).resolve())
    return f"{path}:{attr}"


def canonical_ref(ref: str, base: Path | None = None) -> str:
    """The reference to store for a thread: names stay names, file paths become absolute.

    Example:
        >>> canonical_ref("invoice")  # doctest: +SKIP
        'invoice'
    """
    base = base or Path.cwd()
    if ":" not in ref:
        if _from_config(ref, base) is None:
            raise GraphNotFoundError(
                f"no graph named {ref!r} in {base / CONFIG_FILE}; use a name from its 'graphs',"
                " 'path/to/file.py:attr' or 'package.module:attr'"
            )
        return ref
    path, _, attr = ref.rpartition(":")
    if path.endswith(".py"):
        return f"{(base / path).resolve()}:{attr}"
    return ref


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise GraphNotFoundError(f"no such file: {path}")
    name = f"_hitl_graph_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GraphNotFoundError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Graph files commonly import siblings and the project's own packages.
    for extra in (str(path.parent), str(Path.cwd())):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # a script that exits on import is no graph
        del sys.modules[name]
        raise GraphNotFoundError(f"importing {path} failed: {type(err).__name__}: {err}") from err
    return module


def load_target(ref: str, base: Path | None = None) -> Any:
    """The object a reference names, imported but not yet compiled."""
    base = base or Path.cwd()
    if ":" not in ref:
        resolved = _from_config(ref, base)
        if resolved is None:
            raise GraphNotFoundError(f"no graph named {ref!r} in {base / CONFIG_FILE}")
        ref = resolved
    path, _, attr = ref.rpartition(":")
    if not path or not attr:
        raise GraphNotFoundError(f"bad graph reference {ref!r}: expected 'file.py:attr'")
    if path.endswith(".py"):
        module = _import_file((base / path).resolve())
    else:
        if str(base) not in sys.path:
            sys.path.insert(0, str(base))
        try:
            module = importlib.import_module(path)
        except (Exception, SystemExit) as err:
            raise GraphNotFoundError(
                f"cannot import module {path!r}: {type(err).__name__}: {err}"
            ) from err
    try:
        return getattr(module, attr)
    except AttributeError:
        raise GraphNotFoundError(f"{path} has no attribute {attr!r}") from None


def with_checkpointer(target: Any, checkpointer: Any) -> Any:
    """Compile or copy `target` so that it checkpoints with `checkpointer`."""
    from langgraph.graph import StateGraph
    from langgraph.pregel import Pregel

    if isinstance(target, StateGraph):
        return target.compile(checkpointer=checkpointer)
    if isinstance(target, Pregel):
        return target.copy(update={"checkpointer": checkpointer})
    if callable(target):
        params = inspect.signature(target).parameters
        built = target(checkpointer) if params else target()
        if isinstance(built, StateGraph | Pregel):
            return with_checkpointer(built, checkpointer)
        raise GraphNotFoundError(f"{target!r} returned {type(built).__name__}, not a graph")
    raise GraphNotFoundError(
        f"{type(target).__name__} is not a StateGraph, a compiled graph or a graph factory"
    )
