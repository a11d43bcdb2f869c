"""The PReNet port against the official weights: an independent functional re-implementation of the
official forward pass (written here from csdwren/PReNet's networks.py, on the raw state-dict tensors)
must give the same output on real Rain100H images."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bench.methods.checkpoints import read_state_dict
from bench.methods.registry import build_method

pytestmark = pytest.mark.reference


def _conv(state, name, x):
    return F.conv2d(x, state[f"{name}.weight"], state[f"{name}.bias"], padding=1)


def official_forward(state: dict, rainy: torch.Tensor, lstm: bool, recursive: bool) -> torch.Tensor:
    hidden = torch.zeros(1, 32, *rainy.shape[2:])
    cell = torch.zeros_like(hidden)
    blocks = ["res_conv1"] * 5 if recursive else [f"res_conv{k}" for k in range(1, 6)]
    x = rainy
    for _ in range(6):
        x = torch.relu(_conv(state, "conv0.0", torch.cat((rainy, x), 1)))
        if lstm:
            z = torch.cat((x, hidden), 1)
            i = torch.sigmoid(_conv(state, "conv_i.0", z))
            f = torch.sigmoid(_conv(state, "conv_f.0", z))
            g = torch.tanh(_conv(state, "conv_g.0", z))
            o = torch.sigmoid(_conv(state, "conv_o.0", z))
            cell = f * cell + i * g
            hidden = o * torch.tanh(cell)
            x = hidden
        for block in blocks:
            y = torch.relu(_conv(state, f"{block}.2", torch.relu(_conv(state, f"{block}.0", x))))
            x = torch.relu(y + x)
        x = _conv(state, "conv.0", x) + rainy
    return x


@pytest.mark.parametrize(
    ("name", "lstm", "recursive"),
    [
        ("prenet.rain100h", True, False),
        ("prenet_r.rain100l", True, True),
        ("prn.rain1400", False, False),
        ("prn_r.rain100h", False, True),
        ("prenet.rain200h", True, False),  # the BRN authors' re-trainings (csdwren/RecDerain)
        ("prenet.rain200l", True, False),
    ],
)
def test_port_matches_independent_forward_on_real_image(name, lstm, recursive, mirror, mirror_store):
    method = build_method(name)
    method.prepare(mirror_store, torch.device("cpu"))
    state, _ = read_state_dict(mirror_store.fetch(method.spec.weights))
    path = mirror / "datasets/Rain100H/test/small/rain/norain-7.png"
    rainy = np.asarray(Image.open(path).convert("RGB"))[:160, :200]  # a crop keeps the test fast
    x = method.to_input(rainy)
    with torch.inference_mode():
        ours = method.forward(x)
        reference = official_forward(state, x, lstm, recursive)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    # the official saving step, np.uint8(255 * clip(out)), gives the same pixels
    official_uint8 = np.uint8(255 * np.clip(reference[0].numpy(), 0, 1)).transpose(1, 2, 0)
    assert np.mean(method.to_output(ours) == official_uint8) > 0.999
