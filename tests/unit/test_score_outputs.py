"""`bench score`: a folder of outputs paired by name with a set's images, validated as inputs are, and scored as a
method cell of kind outputs. Every bad input is one line, exit 2, and nothing written."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from image_folders import write_png
from PIL import Image

from bench.cli import main

SIZE = (20, 28)


def _set(root: Path, count: int = 3, seed: int = 0) -> Path:
    """A PReNet-layout set of noise images: rain/rain-N.png and norain/norain-N.png."""
    rng = np.random.default_rng(seed)
    for n in range(1, count + 1):
        write_png(root / "rain" / f"rain-{n:03d}.png", rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8))
        write_png(root / "norain" / f"norain-{n:03d}.png", rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8))
    return root


def _outputs(root: Path, name_of, count: int = 3, seed: int = 1, size=SIZE) -> Path:
    rng = np.random.default_rng(seed)
    for n in range(1, count + 1):
        write_png(root / name_of(n), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return root


def _score(tmp_path: Path, outputs: Path, *options: str) -> int:
    data = tmp_path / "set"
    return main(
        [
            "score", str(outputs), "--name", "mynet", "--rainy-dir", str(data / "rain"),
            "--clean-dir", str(data / "norain"), "--out", str(tmp_path / "out"), "--no-progress", *options,
        ]
    )  # fmt: skip


def _refused(capsys, tmp_path: Path, code: int) -> str:
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not (tmp_path / "out").exists(), "a refused score wrote something"
    return err[0]


@pytest.mark.parametrize(
    "name_of",
    [
        lambda n: f"rain-{n:03d}.png",  # the rainy input's name
        lambda n: f"norain-{n:03d}.png",  # the ground truth's name
        lambda n: f"rain-{n:03d}.bmp",  # the same stem, another extension
        lambda n: f"{n}.png",  # the number, as Restormer's and MPRNet's scripts write it
    ],
    ids=["rainy-name", "clean-name", "other-extension", "number"],
)
def test_outputs_pair_by_name_under_each_naming(tmp_path, name_of):
    _set(tmp_path / "set")
    outputs = _outputs(tmp_path / "mine", name_of)
    assert _score(tmp_path, outputs, "--protocols", "rgb") == 0
    run = json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]
    spec = run["method_spec"]
    assert (run["method"], spec["kind"], spec["loaded_weights"]) == ("mynet", "outputs", None)
    assert (
        sorted(spec["outputs"]["files"])
        == [row["image"] for row in run["rows"]]
        == ["rain-001", "rain-002", "rain-003"]
    )
    for row in run["rows"]:  # each row scored the file named after its image: PSNR over RGB, computed here
        n = int(row["image"].removeprefix("rain-"))
        assert row["output_file"] == name_of(n) and row["forward_ms"] is None
        output = np.asarray(Image.open(outputs / name_of(n)).convert("RGB"), dtype=np.float64)
        clean = np.asarray(Image.open(tmp_path / "set" / "norain" / f"norain-{n:03d}.png"), dtype=np.float64)
        assert row["psnr@rgb"] == pytest.approx(10 * np.log10(255.0**2 / np.mean((output - clean) ** 2)), abs=1e-9)


def test_a_missing_output_is_refused_naming_it_and_allow_incomplete_scores_the_rest(tmp_path, capsys):
    _set(tmp_path / "set")
    outputs = _outputs(tmp_path / "mine", lambda n: f"rain-{n:03d}.png", count=2)
    message = _refused(capsys, tmp_path, _score(tmp_path, outputs))
    assert "1 image without an output: rain-003.png (no rain-003.png)" in message
    assert "--allow-incomplete" in message
    assert _score(tmp_path, outputs, "--allow-incomplete") == 0
    run = json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]
    assert run["n"] == 2 and run["dataset_info"]["complete"] is False
    assert "partial: 1 of 3 images have no output" in run["method_spec"]["outputs"]["warnings"]


def test_an_extra_file_is_refused_naming_it(tmp_path, capsys):
    _set(tmp_path / "set")
    outputs = _outputs(tmp_path / "mine", lambda n: f"rain-{n:03d}.png")
    write_png(outputs / "rain-004.png", np.zeros((*SIZE, 3), np.uint8))
    message = _refused(capsys, tmp_path, _score(tmp_path, outputs, "--allow-incomplete"))
    assert "1 file that no image pairs with: rain-004.png" in message and "by name, never by order" in message


def test_an_ambiguous_stem_is_refused_naming_both_files(tmp_path, capsys):
    _set(tmp_path / "set")
    outputs = _outputs(tmp_path / "mine", lambda n: f"{n}.png")
    write_png(outputs / "2.jpg", np.zeros((*SIZE, 3), np.uint8))
    message = _refused(capsys, tmp_path, _score(tmp_path, outputs))
    assert "ambiguous stem: rain-002.png (2.jpg or 2.png)" in message


def test_an_output_of_another_size_is_refused_with_both_sizes(tmp_path, capsys):
    _set(tmp_path / "set")
    outputs = _outputs(tmp_path / "mine", lambda n: f"rain-{n:03d}.png")
    write_png(outputs / "rain-002.png", np.zeros((24, 32, 3), np.uint8))  # padded to a multiple of 8
    message = _refused(capsys, tmp_path, _score(tmp_path, outputs))
    assert "rain-002 (rain-002.png 32x24, its image 28x20)" in message and "nothing is resized or cropped" in message


@pytest.mark.parametrize(
    ("write", "said"),
    [
        (lambda p: Image.fromarray(np.zeros((*SIZE, 4), np.uint8)).save(p), "transparent"),
        (lambda p: Image.fromarray(np.zeros(SIZE, np.uint16)).save(p), "16-bit or float image"),
    ],
    ids=["transparency", "16-bit"],
)
def test_transparency_and_16_bit_outputs_are_refused(tmp_path, capsys, write, said):
    _set(tmp_path / "set")
    outputs = _outputs(tmp_path / "mine", lambda n: f"rain-{n:03d}.png")
    write(outputs / "rain-001.png")
    assert said in _refused(capsys, tmp_path, _score(tmp_path, outputs))


def test_conversions_lossy_data_and_identical_files_are_warned_and_recorded(tmp_path, capsys):
    data = _set(tmp_path / "set")
    outputs = _outputs(tmp_path / "mine", lambda n: f"rain-{n:03d}.png")
    Image.open(outputs / "rain-001.png").convert("L").save(outputs / "rain-001.png")
    shutil.copy(data / "norain" / "norain-002.png", outputs / "rain-002.png")
    (outputs / "rain-003.png").unlink()
    Image.open(data / "rain" / "rain-003.png").save(outputs / "rain-003.jpg", quality=95)
    assert _score(tmp_path, outputs) == 0
    warnings = json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]["method_spec"]["outputs"]
    said = " | ".join(warnings["warnings"])
    assert "outputs: converted to RGB: greyscale, replicated to R, G and B: 1 image: rain-001" in said
    assert "outputs: JPEG data (lossy compression): 1 image: rain-003" in said
    assert "outputs byte-identical to their ground truth: 1 image: rain-002" in said
    assert "warning: mynet: outputs byte-identical to their ground truth" in capsys.readouterr().err


def test_the_rainy_folder_itself_is_warned_about(tmp_path, capsys):
    data = _set(tmp_path / "set")
    assert _score(tmp_path, data / "rain") == 0
    assert "outputs byte-identical to their rainy input (is the folder the set's own?): 3 images" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--name", "prenet.rain100h"], "is a registered method"),
        (["--name", "my/net"], "name the outputs with letters"),
    ],
)
def test_bad_names_are_refused(tmp_path, capsys, options, said):
    _set(tmp_path / "set")
    outputs = _outputs(tmp_path / "mine", lambda n: f"rain-{n:03d}.png")
    data = tmp_path / "set"
    code = main(
        ["score", str(outputs), "--rainy-dir", str(data / "rain"), "--clean-dir", str(data / "norain"),
         "--out", str(tmp_path / "out"), *options]
    )  # fmt: skip
    assert said in _refused(capsys, tmp_path, code)


def test_a_set_must_be_named_and_whole(tmp_path, capsys):
    _set(tmp_path / "set")
    outputs = _outputs(tmp_path / "mine", lambda n: f"rain-{n:03d}.png")
    code = main(["score", str(outputs), "--name", "mynet", "--out", str(tmp_path / "out")])
    assert "--dataset NAME, or --rainy-dir A --clean-dir B" in _refused(capsys, tmp_path, code)
    code = main(["score", str(outputs), "--name", "m", "--clean-dir", str(outputs), "--out", str(tmp_path / "out")])
    assert "pass --rainy-dir too" in _refused(capsys, tmp_path, code)
    code = main(
        ["score", str(tmp_path / "nowhere"), "--name", "m", "--dataset", "rain12", "--out", str(tmp_path / "out")]
    )
    assert "is not a folder" in _refused(capsys, tmp_path, code)
