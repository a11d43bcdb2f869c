"""The train/test overlap check: perceptual hashes that survive renaming and one-pixel crops."""

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from bench.data import open_folder
from msdr.leakage import OVERLAP_THRESHOLD, Overlap, find_overlaps, hamming_distances, perceptual_hash, summarise


def _photo(seed: int, height: int = 321, width: int = 481) -> np.ndarray:
    """A smooth random 'photo': blurred noise has structure at every scale, like natural images."""
    noise = np.random.default_rng(seed).normal(size=(height, width, 3))
    smooth = ndimage.gaussian_filter(noise, sigma=(12, 12, 0))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).astype(np.uint8)


def _distance(a: np.ndarray, b: np.ndarray) -> int:
    return int(hamming_distances(perceptual_hash(a)[None], perceptual_hash(b)[None])[0, 0])


def _write_set(root: Path, images: dict[str, np.ndarray]) -> Path:
    (root / "rain").mkdir(parents=True)
    (root / "norain").mkdir()
    for name, clean in images.items():
        Image.fromarray(clean).save(root / "norain" / f"{name}.png")
        Image.fromarray(np.clip(clean.astype(int) + 30, 0, 255).astype(np.uint8)).save(root / "rain" / f"{name}.png")
    return root


def test_hash_has_64_bits_and_ignores_one_pixel_crops():
    image = _photo(0)
    assert perceptual_hash(image).shape == (64,)
    for cropped in (image[:-1, :-1], image[1:, 1:], image[1:, :-1]):
        assert _distance(image, cropped) <= OVERLAP_THRESHOLD // 2


def test_distinct_images_are_far_apart():
    distances = [_distance(_photo(i), _photo(j)) for i, j in ((0, 1), (2, 3), (4, 5))]
    assert min(distances) > 2 * OVERLAP_THRESHOLD


def test_hamming_distances_count_differing_bits():
    a = np.zeros((1, 64), dtype=bool)
    b = np.zeros((2, 64), dtype=bool)
    b[1, :5] = True
    assert hamming_distances(a, b).tolist() == [[0, 5]]


def test_overlaps_are_found_across_renamed_and_cropped_copies(tmp_path: Path):
    photos = {i: _photo(i) for i in range(5)}
    train = open_folder(_write_set(tmp_path / "train", {f"t{i}": photos[i] for i in (0, 1, 2, 3)}))
    held_out = open_folder(_write_set(tmp_path / "test", {"a": photos[4][:-1, :-1], "b": photos[2][:-1, :-1]}))
    overlaps = find_overlaps([train], [held_out])
    assert [(o.train_sample, o.eval_sample) for o in overlaps] == [("t2", "b")]
    assert overlaps[0].distance <= OVERLAP_THRESHOLD // 2
    clean = open_folder(_write_set(tmp_path / "other", {"c": photos[4]}))
    assert find_overlaps([train], [clean]) == []


def test_summary_is_one_line_with_the_first_pairs_and_the_count():
    overlaps = [Overlap("train", f"t{i}", "test", f"e{i}", 0) for i in range(7)]
    text = summarise(overlaps, shown=2)
    assert "\n" not in text
    assert (
        text
        == "7 overlapping clean image pair(s): train/t0 ~ test/e0 (0 bits), train/t1 ~ test/e1 (0 bits), ... (5 more)"
    )
