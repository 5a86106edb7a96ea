"""Find a user's graph by reference and give it our checkpointer.

A reference is a name from `langgraph.json`'s `graphs`, `path/to/file.py:attr` or
`package.module:attr`. The attribute may be an uncompiled `StateGraph`, a compiled
graph, or a factory that takes a checkpointer and returns either. A name that no
`langgraph.json` has, but a graph shipped with the package has (`invoice`), is that
graph. A name from `langgraph.json` also puts that file's `dependencies` folders on the
import path, as `langgraph dev` does, so a graph loads the same here as in the server.

A thread records the reference it ran with and the project root it resolves from
(where its `langgraph.json` was, or where the run started), so every later process
loads the same graph whatever its own directory. A graph file is imported under a
name that is the same in every process, its dotted path from the project root
(`flows/pay.py` is `flows.pay`, as your own code imports it): the serializer's
allowlist names types by their module, so a per-process name could never match.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import json
import keyword
import os
import re
import sys
from pathlib import Path
from typing import Any

from langgraph_hitl.errors import GraphNotFoundError

CONFIG_FILE = "langgraph.json"

PACKAGED_GRAPHS: dict[str, str] = {"invoice": "langgraph_hitl.graphs.invoice:make_graph"}
"""Graphs installed with the package, by the name the README's tour uses. A project's
own `langgraph.json` entry of the same name wins."""


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


def _add_dependencies(base: Path) -> None:
    """Put `base`'s `langgraph.json` `dependencies` folders on `sys.path`, as `langgraph dev`
    does before it imports the graphs: a graph file imports from them the same way here."""
    try:
        deps = json.loads((base / CONFIG_FILE).read_text()).get("dependencies", [])
    except (OSError, ValueError):
        return
    for dep in deps if isinstance(deps, list) else []:
        folder = base / str(dep)
        if folder.is_dir() and str(folder.resolve()) not in sys.path:
            sys.path.append(str(folder.resolve()))


def _named(name: str, base: Path) -> str | None:
    """What a bare name stands for: `base`'s `langgraph.json` first, then a packaged graph."""
    return _from_config(name, base) or PACKAGED_GRAPHS.get(name)


def canonical_ref(ref: str, base: Path | None = None) -> str:
    """The reference to store for a thread: names stay names, file paths become absolute.

    A name only a packaged graph has becomes that graph's module reference, so a
    `langgraph.json` added later cannot change what the thread runs.

    Example:
        >>> canonical_ref("invoice", Path("/nowhere"))
        'langgraph_hitl.graphs.invoice:make_graph'
    """
    base = base or Path.cwd()
    if ":" not in ref:
        if _from_config(ref, base) is not None:
            return ref
        if ref in PACKAGED_GRAPHS:
            return PACKAGED_GRAPHS[ref]
        raise GraphNotFoundError(
            f"no graph named {ref!r} in {base / CONFIG_FILE}; use a name from its 'graphs'"
            f" (or a packaged graph: {', '.join(sorted(PACKAGED_GRAPHS))}),"
            " 'path/to/file.py:attr' or 'package.module:attr'"
        )
    path, _, attr = ref.rpartition(":")
    if path.endswith(".py"):
        return f"{(base / path).resolve()}:{attr}"
    return ref


def module_name(path: Path, root: Path) -> str:
    """The name a graph file is imported under: the same in every process.

    Its dotted path from the project root when every part is an identifier (what
    `import` would call it with the root on `sys.path`), else a name built from its
    path relative to the root.

    Example:
        >>> module_name(Path("/proj/flows/pay.py"), Path("/proj"))
        'flows.pay'
        >>> module_name(Path("/proj/my-flows/pay.py"), Path("/proj"))
        '_hitl_graph_my_2d_flows_pay'
    """
    path, root = Path(path), Path(root)
    try:
        parts = path.with_suffix("").relative_to(root).parts
        inside = True
    except ValueError:
        # Outside the root: its `..` steps are part of the name, so it stays the same.
        rel = os.path.relpath(path.with_suffix(""), root)
        parts = tuple("__up__" if p == ".." else p for p in Path(rel).parts)
        inside = False
    natural = ".".join(parts)
    if (
        inside
        and parts
        and all(p.isidentifier() and not keyword.iskeyword(p) for p in parts)
        # Never in place of another module: a file `json.py` is not the `json`.
        and parts[0] not in sys.stdlib_module_names
        and _free(natural, path)
    ):
        return natural
    # `-` (0x2d) and other characters no identifier holds become `_xx_`.
    escaped = [re.sub(r"[^0-9A-Za-z_]", lambda m: f"_{ord(m.group()):x}_", p) for p in parts]
    return "_hitl_graph_" + "_".join(escaped)


def _free(name: str, path: Path) -> bool:
    """No other file is imported under `name` or its package."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        known = sys.modules.get(".".join(parts[:i]))
        if known is None:
            continue
        origin = getattr(known, "__file__", None)
        if i == len(parts):
            return _same_file(origin, path)
        # A package (or namespace package) of the same name is fine only if it is
        # this file's folder.
        folders = [Path(p) for p in getattr(known, "__path__", [])]
        if not any(_same_file(str(f), path.parents[len(parts) - i - 1]) for f in folders):
            return False
    return True


def _import_file(path: Path, root: Path | None = None) -> Any:
    if not path.is_file():
        raise GraphNotFoundError(f"no such file: {path}")
    root = (root or Path.cwd()).resolve()
    name = module_name(path, root)
    known = sys.modules.get(name)
    if known is not None and _same_file(getattr(known, "__file__", None), path):
        return known
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GraphNotFoundError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as `import` does: the serializer finds the module's
    # types by this name when it revives them from a checkpoint.
    sys.modules[name] = module
    # Graph files commonly import siblings and the project's own packages.
    for extra in (str(path.parent), str(root)):
        if extra not in sys.path:
            sys.path.insert(0, extra)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # a script that exits on import is no graph
        del sys.modules[name]
        raise GraphNotFoundError(f"importing {path} failed: {type(err).__name__}: {err}") from err
    return module


def _same_file(known: str | None, path: Path) -> bool:
    try:
        return known is not None and Path(known).resolve() == path.resolve()
    except OSError:
        return False


def _import_module(dotted: str, base: Path) -> Any:
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    try:
        return importlib.import_module(dotted)
    except (Exception, SystemExit) as err:
        raise GraphNotFoundError(
            f"cannot import module {dotted!r}: {type(err).__name__}: {err}"
        ) from err


def where_from(root: str | Path | None, base: Path | None = None) -> tuple[Path, str | None]:
    """The directory a recorded reference resolves from, and a note when it is a fallback.

    The recorded root when it exists on this machine, else `base` (the current
    directory by default).
    """
    base = (base or Path.cwd()).resolve()
    if root is None:
        return base, None
    recorded = Path(root)
    if recorded.is_dir():
        return recorded, None
    return base, f"its project root {recorded} does not exist here, so {base} was tried"


def module_of(ref: str, base: Path | None = None, *, root: str | Path | None = None) -> Any:
    """The module a reference's attribute lives in, imported (see `load_target`)."""
    return _locate(ref, base, root)[0]


def load_target(ref: str, base: Path | None = None, *, root: str | Path | None = None) -> Any:
    """The object a reference names, imported but not yet compiled.

    Args:
        ref: The reference.
        base: Where to resolve it when no root is given or the root does not exist
            here (default: the current directory).
        root: The project root the reference was recorded with.
    """
    module, attr, label = _locate(ref, base, root)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise GraphNotFoundError(f"{label} has no attribute {attr!r}") from None


def _locate(ref: str, base: Path | None, root: str | Path | None) -> tuple[Any, str, str]:
    where, note = where_from(root, base)
    try:
        return _locate_in(ref, where, root)
    except GraphNotFoundError as err:
        if note is None:
            raise
        raise GraphNotFoundError(f"{err} ({note})") from None


def _locate_in(ref: str, where: Path, root: str | Path | None) -> tuple[Any, str, str]:
    if ":" not in ref:
        resolved = _named(ref, where)
        if resolved is None:
            raise GraphNotFoundError(f"no graph named {ref!r} in {where / CONFIG_FILE}")
        _add_dependencies(where)
        ref = resolved
    path, _, attr = ref.rpartition(":")
    if not path or not attr:
        raise GraphNotFoundError(f"bad graph reference {ref!r}: expected 'file.py:attr'")
    if not path.endswith(".py"):
        return _import_module(path, where), attr, path
    file = (where / path).resolve()
    if not file.is_file() and root is not None and Path(path).is_absolute():
        # Recorded absolute on a machine whose root is not here: the same place
        # under the directory tried instead.
        with contextlib.suppress(ValueError):
            file = (where / Path(path).relative_to(root)).resolve()
    return _import_file(file, where), attr, path


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
