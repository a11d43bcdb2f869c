"""The one orchestrator: a run config in, scored results out.

Everything that can fail because of user input (names, metric backends, datasets, pairing, image headers,
weights) is resolved before the first forward pass, so a bad run fails in seconds and writes nothing.
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

from bench import data
from bench.common.assets import Store
from bench.common.errors import BenchError, Problems
from bench.data.overlap import training_overlap
from bench.methods.contract import DerainMethod
from bench.methods.outputs import DeclaredOutputs, OutputsMethod
from bench.methods.registry import (
    METHODS,
    build_method,
    default_names,
    parse_method_name,
    resolve_method_names,
)
from bench.metrics import PROTOCOLS, Scorer, make_scorer
from bench.results.schema import SCHEMA, RunResult
from bench.run import provenance
from bench.run.cell import Cell, OutputSink, default_workers
from bench.run.journal import Journal

DEMO_DATASET = "demo"


@dataclass(frozen=True)
class ProfileConfig:
    """Complexity measurements per method x dataset (`--profile`); see `bench.run.profile`."""

    warmup: int = 3
    runs: int = 20
    amp: str | None = None  # "bf16" / "fp16": autocast during the latency passes
    channels_last: bool = False


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides the numbers of a run (where files live and go does not)."""

    methods: tuple[str, ...]
    datasets: tuple[str, ...] = ()  # empty: the built-in demo set, or the --dataset-dir folder
    dataset_dir: str | None = None
    rainy_dir: str | None = None  # with clean_dir: two folders paired by file name (instead of a dataset_dir)
    clean_dir: str | None = None
    ground_truth: bool = True  # False: --dataset-dir holds rainy images only (no-reference metrics)
    metrics: tuple[str, ...] = ("psnr", "ssim")
    protocols: tuple[str, ...] = ("matlab-double",)
    skip_unavailable_metrics: bool = False
    limit: int | None = None
    device: str = "auto"
    threads: int | None = None  # CPU threads for torch (default: torch's choice, recorded either way)
    seed: int = 0
    allow_incomplete: bool = False
    # (method name without @protocol, weights file) pairs: the file replaces that method's declared weights
    weights: tuple[tuple[str, str], ...] = ()
    profile: ProfileConfig | None = None
    batch_size: int = 1  # images of one size through the network together (bench.run.cell); 1 as published numbers
    outputs: DeclaredOutputs | None = None  # `bench score`: a folder of outputs scored as a method (no --methods)

    def __post_init__(self) -> None:
        """Checks the settings and writes bare architecture names as the methods they stand for."""
        if not self.methods and self.outputs is None:
            raise BenchError("no method given; pass --methods, e.g. --methods prenet.rain100h,identity")
        if self.outputs is not None:
            _check_outputs_config(self)
        asked = self.methods
        problems = Problems()
        with problems.check():
            object.__setattr__(self, "methods", resolve_method_names(self.methods))
        with problems.check():
            data.check_dataset_names(self.datasets)
        problems.raise_any()
        _named_once("--methods", asked, self.methods)
        _named_once("--datasets", self.datasets, self.datasets)
        defaults = default_names()
        weights = tuple((defaults.get(name, name), path) for name, path in self.weights)
        object.__setattr__(self, "weights", weights)
        known = {parse_method_name(name)[0] for name in self.methods}
        if unknown := [name for name, _ in self.weights if name not in known]:
            raise BenchError(f"--weights given for {', '.join(unknown)}, which is not among --methods")
        if self.limit is not None and self.limit < 1:
            raise BenchError(f"--limit must be a positive number of images, got {self.limit}")
        if (self.rainy_dir is None) != (self.clean_dir is None):
            raise BenchError("--rainy-dir and --clean-dir go together: pass both, or --dataset-dir for one folder")
        if self.rainy_dir is not None and self.dataset_dir is not None:
            raise BenchError("pass either --dataset-dir or --rainy-dir with --clean-dir, not both")
        folder = self.dataset_dir or self.rainy_dir
        if folder is not None and len(self.datasets) > 1:
            raise BenchError("a folder run scores one dataset: give at most one --datasets name (its card)")
        if not self.ground_truth and (self.dataset_dir is None or self.datasets):
            raise BenchError("--no-ground-truth scores a folder of rainy images: pass --dataset-dir, no --datasets")
        if self.batch_size < 1:
            raise BenchError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.threads is not None and self.threads < 1:
            raise BenchError(f"--threads must be at least 1, got {self.threads}")
        if self.profile is not None and (self.profile.runs < 1 or self.profile.warmup < 0):
            raise BenchError("--profile-runs must be at least 1 and --profile-warmup at least 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict) -> "RunConfig":
        """The config whose `to_dict` gave `fields`, read back from JSON (where tuples became lists)."""
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in fields.items()}
        values["weights"] = tuple(tuple(pair) for pair in fields.get("weights", ()))
        if fields.get("profile"):
            values["profile"] = ProfileConfig(**fields["profile"])
        if fields.get("outputs"):
            declared = fields["outputs"]
            values["outputs"] = DeclaredOutputs(**{**declared, "trained_on": tuple(declared.get("trained_on", ()))})
        return cls(**values)

    def digest(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _check_outputs_config(config: RunConfig) -> None:
    """A folder of outputs is one method on one dataset, scored as it is."""
    name = config.outputs.name
    if config.methods:
        raise BenchError("score a folder of outputs on its own: --methods does not go with it")
    if len(config.datasets) != 1 and config.clean_dir is None:
        raise BenchError("a folder of outputs belongs to one set: pass --dataset NAME, or --rainy-dir and --clean-dir")
    if not name or any(character in name for character in "/@:,") or name != name.strip():
        raise BenchError(f"--name {name!r}: name the outputs with letters, digits, '.', '-' or '_' (e.g. --name mynet)")
    if name in METHODS or name in default_names():
        raise BenchError(f"--name {name} is a registered method; name your outputs differently (e.g. {name}-outputs)")
    if config.profile is not None or config.batch_size != 1 or config.weights:
        raise BenchError("--profile, --batch-size and --weights apply to networks, not to a folder of outputs")


def _named_once(option: str, asked: Sequence[str], names: Sequence[str]) -> None:
    """A method or dataset named twice would run twice under one name: refused, not silently de-duplicated."""
    if twice := sorted({name for name in names if names.count(name) > 1}):
        aliases = f" ({', '.join(asked)} stand for {', '.join(names)})" if tuple(asked) != tuple(names) else ""
        raise BenchError(f"{', '.join(twice)} named more than once in {option}{aliases}; name each once")


def open_datasets(config: RunConfig, store: Store, problems: Problems) -> list[data.Dataset]:
    """The datasets of `config`; the problem of each one that cannot be opened is added to `problems`."""
    if config.rainy_dir is not None:
        card = data.load_card(config.datasets[0]) if config.datasets else None
        rainy, clean = Path(config.rainy_dir), Path(config.clean_dir)
        openers = [lambda: data.open_folder_pair(rainy, clean, card=card, allow_incomplete=config.allow_incomplete)]
    elif config.dataset_dir is not None:
        folder = Path(config.dataset_dir)
        if not config.ground_truth:
            openers = [lambda: data.open_rainy_folder(folder)]
        else:
            card = data.load_card(config.datasets[0]) if config.datasets else None
            openers = [lambda: data.open_folder(folder, card=card, allow_incomplete=config.allow_incomplete)]
    else:
        names = config.datasets or (DEMO_DATASET,)
        openers = [
            lambda name=name: data.open_dataset(name, store, allow_incomplete=config.allow_incomplete) for name in names
        ]
    datasets = []
    for opener in openers:
        with problems.check():
            datasets.append(opener())
    return datasets


def run(
    config: RunConfig,
    store: Store,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_output: OutputSink | None = None,
    journal: Journal | None = None,
    workers: int | None = None,
    device: torch.device | None = None,
    shard: tuple[int, int] | None = None,
    merge: bool = False,
) -> dict:
    """Run every method on every dataset and return the results document (see `bench.results.schema`).

    `on_output`, when given, receives every image as it is scored (to save it, for instance); the fields it
    returns are recorded in the image's row. With a `journal`, every row is recorded in it as it is made, and
    the rows it already holds from an interrupted attempt are reused where their input checksums (and what
    `on_output` kept) are unchanged: only the missing images are computed. `workers` threads decode ahead of the
    model and score behind it (bench.run.cell; default: the cores the model does not use); the numbers do not depend
    on how many. Under torchrun (bench.run.folder) each rank runs its `shard` (rank, world size) of every cell on
    its `device`, and the merging rank (`merge`) then takes every row from the ranks' journals and profiles.
    """
    started = time.perf_counter()
    methods = [build_method(name) for name in config.methods]
    if config.outputs is not None:
        methods.append(OutputsMethod(config.outputs))
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = provenance.resolve_device(config.device) if device is None else device
    workers = default_workers(device) if workers is None else workers
    environment = provenance.environment(device)  # before any work: the commit and tree that the code came from
    problems = Problems()  # metrics, datasets and weights are checked independently and reported together
    scorer = None
    with problems.check():
        scorer = make_scorer(
            config.metrics,
            config.protocols,
            device=device,
            store=store,
            skip_unavailable=config.skip_unavailable_metrics,
        )
    datasets = open_datasets(config, store, problems)
    for method in methods:
        if isinstance(method, OutputsMethod) and datasets:
            with problems.check(prefix=f"{method.spec.name}: "):
                datasets = [
                    method.bind(d, limit=config.limit, allow_incomplete=config.allow_incomplete) for d in datasets
                ]
    if scorer is not None:
        with problems.check():
            _check_ground_truth(datasets, scorer)
    provenance.seed_everything(config.seed)
    environment["deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()  # now set
    user_weights = {name: Path(path) for name, path in config.weights}
    for method in methods:  # all weights loaded before any forward pass
        with problems.check(prefix=f"{method.spec.name}: "):
            method.prepare(store, device, weights=user_weights.get(parse_method_name(method.spec.name)[0]))
    problems.raise_any()
    for column, reason in scorer.skipped.items():
        log(f"warning: {column} skipped: {reason}")
    for dataset in datasets:
        for warning in dataset.warnings():  # recorded in the results too, with the dataset
            log(f"warning: {dataset.name}: {warning}")
    for method in methods:
        for warning in method.warnings:  # recorded with the method
            log(f"warning: {method.spec.name}: {warning}")

    runs = []
    for method in methods:
        for dataset in datasets:
            provenance.seed_everything(config.seed)  # each cell is independent of the order of the others
            log(f"{method.spec.name} on {dataset.name} ({device.type})")
            overlap = training_overlap(method.describe(), dataset.describe())
            if overlap:
                log(f"warning: {method.spec.name} on {dataset.name} scores training images: {overlap}")
            cell = Cell(method, dataset, scorer, on_output, journal, workers, config.batch_size, shard, merge)
            result = cell.run(config.limit, progress, log)
            result.training_overlap = overlap
            if config.profile is not None and shard is None:
                log(f"profiling {method.spec.name} at {dataset.name}'s image size")
                _profile(method, result, config.profile, config.seed)
            runs.append(result)

    return {
        "schema": SCHEMA,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "config_hash": config.digest(),
        "environment": environment,
        "protocols": {name: dataclasses.asdict(PROTOCOLS[name]) for name in config.protocols},
        "metrics": scorer.describe(),
        "metrics_skipped": scorer.skipped,
        "timing": _timing_summary(time.perf_counter() - started, runs),
        "runs": [r.to_dict() for r in runs],
    }


def _check_ground_truth(datasets: Sequence[data.Dataset], scorer: Scorer) -> None:
    for dataset in datasets:
        missing = [s.name for s in dataset.samples if s.clean is None]
        if missing and scorer.reference_columns:
            raise BenchError(
                f"{dataset.name}: {len(missing)} image(s) have no ground truth (e.g. {missing[0]}), which "
                f"{', '.join(scorer.reference_columns)} need; score it with no-reference metrics (--metrics niqe)"
            )


def _profile(method: DerainMethod, result: RunResult, settings: ProfileConfig, seed: int) -> None:
    """Complexity at the dataset's image sizes (latency and memory at the first image's size)."""
    from bench.run.profile import profile_method, summary_columns  # only imported when asked for

    sizes = list(dict.fromkeys((row["height"], row["width"]) for row in result.rows))
    started = time.perf_counter()
    result.profile = profile_method(
        method,
        sizes,
        warmup=settings.warmup,
        runs=settings.runs,
        amp=settings.amp,
        channels_last=settings.channels_last,
        seed=seed,
    )
    result.profile_summary = summary_columns(result.profile)
    result.timing["profile_s"] = time.perf_counter() - started


def _timing_summary(wall_s: float, runs: Sequence[RunResult]) -> dict:
    """Where the run's wall time went: the model's forward passes, scoring, profiling, and the rest."""
    forward_s = sum(r.timing["forward_s"] for r in runs)
    score_s = sum(r.timing["score_s"] for r in runs)
    profile_s = sum(r.timing.get("profile_s", 0.0) for r in runs)
    return {
        "wall_s": wall_s,
        "forward_s": forward_s,
        "score_s": score_s,
        "profile_s": profile_s,
        "score_fraction": score_s / wall_s,
        "overhead_fraction": 1 - (forward_s + profile_s) / wall_s,  # the harness: everything but the model
    }
