"""Images <-> MSDR-Net tensors, as the official Keras script prepares and reads them.

The script reads files with cv2 (BGR), resizes the uint8 image with `cv2.resize` (INTER_LINEAR), scales it to
[-1, 1] = (uint8 - 127.5) / 127.5, and turns predictions back into images with `np.uint8((y + 1) * 127.5)`,
which truncates. The suite's images are uint8 H x W x 3 RGB (`bench.data.load_pair`), so the channel order is
reversed on the way in and out.
"""

import numpy as np
import torch
import torch.nn.functional as F


def to_network(image: np.ndarray) -> torch.Tensor:
    """uint8 H x W x 3 RGB -> float32 3 x H x W, BGR, in [-1, 1]."""
    bgr = np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))
    return torch.from_numpy(bgr).to(torch.float32).sub_(127.5).div_(127.5)


def from_network(x: torch.Tensor) -> np.ndarray:
    """float 3 x H x W, BGR, in [-1, 1] -> uint8 H x W x 3 RGB, truncated as the script's `np.uint8((y + 1) * 127.5)`.

    The clamp only guards the cast: tanh outputs are already inside [-1, 1].
    """
    values = (x.detach().to("cpu", torch.float32) + 1.0).mul_(127.5).clamp_(0.0, 255.0)
    return np.ascontiguousarray(values.to(torch.uint8).numpy().transpose(1, 2, 0)[..., ::-1])


def resize_uint8(image: np.ndarray, size: int) -> np.ndarray:
    """`cv2.resize(image, (size, size))` of a uint8 H x W x 3 image, ignoring the aspect ratio.

    Same sampling as cv2's INTER_LINEAR: half-pixel centres, edge pixels repeated, no antialiasing when
    shrinking. cv2 computes 8-bit output in 11-bit fixed point and we compute in float32 and round, so about one
    value in eight differs from cv2's by one grey level (tests/unit/test_msdr_training_data.py compares with cv2).
    """
    planes = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(torch.float32)
    resized = F.interpolate(planes[None], size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return np.ascontiguousarray(resized[0].round_().clamp_(0, 255).to(torch.uint8).numpy().transpose(1, 2, 0))


def downscale(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The script's `cv2.resize` of a normalised N x 3 x S x S batch to S / factor (bilinear, no antialiasing):
    how it makes the half- and quarter-scale inputs and targets (msdr.model resizes the input the same way)."""
    size = x.shape[-1] // factor
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
