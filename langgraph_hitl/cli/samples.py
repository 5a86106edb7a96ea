"""`langgraph-hitl samples`: the sample invoices, wherever the package is installed.

The wheel carries `examples/invoices/*.json` as `langgraph_hitl/samples/`; in a
checkout (or an editable install) they are read where the repository keeps them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from langgraph_hitl.cli.app import JsonFlag, _handled, app
from langgraph_hitl.cli.output import out
from langgraph_hitl.cli.output import print_json as _print_json
from langgraph_hitl.errors import BadInputError, HitlError


def samples_dir() -> Path:
    """The folder holding the sample invoices: installed beside the package, or the
    checkout's `examples/invoices`.

    Example:
        >>> sorted(p.stem for p in samples_dir().glob("*.json"))[:2]
        ['blurry', 'huge']
    """
    package = Path(__file__).resolve().parent.parent  # langgraph_hitl/, from cli/
    for candidate in (package / "samples", package.parent / "examples" / "invoices"):
        if candidate.is_dir() and any(candidate.glob("*.json")):
            return candidate
    raise HitlError(f"no sample invoices beside {package}: reinstall langgraph-hitl")


@app.command("samples")
@_handled
def samples_command(
    copy: Annotated[
        Path | None,
        typer.Option(
            "--copy",
            metavar="DIR",
            help="Copy them into this folder (created if missing; files already there are"
            " kept), e.g. `--copy examples/invoices` to follow the README's tour.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the sample invoices that ship with the package, or copy them into a folder.

    Run one: `langgraph-hitl run invoice --input @PATH` with a path it lists.
    """
    files = sorted(samples_dir().glob("*.json"))
    rows: list[dict[str, str | bool]] = [{"name": f.stem, "path": str(f)} for f in files]
    if copy is not None:
        if copy.exists() and not copy.is_dir():
            raise BadInputError(f"--copy {copy}: not a folder")
        copy.mkdir(parents=True, exist_ok=True)
        for row, source in zip(rows, files, strict=True):
            target = copy / source.name
            row["copied_to"] = str(target)
            row["kept"] = target.exists()
            if not target.exists():
                shutil.copyfile(source, target)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        where = row.get("copied_to", row["path"])
        note = " (already there, kept)" if row.get("kept") else ""
        out.print(f"{row['name']:<8} {where}{note}", markup=False)
