"""RGB uint8 -> luma, exactly as the public scoring scripts compute it.

Every function takes an H x W x 3 uint8 RGB array and returns an H x W array.
"""

import numpy as np

# BT.601 studio-swing luma row of MATLAB's rgb2ycbcr (`origT(1,:)`, for R,G,B in [0,1] -> Y in [16,235]).
_MATLAB_Y_ROW = (65.481, 128.553, 24.966)
_MATLAB_Y_OFFSET = 16.0

# BasicSR's bgr2ycbcr(y_only=True) row, in its B, G, R order.
_BASICSR_Y_ROW_BGR = (24.966, 128.553, 65.481)

# OpenCV's RGB2YCrCb_i: Y = (4899 R + 9617 G + 1868 B + 2^13) >> 14, i.e. 0.299/0.587/0.114
# in 14-bit fixed point.
_OPENCV_Y_COEFFS = (4899, 9617, 1868)
_OPENCV_SHIFT = 14


def _float_planes(rgb: np.ndarray) -> np.ndarray:
    """3 x H x W contiguous float64 copy of the R, G, B channels."""
    return np.moveaxis(rgb, -1, 0).astype(np.float64, order="C")


def _matlab_luma_row(r: np.ndarray, g: np.ndarray, b: np.ndarray, offset: float) -> np.ndarray:
    """MATLAB's `imlincomb(T(1,1),R,T(1,2),G,T(1,3),B,offset)` with `T = (1/255) * origT`, in float64.

    rgb2ycbcr.m scales the coefficient row by 1/255 for every input class; imlincomb sums the three
    products, then the offset, in double precision.
    """
    t_r, t_g, t_b = ((1 / 255) * t for t in _MATLAB_Y_ROW)
    return t_r * r + t_g * g + t_b * b + offset


def matlab_y_double(rgb: np.ndarray) -> np.ndarray:
    """Y of MATLAB `rgb2ycbcr(im2double(x))`: float64 in [16/255, 235/255], no rounding."""
    r, g, b = _float_planes(rgb) / 255  # im2double
    return _matlab_luma_row(r, g, b, offset=(1 / 255) * _MATLAB_Y_OFFSET)


def matlab_y_uint8(rgb: np.ndarray) -> np.ndarray:
    """Y of MATLAB `rgb2ycbcr(x)` for uint8 `x`: the double result rounded half away from zero to uint8.

    imlincomb rounds like MATLAB's `round` (half away from zero), not like `numpy.round` (half to even).
    All values are positive, so that is floor(y + 0.5); they lie in [16, 235], so saturation never applies.
    Of the 2^24 colours, 194 have an exact .5 true value; MATLAB's result for them depends on the float
    rounding of the scaled coefficients, which this follows (same scaling, same order of operations).
    """
    r, g, b = _float_planes(rgb)
    y = _matlab_luma_row(r, g, b, offset=_MATLAB_Y_OFFSET)
    return np.floor(y + 0.5).astype(np.uint8)


def basicsr_y(rgb: np.ndarray) -> np.ndarray:
    """Y of BasicSR's `to_y_channel(bgr)` (basicsr/metrics/metric_util.py, 1.4.2): float, never rounded.

    Step by step as BasicSR does it: `img.astype(float32) / 255`; `np.dot(img, [24.966, 128.553, 65.481])
    + 16` (float32 values promoted to float64, summed over B, G, R in that order); `/ 255` and cast to
    float32; then `* 255` in float32. Returned as float64, as calculate_psnr / calculate_ssim cast it.
    """
    unit = rgb.astype(np.float32) / np.float32(255)
    r, g, b = (unit[..., c].astype(np.float64) for c in range(3))
    c_b, c_g, c_r = _BASICSR_Y_ROW_BGR
    y = (b * c_b + g * c_g + r * c_r + 16.0) / 255.0
    return (y.astype(np.float32) * np.float32(255)).astype(np.float64)


def opencv_y(rgb: np.ndarray) -> np.ndarray:
    """Y of `cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0]` on uint8 (full range 0..255), bit for bit."""
    c_r, c_g, c_b = _OPENCV_Y_COEFFS
    r, g, b = (rgb[..., c].astype(np.int32) for c in range(3))
    rounding = 1 << (_OPENCV_SHIFT - 1)
    return ((c_r * r + c_g * g + c_b * b + rounding) >> _OPENCV_SHIFT).astype(np.uint8)
