"""The DRN port against the official weights (csdwren/DRN @ 9f2bf50): both files load with `strict=True`, and an
independent functional re-implementation of the release's forward pass (network.py's DRN, written here on the raw
state-dict tensors) gives the same output on a real crop."""

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


def _res(state, name, x):
    return torch.relu(_conv(state, f"{name}.2", torch.relu(_conv(state, f"{name}.0", x))))


def official_forward(state, y, inter_iter=7, intra_iter=7):
    x = y
    for _ in range(inter_iter):
        x = torch.relu(_conv(state, "conv0.0", torch.cat((y, x), 1)))
        skip = x
        for _ in range(intra_iter):
            x = torch.relu(_res(state, "res_conv1", x) + skip)
            skip = x
            x = torch.relu(_res(state, "res_conv2", x) + skip)
            skip = x
        x = y + _conv(state, "conv.0", x)
    return x


@pytest.mark.parametrize("name", ["drn.rain100h", "drn.rain100l"])
def test_port_matches_independent_forward_on_real_image(name, mirror, mirror_store):
    method = build_method(name)
    method.prepare(mirror_store, torch.device("cpu"))  # strict=True
    assert method.parameter_count() == 10_595  # 6*16*9+16 + 4*(16*16*9+16) + 16*3*9+3
    state, _ = read_state_dict(mirror_store.fetch(method.spec.weights))
    rainy = np.asarray(Image.open(mirror / "datasets/Rain100L/rainy/rain-001.png").convert("RGB"))
    x = method.to_input(rainy[:96, :128])
    with torch.inference_mode():
        ours = method.forward(x)
        reference = official_forward(state, x)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    official_uint8 = np.uint8(255 * np.clip(reference[0].numpy(), 0, 1)).transpose(1, 2, 0)  # test_Rain100*.py
    assert np.mean(method.to_output(ours) == official_uint8) > 0.999
