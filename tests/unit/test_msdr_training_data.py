"""MSDR-Net training data: the script's image conventions, the sampling modes and the per-process data order."""

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from bench.common.errors import BenchError
from bench.data import open_folder
from msdr.method import tile_starts
from msdr.preprocess import downscale, from_network, resize_uint8, to_network
from msdr.training_data import ShardedOrder, TrainingPairs, check_min_size, epoch_order, steps_per_epoch


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def pairs_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    (root / "rain").mkdir()
    (root / "norain").mkdir()
    for i in range(5):
        clean = _image(70, 90, seed=i)
        Image.fromarray(clean).save(root / "norain" / f"p{i}.png")
        Image.fromarray(np.clip(clean.astype(int) + 40, 0, 255).astype(np.uint8)).save(root / "rain" / f"p{i}.png")
    return root


def test_to_network_is_bgr_in_minus_one_one_and_from_network_truncates_back():
    image = _image(5, 7)
    x = to_network(image)
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32
    assert torch.equal(x[0], (torch.from_numpy(image[..., 2]).float() - 127.5) / 127.5)  # B first
    # the script's np.uint8((y + 1) * 127.5) truncates, so a float32 round trip loses one level on some values
    lost = image.astype(int) - from_network(x)
    assert lost.min() >= 0 and lost.max() <= 1
    assert np.array_equal(from_network(x)[..., ::-1], from_network(x.flip(0)))  # RGB out
    assert from_network(torch.full((3, 1, 1), 254.9 / 127.5 - 1))[0, 0, 0] == 254


def test_resize_uint8_matches_cv2_inter_linear_within_one_grey_level():
    image = _image(321, 481)
    for size in (352, 128, 64):
        ours, theirs = resize_uint8(image, size), cv2.resize(image, (size, size))
        assert ours.shape == theirs.shape == (size, size, 3)
        difference = np.abs(ours.astype(int) - theirs)
        assert difference.max() <= 1  # cv2 rounds in 11-bit fixed point
        assert (difference > 0).mean() < 0.25


def test_downscale_matches_cv2_on_normalised_images():
    x = to_network(_image(64, 64))[None]
    for factor in (2, 4):
        theirs = cv2.resize(x[0].permute(1, 2, 0).numpy(), (64 // factor, 64 // factor))
        assert np.abs(downscale(x, factor)[0].permute(1, 2, 0).numpy() - theirs).max() < 1e-5


def test_epoch_order_is_a_seeded_permutation_padded_like_distributed_sampler():
    first = epoch_order(5, seed=3, epoch=0, world_size=2)
    assert sorted(first[:5]) == [0, 1, 2, 3, 4] and len(first) == 6 and first[5] == first[0]
    assert np.array_equal(first, epoch_order(5, seed=3, epoch=0, world_size=2))
    assert not np.array_equal(first, epoch_order(5, seed=3, epoch=1, world_size=2))
    assert not np.array_equal(first, epoch_order(5, seed=4, epoch=0, world_size=2))


def test_ranks_share_out_every_epoch_without_overlap():
    n, world, per_epoch = 7, 3, steps_per_epoch(7, 3)
    seen = [list(ShardedOrder(n, seed=0, world_size=world, rank=r, start=0, stop=2 * per_epoch)) for r in range(world)]
    for epoch in range(2):
        items = [item for rank_items in seen for item in rank_items if item[1] == epoch]
        assert len(items) == per_epoch * world
        assert sorted({index for index, _, _ in items}) == list(range(n))  # every sample, padding repeats some
        assert sorted(position for _, _, position in items) == list(range(per_epoch * world))  # no position twice


def test_order_resumes_at_any_step():
    whole = list(ShardedOrder(5, seed=1, world_size=1, rank=0, start=0, stop=12))
    assert list(ShardedOrder(5, seed=1, world_size=1, rank=0, start=7, stop=12)) == whole[7:]


def test_crops_are_seeded_per_item_and_flip_both_images(pairs_folder: Path):
    samples = open_folder(pairs_folder).samples
    pairs = TrainingPairs(samples, 64, "crop", seed=0, flip=True)
    rainy, clean, index = pairs[(2, 0, 5)]
    assert index == 2 and rainy.shape == clean.shape == (3, 64, 64)
    assert torch.equal(pairs[(2, 0, 5)][0], rainy)  # same item, same window
    windows = {pairs[(2, epoch, 5)][1].sum().item() for epoch in range(6)}
    assert len(windows) > 1  # another epoch, another window
    assert torch.allclose(rainy, (clean + 40 / 127.5).clamp(max=1.0), atol=1e-6)  # the same window in both


def test_resize_mode_is_deterministic_and_uses_the_whole_image(pairs_folder: Path):
    samples = open_folder(pairs_folder).samples
    rainy, clean, _ = TrainingPairs(samples, 64, "resize", seed=0)[(1, 0, 0)]
    assert torch.equal(rainy, TrainingPairs(samples, 64, "resize", seed=9)[(1, 3, 2)][0])
    expected = to_network(resize_uint8(np.asarray(Image.open(samples[1].clean)), 64))
    assert torch.equal(clean, expected)


def test_synthetic_rain_only_brightens_the_clean_image(pairs_folder: Path):
    samples = open_folder(pairs_folder).samples
    pairs = TrainingPairs(samples, 64, "crop", seed=0, synthetic_rain=1.0)
    rainy, clean, _ = pairs[(0, 0, 0)]
    assert (rainy >= clean - 1e-6).all() and (rainy > clean).any()


def test_images_smaller_than_the_window_are_refused_up_front(pairs_folder: Path):
    samples = open_folder(pairs_folder).samples
    with pytest.raises(BenchError, match=r"5 image\(s\) smaller than the 96x96 window: p0 \(90x70\).*; try"):
        check_min_size(samples, 96, "training set", "try")
    check_min_size(samples, 64, "training set", "try")


def test_tiles_cover_the_image_and_end_at_the_border():
    assert tile_starts(128, 64, 64) == [0, 64]
    assert tile_starts(130, 64, 64) == [0, 64, 66]
    assert tile_starts(64, 64, 64) == [0]
    coverage = Counter(p for start in tile_starts(481, 128, 128) for p in range(start, start + 128))
    assert sorted(coverage) == list(range(481))
