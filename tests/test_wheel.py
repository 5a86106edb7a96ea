"""The wheel, installed on its own: the README's tour in an empty directory.

WHAT THIS TEST DOES (it is the slowest in the suite, about a minute, and it needs PyPI
or pip's cache): it copies the files a wheel is built from (pyproject.toml, README.md,
langgraph_hitl/, graphs/, examples/invoices/) to a temporary folder, builds the wheel
there with `pip wheel` (so the checkout gets no build/ or egg-info), creates a fresh
virtualenv without pip and installs the wheel and its dependencies into it with this
environment's pip (`pip --python`). Then, in an empty directory, with that virtualenv's
`langgraph-hitl` and nothing of the checkout on the path, it runs every command of the
README's "five-minute tour" in order, as the README writes them, and checks each
exit code and the thread lines the README shows (`thread INV-1001: done (paid)`).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from processes import cli_env

REPO = Path(__file__).resolve().parent.parent
TOUR = "## A five-minute tour on the invoice graph"
SOURCES = ("pyproject.toml", "README.md", "langgraph_hitl", "graphs", "examples/invoices")
THREAD_LINE = re.compile(r"^thread (\S+): (\w+)(?: \((\w+)\))?")


@dataclass
class Step:
    """One `$ langgraph-hitl ...` line of the tour and what the README shows after it."""

    argv: list[str]
    code: int = 0
    threads: list[str] = field(default_factory=list)


def tour_steps(readme: str) -> list[Step]:
    """The tour's commands, in order, with the exit code and thread lines shown for each.

    A command followed by an `error:` line fails: with the code its `# exit N` note
    gives, or the one a following `$ echo $?` prints.
    """
    section = readme.split(TOUR, 1)[1].split("\n## ", 1)[0]
    lines = [
        line
        for block in re.findall(r"```console\n(.*?)```", section, re.S)
        for line in block.splitlines()
    ]
    steps: list[Step] = []
    failing = False
    for index, line in enumerate(lines):
        if line.startswith("$ echo $?"):
            steps[-1].code = int(lines[index + 1])
        elif line.startswith("$ langgraph-hitl "):
            command = line[2:].split("  #", 1)[0]
            steps.append(Step(argv=shlex.split(command)[1:]))
            failing = False
        elif steps and line.startswith("error:"):
            failing = True
            noted = re.search(r"# exit (\d+)", line)
            steps[-1].code = int(noted.group(1)) if noted else 1
        elif steps and not failing and (match := THREAD_LINE.match(line)):
            steps[-1].threads.append(match.group(0))
    return steps


def test_the_readme_tour_parses_into_commands() -> None:
    """The parser finds the tour's commands, its failures and what they print."""
    steps = tour_steps((REPO / "README.md").read_text())
    assert steps[0].argv == ["samples", "--copy", "examples/invoices"]
    assert steps[4].argv[:4] == ["run", "invoice", "--input", "@examples/invoices/large.json"]
    codes = {" ".join(s.argv[:2]): s.code for s in steps if s.code}
    assert codes == {"approve INV-1003": 3, "modify INV-1004": 2}
    assert "thread INV-1001: done (paid)" in steps[1].threads


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel built from this tree; its `bin` folder."""
    root = tmp_path_factory.mktemp("wheel")
    tree = root / "tree"
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tree / name)
    pip = [sys.executable, "-m", "pip"]
    env = {**cli_env(), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run([*pip, "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(tree)], env=env)
    (wheel,) = (root / "dist").glob("langgraph_hitl-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([*pip, "--python", str(python), "install", "-q", "--no-compile", str(wheel)], env=env)
    return venv / "bin"


def test_installed_wheel_runs_the_readme_tour_in_an_empty_directory(
    installed: Path, tmp_path: Path
) -> None:
    """Every tour command, in an empty directory, with only the installed wheel."""
    where = tmp_path / "empty"
    where.mkdir()
    env = cli_env({"PATH": f"{installed}{os.pathsep}{os.environ.get('PATH', '')}"})
    env.pop("PYTHONPATH", None)
    # The package comes from the virtualenv, not from this checkout.
    origin = _run(
        [str(installed / "python"), "-c", "import langgraph_hitl; print(langgraph_hitl.__file__)"],
        cwd=where,
        env=env,
    )
    assert Path(origin.stdout.strip()).is_relative_to(installed.parent), origin.stdout
    steps = tour_steps((REPO / "README.md").read_text())
    assert len(steps) >= 10
    for step in steps:
        done = subprocess.run(
            [str(installed / "langgraph-hitl"), *step.argv],
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        shown = f"langgraph-hitl {shlex.join(step.argv)}\n{done.stdout}\n{done.stderr}"
        assert done.returncode == step.code, shown
        assert "Traceback" not in done.stderr, shown
        for line in step.threads:
            assert line in done.stdout, shown
    # The tour's own database, in the directory it ran in; the samples were copied there.
    assert (where / "hitl.sqlite").is_file()
    # The invoice graph checked the tour's invoices against the vendor master the wheel
    # ships beside it (nothing of the kind is in the empty directory).
    assert not (where / "vendors.json").exists()
    shipped = _run(
        [str(installed / "python"), "-c", "from langgraph_hitl.graphs.invoice_checks import"
         " packaged_vendor_master as p; print(p())"],
        cwd=where, env=env,
    )  # fmt: skip
    assert Path(shipped.stdout.strip()).is_file()
    assert Path(shipped.stdout.strip()).is_relative_to(installed.parent)
    assert sorted(p.name for p in (where / "examples" / "invoices").glob("*.json")) == sorted(
        p.name for p in (REPO / "examples" / "invoices").glob("*.json")
    )
