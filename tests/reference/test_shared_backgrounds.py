"""The cards' shared backgrounds equal what the mirrored clean images show.

Rain100L and Rain100H hold 100 pairs over 91 backgrounds: nine clean images occur twice under different rain. The
criterion here is independent of the perceptual hash the groups were found with: two clean images share a
background when they have the same size and their BT.601 luma differs by a mean squared error below 1 (on 0..255).
On the mirror the repeats are pixel-identical (MSE 0) and distinct backgrounds of one size are never closer than
MSE 590, so the threshold sits far from both.
"""

from itertools import combinations

import numpy as np
import pytest

from bench.common.assets import Store
from bench.data import load_pair, open_dataset
from bench.data.cards import load_card

pytestmark = pytest.mark.reference

_LUMA = np.array([0.299, 0.587, 0.114])
_SAME_BACKGROUND_MSE = 1.0


def _groups_by_pixels(name: str, store: Store) -> set[frozenset[str]]:
    luma = {s.name: load_pair(s)[1].astype(np.float64) @ _LUMA for s in open_dataset(name, store).samples}
    groups: dict[str, set[str]] = {image: {image} for image in luma}
    for a, b in combinations(luma, 2):
        if luma[a].shape == luma[b].shape and np.mean((luma[a] - luma[b]) ** 2) < _SAME_BACKGROUND_MSE:
            merged = groups[a] | groups[b]
            for image in merged:
                groups[image] = merged
    return {frozenset(group) for group in groups.values() if len(group) > 1}


@pytest.mark.parametrize("name", ["rain100l", "rain100h"])
def test_the_card_lists_every_background_that_occurs_twice(name, mirror_store: Store):
    found = _groups_by_pixels(name, mirror_store)
    assert len(found) == 9
    assert {frozenset(group) for group in load_card(name).shared_backgrounds} == found
