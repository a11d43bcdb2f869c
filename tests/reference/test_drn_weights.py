"""The DRN port against the official weights (csdwren/DRN @ 9f2bf50): every weights file loads with `strict=True`,
and an independent functional re-implementation of the official forward pass (written here from the release's
network.py, on the raw state-dict tensors) gives the same output on a real crop of the test set each file was
trained for."""

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


def _res_conv(state, name, x):
    """The official `res_conv1`/`res_conv2`: conv, ReLU, conv, ReLU (the skip is added by the caller)."""
    return torch.relu(_conv(state, f"{name}.2", torch.relu(_conv(state, f"{name}.0", x))))


def official_forward(state, y, inter=7, intra=7):
    """network.py's DRN.forward, the defaults of test_Rain100H.py / test_Rain100L.py (inter_iter = intra_iter = 7)."""
    x = y
    for _ in range(inter):
        x = torch.relu(_conv(state, "conv0.0", torch.cat((y, x), 1)))
        resx = x
        for _ in range(intra):
            x = torch.relu(_res_conv(state, "res_conv1", x) + resx)
            resx = x
            x = torch.relu(_res_conv(state, "res_conv2", x) + resx)
            resx = x
        x = y + _conv(state, "conv.0", x)
    return x


DRN_NAMES = [name for name in METHODS if family(name) == "drn"]
# a real rainy crop of the test set each weights file is scored on (the mirrored layouts)
RAINY = {
    "drn.rain100h": "datasets/Rain100H/test/small/rain/norain-7.png",
    "drn.rain100l": "datasets/Rain100L/rainy/rain-001.png",
}


def test_every_release_file_is_ported():
    assert sorted(DRN_NAMES) == sorted(RAINY)


@pytest.mark.parametrize("name", DRN_NAMES)
def test_port_matches_independent_forward_on_real_image(name, mirror, mirror_store):
    method = build_method(name)
    method.prepare(mirror_store, torch.device("cpu"))  # strict=True
    state, _ = read_state_dict(mirror_store.fetch(method.spec.weights))
    # 16 features, two blocks shared by all 49 recursions: 6*16*9+16 + 4*(16*16*9+16) + 16*3*9+3
    assert method.parameter_count() == sum(t.numel() for t in state.values()) == 10_595
    rainy = np.asarray(Image.open(mirror / RAINY[name]).convert("RGB"))
    x = method.to_input(rainy[:96, :128])  # a crop keeps the test fast
    with torch.inference_mode():
        ours = method.forward(x)
        reference = official_forward(state, x)
    # The same float32 convolutions in the same order: any difference is summation order inside the kernels,
    # far below 1e-5 (1/400 of a grey level) after 7 x 16 residual steps.
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    # the official saving step, np.uint8(255 * clamp(out, 0, 1)), gives the same pixels
    official_uint8 = np.uint8(255 * np.clip(reference[0].numpy(), 0, 1)).transpose(1, 2, 0)
    assert np.mean(method.to_output(ours) == official_uint8) > 0.999
