"""Non-finite image scores follow a per-column rule that is recorded with the results.

PSNR of an image identical to its ground truth is inf (MATLAB's psnr too): under `propagate` the mean is inf,
as MATLAB's mean would be, and the image is counted and named. NIQE is NaN on a flat image: under `omit` it
is left out of the mean, counted and named.
"""

import json
import math

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.results.schema import RunResult


def _result(rows, rules) -> RunResult:
    columns = list(rules)
    return RunResult(method={"name": "m"}, dataset={"name": "d"}, columns=columns, rows=rows, non_finite_rules=rules)


def test_propagate_keeps_matlabs_mean_and_counts_the_images():
    rows = [{"image": "a", "psnr": 30.0}, {"image": "b", "psnr": math.inf}, {"image": "c", "psnr": 20.0}]
    result = _result(rows, {"psnr": "propagate"})
    assert result.means() == {"psnr": math.inf}
    assert result.non_finite() == {"psnr": {"count": 1, "images": ["b"], "rule": "propagate"}}


def test_omit_averages_the_finite_scores_and_names_the_others():
    rows = [{"image": "a", "niqe": 4.0}, {"image": "flat", "niqe": math.nan}, {"image": "c", "niqe": 6.0}]
    result = _result(rows, {"niqe": "omit"})
    assert result.means() == {"niqe": 5.0}
    assert result.non_finite() == {"niqe": {"count": 1, "images": ["flat"], "rule": "omit"}}


def test_omit_with_no_finite_score_is_nan_not_an_error():
    result = _result([{"image": "flat", "niqe": math.nan}], {"niqe": "omit"})
    assert math.isnan(result.means()["niqe"])


def test_all_finite_has_no_record():
    result = _result([{"image": "a", "psnr": 30.0}], {"psnr": "propagate"})
    assert result.non_finite() == {} and result.means() == {"psnr": 30.0}


def test_a_run_with_an_identical_pair_records_the_rule_and_the_image(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    rng = np.random.default_rng(0)
    for name in ("same", "other"):
        clean = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        rainy = clean if name == "same" else rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        for kind, image in (("rain", rainy), ("norain", clean)):
            (tmp_path / "set" / kind).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(tmp_path / "set" / kind / f"{name}.png")
    out = tmp_path / "out"
    argv = ["run", "--methods", "identity", "--dataset-dir", str(tmp_path / "set"), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "psnr@matlab-double of identity" in printed and "not finite on 1 image(s) (same)" in printed
    document = json.loads((out / "results.json").read_text())
    (run,) = document["runs"]
    assert run["means"]["psnr@matlab-double"] == "inf"
    assert run["means"]["ssim@matlab-double"] == pytest.approx(np.mean([r["ssim@matlab-double"] for r in run["rows"]]))
    assert run["non_finite"] == {"psnr@matlab-double": {"count": 1, "images": ["same"], "rule": "propagate"}}
    assert document["metrics"]["psnr@matlab-double"]["non_finite_rule"]["rule"] == "propagate"
