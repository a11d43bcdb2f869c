"""Scoring protocols: each name fixes the colour conversion, rounding, PSNR peak and SSIM of a public script.

The same outputs score over 4 dB apart under these conventions, 1.3 dB between the two common lumas (the
protocol table of docs/protocols.md), so a number is only meaningful with its protocol name and version: a protocol's
`version` rises whenever what it computes changes (matlab-double 2: the 2009 `ssim.m` downsampling, missing
in version 1), so results made before are recognisably incomparable. PROTOCOLS describes each one (plain
strings, stored with results); COMPUTATIONS says how it scores: it turns an RGB uint8 image into the planes
its metrics compare (once per image), then applies its own PSNR and SSIM to those planes.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from bench.metrics import pyiqa_default
from bench.metrics.psnr import msdr_psnr, psnr
from bench.metrics.ssim import wang_ssim, wang_ssim_downsampled
from bench.metrics.ycbcr import basicsr_y, matlab_y_double, matlab_y_uint8, opencv_y

Planes = np.ndarray
PlaneMetric = Callable[[Planes, Planes], float]

WANG_SSIM = (
    "Wang ssim_index: 11x11 Gaussian window sigma 1.5 (fspecial, normalised), K1 0.01, K2 0.03, L 255, "
    "filter2 'valid', mean of the SSIM map, no downsampling"
)
WANG_SSIM_DOWNSAMPLED = (
    "Wang ssim.m with automatic downsampling: f = max(1, round(min(M,N)/256)) (round half away from zero); "
    "when f > 1 both images imfilter(img, ones(f,f)/f^2, 'symmetric', 'same') then img(1:f:end, 1:f:end); "
    "then 11x11 Gaussian window sigma 1.5, K1 0.01, K2 0.03, L 255, filter2 'valid', mean of the SSIM map"
)
SSIM_INDEX_2003 = "SSIM_index / ssim_index.m (Zhou Wang 2003, 'SSIM Index, Version 1.0'): no downsampling"
SSIM_M_2009 = (
    "ssim.m (Zhou Wang 2009, 'SSIM Index with automatic downsampling, Version 1.0'; sha256 6836530d..., one file "
    "in PReNet statistic/, BRN statistics/, RCDNet Performance_evaluation/, DRSformer DID/DDN evaluation)"
)


@dataclass(frozen=True)
class Protocol:
    """One scoring convention, named so that results say exactly how they were computed.

    Plain strings only, so `dataclasses.asdict` of it is JSON-ready.
    """

    name: str
    version: int  # rises whenever what the protocol computes changes
    summary: str
    used_by: str
    reproduces: str  # repository and file whose numbers this protocol reproduces
    y_formula: str
    rounding: str
    psnr_rule: str
    ssim_rule: str
    ssim_file: str  # which of Wang's MATLAB files (2003 SSIM_index or 2009 ssim.m) the SSIM follows

    def definition(self, metric: str) -> dict:
        """JSON-ready description of `metric` under this protocol."""
        rule = {"psnr": self.psnr_rule, "ssim": self.ssim_rule}[metric]
        definition = {"protocol_version": self.version, "y": self.y_formula, "rounding": self.rounding, metric: rule}
        if metric == "ssim":
            definition["ssim_file"] = self.ssim_file
        return definition | {"reproduces": self.reproduces}


def _nothing_to_prepare() -> None:
    pass


@dataclass(frozen=True)
class Computation:
    """How a protocol scores: `planes` turns RGB uint8 H x W x 3 into what its metrics compare.

    `prepare` loads whatever backend the metrics need (and raises MetricUnavailableError when it cannot);
    the scorer calls it when it is built, before a run does any work.
    """

    planes: Callable[[np.ndarray], Planes]
    psnr: PlaneMetric
    ssim: PlaneMetric
    prepare: Callable[[], None] = _nothing_to_prepare

    def metric(self, name: str) -> PlaneMetric:
        return {"psnr": self.psnr, "ssim": self.ssim}[name]


def psnr_peak_1(a: Planes, b: Planes) -> float:
    """MATLAB `psnr(x, ref)` on double images: peak 1."""
    return psnr(a, b, peak=1.0)


def psnr_peak_255(a: Planes, b: Planes) -> float:
    return psnr(a, b, peak=255.0)


def ssim_m_of_255_times(a: Planes, b: Planes) -> float:
    """PReNet's `ssim(x*255, x_true*255)` on [0,1] luma, with its ssim.m (2009, automatic downsampling)."""
    return wang_ssim_downsampled(a * 255, b * 255)


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
            version=2,
            summary="MATLAB double-precision BT.601 Y (no rounding), PSNR peak 1, Wang's 2009 ssim.m "
            "(automatic downsampling) on 255*Y.",
            used_by="PReNet statistic/*.m, RCDNet Performance_evaluation, DRSformer on DID/DDN",
            reproduces="csdwren/PReNet statistic/statistic_rain100H.m (same code in the Rain100L, Rain12 "
            "and Rain1400 scripts): x = rgb2ycbcr(im2double(img)); psnr(x, x_true); ssim(x*255, x_true*255)",
            y_formula="Y = 16/255 + (65.481 R + 128.553 G + 24.966 B)/255, R,G,B = uint8/255 "
            "(MATLAB rgb2ycbcr(im2double(x)))",
            rounding="none (float64)",
            psnr_rule="10 log10(1/MSE) on Y in [0,1] (PReNet psnr.m: peak 2^1-1 = 1 since max(Y) <= 2); "
            "identical -> inf",
            ssim_rule=WANG_SSIM_DOWNSAMPLED + ", on 255*Y",
            ssim_file=SSIM_M_2009,
        ),
        Computation(planes=matlab_y_double, psnr=psnr_peak_1, ssim=ssim_m_of_255_times),
    ),
    (
        Protocol(
            name="matlab-uint8",
            version=1,
            summary="MATLAB BT.601 Y rounded to uint8 (rgb2ycbcr on uint8), PSNR peak 255, Wang SSIM.",
            used_by="Restormer / MPRNet Deraining/evaluate_PSNR_SSIM.m (Rain13K line)",
            reproduces="swz30/Restormer Deraining/evaluate_PSNR_SSIM.m: img = rgb2ycbcr(uint8 img); "
            "psnr = 20*log10(255/rmse) of double(img1)-double(img2); SSIM_index(img1, img2)",
            y_formula="Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255, R,G,B in 0..255 (MATLAB rgb2ycbcr(uint8))",
            rounding="uint8: round half away from zero (imlincomb), computed in double as MATLAB does",
            psnr_rule="20 log10(255/RMSE) on the uint8 Y as double; identical -> inf",
            ssim_rule=WANG_SSIM + ", on the uint8 Y",
            ssim_file=SSIM_INDEX_2003 + " (a local function of evaluate_PSNR_SSIM.m)",
        ),
        Computation(planes=matlab_y_uint8, psnr=psnr_peak_255, ssim=wang_ssim),
    ),
    (
        Protocol(
            name="opencv-fullrange",
            version=1,
            summary="OpenCV full-range uint8 Y, PSNR peak 255, Wang SSIM; ~1.32 dB below the matlab ones.",
            used_by="many Python deraining repositories (cv2.cvtColor(..., COLOR_BGR2YCrCb)[..., 0])",
            reproduces="OpenCV cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)[..., 0] on uint8, with a correct PSNR",
            y_formula="Y = (4899 R + 9617 G + 1868 B + 8192) >> 14 (OpenCV fixed point for "
            "0.299 R + 0.587 G + 0.114 B)",
            rounding="uint8 (OpenCV's fixed-point rounding, bit-exact)",
            psnr_rule="10 log10(255^2/MSE) on the uint8 Y as double (no wrap-around); identical -> inf",
            ssim_rule=WANG_SSIM + ", on the uint8 Y",
            ssim_file=SSIM_INDEX_2003 + " (re-implemented in Python)",
        ),
        Computation(planes=opencv_y, psnr=psnr_peak_255, ssim=wang_ssim),
    ),
    (
        Protocol(
            name="msdr-official",
            version=1,
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
            ssim_file=SSIM_INDEX_2003 + " (calc_ssim re-implements it with scipy convolve2d)",
        ),
        Computation(planes=opencv_y, psnr=msdr_psnr, ssim=wang_ssim),
    ),
    (
        Protocol(
            name="rgb",
            version=1,
            summary="No colour conversion: PSNR over all RGB values in [0,1], mean per-channel Wang SSIM.",
            used_by="derain-toolbox, PromptIR (usually 1-1.5 dB below the Y protocols)",
            reproduces="the RGB convention of Python toolboxes; no single script (defined by derain-bench)",
            y_formula="none: R, G, B channels",
            rounding="none",
            psnr_rule="10 log10(1/MSE), one MSE over every value of the three [0,1] channels; identical -> inf",
            ssim_rule=WANG_SSIM + ", on each uint8 channel (as float64), then the mean of the three",
            ssim_file=SSIM_INDEX_2003 + " (re-implemented in Python)",
        ),
        Computation(planes=unchanged, psnr=psnr_rgb_unit_range, ssim=mean_channel_ssim),
    ),
    (
        Protocol(
            name="basicsr",
            version=1,
            summary="BasicSR's calculate_psnr / calculate_ssim (test_y_channel=True, crop_border=0): float "
            "BT.601 Y never rounded, PSNR peak 255, Gaussian SSIM 'valid'; a few hundredths of a dB above "
            "matlab-uint8.",
            used_by="BasicSR-derived Python code: HINet, Restormer's and DRSformer's Python metrics, mmagic",
            reproduces="XPixelGroup/BasicSR 1.4.2 basicsr/metrics/psnr_ssim.py: calculate_psnr(img, img2, "
            "crop_border=0, test_y_channel=True), calculate_ssim(...same...) on cv2.imread (BGR uint8) images",
            y_formula="Y = (24.966 B + 128.553 G + 65.481 R + 16)/255 on float32 B,G,R = uint8/255 (bgr2ycbcr), "
            "cast to float32, times 255 (to_y_channel)",
            rounding="none (float32 Y, as BasicSR computes it)",
            psnr_rule="10 log10(255^2/MSE) on the float Y (calculate_psnr; the max_value = 1 if img.max() <= 1 "
            "else 255 rule of Restormer's copy gives 255 as well, since Y >= 16); identical -> inf",
            ssim_rule="_ssim: cv2.getGaussianKernel(11, 1.5) outer product, cv2.filter2D then [5:-5, 5:-5] "
            "(= 'valid'), K1 0.01, K2 0.03, L 255, mean of the SSIM map, no downsampling, on the float Y",
            ssim_file=SSIM_INDEX_2003 + " (BasicSR re-implements it with cv2.filter2D)",
        ),
        Computation(planes=basicsr_y, psnr=psnr_peak_255, ssim=wang_ssim),
    ),
    (
        Protocol(
            name="pyiqa-default",
            version=1,
            summary="pyiqa.create_metric('psnr') / ('ssim') with default options, computed by pyiqa: RGB PSNR, "
            "SSIM on YIQ luma; what a user of pyiqa gets without choosing.",
            used_by="anyone calling pyiqa.create_metric('psnr'|'ssim') as documented",
            reproduces=f"pyiqa {pyiqa_default.PINNED_VERSION}: create_metric('psnr'), create_metric('ssim') on "
            "RGB float32 tensors in [0,1] (how pyiqa reads image files)",
            y_formula="PSNR: none (R, G, B); SSIM: YIQ luma 0.299 R + 0.587 G + 0.114 B on [0,1], times 255",
            rounding="none (float32 inputs)",
            psnr_rule="10 log10(1/(MSE + 1e-8)) over R, G, B in [0,1], in float32; identical -> 80 dB",
            ssim_rule="pyiqa ssim(downsample=False): fspecial 11x11 sigma 1.5, filter2 'valid', data_range 255, "
            "negative contrast-structure values clipped to 0 (relu), mean of the map",
            ssim_file="pyiqa archs/ssim_arch.py (after " + SSIM_INDEX_2003 + ", plus the relu)",
        ),
        Computation(planes=unchanged, psnr=pyiqa_default.psnr, ssim=pyiqa_default.ssim, prepare=pyiqa_default.prepare),
    ),
)

PROTOCOLS: Mapping[str, Protocol] = MappingProxyType({p.name: p for p, _ in _TABLE})
COMPUTATIONS: Mapping[str, Computation] = MappingProxyType({p.name: c for p, c in _TABLE})
