"""The RESCAN and SPANet ports against their weights (the BRN authors' re-trainings and SPANet's own release):
strict loading, and independent re-implementations of the official forward passes, written here on the raw
state-dict tensors, give the same output on a real Rain100H crop.

The independent SPANet follows the official CUDA kernel literally: every output position runs its own scan from
the image edge (quadratic, fine on a small crop), where the port runs one sweep per row or column.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bench.methods.checkpoints import read_state_dict
from bench.methods.registry import build_method

pytestmark = pytest.mark.reference


def _conv(state, name, x, padding=1, dilation=1, bias=True):
    return F.conv2d(
        x, state[f"{name}.weight"], state.get(f"{name}.bias") if bias else None, padding=padding, dilation=dilation
    )


# ---- RESCAN (XiaLiPKU/RESCAN config/model.py with settings.py's defaults) ----------------------------------------


def _se(state, name, x):
    pooled = x.mean(dim=(2, 3))
    hidden = torch.relu(F.linear(pooled, state[f"{name}.fc.0.weight"], state[f"{name}.fc.0.bias"]))
    return (
        x * torch.sigmoid(F.linear(hidden, state[f"{name}.fc.2.weight"], state[f"{name}.fc.2.bias"]))[..., None, None]
    )


def _gru(state, k, x, h, dilation):
    unit = f"rnns.{k}"
    xz = _conv(state, f"{unit}.conv_xz", x, dilation, dilation)
    xn = _conv(state, f"{unit}.conv_xn", x, dilation, dilation)
    if h is None:
        h = torch.sigmoid(xz) * torch.tanh(xn)
    else:
        xr = _conv(state, f"{unit}.conv_xr", x, dilation, dilation)
        z = torch.sigmoid(xz + _conv(state, f"{unit}.conv_hz", h))
        r = torch.sigmoid(xr + _conv(state, f"{unit}.conv_hr", h))
        n = torch.tanh(xn + _conv(state, f"{unit}.conv_hn", r * h))
        h = (1 - z) * h + z * n
    return F.leaky_relu(_se(state, f"{unit}.se", h), 0.2)


def official_rescan(state, bgr):
    dilations = [1] + [2**i for i in range(7 - 3)]
    states = [None] * len(dilations)
    x = bgr
    for _ in range(4):
        for k, dilation in enumerate(dilations):
            x = states[k] = _gru(state, k, x, states[k], dilation)
        rain = _conv(state, "dec.3", F.leaky_relu(_se(state, "dec.1", _conv(state, "dec.0", x)), 0.2), padding=0)
        x = bgr - rain
    return x  # the official show.py saves O - R of the last stage


# ---- SPANet (stevewongv/SPANet SPANet.py and IRNN_Forward_cuda.cu) -----------------------------------------------


def _irnn_kernel(x, weight, bias):
    """Every output position scans from its edge, as each CUDA thread does; returns up, right, down, left."""
    w = {d: value.view(1, -1, 1) for d, value in weight.items()}
    b = {d: value.view(1, -1, 1) for d, value in bias.items()}
    _, _, height, width = x.shape
    outputs = {d: torch.empty_like(x) for d in ("up", "right", "down", "left")}
    for col in range(width):
        out = torch.relu(x[..., width - 1])
        for i in range(width - 2, col - 1, -1):
            out = torch.relu(out * w["left"] + b["left"] + x[..., i])
        outputs["left"][..., col] = out
        out = torch.relu(x[..., 0])
        for i in range(1, col + 1):
            out = torch.relu(out * w["right"] + b["right"] + x[..., i])
        outputs["right"][..., col] = out
    for row in range(height):
        out = torch.relu(x[:, :, height - 1, :])
        for i in range(height - 2, row - 1, -1):
            out = torch.relu(out * w["up"] + b["up"] + x[:, :, i, :])
        outputs["up"][:, :, row, :] = out
        out = torch.relu(x[:, :, 0, :])
        for i in range(1, row + 1):
            out = torch.relu(out * w["down"] + b["down"] + x[:, :, i, :])
        outputs["down"][:, :, row, :] = out
    return torch.cat([outputs[d] for d in ("up", "right", "down", "left")], 1)


def _irnn(state, name, x):
    weights = {d: state[f"{name}.{d}_weight.weight"].flatten() for d in ("up", "right", "down", "left")}
    biases = {d: state[f"{name}.{d}_weight.bias"] for d in ("up", "right", "down", "left")}
    return _irnn_kernel(x, weights, biases)


def _sam(state, x):
    out = _conv(state, "SAM1.conv_in", x, bias=False)
    out = _conv(state, "SAM1.conv2", _irnn(state, "SAM1.irnn1", out), bias=False)
    out = torch.relu(_conv(state, "SAM1.conv3", _irnn(state, "SAM1.irnn2", out), bias=False))
    return torch.sigmoid(_conv(state, "SAM1.conv_out", out, padding=0, bias=False))


def _bottleneck(state, k, x):
    g = f"res_block{k}.group1"
    out = torch.relu(_conv(state, f"{g}.conv1", x, padding=0, bias=False))
    out = torch.relu(_conv(state, f"{g}.conv2", out, padding=2, dilation=2, bias=False))
    return _conv(state, f"{g}.conv3", out, padding=0, bias=False)


def official_spanet(state, bgr):
    out = torch.relu(_conv(state, "conv_in.0", bgr, bias=False))
    for k in (1, 2, 3):
        out = torch.relu(_bottleneck(state, k, out) + out)
    for first in (4, 7, 10, 13):
        attention = _sam(state, out)  # its direction weights are multiplied out of place and dropped
        for k in range(first, first + 3):
            out = torch.relu(_bottleneck(state, k, out) * attention + out)
    for k in (16, 17):
        out = torch.relu(_bottleneck(state, k, out) + out)
    return _conv(state, "conv_out.0", out, bias=False)


@pytest.mark.parametrize(
    ("name", "official", "crop", "parameters"),
    [
        ("rescan.rain200h", official_rescan, (96, 128), 149_823),
        ("rescan.rain200l", official_rescan, (96, 128), 149_823),
        ("spanet.rain200h", official_spanet, (12, 16), 283_716),
        ("spanet.rain200l", official_spanet, (12, 16), 283_716),
        ("spanet.spa", official_spanet, (12, 16), 283_716),
    ],
)
def test_port_matches_independent_forward_on_real_image(name, official, crop, parameters, mirror, mirror_store):
    method = build_method(name)
    method.prepare(mirror_store, torch.device("cpu"))  # strict=True, after undoing the checkpoint's layout
    assert method.parameter_count() == parameters  # ../shared/docs/baselines.md (RESCAN: 150.22 k with mmcv)
    state, _ = read_state_dict(mirror_store.fetch(method.spec.weights))
    rainy = np.asarray(Image.open(mirror / "datasets/Rain100H/test/small/rain/norain-7.png").convert("RGB"))
    x = method.to_input(rainy[100 : 100 + crop[0], 150 : 150 + crop[1]])
    with torch.inference_mode():
        ours = method.forward(x)
        reference = official(state, x.flip(1)).flip(1)  # the official code reads BGR with cv2
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    assert not torch.allclose(ours, x, atol=1e-3)  # it does derain something


def test_the_official_spanet_never_applies_its_direction_attention(mirror_store):
    """Changing the attention layer's weights changes nothing: the official forward drops its output."""
    method = build_method("spanet.spa")
    method.prepare(mirror_store, torch.device("cpu"))
    x = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        before = method.forward(x)
        for parameter in method.net.SAM1.attention_layer.parameters():
            parameter.add_(1.0)
        assert torch.equal(method.forward(x), before)
