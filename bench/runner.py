"""The one orchestrator: a run config in, scored results out.

Everything that can fail because of user input (names, datasets, pairing, image headers, weights) is
resolved before the first forward pass, so a bad run fails in seconds and writes nothing.
"""

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from tqdm import tqdm

from bench import data, provenance
from bench.assets import Store
from bench.errors import BenchError
from bench.method import DerainMethod
from bench.metrics import PROTOCOLS, Scorer, make_scorer
from bench.registry import build_method
from bench.results import SCHEMA, RunResult

DEMO_DATASET = "demo"


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides the numbers of a run (where files live and go does not)."""

    methods: tuple[str, ...]
    datasets: tuple[str, ...] = ()  # empty: the built-in demo set, or the --dataset-dir folder
    dataset_dir: str | None = None
    metrics: tuple[str, ...] = ("psnr", "ssim")
    protocols: tuple[str, ...] = ("matlab-double",)
    limit: int | None = None
    device: str = "auto"
    seed: int = 0
    allow_incomplete: bool = False

    def __post_init__(self) -> None:
        if not self.methods:
            raise BenchError("no method given; pass --methods, e.g. --methods prenet.rain100h,identity")
        if self.limit is not None and self.limit < 1:
            raise BenchError(f"--limit must be a positive number of images, got {self.limit}")
        if self.dataset_dir is not None and len(self.datasets) > 1:
            raise BenchError("--dataset-dir scores one folder: give at most one --datasets name (its card)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def open_datasets(config: RunConfig, store: Store) -> list[data.Dataset]:
    if config.dataset_dir is not None:
        card = data.load_card(config.datasets[0]) if config.datasets else None
        return [data.open_folder(Path(config.dataset_dir), card=card, allow_incomplete=config.allow_incomplete)]
    names = config.datasets or (DEMO_DATASET,)
    return [data.open_dataset(name, store, allow_incomplete=config.allow_incomplete) for name in names]


def run(config: RunConfig, store: Store, *, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Run every method on every dataset and return the results document (see `bench.results`)."""
    started = time.perf_counter()
    methods = [build_method(name) for name in config.methods]
    scorer = make_scorer(config.metrics, config.protocols)
    datasets = open_datasets(config, store)
    _check_ground_truth(datasets)
    device = provenance.resolve_device(config.device)
    provenance.seed_everything(config.seed)
    for method in methods:  # all weights verified and loaded before the first forward pass
        method.prepare(store, device)

    runs = []
    for method in methods:
        for dataset in datasets:
            provenance.seed_everything(config.seed)  # each cell is independent of the order of the others
            log(f"{method.spec.name} on {dataset.name} ({device.type})")
            runs.append(_run_one(method, dataset, scorer, config.limit, progress))

    wall_s = time.perf_counter() - started
    forward_s = sum(r.timing["forward_s"] for r in runs)
    return {
        "schema": SCHEMA,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "config_hash": config.digest(),
        "environment": provenance.environment(device),
        "protocols": {name: dataclasses.asdict(PROTOCOLS[name]) for name in config.protocols},
        "metrics": scorer.describe(),
        "timing": {"wall_s": wall_s, "forward_s": forward_s, "overhead_fraction": 1 - forward_s / wall_s},
        "runs": [r.to_dict() for r in runs],
    }


def _check_ground_truth(datasets: Sequence[data.Dataset]) -> None:
    for dataset in datasets:
        missing = [s.name for s in dataset.samples if s.clean is None]
        if missing:
            raise BenchError(
                f"{dataset.name}: {len(missing)} image(s) have no ground truth (e.g. {missing[0]}); "
                "PSNR and SSIM need it"
            )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _run_one(
    method: DerainMethod, dataset: data.Dataset, scorer: Scorer, limit: int | None, progress: bool
) -> RunResult:
    samples = dataset.samples[:limit] if limit else dataset.samples
    checksums = dataset.file_checksums()
    result = RunResult(
        method=method.spec.describe(),
        dataset=dataset.describe(),
        columns=list(scorer.columns),
        limited_to=limit if limit and limit < len(dataset.samples) else None,
    )
    forward_s = load_s = score_s = 0.0
    started = time.perf_counter()
    bar = tqdm(samples, desc=f"{method.spec.name} / {dataset.name}", unit="img", disable=not progress, leave=False)
    for sample in bar:
        t0 = time.perf_counter()
        rainy, clean = data.load_pair(sample)
        x = method.to_input(rainy)
        _synchronize(method.device)
        t1 = time.perf_counter()
        with torch.inference_mode():
            y = method.forward(x)
        _synchronize(method.device)
        t2 = time.perf_counter()
        derained = method.to_output(y)
        t3 = time.perf_counter()
        scores = scorer(derained, clean)
        t4 = time.perf_counter()
        forward_s += t2 - t1
        load_s += (t1 - t0) + (t3 - t2)
        score_s += t4 - t3
        rainy_sha, clean_sha = checksums[sample.name]
        result.rows.append(
            {
                "image": sample.name,
                "height": rainy.shape[0],
                "width": rainy.shape[1],
                "rainy_sha256": rainy_sha,
                "clean_sha256": clean_sha,
                "forward_ms": 1000 * (t2 - t1),
                **scores,
            }
        )
    result.timing = {
        "wall_s": time.perf_counter() - started,
        "forward_s": forward_s,
        "load_and_convert_s": load_s,
        "score_s": score_s,
    }
    return result
