"""The contract every deraining method implements, and the pre/post-processing shared by them.

A method turns one rainy RGB uint8 image (H x W x 3) into a derained RGB uint8 image of the same size.
It is split in three so that the runner can time the network alone:

    x = method.to_input(rainy)     # uint8 HWC -> float tensor 1x3xHxW on the method's device
    y = method.forward(x)          # the network (plus any padding/resizing the method needs)
    out = method.to_output(y)      # tensor -> uint8 HWC, with the method's own quantisation

How the output is quantised to uint8 is part of a method's published protocol (PReNet's test script
truncates `uint8(255 * y)`), so it is declared in the spec and recorded with every result. The quantisation
also fixes the range of `forward`'s output: [0, 1], or [-1, 1] for `TRUNCATE_SIGNED`.

`prepare` loads the declared weights, or a user's file in their place; `describe` records which file was
loaded (path, sha256, source), so a number never hides the weights that produced it.
"""

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.common.assets import Asset, Store, sha256_file
from bench.common.errors import AssetError
from bench.methods.checkpoints import load_strict, read_state_dict


class Quantisation(StrEnum):
    TRUNCATE = "truncate"  # uint8(255 * clamp(y, 0, 1)) in float32, as PReNet's official test script
    ROUND = "round"  # round half up of 255 * clamp(y, 0, 1)
    # uint8((clamp(y, -1, 1) + 1) * 127.5) in float32 for output in [-1, 1], as MSDR-Net's official training
    # script saves and scores its predictions (B201cv/MSDR-Net, its Keras training script). Bit for bit TRUNCATE of
    # (y + 1) / 2 (halving is exact), but not y * 127.5 + 127.5, which rounds up a grey level at some values
    TRUNCATE_SIGNED = "truncate-signed"
    AS_SAVED = "as-saved"  # outputs read from a user's files (bench.methods.outputs): already 8-bit, nothing to do


@dataclass(frozen=True)
class MethodSpec:
    """What a method is and how its numbers were produced; stored with every result."""

    name: str
    summary: str
    quantisation: Quantisation
    weights: Asset | None = None
    trained_on: str | None = None  # what the weights were trained on, in words, with `trained_on_source`
    training_set: str = ""  # the same as one short name, for listings ("RainTrainH", "Rain200H train")
    trained_on_source: str = ""
    # dataset name -> why evaluating these weights on it scores training images (see bench.data.overlap)
    training_overlaps: Mapping[str, str] = field(default_factory=dict)
    # the registered datasets the weights were trained on, where one is (a card's `shares_images_with` then says
    # which test sets hold some of its images)
    training_datasets: tuple[str, ...] = ()
    input_range: str = "RGB float32 in [0, 1]"
    size_policy: str = "any size, no padding"
    # for a method with inference protocols (the `name@protocol` suffix): the one used; `size_policy` says what it does
    inference: str | None = None
    citation: str = ""
    # published scores of these weights: dataset -> column -> value (source in `published_source`)
    published: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    published_source: str = ""
    # a method from outside the project (bench.methods.external): its module file and sha256, or its package
    code: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> dict:
        """A JSON-ready description."""
        return asdict(self)


@dataclass(frozen=True)
class WeightsRecord:
    """The weights file a prepared method actually loaded."""

    path: str
    sha256: str
    source: str  # "declared": the spec's weights, verified; "user": a file given to `prepare(weights=...)`
    # what the file says about itself, and which historic layout was undone to load it (bench.methods.checkpoints)
    metadata: Mapping[str, Any] = field(default_factory=dict)


class DerainMethod:
    """A network wrapped with its spec, weights and pre/post-processing.

    `kind` is "network"; a folder of outputs scored as a method is of kind "outputs" (bench.methods.outputs).

    `build` makes the untrained network; when the spec declares weights they are fetched, verified and
    loaded with `strict=True` by `prepare`. Subclasses override `forward` for padding or resizing, and
    `_declared_weights` / `_load_network` for weights that are not a plain state dict in the store.
    """

    kind = "network"
    warnings: tuple[str, ...] = ()  # what a reader must know about this method's outputs (a folder of outputs says)

    def __init__(self, spec: MethodSpec, build: Callable[..., nn.Module]):
        self.spec = spec
        self._build = build
        self.net: nn.Module | None = None
        self.device = torch.device("cpu")
        self.loaded_weights: WeightsRecord | None = None

    def prepare(self, store: Store, device: torch.device, weights: Path | None = None) -> None:
        """Build the network and load its weights; `weights`, a user's file, replaces the declared ones."""
        if weights is None:
            path, source = self._declared_weights(store), "declared"
        else:
            path, source = _existing_file(weights), "user"
        net, metadata = self._load_network(path)
        self.loaded_weights = None if path is None else WeightsRecord(str(path), sha256_file(path), source, metadata)
        self.net = net.eval().to(device)
        self.device = device

    def describe(self) -> dict:
        """The spec and the weights actually loaded (after `prepare`); JSON-ready, stored with the results."""
        loaded = None if self.loaded_weights is None else asdict(self.loaded_weights)
        return {**self.spec.describe(), "loaded_weights": loaded}

    def to_input(self, rainy: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(rainy.transpose(2, 0, 1)))
        return x.to(self.device, torch.float32).div_(255.0).unsqueeze_(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._prepared_net()(x)

    def to_output(self, y: torch.Tensor) -> np.ndarray:
        y = y.detach().squeeze(0)
        if self.spec.quantisation is Quantisation.TRUNCATE_SIGNED:
            scaled = y.clamp(-1.0, 1.0).add(1.0).mul(127.5)
        else:
            scaled = y.clamp(0.0, 1.0).mul(255.0)
            if self.spec.quantisation is Quantisation.ROUND:
                scaled = scaled.add_(0.5)
        return scaled.to(torch.uint8).permute(1, 2, 0).cpu().numpy()

    def _declared_weights(self, store: Store) -> Path | None:
        """The verified file of the spec's weights; None for a method without weights."""
        return None if self.spec.weights is None else store.fetch(self.spec.weights)

    def _load_network(self, path: Path | None) -> tuple[nn.Module, dict[str, Any]]:
        """The network with the state dict in `path` loaded (as built when None), and the file's metadata."""
        net = self._build()
        if path is None:
            return net, {}
        state, undone = read_state_dict(path)
        load_strict(net, state, path)
        return net, undone

    def recorded(self, sample: Any) -> dict:
        """What a row records about where this image's output came from, beyond the scores (nothing for a network)."""
        return {}

    def weights_location(self, store: Store) -> str:
        """Where the declared weights are now: `cached`, `mirrored`, `download` (from their release), `-` (none)."""
        weights = self.spec.weights
        if weights is None:
            return "-"
        if store.local_path(weights).is_file():
            return "cached"
        if store.mirror is not None and (store.mirror / weights.path).is_file():
            return "mirrored"
        return "download"

    def parameter_count(self) -> int:
        """Parameters of the network as built (no weights are loaded)."""
        return count_parameters(self._build)

    def _prepared_net(self) -> nn.Module:
        if self.net is None:
            raise RuntimeError(f"{self.spec.name}: call prepare() before forward()")
        return self.net


def published_scores(numbers: Mapping[str, tuple[float, float]], protocol: str) -> dict[str, dict[str, float]]:
    """`{"rain100h": (29.46, 0.899)}` -> the spec's `published`: `{"rain100h": {"psnr@<protocol>": ..., ...}}`."""
    return {dataset: {f"psnr@{protocol}": psnr, f"ssim@{protocol}": ssim} for dataset, (psnr, ssim) in numbers.items()}


def count_parameters(build: Callable[[], nn.Module]) -> int:
    """Parameters of the network `build` makes, built on the meta device: shapes only, no memory, no init."""
    with torch.device("meta"):
        return sum(parameter.numel() for parameter in build().parameters())


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise AssetError(f"weights file {path} does not exist")
    return path
