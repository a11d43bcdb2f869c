"""The contract every deraining method implements, and the pre/post-processing shared by them.

A method turns one rainy RGB uint8 image (H x W x 3) into a derained RGB uint8 image of the same size.
It is split in three so that the runner can time the network alone:

    x = method.to_input(rainy)     # uint8 HWC -> float tensor 1x3xHxW on the method's device
    y = method.forward(x)          # the network (plus any padding/resizing the method needs)
    out = method.to_output(y)      # tensor -> uint8 HWC, with the method's own quantisation

How the output is quantised to uint8 is part of a method's published protocol (PReNet's test script
truncates `uint8(255 * y)`), so it is declared in the spec and recorded with every result.
"""

import pickle
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.assets import Asset, Store
from bench.errors import AssetError


class Quantisation(StrEnum):
    TRUNCATE = "truncate"  # uint8(255 * clamp(y, 0, 1)) in float32, as PReNet's official test script
    ROUND = "round"  # round half up of 255 * clamp(y, 0, 1)


@dataclass(frozen=True)
class MethodSpec:
    """What a method is and how its numbers were produced; stored with every result."""

    name: str
    summary: str
    quantisation: Quantisation
    weights: Asset | None = None
    trained_on: str | None = None
    input_range: str = "RGB float32 in [0, 1]"
    size_policy: str = "any size, no padding"
    citation: str = ""
    # published scores of these weights: dataset -> column -> value (source in `published_source`)
    published: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    published_source: str = ""

    def describe(self) -> dict:
        """A JSON-ready description."""
        return asdict(self)


class DerainMethod:
    """A network wrapped with its spec, weights and pre/post-processing.

    `build` makes the untrained network; when the spec declares weights they are fetched, verified and
    loaded with `strict=True` by `prepare`. Subclasses override `forward` for padding or resizing.
    """

    def __init__(self, spec: MethodSpec, build: Callable[[], nn.Module]):
        self.spec = spec
        self._build = build
        self.net: nn.Module | None = None
        self.device = torch.device("cpu")

    def prepare(self, store: Store, device: torch.device) -> None:
        net = self._build()
        if self.spec.weights is not None:
            net.load_state_dict(load_state_dict(store.fetch(self.spec.weights)), strict=True)
        self.net = net.eval().to(device)
        self.device = device

    def to_input(self, rainy: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(rainy.transpose(2, 0, 1)))
        return x.to(self.device, torch.float32).div_(255.0).unsqueeze_(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is None:
            raise RuntimeError(f"{self.spec.name}: call prepare() before forward()")
        return self.net(x)

    def to_output(self, y: torch.Tensor) -> np.ndarray:
        scaled = y.detach().squeeze(0).clamp(0.0, 1.0).mul(255.0)
        if self.spec.quantisation is Quantisation.ROUND:
            scaled = scaled.add_(0.5)
        return scaled.to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a checkpoint without running pickled code (`weights_only=True`)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AssetError(f"{path} cannot be loaded as plain tensors (weights_only=True): {first_line}") from exc
    if not isinstance(state, Mapping):
        raise AssetError(f"{path} holds a {type(state).__name__}, not a state dict of tensors")
    return dict(state)
