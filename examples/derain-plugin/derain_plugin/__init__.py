"""Horizontal minimum: thin bright near-vertical streaks removed by a 1 x 5 grey-scale erosion, then a dilation.

A training-free filter, here to show the two levels of derain-bench's method contract, not to derain well.
"""

import torch
from torch import nn
from torch.nn import functional


class HorizontalMinimum(nn.Module):
    """Opening along rows: streaks narrower than `width` pixels vanish, wider structures keep their brightness."""

    def __init__(self, width: int = 5):
        super().__init__()
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad, kernel = self.width // 2, (1, self.width)
        eroded = -functional.max_pool2d(functional.pad(-x, (pad, pad, 0, 0), mode="replicate"), kernel, 1)
        return functional.max_pool2d(functional.pad(eroded, (pad, pad, 0, 0), mode="replicate"), kernel, 1)


def build() -> nn.Module:
    """Horizontal minimum (opening along rows, 5 pixels): a training-free streak filter."""
    return HorizontalMinimum()


def build_method():
    """The same filter with a full spec: what it is, how its outputs are quantised, what it was trained on."""
    from bench.methods.contract import DerainMethod, MethodSpec, Quantisation

    spec = MethodSpec(
        name="hmin-full",
        summary="Horizontal minimum (opening along rows, 5 pixels), training-free",
        quantisation=Quantisation.TRUNCATE,
        trained_on="nothing: no parameters",
        training_set="none",
        citation="derain-bench's worked example (examples/derain-plugin)",
    )
    return DerainMethod(spec, build)
