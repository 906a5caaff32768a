"""The import graph of ``floe_ingestion_dlt``: no cycles, and every arrow points down the layers.

The graph is read from the AST of ``src/``, not from ``sys.modules``: every ``import`` and
``from … import`` statement anywhere in a module is an edge — at module level, inside a function
(a lazy import) and under ``if TYPE_CHECKING:``. A lazy import is still a dependency: it runs on
the first call and couples the two modules just as much; hiding an import in a function body
must not be a way to hide a cycle or a back-arrow. A ``TYPE_CHECKING`` import couples the types,
so it counts too.

``from pkg import name`` is an edge to the module ``pkg.name`` when there is one, else to
``pkg``. Relative imports are resolved. The implicit loading of parent packages (importing
``a.b.c`` first runs ``a/__init__`` and ``a/b/__init__``) is not an edge: it is how Python loads
packages, not a choice the module made; each ``__init__`` is checked as a module of its own.

The layers, lowest first (:data:`LAYERS`); a module may import from its own layer or below:

- ``foundation``: errors and their classification, config, secret scrubbing, logging, tracing,
  metrics, the catalog, the table layout, the dlt/PyIceberg compatibility modules, on-disk
  state, performance defaults, the result type, the registry of active runs, the write-mode
  and merge-strategy vocabulary, the pydantic-error converter, the run's retry budget.
- ``destination``: the dlt destination that writes Iceberg (``destination/``).
- ``run``: sources, the dlt pipeline, the runner and what it calls (retries, recovery, state
  sync, observability, bindings), table maintenance.
- ``plugin``: the ``IngestionPlugin`` and the package's public ``__init__``.
- ``cli``: the command line.

A module that is in no layer fails the test: a new module must be placed deliberately.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

PACKAGE = "floe_ingestion_dlt"
SRC = Path(__file__).resolve().parents[2] / "src" / PACKAGE

# Names are relative to the package ("" is the package itself). A name covers the module of
# that name and, when it is a package, everything under it.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "foundation",
        frozenset(
            {
                "errors",
                "error_classification",
                "scrub",
                "logging",
                "tracing",
                "metrics",
                "active_runs",
                "config",
                "catalog",
                "catalog_local",
                "layout",
                "compat",
                "on_disk",
                "performance",
                "result",
                "vocabulary",
                "pydantic_errors",
                "retry_budget",
            }
        ),
    ),
    ("destination", frozenset({"destination"})),
    (
        "run",
        frozenset(
            {
                "sources",
                "pipeline",
                "runner",
                "run_options",
                "run_errors",
                "retry",
                "recovery",
                "state_sync",
                "observability",
                "deployment_binding",
                "runtime_binding",
                "maintenance",
            }
        ),
    ),
    ("plugin", frozenset({"plugin", ""})),
    ("cli", frozenset({"cli"})),
)

Graph = dict[str, set[str]]


# --- the checker -------------------------------------------------------------------------


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by name relative to the package."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _absolute(module: str, is_package: bool, node: ast.ImportFrom, package: str) -> str:
    """The absolute dotted name ``node`` imports from, with relative imports resolved."""
    if not node.level:
        return node.module or ""
    here = [package, *filter(None, module.split("."))]
    base = here if is_package else here[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imported_names(module: str, path: Path, modules: set[str], package: str) -> set[str]:
    """Absolute names of the modules each import statement of ``module`` reaches (any depth)."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(module, is_package, node, package)
            for alias in node.names:
                # "from pkg import name": the module pkg.name if there is one, else pkg itself
                submodule = f"{target}.{alias.name}"
                is_module = submodule.removeprefix(f"{package}.") in modules
                names.add(submodule if target.split(".")[0] == package and is_module else target)
    return names


def _resolve(name: str, modules: set[str], package: str) -> str | None:
    """The package-relative module ``name`` refers to (its longest existing prefix), if any."""
    parts = name.split(".")
    if parts[0] != package:
        return None
    relative = parts[1:]
    while ".".join(relative) not in modules:
        if not relative:
            return None
        relative = relative[:-1]
    return ".".join(relative)


def import_graph(root: Path) -> Graph:
    """Edges ``module -> modules it imports`` between the modules of the package at ``root``."""
    package = root.name
    files = module_files(root)
    modules = set(files)
    graph: Graph = {}
    for module, path in files.items():
        targets = {
            _resolve(name, modules, package)
            for name in _imported_names(module, path, modules, package)
        }
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle path (``a -> b -> … -> a``) for each strongly connected component with one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the alphabetically first member of ``component``."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, set()) & component):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - SCC guarantees one


def layer_of(module: str, layers: tuple[tuple[str, frozenset[str]], ...]) -> int | None:
    """Index of the layer that names ``module`` or its top-level package."""
    for position, (_name, members) in enumerate(layers):
        if module in members or module.split(".", maxsplit=1)[0] in members:
            return position
    return None


def layer_violations(
    graph: Mapping[str, set[str]], layers: tuple[tuple[str, frozenset[str]], ...]
) -> list[str]:
    """Every edge that points up the layers, as ``a (layer) -> b (layer)``."""
    found = []
    for module in sorted(graph):
        here = layer_of(module, layers)
        for target in sorted(graph[module]):
            there = layer_of(target, layers)
            if here is not None and there is not None and there > here:
                found.append(f"{module} ({layers[here][0]}) -> {target} ({layers[there][0]})")
    return found


def unplaced(
    graph: Mapping[str, set[str]], layers: tuple[tuple[str, frozenset[str]], ...]
) -> list[str]:
    """Modules that no layer names."""
    return sorted(m for m in graph if layer_of(m, layers) is None)


def _show(found: list[list[str]]) -> str:
    return "\n".join(" -> ".join(path) for path in found)


# --- the package -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph(SRC)


def test_the_graph_is_read_from_the_package(graph: Graph) -> None:
    # the checker must see real edges, or every assertion below would pass on nothing
    assert len(graph) > 50
    assert "pipeline" in graph["runner"]
    assert "plugin" in graph[""]  # the package __init__
    assert "cli.app" in graph["cli"]


def test_src_has_no_import_cycles(graph: Graph) -> None:
    found = cycles(graph)
    assert not found, f"import cycles in src/:\n{_show(found)}"


def test_every_module_is_in_a_layer(graph: Graph) -> None:
    missing = unplaced(graph, LAYERS)
    assert not missing, f"modules in no layer (add them to LAYERS in this test): {missing}"


def test_every_module_imports_only_its_own_layer_or_below(graph: Graph) -> None:
    found = layer_violations(graph, LAYERS)
    assert not found, "imports that point up the layers:\n" + "\n".join(found)


def test_destination_imports_nothing_above_it(graph: Graph) -> None:
    destination = layer_of("destination", LAYERS)
    assert destination is not None
    above = [
        f"{module} -> {target}"
        for module, targets in sorted(graph.items())
        if module.split(".")[0] == "destination"
        for target in sorted(targets)
        if (layer_of(target, LAYERS) or 0) > destination
    ]
    assert not above, "destination/ imports from above it:\n" + "\n".join(above)


# --- the checker on a synthetic package --------------------------------------------------


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


_TOY_LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("low", frozenset({"base"})),
    ("mid", frozenset({"dest"})),
    ("high", frozenset({"app"})),
)


def test_the_checker_reads_every_kind_of_import(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "base.py": "",
            "other.py": "",
            "dest/__init__.py": "from .writer import write\n",
            "dest/writer.py": (
                "from __future__ import annotations\n"
                "from typing import TYPE_CHECKING\n"
                "import pkg.other\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.app import App\n"
                "def write() -> None:\n"
                "    from .. import base\n"
                "    from ..dest import reader\n"
                "import json\n"
            ),
            "dest/reader.py": "",
            "app.py": "from pkg.dest import write\n",
        },
    )
    graph = import_graph(package)
    assert graph["dest"] == {"dest.writer"}
    assert graph["dest.writer"] == {"other", "app", "base", "dest.reader"}
    assert graph["app"] == {"dest"}  # "write" is a name in dest/__init__, not a module
    assert graph["base"] == set()


def test_the_checker_reports_a_planted_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "base.py": "from pkg.dest import sink\n",
            "dest/__init__.py": "",
            "dest/sink.py": "def sink() -> None:\n    from pkg.dest.rows import rows\n",
            "dest/rows.py": "from pkg import base\n",
            "app.py": "import pkg.base\n",
        },
    )
    assert cycles(import_graph(package)) == [["base", "dest.sink", "dest.rows", "base"]]


def test_the_checker_reports_a_self_import_and_no_cycle_in_a_tree(tmp_path: Path) -> None:
    tree = _package(
        tmp_path / "a", {"__init__.py": "", "base.py": "", "app.py": "from . import base\n"}
    )
    assert cycles(import_graph(tree)) == []
    graph = {"x": {"x"}, "y": set()}
    assert cycles(graph) == [["x", "x"]]


def test_the_checker_reports_a_planted_back_arrow(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "__init__.py": "",
            "base.py": "",
            "dest/__init__.py": "",
            "dest/job.py": (
                "from typing import TYPE_CHECKING\n"
                "from pkg import base\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.app import span\n"
            ),
            "app.py": "from pkg.dest import job\n",
            "stray.py": "",
        },
    )
    graph = import_graph(package)
    assert cycles(graph) == [["app", "dest.job", "app"]]
    assert layer_violations(graph, _TOY_LAYERS) == ["dest.job (mid) -> app (high)"]
    assert unplaced(graph, _TOY_LAYERS) == ["", "stray"]
