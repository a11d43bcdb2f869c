"""NIQE (Mittal, Soundararajan and Bovik, IEEE SPL 2013) as pyiqa 0.1.16 defines it, computed in float64.

Column `niqe@derain-bench` (`--metrics niqe`): no reference, lower is better. The definition is pyiqa's `niqe`
with its defaults (test_y_channel=True, color_space='yiq', crop_border=0); the computation is derain-bench's own,
needs no pyiqa (whose licence is non-commercial), and scores identical images identically on every CPU; the
column says who computed it. pyiqa's own computation is the `niqe@pyiqa` column (`--metrics niqe-pyiqa`, the
pyiqa extra). pyiqa itself rounds an exact-.5 luma either way and halves the image in float32, both through
kernels chosen by the CPU's instruction set: on the same bytes its NIQE moved by 0.17% between an Intel and an
AMD machine (see the hardware-noise table of docs/drift-gate.md). Here:
- Y = round(0.299 R + 0.587 G + 0.114 B) on the uint8 values, in integers (ties to even): the YIQ luma
  (MATLAB's rgb2gray has the same weights to 3 decimals), not the BT.601 luma with offset 16 of the PSNR
  protocols;
- the top-left multiple of 96 rows and columns (481x321 -> 480x288); no border crop;
- MSCN coefficients: MATLAB's fspecial('gaussian', 7, 7/6) with its weights rounded to float32 as pyiqa
  stores them (they sum to 1 + 1.1e-8, part of pyiqa's numbers), replicate padding, (y - mu) / (sigma + 1);
- 18 AGGD features per 96x96 patch (shape by moment matching on the float32 grid 0.2:0.001:10), and again per
  48x48 patch after MATLAB's antialiased bicubic imresize by 1/2 of the [0, 1] luma, all in float64;
- the MVG of the 36-feature patches: mean over each feature's finite values, covariance over NaN-free patches;
- NIQE = sqrt(d' ((S_p + S) / 2)^-1 d), d = mu_p - mu, by a linear solve (the matrix is positive definite).
What is left to the CPU is the order of float64 sums (about 1e-16 relative). pyiqa documents differences of
up to ~5% from the MATLAB release (IQA-PyTorch's docs/ResultsCalibra.md).

File: the original LIVE pristine model (`mu_prisparam` 1x36, `cov_prisparam` 36x36) at
`<torch hub dir>/pyiqa/niqe_modelparameters.mat`, the name, URL and cache folder pyiqa itself uses.
"""

import functools
import math

import numpy as np
import scipy.io
import torch
import torch.nn.functional as F

from bench.common.assets import Store
from bench.common.errors import MetricUnavailableError
from bench.metrics.backend_files import file_record, hub_file, version_of

COLUMN = "niqe@derain-bench"
PATCH = 96
PRISTINE_URL = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/niqe_modelparameters.mat"
PRISTINE_FILE = "pyiqa/niqe_modelparameters.mat"  # under the torch hub dir, where pyiqa caches it
DEFINITION = "pyiqa 0.1.16"  # the release whose niqe_arch.py this follows


class NiqeMetric:
    """`metric(image)` -> NIQE of one uint8 H x W x 3 RGB image; NaN where no patch can be fitted (a flat image)."""

    column = COLUMN
    needs_reference = False
    non_finite_rule = "omit"  # NIQE is undefined (NaN) on a flat image: left out of the mean, counted and named

    def __init__(self, device: torch.device, store: Store | None = None) -> None:
        params_path = hub_file(COLUMN, PRISTINE_FILE, "the NIQE pristine parameters", PRISTINE_URL, store)
        try:
            params = scipy.io.loadmat(params_path)
            mu, cov = params["mu_prisparam"], params["cov_prisparam"]
        except (OSError, ValueError, KeyError, scipy.io.matlab.MatReadError) as exc:
            raise MetricUnavailableError(
                f"{COLUMN} unavailable: cannot read mu_prisparam and cov_prisparam from {params_path} ({exc}); "
                f"replace it with the file from {PRISTINE_URL}"
            ) from exc
        self.device = device
        self.mu_pristine = torch.tensor(np.asarray(mu, np.float64).ravel(), device=device)
        self.cov_pristine = torch.tensor(np.asarray(cov, np.float64), device=device)
        self.window = gaussian_window().to(device)
        self.files = [file_record("pristine model (mu_prisparam, cov_prisparam)", params_path)]

    def __call__(self, image: np.ndarray) -> float:
        height, width = image.shape[:2]
        if min(height, width) < PATCH:
            raise ValueError(f"NIQE needs images of at least {PATCH}x{PATCH} pixels (one patch); got {height}x{width}")
        with torch.inference_mode():
            luma = yiq_luma(torch.tensor(image, device=self.device))
            return niqe(luma, self.mu_pristine, self.cov_pristine, self.window)

    def describe(self) -> dict:
        return {
            "metric": "niqe",
            "variant": "derain-bench",
            "definition": "NIQE (Mittal et al. 2013): distance between the MVG of 36 natural-scene-statistics "
            "features of the image's 96x96 patches (two scales) and the MVG of the LIVE pristine images, "
            f"as {DEFINITION} computes it (niqe, test_y_channel=True, color_space='yiq', crop_border=0)",
            "implementation": {
                "package": "derain-bench (bench.metrics.niqe_metric)",
                "call": "NiqeMetric(device)(rgb): float64 throughout, integer luma, linear solve",
                "parameters": "original LIVE pristine model (mu_prisparam 1x36, cov_prisparam 36x36)",
                "torch": version_of("torch"),
                "files": self.files,
            },
            "input": "uint8 RGB; Y = round(0.299 R + 0.587 G + 0.114 B) in integers, ties to even (YIQ luma); "
            f"top-left multiple of {PATCH} rows and columns, no border crop; at least {PATCH}x{PATCH}; "
            "NaN if every patch is flat",
            "higher_is_better": False,
            "needs_reference": False,
            "device": str(self.device),
        }


def yiq_luma(image: torch.Tensor) -> torch.Tensor:
    """H x W x 3 uint8 -> H x W float64 luma on 0..255, exact: (299 R + 587 G + 114 B) / 1000 rounded."""
    r, g, b = image.to(torch.int64).unbind(-1)
    thousandths = 299 * r + 587 * g + 114 * b
    whole, rest = thousandths // 1000, thousandths % 1000
    round_up = (rest > 500) | ((rest == 500) & (whole % 2 == 1))  # ties to even, as torch.round
    return (whole + round_up).to(torch.float64)


def gaussian_window() -> torch.Tensor:
    """fspecial('gaussian', 7, 7/6), normalised in float64 and then rounded to float32 as pyiqa stores it."""
    offsets = np.arange(-3, 4, dtype=np.float64)
    window = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * (7 / 6) ** 2))
    window[window < np.finfo(np.float64).eps * window.max()] = 0
    window /= window.sum()
    return torch.tensor(window.astype(np.float32), dtype=torch.float64)


def niqe(luma: torch.Tensor, mu_pristine: torch.Tensor, cov_pristine: torch.Tensor, window: torch.Tensor) -> float:
    """NIQE of an H x W float64 luma on 0..255 (H, W >= 96)."""
    rows, columns = luma.shape[0] // PATCH * PATCH, luma.shape[1] // PATCH * PATCH
    luma = luma[:rows, :columns]
    half = halve(luma / 255) * 255
    features = torch.cat(
        [patch_features(mscn(luma, window), PATCH), patch_features(mscn(half, window), PATCH // 2)], dim=1
    )
    finite = features[~features.isnan().any(dim=1)]
    if len(finite) == 0:  # every patch flat somewhere: no covariance to fit
        return math.nan
    counted = (~features.isnan()).sum(dim=0)
    mean = features.nan_to_num(0.0).sum(dim=0) / counted
    covariance = torch.cov(finite.T, correction=1 if len(finite) > 1 else 0)
    difference = mu_pristine - mean
    solved = torch.linalg.solve((cov_pristine + covariance) / 2, difference)
    return math.sqrt(float(difference @ solved))


def mscn(luma: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Mean-subtracted contrast-normalised coefficients, local statistics by imfilter(..., 'replicate')."""
    padded = F.pad(torch.stack([luma, luma * luma])[:, None], (3, 3, 3, 3), mode="replicate")
    local_mean, local_square = F.conv2d(padded, window[None, None])[:, 0]
    deviation = (local_square - local_mean * local_mean).abs().sqrt()
    return (luma - local_mean) / (deviation + 1)


@functools.cache
def _shape_table(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The AGGD shape grid 0.2:0.001:10 as pyiqa builds it (torch.arange in float32, widened to float64), and
    Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)) of each shape a: computed once, not for every patch set."""
    shapes = torch.tensor(np.round(0.2 + 0.001 * np.arange(9801), 3).astype(np.float32), device=device).double()
    ratio_of_shape = (2 * torch.lgamma(2 / shapes) - torch.lgamma(1 / shapes) - torch.lgamma(3 / shapes)).exp()
    return shapes, ratio_of_shape


def aggd(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shape alpha and left/right scales of an asymmetric generalised Gaussian per row of `samples` (n x m)."""
    shapes, ratio_of_shape = _shape_table(samples.device)
    left, right = samples < 0, samples > 0
    left_std = ((samples * left) ** 2).sum(dim=1).div(left.sum(dim=1)).sqrt()
    right_std = ((samples * right) ** 2).sum(dim=1).div(right.sum(dim=1)).sqrt()
    gamma = left_std / right_std
    r_hat = samples.abs().mean(dim=1) ** 2 / (samples**2).mean(dim=1)
    r_norm = r_hat * (gamma**3 + 1) * (gamma + 1) / (gamma**2 + 1) ** 2
    # a NaN r_norm (a patch without negative or positive values) takes the first shape, as pyiqa's argmin does
    alpha = shapes[(ratio_of_shape[None] - r_norm[:, None]).abs().argmin(dim=1)]
    to_scale = (torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)).exp().sqrt()
    return alpha, left_std * to_scale, right_std * to_scale


def patch_features(coefficients: torch.Tensor, size: int) -> torch.Tensor:
    """The 18 features of each size x size patch (row-major order): AGGD of the patch, then of its products
    with the patch circularly shifted by (0, 1), (1, 0), (1, 1) and (1, -1)."""
    height, width = coefficients.shape
    patches = coefficients.reshape(height // size, size, width // size, size).permute(0, 2, 1, 3)
    patches = patches.reshape(-1, size, size)
    alpha, beta_left, beta_right = aggd(patches.flatten(1))
    features = [alpha, (beta_left + beta_right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        products = patches * torch.roll(patches, shift, dims=(1, 2))
        alpha, beta_left, beta_right = aggd(products.flatten(1))
        mean = (beta_right - beta_left) * (torch.lgamma(2 / alpha) - torch.lgamma(1 / alpha)).exp()
        features += [alpha, mean, beta_left, beta_right]
    return torch.stack(features, dim=1)


def halve(image: torch.Tensor) -> torch.Tensor:
    """MATLAB imresize(image, 0.5) (bicubic, antialiased) of a 2-D float64 tensor with even sides."""
    return _halving_weights(image.shape[0], image.device) @ image @ _halving_weights(image.shape[1], image.device).T


@functools.cache
def _halving_weights(length: int, device: torch.device) -> torch.Tensor:
    """imresize.m's `contributions` for a scale of 1/2: the cubic kernel stretched to 8 taps, indices beyond
    either end mirrored, as a (length / 2) x length matrix (one per side length: a set's images share it)."""
    centres = 2 * np.arange(1, length // 2 + 1) - 0.5  # output i samples input position i / scale + (1 - 1 / scale) / 2
    first = np.floor(centres - 4)
    taps = first[:, None] + np.arange(10)
    distance = np.abs(centres[:, None] - taps) / 2
    cubic = np.where(
        distance <= 1,
        1.5 * distance**3 - 2.5 * distance**2 + 1,
        np.where(distance <= 2, -0.5 * distance**3 + 2.5 * distance**2 - 4 * distance + 2, 0.0),
    )
    weights = cubic / cubic.sum(axis=1, keepdims=True)
    position = np.mod(taps.astype(np.int64) - 1, 2 * length)  # 0-based, in the sequence 1..n, n..1
    source = np.where(position < length, position, 2 * length - 1 - position)
    matrix = np.zeros((length // 2, length))
    np.add.at(matrix, (np.arange(length // 2)[:, None], source), weights)  # mirrored taps may repeat a column
    return torch.tensor(matrix, device=device)
