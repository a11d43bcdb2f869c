"""The pipelined runner (bench.run.cell): the same numbers, in the same order, for any number of workers; batching
of equal-sized images, recorded and kept away from published numbers."""

import json

import numpy as np
import pytest
from image_folders import write_png
from report_runs import TOY

from bench.cli import EXIT_INPUT_ERROR, main
from bench.methods import registry
from bench.results.schema import RunResult


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    monkeypatch.delenv("DERAIN_BENCH_MIRROR", raising=False)
    monkeypatch.setitem(registry.METHODS, TOY, "toy_methods:build")
    rng = np.random.default_rng(3)
    for k in range(9):
        size = (24, 32) if k % 4 else (32, 24)  # sizes change along the set: batches must break there
        write_png(tmp_path / "set" / "rain" / f"{k}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        write_png(tmp_path / "set" / "norain" / f"{k}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return tmp_path / "set"


def _run(folder, out, *extra) -> dict:
    argv = ["run", "--methods", f"{TOY},ugsm", "--dataset-dir", str(folder), "--metrics", "psnr,ssim"]
    assert main([*argv, "--protocols", "all", "--save-images", "--out", str(out), "--no-progress", *extra]) == 0
    return json.loads((out / "results.json").read_text())


def _numbers(document) -> list:
    return [
        (run["method"], run["means"], [{k: v for k, v in row.items() if k != "forward_ms"} for row in run["rows"]])
        for run in document["runs"]
    ]


def test_any_number_of_workers_gives_the_same_numbers_in_the_same_order(folder, tmp_path):
    in_series = _run(folder, tmp_path / "w0", "--workers", "0")
    assert [row["image"] for row in in_series["runs"][0]["rows"]] == [str(k) for k in range(9)]
    for workers in ("1", "3"):
        document = _run(folder, tmp_path / f"w{workers}", "--workers", workers)
        assert _numbers(document) == _numbers(in_series)  # output PNG sha256s included
        assert {run["timing"]["workers"] for run in document["runs"]} == {int(workers)}


def test_batches_of_equal_sized_images_give_the_batch_1_outputs_here_and_are_recorded(folder, tmp_path):
    single = _run(folder, tmp_path / "b1", "--workers", "0")
    batched = _run(folder, tmp_path / "b4", "--batch-size", "4")
    assert _numbers(batched) == _numbers(single)  # both methods are batch-invariant, to the output pixel
    assert batched["config"]["batch_size"] == 4
    forward_ms = [row["forward_ms"] for row in batched["runs"][0]["rows"]]
    assert forward_ms[1] == forward_ms[2] == forward_ms[3]  # images 1-3 (24x32) went through together


def test_a_batched_run_is_not_compared_with_published_numbers():
    published = {"name": "m", "published": {"d": {"psnr@matlab-double": 30.0}}}
    dataset = {"name": "d", "n": 2, "complete": True}
    batched = RunResult(method=published, dataset=dataset, columns=[], batch_size=2)
    assert batched.published_withheld() == "--batch-size 2: published numbers are checked at batch size 1"
    assert RunResult(method=published, dataset=dataset, columns=[]).published_withheld() is None


@pytest.mark.parametrize(("option", "value"), [("--workers", "-1"), ("--batch-size", "0")])
def test_impossible_pipeline_settings_are_refused(folder, tmp_path, capsys, option, value):
    argv = ["run", "--methods", "identity", "--dataset-dir", str(folder), "--out", str(tmp_path / "o"), option, value]
    assert main(argv) == EXIT_INPUT_ERROR
    assert capsys.readouterr().err.startswith(f"error: {option} must be")
