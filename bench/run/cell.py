"""One method on one dataset, as a pipeline: decode ahead, the model in the calling thread, score behind.

    decode + validate (pool)  ->  to_input, forward, finite check (this thread)  ->  quantise, score, keep (pool)

With `workers` threads, decoding runs up to 2 x workers images ahead of the model and scoring up to 2 x workers
behind it, so the model's device waits for neither while cores are free (Pillow, NumPy, SciPy and torch release
the GIL in their heavy loops). Every image is scored on its own, and rows are collected in the order of the
samples, so the numbers and their order are the same for any number of workers; `workers=0` runs each step in
series in this thread. `batch_size` > 1 puts consecutive images of one size through the network together (a
batch ends at a change of size); whether that changes any output pixel is measured per method, and a batched
run's published comparison is withheld (bench.results.schema).

Rows an interrupted attempt recorded in the journal are reused when their input checksums are unchanged and
what the output sink kept for them is intact; only the other images are computed, and each is journaled.
"""

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from bench import data
from bench.common.errors import BenchError
from bench.methods.contract import DerainMethod
from bench.methods.outputs import OutputsMethod
from bench.methods.registry import INFERENCE_PROTOCOLS, parse_method_name
from bench.metrics import Scorer
from bench.results.schema import RunResult
from bench.run.journal import Journal


@dataclass(frozen=True)
class ScoredImage:
    """One image as the runner scored it: uint8 RGB arrays exactly as decoded and as quantised."""

    method: str
    dataset: str
    sample: data.Sample
    rainy: np.ndarray
    derained: np.ndarray
    clean: np.ndarray | None  # the ground truth it was scored against, None without one


class OutputSink(Protocol):
    """Receives every scored image (to save it, for instance); the fields it returns are added to the image's row."""

    def __call__(self, scored: ScoredImage) -> dict | None: ...

    def adopt(self, method: str, dataset: str, image: str, row: dict) -> bool:
        """Whether what this sink kept for `row` in an interrupted attempt of the run is there, intact, and
        now counts as kept (a resumed run reuses the row only then)."""
        ...


@dataclass(frozen=True)
class _Decoded:
    sample: data.Sample
    rainy: np.ndarray
    clean: np.ndarray | None
    seconds: float
    output: np.ndarray | None = None  # a method of kind "outputs": its file, decoded


@dataclass(frozen=True)
class _Scored:
    row: dict
    decode_s: float
    score_s: float  # quantising, scoring and keeping


@dataclass
class Cell:
    """One method on one dataset: `run` scores its images (or takes them from the journal) into a RunResult."""

    method: DerainMethod | OutputsMethod
    dataset: data.Dataset
    scorer: Scorer
    on_output: OutputSink | None = None
    journal: Journal | None = None
    workers: int = 0
    batch_size: int = 1
    shard: tuple[int, int] | None = None  # (rank, world size) under torchrun: the images i with i % world == rank
    merge: bool = False  # every image from the journals of the ranks, exactly once; none computed here

    def run(self, limit: int | None, progress: bool, log: Callable[[str], None]) -> RunResult:
        samples = self.dataset.samples[:limit] if limit else self.dataset.samples
        self._checksums = self.dataset.file_checksums()
        has_ground_truth = all(sample.clean is not None for sample in samples)
        result = RunResult(
            method=self.method.describe(),
            dataset=self.dataset.describe(),
            columns=self.scorer.columns if has_ground_truth else self.scorer.no_reference_columns,
            limited_to=limit if limit and limit < len(self.dataset.samples) else None,
            non_finite_rules=self.scorer.non_finite_rules,
            batch_size=self.batch_size,
        )
        done = self._reusable(samples, log)
        if self.merge:
            self._check_merged(samples, done)
        mine = [sample for index, sample in enumerate(samples) if self._in_shard(index)]
        pending = [sample for sample in mine if sample.name not in done]
        reused = len(mine) - len(pending)
        self._forward_s = self._decode_s = self._score_s = 0.0
        started = time.perf_counter()
        computed: dict[str, dict] = {}
        name = f"{self.method.spec.name} / {self.dataset.name}"
        with tqdm(total=len(mine), initial=reused, desc=name, unit="img", disable=not progress, leave=False) as bar:
            for row in self._rows(pending):
                computed[row["image"]] = row
                if self.journal is not None:
                    self.journal.record(self.method.spec.name, self.dataset.name, row)
                bar.update()
        result.rows = [done.get(sample.name) or computed[sample.name] for sample in mine]
        if self.merge:  # the ranks timed their forward passes: the sum of their per-image times
            self._forward_s = sum(row["forward_ms"] or 0.0 for row in result.rows) / 1000
        result.timing = {
            "wall_s": time.perf_counter() - started,
            "forward_s": self._forward_s,
            # summed over the worker threads: with workers, these overlap the forward passes and each other
            "load_and_convert_s": self._decode_s,
            "score_s": self._score_s,
            "resumed_images": reused,  # rows taken from the journals (an interrupted attempt, or the ranks): untimed
            "workers": self.workers,
        }
        return result

    # ---- the pipeline ------------------------------------------------------------------------------------------

    def _rows(self, pending: list[data.Sample]) -> Iterator[dict]:
        """The rows of `pending`, in order: decoding ahead of the model, scoring behind it."""
        window = max(2 * self.workers, self.batch_size, 1)
        with _pool(self.workers) as pool:
            upcoming = iter(pending)
            decoding: deque[Future] = deque()
            scoring: deque[Future] = deque()

            def decode_ahead() -> None:
                while len(decoding) < window and (sample := next(upcoming, None)) is not None:
                    decoding.append(pool.submit(self._decode, sample))

            decode_ahead()
            while decoding:
                batch = [decoding.popleft().result()]
                decode_ahead()
                while len(batch) < self.batch_size and decoding and _same_size(decoding[0].result(), batch[0]):
                    batch.append(decoding.popleft().result())
                    decode_ahead()
                produced = self._forward(batch) if self.method.kind == "network" else _read(batch)
                for decoded, output, forward_ms in produced:
                    scoring.append(pool.submit(self._score, decoded, output, forward_ms))
                while scoring and (len(scoring) > window or scoring[0].done()):
                    yield self._collect(scoring.popleft())
            while scoring:
                yield self._collect(scoring.popleft())

    def _decode(self, sample: data.Sample) -> _Decoded:
        started = time.perf_counter()
        rainy, clean = data.load_pair(sample)
        output = self.method.read_output(sample) if self.method.kind == "outputs" else None
        return _Decoded(sample, rainy, clean, time.perf_counter() - started, output)

    def _forward(self, batch: list[_Decoded]) -> list[tuple[_Decoded, torch.Tensor, float]]:
        """Each image of `batch` with its output (1 x C x H x W, on the device) and its share of the forward time."""
        method = self.method
        x = torch.cat([method.to_input(decoded.rainy) for decoded in batch])
        _synchronize(method.device)
        started = time.perf_counter()
        with torch.inference_mode():
            try:
                y = method.forward(x)
            except torch.OutOfMemoryError as exc:
                raise BenchError(_out_of_memory(method, self.dataset, batch[0].sample.name, x.shape)) from exc
        _synchronize(method.device)
        seconds = time.perf_counter() - started
        self._forward_s += seconds
        outputs = y.split(1)
        for decoded, output in zip(batch, outputs, strict=True):
            # a NaN or inf anywhere makes the float64 sum NaN or inf; finite float32 values cannot overflow it
            if not bool(torch.isfinite(output.sum(dtype=torch.float64))):
                raise BenchError(
                    f"{method.spec.name} gave a non-finite output (NaN or inf) on {self.dataset.name}/"
                    f"{decoded.sample.name}; nothing is scored from it, and no results were written: check the "
                    "method's weights (a NaN in a --weights file does this)"
                )
        return [(decoded, output, 1000 * seconds / len(batch)) for decoded, output in zip(batch, outputs, strict=True)]

    def _score(self, decoded: _Decoded, output: torch.Tensor | np.ndarray, forward_ms: float | None) -> _Scored:
        started = time.perf_counter()
        method, sample = self.method, decoded.sample
        derained = output if isinstance(output, np.ndarray) else method.to_output(output)
        scores = self.scorer(derained, decoded.clean)
        kept = None
        if self.on_output is not None:
            scored = ScoredImage(method.spec.name, self.dataset.name, sample, decoded.rainy, derained, decoded.clean)
            kept = self.on_output(scored)
        rainy_sha, clean_sha = self._checksums[sample.name]
        row = {
            "image": sample.name,
            "height": decoded.rainy.shape[0],
            "width": decoded.rainy.shape[1],
            "rainy_sha256": rainy_sha,
            "clean_sha256": clean_sha,
            "forward_ms": forward_ms,
            **method.recorded(sample),
            **scores,
            **(kept or {}),
        }
        return _Scored(row, decoded.seconds, time.perf_counter() - started)

    def _collect(self, future: Future) -> dict:
        scored = future.result()
        self._decode_s += scored.decode_s
        self._score_s += scored.score_s
        return scored.row

    # ---- resuming, and merging the ranks' journals ------------------------------------------------------------

    def _in_shard(self, index: int) -> bool:
        return self.shard is None or index % self.shard[1] == self.shard[0]

    def _check_merged(self, samples: tuple[data.Sample, ...], done: dict[str, dict]) -> None:
        method, dataset = self.method.spec.name, self.dataset.name
        missing = [sample.name for sample in samples if sample.name not in done]
        twice = sorted(image for m, d, image in self.journal.duplicates if (m, d) == (method, dataset))
        if missing or twice:
            found = []
            if missing:
                found.append(f"{len(missing)} image(s) in no rank's journal ({', '.join(missing[:5])})")
            if twice:
                found.append(f"{len(twice)} in more than one ({', '.join(twice[:5])})")
            raise BenchError(
                f"merging the ranks' journals of {method}/{dataset}: {' and '.join(found)}; every image must be "
                "scored exactly once: run the same command again to resume"
            )

    def _reusable(self, samples: tuple[data.Sample, ...], log: Callable[[str], None]) -> dict[str, dict]:
        """The journal's rows of this cell whose input checksums are unchanged (and whose kept images are intact)."""
        if self.journal is None:
            return {}
        method, dataset = self.method.spec.name, self.dataset.name
        recorded = self.journal.done.get((method, dataset), {})
        reusable, changed = {}, []
        for sample in samples:
            row = recorded.get(sample.name)
            if row is None:
                continue
            same_inputs = (row["rainy_sha256"], row["clean_sha256"]) == self._checksums[sample.name] and all(
                row.get(key) == value for key, value in self.method.recorded(sample).items()
            )
            kept = self.on_output is None or self.on_output.adopt(method, dataset, sample.name, row)
            if same_inputs and kept:
                reusable[sample.name] = row
            else:
                changed.append(sample.name)
        if reusable and self.merge:
            log(f"merging the ranks' journals: {len(reusable)} of {len(samples)} images of {method}/{dataset}")
        elif reusable:
            log(f"resuming: {len(reusable)} of {len(samples)} images of {method}/{dataset} already done")
        if changed:
            log(
                f"warning: {method}/{dataset}: {len(changed)} journaled image(s) computed again, their files changed "
                f"since: {', '.join(changed[:5])}"
            )
        return reusable


def default_workers(device: torch.device) -> int:
    """`--workers` by default: the CPU cores this process may run on (its affinity mask) that the model does not
    use, i.e. all of them for a CUDA model, and those beyond torch's intra-op threads for a CPU model. (On a 2-core
    CPU, two scoring threads beside PReNet's two torch threads slow its forward passes by 9%, more than the
    scoring they overlap.)"""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores if device.type == "cuda" else max(0, cores - torch.get_num_threads())


def _read(batch: list[_Decoded]) -> list[tuple[_Decoded, np.ndarray, None]]:
    """A method of kind "outputs" has no forward pass and no forward time: its outputs were decoded with the inputs."""
    return [(decoded, decoded.output, None) for decoded in batch]


def _same_size(a: _Decoded, b: _Decoded) -> bool:
    return a.rainy.shape == b.rainy.shape


class _InSeries:
    """A stand-in for an executor that runs each job at once, in the calling thread (`workers=0`)."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # re-raised by result(), where a pool's future would raise it
            future.set_exception(exc)
        return future


@contextmanager
def _pool(workers: int) -> Iterator[ThreadPoolExecutor | _InSeries]:
    if workers == 0:
        yield _InSeries()
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-cell")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # after a failure: drop what has not started


def _out_of_memory(method: DerainMethod, dataset: data.Dataset, image: str, shape: tuple[int, ...]) -> str:
    arch = parse_method_name(method.spec.name)[0]
    remedy = "run with --device cpu"
    if shape[0] > 1:
        remedy = f"run with a smaller --batch-size (this batch held {shape[0]} images), or with --device cpu"
    if "tiled" in INFERENCE_PROTOCOLS.get(arch, ()):
        remedy += f", or use its tiled inference (--methods {arch}@tiled)"
    return (
        f"{method.spec.name} ran out of {method.device.type.upper()} memory on {dataset.name}/{image} "
        f"({shape[-1]}x{shape[-2]} pixels); no results were written: {remedy}"
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
