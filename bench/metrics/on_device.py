"""`matlab-double` PSNR and SSIM computed by torch in float64 on the run's device (CUDA), next to the network.

The same steps as the NumPy code (bench.metrics.ycbcr, psnr, ssim), in the same order of operations: MATLAB's
`rgb2ycbcr(im2double(x))` luma; PSNR with peak 1; Wang's 2009 `ssim.m` on 255 x Y: f x f block averages of the
symmetrically padded image, every f-th kept, then the 11-tap Gaussian's local means by two 1-D valid
correlations and `ssim_index`'s map, averaged. Only the summation order of the filters and means differs, so
the two agree to about 1e-13 (tests/unit/test_metrics_on_device.py holds them to 1e-10 on CPU tensors, at every
downsampling factor up to 3). A CUDA run uses it for `matlab-double` (bench.metrics.scorer).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from bench.metrics.ssim import K1, K2, WINDOW_SIZE, downsampling_factor, gaussian_taps

_Y_ROW = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0


class MatlabDoubleOnDevice:
    """`(pred, target)` uint8 H x W x 3 RGB arrays -> (PSNR, SSIM) under `matlab-double`, computed on `device`."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        taps = torch.tensor(gaussian_taps(), dtype=torch.float64, device=device)
        self._column_taps = taps.view(1, 1, WINDOW_SIZE, 1)
        self._row_taps = taps.view(1, 1, 1, WINDOW_SIZE)

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
        a, b = self._luma(pred), self._luma(target)
        return _psnr_peak_1(a, b), self._ssim_downsampled(a * 255, b * 255)

    def _luma(self, rgb: np.ndarray) -> torch.Tensor:
        planes = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1).double() / 255
        r, g, b = planes
        t_r, t_g, t_b = ((1 / 255) * t for t in _Y_ROW)
        return t_r * r + t_g * g + t_b * b + (1 / 255) * _Y_OFFSET

    def _ssim_downsampled(self, a: torch.Tensor, b: torch.Tensor) -> float:
        f = downsampling_factor(*a.shape)
        a, b = _block_average(a, f), _block_average(b, f)
        if min(a.shape) < WINDOW_SIZE:
            raise ValueError(f"SSIM needs images of at least {WINDOW_SIZE}x{WINDOW_SIZE} pixels; got {tuple(a.shape)}")
        stats = torch.stack([a, b, a * a, b * b, a * b])[:, None]  # 5 x 1 x H x W
        means = F.conv2d(F.conv2d(stats, self._column_taps), self._row_taps)[:, 0]  # 'valid', as filter2
        mu1, mu2, mean_aa, mean_bb, mean_ab = means
        mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
        sigma1_sq, sigma2_sq, sigma12 = mean_aa - mu1_sq, mean_bb - mu2_sq, mean_ab - mu1_mu2
        c1, c2 = (K1 * 255.0) ** 2, (K2 * 255.0) ** 2
        ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
        return float(ssim_map.mean())


def _psnr_peak_1(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _block_average(image: torch.Tensor, f: int) -> torch.Tensor:
    """bench.metrics.ssim.block_average_downsample: `imfilter(..., ones(f)/f^2, 'symmetric')`, every f-th pixel."""
    if f == 1:
        return image
    before = (f + 1) // 2 - 1
    after = f - 1 - before
    rows = _symmetric_indices(image.shape[0], before, after, image.device)
    cols = _symmetric_indices(image.shape[1], before, after, image.device)
    padded = image.index_select(0, rows).index_select(1, cols)
    height, width = -(-image.shape[0] // f), -(-image.shape[1] // f)
    blocks = padded[: height * f, : width * f].reshape(height, f, width, f)
    return blocks.sum(dim=(1, 3)) / (f * f)


def _symmetric_indices(length: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    """numpy.pad(mode='symmetric') indices: the edge pixel repeated, then the image mirrored."""
    index = torch.arange(-before, length + after, device=device)
    index = torch.where(index < 0, -index - 1, index)
    return torch.where(index >= length, 2 * length - index - 1, index)
