"""The BRN ports against the official weights of both releases (shangwei5/BRN, csdwren/RecDerain): every weights
file loads with `strict=True`, and an independent functional re-implementation of the official forward passes
(written here from the four generator classes of shangwei5/BRN and RecDerain's BRN, on the raw state-dict tensors,
one variant spelled out at a time) gives the same output on a real Rain100H crop."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bench.methods.checkpoints import read_state_dict
from bench.methods.registry import METHODS, build_method, family

pytestmark = pytest.mark.reference


def _conv(state, name, x):
    return F.conv2d(x, state[f"{name}.weight"], state[f"{name}.bias"], padding=1)


def _lstm(state, suffix, z, c):
    i = torch.sigmoid(_conv(state, f"conv_i{suffix}.0", z))
    f = torch.sigmoid(_conv(state, f"conv_f{suffix}.0", z))
    g = torch.tanh(_conv(state, f"conv_g{suffix}.0", z))
    o = torch.sigmoid(_conv(state, f"conv_o{suffix}.0", z))
    c = f * c + i * g
    return o * torch.tanh(c), c


def _resnet(state, suffix, x, blocks):
    for k in range(1, blocks + 1):
        y = torch.relu(_conv(state, f"res_conv{k}{suffix}.2", torch.relu(_conv(state, f"res_conv{k}{suffix}.0", x))))
        x = torch.relu(y + x)
    return x


# variant -> (does the rain LSTM read h, does the background LSTM read h_r), as the official classes concatenate
OFFICIAL_LINKS = {
    "brn": (True, True),  # Generator_prelstminter22 (and RecDerain's BRN)
    "brn_xr": (True, False),  # Generator_prelstminter33
    "brn_rx": (False, True),  # Generator_prelstminter11
    "crn": (False, False),  # Generator_prelstm
}


def official_forward(state, y, variant, stages):
    rain_reads_h, background_reads_hr = OFFICIAL_LINKS[variant]
    h = c = h_r = c_r = torch.zeros(1, 32, *y.shape[2:])
    x = r = y
    for _ in range(stages):
        r = torch.relu(_conv(state, "conv0_r.0", torch.cat((y, r), 1)))
        h_r, c_r = _lstm(state, "_r", torch.cat((r, h_r, h) if rain_reads_h else (r, h_r), 1), c_r)
        r = _conv(state, "conv_r.0", _resnet(state, "_r", h_r, 3))
        x = torch.relu(_conv(state, "conv0.0", torch.cat((y, x, r), 1)))
        h, c = _lstm(state, "", torch.cat((x, h, h_r) if background_reads_hr else (x, h), 1), c)
        x = _conv(state, "conv.0", _resnet(state, "", h, 5))
    return x


BRN_NAMES = [name for name in METHODS if family(name) == "brn" or name.startswith("brn_tip.")]
PARAMETERS = {"brn": 412_518, "brn_xr": 375_654, "brn_rx": 375_654, "crn": 338_790}  # ../shared/docs/baselines.md


@pytest.mark.parametrize("name", BRN_NAMES)
def test_port_matches_independent_forward_on_real_image(name, mirror, mirror_store):
    method = build_method(name)
    method.prepare(mirror_store, torch.device("cpu"))  # strict=True
    variant = name.split(".")[0].removesuffix("_tip")
    stages = 8 if name.startswith("brn_tip.") else 4  # RecDerain's test_BRN.py: --inter_iter 8; shangwei5/BRN: 4
    assert method.parameter_count() == PARAMETERS[variant]
    state, _ = read_state_dict(mirror_store.fetch(method.spec.weights))
    rainy = np.asarray(Image.open(mirror / "datasets/Rain100H/test/small/rain/norain-7.png").convert("RGB"))
    x = method.to_input(rainy[:96, :128])  # a crop keeps the test fast
    with torch.inference_mode():
        ours = method.forward(x)
        reference = official_forward(state, x, variant, stages)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    # the official saving step, np.uint8(255 * clamp(out)), gives the same pixels
    official_uint8 = np.uint8(255 * np.clip(reference[0].numpy(), 0, 1)).transpose(1, 2, 0)
    assert np.mean(method.to_output(ours) == official_uint8) > 0.999


def test_the_rain_branch_is_unfolded_with_three_of_its_five_blocks(mirror_store):
    """The official forward never applies res_conv4_r/res_conv5_r: changing them changes nothing."""
    method = build_method("brn.rain100h")
    method.prepare(mirror_store, torch.device("cpu"))
    x = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        before = method.forward(x)
        for name, parameter in method.net.named_parameters():
            if name.startswith(("res_conv4_r", "res_conv5_r")):
                parameter.add_(1.0)
        assert torch.equal(method.forward(x), before)
        method.net.res_conv3_r[0].bias.add_(1.0)
        assert not torch.equal(method.forward(x), before)


def test_srn_is_prenets_network_key_for_key(mirror_store):
    """RecDerain's SRN class is PReNet6 (same layers, same forward): its weights load into PReNet's port, whose
    forward is checked against the official one in test_prenet_weights.py."""
    srn, prenet = build_method("srn_tip.real"), build_method("prenet.rain100h")
    srn.prepare(mirror_store, torch.device("cpu"))
    prenet.prepare(mirror_store, torch.device("cpu"))
    shapes = {key: tensor.shape for key, tensor in prenet.net.state_dict().items()}
    assert {key: tensor.shape for key, tensor in srn.net.state_dict().items()} == shapes
