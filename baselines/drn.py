"""DRN, the dual recursive network (Cai, Li, Ren, Wang, "Dual Recursive Network for Fast Image Deraining",
ICIP 2019), written from the paper's description (its abstract and introduction; the body was not reachable) and
the official release csdwren/DRN @ 9f2bf50 (network.py, test_Rain100H.py, test_Rain100L.py, test_Rain12.py).

PReNet's progressive recursion without the Conv-LSTM, with a network small enough to be fast (10,595 parameters,
16 features). One stage t = 1..T (T = 7, the "inter" recursion) takes the rainy image y and x_{t-1} (x_0 = y):

    f = relu(conv0([y, x_{t-1}]));  repeat S = 7 times ("intra"): f = B2(B1(f));  x_t = conv(f) + y

where B_k(f) = relu(R_k(f) + f) and R_k is conv-relu-conv-relu. The two residual blocks B1, B2 are shared by
all S intra and all T inter recursions (the "dual" recursion); the output is x_T. Surprising in the official
code: R_k ends with its own ReLU before the skip (as PReNet's blocks do), the stages pass their unclamped
estimate on, and Rain12 is scored with the Rain100L weights (test_Rain12.py). The test scripts read `rainy/*.png`
while the MATLAB statistics read `norain-%03d.png` / `rain-%03d.png` next to each other: two layouts, one set.
"""

import torch
from torch import nn

from baselines.prenet import TRAINING_SETS, conv_layer
from bench.common.assets import Asset
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation

FEATURES = 16
INTER_RECURSIONS = 7  # stages (the release's folder suffix `inter7`)
INTRA_RECURSIONS = 7  # passes of the two shared blocks per stage (`intra7`)


def residual_block() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(FEATURES, FEATURES, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(FEATURES, FEATURES, 3, padding=1),
        nn.ReLU(),
    )


class DualRecursiveNet(nn.Module):
    """DRN: two residual blocks applied `intra` times per stage, the stage unfolded `inter` times."""

    def __init__(self, inter: int = INTER_RECURSIONS, intra: int = INTRA_RECURSIONS):
        super().__init__()
        self.inter = inter
        self.intra = intra
        self.conv0 = conv_layer(6, FEATURES, nn.ReLU())  # Sequential: the official keys (`conv0.0.weight`...)
        self.res_conv1 = residual_block()
        self.res_conv2 = residual_block()
        self.conv = conv_layer(FEATURES, 3, None)

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        x = rainy
        for _ in range(self.inter):
            features = self.conv0(torch.cat((rainy, x), dim=1))
            for _ in range(self.intra):
                features = torch.relu(self.res_conv1(features) + features)
                features = torch.relu(self.res_conv2(features) + features)
            x = self.conv(features) + rainy
        return x


# ---- official weights -------------------------------------------------------------------------------

_REPO = "https://raw.githubusercontent.com/csdwren/DRN/9f2bf507891f5c45127e514085b59545390c153c/logs"
_CITATION = "Cai, Li, Ren, Wang, Dual Recursive Network for Fast Image Deraining, ICIP 2019"
_FOLDERS = {"rain100h": "Rain100H_inter7_intra7", "rain100l": "Rain100L_inter7_intra7"}

# name -> sha256 of its file in the release
_WEIGHTS = {
    "drn.rain100h": "23dd9371378e688656161a918e54f464adfc14a426d7057f48b61d5ad20d559a",
    "drn.rain100l": "aca158a1729dd5d454fe4f6e94b7bb5e82b36240c34f72e558aefd3f1696e6cb",
}


def weights_asset(name: str) -> Asset:
    folder = _FOLDERS[name.split(".")[1]]
    return Asset(
        path=f"weights/drn/{folder}/net_latest.pth",
        url=f"{_REPO}/{folder}/pretrained/net_latest.pth",
        sha256=_WEIGHTS[name],
        licence="none stated",
    )


def spec(name: str) -> MethodSpec:
    tag = name.split(".")[1]
    trained_on, training_set = TRAINING_SETS[tag]
    return MethodSpec(
        name=name,
        summary=f"DRN, 7 stages of 2 shared residual blocks applied 7 times, 16 features; official {tag} weights",
        quantisation=Quantisation.TRUNCATE,  # the official test scripts save np.uint8(255 * clamp(out, 0, 1))
        weights=weights_asset(name),
        trained_on=trained_on,
        training_set=training_set,
        trained_on_source="csdwren/DRN README and train_Rain100H.py / train_Rain100L.py (the PReNet training sets)",
        citation=_CITATION,
        # nothing published for these weights: the README has no numbers (its statistics/*.m are PReNet's)
    )


def build(name: str) -> DerainMethod:
    """Registry entry point for `drn.rain100h` and `drn.rain100l`."""
    return DerainMethod(spec(name), DualRecursiveNet)
