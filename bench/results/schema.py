"""The results schema and how it is written: `results.json`, `summary.csv`, `per_image.csv`.

`results.json` is the complete record (schema version, config and its hash, environment, protocols,
checksums, per-image rows, means); the CSVs are views of it. All three are staged in a hidden folder
and renamed into place, `results.json` last, so a folder holding `results.json` holds a finished run.
Non-finite numbers (PSNR of identical images is +inf) are written as the strings "inf", "-inf", "nan".
"""

import csv
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.common.errors import BenchError, writing

# v2: protocols carry a version and the MATLAB SSIM file they follow; matlab-double v2 downsamples as ssim.m
SCHEMA = "derain-bench/results/v2"
_SCHEMA_V1 = "derain-bench/results/v1"
RESULTS_FILE = "results.json"
SUMMARY_FILE = "summary.csv"
PER_IMAGE_FILE = "per_image.csv"
IMAGES_FOLDER = "images"  # bench.run.saved_images
VERDICT_FILE = "reproduce.json"  # a `bench reproduce` folder's groups and verdicts (bench.suite), written last


@dataclass
class RunResult:
    """One method on one dataset: per-image rows, their means, and what produced them."""

    method: dict  # MethodSpec.describe()
    dataset: dict  # Dataset.describe()
    columns: list[str]  # metric columns, in order
    rows: list[dict] = field(default_factory=list)
    timing: dict = field(default_factory=dict)
    limited_to: int | None = None  # --limit: the means are over a prefix of the set
    profile: dict | None = None  # bench.run.profile.profile_method output (--profile)
    profile_summary: dict = field(default_factory=dict)  # its summary.csv columns (params, gflops@..., ...)
    non_finite_rules: dict[str, str] = field(default_factory=dict)  # column -> "propagate" | "omit" (default propagate)
    training_overlap: str | None = None  # why the weights were trained on these images (bench.data.overlap), if so
    batch_size: int = 1  # images through the network together (bench.run.cell)

    @property
    def n(self) -> int:
        return len(self.rows)

    def means(self) -> dict[str, float]:
        """Per-image values, then the mean (never a pooled MSE), non-finite scores treated by each column's rule."""
        means = {}
        for column in self.columns if self.n else ():
            values = [row[column] for row in self.rows]
            if self.non_finite_rules.get(column, "propagate") == "omit":
                values = [v for v in values if math.isfinite(v)]
            means[column] = math.fsum(values) / len(values) if values else math.nan
        return means

    def non_finite(self) -> dict[str, dict]:
        """Column -> how many images scored a non-finite value, which ones, and the rule the mean followed."""
        found = {}
        for column in self.columns:
            images = [row["image"] for row in self.rows if not math.isfinite(row[column])]
            if images:
                rule = self.non_finite_rules.get(column, "propagate")
                found[column] = {"count": len(images), "images": images, "rule": rule}
        return found

    def _declared_published(self) -> dict[str, float]:
        return dict(self.method.get("published", {}).get(self.dataset["name"], {}))

    def published_withheld(self) -> str | None:
        """Why the published scores of these weights on this dataset are not comparable with this run, if so."""
        if not self._declared_published():
            return None
        if (self.method.get("loaded_weights") or {}).get("source") == "user":
            return "your weights replaced the published ones"
        total = self.dataset.get("n")
        if self.limited_to is not None:
            return f"--limit {self.limited_to}: the means are over the first {self.n} of {total} images"
        if not self.dataset.get("complete", True):
            return f"incomplete copy of the set: {total} of {self.dataset.get('expected')} images"
        if self.batch_size > 1:
            return f"--batch-size {self.batch_size}: published numbers are checked at batch size 1"
        return None

    def _published(self) -> dict[str, float]:
        """The published scores of these weights on this dataset, when this run is comparable with them."""
        return {} if self.published_withheld() else self._declared_published()

    def to_dict(self) -> dict:
        return {
            "method": self.method["name"],
            "dataset": self.dataset["name"],
            "n": self.n,
            "limited_to": self.limited_to,
            "means": self.means(),
            "non_finite": self.non_finite(),
            "training_overlap": self.training_overlap,
            "published": self._published(),
            "published_withheld": self.published_withheld(),
            "timing": self.timing,
            "profile": self.profile,
            "profile_summary": self.profile_summary,
            "method_spec": self.method,
            "dataset_info": self.dataset,
            "rows": self.rows,
        }


def ensure_writable(out: Path, overwrite: bool) -> None:
    """Refuse, before any work is done, to replace finished results unless asked to."""
    if (out / RESULTS_FILE).exists() and not overwrite:
        raise BenchError(f"{out} already holds results; choose another --out or pass --overwrite")
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} exists and is not a folder")


def write_results(out: Path, document: dict, images: Path | None = None) -> None:
    """Write `document` into `out`, replacing earlier results; `images`: a staged `images/` folder to move in.

    An earlier results.json goes first and the new one comes last, so `out` never pairs one run's results.json
    with another run's images or tables.
    """
    with writing(out):
        _write_staged(out, document, images)


def _write_staged(out: Path, document: dict, images: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    try:
        (out / RESULTS_FILE).unlink(missing_ok=True)
        if (out / IMAGES_FOLDER).exists():
            shutil.rmtree(out / IMAGES_FOLDER)
        if images is not None:
            os.replace(images, out / IMAGES_FOLDER)
        write_json(staging / RESULTS_FILE, document)
        _write_csv(staging / SUMMARY_FILE, *summary_table(document))
        _write_csv(staging / PER_IMAGE_FILE, *_per_image_table(document))
        for name in (SUMMARY_FILE, PER_IMAGE_FILE, RESULTS_FILE):  # results.json last: it marks completion
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def summary_table(document: dict) -> tuple[list[str], list[list]]:
    """One row per method x dataset, one column per metric: `method,dataset,n,psnr@...,ssim@...`, then the
    profile columns when the run was profiled (`params,gflops@3x256x256,latency_ms_median,...`)."""
    columns = list(document["metrics"])
    profile_columns = list(dict.fromkeys(c for run in document["runs"] for c in run["profile_summary"]))
    rows = [
        [
            run["method"],
            run["dataset"],
            run["n"],
            *(run["means"].get(c, "") for c in columns),
            *(_blank_if_none(run["profile_summary"].get(c)) for c in profile_columns),
        ]
        for run in document["runs"]
    ]
    return ["method", "dataset", "n", *columns, *profile_columns], rows


def _blank_if_none(value):
    return "" if value is None else value


def _per_image_table(document: dict) -> tuple[list[str], list[list]]:
    columns = list(document["metrics"])
    rows = [
        [run["method"], run["dataset"], row["image"], row["forward_ms"], *(row.get(c, "") for c in columns)]
        for run in document["runs"]
        for row in run["rows"]
    ]
    return ["method", "dataset", "image", "forward_ms", *columns], rows


def _finite_or_text(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite_or_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_text(v) for v in value]
    return value


def write_json(path: Path, document: dict) -> None:
    """`document` as JSON (non-finite numbers as strings), flushed to disk."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_finite_or_text(document), f, indent=1, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([[_finite_or_text(v) for v in row] for row in rows])
        f.flush()
        os.fsync(f.fileno())


def load_results(path: Path) -> dict:
    """Read a results.json (or the folder holding one), checking its schema version."""
    file = path / RESULTS_FILE if path.is_dir() else path
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchError(f"cannot read results from {file}: {exc}") from exc
    schema = document.get("schema")
    if schema == _SCHEMA_V1:
        raise BenchError(
            f"{file} has schema {schema!r}, made before matlab-double version 2 (the 2009 ssim.m downsampling): "
            "its numbers are incomparable with this version's; run it again"
        )
    if schema != SCHEMA:
        raise BenchError(f"{file} has schema {schema!r}; this version reads {SCHEMA!r}")
    return document
