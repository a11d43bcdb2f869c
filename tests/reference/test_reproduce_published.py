"""Published PReNet and BRN numbers (their READMEs, MATLAB `matlab-double`) reproduced through the harness.

The published numbers and tolerances are those of the full reproduction suite (reports/suites/full.toml, which
`nox -s reproduce` runs as a command). The full sets are `slow` (`python -m pytest -m slow tests/reference`, ~30 min
on 2 CPU cores for PReNet, more for BRN); a two-image run through the whole
pipeline (mirror -> verified weights and images -> forward -> scoring) is in the default test run. Each full
run must also equal, to float precision, the committed full reproduction (reports/reference/full/) that the
tables of the README and docs/ are checked against (tests/unit/test_readme_numbers.py).
"""

import json
from pathlib import Path

import pytest

from bench.methods.registry import build_method
from bench.run.runner import RunConfig, run
from bench.suite import load_suite

pytestmark = pytest.mark.reference

PSNR, SSIM = "psnr@matlab-double", "ssim@matlab-double"


def _published_checks() -> list[tuple[str, str, str, float, float]]:
    """(method, dataset, column, published, tolerance) of every check of the full reproduction suite
    (reports/suites/full.toml), the published value from the method's weights table, as `bench reproduce` takes it."""
    suite = load_suite("full")
    found = []
    for check in suite.checks:
        published = build_method(check.method).spec.published[check.dataset]
        for column in check.columns or tuple(published):
            found.append((check.method, check.dataset, column, published[column], suite.tolerance_for(check, column)))
    return found


REFERENCE = Path(__file__).resolve().parents[2] / "reports" / "reference"


def _committed_means(method: str, dataset: str) -> dict:
    """The means of the committed full reproduction (reports/reference/full/<group>/results.json)."""
    runs = [
        run
        for path in sorted((REFERENCE / "full").glob("*/results.json"))
        for run in json.loads(path.read_text(encoding="utf-8"))["runs"]
    ]
    (found,) = [r for r in runs if (r["method"], r["dataset"]) == (method, dataset)]
    return found["means"]


_FULL_RUNS: dict[tuple[str, str], dict] = {}  # one full run per (method, dataset), whatever columns are checked


def _means(store, method: str, dataset: str, limit: int | None = None) -> dict:
    if limit is None and (method, dataset) in _FULL_RUNS:
        return _FULL_RUNS[method, dataset]
    config = RunConfig(methods=(method,), datasets=(dataset,), limit=limit, device="cpu")
    (result,) = run(config, store, progress=False, log=lambda _: None)["runs"]
    if limit is None:
        _FULL_RUNS[method, dataset] = result["means"]
    return result["means"]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "dataset", "column", "published", "tolerance"), _published_checks())
def test_full_set_matches_published(mirror_store, method, dataset, column, published, tolerance):
    means = _means(mirror_store, method, dataset)
    assert means[column] == pytest.approx(published, abs=tolerance)
    assert means[column] == pytest.approx(_committed_means(method, dataset)[column], abs=1e-9)


@pytest.mark.slow
def test_the_rainy_input_scores_the_published_floor(mirror_store):
    """Rain100H's rainy inputs: about 13.56 dB / 0.38 (../shared/docs/baselines.md)."""
    means = _means(mirror_store, "identity", "rain100h")
    assert means[PSNR] == pytest.approx(13.56, abs=0.01)
    assert means[SSIM] == pytest.approx(0.38, abs=0.005)


def test_two_images_through_the_whole_pipeline(mirror_store):
    derained = _means(mirror_store, "prenet.rain100h", "rain100h", limit=2)
    rainy = _means(mirror_store, "identity", "rain100h", limit=2)
    # PReNet lifts Rain100H by ~16 dB on average; a broken port or pipeline falls far short of +10 dB
    assert derained[PSNR] > rainy[PSNR] + 10
    assert derained[SSIM] > rainy[SSIM] + 0.3
