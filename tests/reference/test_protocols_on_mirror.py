"""The `identity` baseline (rainy input scored against ground truth) on the mirrored Rain100H test set.

Published floor under the PReNet MATLAB protocol: mean PSNR 13.56 dB, mean SSIM about 0.38.
"""

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.metrics import make_scorer

pytestmark = pytest.mark.reference

PUBLISHED_PSNR = 13.56  # two decimals published: +-0.005 rounding, +-0.01 allowed
PUBLISHED_SSIM = 0.38  # "about 0.38": two decimals, so +-0.005

# MATLAB's Y - 16/255 is 219/255 times the full-range BT.601 luma (65.481/219 = 0.299, ...), so every
# luma difference shrinks by 219/255 and PSNR rises by exactly 20 log10(255/219) = 1.3219 dB. The only
# departure is OpenCV's rounding of Y to uint8: uncorrelated noise of variance 1/6 grey level^2 on a
# difference, against an MSE of ~4,000 here (PSNR ~12 dB), i.e. ~2e-4 dB. 0.005 dB on the mean and
# 0.01 dB per image bound that with a wide margin while still catching any other luma or peak change.
FULL_RANGE_GAP_DB = 20 * math.log10(255 / 219)
GAP_TOL_DB = 0.005


def _load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def identity_scores(mirror: Path) -> list[dict[str, float]]:
    """Per-image scores of the rainy inputs, paired with ground truth by file name."""
    root = mirror / "datasets" / "Rain100H" / "test" / "small"
    rainy = {p.name: p for p in (root / "rain").glob("*.png")}
    clean = {p.name: p for p in (root / "norain").glob("*.png")}
    assert rainy.keys() == clean.keys(), f"unpaired files: {sorted(rainy.keys() ^ clean.keys())}"
    assert len(rainy) == 100
    scorer = make_scorer(protocols=("matlab-double", "opencv-fullrange", "msdr-official"))
    return [scorer(_load_rgb(rainy[name]), _load_rgb(clean[name])) for name in sorted(rainy)]


def _mean(scores: list[dict[str, float]], column: str) -> float:
    return float(np.mean([s[column] for s in scores]))


def test_identity_matches_the_published_floor(identity_scores):
    assert abs(_mean(identity_scores, "psnr@matlab-double") - PUBLISHED_PSNR) <= 0.01
    assert abs(_mean(identity_scores, "ssim@matlab-double") - PUBLISHED_SSIM) <= 0.005


def test_opencv_full_range_scores_about_1_32_db_lower(identity_scores):
    gaps = [s["psnr@matlab-double"] - s["psnr@opencv-fullrange"] for s in identity_scores]
    assert abs(np.mean(gaps) - FULL_RANGE_GAP_DB) <= GAP_TOL_DB
    assert max(abs(g - FULL_RANGE_GAP_DB) for g in gaps) <= 2 * GAP_TOL_DB


def test_msdr_wrap_around_only_inflates(identity_scores):
    """(d^2 mod 256) <= d^2 at every pixel, so the MSDR PSNR is never below the correct one; SSIM equal."""
    for s in identity_scores:
        assert s["psnr@msdr-official"] >= s["psnr@opencv-fullrange"]
        assert s["ssim@msdr-official"] == s["ssim@opencv-fullrange"]
