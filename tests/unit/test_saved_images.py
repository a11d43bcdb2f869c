"""`run --save-images`: every output kept exactly as scored, checksummed, and never half-written."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from report_runs import NAMES, TOY, toy_run
from toy_methods import OFFSET

from bench.cli import main
from bench.methods import registry
from bench.run.cell import Cell
from bench.run.saved_images import GROUND_TRUTH, RAINY, image_path


def _expected_toy_output(rainy: np.ndarray) -> np.ndarray:
    """The toy method written out independently: 3x3 replicate-padded box blur + 0.04, truncated to uint8."""
    x = torch.from_numpy(rainy.copy()).permute(2, 0, 1)[None].double() / 255
    y = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1) + OFFSET
    return np.floor(y.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def test_every_output_and_input_is_kept_with_its_sha256(tmp_path):
    out = toy_run(tmp_path / "run")
    document = json.loads((out / "results.json").read_text())
    dataset = document["runs"][0]["dataset"]
    pairs = tmp_path / "run-pairs"
    for run in document["runs"]:
        assert [row["image"] for row in run["rows"]] == list(NAMES)
        for row in run["rows"]:
            path = image_path(out, run["method"], dataset, row["image"])
            assert hashlib.sha256(path.read_bytes()).hexdigest() == row["output_png_sha256"]
            rainy = _png(pairs / "rain" / f"{row['image']}.png")
            expected = rainy if run["method"] == "identity" else _expected_toy_output(rainy)
            assert np.abs(_png(path).astype(int) - expected.astype(int)).max() <= 1  # float32 vs float64 rounding
            if run["method"] == "identity":
                np.testing.assert_array_equal(_png(path), rainy)
    inputs = document["images"]["inputs"][dataset]
    for name in NAMES:
        rainy_file = image_path(out, RAINY, dataset, name)
        clean_file = image_path(out, GROUND_TRUTH, dataset, name)
        assert hashlib.sha256(rainy_file.read_bytes()).hexdigest() == inputs[name]["rainy_png_sha256"]
        assert hashlib.sha256(clean_file.read_bytes()).hexdigest() == inputs[name]["clean_png_sha256"]
        np.testing.assert_array_equal(_png(clean_file), _png(pairs / "norain" / f"{name}.png"))
    assert not list(out.glob(".*")), "no staging folder is left behind"


def test_a_run_without_save_images_keeps_none(tmp_path):
    out = toy_run(tmp_path / "run", save_images=False)
    document = json.loads((out / "results.json").read_text())
    assert "images" not in document and not (out / "images").exists()
    assert all("output_png_sha256" not in row for run in document["runs"] for row in run["rows"])


def test_overwriting_replaces_the_images_of_the_earlier_run(tmp_path):
    out = toy_run(tmp_path / "run")
    stale = image_path(out, "identity", "dir:stale", "x")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"not from this run")
    toy_run(tmp_path / "run", save_images=False, extra=("--overwrite",))
    assert not (out / "images").exists()


def test_a_run_that_fails_midway_leaves_no_results_and_resumes_with_its_images(tmp_path, monkeypatch, capsys):
    original = Cell.run
    calls = []

    def fail_on_second_method(self, *args, **kwargs):
        calls.append(self.method.spec.name)
        if len(calls) == 2:
            raise RuntimeError("the second method crashed")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Cell, "run", fail_on_second_method)
    monkeypatch.setitem(registry.METHODS, TOY, "toy_methods:build")
    from image_folders import pair_folder

    pairs = pair_folder(tmp_path / "pairs", names=NAMES[:2], size=(24, 32))
    out = tmp_path / "run"
    argv = ["run", "--methods", f"{TOY},identity", "--dataset-dir", str(pairs), "--out", str(out), "--save-images"]
    with pytest.raises(RuntimeError, match="second method"):
        main(argv)
    assert not (out / "results.json").exists() and not (out / "images").exists()
    assert sorted(p.name for p in out.iterdir()) == [".images-partial", "journal.jsonl"]  # kept for a resume

    monkeypatch.setattr(Cell, "run", original)
    assert main([*argv, "--no-progress"]) == 0
    assert f"resuming: 2 of 2 images of {TOY}/dir:pairs already done" in capsys.readouterr().err
    document = json.loads((out / "results.json").read_text())
    assert [run["timing"]["resumed_images"] for run in document["runs"]] == [2, 0]
    assert sorted(p.name for p in out.iterdir()) == ["images", "per_image.csv", "results.json", "summary.csv"]
    for run in document["runs"]:
        for row in run["rows"]:
            saved = image_path(out, run["method"], run["dataset"], row["image"])
            assert hashlib.sha256(saved.read_bytes()).hexdigest() == row["output_png_sha256"]


def test_a_run_refused_before_its_first_image_writes_nothing(tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "--methods",
                "identity",
                "--dataset-dir",
                str(tmp_path / "nowhere"),
                "--out",
                str(out),
                "--save-images",
            ]
        )
        == 2
    )
    assert not out.exists()
