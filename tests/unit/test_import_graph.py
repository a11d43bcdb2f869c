"""No import circle between bench's parts: a top-level module (bench/suite.py) or subpackage (bench/report/) may
import another only if that one does not reach back to it, whether the import is at the top of a file or inside a
function. Read from the source with `ast`, so a lazy import counts as much as an eager one."""

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _part(module: str, root: Path) -> str | None:
    """The part of bench (in `root`) a dotted module name belongs to ("bench.report.tables" -> "report"), None
    outside bench, or for a name imported from bench's own __init__."""
    names = module.split(".")
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


def import_graph(root: Path = BENCH) -> dict[str, set[str]]:
    """part -> the other parts it imports anything from."""
    graph = {}
    for path in root.rglob("*.py"):
        source = path.relative_to(root).parts[0].removesuffix(".py")
        if source == "__init__":
            continue
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


def test_bench_has_no_import_circle():
    assert circles(import_graph()) == []


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
