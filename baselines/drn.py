"""DRN, the dual recursive network (Cai, Li, Ren, Wang, "Dual Recursive Network for Fast Image Deraining",
ICIP 2019, PReNet's authors), written from the official release csdwren/DRN @ 9f2bf50 (network.py,
test_Rain100*.py).

PReNet's recurrence without its LSTM, at 16 features, with one pair of residual blocks applied recursively: each of
7 stages takes the rainy image y and the previous estimate (x_0 = y), conv0 on concat(y, x) -> 7 times (residual
block 1, residual block 2), always the same two -> conv to 3 channels -> x_t = that + y. 44.6 kB of weights.

The README publishes no numbers; its rows here are first measured. Outputs are saved as
np.uint8(255 * clamp(out, 0, 1)) by test_Rain100H.py / test_Rain100L.py (truncation), scored with PReNet's scripts
(statistics/*.m in the release).
"""

import torch
from torch import nn

from baselines.prenet import TRAINING_DATASETS, TRAINING_SETS, conv_layer, residual_block
from bench.common.assets import Asset
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation

FEATURES = 16
STAGES = 7  # inter_iter of the release's test scripts
RECURSIONS = 7  # intra_iter: how often the pair of residual blocks is applied in a stage


class DualRecursiveNet(nn.Module):
    def __init__(self, stages: int = STAGES, recursions: int = RECURSIONS):
        super().__init__()
        self.stages, self.recursions = stages, recursions
        self.conv0 = conv_layer(6, FEATURES, nn.ReLU())
        self.res_conv1 = residual_block(FEATURES)
        self.res_conv2 = residual_block(FEATURES)
        self.conv = conv_layer(FEATURES, 3, None)

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        x = rainy
        for _ in range(self.stages):
            x = self.conv0(torch.cat((rainy, x), dim=1))
            for _ in range(self.recursions):
                x = torch.relu(self.res_conv1(x) + x)
                x = torch.relu(self.res_conv2(x) + x)
            x = self.conv(x) + rainy
        return x


# ---- official weights -------------------------------------------------------------------------------

_REPO = "https://raw.githubusercontent.com/csdwren/DRN/9f2bf507891f5c45127e514085b59545390c153c/logs"
_CITATION = "Cai, Li, Ren, Wang, Dual Recursive Network for Fast Image Deraining, ICIP 2019"

_WEIGHTS = {
    "drn.rain100h": ("Rain100H", "23dd9371378e688656161a918e54f464adfc14a426d7057f48b61d5ad20d559a"),
    "drn.rain100l": ("Rain100L", "aca158a1729dd5d454fe4f6e94b7bb5e82b36240c34f72e558aefd3f1696e6cb"),
}


def weights_asset(name: str) -> Asset:
    folder, sha256 = _WEIGHTS[name]
    file = f"{folder}_inter{STAGES}_intra{RECURSIONS}/pretrained/net_latest.pth"
    return Asset(path=f"weights/drn/{folder}_inter{STAGES}_intra{RECURSIONS}/net_latest.pth", url=f"{_REPO}/{file}",
                 sha256=sha256)  # fmt: skip


def spec(name: str) -> MethodSpec:
    tag = name.split(".")[1]
    trained_on, training_set = TRAINING_SETS[tag]
    return MethodSpec(
        name=name,
        summary=f"DRN, {STAGES} stages of a recursive pair of 16-feature residual blocks; official {tag} weights",
        quantisation=Quantisation.TRUNCATE,  # test_Rain100*.py: np.uint8(255 * clamp(out, 0, 1))
        weights=weights_asset(name),
        trained_on=trained_on,
        training_set=training_set,
        training_datasets=TRAINING_DATASETS.get(tag, ()),
        trained_on_source="csdwren/DRN README (RainTrainH without the 546 overlapping pairs, RainTrainL)",
        citation=_CITATION,
    )


def build(name: str) -> DerainMethod:
    """Registry entry point for `drn.rain100h` and `drn.rain100l`."""
    return DerainMethod(spec(name), DualRecursiveNet)
