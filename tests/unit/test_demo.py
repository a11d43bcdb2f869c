"""The synthetic demo set: offline, seeded, byte-reproducible, and opened like any other dataset."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.common.assets import Store
from bench.data import demo, open_dataset


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*.png"))}


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "default"
    demo.write_demo(folder)
    return folder


def test_six_pairs_of_320x240_rgb(generated: Path) -> None:
    names = sorted(demo.SOURCES)
    assert sorted(p.stem for p in (generated / "rain").iterdir()) == names
    assert sorted(p.stem for p in (generated / "norain").iterdir()) == names
    for path in generated.rglob("*.png"):
        image = Image.open(path)
        assert (image.size, image.mode) == ((320, 240), "RGB")


def test_same_seed_gives_byte_identical_files(generated: Path, tmp_path: Path) -> None:
    demo.write_demo(tmp_path / "again")
    assert _files(tmp_path / "again") == _files(generated)


def test_another_seed_changes_the_rain_but_not_the_photos(generated: Path, tmp_path: Path) -> None:
    demo.write_demo(tmp_path / "other", seed=demo.DEMO_SEED + 1)
    other = _files(tmp_path / "other")
    for name, content in _files(generated).items():
        assert (other[name] == content) == name.startswith("norain"), name


def test_rain_only_lightens_and_changes_every_image(generated: Path) -> None:
    for name in demo.SOURCES:
        rainy = _pixels(generated / "rain" / f"{name}.png").astype(int)
        clean = _pixels(generated / "norain" / f"{name}.png").astype(int)
        changed = np.mean(rainy != clean)
        assert 0.005 < changed < 0.6, (name, changed)  # visible streaks, yet mostly the photo
        assert (rainy >= clean).all(), name  # screen blending never darkens


def test_streak_kernel_is_a_centred_line_along_the_angle() -> None:
    vertical = demo.streak_kernel(demo.Streaks(angle=0.0, length=9, density=0.0, width=0.5, brightness=1.0))
    centre = vertical.shape[0] // 2
    assert vertical.max() == 1.0 and vertical[centre, centre] == pytest.approx(1.0, abs=0.05)
    assert vertical[centre + 4, centre] > 0.5 > vertical[centre, centre + 4]  # long along rows, thin across
    slanted = demo.streak_kernel(demo.Streaks(angle=45.0, length=9, density=0.0, width=0.5, brightness=1.0))
    assert slanted[centre + 3, centre + 3] > 0.5 > slanted[centre + 3, centre - 3]


def test_open_dataset_generates_once_into_the_cache(offline_store: Store) -> None:
    dataset = open_dataset("demo", offline_store)
    assert dataset.root == offline_store.cache / "datasets" / demo.DEMO_FOLDER
    assert len(dataset.samples) == 6 and dataset.complete and dataset.card.name == "demo"
    stamp = (dataset.root / "rain" / "coffee.png").stat().st_mtime_ns
    again = open_dataset("demo", offline_store)
    assert (again.root / "rain" / "coffee.png").stat().st_mtime_ns == stamp  # not regenerated
    assert again.fingerprint() == dataset.fingerprint()
    assert [p.name for p in (offline_store.cache / "datasets").iterdir()] == [demo.DEMO_FOLDER]  # no .part left
