"""The official recipe's loss and optimizer: six weighted L1 terms, and Adam with Keras 2.x's epsilon."""

import math

import pytest
import torch
import torch.nn.functional as F

from msdr.loss import LOSS_WEIGHTS, SCRIPT_NAMES, msdr_loss, multiscale_targets
from msdr.model import MSDROutputs
from msdr.optim import KerasAdam


def test_weights_are_the_scripts():
    assert dict(zip(SCRIPT_NAMES, LOSS_WEIGHTS, strict=True)) == {
        "x1_out": 1,
        "x2_out": 0.01,
        "x3_out": 0.01,
        "x1_out_r": 0.1,
        "x2_out_r": 0.01,
        "x3_out_r": 0.01,
    }


def test_targets_are_clean_and_rain_streaks_at_three_scales():
    rainy, clean = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    targets = multiscale_targets(rainy, clean)
    assert [t.shape[-1] for t in targets] == [64, 32, 16, 64, 32, 16]
    assert torch.equal(targets.derained_1, clean) and torch.equal(targets.rain_1, rainy - clean)
    # a 2x cv2 INTER_LINEAR downscale averages 2x2 blocks; the rain target is the resized rainy minus clean
    assert torch.allclose(targets.derained_2, F.avg_pool2d(clean, 2), atol=1e-6)
    assert torch.allclose(targets.rain_2, F.avg_pool2d(rainy, 2) - F.avg_pool2d(clean, 2), atol=1e-6)


def test_loss_is_the_weighted_sum_of_mean_absolute_errors():
    targets = MSDROutputs(*(torch.zeros(1, 3, s, s) for s in (8, 4, 2, 8, 4, 2)))
    outputs = MSDROutputs(*(torch.full_like(t, float(i + 1)) for i, t in enumerate(targets)))
    total, l1 = msdr_loss(outputs, targets)
    assert l1.tolist() == [1, 2, 3, 4, 5, 6]
    assert total.item() == pytest.approx(1 + 0.02 + 0.03 + 0.4 + 0.05 + 0.06)


def _keras_adam(p0: torch.Tensor, grads: list[torch.Tensor], lr: float, betas: tuple, eps: float) -> torch.Tensor:
    """keras/optimizers.py Adam.get_updates (Keras 2.x), written out."""
    p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        lr_t = lr * math.sqrt(1 - betas[1] ** t) / (1 - betas[0] ** t)
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        p = p - lr_t * m / (v.sqrt() + eps)
    return p


@pytest.mark.parametrize("optimizer", [KerasAdam, torch.optim.Adam])
def test_keras_adam_follows_keras_and_plain_adam_does_not(optimizer):
    torch.manual_seed(0)
    p0 = torch.randn(100, dtype=torch.float64)
    grads = [torch.randn(100, dtype=torch.float64) * 10.0 ** (-k) for k in range(6)]  # small v: eps matters
    lr, betas, eps = 0.1, (0.5, 0.999), 1e-3
    p = p0.clone().requires_grad_()
    opt = optimizer([p], lr=lr, betas=betas, eps=eps)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    close = torch.allclose(p.detach(), _keras_adam(p0, grads, lr, betas, eps), rtol=0, atol=1e-12)
    assert close == (optimizer is KerasAdam)


def test_keras_adam_counts_its_steps_in_the_state_dict():
    p = torch.zeros(3, requires_grad=True)
    opt = KerasAdam([p], lr=1e-3, betas=(0.5, 0.999), eps=1e-7)
    for _ in range(3):
        p.grad = torch.ones(3)
        opt.step()
    again = KerasAdam([torch.zeros(3, requires_grad=True)], lr=1e-3, betas=(0.5, 0.999), eps=1e-7)
    again.load_state_dict(opt.state_dict())
    assert again.param_groups[0]["keras_step"] == 3
    assert again.param_groups[0]["eps"] == pytest.approx(1e-7 / math.sqrt(1 - 0.999**3))


def test_a_grad_scaler_skips_overflowing_steps_without_counting_them():
    """fp16 training: a step whose gradients overflow changes nothing, not even the Keras epsilon's step count."""
    scaled, plain = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    scaled_opt = KerasAdam([scaled], lr=0.1, betas=(0.5, 0.999), eps=1e-3)
    plain_opt = KerasAdam([plain], lr=0.1, betas=(0.5, 0.999), eps=1e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
    for gradient in (torch.ones(3), torch.full((3,), float("inf")), torch.ones(3)):
        scaled_opt.zero_grad()
        scaler.scale((scaled * gradient).sum()).backward()
        scaler.step(scaled_opt)
        scaler.update()
    for _ in range(2):
        plain.grad = torch.ones(3)
        plain_opt.step()
    assert scaled_opt.param_groups[0]["keras_step"] == 2
    assert torch.equal(scaled.detach(), plain.detach())
