"""JORDER-E (Yang, Tan, Feng, Guo, Yan, Liu, "Joint Rain Detection and Removal from a Single Image with Contextualized
Deep Networks", TPAMI 2019), its practical model, written from the paper and checked against the official code
flyywh/JORDER-E-Deep-Image-Deraining-TPAMI-2019-Journal (testing_practical/src/model/jorder_e.py and its test).

Two stages of one design. A stage encodes the rainy image beside the previous stage's estimate (the image itself in
the first stage) with a 3x3 convolution to 32 channels, updates the features with three residual blocks, each
adding to its input three two-convolution branches with ReLUs (dilations 1, 2 and 2-then-4; the two dilated
branches scaled by 0.1) and, in the second stage, the first stage's output of the same block. From the features it
estimates a 2-channel rain mask and a 3-channel rain level (two convolutions each, no activation between; in the
second stage added to the first stage's), turns each into a scale and a shift of the features (conv, ReLU, conv),
and decodes shift-plus-features plus mask-scale x features x level-scale with two convolutions into a residual
added to the rainy image. The second stage's output is the result.

Faithful to the official test path: images in RGB, values on the 0..255 scale (`--rgb_range 255`), no chopping or
self-ensemble, the output clamped and rounded (`utility.quantize`: torch's round, half to even, where ROUND here
rounds halves up; a float32 network output lands on exactly .5 next to never).
"""

import torch
from torch import nn

from bench.common.assets import Asset
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation

FEATURES = 32
BLOCKS = 3
ESTIMATOR = 8  # hidden channels of the mask and level estimators
ENCODER = 16  # hidden channels of the scale and shift encoders
MASK, LEVEL = 2, 3  # channels of the rain mask and the rain level


def _conv(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation)


class ResidualBlock(nn.Module):
    def __init__(self):
        super().__init__()
        for k, dilation in enumerate((1, 1, 2, 2, 2, 4), 1):
            self.add_module(f"conv{k}", _conv(FEATURES, FEATURES, dilation))

    def _branch(self, first: nn.Conv2d, second: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(second(torch.relu(first(x))))

    def forward(self, x: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        out = (
            x
            + self._branch(self.conv1, self.conv2, x)
            + 0.1 * self._branch(self.conv3, self.conv4, x)
            + 0.1 * self._branch(self.conv5, self.conv6, x)
        )
        return out if previous is None else out + previous


class Updater(nn.Module):
    def __init__(self):
        super().__init__()
        for k in range(1, BLOCKS + 1):
            self.add_module(f"res{k}", ResidualBlock())

    def forward(self, x: torch.Tensor, previous: list[torch.Tensor] | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        outputs = []
        for k in range(BLOCKS):
            x = self.get_submodule(f"res{k + 1}")(x, None if previous is None else previous[k])
            outputs.append(x)
        return x, outputs


def _estimator(out_channels: int) -> tuple[nn.Conv2d, nn.Conv2d]:
    return _conv(FEATURES, ESTIMATOR), _conv(ESTIMATOR, out_channels)


class Stage(nn.Module):
    """One JORDER stage: (rainy, previous estimate and its state) -> (estimate, block outputs, mask, level)."""

    def __init__(self):
        super().__init__()
        self.encoder = _conv(6, FEATURES)
        self.updater = Updater()
        self.mask_estimator1, self.mask_estimator2 = _estimator(MASK)
        self.level_estimator1, self.level_estimator2 = _estimator(LEVEL)
        for source, channels in (("mask", MASK), ("level", LEVEL)):
            for role in ("w", "b"):  # the scale (w) and the shift (b) of the features
                self.add_module(f"{source}_F_{role}_encoder1", _conv(channels, ENCODER))
                self.add_module(f"{source}_F_{role}_encoder2", _conv(ENCODER, FEATURES))
        self.decoder = nn.Sequential(_conv(FEATURES, FEATURES), _conv(FEATURES, 3))

    def _encoded(self, source: str, role: str, x: torch.Tensor) -> torch.Tensor:
        first = self.get_submodule(f"{source}_F_{role}_encoder1")
        return self.get_submodule(f"{source}_F_{role}_encoder2")(torch.relu(first(x)))

    def forward(self, rainy: torch.Tensor, previous: tuple | None):
        estimate, blocks, mask, level = previous if previous is not None else (rainy, None, None, None)
        features, outputs = self.updater(self.encoder(torch.cat([rainy, estimate], 1)), blocks)
        new_mask = self.mask_estimator2(self.mask_estimator1(features))
        new_level = self.level_estimator2(self.level_estimator1(features))
        if previous is not None:
            new_mask, new_level = new_mask + mask, new_level + level
        shifted = self._encoded("mask", "b", new_mask) + features + self._encoded("level", "b", new_level)
        scaled = self._encoded("mask", "w", new_mask) * features * self._encoded("level", "w", new_level)
        return self.decoder(shifted + scaled) + rainy, outputs, new_mask, new_level


class JorderE(nn.Module):
    """RGB in [0, 1] -> RGB in [0, 1]; the network works on the 0..255 scale of its training."""

    def __init__(self):
        super().__init__()
        self.jorder1 = Stage()
        self.jorder2 = Stage()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rainy = x * 255
        first = self.jorder1(rainy, None)
        second, *_ = self.jorder2(rainy, first)
        return second / 255


# ---- official weights -------------------------------------------------------------------------------

_COMMIT = "ccb4a465bcb48ad8a5d3fef3ab1b950bcf8b7050"
_WEIGHTS = Asset(
    path="weights/jorder_e/model_practical.pt",
    url=f"https://raw.githubusercontent.com/flyywh/JORDER-E-Deep-Image-Deraining-TPAMI-2019-Journal/{_COMMIT}/"
    "testing_practical/src/pretrained_model/model_practical.pt",
    sha256="f97df015f95c76806b0deb6c9cf8929be9bde9d1fab2afafb2f6f8bbe9f7655d",
)

SPEC = MethodSpec(
    name="jorder_e.practical",
    summary="JORDER-E's practical model: two stages of rain detection (mask, level) and removal; official weights",
    quantisation=Quantisation.ROUND,  # utility.quantize: clamp to 0..255 and round
    weights=_WEIGHTS,
    trained_on="the release's 'heavy rain-oriented pretrained streak removal model' for practical (real) images; "
    "its training set is not named",
    training_set="heavy rain (unnamed)",
    trained_on_source="flyywh/JORDER-E README (testing_practical)",
    citation="Yang et al., Joint Rain Detection and Removal from a Single Image with Contextualized Deep Networks, "
    "TPAMI 2019",
)


def build(name: str) -> DerainMethod:
    return DerainMethod(SPEC, JorderE)
