"""PSNR and SSIM under named scoring protocols.

    scorer = make_scorer(metrics=("psnr", "ssim"), protocols=("matlab-double", "rgb"))
    scorer(pred, target)  # {"psnr@matlab-double": ..., "ssim@matlab-double": ..., "psnr@rgb": ..., ...}

A protocol name fixes everything that moves the numbers (colour conversion, rounding, PSNR peak, SSIM
window); see PROTOCOLS and ../shared/docs/protocols.md. Importing this package needs only NumPy and SciPy.
"""

from bench.metrics.protocols import PROTOCOLS, Protocol
from bench.metrics.scorer import METRICS, Scorer, make_scorer

__all__ = ["METRICS", "PROTOCOLS", "Protocol", "Scorer", "make_scorer"]
