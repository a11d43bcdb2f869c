"""SPANet (Wang, Yang, Xu, Chen, Zhang, Lau, "Spatial Attentive Single-Image Deraining with a High Quality Real
Rain Dataset", CVPR 2019), written from the paper and checked against the official code stevewongv/SPANet.

Seventeen dilated bottleneck residual blocks (1x1, 3x3 dilation 2, 1x1; no biases) between a 3x3 input and output
convolution; blocks 4-15 are gated by an attention map that one spatial attentive module (SAM, applied four times
with the same weights) recomputes before blocks 4, 7, 10 and 13. A SAM runs two rounds of four-direction IRNN: along
each row or column, h_i = relu(w_c h_(i-1) + b_c + x_i) from one edge (h_0 = relu(x_0)), one scan per direction,
concatenated and fused by a 3x3 convolution; a 1x1 convolution and a sigmoid give the map. The network predicts
the clean image directly. The official trainer reads images with cv2, so the network works in BGR order.

Faithful to a quirk of the official code: its SAM computes direction weights and multiplies them out of place,
dropping the result, so they never reach the output. Their layers are in every checkpoint (and loaded) but not run.
"""

import torch
from torch import nn

from bench.common.assets import Asset
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation

FEATURES = 32
BLOCKS = 17
ATTENDED = range(4, 16)  # blocks gated by the attention map
NEW_ATTENTION_BEFORE = (4, 7, 10, 13)
_DIRECTIONS = ("up", "right", "down", "left")  # the order the official IRNN returns its scans in


def _no_bias_conv(in_channels: int, out_channels: int, kernel: int, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, padding=dilation * (kernel // 2), dilation=dilation, bias=False)


class Bottleneck(nn.Module):
    def __init__(self):
        super().__init__()
        self.group1 = nn.Sequential()
        self.group1.add_module("conv1", _no_bias_conv(FEATURES, FEATURES, 1))
        self.group1.add_module("relu1", nn.ReLU())
        self.group1.add_module("conv2", _no_bias_conv(FEATURES, FEATURES, 3, dilation=2))
        self.group1.add_module("relu2", nn.ReLU())
        self.group1.add_module("conv3", _no_bias_conv(FEATURES, FEATURES, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.group1(x)


def _scan(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dim: int, reverse: bool) -> torch.Tensor:
    """h_i = relu(weight_c * h_(i-1) + bias_c + x_i) along `dim` (from its far end when `reverse`), h_0 = relu(x_0)."""
    weight, bias = weight.view(1, -1, 1), bias.view(1, -1, 1)
    slices = list(x.unbind(dim))
    order = range(len(slices) - 1, -1, -1) if reverse else range(len(slices))
    previous = None
    for i in order:
        previous = torch.relu(slices[i] if previous is None else previous * weight + bias + slices[i])
        slices[i] = previous
    return torch.stack(slices, dim)


class SpatialIRNN(nn.Module):
    """Four scans with one weight and bias per channel and direction (stored as grouped 1x1 convolutions)."""

    def __init__(self):
        super().__init__()
        for direction in _DIRECTIONS:
            self.add_module(f"{direction}_weight", nn.Conv2d(FEATURES, FEATURES, 1, groups=FEATURES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # "up" accumulates from the bottom row upwards, "left" from the last column leftwards
        dims = {"up": (2, True), "right": (3, False), "down": (2, False), "left": (3, True)}
        scans = []
        for direction in _DIRECTIONS:
            conv = self.get_submodule(f"{direction}_weight")
            dim, reverse = dims[direction]
            scans.append(_scan(x, conv.weight, conv.bias, dim, reverse))
        return torch.cat(scans, dim=1)


class DirectionAttention(nn.Module):
    """Loaded for strict checkpoints; the official forward pass discards what it computes (see the module doc)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(FEATURES, FEATURES // 2, 3, padding=1)
        self.conv2 = nn.Conv2d(FEATURES // 2, FEATURES // 2, 3, padding=1)
        self.conv3 = nn.Conv2d(FEATURES // 2, 4, 1)


class SAM(nn.Module):
    def __init__(self):
        super().__init__()
        self.irnn1 = SpatialIRNN()
        self.irnn2 = SpatialIRNN()
        self.conv_in = _no_bias_conv(FEATURES, FEATURES, 3)
        self.conv2 = _no_bias_conv(4 * FEATURES, FEATURES, 3)
        self.conv3 = _no_bias_conv(4 * FEATURES, FEATURES, 3)
        self.attention_layer = DirectionAttention()
        self.conv_out = _no_bias_conv(FEATURES, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.irnn1(self.conv_in(x)))
        x = torch.relu(self.conv3(self.irnn2(x)))
        return torch.sigmoid(self.conv_out(x))


class SPANet(nn.Module):
    """Takes and returns RGB; flips to the BGR order of its training inside."""

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Sequential(_no_bias_conv(3, FEATURES, 3), nn.ReLU())
        self.SAM1 = SAM()
        for k in range(1, BLOCKS + 1):
            self.add_module(f"res_block{k}", Bottleneck())
        self.conv_out = nn.Sequential(_no_bias_conv(FEATURES, 3, 3))

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(rainy.flip(1))
        attention = None
        for k in range(1, BLOCKS + 1):
            if k in NEW_ATTENTION_BEFORE:
                attention = self.SAM1(x)
            residual = self.get_submodule(f"res_block{k}")(x)
            x = torch.relu((residual * attention if k in ATTENDED else residual) + x)
        return self.conv_out(x).flip(1)


# ---- official weights -------------------------------------------------------------------------------

_WEIGHTS = Asset(
    path="weights/spanet/latest",
    url="https://raw.githubusercontent.com/stevewongv/SPANet/82d28899c1793170335fdf2527eb365444533c8b/model/latest",
    sha256="3b5d58d0f4569004a0d2dc6f4373463bd60991fc8a04c061361357cf012e5eb0",
    licence="SPANet License.txt (BSD-style, copyright DUT/CityU)",
)

SPEC = MethodSpec(
    name="spanet.spa",
    summary="SPANet: dilated residual blocks gated by spatial attentive modules (4-direction IRNN); official weights",
    # the official test script scores the clipped float output and saves cv2.imwrite(255 * pred): rounding
    quantisation=Quantisation.ROUND,
    weights=_WEIGHTS,
    trained_on="SPA-Data training pairs (real rain, ~29.5K pairs), 40K steps",
    training_set="SPA-Data train",
    trained_on_source="stevewongv/SPANet README",
    citation="Wang et al., Spatial Attentive Single-Image Deraining with a High Quality Real Rain Dataset, CVPR 2019",
    # The README's 38.53 / 0.9875 on the SPA-Data test set is computed by skimage.measure on float RGB images
    # (PSNR over all channels, SSIM 7x7 uniform window with data_range 2): none of the named protocols, and the
    # test set is not mirrored, so it is stated here and in the docs rather than checked.
)


def build(name: str) -> DerainMethod:
    return DerainMethod(SPEC, SPANet)
