"""Peak signal-to-noise ratio: the correct definition, and MSDR-Net's uint8 wrap-around variant."""

import math

import numpy as np

MSDR_ZERO_ERROR_PSNR = 100.0


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """10 log10(peak^2 / MSE) with the MSE in float64 over every value; `math.inf` when a == b (as MATLAB)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0:
        return math.inf
    return 10 * math.log10(peak * peak / mse)


def msdr_psnr(y1: np.ndarray, y2: np.ndarray) -> float:
    """`calc_psnr` of the MSDR-Net official script, bug for bug, on uint8 luma planes.

    The script computes `np.mean((img1 - img2) ** 2)` on uint8 arrays, so the difference and its square
    both wrap modulo 256 (a difference of 16 squares to 0); it returns 100 for a zero MSE and
    20 log10(255 / sqrt(MSE)) otherwise.
    """
    if y1.dtype != np.uint8 or y2.dtype != np.uint8:
        raise ValueError(f"msdr_psnr reproduces uint8 arithmetic; got {y1.dtype} and {y2.dtype}")
    diff = y1 - y2  # uint8: wraps modulo 256
    mse = float(np.mean(diff * diff))  # uint8 square: wraps modulo 256 again
    if mse == 0:
        return MSDR_ZERO_ERROR_PSNR
    return 20 * math.log10(255.0 / math.sqrt(mse))
