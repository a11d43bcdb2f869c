"""SSIM exactly as Zhou Wang's two MATLAB files compute it, in float64 with separable filtering.

`wang_ssim` is `ssim_index.m` (2003, "SSIM Index, Version 1.0"): window `fspecial('gaussian', 11, 1.5)`
normalised, K1 = 0.01, K2 = 0.03, L = 255, every local statistic by `filter2(window, x, 'valid')` (so the
map is 10 pixels smaller in each dimension), result = mean of the map. The 2-D Gaussian is the outer product
of a 1-D one, so two 1-D correlations equal MATLAB's 2-D `filter2` up to float rounding.

`wang_ssim_downsampled` is `ssim.m` (2009, "SSIM Index with automatic downsampling, Version 1.0", the file
of PReNet's `statistic/`, BRN's `statistics/`, RCDNet and DRSformer): the same SSIM after averaging f x f
blocks and keeping every f-th pixel, f = max(1, round(min(M, N) / 256)).
"""

import math

import numpy as np
from scipy import ndimage

WINDOW_SIZE = 11
SIGMA = 1.5
K1 = 0.01
K2 = 0.03
DYNAMIC_RANGE = 255.0

# Output rows per strip: the five statistics of a strip stay in cache, ~2x faster than whole images.
_STRIP_ROWS = 32


def gaussian_taps(size: int = WINDOW_SIZE, sigma: float = SIGMA) -> np.ndarray:
    """The normalised 1-D factor of MATLAB `fspecial('gaussian', size, sigma)`.

    fspecial also zeroes values below eps * max; for 11 taps at sigma 1.5 the smallest is 1.5e-5 * max,
    so that rule never applies here.
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    taps = np.exp(-(x * x) / (2 * sigma * sigma))
    return taps / taps.sum()


def _valid_gaussian_means(stack: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local means of each image in `stack` (N x H x W), 'valid' region only."""
    r = len(taps) // 2
    down_columns = ndimage.correlate1d(stack, taps, axis=-2)[..., r:-r, :]
    return ndimage.correlate1d(down_columns, taps, axis=-1)[..., r:-r]


def _ssim_from_means(mu1, mu2, mean_aa, mean_bb, mean_ab) -> np.ndarray:
    """ssim_index's map from the five local means (of a, b, a*a, b*b, a*b), in its order of operations."""
    mu1_sq = mu1 * mu1
    mu2_sq = mu2 * mu2
    mu1_mu2 = mu1 * mu2
    sigma1_sq = mean_aa - mu1_sq
    sigma2_sq = mean_bb - mu2_sq
    sigma12 = mean_ab - mu1_mu2
    c1 = (K1 * DYNAMIC_RANGE) ** 2
    c2 = (K2 * DYNAMIC_RANGE) ** 2
    return ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Wang's SSIM map of two H x W images with values on the 0..255 scale."""
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"SSIM compares two H x W images of one shape; got {a.shape} and {b.shape}")
    height, width = a.shape
    if min(height, width) < WINDOW_SIZE:
        raise ValueError(
            f"SSIM needs images of at least {WINDOW_SIZE}x{WINDOW_SIZE} pixels "
            f"(the ssim_index window); got {height}x{width}"
        )
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    taps = gaussian_taps()
    halo = WINDOW_SIZE - 1
    out = np.empty((height - halo, width - halo))
    for top in range(0, height - halo, _STRIP_ROWS):
        a_rows, b_rows = a[top : top + _STRIP_ROWS + halo], b[top : top + _STRIP_ROWS + halo]
        stats = np.stack([a_rows, b_rows, a_rows * a_rows, b_rows * b_rows, a_rows * b_rows])
        out[top : top + _STRIP_ROWS] = _ssim_from_means(*_valid_gaussian_means(stats, taps))
    return out


def wang_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (`mssim` of ssim_index) of two H x W images with values on the 0..255 scale."""
    return float(np.mean(ssim_map(a, b)))


def downsampling_factor(height: int, width: int) -> int:
    """ssim.m's `f = max(1, round(min(M, N) / 256))`, with MATLAB's `round` (half away from zero).

    1 below a short side of 384 pixels, 2 from 384 to 639, 3 from 640 (640 / 256 = 2.5 rounds up) ...
    """
    return max(1, math.floor(min(height, width) / 256 + 0.5))


def block_average_downsample(image: np.ndarray, f: int) -> np.ndarray:
    """ssim.m's `img = imfilter(img, ones(f,f)/f^2, 'symmetric', 'same'); img = img(1:f:end, 1:f:end)`.

    imfilter correlates with the kernel centred at floor((f + 1) / 2) (1-based), so output pixel i averages
    input rows i - c + 1 .. i - c + f with c that centre, the image mirrored at its edges ('symmetric' repeats
    the edge pixel). Only every f-th output survives, and those windows tile the padded image without
    overlap, so each kept pixel is the mean of one f x f block of the padded image.
    """
    if f == 1:
        return image
    before = (f + 1) // 2 - 1
    after = f - 1 - before
    padded = np.pad(image, ((before, after), (before, after)), mode="symmetric")
    rows, cols = -(-image.shape[0] // f), -(-image.shape[1] // f)  # ceil: 1:f:end keeps this many
    blocks = padded[: rows * f, : cols * f].reshape(rows, f, cols, f)
    return blocks.sum(axis=(1, 3)) / (f * f)


def wang_ssim_downsampled(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of Wang's `ssim.m` (2009, automatic downsampling) on two H x W images on the 0..255 scale."""
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"SSIM compares two H x W images of one shape; got {a.shape} and {b.shape}")
    f = downsampling_factor(*a.shape)
    a = block_average_downsample(np.asarray(a, dtype=np.float64), f)
    b = block_average_downsample(np.asarray(b, dtype=np.float64), f)
    return wang_ssim(a, b)
