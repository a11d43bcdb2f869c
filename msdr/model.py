"""MSDR-Net (Han, Wang, Pan, Shen, "MSDR-Net: Multi-Scale Detail-Recovery Network for Single Image Deraining",
CAC 2022), ported from the official Keras 2.x training script, B201cv/MSDR-Net-Multi-Scale-Detail-Recovery-Network-
for-Single-Image-Deraining at ef7e459 ("the script"; docstrings and comments cite its names and line numbers).

A shared stem feeds two encoder-decoders that never exchange features: the rain branch ED_R (Res2Net blocks with
channel attention and a squeeze-excitation) and the detail branch ED_D (DRD-Net's dilated context aggregation).
Each decodes to features at full, 1/2 and 1/4 scale. Per scale s a rain head and a detail head give R_s and D_s
(both tanh-bounded) and the derained image is tanh(I_s - R_s + D_s), I_s being the input resized to scale s.

Tensor convention (the script's, kept as is): N x 3 x S x S with S = `image_size`, BGR channel order, values in
[-1, 1] = (uint8 - 127.5) / 127.5. All six outputs use the same convention; the rain outputs estimate rainy - clean.

Keras equivalences: BatchNorm momentum 0.99 / epsilon 1e-3 (PyTorch momentum 0.01), PReLU with one slope per channel
initialised at 0, Keras 2.x `hard_sigmoid` = clip(0.2 x + 0.5, 0, 1), glorot-uniform kernels and zero biases by
default and Keras 2.2+ truncated `he_normal` where the script asks for it, `padding="same"`, nearest UpSampling2D.
"""

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

BN_MOMENTUM = 0.01  # Keras BatchNormalization(momentum=0.99) keeps 0.99 of the old running statistics
BN_EPS = 1e-3  # Keras default epsilon
SE_UNITS = 4  # rain_branch's squeeze-excitation bottleneck: Dense(4) whatever the width (as in DRD-Net)
_TRUNCATED_UNIT_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


# ---- Keras-equivalent layers ---------------------------------------------------------------------------


def _glorot_uniform(layer: nn.Conv2d | nn.Linear) -> None:
    """Keras's default: kernel ~ U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)); zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


@torch.no_grad()
def _he_normal(layer: nn.Conv2d | nn.Linear) -> None:
    """Keras 2.2+ `he_normal`: a normal truncated at +-2 of its own std, that std being sqrt(2 / fan_in) / 0.8796,
    so the truncated weights have std sqrt(2 / fan_in) (Keras <= 2.1.6 left out the 0.8796 correction); zero bias.

    Sampled by inverse CDF (uniform over the [-2, 2] mass, then erfinv): the same distribution as
    nn.init.trunc_normal_, whose rejection loop takes ~10x longer on the ~50 M he_normal weights of the full model.
    """
    fan_in = layer.weight[0].numel()  # in_channels * kernel area, or in_features
    std = math.sqrt(2.0 / fan_in) / _TRUNCATED_UNIT_STD
    mass = math.erf(2.0 / math.sqrt(2.0))  # P(|z| < 2) = 2 Phi(2) - 1
    layer.weight.uniform_(-mass, mass).erfinv_().mul_(std * math.sqrt(2.0)).clamp_(-2 * std, 2 * std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def conv(
    in_channels: int, out_channels: int, kernel: int, *, dilation: int = 1, valid: bool = False, he: bool = False
) -> nn.Conv2d:
    """Keras Conv2D: stride 1, `padding="same"` (or "valid"), glorot-uniform, or he_normal if `he`."""
    layer = nn.Conv2d(in_channels, out_channels, kernel, padding=0 if valid else "same", dilation=dilation)
    (_he_normal if he else _glorot_uniform)(layer)
    return layer


def dense(in_features: int, out_features: int, *, bias: bool = True, he: bool = False) -> nn.Linear:
    """Keras Dense, glorot-uniform unless `he`."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    (_he_normal if he else _glorot_uniform)(layer)
    return layer


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def prelu(channels: int) -> nn.PReLU:
    """Keras PReLU(shared_axes=[1, 2]): one slope per channel, initialised at 0."""
    return nn.PReLU(channels, init=0.0)


def keras_hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Keras 2.x `hard_sigmoid`; not F.hardsigmoid, which is clip(x / 6 + 0.5, 0, 1)."""
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


def _upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Keras UpSampling2D(size=(factor, factor)): nearest neighbour."""
    return F.interpolate(x, scale_factor=factor, mode="nearest")


def _resize_input(x: torch.Tensor, size: int) -> torch.Tensor:
    """The script's cv2.resize(img, (size, size)) of the normalised image (lines 125, 127; INTER_LINEAR by default).
    For the exact 2x and 4x downscales used here that is half-pixel-centred bilinear sampling without antialiasing:
    2x averages each 2x2 block, 4x the central 2x2 pixels of each 4x4 block (not the whole block). Checked equal to
    cv2 to float rounding (tests/unit/test_msdr_model.py)."""
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)


# ---- rain branch blocks ----------------------------------------------------------------------------------


class ChannelAttention(nn.Module):
    """Res2Block's attention (script lines 351-357): GAP -> Dense(n) + ReLU -> Dense(n) + sigmoid -> scale."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc1 = dense(channels, channels)
        self.fc2 = dense(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None]


class SqueezeExcitation(nn.Module):
    """rain_branch's SE (script lines 369-375, from DRD-Net): GAP -> Dense(4) + ReLU -> Dense(n) + hard_sigmoid
    -> scale; both Dense layers bias-free and he_normal."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc1 = dense(channels, SE_UNITS, bias=False, he=True)
        self.fc2 = dense(SE_UNITS, channels, bias=False, he=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = keras_hard_sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None]


class Res2Block(nn.Module):
    """script `Res2Block` (lines 330-359): 1x1 + ReLU, split into 4 channel groups x1..x4; y1 = x1,
    y2 = ReLU(conv(x2)), y3 = ReLU(conv(x3 + y2)), y4 = ReLU(conv(x4 + y3)); 1x1 + ReLU on concat(y1..y4);
    channel attention; plus the post-1x1 features (not the block input)."""

    def __init__(self, channels: int):
        super().__init__()
        group = channels // 4
        self.conv_in = conv(channels, channels, 1)
        self.group_convs = nn.ModuleList(conv(group, group, 3) for _ in range(3))
        self.conv_out = conv(channels, channels, 1)
        self.attention = ChannelAttention(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv_in(x))
        first, *rest = x.chunk(4, dim=1)
        ys = [first]
        previous = None
        for group, group_conv in zip(rest, self.group_convs, strict=True):
            previous = torch.relu(group_conv(group if previous is None else group + previous))
            ys.append(previous)
        y = torch.relu(self.conv_out(torch.cat(ys, dim=1)))
        return self.attention(y) + x


class RainBlock(nn.Module):
    """script `rain_branch` (lines 360-377): projection p = ReLU(1x1 conv), two Res2Blocks each followed by ReLU,
    squeeze-excitation, plus p."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.project = conv(in_channels, channels, 1)
        self.body = nn.Sequential(Res2Block(channels), nn.ReLU(), Res2Block(channels), nn.ReLU())
        self.se = SqueezeExcitation(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.relu(self.project(x))
        return self.se(self.body(p)) + p


# ---- detail branch blocks --------------------------------------------------------------------------------


class ContextAggregation(nn.Module):
    """script `_empty_block` (lines 393-399, DRD-Net's "structure detail context aggregation"): three parallel
    3x3 convs with dilation 1, 3 and 5, concatenated, fused by a 1x1 conv; all he_normal, no activation."""

    def __init__(self, channels: int):
        super().__init__()
        self.branches = nn.ModuleList(conv(channels, channels, 3, dilation=d, he=True) for d in (1, 3, 5))
        self.fuse = conv(3 * channels, channels, 1, he=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))


class DetailBlock(nn.Module):
    """script `detail_branch` (lines 380-390): projection p = ReLU(1x1 conv), then context aggregation -> BN ->
    PReLU -> context aggregation -> BN, plus p (no activation after the sum)."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.project = conv(in_channels, channels, 1)
        self.body = nn.Sequential(
            ContextAggregation(channels),
            batch_norm(channels),
            prelu(channels),
            ContextAggregation(channels),
            batch_norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.relu(self.project(x))
        return self.body(p) + p


# ---- encoder-decoder, heads, network ----------------------------------------------------------------------


def _stage(block: Callable[[int, int], nn.Module], in_channels: int, widths: Sequence[int]) -> nn.Sequential:
    """Consecutive blocks, each projecting to its width (the script's repeated rain_branch / detail_branch calls)."""
    blocks = []
    for width in widths:
        blocks.append(block(in_channels, width))
        in_channels = width
    return nn.Sequential(*blocks)


def _conv_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(conv(in_channels, out_channels, kernel), nn.ReLU())


class EncoderDecoder(nn.Module):
    """script `ED_R` (lines 478-558) with RainBlock, `ED_D` (lines 560-638) with DetailBlock; c = base width.

    Encoder: 7x7 conv + ReLU, then stages of (1, 1, 3, 3, 3) blocks of widths (c, c, c, 2c, 4c), each followed by a
    2x2 max-pool (C_k_down). Bottleneck: a `valid` conv as large as the 1/32-scale map (11x11 at 352), 4c -> 8c,
    no activation, giving one global vector that nearest upsampling spreads back over the map. Decoder D_1..D_3:
    upsample, 3 blocks (widths 4c; 2c; `decoder3_widths`), concat the same-scale C_k_down. D_4..D_6: upsample,
    3x3 conv + ReLU (D_4, D_5 then concat C_2_down, C_1_down). Side outputs D_4_out (1/4) and D_5_out (1/2) are
    3x3 convs + ReLU on the D_4 / D_5 concats, which the next stage upsamples.

    `half_scale_quirk` reproduces ED_D's line 633 (`D_5 = Activation("relu")(D_5_out)`): D_5_out is returned
    without its ReLU and D_6 upsamples ReLU(D_5_out) (c channels) instead of the D_5 concat (2c channels).
    """

    def __init__(
        self,
        block: Callable[[int, int], nn.Module],
        base_channels: int,
        bottleneck_kernel: int,
        decoder3_widths: Sequence[int],
        half_scale_quirk: bool,
    ):
        super().__init__()
        c = base_channels
        self.half_scale_quirk = half_scale_quirk
        self.encoder1 = nn.Sequential(*_conv_relu(c, c, 7), block(c, c))  # C_1
        self.encoder2 = _stage(block, c, [c])  # C_2
        self.encoder3 = _stage(block, c, [c] * 3)  # C_3
        self.encoder4 = _stage(block, c, [2 * c] * 3)  # C_4
        self.encoder5 = _stage(block, 2 * c, [4 * c] * 3)  # C_5
        self.bottleneck = conv(4 * c, 8 * c, bottleneck_kernel, valid=True)  # C_encoder_out
        self.decoder1 = _stage(block, 8 * c, [4 * c] * 3)  # D_1, + C_5_down -> 8c
        self.decoder2 = _stage(block, 8 * c, [2 * c] * 3)  # D_2, + C_4_down -> 4c
        self.decoder3 = _stage(block, 4 * c, decoder3_widths)  # D_3, + C_3_down
        self.decoder4 = _conv_relu(decoder3_widths[-1] + c, c, 3)  # D_4, + C_2_down -> 2c
        self.side_quarter = _conv_relu(2 * c, c, 3)  # D_4_out
        self.decoder5 = _conv_relu(2 * c, c, 3)  # D_5, + C_1_down -> 2c
        self.side_half = conv(2 * c, c, 3)  # D_5_out (its ReLU is applied in forward)
        self.decoder6 = _conv_relu(c if half_scale_quirk else 2 * c, c, 3)  # D_6

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features at full, 1/2 and 1/4 scale (the script returns them in the reverse order)."""
        c1_down = F.max_pool2d(self.encoder1(x), 2)
        c2_down = F.max_pool2d(self.encoder2(c1_down), 2)
        c3_down = F.max_pool2d(self.encoder3(c2_down), 2)
        c4_down = F.max_pool2d(self.encoder4(c3_down), 2)
        c5_down = F.max_pool2d(self.encoder5(c4_down), 2)
        d = _upsample(self.bottleneck(c5_down), c5_down.shape[-1])  # 1x1 -> back to the 1/32-scale map
        d = torch.cat([self.decoder1(d), c5_down], dim=1)
        d = torch.cat([self.decoder2(_upsample(d, 2)), c4_down], dim=1)
        d = torch.cat([self.decoder3(_upsample(d, 2)), c3_down], dim=1)
        d = torch.cat([self.decoder4(_upsample(d, 2)), c2_down], dim=1)
        quarter = self.side_quarter(d)
        d = torch.cat([self.decoder5(_upsample(d, 2)), c1_down], dim=1)
        half = self.side_half(d)
        if self.half_scale_quirk:
            d = torch.relu(half)
        else:
            half = torch.relu(half)
        full = self.decoder6(_upsample(d, 2))
        return full, half, quarter


def _head(channels: int, hidden: bool = True) -> nn.Sequential:
    """The script's output heads x{1,2,3}_{r,d} (lines 665-701): 3x3 conv (c -> c, he) -> BN -> 3x3 conv (c -> 3, he)
    -> tanh. `hidden=False` is the faithful 1/2-scale rain head: line 681 applies its last conv to the decoder
    feature, so x2_r's conv + BN (lines 679-680) are dead and Keras leaves them out of the model."""
    layers = [conv(channels, channels, 3, he=True), batch_norm(channels)] if hidden else []
    return nn.Sequential(*layers, conv(channels, 3, 3, he=True), nn.Tanh())


class MSDROutputs(NamedTuple):
    """The six supervised outputs (script names x1_out, x2_out, x3_out, x1_out_r, x2_out_r, x3_out_r); the suffix is
    the downscale factor: full (S), half (S/2) and quarter (S/4) resolution. Rain is tanh-bounded rainy - clean."""

    derained_1: torch.Tensor
    derained_2: torch.Tensor
    derained_4: torch.Tensor
    rain_1: torch.Tensor
    rain_2: torch.Tensor
    rain_4: torch.Tensor


class MSDRNet(nn.Module):
    """MSDR-Net. The default, `MSDRNet()`, is the paper's network: 72,088,914 trainable parameters at 352 x 352.

    Args:
        base_channels: width c; the script's widths 64 / 128 / 256 / 512 become c / 2c / 4c / 8c (the heads' hidden
            width is c too; the SE bottleneck stays 4 units). A positive multiple of 4 (Res2Net's 4 channel groups).
        image_size: side S of the square input; a positive multiple of 32 (five 2x2 poolings). The bottleneck conv
            covers the whole S/32 map (11 x 11 at 352). The script is fixed at 352. At S = 32 the decoder's first
            BatchNorms see a 1x1 map, so training needs a batch larger than 1.
        faithful: True reproduces the script's two slips: the 1/2-scale rain head is a single conv (x2_r's conv +
            BN are dead), and ED_D's D_5_out keeps no ReLU while D_6 continues from ReLU(D_5_out). False restores
            the evident intent: the 1/2-scale rain head gets its conv + BN like the other five heads, and ED_D's
            D_5 matches ED_R's (D_5_out gets its ReLU, D_6 upsamples the 2c-channel D_5 concat, so ED_D's D_6 conv
            takes 2c input channels instead of c). Both add parameters: 9c^2 + c + 2c (conv + BN) and 9c^2.

    `forward` takes N x 3 x S x S in the script's convention (BGR, [-1, 1]; see the module docstring) and returns
    all six outputs; `derain` returns only the full-scale derained image, as the script's CLEAN_Model does.
    BatchNorm follows the module's mode: batch statistics in training (the script trains with batch 1), running
    statistics in eval.
    """

    def __init__(self, base_channels: int = 64, image_size: int = 352, faithful: bool = True):
        super().__init__()
        if base_channels <= 0 or base_channels % 4:
            raise ValueError(f"base_channels must be a positive multiple of 4, got {base_channels}")
        if image_size <= 0 or image_size % 32:
            raise ValueError(f"image_size must be a positive multiple of 32, got {image_size}")
        c = base_channels
        self.image_size = image_size
        self.faithful = faithful
        self.stem = nn.Sequential(conv(3, c, 3, he=True), prelu(c))  # script lines 645-646
        self.rain = EncoderDecoder(RainBlock, c, image_size // 32, (c, 2 * c, 2 * c), half_scale_quirk=False)
        self.detail = EncoderDecoder(DetailBlock, c, image_size // 32, (c, c, c), half_scale_quirk=faithful)
        # heads at full, 1/2, 1/4 scale
        self.rain_heads = nn.ModuleList([_head(c), _head(c, hidden=not faithful), _head(c)])
        self.detail_heads = nn.ModuleList([_head(c) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> MSDROutputs:
        size = self.image_size
        if x.ndim != 4 or x.shape[1:] != (3, size, size):
            raise ValueError(f"MSDRNet(image_size={size}) expects N x 3 x {size} x {size} input, got {tuple(x.shape)}")
        features = self.stem(x)
        rains = [head(f) for head, f in zip(self.rain_heads, self.rain(features), strict=True)]
        details = [head(f) for head, f in zip(self.detail_heads, self.detail(features), strict=True)]
        inputs = (x, _resize_input(x, size // 2), _resize_input(x, size // 4))  # the script's inputA, B, C
        derained = [torch.tanh(i - r + d) for i, r, d in zip(inputs, rains, details, strict=True)]
        return MSDROutputs(*derained, *rains)

    def derain(self, x: torch.Tensor) -> torch.Tensor:
        """The full-scale derained image only (script: CLEAN_Model, line 707)."""
        return self.forward(x).derained_1
