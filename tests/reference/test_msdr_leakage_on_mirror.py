"""The overlap check on the mirrored data: the Rain100L sample's backgrounds are Rain100H's, Rain12's are not.

The 10 Rain100L sample pairs are renumbered 480x320 crops; each must be matched to the Rain100H image it was
cropped from, which is checked pixel by pixel (the top-left crop of the matched 481x321 image equals it).
Rain100H repeats nine of its clean backgrounds (norain-3/4 byte for byte; 5/14, 6/25, 7/36, 8/47, 9/58, 10/69,
11/80 and 12/91 pixel for pixel under other rain), so a sample image may match two Rain100H images.
"""

import numpy as np
import pytest

from bench.common.assets import Store
from bench.data import load_pair, open_dataset
from msdr.leakage import OVERLAP_THRESHOLD, clean_hashes, find_overlaps, hamming_distances

pytestmark = pytest.mark.reference

RAIN100H_REPEATS = {(3, 4), (5, 14), (6, 25), (7, 36), (8, 47), (9, 58), (10, 69), (11, 80), (12, 91)}


@pytest.fixture(scope="module")
def rain100h(mirror_store: Store):
    return open_dataset("rain100h", mirror_store)


def _clean(dataset, name: str) -> np.ndarray:
    return load_pair(next(s for s in dataset.samples if s.name == name))[1]


def test_every_rain100l_sample_image_is_found_in_rain100h_and_matched_to_its_source(rain100h, mirror_store: Store):
    sample = open_dataset("rain100l-sample10", mirror_store)
    overlaps = find_overlaps([rain100h], [sample])
    assert {o.eval_sample for o in overlaps} == {s.name for s in sample.samples}
    for overlap in overlaps:
        cropped = _clean(sample, overlap.eval_sample)
        source = _clean(rain100h, overlap.train_sample)
        height, width = cropped.shape[:2]
        assert np.array_equal(source[:height, :width], cropped), overlap.describe()
    # one sample image is a repeated Rain100H background: it matches both copies, nothing else matches twice
    matched_twice = {o.eval_sample for o in overlaps if sum(p.eval_sample == o.eval_sample for p in overlaps) > 1}
    assert len(overlaps) == len(sample.samples) + len(matched_twice)
    for name in matched_twice:
        pair = sorted(int(o.train_sample.split("-")[1]) for o in overlaps if o.eval_sample == name)
        assert tuple(pair) in RAIN100H_REPEATS


def test_rain12_shares_no_background_with_rain100h(rain100h, mirror_store: Store):
    assert find_overlaps([rain100h], [open_dataset("rain12", mirror_store)]) == []


def test_the_threshold_separates_repeats_from_distinct_images(rain100h, mirror_store: Store):
    """Within Rain100H exactly the nine repeated backgrounds hash within the threshold; every other pair of
    Rain100H and Rain12 images is at least twice the threshold apart."""
    hashes = clean_hashes(rain100h)
    distances = hamming_distances(hashes, hashes)
    numbers = [int(s.name.split("-")[1]) for s in rain100h.samples]
    close = {
        tuple(sorted((numbers[i], numbers[j])))
        for i, j in zip(*np.nonzero(distances <= OVERLAP_THRESHOLD), strict=True)
        if i < j
    }
    assert close == RAIN100H_REPEATS
    others = distances[np.triu_indices(len(numbers), 1)]
    assert np.sort(others)[len(RAIN100H_REPEATS)] >= 2 * OVERLAP_THRESHOLD
    rain12 = clean_hashes(open_dataset("rain12", mirror_store))
    assert hamming_distances(hashes, rain12).min() >= 2 * OVERLAP_THRESHOLD
