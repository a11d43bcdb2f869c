"""Tiny deterministic methods that change every image, for tests of the runner (registered by the tests).

`brighten-blur`: a 3x3 box blur with edge replication, plus 0.04, truncated to uint8 as PReNet's script
saves outputs. Its outputs differ from the rainy input almost everywhere, so a runner that scored the input
(or the ground truth) instead of the output would be caught.
"""

import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.contract import DerainMethod, MethodSpec, Quantisation

OFFSET = 0.04


class BrightenBlur(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.avg_pool2d(padded, kernel_size=3, stride=1) + OFFSET


def build(name: str) -> DerainMethod:
    spec = MethodSpec(name=name, summary="3x3 box blur plus 0.04 (a test method)", quantisation=Quantisation.TRUNCATE)
    return DerainMethod(spec, BrightenBlur)


class BoxBlur(nn.Module):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.size // 2
        return F.avg_pool2d(F.pad(x, (half, half, half, half), mode="replicate"), kernel_size=self.size, stride=1)


def build_blur(name: str) -> DerainMethod:
    """`blur-K`: a KxK box blur (K odd), a family of distinct cheap methods for report benchmarks."""
    size = int(name.rpartition("-")[2])
    spec = MethodSpec(name=name, summary=f"{size}x{size} box blur (a test method)", quantisation=Quantisation.ROUND)
    return DerainMethod(spec, lambda: BoxBlur(size))
