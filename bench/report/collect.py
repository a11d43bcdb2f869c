"""Stored runs in, one comparable collection out: the report's only input.

Several results folders merge when every column they share is defined the same way (machine-local file paths
aside) and every dataset they share is the same copy (fingerprint); otherwise the report is refused with the
reason, since a table that mixes conventions is exactly the unreproducible number this suite exists to stop.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.common.errors import BenchError
from bench.data import identical_files
from bench.results.compare import definition_differences, portable
from bench.results.schema import RESULTS_FILE, load_results


@dataclass
class StoredRun:
    """One method on one dataset, from the results folder `folder`."""

    document: dict
    run: dict
    folder: Path
    source: str  # how the report names the results folder

    @property
    def method(self) -> str:
        return self.run["method"]

    @property
    def dataset(self) -> str:
        return self.run["dataset"]

    def values(self, column: str) -> list[float]:
        return [_number(row.get(column)) for row in self.run["rows"]]

    def mean(self, column: str) -> float:
        return _number(self.run["means"].get(column))


@dataclass
class Collection:
    documents: list[tuple[str, dict]]  # (source, results document), in the order given
    runs: list[StoredRun]
    columns: dict[str, dict] = field(default_factory=dict)  # column -> definition (first document's)

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(run.dataset for run in self.runs))

    def runs_on(self, dataset: str) -> list[StoredRun]:
        return [run for run in self.runs if run.dataset == dataset]

    def protocols(self) -> list[str]:
        """PSNR/SSIM protocols in the order the runs name them (the first is the report's primary one)."""
        names = [column.partition("@")[2] for column in self.columns if column.partition("@")[0] in ("psnr", "ssim")]
        return list(dict.fromkeys(names))

    def higher_is_better(self, column: str) -> bool:
        return bool(self.columns[column].get("higher_is_better", True))


def collect(paths: list[Path]) -> Collection:
    """Load every results folder (or results.json) in `paths` and merge them, or say why they cannot be."""
    if not paths:
        raise BenchError("no results given: pass one or more results folders (each holding results.json)")
    documents, runs, columns, fingerprints, seen = [], [], {}, {}, {}
    for path in paths:
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        source = str(path)
        if path.is_dir() and not (path / RESULTS_FILE).is_file():
            raise BenchError(f"{path} holds no {RESULTS_FILE}: not a finished run (a run writes it last); run it again")
        document = load_results(path)
        documents.append((source, document))
        for column, definition in document["metrics"].items():
            if column in columns:
                _same_definition(column, columns[column], definition, source)
            else:
                columns[column] = definition
        for run in document["runs"]:
            key = (run["method"], run["dataset"])
            if key in seen:
                raise BenchError(
                    f"{run['method']} on {run['dataset']} is in both {seen[key]} and {source}: report them apart"
                )
            seen[key] = source
            fingerprint = run["dataset_info"].get("fingerprint")
            known = fingerprints.setdefault(run["dataset"], (fingerprint, source))
            if known[0] != fingerprint:
                raise BenchError(
                    f"{run['dataset']} in {source} is a different copy from the one in {known[1]} (dataset "
                    f"fingerprints {str(fingerprint)[:12]} vs {str(known[0])[:12]}): report them apart"
                )
            runs.append(StoredRun(document, run, folder, source))
    return Collection(documents, runs, columns)


def _same_definition(column: str, first: dict, other: dict, source: str) -> None:
    differences = list(definition_differences(portable(first), portable(other)))
    if differences:
        raise BenchError(
            f"cannot merge {source}: its {column} is defined differently (at {differences[0]}), so its numbers are "
            "not comparable with the other runs'; report them apart"
        )


def warnings(collection: Collection) -> list[str]:
    """What a reader must know before trusting a number, one sentence each."""
    found = []
    for source, document in collection.documents:
        git = document["environment"].get("git") or {}
        if git.get("dirty"):
            found.append(
                f"{source} was run from a working tree with uncommitted changes ({git.get('commit', '?')[:10]})"
            )
        for column, reason in document.get("metrics_skipped", {}).items():
            found.append(f"{source}: {column} was skipped: {reason}")
    by_cause: dict[str, list[str]] = {}  # a cause many runs share is one line naming them
    for run in collection.runs:
        name = f"{run.method} on {run.dataset}"
        if run.run["limited_to"]:
            cause = f"partial run (--limit {run.run['limited_to']}: the first {run.run['n']} images)"
            by_cause.setdefault(cause, []).append(name)
        if (run.run["method_spec"].get("loaded_weights") or {}).get("source") == "user":
            by_cause.setdefault("user-supplied weights, not the published ones", []).append(name)
        outputs = run.run["method_spec"].get("outputs") or {}
        found += [f"{name}: {warning}" for warning in outputs.get("warnings", ())]
        if run.run.get("training_overlap"):
            found.append(f"{name} scores training images: {run.run['training_overlap']}")
        for column, info in run.run.get("non_finite", {}).items():
            found.append(
                f"{name}: {column} is not finite on {info['count']} image(s) ({', '.join(info['images'][:3])})"
            )
    found += [f"{cause}: {', '.join(names)}" for cause, names in by_cause.items()]
    for dataset in collection.datasets():
        run = collection.runs_on(dataset)[0].run
        if "warnings" in run["dataset_info"]:
            found += [f"{dataset}: {warning}" for warning in run["dataset_info"]["warnings"]]
        else:  # results written before datasets recorded their warnings: the identical files, from the rows
            found += _duplicate_images(dataset, run["rows"])
    return found


def _duplicate_images(dataset: str, rows: list[dict]) -> list[str]:
    """Byte-identical files inside one set (Rain100H's norain-3 and norain-4 ground truths are)."""
    found = []
    for role, what in (("rainy", "rainy inputs"), ("clean", "ground truths")):
        for images in identical_files({row["image"]: row.get(f"{role}_sha256") for row in rows}):
            found.append(f"{dataset}: the {what} of {', '.join(images)} are byte-identical files")
    return found


def _number(value) -> float:
    """A stored score: a float, or one of the strings "inf", "-inf", "nan" that JSON cannot hold as numbers."""
    if value is None:
        return math.nan
    return float(value)
