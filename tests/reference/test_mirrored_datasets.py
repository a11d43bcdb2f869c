"""The mirrored test sets: fetched per file through the asset store, verified, and as documented."""

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.common.assets import Store
from bench.common.errors import ChecksumError, DatasetError
from bench.data import dataset_assets, import_dataset, load_card, load_pair, open_dataset
from bench.data.images import inspect_image

pytestmark = pytest.mark.reference


def _sizes(dataset) -> Counter:
    return Counter(inspect_image(sample.rainy)[:2] for sample in dataset.samples)


def _assert_every_file_verified(name: str, dataset, store: Store) -> None:
    """The files opened are exactly the card's, with the card's sha256 (the store checked them on fetch)."""
    declared = {asset.path: asset.sha256 for asset in dataset_assets(name)}
    checksums = dataset.file_checksums()
    opened = {}
    for sample in dataset.samples:
        rainy, clean = checksums[sample.name]
        opened[sample.rainy.relative_to(store.cache).as_posix()] = rainy
        opened[sample.clean.relative_to(store.cache).as_posix()] = clean
    assert opened == declared


def test_rain100h_has_100_verified_pairs_of_the_documented_sizes(mirror_store: Store) -> None:
    dataset = open_dataset("rain100h", mirror_store)
    assert len(dataset.samples) == 100 and dataset.complete
    assert [s.name for s in dataset.samples] == [f"norain-{i}" for i in range(1, 101)]
    assert all(s.rainy.name == s.clean.name for s in dataset.samples)
    assert _sizes(dataset) == Counter({(481, 321): 66, (321, 481): 34})
    _assert_every_file_verified("rain100h", dataset, mirror_store)
    rainy, clean = load_pair(dataset.samples[0])
    assert rainy.shape == clean.shape and rainy.shape[2] == 3 and (rainy != clean).any()


def test_rain12_has_12_pairs_cropped_to_480x320(mirror_store: Store) -> None:
    dataset = open_dataset("rain12", mirror_store)
    assert len(dataset.samples) == 12 and dataset.complete
    assert _sizes(dataset) == Counter({(480, 320): 12})
    assert dataset.samples[0].clean.name == "norain-001.png"
    _assert_every_file_verified("rain12", dataset, mirror_store)


def test_rain100l_has_100_verified_pairs_and_its_input_scores_as_published(mirror_store: Store) -> None:
    dataset = open_dataset("rain100l", mirror_store)
    assert len(dataset.samples) == 100 and dataset.complete
    assert set(_sizes(dataset)) == {(481, 321), (321, 481)}
    assert dataset.samples[0].rainy.name == "rain-001.png" and dataset.samples[0].clean.name == "norain-001.png"
    _assert_every_file_verified("rain100l", dataset, mirror_store)
    # the published input row (PReNet's README): 26.90 dB, here from a Y/PSNR written out in the test
    psnrs = []
    for sample in dataset.samples:
        rainy, clean = (
            np.asarray(Image.open(p).convert("RGB"), dtype=np.float64) / 255 for p in (sample.rainy, sample.clean)
        )
        y_rainy, y_clean = ((16 + x @ np.array([65.481, 128.553, 24.966])) / 255 for x in (rainy, clean))
        psnrs.append(10 * np.log10(1 / np.mean((y_rainy - y_clean) ** 2)))
    assert abs(np.mean(psnrs) - 26.90) < 0.005


def test_rain100l_sample_has_10_pairs_and_says_it_is_a_subset(mirror_store: Store) -> None:
    dataset = open_dataset("rain100l-sample10", mirror_store)
    assert len(dataset.samples) == 10 and dataset.complete
    assert set(_sizes(dataset)) <= {(480, 320), (320, 480)}
    assert dataset.describe()["subset_of"] == "rain100l"
    _assert_every_file_verified("rain100l-sample10", dataset, mirror_store)


def test_a_corrupted_cached_file_is_refused(mirror: Path, tmp_path: Path) -> None:
    store = Store(cache=tmp_path / "cache", mirror=mirror, offline=True)
    dataset = open_dataset("rain12", store)
    victim = dataset.samples[3].clean
    victim.write_bytes(b"garbage" + victim.read_bytes()[7:])
    with pytest.raises(ChecksumError, match=victim.name):
        open_dataset("rain12", store)


def test_a_downloadable_set_installs_from_a_copy_you_have_every_file_checked(mirror: Path, tmp_path: Path) -> None:
    """`fetch --datasets NAME --from PATH` for a set with [files] (as RainTrainL, too large to mirror): a copy laid
    out as upstream, found one folder down, each file verified by its sha256; then the set opens offline."""
    copy = tmp_path / "download" / "Rain12"
    shutil.copytree(mirror / "datasets" / "Rain12", copy)
    store = Store(cache=tmp_path / "cache", offline=True)
    assert import_dataset("rain12", tmp_path / "download", store) == store.cache / "datasets" / "Rain12"
    assert len(open_dataset("rain12", store).samples) == 12

    victim = copy / "rain" / "rain-005.png"
    victim.write_bytes(victim.read_bytes()[:-1] + b"x")
    elsewhere = Store(cache=tmp_path / "cache2", offline=True)
    with pytest.raises(ChecksumError, match=r"rain-005\.png has sha256"):
        import_dataset("rain12", copy, elsewhere)
    victim.unlink()
    with pytest.raises(DatasetError, match=r"lacks 1 of rain12's 24 files, e\.g\. rain/rain-005\.png: give a"):
        import_dataset("rain12", copy, elsewhere)


@pytest.mark.parametrize("name", ["rain100h", "rain100l"])
def test_the_shared_backgrounds_are_what_the_card_says(name: str, mirror_store: Store) -> None:
    """Images whose clean images are equal pixel for pixel are one scene (the next closest pair differs by a mean
    squared error of 592 grey levels squared: nothing is near the line); the card lists exactly those groups."""
    dataset = open_dataset(name, mirror_store)
    scenes: list[tuple[np.ndarray, list[str]]] = []
    for sample in dataset.samples:
        clean = np.asarray(Image.open(sample.clean).convert("RGB"))
        same = [names for seen, names in scenes if seen.shape == clean.shape and np.array_equal(seen, clean)]
        if same:
            same[0].append(sample.name)
        else:
            scenes.append((clean, [sample.name]))
    card = load_card(name)
    shared = {frozenset(names) for _, names in scenes if len(names) > 1}
    assert shared == {frozenset(group) for group in card.shared_backgrounds}
    assert len(scenes) == card.distinct_backgrounds == 91
