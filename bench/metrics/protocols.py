"""Scoring protocols: each name fixes the colour conversion, rounding, PSNR peak and SSIM of a public script.

The same outputs score up to ~1.3 dB apart under these conventions (see ../shared/docs/protocols.md),
so a number is only meaningful with its protocol name. PROTOCOLS describes each one (plain strings, stored
with results); COMPUTATIONS says how it scores: it turns an RGB uint8 image into the planes its metrics
compare (once per image), then applies its own PSNR and SSIM to those planes.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from bench.metrics.psnr import msdr_psnr, psnr
from bench.metrics.ssim import wang_ssim
from bench.metrics.ycbcr import matlab_y_double, matlab_y_uint8, opencv_y

Planes = np.ndarray
PlaneMetric = Callable[[Planes, Planes], float]

WANG_SSIM = (
    "Wang ssim_index: 11x11 Gaussian window sigma 1.5 (fspecial, normalised), K1 0.01, K2 0.03, L 255, "
    "filter2 'valid', mean of the SSIM map, no downsampling"
)


@dataclass(frozen=True)
class Protocol:
    """One scoring convention, named so that results say exactly how they were computed.

    Plain strings only, so `dataclasses.asdict` of it is JSON-ready.
    """

    name: str
    summary: str
    used_by: str
    reproduces: str  # repository and file whose numbers this protocol reproduces
    y_formula: str
    rounding: str
    psnr_rule: str
    ssim_rule: str

    def definition(self, metric: str) -> dict[str, str]:
        """JSON-ready description of `metric` under this protocol."""
        rule = {"psnr": self.psnr_rule, "ssim": self.ssim_rule}[metric]
        return {"y": self.y_formula, "rounding": self.rounding, metric: rule, "reproduces": self.reproduces}


@dataclass(frozen=True)
class Computation:
    """How a protocol scores: `planes` turns RGB uint8 H x W x 3 into what its metrics compare."""

    planes: Callable[[np.ndarray], Planes]
    psnr: PlaneMetric
    ssim: PlaneMetric

    def metric(self, name: str) -> PlaneMetric:
        return {"psnr": self.psnr, "ssim": self.ssim}[name]


def psnr_peak_1(a: Planes, b: Planes) -> float:
    """MATLAB `psnr(x, ref)` on double images: peak 1."""
    return psnr(a, b, peak=1.0)


def psnr_peak_255(a: Planes, b: Planes) -> float:
    return psnr(a, b, peak=255.0)


def ssim_of_255_times(a: Planes, b: Planes) -> float:
    """PReNet's `ssim(x*255, x_true*255)` on [0,1] luma."""
    return wang_ssim(a * 255, b * 255)


def unchanged(rgb: np.ndarray) -> Planes:
    return rgb


def psnr_rgb_unit_range(a: Planes, b: Planes) -> float:
    """One MSE over every value of the three [0,1] channels, peak 1."""
    return psnr(a / 255, b / 255, peak=1.0)


def mean_channel_ssim(a: Planes, b: Planes) -> float:
    """Mean over R, G, B of Wang's SSIM on each uint8 channel."""
    return sum(wang_ssim(a[..., c], b[..., c]) for c in range(3)) / 3


_TABLE = (
    (
        Protocol(
            name="matlab-double",
            summary="MATLAB double-precision BT.601 Y (no rounding), PSNR peak 1, Wang SSIM on 255*Y.",
            used_by="PReNet statistic/*.m, RCDNet Performance_evaluation, DRSformer on DID/DDN",
            reproduces="csdwren/PReNet statistic/statistic_rain100H.m (same code in the Rain100L, Rain12 "
            "and Rain1400 scripts): x = rgb2ycbcr(im2double(img)); psnr(x, x_true); ssim(x*255, x_true*255)",
            y_formula="Y = 16/255 + (65.481 R + 128.553 G + 24.966 B)/255, R,G,B = uint8/255 "
            "(MATLAB rgb2ycbcr(im2double(x)))",
            rounding="none (float64)",
            psnr_rule="10 log10(1/MSE) on Y in [0,1] (MATLAB psnr, peak 1 for double); identical -> inf",
            ssim_rule=WANG_SSIM + ", on 255*Y",
        ),
        Computation(planes=matlab_y_double, psnr=psnr_peak_1, ssim=ssim_of_255_times),
    ),
    (
        Protocol(
            name="matlab-uint8",
            summary="MATLAB BT.601 Y rounded to uint8 (rgb2ycbcr on uint8), PSNR peak 255, Wang SSIM.",
            used_by="Restormer / MPRNet Deraining/evaluate_PSNR_SSIM.m (Rain13K line)",
            reproduces="swz30/Restormer Deraining/evaluate_PSNR_SSIM.m: img = rgb2ycbcr(uint8 img); "
            "psnr = 20*log10(255/rmse) of double(img1)-double(img2); SSIM_index(img1, img2)",
            y_formula="Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255, R,G,B in 0..255 (MATLAB rgb2ycbcr(uint8))",
            rounding="uint8: round half away from zero (imlincomb), computed in double as MATLAB does",
            psnr_rule="20 log10(255/RMSE) on the uint8 Y as double; identical -> inf",
            ssim_rule=WANG_SSIM + ", on the uint8 Y",
        ),
        Computation(planes=matlab_y_uint8, psnr=psnr_peak_255, ssim=wang_ssim),
    ),
    (
        Protocol(
            name="opencv-fullrange",
            summary="OpenCV full-range uint8 Y, PSNR peak 255, Wang SSIM; ~1.32 dB below the matlab ones.",
            used_by="many Python deraining repositories (cv2.cvtColor(..., COLOR_BGR2YCrCb)[..., 0])",
            reproduces="OpenCV cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0] on uint8, with a correct PSNR",
            y_formula="Y = (4899 R + 9617 G + 1868 B + 8192) >> 14 (OpenCV fixed point for "
            "0.299 R + 0.587 G + 0.114 B)",
            rounding="uint8 (OpenCV's fixed-point rounding, bit-exact)",
            psnr_rule="10 log10(255^2/MSE) on the uint8 Y as double (no wrap-around); identical -> inf",
            ssim_rule=WANG_SSIM + ", on the uint8 Y",
        ),
        Computation(planes=opencv_y, psnr=psnr_peak_255, ssim=wang_ssim),
    ),
    (
        Protocol(
            name="msdr-official",
            summary="MSDR-Net's official metric, bug for bug (uint8 wrap-around in PSNR); exists only to "
            "show the inflation, never to rank methods.",
            used_by="MSDR-Net official Keras script (B201cv)",
            reproduces="B201cv/MSDR-Net-Multi-Scale-Detail-Recovery-Network-for-Single-Image-Deraining, "
            "'MSDR-Net\uff1aMulti-Scale Detail-Recovery Network for Single Image Deraining.py': "
            "calc_psnr, calc_ssim",
            y_formula="as opencv-fullrange: cv2.cvtColor(img, cv2.COLOR_BGR2YCR_CB)[:, :, 0] on uint8",
            rounding="uint8 (OpenCV's fixed-point rounding)",
            psnr_rule="mse = np.mean((y1 - y2) ** 2) in uint8, so the difference and its square wrap "
            "modulo 256; 100 if mse == 0, else 20 log10(255/sqrt(mse))",
            ssim_rule=WANG_SSIM + ", on the uint8 Y (calc_ssim: same as opencv-fullrange)",
        ),
        Computation(planes=opencv_y, psnr=msdr_psnr, ssim=wang_ssim),
    ),
    (
        Protocol(
            name="rgb",
            summary="No colour conversion: PSNR over all RGB values in [0,1], mean per-channel Wang SSIM.",
            used_by="derain-toolbox, PromptIR (usually 1-1.5 dB below the Y protocols)",
            reproduces="the RGB convention of Python toolboxes; no single script (defined by derain-bench)",
            y_formula="none: R, G, B channels",
            rounding="none",
            psnr_rule="10 log10(1/MSE), one MSE over every value of the three [0,1] channels; identical -> inf",
            ssim_rule=WANG_SSIM + ", on each uint8 channel (as float64), then the mean of the three",
        ),
        Computation(planes=unchanged, psnr=psnr_rgb_unit_range, ssim=mean_channel_ssim),
    ),
)

PROTOCOLS: Mapping[str, Protocol] = MappingProxyType({p.name: p for p, _ in _TABLE})
COMPUTATIONS: Mapping[str, Computation] = MappingProxyType({p.name: c for p, c in _TABLE})
