"""The AIDNet port against the official weights (cuiyixin555/AIDNet @ de1a7f0): both files load with `strict=True`,
and an independent functional re-implementation of the release's forward pass (written here from
networks/generator_aid135.py and networks/aid.py, on the raw state-dict tensors) gives the same output on a real
crop. The attention module is the one each file holds: a CBAM (channel gate 32 -> 2 -> 32, spatial gate with
BatchNorm) in the Rain100H file, a squeeze-and-excitation block (32 -> 16 -> 32) in the Rain100L file."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bench.methods.checkpoints import read_state_dict
from bench.methods.registry import build_method

pytestmark = pytest.mark.reference

NAMES = ("aidnet.rain100h", "aidnet.rain100l")


def _conv(state, name, x, padding=1):
    return F.conv2d(x, state[f"{name}.weight"], state.get(f"{name}.bias"), padding=padding)


def _lstm(state, suffix, z, c):
    i = torch.sigmoid(_conv(state, f"conv_i{suffix}.0", z))
    f = torch.sigmoid(_conv(state, f"conv_f{suffix}.0", z))
    g = torch.tanh(_conv(state, f"conv_g{suffix}.0", z))
    o = torch.sigmoid(_conv(state, f"conv_o{suffix}.0", z))
    c = f * c + i * g
    return o * torch.tanh(c), c


def _block(state, name, x):
    """relu(res(x) + x), res = conv, ReLU, conv, ReLU (the release's res_conv blocks)"""
    return torch.relu(torch.relu(_conv(state, f"{name}.2", torch.relu(_conv(state, f"{name}.0", x)))) + x)


def _cbam(state, x):
    def mlp(v):
        hidden = F.relu(
            F.linear(v, state["cbam_module.ChannelGate.mlp.1.weight"], state["cbam_module.ChannelGate.mlp.1.bias"])
        )
        return F.linear(
            hidden, state["cbam_module.ChannelGate.mlp.3.weight"], state["cbam_module.ChannelGate.mlp.3.bias"]
        )

    pooled_avg = F.avg_pool2d(x, x.shape[2:]).flatten(1)
    pooled_max = F.max_pool2d(x, x.shape[2:]).flatten(1)
    x = x * torch.sigmoid(mlp(pooled_avg) + mlp(pooled_max))[:, :, None, None]
    compressed = torch.cat((torch.max(x, 1)[0][:, None], torch.mean(x, 1)[:, None]), 1)
    spatial = "cbam_module.SpatialGate.spatial"
    y = F.conv2d(compressed, state[f"{spatial}.conv.weight"], padding=3)
    y = F.batch_norm(
        y, state[f"{spatial}.bn.running_mean"], state[f"{spatial}.bn.running_var"], state[f"{spatial}.bn.weight"],
        state[f"{spatial}.bn.bias"], training=False, eps=1e-5,
    )  # fmt: skip
    return x * torch.sigmoid(y)


def _se(state, x):
    y = F.relu(F.linear(x.mean(dim=(2, 3)), state["seblock.fc.0.weight"], state["seblock.fc.0.bias"]))
    y = torch.sigmoid(F.linear(y, state["seblock.fc.2.weight"], state["seblock.fc.2.bias"]))
    return x * y[:, :, None, None]


def official_forward(state, y, stages=8):
    attend = _cbam if "cbam_module.SpatialGate.spatial.conv.weight" in state else _se
    h = c = h_r = c_r = torch.zeros(1, 32, *y.shape[2:])
    x = r = y
    for _ in range(stages):
        r = torch.relu(_conv(state, "conv0_r.0", torch.cat((y, r), 1)))
        h_r, c_r = _lstm(state, "_r", torch.cat((r, h_r, h), 1), c_r)
        r1 = _block(state, "res_conv1_r", h_r)
        r2 = _block(state, "res_conv2_r", r1)
        r3 = _block(state, "res_conv3_r", r2)
        a1, a2, a3 = attend(state, r1), attend(state, r2), attend(state, r3)
        r = _conv(state, "conv_r.0", r3)
        x = torch.relu(_conv(state, "conv0.0", torch.cat((y, x, r), 1)))
        h, c = _lstm(state, "", torch.cat((x, h, h_r), 1), c)
        x = _block(state, "res_conv1", h)
        x = a1 * x + x
        x = _block(state, "res_conv3", _block(state, "res_conv2", x))
        x = a2 * x + x
        x = _block(state, "res_conv5", _block(state, "res_conv4", x))
        x = a3 * x + x
        x = _conv(state, "conv.0", x)
    return x


@pytest.mark.parametrize("name", NAMES)
def test_port_matches_independent_forward_on_real_image(name, mirror, mirror_store):
    method = build_method(name)
    method.prepare(mirror_store, torch.device("cpu"))  # strict=True
    state, _ = read_state_dict(mirror_store.fetch(method.spec.weights))
    rainy = np.asarray(Image.open(mirror / "datasets/Rain100L/rainy/rain-001.png").convert("RGB"))
    x = method.to_input(rainy[:64, :96])  # a crop keeps the test fast
    with torch.inference_mode():
        ours = method.forward(x)
        reference = official_forward(state, x)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    official_uint8 = np.uint8(255 * np.clip(reference[0].numpy(), 0, 1)).transpose(1, 2, 0)  # test_AID.py
    assert np.mean(method.to_output(ours) == official_uint8) > 0.999


def test_each_file_holds_its_own_attention_module(mirror_store):
    """What the release's code does not say: the Rain100H file's CBAM reduces 32 channels to 2, the Rain100L file
    has no CBAM but an SE block; neither is networks/aid.py's AID(32), whose channel gate reduces to 16."""
    keys = {}
    for name in NAMES:
        state, _ = read_state_dict(mirror_store.fetch(build_method(name).spec.weights))
        keys[name] = {k: tuple(v.shape) for k, v in state.items() if k.startswith(("cbam_module", "seblock"))}
    assert keys["aidnet.rain100h"]["cbam_module.ChannelGate.mlp.1.weight"] == (2, 32)
    assert set(keys["aidnet.rain100l"]) == {
        "seblock.fc.0.weight",
        "seblock.fc.0.bias",
        "seblock.fc.2.weight",
        "seblock.fc.2.bias",
    }
    assert keys["aidnet.rain100l"]["seblock.fc.0.weight"] == (16, 32)
