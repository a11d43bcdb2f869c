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

import pickle
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.assets import Asset, Store, sha256_file
from bench.errors import AssetError


class Quantisation(StrEnum):
    TRUNCATE = "truncate"  # uint8(255 * clamp(y, 0, 1)) in float32, as PReNet's official test script
    ROUND = "round"  # round half up of 255 * clamp(y, 0, 1)
    # uint8((clamp(y, -1, 1) + 1) * 127.5) in float32 for output in [-1, 1], as MSDR-Net's official training
    # script saves and scores its predictions (B201cv/MSDR-Net, its Keras training script). Bit for bit TRUNCATE of
    # (y + 1) / 2 (halving is exact), but not y * 127.5 + 127.5, which rounds up a grey level at some values
    TRUNCATE_SIGNED = "truncate-signed"


@dataclass(frozen=True)
class MethodSpec:
    """What a method is and how its numbers were produced; stored with every result."""

    name: str
    summary: str
    quantisation: Quantisation
    weights: Asset | None = None
    trained_on: str | None = None  # what the weights were trained on, in words, with `trained_on_source`
    trained_on_source: str = ""
    # dataset name -> why evaluating these weights on it scores training images (see bench.overlap)
    training_overlaps: Mapping[str, str] = field(default_factory=dict)
    input_range: str = "RGB float32 in [0, 1]"
    size_policy: str = "any size, no padding"
    # for a method with inference protocols (the `name@protocol` suffix): the one used; `size_policy` says what it does
    inference: str | None = None
    citation: str = ""
    # published scores of these weights: dataset -> column -> value (source in `published_source`)
    published: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    published_source: str = ""

    def describe(self) -> dict:
        """A JSON-ready description."""
        return asdict(self)


@dataclass(frozen=True)
class WeightsRecord:
    """The weights file a prepared method actually loaded."""

    path: str
    sha256: str
    source: str  # "declared": the spec's weights, verified; "user": a file given to `prepare(weights=...)`
    metadata: Mapping[str, Any] = field(default_factory=dict)  # what the file says about itself, if anything


class DerainMethod:
    """A network wrapped with its spec, weights and pre/post-processing.

    `build` makes the untrained network; when the spec declares weights they are fetched, verified and
    loaded with `strict=True` by `prepare`. Subclasses override `forward` for padding or resizing, and
    `_declared_weights` / `_load_network` for weights that are not a plain state dict in the store.
    """

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
        if path is not None:
            load_strict(net, load_state_dict(path), path)
        return net, {}

    def _prepared_net(self) -> nn.Module:
        if self.net is None:
            raise RuntimeError(f"{self.spec.name}: call prepare() before forward()")
        return self.net


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise AssetError(f"weights file {path} does not exist")
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint holding a mapping without running pickled code (`weights_only=True`)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise AssetError(f"{path} cannot be loaded as plain tensors (weights_only=True): {_load_failure(exc)}") from exc
    if not isinstance(checkpoint, Mapping):
        raise AssetError(f"{path} holds a {type(checkpoint).__name__}, not a mapping (state dict or checkpoint)")
    return dict(checkpoint)


def _load_failure(exc: Exception) -> str:
    """One line of a torch.load error: the unpickler's own reason (e.g. "Unsupported operand 103" for a file that
    is no pickle, or the global it refused) rather than torch's general advice around it."""
    _, marker, reason = str(exc).partition("WeightsUnpickler error:")
    if marker:
        return " ".join(reason.split("Check the documentation of torch.load")[0].split()) or type(exc).__name__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a plain state dict (names -> tensors) without running pickled code."""
    state = load_checkpoint(path)
    if not_tensors := [key for key, value in state.items() if not isinstance(value, torch.Tensor)]:
        raise AssetError(f"{path} is not a plain state dict: {_few(not_tensors)} not tensors")
    return state


def load_strict(net: nn.Module, state: Mapping[str, torch.Tensor], source: Path) -> None:
    """`net.load_state_dict(state, strict=True)`; a file that does not fit fails with one line naming it."""
    expected = net.state_dict().keys()
    missing, unexpected = sorted(expected - state.keys()), sorted(state.keys() - expected)
    if missing or unexpected:
        problems = [f"{_few(keys)} {what}" for keys, what in ((missing, "missing"), (unexpected, "unexpected")) if keys]
        raise AssetError(f"{source} does not fit {type(net).__name__}: {'; '.join(problems)}")
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # shape mismatches, listed by torch one per line
        raise AssetError(f"{source} does not fit {type(net).__name__}: {' '.join(str(exc).split())}") from exc


def _few(keys: list[str], shown: int = 3) -> str:
    """`'a', 'b', 'c' and 4 more` for messages that must stay one line."""
    listed = ", ".join(repr(key) for key in keys[:shown])
    return listed + (f" and {len(keys) - shown} more" if len(keys) > shown else "")
