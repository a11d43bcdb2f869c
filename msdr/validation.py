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

BatchNorm: "running" (eval mode: the running statistics, as `@paper` and `@tiled` score), "tile" (every BatchNorm
normalising each tile or image by its own statistics, as training at batch 1 did and `@tiled-tilestats` scores; a
copy of the model, `msdr.method.normalise_by_tile_statistics`), or "both".

Scores: `psnr@matlab-double` (the suite's ranking protocol) and `psnr@msdr-official` (the script's helper, with
its uint8 wrap-around), means over the images; with each tile's own statistics under `tilestats_psnr@...` keys.
"""

import copy

import numpy as np
import torch
from torch import nn

from bench.common.errors import BenchError
from bench.data import Dataset, load_pair
from bench.metrics import make_scorer
from msdr.method import normalise_by_tile_statistics, tile_starts
from msdr.preprocess import from_network, resize_uint8, to_network

VAL_MODES = ("resize", "tiles")
VAL_BATCHNORM = ("running", "tile", "both")
TILE_STATISTICS_PREFIX = "tilestats_"  # of the score keys measured with each tile's own BatchNorm statistics
PSNR_PROTOCOLS = ("matlab-double", "msdr-official")


class Validator:
    """Decodes the validation pairs once; calling it scores a model: switched to eval mode for the call (running
    statistics), and/or a copy of it in eval mode whose BatchNorms use each tile's own statistics."""

    def __init__(self, dataset: Dataset, image_size: int, mode: str, batchnorm: str = "running"):
        if mode not in VAL_MODES:
            raise BenchError(f"unknown validation mode {mode!r}; choose from {', '.join(VAL_MODES)}")
        if batchnorm not in VAL_BATCHNORM:
            raise BenchError(f"unknown validation BatchNorm {batchnorm!r}; choose from {', '.join(VAL_BATCHNORM)}")
        self.dataset, self.image_size, self.mode, self.batchnorm = dataset, image_size, mode, batchnorm
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
        record = {"dataset": self.dataset.name, "mode": self.mode, "n": len(self.pairs), "batchnorm": self.batchnorm}
        if self.batchnorm in ("running", "both"):
            was_training = model.training
            model.eval()
            try:
                record |= self._means(model, device)
            finally:
                model.train(was_training)
        if self.batchnorm in ("tile", "both"):
            own_statistics = normalise_by_tile_statistics(copy.deepcopy(model)).eval()
            record |= {TILE_STATISTICS_PREFIX + k: v for k, v in self._means(own_statistics, device).items()}
        return record

    def _means(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        scores = [self.scorer(self._derain(model, rainy, device), clean) for rainy, clean in self.pairs]
        return {column: float(np.mean([s[column] for s in scores])) for column in self.scorer.columns}

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
