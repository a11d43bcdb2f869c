"""The `pyiqa-default` protocol: PSNR and SSIM as `pyiqa.create_metric` computes them with default options.

Not a re-implementation: pyiqa itself computes every value, on the tensors it would make from the image
files (RGB, float32 in [0, 1], N x 3 x H x W, as `pyiqa.utils.img_util.imread2tensor` does). pyiqa and torch
are imported on the first score, and each metric is built once per process.
"""

import functools
from importlib import metadata

import numpy as np

from bench.common.errors import MetricUnavailableError

PINNED_VERSION = "0.1.16"  # pyproject.toml pins it in the `pyiqa` extra; values move between pyiqa releases
EXTRA = '"derain-bench[pyiqa]"'  # not in the core install: pyiqa's licence forbids commercial use
LICENCE = "PolyForm-Noncommercial-1.0.0"


def import_pyiqa(column: str):
    """pyiqa at the pinned version, or a one-line MetricUnavailableError naming the extra and its licence."""
    from bench.metrics.backend_files import import_backend  # imports torch: not when bench.metrics is imported

    try:
        pyiqa = import_backend(column, "pyiqa", EXTRA)
    except MetricUnavailableError as exc:
        raise MetricUnavailableError(f"{exc} (pyiqa's licence, {LICENCE}, forbids commercial use)") from exc
    installed = metadata.version("pyiqa")
    if installed != PINNED_VERSION:
        raise MetricUnavailableError(
            f"{column} is defined by pyiqa {PINNED_VERSION}, but pyiqa {installed} is installed; "
            f"pip install pyiqa=={PINNED_VERSION}"
        )
    return pyiqa


@functools.cache
def _metric(name: str):
    return import_pyiqa(f"{name}@pyiqa-default").create_metric(name, device="cpu", as_loss=False)


def prepare() -> None:
    """Import pyiqa and build both metrics now, so that a missing backend stops a run before any work."""
    _metric("psnr")
    _metric("ssim")


def _tensor(rgb: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255)


def _score(name: str, a: np.ndarray, b: np.ndarray) -> float:
    import torch

    with torch.inference_mode():
        return float(_metric(name)(_tensor(a), _tensor(b)).item())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """`pyiqa.create_metric('psnr')(a, b)` for uint8 H x W x 3 RGB `a` (distorted) and `b` (reference)."""
    return _score("psnr", a, b)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """`pyiqa.create_metric('ssim')(a, b)` for uint8 H x W x 3 RGB `a` (distorted) and `b` (reference)."""
    return _score("ssim", a, b)
