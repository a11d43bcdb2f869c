"""Independent references for MATLAB's scoring functions, written from their documentation and source text.

Used by the conformance tests; nothing here imports bench. `rgb2ycbcr(im2double(x))` luma, `fspecial`,
`filter2(..., 'valid')`, Wang's `ssim_index` (2003) and `ssim.m` (2009, with imfilter's 'symmetric' padding and
kernel centre written out), and MATLAB's `round`.
"""

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def ref_y_double(rgb):
    """MATLAB rgb2ycbcr(im2double(x)), channel 1, from the documented formula."""
    r, g, b = (rgb[..., c] / 255.0 for c in range(3))
    return 16 / 255 + (65.481 * r + 128.553 * g + 24.966 * b) / 255


def ref_window():
    """MATLAB fspecial('gaussian', 11, 1.5): 2-D formula, eps cut, normalised."""
    x, y = np.meshgrid(np.arange(-5, 6), np.arange(-5, 6))
    h = np.exp(-(x * x + y * y) / (2 * 1.5**2))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def filter2_valid(window, img):
    """MATLAB filter2(window, img, 'valid'): a direct 2-D correlation over every 11x11 neighbourhood."""
    return np.einsum("ijkl,kl->ij", sliding_window_view(img, window.shape), window)


def ref_ssim_index(img1, img2):
    """Wang's ssim_index.m with its defaults (K = [0.01 0.03], L = 255), written out as in the paper."""
    img1, img2 = np.asarray(img1, float), np.asarray(img2, float)
    w = ref_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = filter2_valid(w, img1), filter2_valid(w, img2)
    sigma1_sq = filter2_valid(w, img1 * img1) - mu1**2
    sigma2_sq = filter2_valid(w, img2 * img2) - mu2**2
    sigma12 = filter2_valid(w, img1 * img2) - mu1 * mu2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * sigma12 + c2)) / ((mu1**2 + mu2**2 + c1) * (sigma1_sq + sigma2_sq + c2))
    return ssim_map.mean()


def matlab_round(x):
    """MATLAB round: half away from zero."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def ref_imfilter_symmetric_same(img, kernel):
    """MATLAB imfilter(img, kernel, 'symmetric', 'same') (correlation), from its documented definition.

    The kernel's centre is floor((size + 1) / 2) (1-based), so out(i, j) = sum_kl kernel(k, l) *
    img(i + k - ci, j + l - cj), reading outside the image from its mirror image that repeats the edge.
    """
    kh, kw = kernel.shape
    ci, cj = (kh + 1) // 2, (kw + 1) // 2
    padded = np.pad(img, ((ci - 1, kh - ci), (cj - 1, kw - cj)), mode="symmetric")
    out = np.zeros(img.shape)
    for k in range(kh):
        for m in range(kw):
            out += kernel[k, m] * padded[k : k + img.shape[0], m : m + img.shape[1]]
    return out


def ref_ssim_m_2009(img1, img2):
    """Wang's ssim.m (2009, automatic downsampling) with its defaults, line by line."""
    img1, img2 = np.asarray(img1, float), np.asarray(img2, float)
    f = max(1, int(matlab_round(min(img1.shape) / 256)))
    if f > 1:
        lpf = np.ones((f, f)) / (f * f)
        img1 = ref_imfilter_symmetric_same(img1, lpf)[::f, ::f]
        img2 = ref_imfilter_symmetric_same(img2, lpf)[::f, ::f]
    return ref_ssim_index(img1, img2)
