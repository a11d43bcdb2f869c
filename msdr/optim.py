"""Adam as Keras 2.x computes it, on top of torch.optim.Adam.

Keras 2.x (keras/optimizers.py, `Adam.get_updates`; TensorFlow's ApplyAdam kernel computes the same) updates

    p <- p - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m_t / (sqrt(v_t) + epsilon),   epsilon = K.epsilon() = 1e-7

adding epsilon to the square root of the *uncorrected* v_t. PyTorch adds its eps to sqrt(v_t / (1 - beta2^t)),
so the two agree when PyTorch's eps is epsilon / sqrt(1 - beta2^t). The difference only matters early on
(the factor is 31.6 at t = 1 and below 1.01 after ~3,900 steps with beta2 = 0.999) and for weights with tiny
gradients, but it is the official recipe, so `KerasAdam` sets that eps before every step.
"""

import math
from collections.abc import Callable, Iterable

import torch

LR_SCHEDULES = ("constant", "cosine")


class KerasAdam(torch.optim.Adam):
    """torch.optim.Adam with Keras 2.x's epsilon placement; `eps` is the Keras epsilon.

    Fused: one kernel for all ~1,160 parameter tensors of the model, which on a CPU takes ~0.03 s per step where
    the per-tensor loop takes ~0.25 s for the small variants.

    Each param group counts its own updates in "keras_step" (saved in the state dict with the group), so a
    step skipped by a GradScaler, which never calls `step`, is not counted, exactly as Adam's own step count.
    """

    def __init__(self, params: Iterable, lr: float, betas: tuple[float, float], eps: float):
        super().__init__(params, lr=lr, betas=betas, eps=eps, fused=True)
        # A fused Adam would let a GradScaler pass it found_inf and skip the update inside the kernel, after
        # `step` has counted it; this makes the scaler unscale, check and not call `step` at all on overflow.
        self._step_supports_amp_scaling = False
        for group in self.param_groups:
            group["keras_eps"] = eps
            group["keras_step"] = 0

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        for group in self.param_groups:
            group["keras_step"] += 1
            group["eps"] = group["keras_eps"] / math.sqrt(1.0 - group["betas"][1] ** group["keras_step"])
        return super().step(closure)


def scheduled_lr(base_lr: float, schedule: str, step: int, total_steps: int) -> float:
    """The learning rate of the step that follows `step` steps taken, out of `total_steps`.

    "constant" is the paper's. "cosine" (a derain-bench addition for short runs) falls from `base_lr` to 0 along
    half a cosine over the run; it depends on the step alone, so a resumed run follows it exactly (a resume that
    changes --steps bends the rest of the curve to the new end).
    """
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")
