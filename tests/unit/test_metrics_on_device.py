"""`matlab-double` on the device (bench.metrics.on_device) equals the NumPy protocol code within 1e-10, checked on
CPU tensors at every downsampling factor of ssim.m up to 3; a scorer uses it when asked (by default on CUDA)."""

import numpy as np
import pytest
import torch

from bench.metrics import make_scorer
from bench.metrics.on_device import MatlabDoubleOnDevice
from bench.metrics.protocols import psnr_peak_1, ssim_m_of_255_times
from bench.metrics.ycbcr import matlab_y_double


def _pair(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    return noisy, clean


@pytest.mark.parametrize(
    ("height", "width"),
    [(321, 481), (383, 560), (384, 385), (481, 321), (640, 700), (701, 643), (11, 11), (17, 30)],
)
def test_equals_the_numpy_code_within_1e_10(height, width):
    pred, target = _pair(height, width, seed=height * width)
    psnr, ssim = MatlabDoubleOnDevice(torch.device("cpu"))(pred, target)
    a, b = matlab_y_double(pred), matlab_y_double(target)
    assert abs(psnr - psnr_peak_1(a, b)) <= 1e-10
    assert abs(ssim - ssim_m_of_255_times(a, b)) <= 1e-10


def test_identical_images_give_infinite_psnr_and_ssim_1():
    pred, _ = _pair(40, 50, seed=1)
    psnr, ssim = MatlabDoubleOnDevice(torch.device("cpu"))(pred, pred)
    assert psnr == float("inf") and abs(ssim - 1) <= 1e-12


def test_a_scorer_asked_to_uses_it_for_matlab_double_only():
    pred, target = _pair(100, 120, seed=2)
    protocols = ("matlab-double", "opencv-fullrange")
    reference = make_scorer(("psnr", "ssim"), protocols)
    on_device = make_scorer(("psnr", "ssim"), protocols, device="cpu", on_device=True)
    assert set(on_device.on_device) == {"matlab-double"} and not reference.on_device
    ours, theirs = on_device(pred, target), reference(pred, target)
    assert ours.keys() == theirs.keys()
    assert all(abs(ours[c] - theirs[c]) <= 1e-10 for c in ours)
    assert "device" in on_device.describe()["ssim@matlab-double"]  # recorded, and machine-local for compare
    assert "device" not in on_device.describe()["ssim@opencv-fullrange"]
    assert not make_scorer(("psnr",), ("matlab-double",), device="cpu").on_device  # CPU default: the NumPy code


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_equals_the_numpy_code_within_1e_10():
    for height, width in ((321, 481), (640, 700)):
        pred, target = _pair(height, width, seed=width)
        psnr, ssim = MatlabDoubleOnDevice(torch.device("cuda"))(pred, target)
        a, b = matlab_y_double(pred), matlab_y_double(target)
        assert abs(psnr - psnr_peak_1(a, b)) <= 1e-10
        assert abs(ssim - ssim_m_of_255_times(a, b)) <= 1e-10
