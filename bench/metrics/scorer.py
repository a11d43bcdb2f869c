"""A scorer: the chosen metrics as columns, one float each.

PSNR and SSIM are scored under each chosen protocol (`metric@protocol` columns, protocol-major); LPIPS and
NIQE, computed by their backends (see perceptual.py), are one column each, named after the implementation.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from bench.common.errors import MetricUnavailableError
from bench.common.names import unknown_name
from bench.metrics.batches import as_images
from bench.metrics.perceptual import PERCEPTUAL_METRICS, PerceptualMetric, perceptual_metric_class
from bench.metrics.protocols import COMPUTATIONS, PROTOCOLS, Protocol

if TYPE_CHECKING:
    import torch

    from bench.common.assets import Store

METRICS: tuple[str, ...] = ("psnr", "ssim")  # scored under every protocol; also the default set

# How a set's mean treats an image whose score is not finite, per column (recorded with the results):
#   propagate: the mean of all images, as the protocol's script computes it, so one inf (the PSNR of an image
#              identical to its ground truth, as MATLAB's psnr gives) makes the mean inf; the images are counted
#   omit:      the mean of the finite scores; the others are counted and named
NON_FINITE_RULES = {
    "propagate": "mean over every image, as the protocol's script computes it; a non-finite score makes the mean "
    "non-finite (MATLAB's mean of a vector holding Inf is Inf); the images are counted and named",
    "omit": "mean over the images with a finite score; the others are counted and named",
}
ALL_METRICS: tuple[str, ...] = (*METRICS, *PERCEPTUAL_METRICS)
DEFAULT_PROTOCOLS: tuple[str, ...] = ("matlab-double",)


class Scorer:
    """Call with `pred, target` (uint8 H x W x 3 RGB, same shape) to get `{column: value}`.

    With `target=None` only the no-reference columns are computed. Each protocol converts each image once;
    its PSNR and SSIM then share those planes. `skipped` maps each column dropped by
    `make_scorer(..., skip_unavailable=True)` to the reason.
    """

    def __init__(
        self,
        protocol_metrics: tuple[str, ...],
        protocols: tuple[Protocol, ...],
        perceptual: tuple[PerceptualMetric, ...] = (),
        skipped: dict[str, str] | None = None,
        on_device: dict | None = None,
    ):
        self.protocol_metrics = protocol_metrics
        self.protocols = protocols
        self.perceptual = perceptual
        self.skipped = dict(skipped or {})
        # protocol name -> a computation of its (PSNR, SSIM) on the run's device (bench.metrics.on_device)
        self.on_device = dict(on_device or {})

    @property
    def columns(self) -> list[str]:
        """`metric@protocol` names, protocol-major, then one column per perceptual metric."""
        return [f"{m}@{p.name}" for p in self.protocols for m in self.protocol_metrics] + [
            metric.column for metric in self.perceptual
        ]

    @property
    def non_finite_rules(self) -> dict[str, str]:
        """Column -> its rule in NON_FINITE_RULES: PSNR/SSIM propagate as their scripts do; backends say theirs."""
        rules = {f"{m}@{p.name}": "propagate" for p in self.protocols for m in self.protocol_metrics}
        return rules | {metric.column: metric.non_finite_rule for metric in self.perceptual}

    @property
    def reference_columns(self) -> list[str]:
        """The columns that need a ground-truth image."""
        return [c for c in self.columns if c not in self.no_reference_columns]

    @property
    def no_reference_columns(self) -> list[str]:
        """The columns computed from the prediction alone (what a set without ground truth can report)."""
        return [metric.column for metric in self.perceptual if not metric.needs_reference]

    def describe(self) -> dict[str, dict]:
        """For each column, a JSON-ready account of what it measures and which code computes it."""
        description = {
            f"{m}@{p.name}": {
                "metric": m,
                "protocol": p.name,
                "definition": p.definition(m),
                "higher_is_better": True,
                "needs_reference": True,
                "implementation": _qualified_name(COMPUTATIONS[p.name].metric(m)),
            }
            for p in self.protocols
            for m in self.protocol_metrics
        }
        for name, computation in self.on_device.items():  # "device" is machine-local: compare ignores it
            for m in self.protocol_metrics:
                description[f"{m}@{name}"]["device"] = (
                    f"{computation.device}: float64 by {type(computation).__module__}.{type(computation).__qualname__}"
                    ", equal to the implementation within 1e-10"
                )
        description.update((metric.column, metric.describe()) for metric in self.perceptual)
        for column, rule in self.non_finite_rules.items():
            description[column]["non_finite_rule"] = {"rule": rule, "means": NON_FINITE_RULES[rule]}
        return description

    def __call__(self, pred: np.ndarray, target: np.ndarray | None = None) -> dict[str, float]:
        _check_image("pred", pred)
        if target is None:
            if not self.no_reference_columns:
                raise ValueError(
                    "target is None, but no column can be computed without a reference "
                    f"(columns: {', '.join(self.columns) or 'none'})"
                )
            return {m.column: m(pred) for m in self.perceptual if not m.needs_reference}
        _check_image("target", target)
        if pred.shape != target.shape:
            raise ValueError(f"pred and target differ in shape: {pred.shape} vs {target.shape}")
        scores = {}
        for protocol in self.protocols:
            if protocol.name in self.on_device:
                both = dict(zip(("psnr", "ssim"), self.on_device[protocol.name](pred, target), strict=True))
                scores.update((f"{m}@{protocol.name}", both[m]) for m in self.protocol_metrics)
                continue
            compute = COMPUTATIONS[protocol.name]
            pred_planes, target_planes = compute.planes(pred), compute.planes(target)
            for m in self.protocol_metrics:
                scores[f"{m}@{protocol.name}"] = compute.metric(m)(pred_planes, target_planes)
        for metric in self.perceptual:
            scores[metric.column] = metric(pred, target) if metric.needs_reference else metric(pred)
        return scores

    def score(self, pred, target=None, quantise: str = "round") -> list[dict[str, float]]:
        """One `{column: value}` per image of a batch or a single image, each a uint8 array or a float tensor in
        [0, 1] on any device (see bench.metrics.batches; floats are quantised by `quantise` first)."""
        preds = as_images(pred, quantise)
        targets = [None] * len(preds) if target is None else as_images(target, quantise)
        if len(targets) != len(preds):
            raise ValueError(f"{len(preds)} predictions but {len(targets)} targets")
        return [self(p, t) for p, t in zip(preds, targets, strict=True)]


def make_scorer(
    metrics: Iterable[str] | str = METRICS,
    protocols: Iterable[str] | str = DEFAULT_PROTOCOLS,
    *,
    device: "torch.device | str | None" = None,
    store: "Store | None" = None,
    skip_unavailable: bool = False,
    on_device: bool | None = None,
) -> Scorer:
    """A scorer for `metrics` (see ALL_METRICS) under `protocols` (see PROTOCOLS), in the order given.

    LPIPS and NIQE ignore `protocols`; their backends are imported and their files found here (in the torch
    hub cache, else in `store`'s cache or mirror), and they run on `device` (default CPU). A missing backend or
    file raises MetricUnavailableError, or, with `skip_unavailable`, drops that column and records why in
    `Scorer.skipped`. `matlab-double` PSNR/SSIM are computed on `device` in float64 when `on_device` (default:
    when `device` is CUDA), by bench.metrics.on_device; other protocols always by their NumPy code.
    """
    metric_names = _known_names("metric", metrics, ALL_METRICS)
    protocol_names = _known_names("protocol", protocols, PROTOCOLS)
    protocol_metrics = tuple(m for m in metric_names if m in METRICS)
    perceptual, skipped = _build_perceptual(
        [m for m in metric_names if m in PERCEPTUAL_METRICS], device, store, skip_unavailable
    )
    used_protocols = tuple(PROTOCOLS[p] for p in protocol_names) if protocol_metrics else ()
    for protocol in used_protocols:
        COMPUTATIONS[protocol.name].prepare()
    return Scorer(protocol_metrics, used_protocols, perceptual, skipped, _on_device(used_protocols, device, on_device))


def _on_device(protocols: tuple[Protocol, ...], device, wanted: bool | None) -> dict:
    if not any(p.name == "matlab-double" for p in protocols) or (wanted is None and device is None):
        return {}
    import torch

    from bench.metrics.on_device import MatlabDoubleOnDevice

    device = torch.device("cpu" if device is None else device)
    if (device.type == "cuda") if wanted is None else wanted:
        return {"matlab-double": MatlabDoubleOnDevice(device)}
    return {}


def _build_perceptual(
    names: list[str], device: "torch.device | str | None", store: "Store | None", skip_unavailable: bool
) -> tuple[tuple[PerceptualMetric, ...], dict[str, str]]:
    """The metrics that could be built, and (with `skip_unavailable`) why each other one could not, by column."""
    if not names:
        return (), {}
    import torch  # only now: importing bench.metrics must not import torch

    torch_device = torch.device("cpu" if device is None else device)
    built, skipped = [], {}
    for name in names:
        metric_class = perceptual_metric_class(name)
        try:
            built.append(metric_class(torch_device, store))
        except MetricUnavailableError as exc:
            if not skip_unavailable:
                raise
            skipped[metric_class.column] = str(exc)
    return tuple(built), skipped


def _known_names(kind: str, names: Iterable[str] | str, choices: Iterable[str]) -> tuple[str, ...]:
    names = (names,) if isinstance(names, str) else tuple(dict.fromkeys(names))
    if not names:
        raise ValueError(f"no {kind} given; choose from: {', '.join(sorted(choices))}")
    for name in names:
        if name not in choices:
            raise unknown_name(kind, name, choices)
    return names


def _check_image(label: str, image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{label} must be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{label} must be uint8 RGB (0..255), got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        raise ValueError(f"{label} must be a non-empty H x W x 3 RGB image, got shape {image.shape}")


def _qualified_name(function) -> str:
    return f"{function.__module__}:{function.__qualname__}"
