"""Graph references: stable module names, the recorded root, the packaged graphs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_hitl.deciding._loader import (
    PACKAGED_GRAPHS,
    canonical_ref,
    load_target,
    module_name,
    module_of,
    where_from,
)
from langgraph_hitl.errors import GraphNotFoundError

REPO = Path(__file__).resolve().parent.parent
NAME_OF = (
    "import sys; from pathlib import Path; from langgraph_hitl.deciding._loader import module_of;"
    " print(module_of(sys.argv[1], root=sys.argv[2]).__name__)"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "flows").mkdir(parents=True)
    (proj / "flows" / "pay_flow.py").write_text("graph = 'a graph'\n")
    (proj / "json.py").write_text("graph = 'not the json module'\n")
    (proj / "my-flows").mkdir()
    (proj / "my-flows" / "pay.py").write_text("graph = 'dashed'\n")
    return proj


def test_a_file_gets_the_same_name_in_every_process(project: Path) -> None:
    """Its dotted path from the root, whatever the process's own directory."""
    names = {
        subprocess.run(
            [sys.executable, "-c", NAME_OF, "flows/pay_flow.py:graph", str(project)],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for cwd in (project, project.parent, REPO)
    }
    assert names == {"flows.pay_flow"}


def test_names_that_would_take_another_modules_place_are_spelled_out(project: Path) -> None:
    import json as stdlib_json

    module = module_of("json.py:graph", root=project)
    assert module.__name__ == "_hitl_graph_json" and module.graph == "not the json module"
    assert sys.modules["json"] is stdlib_json
    assert module_of("my-flows/pay.py:graph", root=project).__name__ == (
        "_hitl_graph_my_2d_flows_pay"
    )
    outside = module_name(project.parent / "elsewhere" / "g.py", project)
    assert outside == "_hitl_graph___up___elsewhere_g"


def test_a_root_that_does_not_exist_here_falls_back_and_says_so(
    project: Path, tmp_path: Path
) -> None:
    gone = tmp_path / "gone"
    assert where_from(str(project), tmp_path) == (project, None)
    assert where_from(None, tmp_path) == (tmp_path.resolve(), None)
    where, note = where_from(str(gone), project)
    assert where == project.resolve()
    assert note == f"its project root {gone} does not exist here, so {project.resolve()} was tried"
    assert load_target("flows/pay_flow.py:graph", project, root=str(gone)) == "a graph"
    with pytest.raises(GraphNotFoundError) as caught:
        load_target("flows/pay_flow.py:graph", tmp_path, root=str(gone))
    tried = tmp_path.resolve()
    assert str(caught.value) == (
        f"no such file: {tried}/flows/pay_flow.py"
        f" (its project root {gone} does not exist here, so {tried} was tried)"
    )


def test_an_absolute_path_recorded_elsewhere_is_found_under_the_fallback(
    project: Path, tmp_path: Path
) -> None:
    """Recorded as /old/proj/flows/pay_flow.py with root /old/proj: here, under the
    directory tried instead."""
    recorded_root = tmp_path / "old" / "proj"
    ref = f"{recorded_root}/flows/pay_flow.py:graph"
    assert load_target(ref, project, root=str(recorded_root)) == "a graph"


def test_packaged_graphs_and_a_projects_own_name(project: Path) -> None:
    assert canonical_ref("invoice", project) == PACKAGED_GRAPHS["invoice"]
    target = load_target(canonical_ref("invoice", project), project)
    assert target.__module__ == "langgraph_hitl.graphs.invoice"
    # A langgraph.json entry of the same name wins over the packaged graph.
    (project / "langgraph.json").write_text(
        json.dumps({"graphs": {"invoice": "./flows/pay_flow.py:graph"}})
    )
    assert canonical_ref("invoice", project) == "invoice"
    assert load_target("invoice", project) == "a graph"
    with pytest.raises(GraphNotFoundError, match="or a packaged graph: invoice"):
        canonical_ref("payroll", project)


def test_a_named_graph_imports_from_its_langgraph_json_dependencies(project: Path) -> None:
    """As `langgraph dev` does, a name from `langgraph.json` puts the file's `dependencies`
    folders on the import path first: a graph that imports its project's own package
    loads the same in the CLI as in the server (checked in a fresh process)."""
    (project / "src" / "shop").mkdir(parents=True)
    (project / "src" / "shop" / "__init__.py").write_text("GRAPH = 'from the shop package'\n")
    (project / "agents").mkdir()
    (project / "agents" / "refunds.py").write_text("from shop import GRAPH as graph\n")
    (project / "langgraph.json").write_text(
        json.dumps({"dependencies": ["./src"], "graphs": {"refunds": "./agents/refunds.py:graph"}})
    )
    load = (
        "import sys; from langgraph_hitl.deciding._loader import load_target;"
        " print(load_target('refunds', root=sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", load, str(project)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "from the shop package"), done.stderr
