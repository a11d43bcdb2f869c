"""matlab-double's SSIM is Wang's 2009 `ssim.m` (automatic downsampling) at every image size.

The reference here is written from the MATLAB documentation of `ssim.m`, `round`, `imfilter` and `padarray`,
independently of bench.metrics: a direct f x f correlation over a `np.pad(..., 'symmetric')` image with the
kernel centred where imfilter centres it, subsampled from the first pixel, then a direct 2-D 'valid' SSIM.
Sizes straddle every step of f = max(1, round(min(M, N) / 256)).
"""

import math

import numpy as np
import pytest
from matlab_reference import ref_ssim_index, ref_ssim_m_2009, ref_y_double
from scipy import ndimage

from bench.metrics import make_scorer
from bench.metrics.ssim import downsampling_factor

TOL = 1e-10

# (height, width): short sides 383 | 384 (f 1 | 2), 639 | 640 (2 | 3), 896 (3.5 -> 4), 901+; non-square,
# portrait and landscape
STRADDLING = [
    (383, 512),
    (512, 383),
    (384, 385),
    (385, 384),
    (639, 700),
    (640, 641),
    (700, 640),
    (896, 1000),
    (960, 901),
]


def textured_pair(shape, seed):
    """Texture at several scales and a degraded copy, so that block averaging changes SSIM noticeably."""
    rng = np.random.default_rng(seed)
    fine = rng.normal(0, 25, (*shape, 3))
    coarse = ndimage.gaussian_filter(rng.normal(size=(*shape, 3)), sigma=(6, 6, 0))
    target = np.clip(128 + 50 * coarse / coarse.std() + fine, 0, 255)
    pred = target + rng.normal(2, 20, (*shape, 3))
    pred[:, :: max(2, shape[1] // 11)] += 70
    return tuple(np.clip(x, 0, 255).round().astype(np.uint8) for x in (pred, target))


@pytest.mark.parametrize(
    ("short_side", "factor"),
    [(11, 1), (383, 1), (384, 2), (639, 2), (640, 3), (895, 3), (896, 4), (1151, 4), (1152, 5)],
)
def test_factor_rounds_half_away_from_zero(short_side, factor):
    assert downsampling_factor(short_side, 5000) == factor
    assert downsampling_factor(5000, short_side) == factor
    assert factor == max(1, math.floor(short_side / 256 + 0.5))


@pytest.fixture(scope="module")
def scorer():
    return make_scorer(metrics=("psnr", "ssim"), protocols=("matlab-double", "matlab-uint8"))


@pytest.mark.parametrize("shape", STRADDLING, ids=lambda s: f"{s[0]}x{s[1]}")
def test_matlab_double_ssim_is_ssim_m_at_every_step(scorer, shape):
    pred, target = textured_pair(shape, seed=shape[0] * 7 + shape[1])
    ya, yb = ref_y_double(pred) * 255, ref_y_double(target) * 255
    want = ref_ssim_m_2009(ya, yb)
    assert scorer(pred, target)["ssim@matlab-double"] == pytest.approx(want, abs=TOL)


@pytest.mark.parametrize("shape", [(383, 500), (384, 500), (640, 700)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_downsampling_matters_from_384_and_only_there(scorer, shape):
    """Without downsampling the value differs by more than 0.005 on these textured images from 384 px on;
    at 383 the two files agree exactly. PSNR never downsamples."""
    pred, target = textured_pair(shape, seed=1)
    ya, yb = ref_y_double(pred) * 255, ref_y_double(target) * 255
    got = scorer(pred, target)["ssim@matlab-double"]
    without = ref_ssim_index(ya, yb)
    if min(shape) < 384:
        assert got == pytest.approx(without, abs=TOL)
    else:
        assert abs(got - without) > 0.005


def test_matlab_uint8_never_downsamples(scorer):
    """Restormer's SSIM_index (2003) has no downsampling, at any size."""
    pair = pred, target = textured_pair((700, 640), seed=2)
    y = [np.floor(16 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255 + 0.5) for x in pair]
    assert scorer(pred, target)["ssim@matlab-uint8"] == pytest.approx(ref_ssim_index(*y), abs=1e-6)


def test_subsampling_starts_at_the_first_pixel():
    """A single bright pixel at (0, 0) survives a 2x2 block average at (0, 0) (imfilter's centre is the
    top-left of an even kernel); one at (1, 1) lands in the same block; one at (2, 2) in the next."""
    from bench.metrics.ssim import block_average_downsample

    image = np.zeros((6, 6))
    image[0, 0] = 4.0
    out = block_average_downsample(image, 2)
    assert out.shape == (3, 3) and out[0, 0] == 1.0 and out.sum() == 1.0
    image = np.zeros((5, 5))
    image[4, 4] = 4.0  # last row/column: its block reads the mirrored edge, which repeats it
    assert block_average_downsample(image, 2)[2, 2] == 4.0
