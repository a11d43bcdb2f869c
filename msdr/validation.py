"""Validation PSNR of the full-scale output during training.

Modes:
- "resize" (the official script's per-epoch evaluation): rainy and clean images resized to S x S
  (`msdr.preprocess.resize_uint8`), the prediction quantised as `np.uint8((y + 1) * 127.5)` and compared with
  the resized clean image. (The script round-trips its clean image through [-1, 1] in float32 before the same
  truncation, which lowers 95 of the 256 grey levels by one; the uint8 resized image is used here instead.)
- "tiles" (for variants trained with `--sampling crop`): the image at native resolution cut into S x S tiles
  on a grid whose last row and column are pushed back inside the image, each tile derained, the outputs pasted
  back (a later tile overwrites the overlap), and the whole image scored. Every image must be at least S x S
  (`msdr.training_data.check_min_size` says so up front).

Scores: `psnr@matlab-double` (the suite's ranking protocol) and `psnr@msdr-official` (the script's helper, with
its uint8 wrap-around), means over the images.
"""

import numpy as np
import torch
from torch import nn

from bench.common.errors import BenchError
from bench.data import Dataset, load_pair
from bench.metrics import make_scorer
from msdr.method import tile_starts
from msdr.preprocess import from_network, resize_uint8, to_network

VAL_MODES = ("resize", "tiles")
PSNR_PROTOCOLS = ("matlab-double", "msdr-official")


class Validator:
    """Decodes the validation pairs once; calling it scores a model (switched to eval mode for the call)."""

    def __init__(self, dataset: Dataset, image_size: int, mode: str):
        if mode not in VAL_MODES:
            raise BenchError(f"unknown validation mode {mode!r}; choose from {', '.join(VAL_MODES)}")
        self.dataset, self.image_size, self.mode = dataset, image_size, mode
        self.scorer = make_scorer(("psnr",), PSNR_PROTOCOLS)
        self.pairs = []
        for sample in dataset.samples:
            rainy, clean = load_pair(sample)
            if clean is None:
                raise BenchError(f"validation sample {sample.name} of {dataset.name} has no clean image")
            if mode == "resize":
                rainy, clean = resize_uint8(rainy, image_size), resize_uint8(clean, image_size)
            self.pairs.append((rainy, clean))

    @torch.no_grad()
    def __call__(self, model: nn.Module, device: torch.device) -> dict:
        was_training = model.training
        model.eval()
        try:
            scores = [self.scorer(self._derain(model, rainy, device), clean) for rainy, clean in self.pairs]
        finally:
            model.train(was_training)
        means = {column: float(np.mean([s[column] for s in scores])) for column in self.scorer.columns}
        return {"dataset": self.dataset.name, "mode": self.mode, "n": len(scores), **means}

    def _derain(self, model: nn.Module, rainy: np.ndarray, device: torch.device) -> np.ndarray:
        size = self.image_size
        if self.mode == "resize":
            return from_network(model(to_network(rainy)[None].to(device)).derained_1[0])
        height, width = rainy.shape[:2]
        rows, columns = tile_starts(height, size, stride=size), tile_starts(width, size, stride=size)
        windows = [(top, left) for top in rows for left in columns]
        tiles = torch.stack([to_network(rainy[t : t + size, lt : lt + size]) for t, lt in windows]).to(device)
        outputs = model(tiles).derained_1
        derained = np.empty_like(rainy)
        for (top, left), output in zip(windows, outputs, strict=True):
            derained[top : top + size, left : left + size] = from_network(output)
        return derained
