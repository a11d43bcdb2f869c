"""LPIPS and NIQE on real images from the data mirror, each against an independent computation.

LPIPS: our column (the `lpips` package, inputs in [-1, 1]) against pyiqa's separate implementation of the
same definition (`pyiqa.create_metric("lpips")`, inputs in [0, 1]), both with the mirror's AlexNet trunk and
v0.1 heads (the same bytes: lpips' wheel copy and the mirror's hub/pyiqa copy share sha256 df73285e...).

NIQE: our column (pyiqa 0.1.16's definition, computed by bench.metrics.niqe_metric in float64) against
`niqe_of_luma(niqe_luma(rgb), ...)` below, written with NumPy/SciPy from the paper (Mittal, Soundararajan and
Bovik, IEEE SPL 2013) and the steps of the MATLAB release (computequality.m, computefeature.m,
estimateaggdparam.m), following pyiqa's choices where they move the numbers: its YIQ luma, its top-left crop to
multiples of 96, and its Gaussian window stored in float32. It calls nothing from bench.metrics or pyiqa. And
against pyiqa itself (`pyiqa.create_metric("niqe")`), whose float32 luma and resize are the only difference.

Images: Rain100H test pairs norain-N for N in PAIRS (norain-4's clean image is the same file as norain-3's,
so 4 is not used), plus a JPEG (quality 10) and a Gaussian-blurred (radius 2) copy of clean image 1.
"""

import io
import math
import socket
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from anchors import import_pyiqa
from PIL import Image, ImageFilter
from scipy import ndimage, special

from bench.data.images import read_image
from bench.metrics import make_scorer

pytestmark = pytest.mark.reference

PAIRS = (1, 2, 3, 5)
LPIPS, NIQE = "lpips@alex-v0.1", "niqe@derain-bench"

# lpips and pyiqa run the same float32 operations on the same inputs (x/127.5 - 1 and 2 (x/255) - 1 are the
# same float32 numbers): on all 100 Rain100H pairs they agreed exactly. 1e-4 (the 4 decimals LPIPS values
# are quoted with) leaves room for another platform's float32 order and is far below what a change of
# backbone, heads or input scaling does (0.018 on pair 1 when its [0, 1] inputs are not mapped to [-1, 1]).
LPIPS_TOL = 1e-4

# NIQE: the reference follows pyiqa's steps in float64, window included (its float32 rounding is a bias:
# weights summing to 1 + 1.1e-8 inflate the local variance by up to 1.1e-8 y^2 and move NIQE by up to 3.4%).
# Our column does the same; the two differ only in the AGGD shape grid (float32 values of 0.2:0.001:10 in our
# column, as pyiqa builds it; float64 in the reference). On the 200 Rain100H test images: median 4.0e-8,
# maximum 2.2e-7. A change of parameters, colour conversion or window moves rainy images by >= 1%.
NIQE_REL_TOL = 1e-6
NIQE_MEDIAN_REL_TOL = 1e-7
# pyiqa computes the luma (which can break an exact .5 tie the other way) and the half-scale image in float32,
# through kernels the CPU's vector extensions choose. That noise matters only where it tips a patch's AGGD shape
# to the next 0.001 grid step, which moves NIQE by up to ~1e-3 relative. On the 200 Rain100H test images (Intel
# Xeon, AVX-512): median 1.75e-7, 49 above 1e-5, maximum 8.4e-4; pyiqa's golden values below, made on
# another machine, differ from its numbers on this one by up to 3.4e-4 (rain-2).
PYIQA_NIQE_REL_TOL = 2e-3
PYIQA_NIQE_MEDIAN_REL_TOL = 1e-5
# With MATLAB's float64 window (weights summing to 1) instead of pyiqa's float32 one, NIQE moves by up to
# 3.4% on the 200 Rain100H images (mostly rainy ones): the size of the ~5% pyiqa-vs-MATLAB gap documented.
PYIQA_VS_MATLAB_WINDOW_REL = 0.05

# Golden values of our columns as lpips 0.1.4 and pyiqa 0.1.16 computed them (torch 2.14.1, the mirror's
# torch_home files). The tolerances above cover float32 differences between platforms; a backend change shows up
# here. Our float64 NIQE is within NIQE_REL_TOL of pyiqa's golden values on these images.
GOLDEN = {  # n: (LPIPS(rainy, clean), NIQE(rainy), NIQE(clean))
    1: (0.6361768245697021, 11.400435035235882, 2.6350426623501604),
    2: (0.7692760229110718, 13.244306940777578, 3.301339263450753),
    3: (0.6899810433387756, 10.604861010064234, 2.7127404500577863),
    5: (0.7667330503463745, 16.94506590789852, 3.775776811966264),
}


# ---------------------------------------------------------------- independent NIQE


def niqe_luma(rgb: np.ndarray) -> np.ndarray:
    """pyiqa's NIQE luma, round(0.299 R + 0.587 G + 0.114 B) on 0..255, exactly (integers; ties to even)."""
    r, g, b = (rgb[..., c].astype(np.int64) for c in range(3))
    return np.round((299 * r + 587 * g + 114 * b) / 1000)


def gaussian_window(float32_weights: bool) -> np.ndarray:
    """MATLAB fspecial('gaussian', 7, 7/6); pyiqa keeps its weights in float32, which sum to 1 + 1.1e-8."""
    x, y = np.meshgrid(np.arange(-3, 4), np.arange(-3, 4))
    h = np.exp(-(x * x + y * y) / (2 * (7 / 6) ** 2))
    h[h < np.finfo(float).eps * h.max()] = 0
    h /= h.sum()
    return h.astype(np.float32).astype(np.float64) if float32_weights else h


def mscn(y: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(y - mu) / (sigma + 1), local mean and deviation from imfilter(..., 'replicate')."""
    mu = ndimage.correlate(y, window, mode="nearest")
    sigma = np.sqrt(np.abs(ndimage.correlate(y * y, window, mode="nearest") - mu * mu))
    return (y - mu) / (sigma + 1)


ALPHAS = np.arange(0.2, 10.0005, 0.001)
RATIO_OF_ALPHA = np.exp(2 * special.gammaln(2 / ALPHAS) - special.gammaln(1 / ALPHAS) - special.gammaln(3 / ALPHAS))


def aggd_fit(x: np.ndarray) -> tuple[float, float, float]:
    """estimateaggdparam.m: shape alpha by moment matching on the 0.2:0.001:10 grid, left and right scales."""
    x = x.ravel()
    left, right = x[x < 0], x[x > 0]
    if left.size == 0 or right.size == 0:
        return math.nan, math.nan, math.nan
    left_std, right_std = math.sqrt(np.mean(left**2)), math.sqrt(np.mean(right**2))
    gamma = left_std / right_std
    r_hat = np.mean(np.abs(x)) ** 2 / np.mean(x**2)
    r_norm = r_hat * (gamma**3 + 1) * (gamma + 1) / (gamma**2 + 1) ** 2
    alpha = ALPHAS[np.argmin(np.abs(RATIO_OF_ALPHA - r_norm))]
    to_scale = math.sqrt(math.gamma(1 / alpha) / math.gamma(3 / alpha))
    return alpha, left_std * to_scale, right_std * to_scale


def patch_features(patch: np.ndarray) -> list[float]:
    """computefeature.m: AGGD of the MSCN patch, then of its products with 4 circularly shifted copies."""
    alpha, beta_l, beta_r = aggd_fit(patch)
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, beta_l, beta_r = aggd_fit(patch * np.roll(patch, shift, axis=(0, 1)))
        mean = math.nan if math.isnan(alpha) else (beta_r - beta_l) * math.gamma(2 / alpha) / math.gamma(1 / alpha)
        features += [alpha, mean, beta_l, beta_r]
    return features


def cubic(x: np.ndarray) -> np.ndarray:
    """MATLAB imresize's bicubic kernel (a = -0.5)."""
    ax = np.abs(x)
    return (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1) + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


def halving_matrix(n: int) -> np.ndarray:
    """MATLAB imresize(x, 0.5) along one axis of length n: antialiased bicubic (kernel stretched by 2),
    `contributions` of imresize.m with its mirrored edge indices, as an (ceil(n/2) x n) matrix."""
    scale, width = 0.5, 4 / 0.5
    out = np.arange(1, math.ceil(n * scale) + 1)
    centre = out / scale + 0.5 * (1 - 1 / scale)
    taps = np.floor(centre - width / 2)[:, None] + np.arange(math.ceil(width) + 2)
    weights = scale * cubic(scale * (centre[:, None] - taps))
    weights /= weights.sum(axis=1, keepdims=True)
    mirrored = np.concatenate([np.arange(n), np.arange(n)[::-1]])
    columns = mirrored[np.mod(taps.astype(int) - 1, 2 * n)]
    matrix = np.zeros((out.size, n))
    np.add.at(matrix, (np.repeat(np.arange(out.size), taps.shape[1]), columns.ravel()), weights.ravel())
    return matrix


def niqe_of_luma(y: np.ndarray, mu_pristine: np.ndarray, cov_pristine: np.ndarray, window: np.ndarray) -> float:
    """computequality.m on 96x96 patches (no overlap) of the top-left multiple of 96, at two scales."""
    y = y[: y.shape[0] // 96 * 96, : y.shape[1] // 96 * 96]
    per_scale = []
    for block in (96, 48):
        if block == 48:  # the second scale: MATLAB imresize(y, 0.5) of the [0, 1] luma, not rounded
            y = halving_matrix(y.shape[0]) @ (y / 255) @ halving_matrix(y.shape[1]).T * 255
        z = mscn(y, window)
        per_scale.append(
            [
                patch_features(z[i : i + block, j : j + block])
                for i in range(0, z.shape[0], block)
                for j in range(0, z.shape[1], block)
            ]
        )
    features = np.concatenate([np.array(f) for f in per_scale], axis=1)
    mu = np.nanmean(features, axis=0)
    cov = np.cov(features[~np.isnan(features).any(axis=1)], rowvar=False)
    d = mu_pristine - mu
    return float(np.sqrt(d @ np.linalg.pinv((cov_pristine + cov) / 2) @ d))


# ---------------------------------------------------------------- data and backends


def jpeg_and_blur(clean: np.ndarray) -> dict[str, np.ndarray]:
    buffer = io.BytesIO()
    Image.fromarray(clean).save(buffer, format="JPEG", quality=10)
    blurred = Image.fromarray(clean).filter(ImageFilter.GaussianBlur(radius=2))
    return {"jpeg-q10": np.asarray(Image.open(buffer).convert("RGB")), "blur-r2": np.asarray(blurred)}


@pytest.fixture(scope="module")
def pairs(mirror: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (degraded, clean)."""
    root = mirror / "datasets" / "Rain100H" / "test" / "small"
    rain = {
        f"rain-{n}": (read_image(root / "rain" / f"norain-{n}.png"), read_image(root / "norain" / f"norain-{n}.png"))
        for n in PAIRS
    }
    clean_1 = rain["rain-1"][1]
    return rain | {name: (image, clean_1) for name, image in jpeg_and_blur(clean_1).items()}


@pytest.fixture(scope="module")
def torch_home(mirror: Path):
    """TORCH_HOME at the mirror's prepared cache while the backends are built, with the network refused."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:2]}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(mirror / "torch_home"))
        assert Path(torch.hub.get_dir()) == mirror / "torch_home" / "hub"  # read at call time
        mp.setattr(socket.socket, "connect", refuse)
        yield mirror / "torch_home"


@pytest.fixture(scope="module")
def scorer(torch_home: Path):
    return make_scorer(("lpips", "niqe"))


@pytest.fixture(scope="module")
def pyiqa_lpips(torch_home: Path):
    pyiqa = import_pyiqa()

    heads = torch_home / "hub" / "pyiqa" / "LPIPS_v0.1_alex-df73285e.pth"
    return pyiqa.create_metric("lpips", device=torch.device("cpu"), pretrained_model_path=str(heads))


@pytest.fixture(scope="module")
def pristine(torch_home: Path) -> tuple[np.ndarray, np.ndarray]:
    params = scipy.io.loadmat(torch_home / "hub" / "pyiqa" / "niqe_modelparameters.mat")
    return np.ravel(params["mu_prisparam"]), params["cov_prisparam"]


def unit_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.tensor(image).permute(2, 0, 1)[None].float() / 255


# ---------------------------------------------------------------- LPIPS


def test_lpips_package_agrees_with_pyiqa(scorer, pyiqa_lpips, pairs):
    for name, (degraded, clean) in pairs.items():
        with torch.inference_mode():
            theirs = pyiqa_lpips(unit_tensor(degraded), unit_tensor(clean)).item()
        assert scorer(degraded, clean)[LPIPS] == pytest.approx(theirs, abs=LPIPS_TOL), name


def test_lpips_sees_rain_and_degradations(scorer, pairs):
    scores = {name: scorer(degraded, clean)[LPIPS] for name, (degraded, clean) in pairs.items()}
    assert all(scores[f"rain-{n}"] > 0.5 for n in PAIRS), scores  # measured 0.64 .. 0.77
    assert scores["jpeg-q10"] > 0.2 and scores["blur-r2"] > 0.2, scores  # measured 0.31 and 0.51
    clean = pairs["rain-1"][1]
    assert scorer(clean, clean.copy())[LPIPS] == 0.0


# ---------------------------------------------------------------- NIQE


def images(pairs) -> dict[str, np.ndarray]:
    named = {name: degraded for name, (degraded, _) in pairs.items()}
    return named | {f"clean-{n}": pairs[f"rain-{n}"][1] for n in PAIRS}


def test_niqe_matches_independent_implementation(scorer, pairs, pristine):
    window = gaussian_window(float32_weights=True)
    gaps = []
    for name, image in images(pairs).items():
        got, want = scorer(image, None)[NIQE], niqe_of_luma(niqe_luma(image), *pristine, window)
        assert got == pytest.approx(want, rel=NIQE_REL_TOL), name
        gaps.append(abs(got / want - 1))
    assert np.median(gaps) < NIQE_MEDIAN_REL_TOL, gaps


@pytest.fixture(scope="module")
def pyiqa_niqe(torch_home: Path):
    pyiqa = import_pyiqa()

    pristine = torch_home / "hub" / "pyiqa" / "niqe_modelparameters.mat"
    return pyiqa.create_metric("niqe", device=torch.device("cpu"), pretrained_model_path=str(pristine))


def test_niqe_agrees_with_pyiqa(scorer, pyiqa_niqe, pairs):
    gaps = []
    for name, image in images(pairs).items():
        with torch.inference_mode():
            theirs = pyiqa_niqe(unit_tensor(image)).item()
        assert scorer(image, None)[NIQE] == pytest.approx(theirs, rel=PYIQA_NIQE_REL_TOL), name
        gaps.append(abs(scorer(image, None)[NIQE] / theirs - 1))
    assert np.median(gaps) < PYIQA_NIQE_MEDIAN_REL_TOL, gaps


def test_the_niqe_pyiqa_column_is_pyiqas_own_number(pyiqa_niqe, pairs):
    """`--metrics niqe-pyiqa` gives exactly what pyiqa, called here, gives; the default column only approaches it."""
    theirs = make_scorer(("niqe-pyiqa",))
    for name, image in images(pairs).items():
        with torch.inference_mode():
            assert theirs(image, None)["niqe@pyiqa"] == pyiqa_niqe(unit_tensor(image)).item(), name


def test_niqe_with_matlabs_window_stays_within_the_documented_gap(scorer, pairs, pristine):
    window = gaussian_window(float32_weights=False)
    for name, image in images(pairs).items():
        want = niqe_of_luma(niqe_luma(image), *pristine, window)
        assert scorer(image, None)[NIQE] == pytest.approx(want, rel=PYIQA_VS_MATLAB_WINDOW_REL), name


def test_niqe_rises_with_rain_and_degradations(scorer, pairs):
    for name, (degraded, clean) in pairs.items():
        # measured: rainy 7.9 .. 13.2 above clean, JPEG q10 +4.9, blur +5.8 (clean 2.6 .. 3.8)
        assert scorer(degraded, None)[NIQE] > scorer(clean, None)[NIQE] + 3, name


# ---------------------------------------------------------------- golden values


def test_golden_values(scorer, pairs):
    for n, (lpips_rainy, niqe_rainy, niqe_clean) in GOLDEN.items():
        rainy, clean = pairs[f"rain-{n}"]
        assert scorer(rainy, clean)[LPIPS] == pytest.approx(lpips_rainy, abs=LPIPS_TOL), n
        assert scorer(rainy, None)[NIQE] == pytest.approx(niqe_rainy, rel=NIQE_REL_TOL), n
        assert scorer(clean, None)[NIQE] == pytest.approx(niqe_clean, rel=NIQE_REL_TOL), n


def test_niqe_of_a_flat_image_is_nan_and_is_left_out_of_the_mean(scorer):
    """pyiqa's NIQE is undefined on a flat image; the column's rule `omit` keeps it out of a set's mean."""
    from bench.results.schema import RunResult

    flat = np.full((96, 128, 3), 128, dtype=np.uint8)
    textured = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    rows = [{"image": "flat", **scorer(flat, flat)}, {"image": "textured", **scorer(textured, flat)}]
    assert math.isnan(rows[0]["niqe@derain-bench"]) and math.isfinite(rows[1]["niqe@derain-bench"])
    result = RunResult(
        method={}, dataset={}, columns=scorer.columns, rows=rows, non_finite_rules=scorer.non_finite_rules
    )
    assert result.means()["niqe@derain-bench"] == rows[1]["niqe@derain-bench"]
    assert result.non_finite()["niqe@derain-bench"] == {"count": 1, "images": ["flat"], "rule": "omit"}
