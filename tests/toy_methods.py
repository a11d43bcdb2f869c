"""A tiny deterministic method that changes every image, for tests of the runner (registered by the tests).

`brighten-blur`: a 3x3 box blur with edge replication, plus 0.04, truncated to uint8 as PReNet's script
saves outputs. Its outputs differ from the rainy input almost everywhere, so a runner that scored the input
(or the ground truth) instead of the output would be caught.
"""

import torch
import torch.nn.functional as F
from torch import nn

from bench.method import DerainMethod, MethodSpec, Quantisation

OFFSET = 0.04


class BrightenBlur(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.avg_pool2d(padded, kernel_size=3, stride=1) + OFFSET


def build(name: str) -> DerainMethod:
    spec = MethodSpec(name=name, summary="3x3 box blur plus 0.04 (a test method)", quantisation=Quantisation.TRUNCATE)
    return DerainMethod(spec, BrightenBlur)
