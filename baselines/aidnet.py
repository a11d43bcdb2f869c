"""AIDNet (Cui et al., "Attentive Image Deraining Network with Better Generalization"), from its official release
cuiyixin555/AIDNet @ de1a7f0, `logs/<set>/AID_location135/net_latest.pth`.

AIDNet is BRN (baselines.brn: two recurrent ResNets, a rain branch and a background branch, each with its own
Conv-LSTM and both bilateral links) unfolded over 8 stages, with attention carried from the rain branch to the
background branch at "locations 1, 3, 5": after each of the rain branch's three applied residual blocks k, an
attention module turns its features r_k into a_k, and the background branch's features after its residual blocks
1, 3 and 5 become x <- a_k * x + x. One attention module (one set of weights) serves all three places.

What the release ships does not run as published: `networks/generator_aid135.py` builds `self.aid_module =
AID(32)` (networks/aid.py, a CBAM whose channel gate reduces 32 -> 16) but calls `self.cbam_module`, which it
never builds. The two weights files say what was trained:
- Rain100H: `cbam_module`, a CBAM (channel gate 32 -> 2 -> 32 on average- and max-pooled features, summed, then a
  sigmoid; spatial gate: channel max and mean -> 7x7 conv without bias -> BatchNorm -> sigmoid), the module
  networks/aid.py defines, at CBAM's own default reduction of 16 instead of the release's 2. Its forward pass is
  the released one, which names it.
- Rain100L: no CBAM but `seblock`, a squeeze-and-excitation block (average pool -> 32 -> 16 -> ReLU -> 32 ->
  sigmoid, times the features) that no released code defines. It is taken here to sit where the CBAM sits; that
  it does is a hypothesis the published Rain100L number tests (docs/reproduction.md says how it came out).

Outputs are saved as np.uint8(255 * clamp(out, 0, 1)) by test_AID.py (truncation), scored with PReNet's
statistic/*.m (the README's table).
"""

from dataclasses import dataclass

import torch
from torch import nn

from baselines.brn import RAIN_BRANCH_BLOCKS_APPLIED, BilateralRecurrentNet
from baselines.prenet import FEATURES, TRAINING_DATASETS, TRAINING_SETS
from bench.common.assets import Asset
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation, published_scores

STAGES = 8  # inter_iter of train_location_135_*.py and test_AID.py
ATTENTION_AFTER = (1, 3, 5)  # background residual blocks followed by x <- a_k * x + x ("location 135")


class ChannelGate(nn.Module):
    """CBAM's channel attention: one MLP on the average- and the max-pooled features, summed, sigmoid, times x."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = channels // reduction
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(logits)[:, :, None, None]


class _SpatialConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)


class SpatialGate(nn.Module):
    """CBAM's spatial attention: channel max and mean -> 7x7 conv -> BatchNorm -> sigmoid, times x."""

    def __init__(self):
        super().__init__()
        self.spatial = _SpatialConv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat((x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)), dim=1)
        return x * torch.sigmoid(self.spatial.bn(self.spatial.conv(pooled)))


class CBAM(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.ChannelGate = ChannelGate(channels, reduction)  # the weights files' names
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class SqueezeExcitation(nn.Module):
    """Average pool -> Linear -> ReLU -> Linear -> sigmoid, times x."""

    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        hidden = channels // reduction
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


class AIDNet(BilateralRecurrentNet):
    """BRN with rain-to-background attention; `attention` is "cbam" (Rain100H release) or "se" (Rain100L)."""

    def __init__(self, attention: str, stages: int = STAGES):
        super().__init__(stages, rain_to_background=True, background_to_rain=True)
        self.attention_name = "cbam_module" if attention == "cbam" else "seblock"
        self.add_module(self.attention_name, CBAM(FEATURES) if attention == "cbam" else SqueezeExcitation(FEATURES))

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = rainy.shape
        zeros = rainy.new_zeros(batch, FEATURES, height, width)
        background_state = rain_state = (zeros, zeros)
        attend = self.get_submodule(self.attention_name)
        x = rain = rainy
        for _ in range(self.stages):
            features = self.conv0_r(torch.cat((rainy, rain), 1))
            rain_state = self._lstm("_r", features, rain_state, background_state[0])
            r, maps = rain_state[0], []
            for k in range(1, RAIN_BRANCH_BLOCKS_APPLIED + 1):
                r = torch.relu(self.get_submodule(f"res_conv{k}_r")(r) + r)
                maps.append(attend(r))
            rain = self.conv_r(r)

            features = self.conv0(torch.cat((rainy, x, rain), 1))
            background_state = self._lstm("", features, background_state, rain_state[0])
            x = background_state[0]
            for k in range(1, 6):
                x = torch.relu(self.get_submodule(f"res_conv{k}")(x) + x)
                if k in ATTENTION_AFTER:
                    x = maps[ATTENTION_AFTER.index(k)] * x + x
            x = self.conv(x)
        return x


# ---- official weights -------------------------------------------------------------------------------

_REPO = "https://raw.githubusercontent.com/cuiyixin555/AIDNet/de1a7f0877310e6fcb4a6aa6481926cdc99adf3f/logs"
_CITATION = "Cui et al., Attentive Image Deraining Network with Better Generalization (cuiyixin555/AIDNet)"
_PUBLISHED_SOURCE = "cuiyixin555/AIDNet README table (computed with its statistic/*.m, PReNet's MATLAB scripts)"


@dataclass(frozen=True)
class _Weights:
    folder: str
    attention: str
    sha256: str


_WEIGHTS = {
    "aidnet.rain100h": _Weights("Rain100H", "cbam", "dbfab35c87c43bc4cd515563abbc72668fd53a04f9f9c8582ce5c3bce0f077d1"),
    "aidnet.rain100l": _Weights("Rain100L", "se", "27c70dc92934fce4769938347259e77449403146600b9b3d4f33d3fffb1e56fd"),
}

# The README's table (Rain12 with the Rain100L weights, as PReNet's authors score it)
_PUBLISHED = {
    "aidnet.rain100h": {"rain100h": (31.21, 0.921)},
    "aidnet.rain100l": {"rain100l": (40.41, 0.988), "rain12": (37.08, 0.973)},
}


def weights_asset(name: str) -> Asset:
    file = f"{_WEIGHTS[name].folder}/AID_location135/net_latest.pth"
    return Asset(path=f"weights/aidnet/{file}", url=f"{_REPO}/{file}", sha256=_WEIGHTS[name].sha256)


def spec(name: str) -> MethodSpec:
    tag = name.split(".")[1]
    trained_on, training_set = TRAINING_SETS[tag]
    attention = {"cbam": "CBAM attention", "se": "squeeze-and-excitation attention"}[_WEIGHTS[name].attention]
    return MethodSpec(
        name=name,
        summary=f"AIDNet, 8 stages: BRN with {attention} from its rain branch at blocks 1, 3, 5; {tag} weights",
        quantisation=Quantisation.TRUNCATE,  # test_AID.py saves np.uint8(255 * clamp(out, 0, 1))
        weights=weights_asset(name),
        trained_on=trained_on,
        training_set=training_set,
        training_datasets=TRAINING_DATASETS.get(tag, ()),
        trained_on_source="cuiyixin555/AIDNet README and train_location_135_*.py (RainTrainH / RainTrainL)",
        citation=_CITATION,
        published=published_scores(_PUBLISHED.get(name, {}), "matlab-double"),
        published_source=_PUBLISHED_SOURCE,
    )


def build(name: str) -> DerainMethod:
    """Registry entry point for `aidnet.rain100h` and `aidnet.rain100l`."""
    return DerainMethod(spec(name), lambda: AIDNet(_WEIGHTS[name].attention))
