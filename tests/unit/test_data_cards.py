"""Dataset cards, the registry functions, import of hand-downloaded copies, fingerprints and descriptions."""

import hashlib
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

import bench
from bench import data
from bench.common.assets import Store, sha256_file
from bench.common.errors import DatasetError, UnknownNameError
from bench.data import cards, dataset_assets, dataset_names, import_dataset, load_card, open_dataset, open_folder

EXPECTED_PAIRS = {
    "demo": 6,
    "rain100h": 100,
    "rain100l": 100,
    "rain100l-sample10": 10,
    "rain12": 12,
    "rain1400": 1400,
    "rain200h": 200,
    "rain200l": 200,
    "raintrainl": 200,
    "spa-data": 1000,
    "test100": 100,
    "test1200": 1200,
    "test2800": 2800,
}
MIRRORED = {"rain100h", "rain100l", "rain12", "rain100l-sample10"}
DOWNLOADABLE = MIRRORED | {"raintrainl"}  # RainTrainL: too large to mirror, installed with fetch --from
RAW_URL = re.compile(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/")


def _image(path: Path, value: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), (value, value, value)).save(path)
    return path


def test_every_card_loads_with_its_expected_count() -> None:
    assert dataset_names() == sorted(EXPECTED_PAIRS)
    for name, pairs in EXPECTED_PAIRS.items():
        card = load_card(name)
        assert card.name == name and card.pairs == pairs
        assert card.title and card.citation and card.homepage and card.licence and card.layouts


def test_downloadable_cards_list_every_file_with_a_pinned_url() -> None:
    for name in DOWNLOADABLE:
        assets, folder = dataset_assets(name), load_card(name).files.path
        assert len(assets) == 2 * EXPECTED_PAIRS[name]
        for asset in assets:
            assert RAW_URL.match(asset.url), asset.url
            assert asset.path.startswith(f"{folder}/") and folder.startswith("datasets/")
            assert asset.url.endswith("/" + asset.path.removeprefix(f"{folder}/"))


def test_rain100h_assets_point_at_the_pinned_upstream_copy() -> None:
    first = dataset_assets("rain100h")[0]
    commit = "5962c9f6d2b4704250f893d2801d104caddc90e1"
    assert first.url.startswith(
        f"https://raw.githubusercontent.com/yuyi-sd/Robust_Rain_Removal/{commit}/data/test/small/"
    )
    assert first.path.startswith("datasets/Rain100H/test/small/")


def test_other_cards_have_no_assets_but_say_where_to_download() -> None:
    for name in set(EXPECTED_PAIRS) - DOWNLOADABLE:
        assert dataset_assets(name) == []
        card = load_card(name)
        assert card.source in ("manual", "generated")
        assert card.source == "generated" or card.download


def test_sample_card_is_marked_as_a_subset() -> None:
    card = load_card("rain100l-sample10")
    assert card.subset_of == "rain100l" and "NOT comparable" in card.title


def test_unknown_name_suggests_close_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"Did you mean: .*rain100h"):
        load_card("rain100hh")


def test_missing_manual_dataset_names_the_expected_path(offline_store: Store) -> None:
    expected = offline_store.cache / "datasets" / "rain200h"
    with pytest.raises(DatasetError) as error:
        open_dataset("rain200h", offline_store)
    message = str(error.value)
    assert str(expected) in message and "--dataset-dir" in message and "PKU" in message
    assert "\n" not in message


def _card_folder(tmp_path: Path, monkeypatch, text: str) -> None:
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "mine.toml").write_text(text)
    monkeypatch.setattr(cards, "cards_dir", lambda: folder)


GOOD_CARD = """
title = "t"
citation = "c"
homepage = "h"
licence = "l"
pairs = 2
source = "manual"
download = "somewhere"
[[layouts]]
rainy = "rain"
clean = "norain"
rule = "same-name"
"""


def test_a_well_formed_card_parses(tmp_path: Path, monkeypatch) -> None:
    _card_folder(tmp_path, monkeypatch, GOOD_CARD)
    assert load_card("mine").layouts == (data.Layout("rain", "norain", "same-name"),)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('title = "t"', 'title = "t"\ncolour = "red"'), "unknown key.*colour"),
        (('rule = "same-name"', 'rule = "by-sort-order"'), "unknown pairing rule 'by-sort-order'"),
        (('rule = "same-name"', 'rule = "same-name"\nextra = 1'), "layouts.*unknown key.*extra"),
        (("pairs = 2", "pairs = true"), "pairs must be of type int"),
        (('source = "manual"', 'source = "download"'), r"\[files\] table is required"),
        (('download = "somewhere"', ""), "needs `download`"),
        (('rule = "same-name"', 'rule = "side-by-side"'), "side-by-side files need rainy and clean"),
        (('title = "t"', ""), "missing key.*title"),
        (("pairs = 2", "pairs = 2\npublished_tolerance = { psnr = 0 }"), "positive numbers for psnr, ssim.*psnr = 0"),
        (("pairs = 2", "pairs = 2\npublished_tolerance = { lpips = 0.1 }"), "got lpips"),
        (("pairs = 2", 'pairs = 2\nshared_backgrounds = [["a"]]'), "lists of two or more image names"),
        (("pairs = 2", 'pairs = 2\nshared_backgrounds = [["a", "b"], ["b", "c"]]'), "an image in more than one group"),
    ],
)
def test_malformed_cards_are_refused(tmp_path: Path, monkeypatch, change: tuple[str, str], message: str) -> None:
    _card_folder(tmp_path, monkeypatch, GOOD_CARD.replace(*change))
    with pytest.raises(DatasetError, match=message):
        load_card("mine")


def test_a_card_widens_the_tolerance_of_published_numbers_on_its_copy_only(tmp_path: Path, monkeypatch) -> None:
    assert cards.published_tolerance("rain12") == {"psnr": 0.03, "ssim": 0.002}  # the cropped copy
    assert cards.published_tolerance("rain100h") == {"psnr": 0.01, "ssim": 0.001}
    assert cards.published_tolerance("a-folder-of-mine") == {"psnr": 0.01, "ssim": 0.001}
    _card_folder(
        tmp_path, monkeypatch, GOOD_CARD.replace("pairs = 2", "pairs = 2\npublished_tolerance = { ssim = 0.005 }")
    )
    assert cards.published_tolerance("mine") == {"psnr": 0.01, "ssim": 0.005}


def test_images_of_one_background_get_one_label(tmp_path: Path, monkeypatch) -> None:
    _card_folder(tmp_path, monkeypatch, GOOD_CARD.replace("pairs = 2", 'pairs = 5\nshared_backgrounds = [["c", "a"]]'))
    labels = cards.background_labels("mine", ["a", "b", "c", "d"])
    assert labels[0] == labels[2] and len(set(labels)) == 3
    assert load_card("mine").distinct_backgrounds == 4
    assert cards.background_labels("a-folder-of-mine", ["a", "b"]) is None


def test_missing_cards_folder_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bench, "__file__", str(tmp_path / "site-packages" / "bench" / "__init__.py"))
    with pytest.raises(DatasetError, match=r"pip install -e \."):
        dataset_names()


def test_loading_cards_imports_neither_torch_nor_scikit_image() -> None:
    code = (
        "import sys; from bench import data; "
        "[data.load_card(n) for n in data.dataset_names()]; data.dataset_assets('rain100h'); "
        "print(sorted(m for m in ('torch', 'skimage') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def _fake_rain1400(root: Path) -> None:
    """2 clean x 14 rainy images in the DDN layout, plus files an archive often carries."""
    for n, clean_id in enumerate((901, 902)):
        _image(root / "ground_truth" / f"{clean_id}.jpg", 40 + 100 * n)
        for k in range(1, 15):
            _image(root / "rainy_image" / f"{clean_id}_{k}.jpg", 40 + 100 * n)
    (root / "readme.txt").write_text("DDN test data")


def _zip(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder.parent))  # keeps the top folder: nested one level
    return archive


def test_import_rain1400_from_a_zip(tmp_path: Path, offline_store: Store) -> None:
    _fake_rain1400(tmp_path / "download" / "Rain1400_test")
    archive = _zip(tmp_path / "download" / "Rain1400_test", tmp_path / "rain1400.zip")
    with pytest.raises(DatasetError, match="holds 28 pairs but the card expects 1400"):
        import_dataset("rain1400", archive, offline_store)
    target = offline_store.cache / "datasets" / "rain1400"
    assert not target.exists()

    assert import_dataset("rain1400", archive, offline_store, allow_incomplete=True) == target
    assert sorted(p.name for p in target.iterdir()) == ["ground_truth", "rainy_image"]  # only paired files
    assert len(list((target / "rainy_image").iterdir())) == 28
    assert [p.name for p in (offline_store.cache / "datasets").iterdir()] == ["rain1400"]  # no leftovers

    with pytest.raises(DatasetError, match="expects 1400"):
        open_dataset("rain1400", offline_store)
    dataset = open_dataset("rain1400", offline_store, allow_incomplete=True)
    assert len(dataset.samples) == 28 and not dataset.complete and dataset.root == target
    description = dataset.describe()
    assert description["complete"] is False and description["expected"] == 1400 and description["n"] == 28

    with pytest.raises(DatasetError, match="already installed"):
        import_dataset("rain1400", archive, offline_store, allow_incomplete=True)


def test_import_from_a_tar_archive_and_from_a_folder(tmp_path: Path) -> None:
    source = tmp_path / "Test100"
    for i in (1, 2):
        _image(source / "input" / f"{i}.png", 10 * i)
        _image(source / "target" / f"{i}.png", 10 * i)
    with tarfile.open(tmp_path / "test100.tar.gz", "w:gz") as tf:
        tf.add(source, arcname="Test100")
    from_tar = Store(cache=tmp_path / "cache-a", offline=True)
    from_folder = Store(cache=tmp_path / "cache-b", offline=True)
    for store, given in ((from_tar, tmp_path / "test100.tar.gz"), (from_folder, source)):
        installed = import_dataset("test100", given, store, allow_incomplete=True)
        assert sorted(p.name for p in (installed / "input").iterdir()) == ["1.png", "2.png"]
    assert source.is_dir()  # a folder source is copied, never moved


def test_import_refuses_an_incomplete_pairing_and_installs_nothing(tmp_path: Path, offline_store: Store) -> None:
    source = tmp_path / "Test100"
    _image(source / "input" / "1.png")
    _image(source / "input" / "2.png")
    _image(source / "target" / "1.png")
    with pytest.raises(DatasetError, match=r"rainy file without a clean file: 2\.png \(no 2\.png\)$"):
        import_dataset("test100", source, offline_store, allow_incomplete=True)
    assert not (offline_store.cache / "datasets" / "test100").exists()


def test_import_refuses_sets_that_need_no_import(tmp_path: Path, offline_store: Store) -> None:
    with pytest.raises(DatasetError, match="needs no import: derain-bench generates it itself"):
        import_dataset("demo", tmp_path, offline_store)


def _two_pairs(root: Path) -> None:
    for name, value in (("a", 10), ("b", 20)):
        _image(root / "rain" / f"{name}.png", value)
        _image(root / "norain" / f"{name}.png", value + 1)


def test_fingerprint_and_checksums_follow_the_documented_recipe(tmp_path: Path) -> None:
    _two_pairs(tmp_path)
    dataset = open_folder(tmp_path)
    checksums = {
        name: (sha256_file(tmp_path / "rain" / f"{name}.png"), sha256_file(tmp_path / "norain" / f"{name}.png"))
        for name in ("a", "b")
    }
    assert dataset.file_checksums() == checksums
    lines = sorted(f"{name} {rainy} {clean}" for name, (rainy, clean) in checksums.items())
    assert dataset.fingerprint() == hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_fingerprint_depends_on_content_not_on_location(tmp_path: Path) -> None:
    for copy in ("one", "same", "changed"):
        _two_pairs(tmp_path / copy)
    _image(tmp_path / "changed" / "norain" / "b.png", 22)
    one, same, changed = (open_folder(tmp_path / copy).fingerprint() for copy in ("one", "same", "changed"))
    assert one == same != changed


def test_describe_is_json_ready_and_complete(tmp_path: Path) -> None:
    for i in (1, 2):
        _image(tmp_path / "input" / f"{i}.png")
        _image(tmp_path / "target" / f"{i}.png")
    dataset = open_folder(tmp_path, card=load_card("test100"), allow_incomplete=True)
    description = json.loads(json.dumps(dataset.describe()))
    assert description["name"] == "test100" and description["title"].startswith("Test100")
    assert description["layout"] == {"rainy": "input", "clean": "target"}
    assert description["pairing_rule"]["name"] == "same-name"
    assert description["fingerprint"] == dataset.fingerprint() and description["notes"]
    for key in ("citation", "licence", "homepage", "root", "n", "expected", "complete"):
        assert key in description
