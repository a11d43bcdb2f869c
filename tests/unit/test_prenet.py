"""PReNet family: architecture facts from the paper and the official release (no weights needed)."""

import re

import pytest
import torch

from baselines.prenet import PReNet
from bench.methods.contract import Quantisation
from bench.methods.registry import build_method

# parameter counts and tensor counts of the official checkpoints (counted in csdwren/PReNet's logs/*/net_latest.pth)
ARCHS = {
    "prenet": (dict(lstm=True, recursive=False), 168_963, 32),
    "prenet_r": (dict(lstm=True, recursive=True), 94_979, 16),
    "prn": (dict(lstm=False, recursive=False), 95_107, 24),
    "prn_r": (dict(lstm=False, recursive=True), 21_123, 8),
}
OFFICIAL_KEY = re.compile(r"^(conv0\.0|res_conv[1-5]\.[02]|conv_[ifgo]\.0|conv\.0)\.(weight|bias)$")


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_counts_and_state_dict_keys_match_the_release(arch):
    kwargs, params, tensors = ARCHS[arch]
    state = PReNet(**kwargs).state_dict()
    assert sum(t.numel() for t in state.values()) == params
    assert len(state) == tensors
    assert all(OFFICIAL_KEY.match(k) for k in state)


def test_output_keeps_the_input_size_for_odd_sizes():
    net = PReNet().eval()
    with torch.inference_mode():
        assert net(torch.rand(1, 3, 13, 22)).shape == (1, 3, 13, 22)


def test_specs_declare_weights_quantisation_and_published_numbers():
    method = build_method("prenet.rain100h")
    spec = method.spec
    assert spec.quantisation is Quantisation.TRUNCATE
    assert spec.weights.url.endswith("/logs/Rain100H/PReNet6/net_latest.pth")
    assert spec.weights.path == "weights/prenet/Rain100H/PReNet6/net_latest.pth"
    assert spec.published["rain100h"] == {"psnr@matlab-double": 29.46, "ssim@matlab-double": 0.899}
    assert build_method("prenet.rain100l").spec.published["rain12"]["psnr@matlab-double"] == 36.66
    assert build_method("prenet.real2").spec.weights.path == "weights/prenet/real/PReNet2.pth"
