"""PReNet and its variants (Ren et al., "Progressive Image Deraining Networks: A Better and Simpler
Baseline", CVPR 2019), written from the paper and checked against the official release csdwren/PReNet.

One stage t = 1..T takes the rainy image y and the previous estimate x_{t-1} (x_0 = y):
conv0 on concat(y, x_{t-1}) -> [Conv-LSTM] -> five residual blocks (or one block applied five times)
-> conv to 3 channels -> x_t = that + y. The output is x_T.
"""

from dataclasses import dataclass

import torch
from torch import nn

from bench.common.assets import Asset
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation, published_scores

FEATURES = 32
RESIDUAL_BLOCKS = 5


def conv_layer(in_channels: int, out_channels: int, activation: nn.Module | None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1)]
    if activation is not None:
        layers.append(activation)
    return nn.Sequential(*layers)  # Sequential keeps the official state-dict keys (`conv0.0.weight`...)


def residual_block(features: int = FEATURES) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(features, features, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(features, features, 3, padding=1),
        nn.ReLU(),
    )


class PReNet(nn.Module):
    """PReNet (`lstm=True`) or PRN (`lstm=False`); `recursive=True` shares one residual block (`_r`)."""

    def __init__(self, stages: int = 6, lstm: bool = True, recursive: bool = False):
        super().__init__()
        self.stages = stages
        self.lstm = lstm
        self.recursive = recursive
        self.conv0 = conv_layer(6, FEATURES, nn.ReLU())
        for k in range(1, 2 if recursive else RESIDUAL_BLOCKS + 1):
            self.add_module(f"res_conv{k}", residual_block())
        if lstm:
            self.conv_i = conv_layer(2 * FEATURES, FEATURES, nn.Sigmoid())
            self.conv_f = conv_layer(2 * FEATURES, FEATURES, nn.Sigmoid())
            self.conv_g = conv_layer(2 * FEATURES, FEATURES, nn.Tanh())
            self.conv_o = conv_layer(2 * FEATURES, FEATURES, nn.Sigmoid())
        self.conv = conv_layer(FEATURES, 3, None)

    def _residual_blocks(self) -> list[nn.Module]:
        if self.recursive:
            return [self.res_conv1] * RESIDUAL_BLOCKS
        return [getattr(self, f"res_conv{k}") for k in range(1, RESIDUAL_BLOCKS + 1)]

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = rainy.shape
        hidden = rainy.new_zeros(batch, FEATURES, height, width)
        cell = rainy.new_zeros(batch, FEATURES, height, width)
        blocks = self._residual_blocks()
        x = rainy
        for _ in range(self.stages):
            x = self.conv0(torch.cat((rainy, x), dim=1))
            if self.lstm:
                gates_in = torch.cat((x, hidden), dim=1)
                i, f = self.conv_i(gates_in), self.conv_f(gates_in)
                g, o = self.conv_g(gates_in), self.conv_o(gates_in)
                cell = f * cell + i * g
                hidden = o * torch.tanh(cell)
                x = hidden
            for block in blocks:
                x = torch.relu(block(x) + x)
            x = self.conv(x) + rainy
        return x


# ---- official weights -------------------------------------------------------------------------------

_REPO = "https://raw.githubusercontent.com/csdwren/PReNet/6d908d1e3c7ff5c26fee624112297ad1c8603ca7/logs"
_CITATION = "Ren et al., Progressive Image Deraining Networks: A Better and Simpler Baseline, CVPR 2019"
_PUBLISHED_SOURCE = (
    "csdwren/PReNet README (MATLAB statistic/*.m: Y of rgb2ycbcr on im2double, outputs saved as uint8(255*x))"
)
# tag -> (training set in words, its short name)
TRAINING_SETS = {
    "rain100h": (
        "RainTrainH, 1,254 of 1,800 pairs (those sharing backgrounds with the Rain100H test set removed)",
        "RainTrainH (1,254)",
    ),
    "rain100l": ("RainTrainL (200 pairs)", "RainTrainL"),
    "rain1400": ("Rain12600 (DDN-Data training set)", "Rain12600"),
}
REAL_RAIN = ("real rainy images (official release, no ground truth)", "real rain")
# tag -> the registered datasets those weights were trained on (bench.data.overlap reads the test sets' cards)
TRAINING_DATASETS = {"rain100l": ("raintrainl",)}


@dataclass(frozen=True)
class _Arch:
    folder: str  # folder name of the official release
    lstm: bool
    recursive: bool
    summary: str


_ARCHS = {
    "prenet": _Arch("PReNet6", lstm=True, recursive=False, summary="PReNet, 6 stages, Conv-LSTM, 5 residual blocks"),
    "prenet_r": _Arch("PReNet6_r", lstm=True, recursive=True, summary="PReNet_r: one residual block applied 5x"),
    "prn": _Arch("PRN6", lstm=False, recursive=False, summary="PRN: PReNet without the Conv-LSTM"),
    "prn_r": _Arch("PRN6_r", lstm=False, recursive=True, summary="PRN_r: no Conv-LSTM, one block applied 5x"),
}

# (weights file under logs/, sha256)
_WEIGHTS = {
    "prenet.rain100h": ("Rain100H/PReNet6", "127c0098787c5272f1f8583f6c5202e7ef674f750cd145a1691912a6d9e96210"),
    "prenet_r.rain100h": ("Rain100H/PReNet6_r", "ece8127c651cf49026d998fa36857cb9d462c92cf535b640a377fc025f765b5f"),
    "prn.rain100h": ("Rain100H/PRN6", "f1d56a7df0851eb087652663781d3f34c4c37a4c7ddd9a3f0802abbede1a06c2"),
    "prn_r.rain100h": ("Rain100H/PRN6_r", "99242ce096c9c617bd529a5e189797e8955a4b8611d355974c7c1c64a18b9074"),
    "prenet.rain100l": ("Rain100L/PReNet6", "cb9b743bb33cf6e5c56ba45f8ade93add46266dea9fa582e1934dc5eed942333"),
    "prenet_r.rain100l": ("Rain100L/PReNet6_r", "31dd4419cdb0f4da623d974747113d60e2c22803598c39dcf03d789f86a7f62b"),
    "prn.rain100l": ("Rain100L/PRN6", "ed4be5b78f76dcec5c781e1655dee48c2a90b56993de555945d72e31848aea99"),
    "prn_r.rain100l": ("Rain100L/PRN6_r", "87ee3b1c027b33e7e532a4881c3b077d100cf40c65dd2843690600e3023acee0"),
    "prenet.rain1400": ("Rain1400/PReNet6", "d5744dc2e35d73187a3f34936b3413884d293277073ffb78b961a78e65337879"),
    "prenet_r.rain1400": ("Rain1400/PReNet6_r", "c639c19b342d6ae977b7ff8a4b2fbeb24179510a6e57b8bf5ef32d6b071fc8d5"),
    "prn.rain1400": ("Rain1400/PRN6", "c6620860a51b54afec0c1eebe412f0f1ca00128100f5b23c13758605206a0bf2"),
    "prn_r.rain1400": ("Rain1400/PRN6_r", "c0f7f18f3d33e26f50af8c693494a03c2776c627140a1d8e0514edd53e9398fb"),
    "prenet.real1": ("real/PReNet1", "eba0c0ed941565abce9c61ceb8b36ff5e1532320c20efc11843f5f7fc810f7bb"),
    "prenet.real2": ("real/PReNet2", "cbf6068474e64bf81ea8597fe1473cda19e7d0afadb3c81beb41f8dcc3751269"),
}

# Published PSNR/SSIM of the official weights under `matlab-double` (csdwren/PReNet README).
# Rain12 is scored with the Rain100L weights.
_PUBLISHED = {
    "prenet.rain100h": {"rain100h": (29.46, 0.899)},
    "prenet_r.rain100h": {"rain100h": (28.98, 0.892)},
    "prn.rain100h": {"rain100h": (28.07, 0.884)},
    "prn_r.rain100h": {"rain100h": (27.43, 0.874)},
    "prenet.rain100l": {"rain100l": (37.48, 0.979), "rain12": (36.66, 0.961)},
    "prenet_r.rain100l": {"rain100l": (37.10, 0.977), "rain12": (36.69, 0.962)},
    "prn.rain100l": {"rain100l": (36.99, 0.977), "rain12": (36.62, 0.952)},
    "prn_r.rain100l": {"rain100l": (36.11, 0.973), "rain12": (36.16, 0.961)},
    "prenet.rain1400": {"rain1400": (32.60, 0.946)},
    "prenet_r.rain1400": {"rain1400": (32.44, 0.944)},
    "prn.rain1400": {"rain1400": (31.69, 0.941)},
    "prn_r.rain1400": {"rain1400": (31.31, 0.937)},
}


def weights_asset(name: str) -> Asset:
    folder, sha256 = _WEIGHTS[name]
    file = f"{folder}.pth" if folder.startswith("real/") else f"{folder}/net_latest.pth"
    return Asset(path=f"weights/prenet/{file}", url=f"{_REPO}/{file}", sha256=sha256, licence="none stated")


def spec(name: str) -> MethodSpec:
    arch_name, tag = name.split(".")
    arch = _ARCHS[arch_name]
    trained_on, training_set = TRAINING_SETS.get(tag, REAL_RAIN)
    return MethodSpec(
        name=name,
        summary=f"{arch.summary}; official {tag} weights",
        quantisation=Quantisation.TRUNCATE,
        weights=weights_asset(name),
        trained_on=trained_on,
        training_set=training_set,
        training_datasets=TRAINING_DATASETS.get(tag, ()),
        trained_on_source="csdwren/PReNet README (training data and logs/ folders)",
        citation=_CITATION,
        published=published_scores(_PUBLISHED.get(name, {}), "matlab-double"),
        published_source=_PUBLISHED_SOURCE if name in _PUBLISHED else "",
    )


def build(name: str) -> DerainMethod:
    """Registry entry point for every `prenet*`/`prn*` name."""
    arch = _ARCHS[name.split(".")[0]]
    return DerainMethod(spec(name), lambda: PReNet(stages=6, lstm=arch.lstm, recursive=arch.recursive))
