"""Pairing rules and layout detection on tiny folders: every file paired by name, or a refusal naming it."""

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import data
from bench.common.errors import DatasetError, ImageError
from bench.data import Dataset, PairingRule, Sample, load_card, load_pair, open_folder, open_folder_pair


def _image(path: Path, value: int, size: tuple[int, int] = (8, 6)) -> Path:
    """A small flat image whose grey level `value` identifies it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path)
    return path


def _pair(root: Path, rainy: str, clean: str, value: int) -> None:
    _image(root / rainy, value)
    _image(root / clean, value)


def _assert_pairs_match(dataset: Dataset) -> None:
    """Every sample's rainy and clean images carry the same identifying grey level."""
    for sample in dataset.samples:
        rainy, clean = load_pair(sample)
        assert abs(int(rainy[0, 0, 0]) - int(clean[0, 0, 0])) <= 2, sample


def _names(dataset: Dataset) -> list[str]:
    return [sample.name for sample in dataset.samples]


def test_same_name_in_rain_and_norain(tmp_path: Path) -> None:
    for i in (1, 2, 10):
        _pair(tmp_path, f"rain/norain-{i}.png", f"norain/norain-{i}.png", 20 * i)
    dataset = open_folder(tmp_path)
    assert _names(dataset) == ["norain-1", "norain-2", "norain-10"]  # natural order, for readable output
    assert dataset.layout == data.Layout("rain", "norain", "same-name")
    assert dataset.complete and dataset.card is None and dataset.name == f"dir:{tmp_path.name}"
    assert dataset.samples[0].clean == tmp_path / "norain" / "norain-1.png"
    _assert_pairs_match(dataset)


def test_same_name_in_input_and_target(tmp_path: Path) -> None:
    for i in (1, 2):
        _pair(tmp_path, f"input/{i}.png", f"target/{i}.png", 50 * i)
    dataset = open_folder(tmp_path)
    assert dataset.layout.rainy == "input" and _names(dataset) == ["1", "2"]
    _assert_pairs_match(dataset)


def test_prenet_rainy_folder_with_clean_files_beside_it(tmp_path: Path) -> None:
    for i in (1, 2, 3):
        _pair(tmp_path, f"rainy/rain-{i:03d}.png", f"norain-{i:03d}.png", 40 * i)
    dataset = open_folder(tmp_path)
    assert dataset.layout == data.Layout("rainy", ".", "rain-prefix")
    assert dataset.samples[2].clean == tmp_path / "norain-003.png"
    _assert_pairs_match(dataset)


def test_prefix_mapping_between_rain_and_norain_folders(tmp_path: Path) -> None:
    for i in (1, 2):
        _pair(tmp_path, f"rain/rain-{i:03d}.png", f"norain/norain-{i:03d}.png", 60 * i)
    dataset = open_folder(tmp_path)
    assert dataset.layout.rule == "rain-prefix" and _names(dataset) == ["rain-001", "rain-002"]
    _assert_pairs_match(dataset)


@pytest.mark.parametrize("rainy_folder", ["rain/X2", "rain"])
def test_jorder_x2_names(tmp_path: Path, rainy_folder: str) -> None:
    for i in (1, 2):
        _pair(tmp_path, f"{rainy_folder}/norain-{i}x2.png", f"norain/norain-{i}.png", 70 * i)
    dataset = open_folder(tmp_path)
    assert dataset.layout == data.Layout(rainy_folder, "norain", "jorder-x2")
    _assert_pairs_match(dataset)


def test_sorted_order_would_mispair_but_names_do_not(tmp_path: Path) -> None:
    # sorted rainy: norain-10x2, norain-1x2, norain-2x2; sorted clean: norain-1, norain-10, norain-2
    for i in (1, 2, 10):
        _pair(tmp_path, f"rain/norain-{i}x2.png", f"norain/norain-{i}.png", 20 * i)
    assert sorted(p.name for p in (tmp_path / "rain").iterdir())[0] == "norain-10x2.png"
    assert sorted(p.name for p in (tmp_path / "norain").iterdir())[0] == "norain-1.png"
    dataset = open_folder(tmp_path)
    assert {s.name: s.clean.name for s in dataset.samples} == {
        "norain-1x2": "norain-1.png",
        "norain-2x2": "norain-2.png",
        "norain-10x2": "norain-10.png",
    }
    _assert_pairs_match(dataset)


def _rain1400(root: Path, ids: tuple[int, ...] = (901, 902), kinds: range = range(1, 15)) -> None:
    for n, clean_id in enumerate(ids):
        _image(root / "ground_truth" / f"{clean_id}.jpg", 40 + 100 * n)
        for k in kinds:
            _image(root / "rainy_image" / f"{clean_id}_{k}.jpg", 40 + 100 * n)


def test_rain1400_many_to_one(tmp_path: Path) -> None:
    _rain1400(tmp_path)
    dataset = open_folder(tmp_path)
    assert len(dataset.samples) == 28 and dataset.layout.rule == "rain1400"
    assert {s.clean.name for s in dataset.samples} == {"901.jpg", "902.jpg"}
    assert next(s for s in dataset.samples if s.name == "902_14").clean.name == "902.jpg"
    _assert_pairs_match(dataset)


def test_rain1400_streak_type_out_of_range_is_named(tmp_path: Path) -> None:
    _rain1400(tmp_path, ids=(901,))
    _image(tmp_path / "rainy_image" / "901_15.jpg", 40)
    with pytest.raises(DatasetError, match=r"1 rainy file without a clean file: 901_15\.jpg \(name does not fit"):
        open_folder(tmp_path)


def test_one_to_one_rule_refuses_a_shared_clean_file(tmp_path: Path, monkeypatch) -> None:
    strict = PairingRule("strict-1400", r"(?P<id>\d+)_\d+(?P<ext>\.jpg)", "{id}{ext}", "one-to-one variant")
    monkeypatch.setitem(data.RULES, strict.name, strict)
    _rain1400(tmp_path, ids=(901,), kinds=range(1, 3))
    card = replace(load_card("rain1400"), layouts=(data.Layout("rainy_image", "ground_truth", strict.name),))
    with pytest.raises(DatasetError, match=r"1 duplicate: 901\.jpg \(paired 2 times\)"):
        open_folder(tmp_path, card=card)


def test_original_rain12_names_in_one_folder(tmp_path: Path) -> None:
    for i in (1, 2):
        _pair(tmp_path, f"{i:03d}_in.png", f"{i:03d}_GT.png", 80 * i)
    dataset = open_folder(tmp_path)
    assert dataset.layout == data.Layout(".", ".", "in-gt")
    assert _names(dataset) == ["001_in", "002_in"]
    _assert_pairs_match(dataset)


def test_spa_gt_suffix(tmp_path: Path) -> None:
    for i in (0, 1):
        _pair(tmp_path, f"rain/{i:03d}.png", f"gt/{i:03d}gt.png", 30 + 90 * i)
    dataset = open_folder(tmp_path)
    assert dataset.layout.rule == "gt-suffix"
    _assert_pairs_match(dataset)


def _side_by_side(path: Path, left: int, right: int, width: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((6, width, 3), right, np.uint8)
    pixels[:, : width // 2] = left
    Image.fromarray(pixels).save(path)


def test_side_by_side_files_split_rainy_left_clean_right(tmp_path: Path) -> None:
    _side_by_side(tmp_path / "1.png", left=200, right=30)
    _side_by_side(tmp_path / "2.png", left=210, right=40)
    dataset = open_folder(tmp_path, card=load_card("test1200"), allow_incomplete=True)
    assert dataset.layout.rule == "side-by-side" and not dataset.complete
    sample = dataset.samples[0]
    assert sample.half == "left" and sample.rainy == sample.clean == tmp_path / "1.png"
    rainy, clean = load_pair(sample)
    assert rainy.shape == clean.shape == (6, 8, 3)
    assert (rainy == 200).all() and (clean == 30).all()


def test_side_by_side_half_right_swaps_the_roles(tmp_path: Path) -> None:
    _side_by_side(tmp_path / "1.png", left=200, right=30)
    rainy, clean = load_pair(Sample("1", tmp_path / "1.png", tmp_path / "1.png", half="right"))
    assert (rainy == 30).all() and (clean == 200).all()


def test_side_by_side_odd_width_is_refused_up_front(tmp_path: Path) -> None:
    _side_by_side(tmp_path / "1.png", left=200, right=30, width=15)
    with pytest.raises(DatasetError, match=r"1\.png \(side-by-side, odd width 15\)"):
        open_folder(tmp_path, card=load_card("test1200"), allow_incomplete=True)


def test_side_by_side_is_never_guessed_without_a_card(tmp_path: Path) -> None:
    _side_by_side(tmp_path / "1.png", left=200, right=30)
    with pytest.raises(DatasetError, match="no known dataset layout"):
        open_folder(tmp_path)


def test_rainy_file_without_clean_is_named(tmp_path: Path) -> None:
    _pair(tmp_path, "rain/a.png", "norain/a.png", 10)
    _image(tmp_path / "rain" / "b.png", 20)
    with pytest.raises(DatasetError, match=r"1 rainy file without a clean file: b\.png \(no b\.png\)") as error:
        open_folder(tmp_path)
    assert "\n" not in str(error.value)


def test_clean_file_never_referenced_is_named(tmp_path: Path) -> None:
    _pair(tmp_path, "rain/a.png", "norain/a.png", 10)
    _image(tmp_path / "norain" / "orphan.png", 20)
    with pytest.raises(DatasetError, match=r"1 clean file that no rainy file pairs with: orphan\.png"):
        open_folder(tmp_path)


def test_many_unmatched_files_are_listed_first_few_and_counted(tmp_path: Path) -> None:
    _pair(tmp_path, "rain/a.png", "norain/a.png", 10)
    for i in range(1, 9):
        _image(tmp_path / "rain" / f"extra-{i}.png", 20)
    with pytest.raises(DatasetError, match=r"8 rainy files without a clean file: extra-1\.png .*\(3 more\)") as error:
        open_folder(tmp_path)
    assert "extra-5.png" in str(error.value) and "extra-6.png" not in str(error.value)


def test_two_folders_of_the_user_are_named_in_full_in_a_refusal(tmp_path: Path) -> None:
    """Not "/: pairing rainy in tmp/nc/..., clean in work/...": the subject is the pairing, the folders are whole."""
    rainy, clean = tmp_path / "nc" / "bad" / "missing", tmp_path / "work" / "clean"
    _pair(tmp_path, "nc/bad/missing/rain-001.png", "work/clean/norain-001.png", 10)
    _image(clean / "norain-002.png", 20)
    with pytest.raises(DatasetError) as error:
        open_folder_pair(rainy, clean)
    assert str(error.value) == (
        f"pairing rainy in {rainy}/, clean in {clean}/: rain-XXX -> norain-XXX (PReNet) is incomplete: "
        "1 clean file that no rainy file pairs with: norain-002.png; "
        "--allow-incomplete scores the 1 complete pair, as a partial result"
    )


def test_allow_incomplete_scores_the_complete_pairs_of_a_folder_and_says_what_it_left_out(tmp_path: Path) -> None:
    for i in (1, 2, 3):
        _pair(tmp_path, f"rain/rain-00{i}.png", f"norain/norain-00{i}.png", 10 * i)
    (tmp_path / "norain" / "norain-003.png").unlink()
    with pytest.raises(DatasetError, match=r"--allow-incomplete scores the 2 complete pairs, as a partial result$"):
        open_folder(tmp_path)
    dataset = open_folder(tmp_path, allow_incomplete=True)
    assert _names(dataset) == ["rain-001", "rain-002"] and not dataset.complete
    _assert_pairs_match(dataset)
    assert dataset.warnings()[0] == (
        f"--allow-incomplete: 2 complete pairs scored; {tmp_path}: pairing rainy in rain/, clean in norain/: "
        "rain-XXX -> norain-XXX (PReNet) is incomplete: 1 rainy file without a clean file: rain-003.png "
        "(no norain-003.png)"
    )


def test_allow_incomplete_says_why_it_cannot_help_when_nothing_pairs(tmp_path: Path) -> None:
    _image(tmp_path / "rain" / "a.png", 10)
    _image(tmp_path / "norain" / "b.png", 10)
    with pytest.raises(DatasetError, match=r"--allow-incomplete cannot help: no pair is complete and unambiguous$"):
        open_folder(tmp_path, allow_incomplete=True)


def test_jpeg_rainy_files_beside_png_clean_files_are_refused_under_the_rule_their_names_follow(tmp_path: Path) -> None:
    for i in (1, 2):
        _image(tmp_path / "rain" / f"rain-00{i}.jpg", 10)
        _image(tmp_path / "norain" / f"norain-00{i}.png", 10)
    with pytest.raises(DatasetError) as error:
        open_folder(tmp_path)
    assert str(error.value) == (
        f"{tmp_path}: pairing rainy in rain/, clean in norain/: rain-XXX -> norain-XXX (PReNet) is incomplete: "
        "2 rainy files without a clean file: rain-001.jpg (no norain-001.jpg; norain-001.png is there, in another "
        "format), rain-002.jpg (no norain-002.jpg; norain-002.png is there, in another format); 2 clean files that "
        "no rainy file pairs with: norain-001.png, norain-002.png; this rule pairs files of one format: convert one "
        "folder to the other's format"
    )


def test_duplicate_sample_names_are_refused(tmp_path: Path) -> None:
    _pair(tmp_path, "rain/a.png", "norain/a.png", 10)
    _pair(tmp_path, "rain/a.jpg", "norain/a.jpg", 10)
    with pytest.raises(DatasetError, match=r"1 duplicate: sample name a \(2 rainy files\)"):
        open_folder(tmp_path)


def test_wrong_count_is_refused_unless_incomplete_is_allowed(tmp_path: Path) -> None:
    _rain1400(tmp_path)
    card = load_card("rain1400")
    with pytest.raises(DatasetError, match="holds 28 pairs but the card expects 1400"):
        open_folder(tmp_path, card=card)
    dataset = open_folder(tmp_path, card=card, allow_incomplete=True)
    assert not dataset.complete and dataset.name == "rain1400" and len(dataset.samples) == 28


def test_unrecognisable_layout_lists_the_known_ones(tmp_path: Path) -> None:
    _image(tmp_path / "photos" / "a.png", 10)
    _image(tmp_path / "other" / "b.png", 10)
    with pytest.raises(DatasetError, match="no known dataset layout") as error:
        open_folder(tmp_path)
    message = str(error.value)
    for known in (
        "rainy in rain/, clean in norain/: the clean file has the rainy file's name",
        "rainy in input/, clean in target/",
        "rainy in lq/, clean in gt/",
        "rainy in rainy/, clean in the folder itself: rain-XXX -> norain-XXX (PReNet)",
        "rainy in rainy_image/, clean in ground_truth/",
        "rainy and clean in the folder itself: N_in -> N_GT (original Rain12)",
    ):
        assert known in message
    assert "--rainy-dir and --clean-dir" in message
    assert "\n" not in message


def test_a_card_only_applies_its_own_layouts(tmp_path: Path) -> None:
    _pair(tmp_path, "input/1.png", "target/1.png", 10)
    with pytest.raises(DatasetError, match=r"looked for: rainy in rainy_image/, clean in ground_truth/: N_K") as error:
        open_folder(tmp_path, card=load_card("rain1400"))
    assert "input/" not in str(error.value)


@pytest.mark.parametrize(
    ("rainy", "clean"),
    [("lq", "gt"), ("rainy", "clean"), ("input", "gt"), ("rain", "groundtruth"), ("input", "target")],
)
def test_common_folder_pairs_are_detected(tmp_path: Path, rainy: str, clean: str) -> None:
    for name, value in (("1", 10), ("2", 20)):
        _pair(tmp_path, f"{rainy}/{name}.png", f"{clean}/{name}.png", value)
    dataset = open_folder(tmp_path)
    assert [(s.rainy.parent.name, s.clean.parent.name) for s in dataset.samples] == [(rainy, clean)] * 2


def test_files_that_differ_only_in_extension_pair_by_stem(tmp_path: Path) -> None:
    _image(tmp_path / "rain" / "1.png", 10)
    _image(tmp_path / "rain" / "2.png", 20)
    _image(tmp_path / "norain" / "1.jpg", 10)
    _image(tmp_path / "norain" / "2.JPEG", 20)
    dataset = open_folder(tmp_path)
    assert [(s.rainy.name, s.clean.name) for s in dataset.samples] == [("1.png", "1.jpg"), ("2.png", "2.JPEG")]
    assert dataset.describe()["pairing_rule"]["name"] == "same-stem"


def test_an_ambiguous_stem_is_refused_with_its_files(tmp_path: Path) -> None:
    _image(tmp_path / "rain" / "1.png", 10)
    _image(tmp_path / "rain" / "2.png", 20)
    _image(tmp_path / "norain" / "1.jpg", 10)
    _image(tmp_path / "norain" / "1.bmp", 10)
    _image(tmp_path / "norain" / "2.jpg", 20)
    with pytest.raises(DatasetError, match=r"ambiguous stem: 1\.png \(1\.bmp or 1\.jpg\)"):
        open_folder(tmp_path)


def test_an_ambiguous_stem_is_named_even_where_same_names_pair_as_many(tmp_path: Path) -> None:
    _pair(tmp_path, "rain/a.png", "norain/a.png", 10)
    _image(tmp_path / "rain" / "b.png", 20)
    _image(tmp_path / "norain" / "b.jpg", 20)
    _image(tmp_path / "norain" / "b.bmp", 20)
    with pytest.raises(DatasetError, match=r"ambiguous stem: b\.png \(b\.bmp or b\.jpg\)"):
        open_folder(tmp_path)


def test_an_empty_folder_says_so_before_any_layout(tmp_path: Path) -> None:
    (tmp_path / "rain").mkdir()
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(DatasetError, match=rf"^no images found in {re.escape(str(tmp_path))} or its subfolders"):
        open_folder(tmp_path)


def test_any_two_folders_pair_by_name_then_stem(tmp_path: Path) -> None:
    _image(tmp_path / "shots/wet" / "a.png", 10)
    _image(tmp_path / "shots/wet" / "b.png", 20)
    _image(tmp_path / "reference" / "a.jpg", 10)
    _image(tmp_path / "reference" / "b.jpg", 20)
    dataset = open_folder_pair(tmp_path / "shots/wet", tmp_path / "reference")
    assert dataset.name == "dirs:wet+reference"
    assert [(s.name, s.clean.name) for s in dataset.samples] == [("a", "a.jpg"), ("b", "b.jpg")]


@pytest.mark.parametrize(
    ("rainy", "clean", "expected"),
    [
        ("wet", "wet", "--rainy-dir and --clean-dir are both"),
        ("wet", "missing", "--clean-dir .*missing is not a folder"),
        ("wet", "empty", "no images found in .*empty \\(--clean-dir"),
    ],
)
def test_two_folders_that_cannot_be_paired_are_refused(tmp_path: Path, rainy, clean, expected) -> None:
    _image(tmp_path / "wet" / "a.png", 10)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=expected):
        open_folder_pair(tmp_path / rainy, tmp_path / clean)


def test_size_mismatch_within_a_pair_is_refused_up_front(tmp_path: Path) -> None:
    _image(tmp_path / "rain" / "a.png", 10, size=(8, 6))
    _image(tmp_path / "norain" / "a.png", 10, size=(6, 8))
    with pytest.raises(DatasetError, match=r"a \(rain/a\.png 8x6, norain/a\.png 6x8\)"):
        open_folder(tmp_path)


def test_load_pair_checks_sizes_again(tmp_path: Path) -> None:
    rainy = _image(tmp_path / "r.png", 10, size=(8, 6))
    clean = _image(tmp_path / "c.png", 10, size=(8, 7))
    with pytest.raises(DatasetError, match=r"rainy .*r\.png is 8x6 but clean .*c\.png is 8x7"):
        load_pair(Sample("x", rainy, clean))


def test_load_pair_without_ground_truth(tmp_path: Path) -> None:
    rainy, clean = load_pair(Sample("x", _image(tmp_path / "r.png", 10), None))
    assert rainy.shape == (6, 8, 3) and clean is None


def test_corrupt_file_fails_before_any_decoding_run(tmp_path: Path) -> None:
    _pair(tmp_path, "rain/a.png", "norain/a.png", 10)
    broken = tmp_path / "norain" / "a.png"
    broken.write_bytes(broken.read_bytes()[:-20])
    with pytest.raises(ImageError, match=r"norain/a\.png.*truncated"):
        open_folder(tmp_path)


def test_non_image_files_are_ignored(tmp_path: Path) -> None:
    _pair(tmp_path, "rain/a.png", "norain/a.png", 10)
    (tmp_path / "rain" / "README.txt").write_text("notes")
    (tmp_path / "norain" / ".DS_Store").write_bytes(b"\x00")
    assert _names(open_folder(tmp_path)) == ["a"]


def test_layout_nested_one_folder_deep_is_found(tmp_path: Path) -> None:
    _pair(tmp_path / "Rain100L", "rain/a.png", "norain/a.png", 10)
    (tmp_path / "__MACOSX" / "rain").mkdir(parents=True)
    dataset = open_folder(tmp_path)
    assert dataset.root == tmp_path / "Rain100L" and dataset.name == "dir:Rain100L"


def test_several_nested_candidates_are_refused(tmp_path: Path) -> None:
    _pair(tmp_path / "Rain100H", "rain/a.png", "norain/a.png", 10)
    _pair(tmp_path / "Rain100L", "input/a.png", "target/a.png", 10)
    with pytest.raises(DatasetError, match=r"several subfolders hold a dataset \(Rain100H, Rain100L\)"):
        open_folder(tmp_path)


def test_not_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="is not a folder"):
        open_folder(tmp_path / "missing")


def test_sample_refuses_an_unknown_half(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="half"):
        Sample("x", tmp_path / "x.png", tmp_path / "x.png", half="top")
