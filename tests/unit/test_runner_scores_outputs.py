"""The runner scores the method's output: a method that changes the image, checked against an independent
computation of that output (NumPy, from the files on disk) and of its scores."""

import json
import math

import numpy as np
import pytest
from image_folders import pair_folder
from matlab_reference import ref_ssim_m_2009, ref_y_double
from PIL import Image

from bench.cli import main
from bench.methods import registry

TOY = "brighten-blur"


@pytest.fixture
def toy_method(monkeypatch):
    monkeypatch.setitem(registry.METHODS, TOY, "toy_methods:build")


def expected_output(rainy: np.ndarray) -> np.ndarray:
    """3x3 box blur with edge replication, + 0.04, truncated as uint8(255 * clip(y, 0, 1)), all in float32."""
    x = rainy.astype(np.float32) / np.float32(255)
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
    total = sum(padded[i : i + x.shape[0], j : j + x.shape[1]] for i in range(3) for j in range(3))
    y = total / np.float32(9) + np.float32(0.04)
    return (np.clip(y, 0, 1) * np.float32(255)).astype(np.uint8)


def test_scores_are_those_of_the_output_not_of_the_input(toy_method, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    folder = pair_folder(tmp_path / "set", names=("a", "b", "c"), size=(40, 56), seed=1)
    out = tmp_path / "out"
    argv = ["run", "--methods", f"{TOY},identity", "--dataset-dir", str(folder), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    runs = {run["method"]: run for run in json.loads((out / "results.json").read_text())["runs"]}
    for row in runs[TOY]["rows"]:
        rainy = np.asarray(Image.open(folder / "rain" / f"{row['image']}.png"))
        clean = np.asarray(Image.open(folder / "norain" / f"{row['image']}.png"))
        output = expected_output(rainy)
        assert (output != rainy).mean() > 0.9  # the method really changes the image
        ya, yb = ref_y_double(output), ref_y_double(clean)
        assert row["psnr@matlab-double"] == pytest.approx(10 * math.log10(1 / np.mean((ya - yb) ** 2)), abs=1e-9)
        assert row["ssim@matlab-double"] == pytest.approx(ref_ssim_m_2009(ya * 255, yb * 255), abs=1e-9)
    toy, identity = (runs[name]["means"]["psnr@matlab-double"] for name in (TOY, "identity"))
    assert abs(toy - identity) > 0.1  # blurring random noise changes the score: the two runs scored different images
