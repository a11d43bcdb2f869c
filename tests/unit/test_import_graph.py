"""Imports only point down: bench's layers (README, "Layout") import only from layers below them, so no circle
can form between its parts. A part is a subpackage (bench/report/) or a top-level module (bench/suite.py); the
method packages msdr/ and baselines/ sit beside the report. Read from the source with `ast`, so a lazy import
inside a function counts as much as one at the top of a file."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
BENCH = REPOSITORY / "bench"

# Lowest first. A part may import any part of a lower layer, none of its own layer or above.
LAYERS = (
    ("common",),
    ("data", "metrics", "results"),
    ("methods",),  # a method may read a dataset's samples (a folder of outputs is paired with them)
    ("run",),
    ("report", "conformance", "msdr", "baselines"),
    ("suite", "audit"),
    ("cli",),
    ("__main__",),
)
LAYER = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def _part(module: str, root: Path) -> str | None:
    """The part a dotted module name belongs to ("bench.report.tables" -> "report", "msdr.train" -> "msdr"), None
    outside bench and the method packages, or for a name imported from bench's own __init__."""
    names = module.split(".")
    if names[0] in ("msdr", "baselines"):
        return names[0]
    if names[0] != "bench" or len(names) < 2:
        return None
    return names[1] if (root / f"{names[1]}.py").is_file() or (root / names[1]).is_dir() else None


def _imported(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def _sources(root: Path, packages: tuple[Path, ...]) -> list[tuple[str, Path]]:
    """(part, file) for every Python file: bench's by their folder below `root`, the method packages' by name."""
    found = []
    for path in root.rglob("*.py"):
        part = path.relative_to(root).parts[0].removesuffix(".py")
        if part != "__init__":
            found.append((part, path))
    found += [(package.name, path) for package in packages for path in package.rglob("*.py")]
    return found


def import_graph(root: Path = BENCH, packages: tuple[Path, ...] = ()) -> dict[str, set[str]]:
    """part -> the other parts it imports anything from."""
    graph: dict[str, set[str]] = {}
    for source, path in _sources(root, packages):
        targets = {_part(name, root) for name in _imported(ast.parse(path.read_text(encoding="utf-8")))}
        graph.setdefault(source, set()).update(target for target in targets if target and target != source)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One path a -> ... -> a for every part that can reach itself."""
    found = []
    for start in sorted(graph):
        paths = [[start]]
        seen = set()
        while paths:
            path = paths.pop()
            for target in sorted(graph.get(path[-1], ())):
                if target == start:
                    found.append([*path, start])
                    paths = []
                    break
                if target not in seen:
                    seen.add(target)
                    paths.append([*path, target])
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a part from its own layer or above, as "importer -> imported"."""
    return [
        f"{source} -> {target}"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if LAYER[target] >= LAYER[source]
    ]


def _graph() -> dict[str, set[str]]:
    return import_graph(BENCH, (REPOSITORY / "msdr", REPOSITORY / "baselines"))


def test_every_part_of_bench_has_a_layer():
    assert set(_graph()) <= set(LAYER), "a new subpackage needs its place in LAYERS (and in the README's map)"


def test_imports_only_point_down():
    assert upward_imports(_graph()) == []


def test_bench_has_no_import_circle():
    assert circles(_graph()) == []


def test_every_module_imports():
    """Moving a module leaves no import pointing at its old place, in the code or in a lazy import."""
    modules = sorted(
        ".".join(path.relative_to(REPOSITORY).with_suffix("").parts).removesuffix(".__init__")
        for package in ("bench", "msdr", "baselines")
        for path in (REPOSITORY / package).rglob("*.py")
        if path.name != "__main__.py"  # importing it runs the command line
    )
    for module in modules:
        importlib.import_module(module)
    lazily_imported = {name for _, path in _sources(BENCH, ()) for name in _imported(ast.parse(path.read_text()))}
    missing = [name for name in sorted(lazily_imported) if name.startswith("bench.") and not _resolves(name)]
    assert missing == []


def _resolves(name: str) -> bool:
    """Whether a dotted name found in an import statement is a module or an attribute of one."""
    module, _, attribute = name.rpartition(".")
    try:
        importlib.import_module(name)
        return True
    except ModuleNotFoundError:
        return hasattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize(
    "module",
    ["bench", "bench.report", "bench.metrics", "bench.data", "bench.results.compare", "bench.methods.registry"],
)
def test_the_light_layers_import_no_torch(module):
    """`ls`, `--help`, `report` and `compare` start without torch."""
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'baselines', 'msdr') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_circle_finder_finds_a_lazy_circle(tmp_path):
    """suite imports report at the top, report imports suite inside a function: the old tree's circle."""
    (tmp_path / "report").mkdir()
    (tmp_path / "suite.py").write_text("from bench.report import write_report\n")
    (tmp_path / "report" / "__init__.py").write_text("def f():\n    from bench.suite import DEFAULT_TOLERANCE\n")
    (tmp_path / "compare.py").write_text("from bench.results import load_results\n")
    (tmp_path / "results.py").write_text("import json\n")
    graph = import_graph(tmp_path)
    assert graph == {"suite": {"report"}, "report": {"suite"}, "compare": {"results"}, "results": set()}
    assert circles(graph) == [["report", "suite", "report"], ["suite", "report", "suite"]]
    assert upward_imports({"report": {"suite", "run"}, "suite": {"report"}, "run": set()}) == ["report -> suite"]
