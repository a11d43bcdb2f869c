"""`bench reproduce`: a declarative suite (reports/suites/NAME.toml) of runs and of checks against published numbers.

A suite is [[group]] tables, each one `bench run` (methods x datasets) written to OUT/<group>/, and [[check]]
tables, each comparing one run's mean with the number the method's weights table publishes (the value and its
source live in the method's module, once). `reproduce.json`, written last, holds the verdicts.
"""

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import bench
from bench.common.assets import sha256_file
from bench.common.errors import BenchError
from bench.common.names import unknown_name
from bench.data.cards import PUBLISHED_TOLERANCE, published_tolerance
from bench.results.schema import VERDICT_FILE, ensure_writable, write_json

if TYPE_CHECKING:  # `bench report --suite` reads a suite's tolerances without importing the runner (and torch)
    from bench.common.assets import Store
    from bench.run import runner

SCHEMA = "derain-bench/reproduce/v1"
REPORT_FILE = "report.html"
_GROUP_KEYS = {"name", "methods", "datasets", "protocols", "metrics", "limit"}
_CHECK_KEYS = {"method", "dataset", "columns", "tolerance", "note"}
_SUITE_KEYS = {"description", "tolerance", "group", "check"}


@dataclass(frozen=True)
class Group:
    name: str
    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    protocols: tuple[str, ...] = ("matlab-double",)
    metrics: tuple[str, ...] = ("psnr", "ssim")
    limit: int | None = None

    def config(self, seed: int = 0) -> "runner.RunConfig":
        from bench.metrics import PROTOCOLS
        from bench.run import runner

        protocols = tuple(PROTOCOLS) if self.protocols == ("all",) else self.protocols
        return runner.RunConfig(
            methods=self.methods,
            datasets=self.datasets,
            metrics=self.metrics,
            protocols=protocols,
            limit=self.limit,
            seed=seed,
        )


@dataclass(frozen=True)
class Check:
    method: str
    dataset: str
    columns: tuple[str, ...] = ()  # empty: every column the method publishes for the dataset
    tolerance: tuple[tuple[str, float], ...] = ()  # (metric kind, absolute tolerance); the suite's otherwise
    note: str = ""


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    groups: tuple[Group, ...]
    checks: tuple[Check, ...] = ()
    tolerance: tuple[tuple[str, float], ...] = tuple(PUBLISHED_TOLERANCE.items())

    def tolerance_for(self, check: Check, column: str) -> float:
        """The tolerance of `column` (or of its metric kind, e.g. "psnr"): the check's, else the dataset card's (a copy
        that differs from the published one, `published_tolerance`), else the suite's."""
        kind = column.partition("@")[0]
        card = published_tolerance(check.dataset).items() - PUBLISHED_TOLERANCE.items()
        for source in (dict(check.tolerance), dict(card), dict(self.tolerance)):
            if kind in source:
                return source[kind]
        raise BenchError(f"suite {self.name}: no tolerance for {column} of {check.method} on {check.dataset}")


def suites_dir() -> Path:
    return Path(bench.__file__).resolve().parents[1] / "reports" / "suites"


def suite_names() -> list[str]:
    return sorted(path.stem for path in suites_dir().glob("*.toml"))


def load_suite(name: str) -> Suite:
    """The suite named `name` (reports/suites/NAME.toml) or in the TOML file at path `name`."""
    path = Path(name)
    if path.suffix != ".toml":
        if name not in suite_names():
            raise unknown_name("suite", name, suite_names())
        path = suites_dir() / f"{name}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"cannot read suite {path}: {exc}") from exc
    return _parse_suite(path, raw)


def _parse_suite(path: Path, raw: dict) -> Suite:
    _no_unknown_keys(path, "the suite", raw, _SUITE_KEYS)
    groups = []
    for table in raw.get("group", []):
        _no_unknown_keys(path, f"group {table.get('name', '?')}", table, _GROUP_KEYS)
        lists = {key: tuple(table[key]) for key in ("methods", "datasets", "protocols", "metrics") if key in table}
        groups.append(Group(name=table["name"], limit=table.get("limit"), **lists))
    if not groups:
        raise BenchError(f"{path}: a suite needs at least one [[group]]")
    checks = []
    for table in raw.get("check", []):
        _no_unknown_keys(path, f"check {table.get('method', '?')}", table, _CHECK_KEYS)
        check = Check(
            method=table["method"],
            dataset=table["dataset"],
            columns=tuple(table.get("columns", ())),
            tolerance=tuple(table.get("tolerance", {}).items()),
            note=table.get("note", ""),
        )
        if not any(check.method in g.methods and check.dataset in g.datasets for g in groups):
            raise BenchError(f"{path}: check {check.method} on {check.dataset} matches no [[group]]'s run")
        checks.append(check)
    suite = Suite(path.stem, path, raw.get("description", ""), tuple(groups), tuple(checks))
    return dataclasses.replace(suite, tolerance=tuple(raw["tolerance"].items())) if "tolerance" in raw else suite


def _no_unknown_keys(path: Path, where: str, table: dict, known: set[str]) -> None:
    if unknown := sorted(set(table) - known):
        raise BenchError(f"{path}: unknown key(s) {', '.join(unknown)} in {where}; known: {', '.join(sorted(known))}")


def validate(suite: Suite, store: "Store") -> None:
    """Every name in every group exists: a typo in the last group fails before the first one runs."""
    from bench import data
    from bench.methods.registry import build_method
    from bench.metrics import make_scorer

    for group in suite.groups:
        config = group.config()
        for name in config.methods:
            build_method(name)
        for name in config.datasets:
            data.load_card(name)
        make_scorer(config.metrics, config.protocols, store=store)  # unknown names, missing metric files


def reproduce(
    suite: Suite,
    store: "Store",
    out: Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Run every group into OUT/<group>/, evaluate the checks, render OUT/report.html; return the verdicts."""
    from bench.run.folder import run_into

    if (out / VERDICT_FILE).exists() and not overwrite:
        raise BenchError(f"{out} already holds a reproduction; choose another --out or pass --overwrite")
    validate(suite, store)
    pending = [group for group in suite.groups if overwrite or not _finished(out / group.name, group)]
    for group in pending:  # a group's stale results are refused before the first group runs
        ensure_writable(out / group.name, overwrite)
    (out / VERDICT_FILE).unlink(missing_ok=True)
    for group in suite.groups:
        if group not in pending:
            log(f"suite {suite.name}: group {group.name} finished in an earlier attempt; kept")
            continue
        log(f"suite {suite.name}: group {group.name}")
        folder = out / group.name
        run_into(group.config(), store, folder, save_images=True, progress=progress, log=log, overwrite=overwrite)
    return conclude(suite, out)


def _finished(folder: Path, group: Group) -> bool:
    """Whether `folder` holds the finished results of `group` as configured now (an interrupted reproduction
    resumes after its finished groups; a group's own interrupted run resumes through its journal)."""
    from bench.results.schema import RESULTS_FILE, load_results

    return (folder / RESULTS_FILE).exists() and load_results(folder)["config_hash"] == group.config().digest()


def conclude(suite: Suite, out: Path) -> dict:
    """Evaluate the checks on the group results stored in `out`, render OUT/report.html, write the verdicts."""
    from bench.report import write_report
    from bench.results.schema import load_results

    folders = [out / group.name for group in suite.groups]
    documents = {group.name: load_results(folder) for group, folder in zip(suite.groups, folders, strict=True)}
    checks = evaluate(suite, documents)
    write_report(folders, out / REPORT_FILE, tolerances=tolerances(suite), notes=notes(suite))
    verdict = {
        "schema": SCHEMA,
        "suite": suite.name,
        "suite_file": {"path": str(suite.path), "sha256": sha256_file(suite.path)},
        "description": suite.description,
        "groups": [group.name for group in suite.groups],
        "report": REPORT_FILE,
        "passed": all(check["passed"] for check in checks),
        "checks": checks,
    }
    staged = out / f".{VERDICT_FILE}.tmp"
    write_json(staged, verdict)
    os.replace(staged, out / VERDICT_FILE)  # written last and whole: it marks a finished reproduction
    return verdict


def tolerances(suite: Suite) -> dict[tuple[str, str, str], float]:
    """(method, dataset, metric kind) -> the tolerance each published number is held to, for the report's ✓/✗."""
    return {
        (check.method, check.dataset, kind): suite.tolerance_for(check, kind)
        for check in suite.checks
        for kind in dict(suite.tolerance) | dict(check.tolerance)
    }


def notes(suite: Suite) -> dict[tuple[str, str], str]:
    """(method, dataset) -> the suite's note on that check, for the report."""
    return {(check.method, check.dataset): check.note for check in suite.checks if check.note}


def evaluate(suite: Suite, documents: dict[str, dict]) -> list[dict]:
    """One verdict per (check, column): published, reproduced, difference, tolerance, passed."""
    runs = {(run["method"], run["dataset"]): run for document in documents.values() for run in document["runs"]}
    verdicts = []
    for check in suite.checks:
        run = runs.get((check.method, check.dataset))
        declared = (run or {}).get("method_spec", {}).get("published", {}).get(check.dataset, {})
        for column in check.columns or tuple(declared):
            verdicts.append(_verdict(suite, check, column, run, declared))
    return verdicts


def _verdict(suite: Suite, check: Check, column: str, run: dict | None, declared: dict) -> dict:
    verdict = {"method": check.method, "dataset": check.dataset, "column": column, "note": check.note}
    tolerance = suite.tolerance_for(check, column)
    if run is None or column not in declared:
        why = "not run" if run is None else f"{check.method} publishes no {column} on {check.dataset}"
        return {**verdict, "passed": False, "reason": why}
    if run.get("published_withheld"):
        return {**verdict, "passed": False, "reason": f"published number not comparable: {run['published_withheld']}"}
    published, ours = declared[column], float(run["means"][column])
    difference = ours - published
    return {
        **verdict,
        "published": published,
        "published_source": run["method_spec"].get("published_source", ""),
        "reproduced": ours,
        "difference": difference,
        "tolerance": tolerance,
        "passed": math.isfinite(difference) and abs(difference) <= tolerance,
        "reason": "",
    }


def format_verdicts(verdict: dict) -> str:
    """published | reproduced | difference | ✓/✗, one line per check, then the count."""
    if not verdict["checks"]:
        return f"suite {verdict['suite']}: no published number is checked (a drift suite: see `bench compare`)"
    header = ["method", "dataset", "column", "published", "reproduced", "difference", "tol", ""]
    rows = [header]
    for check in verdict["checks"]:
        mark = "✓" if check["passed"] else "✗"
        if "published" not in check:
            rows.append(
                [check["method"], check["dataset"], check["column"], "", "", "", "", f"{mark} {check['reason']}"]
            )
            continue
        rows.append(
            [
                check["method"],
                check["dataset"],
                check["column"],
                f"{check['published']:g}",
                f"{check['reproduced']:.4f}",
                f"{check['difference']:+.4f}",
                f"{check['tolerance']:g}",
                mark,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    failed = sum(not check["passed"] for check in verdict["checks"])
    total = len(verdict["checks"])
    lines.append(f"suite {verdict['suite']}: {total - failed} of {total} checks passed")
    return "\n".join(lines)
