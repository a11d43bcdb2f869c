"""The committed msdr-s/msdr-m checkpoints: the train-on-test one's output on a seeded input, and, for each, the wrapper
checked against a direct call.

GOLDEN holds outputs of `msdr-s-traintest@tiled` (the first msdr-s) recorded when that checkpoint was committed
(torch 2.14.1, CPU, float32).
They are a regression reference, not an independent truth: a change in the model code, the tiling or the
conversions that moves them is a change in what the method computes and must be explained. The independent check
is the second test: on a single tile, the method must equal the network called by hand on the script's BGR
[-1, 1] values, built here from the checkpoint file without going through `msdr.method`.
"""

import numpy as np
import pytest
import torch

from bench.methods.registry import build_method
from msdr.method import CHECKPOINT_DIR
from msdr.model import MSDRNet

CPU = torch.device("cpu")
# (row, column) of the pixels recorded from the 80 x 100 golden output; the full output's mean too
PIXELS = ((0, 0), (5, 93), (17, 40), (40, 50), (47, 3), (63, 64), (71, 99), (79, 0))
GOLDEN_PIXELS = (
    (0.384601, 0.525020, 0.315694),
    (0.333407, 0.268349, -0.065931),
    (0.038690, -0.420047, -0.285606),
    (0.153737, -0.139726, -0.230686),
    (-0.209066, -0.143838, 0.185621),
    (0.352904, 0.103356, -0.129801),
    (-0.378057, -0.389106, -0.039791),
    (0.061726, -0.502542, -0.206985),
)  # RGB in [-1, 1], at PIXELS
GOLDEN_MEAN = -0.0174959


def _seeded_rainy(height: int, width: int) -> np.ndarray:
    """Smooth colours with bright diagonal streaks and noise: a rainy-looking uint8 RGB image from a fixed seed."""
    rng = np.random.default_rng(20261125)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([120 + 60 * np.sin(x / 13 + c) * np.cos(y / 17 - c) for c in range(3)], -1)
    streaks = 70.0 * ((x + 2 * y) % 23 < 2)[..., None]
    return (base + streaks + rng.normal(0, 4, base.shape)).clip(0, 255).astype(np.uint8)


def _prepared(name: str):
    method = build_method(f"{name}@tiled")
    method.prepare(None, CPU)  # verifies the committed file against the declared sha256
    return method


def test_output_on_a_seeded_input_matches_the_recorded_one():
    msdr_s = _prepared("msdr-s-traintest")
    with torch.inference_mode():
        output = msdr_s.forward(msdr_s.to_input(_seeded_rainy(80, 100)))[0]
    assert output.shape == (3, 80, 100)
    values = torch.stack([output[:, row, column] for row, column in PIXELS])
    torch.testing.assert_close(values, torch.tensor(GOLDEN_PIXELS), rtol=0, atol=1e-4)
    assert output.mean().item() == pytest.approx(GOLDEN_MEAN, abs=1e-5)


@pytest.mark.parametrize("name", ["msdr-s", "msdr-m", "msdr-s-traintest"])
def test_one_tile_equals_the_network_called_by_hand_on_bgr_in_minus_one_to_one(name):
    msdr_s = _prepared(name)
    exported = torch.load(CHECKPOINT_DIR / f"{name}.pt", map_location="cpu", weights_only=True)
    net = MSDRNet(**exported["model_config"])
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in exported["state_dict"].items()})
    size = exported["model_config"]["image_size"]
    rainy = _seeded_rainy(size, size)
    bgr = (torch.from_numpy(rainy[..., ::-1].copy()).permute(2, 0, 1).float() - 127.5) / 127.5
    with torch.inference_mode():
        by_hand = net.eval()(bgr[None]).derained_1[0].flip(0)  # back to RGB
        through_method = msdr_s.forward(msdr_s.to_input(rainy))[0]
    torch.testing.assert_close(through_method, by_hand, rtol=0, atol=1e-6)
