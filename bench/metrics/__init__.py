"""Image-quality metrics: PSNR and SSIM under named scoring protocols, LPIPS and NIQE with their model files.

    scorer = make_scorer(metrics=("psnr", "ssim", "lpips", "niqe"), protocols=("matlab-double", "rgb"))
    scorer(pred, target)  # {"psnr@matlab-double": .., "ssim@rgb": .., "lpips@alex-v0.1": .., "niqe@derain-bench": ..}
    scorer(pred, None)    # no ground truth: the no-reference columns only ({"niqe@derain-bench": ...})

A protocol name fixes everything that moves the PSNR/SSIM numbers (colour conversion, rounding, PSNR peak,
SSIM window); see PROTOCOLS and the protocol table of docs/protocols.md. LPIPS and NIQE ignore protocols; their column
names the definition, and LPIPS's backend (lpips) and both model files are loaded by make_scorer only.
Importing this package needs only NumPy and SciPy.
"""

from bench.common.errors import MetricUnavailableError
from bench.metrics.perceptual import PERCEPTUAL_METRICS
from bench.metrics.protocols import PROTOCOLS, Protocol
from bench.metrics.scorer import ALL_METRICS, METRICS, Scorer, make_scorer

__all__ = [
    "ALL_METRICS",
    "METRICS",
    "PERCEPTUAL_METRICS",
    "PROTOCOLS",
    "MetricUnavailableError",
    "Protocol",
    "Scorer",
    "make_scorer",
]
