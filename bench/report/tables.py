"""The report's tables as plain data: leaderboard, paired comparisons and protocol spread, per dataset.

Per-image scores are a pandas frame (image x method) per dataset and column; every interval is a seeded
bootstrap over the images (bench.results.stats), so the same results give the same report.
"""

import math
from dataclasses import dataclass
from itertools import combinations, pairwise

import numpy as np
import pandas as pd

from bench.data.cards import background_labels, published_tolerance
from bench.report.collect import Collection, StoredRun
from bench.results import stats

MAX_PAIRED_METHODS = 8  # beyond this many methods, only neighbours in the ranking are paired
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class ColumnInfo:
    name: str  # psnr@matlab-double
    metric: str  # psnr
    variant: str  # matlab-double
    higher_is_better: bool

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def unit(self) -> str:
        return " dB" if self.metric == "psnr" else ""

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b


def column_info(collection: Collection, column: str) -> ColumnInfo:
    metric, _, variant = column.partition("@")
    return ColumnInfo(column, metric, variant, collection.higher_is_better(column))


def primary_columns(collection: Collection, dataset: str) -> list[ColumnInfo]:
    """PSNR and SSIM under the first protocol, then LPIPS and NIQE: the leaderboard's columns."""
    present = dict.fromkeys(c for run in collection.runs_on(dataset) for c in run.run["means"])
    protocols = collection.protocols()
    wanted = [f"{m}@{protocols[0]}" for m in ("psnr", "ssim")] if protocols else []
    wanted += [c for c in present if c.partition("@")[0] not in ("psnr", "ssim")]
    return [column_info(collection, c) for c in wanted if c in present]


def scores(runs: list[StoredRun], column: str) -> pd.DataFrame:
    """Per-image scores, one column per method, rows by image name in the first run's order."""
    frame = pd.DataFrame(
        {
            run.method: pd.Series(run.values(column), index=[r["image"] for r in run.run["rows"]])
            for run in runs
            if column in run.run["means"]
        }
    )
    return frame.reindex([row["image"] for row in runs[0].run["rows"]]) if runs else frame


def ranked(collection: Collection, dataset: str, column: ColumnInfo) -> list[StoredRun]:
    """The runs on `dataset`, best first by `column` (non-finite means last)."""
    runs = [r for r in collection.runs_on(dataset) if column.name in r.run["means"]]
    sign = -1 if column.higher_is_better else 1
    return sorted(runs, key=lambda r: (not math.isfinite(r.mean(column.name)), sign * r.mean(column.name)))


def leaderboard(collection: Collection, dataset: str, tolerances: dict | None = None) -> dict:
    columns = primary_columns(collection, dataset)
    runs = collection.runs_on(dataset)
    best = {c.name: _best(runs, c) for c in columns}
    rows = []
    for run in runs:
        cells = []
        for column in columns:
            values = run.values(column.name) if column.name in run.run["means"] else []
            mean = run.mean(column.name) if values else math.nan
            backgrounds = background_labels(dataset, [row["image"] for row in run.run["rows"]])
            low, high = (
                stats.bootstrap_mean_ci(values, backgrounds=backgrounds) if len(values) > 1 else (math.nan, math.nan)
            )
            cells.append(
                {
                    "mean": mean,
                    "ci": (low, high),
                    "best": bool(values) and mean == best[column.name],
                    "published": _published(run, column, tolerances or {}),
                }
            )
        rows.append({"run": run, "cells": cells, "cost": cost(run)})
    has_cost = any(row["cost"][key] is not None for row in rows for key in ("params", "gmacs", "latency_ms"))
    return {"columns": columns, "rows": rows, "has_cost": has_cost}


def _best(runs: list[StoredRun], column: ColumnInfo) -> float:
    means = [r.mean(column.name) for r in runs if column.name in r.run["means"] and math.isfinite(r.mean(column.name))]
    if not means:
        return math.nan
    return max(means) if column.higher_is_better else min(means)


def _published(run: StoredRun, column: ColumnInfo, tolerances: dict) -> dict | None:
    """The published number beside ours: value, difference, tolerance and whether it is met."""
    value = run.run["published"].get(column.name)
    if value is None:
        withheld = run.run.get("published_withheld")
        declared = run.run["method_spec"].get("published", {}).get(run.dataset, {}).get(column.name)
        return {"withheld": withheld, "value": declared} if withheld and declared is not None else None
    tolerance = tolerances.get(
        (run.method, run.dataset, column.metric), published_tolerance(run.dataset).get(column.metric, math.inf)
    )
    difference = run.mean(column.name) - value
    return {
        "withheld": None,
        "value": value,
        "difference": difference,
        "tolerance": tolerance,
        "met": math.isfinite(difference) and abs(difference) <= tolerance,
        "source": run.run["method_spec"].get("published_source", ""),
    }


def cost(run: StoredRun) -> dict:
    """params, GMACs at 3x256x256 and the median latency, when the run was profiled (None where not); for a
    folder of outputs, the params and GMACs its user declared (`declared` True), never measured."""
    spec = run.run["method_spec"]
    if spec.get("kind") == "outputs":
        declared = spec.get("declared") or {}
        return {"params": declared.get("params"), "gmacs": declared.get("gmacs"), "latency_ms": None, "declared": True}
    profile = run.run.get("profile") or {}
    summary = run.run.get("profile_summary") or {}
    reference = (profile.get("flops") or {}).get("3x256x256") or {}
    return {
        "params": summary.get("params"),
        "gmacs": reference.get("gmacs"),
        "latency_ms": summary.get("latency_ms_median"),
        "declared": False,
    }


def paired(collection: Collection, dataset: str, column: ColumnInfo) -> dict:
    """Every pair of methods on the same images (neighbours in the ranking beyond MAX_PAIRED_METHODS methods):
    mean difference with a paired bootstrap CI (over backgrounds where the card groups images that share one),
    wins, Wilcoxon signed-rank p and its Holm correction."""
    runs = ranked(collection, dataset, column)
    frame = scores(runs, column.name).dropna(axis=0, how="all")
    names = [r.method for r in runs]
    backgrounds = background_labels(dataset, list(frame.index))  # images sharing a background resample together
    pairs = list(combinations(names, 2)) if len(names) <= MAX_PAIRED_METHODS else list(pairwise(names))
    rows, omitted = [], []
    for a, b in pairs:
        x, y = frame[a].to_numpy(), frame[b].to_numpy()
        if not (np.isfinite(x).all() and np.isfinite(y).all()):  # NaN: an image the other run did not score
            omitted.append(f"{a} vs {b}: a per-image score is not finite or missing")
            continue
        rows.append({"a": a, "b": b, "result": stats.paired_difference(x, y, backgrounds=backgrounds)})
    for row, adjusted in zip(rows, stats.holm([r["result"].p_value for r in rows]), strict=True):
        row["p_holm"] = adjusted
        row["words"] = _in_words(row, column, len(frame))
    tests = list(dict.fromkeys(row["result"].test for row in rows))  # scipy picks exact or approximate per pair
    distinct = len(set(backgrounds)) if backgrounds is not None else None
    return {
        "column": column,
        "rows": rows,
        "omitted": omitted,
        "n": len(frame),
        "tests": tests,
        "backgrounds": distinct,
    }


def _in_words(row: dict, column: ColumnInfo, n: int) -> str:
    result = row["result"]
    if not result.distinguishable:
        return f"not distinguishable on these {n} images"
    ahead = row["a"] if column.better(result.mean_difference, 0.0) else row["b"]
    if math.isfinite(row["p_holm"]) and row["p_holm"] < SIGNIFICANCE:
        return f"{ahead} ahead"
    return f"{ahead} ahead by the CI, but the corrected test does not reject (p = {row['p_holm']:.3f})"


def spread(collection: Collection, dataset: str) -> dict | None:
    """The same outputs under every protocol scored: method x protocol means for PSNR and SSIM."""
    protocols = collection.protocols()
    runs = collection.runs_on(dataset)
    if len(protocols) < 2 or not any(f"psnr@{p}" in r.run["means"] for r in runs for p in protocols):
        return None
    tables = {}
    for metric in ("psnr", "ssim"):
        frame = pd.DataFrame(
            {
                p: [r.mean(f"{metric}@{p}") if f"{metric}@{p}" in r.run["means"] else math.nan for r in runs]
                for p in protocols
            },
            index=[r.method for r in runs],
        )
        frame["range"] = frame.max(axis=1) - frame.min(axis=1)
        tables[metric] = frame
    return {"protocols": protocols, "tables": tables}
