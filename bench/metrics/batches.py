"""What a training loop holds, as the 8-bit RGB images the scorer takes: float tensors in [0, 1] (on any device)
and uint8 arrays, one image or a batch.

    scorer = make_scorer(("psnr", "ssim"), ("matlab-double",), device="cuda")
    rows = scorer.score(model(rainy), clean)   # one {column: value} per image, as `bench run` would score them

A float image is quantised to 8 bits before it is scored, as every method's test script saves its outputs:
"round" (half up, the default) or "truncate" (PReNet's and BRN's `uint8(255 * y)`), on the tensor's own device.
"""

import numpy as np

QUANTISATIONS = ("round", "truncate")


def as_images(batch, quantise: str = "round") -> list[np.ndarray]:
    """uint8 H x W x 3 arrays from a uint8 array (H x W x 3 or N x H x W x 3), or a tensor (3 x H x W or
    N x 3 x H x W): uint8 as it is, float in [0, 1] clamped and quantised by `quantise`."""
    if quantise not in QUANTISATIONS:
        raise ValueError(f"quantise must be one of {', '.join(QUANTISATIONS)}, got {quantise!r}")
    if isinstance(batch, np.ndarray):
        if batch.dtype != np.uint8:
            raise ValueError(f"arrays must be uint8 RGB (0..255), got dtype {batch.dtype}; pass floats as tensors")
        return list(batch) if batch.ndim == 4 else [batch]
    import torch  # a tensor was passed, so torch is there

    if not isinstance(batch, torch.Tensor):
        raise ValueError(f"expected a numpy.ndarray or a torch.Tensor, got {type(batch).__name__}")
    batch = batch.detach()
    if batch.ndim == 3:
        batch = batch.unsqueeze(0)
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"tensors must be 3 x H x W or N x 3 x H x W RGB, got shape {tuple(batch.shape)}")
    if batch.dtype != torch.uint8:
        if not batch.is_floating_point():
            raise ValueError(f"tensors must be float in [0, 1] or uint8, got dtype {batch.dtype}")
        scaled = batch.float().clamp(0.0, 1.0).mul(255.0)
        batch = (scaled.add(0.5) if quantise == "round" else scaled).to(torch.uint8)
    return list(batch.permute(0, 2, 3, 1).cpu().numpy())
