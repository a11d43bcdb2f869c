"""BRN and its ablations BRN-XR, BRN-RX and CRN (Shang, Zhu, Ren, Shi, "Bilateral Recurrent Network for Single
Image Deraining", ICASSP 2020), written from the paper and checked against the official release shangwei5/BRN.

Two recurrent ResNets are unfolded over T stages (T = 4), each carrying its own Conv-LSTM state: a rain-streak
branch (weights suffixed `_r`) and a background branch. In every stage the rain branch runs first:

    rain:        conv0_r([y, r_{t-1}]) -> LSTM_r([., h_r, (h)])   -> 3 residual blocks -> conv_r -> r_t
    background:  conv0([y, x_{t-1}, r_t]) -> LSTM([., h, (h_r)]) -> 5 residual blocks -> conv   -> x_t

with x_0 = r_0 = y and zero LSTM states; the output is x_T. The background branch predicts the clean image
itself (no skip from y). The bracketed hidden states are the bilateral links: BRN has both, BRN-RX only the
rain-to-background one (h_r into LSTM), BRN-XR only background-to-rain (h into LSTM_r), CRN neither (the
background branch still reads r_t). The rain branch registers five residual blocks but the official forward
pass applies three; the last two are in every checkpoint and loaded, never used.
"""

from dataclasses import dataclass

import torch
from torch import nn

from baselines.prenet import (
    FEATURES,
    RESIDUAL_BLOCKS,
    TRAINING_DATASETS,
    TRAINING_SETS,
    conv_layer,
    residual_block,
)
from bench.common.assets import Asset
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation, published_scores

RAIN_BRANCH_BLOCKS_APPLIED = 3
_GATES = (("i", nn.Sigmoid), ("f", nn.Sigmoid), ("g", nn.Tanh), ("o", nn.Sigmoid))


class BilateralRecurrentNet(nn.Module):
    """BRN (both links), BRN-RX (`rain_to_background` only), BRN-XR (`background_to_rain` only), CRN (neither)."""

    def __init__(self, stages: int = 4, rain_to_background: bool = True, background_to_rain: bool = True):
        super().__init__()
        self.stages = stages
        self.rain_to_background = rain_to_background
        self.background_to_rain = background_to_rain
        self._add_branch("", image_inputs=9, lstm_inputs=3 if rain_to_background else 2)
        self._add_branch("_r", image_inputs=6, lstm_inputs=3 if background_to_rain else 2)

    def _add_branch(self, suffix: str, image_inputs: int, lstm_inputs: int) -> None:
        self.add_module(f"conv0{suffix}", conv_layer(image_inputs, FEATURES, nn.ReLU()))
        for k in range(1, RESIDUAL_BLOCKS + 1):
            self.add_module(f"res_conv{k}{suffix}", residual_block())
        for gate, activation in _GATES:
            self.add_module(f"conv_{gate}{suffix}", conv_layer(lstm_inputs * FEATURES, FEATURES, activation()))
        self.add_module(f"conv{suffix}", conv_layer(FEATURES, 3, None))

    def _lstm(self, suffix: str, features: torch.Tensor, state: tuple, other_hidden: torch.Tensor | None) -> tuple:
        """One branch's Conv-LSTM step on its features (and the other branch's hidden state, a bilateral link):
        its new (hidden, cell)."""
        hidden, cell = state
        lstm_in = torch.cat((features, hidden) if other_hidden is None else (features, hidden, other_hidden), dim=1)
        i, f, g, o = (self.get_submodule(f"conv_{gate}{suffix}")(lstm_in) for gate, _ in _GATES)
        cell = f * cell + i * g
        return o * torch.tanh(cell), cell

    def _stage(self, suffix: str, image: torch.Tensor, state: tuple, other_hidden: torch.Tensor | None, blocks: int):
        """One stage of one branch: (its 3-channel output, its new (hidden, cell))."""
        hidden, cell = self._lstm(suffix, self.get_submodule(f"conv0{suffix}")(image), state, other_hidden)
        x = hidden
        for k in range(1, blocks + 1):
            x = torch.relu(self.get_submodule(f"res_conv{k}{suffix}")(x) + x)
        return self.get_submodule(f"conv{suffix}")(x), (hidden, cell)

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = rainy.shape
        zeros = rainy.new_zeros(batch, FEATURES, height, width)
        background_state = rain_state = (zeros, zeros)
        x = rain = rainy
        for _ in range(self.stages):
            link = background_state[0] if self.background_to_rain else None
            rain, rain_state = self._stage(
                "_r", torch.cat((rainy, rain), 1), rain_state, link, RAIN_BRANCH_BLOCKS_APPLIED
            )
            link = rain_state[0] if self.rain_to_background else None
            x, background_state = self._stage(
                "", torch.cat((rainy, x, rain), 1), background_state, link, RESIDUAL_BLOCKS
            )
        return x


# ---- official weights -------------------------------------------------------------------------------

_REPO = "https://raw.githubusercontent.com/shangwei5/BRN/bf67b831cc0a613c51d32c702cf8cdf45ee8685b/logs"
_CITATION = "Shang, Zhu, Ren, Shi, Bilateral Recurrent Network for Single Image Deraining, ICASSP 2020"
_PUBLISHED_SOURCE = "shangwei5/BRN README (scored with its statistics/*.m, PReNet's MATLAB scripts)"


@dataclass(frozen=True)
class _Arch:
    folder: str  # folder name of the official release
    rain_to_background: bool
    background_to_rain: bool
    summary: str


_ARCHS = {
    "brn": _Arch("BRN", True, True, "BRN, 4 stages: rain and background recurrent ResNets, bilateral LSTMs"),
    "brn_xr": _Arch("BRN-XR", False, True, "BRN-XR: BRN whose rain LSTM alone reads the other branch's state"),
    "brn_rx": _Arch("BRN-RX", True, False, "BRN-RX: BRN whose background LSTM alone reads the other's state"),
    "crn": _Arch("CRN", False, False, "CRN: BRN's two recurrent ResNets without the bilateral LSTM links"),
}

_TAG_FOLDERS = {"rain100h": "R100H", "rain100l": "R100L"}

# name -> sha256 of its file in the release
_WEIGHTS = {
    "brn.rain100h": "1101130423a75b93babed1f97e0e26cdd108e7edad0930e26dbe0fc9bb704565",
    "brn.rain100l": "9046833601a5095ff994f216679de06545ce240d40487473d6432c375a5ea802",
    "brn_xr.rain100h": "12e5671b33aa4d7770f0289559f53332b99471057d84d86089b8a0fa67ac0a56",
    "brn_xr.rain100l": "5bd0d9c7ad1449b48270c76bda78c4a3a63a8a96a27ca7e35216c760861ce269",
    "brn_rx.rain100h": "452ce4789ab904ab68f95b5377b808764c9b5c5ffe98e0ad480fb53bc64f041f",
    "brn_rx.rain100l": "df846c808c017e38362cd7fe0b00e7ee0af59465e1273bb0edb6f37227c40453",
    "crn.rain100h": "ee4866fd5a9548783dc8791085841ba35c070059fbd668c4b2bd347e99af7e06",
    "crn.rain100l": "a5f27a107c7d413b5d094adc49cdb6142b359d4b97cf18c0545a8134d11e7419",
    "brn.real": "a5784b6a4a19704d22648072987c9e2b87b2bdf9ab51d91c1490bea7af40d016",
}

# Published PSNR/SSIM under `matlab-double` (shangwei5/BRN README); Rain12 is scored with the Rain100L weights.
_PUBLISHED = {
    "brn.rain100h": {"rain100h": (29.58, 0.902)},
    "brn_xr.rain100h": {"rain100h": (29.50, 0.901)},
    "brn_rx.rain100h": {"rain100h": (29.16, 0.898)},
    "crn.rain100h": {"rain100h": (29.10, 0.897)},
    "brn.rain100l": {"rain100l": (37.82, 0.981), "rain12": (36.70, 0.959)},
    "brn_xr.rain100l": {"rain100l": (37.65, 0.980), "rain12": (36.63, 0.959)},
    "brn_rx.rain100l": {"rain100l": (37.40, 0.979), "rain12": (36.54, 0.959)},
    "crn.rain100l": {"rain100l": (37.52, 0.980), "rain12": (36.58, 0.959)},
}

_REAL_RAIN = ("real rainy images (the release names no training set; no ground truth: score with NIQE)", "real rain")


def weights_asset(name: str) -> Asset:
    arch_name, tag = name.split(".")
    file = "real/net_latest.pth" if tag == "real" else f"{_ARCHS[arch_name].folder}/{_TAG_FOLDERS[tag]}/net_latest.pth"
    return Asset(path=f"weights/brn_icassp/{file}", url=f"{_REPO}/{file}", sha256=_WEIGHTS[name], licence="none stated")


def spec(name: str) -> MethodSpec:
    arch_name, tag = name.split(".")
    trained_on, training_set = TRAINING_SETS.get(tag, _REAL_RAIN)
    return MethodSpec(
        name=name,
        summary=f"{_ARCHS[arch_name].summary}; official {tag} weights",
        quantisation=Quantisation.TRUNCATE,  # the official test script saves np.uint8(255 * clamp(out, 0, 1))
        weights=weights_asset(name),
        trained_on=trained_on,
        training_set=training_set,
        training_datasets=TRAINING_DATASETS.get(tag, ()),
        trained_on_source="shangwei5/BRN README and logs/readme.txt (the PReNet training sets)",
        citation=_CITATION,
        published=published_scores(_PUBLISHED.get(name, {}), "matlab-double"),
        published_source=_PUBLISHED_SOURCE if name in _PUBLISHED else "",
    )


def network(name: str, stages: int = 4) -> BilateralRecurrentNet:
    arch = _ARCHS[name.split(".")[0]]
    return BilateralRecurrentNet(stages, arch.rain_to_background, arch.background_to_rain)


def build(name: str) -> DerainMethod:
    """Registry entry point for every `brn*`/`crn*` name of the ICASSP release."""
    return DerainMethod(spec(name), lambda: network(name))
