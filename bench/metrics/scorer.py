"""A scorer: the chosen metrics under the chosen protocols, one float per `metric@protocol` column."""

from collections.abc import Iterable

import numpy as np

from bench.metrics.protocols import COMPUTATIONS, PROTOCOLS, Protocol
from bench.names import unknown_name

METRICS: tuple[str, ...] = ("psnr", "ssim")
DEFAULT_PROTOCOLS: tuple[str, ...] = ("matlab-double",)


class Scorer:
    """Call with `pred, target` (uint8 H x W x 3 RGB, same shape) to get `{column: value}`.

    Each protocol converts each image once; its PSNR and SSIM then share those planes.
    """

    def __init__(self, metrics: tuple[str, ...], protocols: tuple[Protocol, ...]):
        self.metrics = metrics
        self.protocols = protocols

    @property
    def columns(self) -> list[str]:
        """`metric@protocol` names, protocol-major."""
        return [f"{m}@{p.name}" for p in self.protocols for m in self.metrics]

    def describe(self) -> dict[str, dict]:
        """For each column, a JSON-ready account of what it measures and which code computes it."""
        return {
            f"{m}@{p.name}": {
                "metric": m,
                "protocol": p.name,
                "definition": p.definition(m),
                "higher_is_better": True,
                "implementation": _qualified_name(COMPUTATIONS[p.name].metric(m)),
            }
            for p in self.protocols
            for m in self.metrics
        }

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
        _check_pair(pred, target)
        scores = {}
        for protocol in self.protocols:
            compute = COMPUTATIONS[protocol.name]
            pred_planes, target_planes = compute.planes(pred), compute.planes(target)
            for m in self.metrics:
                scores[f"{m}@{protocol.name}"] = compute.metric(m)(pred_planes, target_planes)
        return scores


def make_scorer(metrics: Iterable[str] | str = METRICS, protocols: Iterable[str] | str = DEFAULT_PROTOCOLS) -> Scorer:
    """A scorer for `metrics` (see METRICS) under `protocols` (see PROTOCOLS), in the order given."""
    metric_names = _known_names("metric", metrics, METRICS)
    protocol_names = _known_names("protocol", protocols, PROTOCOLS)
    return Scorer(metric_names, tuple(PROTOCOLS[p] for p in protocol_names))


def _known_names(kind: str, names: Iterable[str] | str, choices: Iterable[str]) -> tuple[str, ...]:
    names = (names,) if isinstance(names, str) else tuple(dict.fromkeys(names))
    if not names:
        raise ValueError(f"no {kind} given; choose from: {', '.join(sorted(choices))}")
    for name in names:
        if name not in choices:
            raise unknown_name(kind, name, choices)
    return names


def _check_pair(pred: np.ndarray, target: np.ndarray) -> None:
    for label, image in (("pred", pred), ("target", target)):
        if not isinstance(image, np.ndarray):
            raise ValueError(f"{label} must be a numpy.ndarray, got {type(image).__name__}")
        if image.dtype != np.uint8:
            raise ValueError(f"{label} must be uint8 RGB (0..255), got dtype {image.dtype}")
        if image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
            raise ValueError(f"{label} must be a non-empty H x W x 3 RGB image, got shape {image.shape}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target differ in shape: {pred.shape} vs {target.shape}")


def _qualified_name(function) -> str:
    return f"{function.__module__}:{function.__qualname__}"
