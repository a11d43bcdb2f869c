"""The official training loss: an L1 (mean absolute error) on each of the six outputs, weighted and summed.

Script: `model.compile(loss=mean_absolute_error for every output, loss_weights=...)` and the training loop's
targets: the clean image at full, 1/2 and 1/4 scale for x1_out, x2_out, x3_out, and the rain streaks, rainy -
clean in normalised units, at the same scales for x1_out_r, x2_out_r, x3_out_r. The half- and quarter-scale
images are resizes of the normalised full-size ones. The detail heads get no target of their own.
"""

import torch
import torch.nn.functional as F

from msdr.model import MSDROutputs
from msdr.preprocess import downscale

# the script's output names, in MSDROutputs order
SCRIPT_NAMES = MSDROutputs("x1_out", "x2_out", "x3_out", "x1_out_r", "x2_out_r", "x3_out_r")
LOSS_WEIGHTS = MSDROutputs(1.0, 0.01, 0.01, 0.1, 0.01, 0.01)


def multiscale_targets(rainy: torch.Tensor, clean: torch.Tensor) -> MSDROutputs:
    """Targets for the six outputs from N x 3 x S x S rainy and clean batches (BGR, [-1, 1])."""
    clean_scales = (clean, downscale(clean, 2), downscale(clean, 4))
    rainy_scales = (rainy, downscale(rainy, 2), downscale(rainy, 4))
    rain_scales = (r - c for r, c in zip(rainy_scales, clean_scales, strict=True))
    return MSDROutputs(*clean_scales, *rain_scales)


def msdr_loss(outputs: MSDROutputs, targets: MSDROutputs) -> tuple[torch.Tensor, torch.Tensor]:
    """(total, per-output L1): total = sum of LOSS_WEIGHTS x L1, each L1 the mean over all elements as Keras's
    mean_absolute_error. Outputs are compared in float32 (they may come from autocast)."""
    l1 = torch.stack([F.l1_loss(o.float(), t.float()) for o, t in zip(outputs, targets, strict=True)])
    weights = torch.tensor(LOSS_WEIGHTS, dtype=l1.dtype, device=l1.device)
    return (weights * l1).sum(), l1
