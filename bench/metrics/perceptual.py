"""LPIPS and NIQE: metrics computed from model files a backend would normally download (LPIPS by the `lpips`
package; NIQE by derain-bench, as pyiqa defines it, or by pyiqa itself with the extra).

Each is one column named after who computes it (`lpips@alex-v0.1`: the lpips package's AlexNet v0.1;
`niqe@derain-bench`; `niqe@pyiqa`) and ignores the
PSNR/SSIM protocols. A name maps to a lazily imported `"module:class"`, so importing bench.metrics
imports neither torch nor a backend; the class is built by `make_scorer`, i.e. before a run does any work.
"""

import importlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch

    from bench.common.assets import Store

PERCEPTUAL_METRICS: Mapping[str, str] = MappingProxyType(
    {
        "lpips": "bench.metrics.lpips_metric:LpipsMetric",
        "niqe": "bench.metrics.niqe_metric:NiqeMetric",
        "niqe-pyiqa": "bench.metrics.niqe_pyiqa:PyiqaNiqeMetric",  # pyiqa itself: the pyiqa extra
    }
)


class PerceptualMetric(Protocol):
    """What the scorer needs from a backend metric.

    Called as `metric(pred, target)` when `needs_reference`, else `metric(pred)`, with uint8 H x W x 3 RGB.
    The constructor checks that every file is in place (in the hub cache, or the store's cache or mirror: see
    bench.metrics.backend_files) and raises MetricUnavailableError otherwise.
    """

    column: str
    needs_reference: bool
    non_finite_rule: str  # how a set's mean treats a non-finite image score: see bench.metrics.scorer

    def __init__(self, device: "torch.device", store: "Store | None" = None) -> None: ...

    def __call__(self, *images: "np.ndarray") -> float: ...

    def describe(self) -> dict: ...


def perceptual_metric_class(name: str) -> type[PerceptualMetric]:
    """Import the class registered as `name` in PERCEPTUAL_METRICS (the backend itself is imported later)."""
    module_name, _, attr = PERCEPTUAL_METRICS[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)
