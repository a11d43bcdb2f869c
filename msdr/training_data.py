"""Training pairs -> network tensors, and the order in which each process sees them.

Sampling modes (one S x S rainy/clean pair per item, BGR in [-1, 1]; S is the model's `image_size`):
- "resize" (the paper's recipe, default): the whole image resized to S x S as the official script does
  (`msdr.preprocess.resize_uint8`, aspect ratio ignored); no augmentation.
- "crop" (a derain-bench addition, not in the paper): a random S x S window at native resolution, the same
  for both images, mirrored left-right half of the time when `flip` is set. Meant for small variants trained
  on a CPU and evaluated at native resolution by tiling; every image must be at least S x S.

Synthetic rain (`synthetic_rain` = p > 0, a derain-bench addition): with probability p the rainy image of a
pair is replaced by the clean image under one layer of the demo set's light rain (`bench.data.demo.add_rain` with
`Streaks.draw`), drawn after cropping (before resizing) from the same per-item generator.

Order (`ShardedOrder`), as torch's DistributedSampler: epoch e visits a permutation of the samples drawn from
(seed, e), padded by repeating its start to a multiple of the world size; process r takes positions r, r + W,
r + 2W, ... So one optimizer step consumes W samples (the effective batch) and an epoch has ceil(n / W) steps.
Crops, flips and synthetic rain are drawn from (seed, epoch, position). Nothing is drawn from a running
generator, so the global step alone says which pair, window and flip a process sees: resuming needs no
data-generator state, and the number of loader workers cannot change the data.
"""

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from bench.common.errors import BenchError
from bench.data import Sample, load_pair
from bench.data.images import inspect_image
from msdr.preprocess import resize_uint8, to_network

SAMPLING_MODES = ("resize", "crop")
_SHOWN = 5

Item = tuple[int, int, int]  # (sample index, epoch, position in the epoch's padded order)


def steps_per_epoch(n_samples: int, world_size: int) -> int:
    return math.ceil(n_samples / world_size)


def epoch_order(n_samples: int, seed: int, epoch: int, world_size: int) -> np.ndarray:
    """The padded sample order of one epoch, shared by every process."""
    order = np.random.default_rng((seed, epoch)).permutation(n_samples)
    padded = steps_per_epoch(n_samples, world_size) * world_size
    return np.resize(order, padded)  # repeats the start, as DistributedSampler pads


class ShardedOrder(Sampler[Item]):
    """The items one process trains on for global steps `start` (included) to `stop` (excluded)."""

    def __init__(self, n_samples: int, seed: int, world_size: int, rank: int, start: int, stop: int):
        self.n_samples, self.seed, self.world_size, self.rank = n_samples, seed, world_size, rank
        self.start, self.stop = start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[Item]:
        per_epoch = steps_per_epoch(self.n_samples, self.world_size)
        order, order_epoch = None, None
        for step in range(self.start, self.stop):
            epoch, slot = divmod(step, per_epoch)
            if epoch != order_epoch:
                order, order_epoch = epoch_order(self.n_samples, self.seed, epoch, self.world_size), epoch
            position = slot * self.world_size + self.rank
            yield int(order[position]), epoch, position


class TrainingPairs(Dataset):
    """Map-style dataset over `samples`, indexed by `Item`s; returns (rainy, clean, sample index).

    `cache` keeps every decoded pair in memory (about 0.9 MB per 481 x 321 pair), which saves ~35 ms of PNG
    decoding and checking per step; worth it for small models and small datasets.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        image_size: int,
        sampling: str,
        *,
        seed: int,
        flip: bool = False,
        synthetic_rain: float = 0.0,
        cache: bool = False,
    ):
        if sampling not in SAMPLING_MODES:
            raise BenchError(f"unknown sampling mode {sampling!r}; choose from {', '.join(SAMPLING_MODES)}")
        self.samples = tuple(samples)
        self.image_size, self.sampling, self.seed = image_size, sampling, seed
        self.flip, self.synthetic_rain = flip, synthetic_rain
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: Item) -> tuple[torch.Tensor, torch.Tensor, int]:
        index, epoch, position = item
        rainy, clean = self._pair(index)
        rng = np.random.default_rng((self.seed, epoch, position))
        if self.sampling == "crop":
            rainy, clean = self._crop(rainy, clean, rng)
        if self.synthetic_rain and rng.random() < self.synthetic_rain:
            from bench.data.demo import Streaks, add_rain  # imports scikit-image: only when asked for

            rainy = add_rain(np.ascontiguousarray(clean), Streaks.draw(rng), rng)
        if self.sampling == "resize":
            rainy, clean = resize_uint8(rainy, self.image_size), resize_uint8(clean, self.image_size)
        return to_network(rainy), to_network(clean), index

    def _pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        rainy, clean = load_pair(self.samples[index])
        if clean is None:
            raise BenchError(f"training sample {self.samples[index].name} has no clean image")
        if self._cache is not None:
            self._cache[index] = rainy, clean
        return rainy, clean

    def _crop(self, rainy: np.ndarray, clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.image_size
        height, width = rainy.shape[:2]
        top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
        window = (slice(top, top + size), slice(left, left + size))
        rainy, clean = rainy[window], clean[window]
        if self.flip and rng.random() < 0.5:
            rainy, clean = rainy[:, ::-1], clean[:, ::-1]
        return rainy, clean


def check_min_size(samples: Sequence[Sample], image_size: int, what: str, hint: str) -> None:
    """Refuse, before training starts, images smaller than one S x S window (read from the file headers)."""
    small = []
    for sample in samples:
        header = inspect_image(sample.rainy)
        width, height = header.width, header.height
        if sample.half is not None:
            width //= 2
        if min(width, height) < image_size:
            small.append(f"{sample.name} ({width}x{height})")
    if small:
        more = f", ... ({len(small) - _SHOWN} more)" if len(small) > _SHOWN else ""
        raise BenchError(
            f"{what}: {len(small)} image(s) smaller than the {image_size}x{image_size} window: "
            f"{', '.join(small[:_SHOWN])}{more}; {hint}"
        )
