"""Train/test overlap: clean training images that are also clean images of an evaluation set.

Copies of the standard sets rename and renumber files and crop a pixel row and column (the mirrored Rain100L
sample and Rain12 are 480x320 crops of 481x321 originals), so files are compared by a perceptual hash of the
image, not by name or checksum: the 64-bit DCT hash (pHash) of the BT.601 luma, averaged down to 32 x 32: the
signs of the 8 x 8 lowest-frequency DCT-II coefficients against their median. Two images overlap when their
hashes differ in at most OVERLAP_THRESHOLD bits.

The threshold, from the mirrored data (tests/reference/test_msdr_leakage_on_mirror.py): the 10 Rain100L
sample images are pixel-exact crops of Rain100H images and hash 0-2 bits away from them; distinct images are
never closer than 16 bits (16 between Rain12 and Rain100H, 18 within Rain100H's 91 distinct backgrounds,
22 within Rain12 and within the Rain100L sample). 8 bits leaves a margin of 6 above the crops and of 8 below
the closest distinct pair.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bench.common.errors import BenchError
from bench.data import Dataset, load_pair

OVERLAP_THRESHOLD = 8
_GREY = np.array([0.299, 0.587, 0.114])
_HASH_SIDE = 8  # 8 x 8 coefficients = 64 bits
_DCT_INPUT = 32


def _dct_rows(n: int, keep: int) -> np.ndarray:
    """The first `keep` rows of the n-point DCT-II matrix (unnormalised; signs against a median need no scale)."""
    k = np.arange(keep)[:, None]
    return np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n))


def perceptual_hash(image: np.ndarray) -> np.ndarray:
    """64-bit DCT hash of a uint8 H x W x 3 RGB image, as 64 booleans."""
    grey = (image.astype(np.float64) @ _GREY).astype(np.float32)
    small = np.asarray(Image.fromarray(grey).resize((_DCT_INPUT, _DCT_INPUT), Image.Resampling.BOX), dtype=np.float64)
    dct = _dct_rows(_DCT_INPUT, _HASH_SIDE)
    low = (dct @ small @ dct.T).ravel()
    return low > np.median(low)


def clean_hashes(dataset: Dataset) -> np.ndarray:
    """len(samples) x 64 booleans: the hash of every clean image."""
    hashes = []
    for sample in dataset.samples:
        _, clean = load_pair(sample)
        if clean is None:
            raise BenchError(f"{dataset.name}: sample {sample.name} has no clean image to compare")
        hashes.append(perceptual_hash(clean))
    return np.array(hashes, dtype=bool).reshape(len(hashes), 64)


def hamming_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """len(a) x len(b) bit differences between two sets of boolean hashes."""
    a, b = a.astype(np.int32), b.astype(np.int32)
    return a @ (1 - b).T + (1 - a) @ b.T


@dataclass(frozen=True)
class Overlap:
    train_dataset: str
    train_sample: str
    eval_dataset: str
    eval_sample: str
    distance: int

    def describe(self) -> str:
        return (
            f"{self.train_dataset}/{self.train_sample} ~ {self.eval_dataset}/{self.eval_sample} ({self.distance} bits)"
        )


def find_overlaps(
    train: Sequence[Dataset], evaluation: Sequence[Dataset], threshold: int = OVERLAP_THRESHOLD
) -> list[Overlap]:
    """Every (training, evaluation) pair of clean images whose hashes are at most `threshold` bits apart."""
    eval_hashes = [(dataset, clean_hashes(dataset)) for dataset in evaluation]
    overlaps = []
    for train_set in train:
        train_hashes = clean_hashes(train_set)
        for eval_set, hashes in eval_hashes:
            distances = hamming_distances(train_hashes, hashes)
            for i, j in zip(*np.nonzero(distances <= threshold), strict=True):
                overlaps.append(
                    Overlap(
                        train_set.name,
                        train_set.samples[i].name,
                        eval_set.name,
                        eval_set.samples[j].name,
                        int(distances[i, j]),
                    )
                )
    return overlaps


def summarise(overlaps: Sequence[Overlap], shown: int = 5) -> str:
    """One line: how many pairs, and the first `shown` of them."""
    more = f", ... ({len(overlaps) - shown} more)" if len(overlaps) > shown else ""
    return f"{len(overlaps)} overlapping clean image pair(s): {', '.join(o.describe() for o in overlaps[:shown])}{more}"
