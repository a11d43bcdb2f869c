"""MSDR-Net as scorable methods: `msdr` (the paper's network), `msdr-s` and `msdr-m` (a small and a wider variant
trained by this suite on RainTrainL) and `msdr-s-traintest` (the first small variant, trained on Rain100H's test
images: the train-on-test example).

The network keeps the official script's convention (msdr/model.py): BGR, values (u - 127.5) / 127.5 in [-1, 1] for a
uint8 value u, and a square input whose side S = `image_size` (352 in the paper) is fixed by the bottleneck conv.
The method contract hands `forward` RGB in [0, 1] at any size, so `forward` converts to BGR [-1, 1] (exactly the
script's values), meets the fixed size by an inference protocol, and returns RGB still in [-1, 1], which
`Quantisation.TRUNCATE_SIGNED` turns into uint8 as the script does: truncation of (y + 1) * 127.5 in float32.

Inference protocols are chosen by a name suffix (`msdr@tiled`) and recorded in the spec (`inference`):
- `paper`: resize to S x S ignoring the aspect ratio, derain, resize back; bilinear without antialiasing, as
  cv2.resize's INTER_LINEAR. The script resizes every image to 352 x 352 and scores it there; resizing back is ours.
- `tiled`: S x S tiles at native resolution overlapping by a quarter tile, the last one flush with the image edge,
  blended by a separable sin^2 window that is positive everywhere, normalised by the summed weights. An image smaller
  than a tile is reflect-padded and cropped back. Tiles go through the network in batches of at most `TILE_BATCH`.
- `tiled-tilestats`: `tiled`, but every BatchNorm normalises each tile by that tile's own mean and variance, as
  training at batch 1 did, instead of by the running statistics (which it leaves unused): the function the
  weights were trained as. Keras and PyTorch evaluate with running statistics, so `tiled` stays the default.

Weights are checkpoints in the suite's export format (`python -m msdr.export`), see `read_checkpoint`. The official
repository publishes none, so `msdr` needs the user's (`--weights msdr=PATH`); the variants ship with the code.
"""

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.common.assets import Store, sha256_file
from bench.common.errors import AssetError, ChecksumError
from bench.methods.checkpoints import load_checkpoint, load_strict
from bench.methods.contract import DerainMethod, MethodSpec, Quantisation, count_parameters
from msdr.model import MSDRNet

Derain = Callable[[torch.Tensor], torch.Tensor]

TILE_OVERLAP = 0.25  # of a tile side
TILE_BATCH = 4  # tiles per network call: bounds memory on large images


# ---- inference protocols: functions of a network that only takes size x size input --------------------------


def _resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """cv2.resize INTER_LINEAR: half-pixel-centred bilinear, no antialiasing (also when shrinking)."""
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=False)


def paper_inference(derain: Derain, x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize N x C x H x W to size x size, derain, resize the result back to H x W."""
    height, width = x.shape[-2:]
    return _resize(derain(_resize(x, size, size)), height, width)


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Offsets of the tiles along one side of `length` >= `tile`: every `stride`, the last one flush with the end."""
    return [*range(0, length - tile, stride), length - tile]


def blend_window(tile: int, *, device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """tile x tile weights: sin^2(pi (i + 1/2) / tile) in each direction, highest in the centre, never zero."""
    ramp = torch.sin(math.pi * (torch.arange(tile, device=device, dtype=dtype) + 0.5) / tile).square()
    return ramp[:, None] * ramp[None, :]


def _reflect_indices(length: int, target: int) -> torch.Tensor:
    """0 .. target - 1 folded into 0 .. length - 1 as reflect padding does (edge not repeated), as often as needed."""
    if length == 1:
        return torch.zeros(target, dtype=torch.long)
    period = 2 * (length - 1)
    index = torch.arange(target) % period
    return torch.where(index < length, index, period - index)


def reflect_pad_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Extend N x C x H x W to at least height x width by reflection at the bottom and right edges."""
    rows = _reflect_indices(x.shape[-2], max(height, x.shape[-2])).to(x.device)
    cols = _reflect_indices(x.shape[-1], max(width, x.shape[-1])).to(x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def tiled_inference(
    derain: Derain, x: torch.Tensor, size: int, overlap: float = TILE_OVERLAP, max_batch: int = TILE_BATCH
) -> torch.Tensor:
    """Derain N x C x H x W by overlapping size x size tiles, blended with `blend_window` (see the module docstring)."""
    stride = size - round(overlap * size)
    if not 0 < stride <= size:
        raise ValueError(f"overlap must leave a stride of 1 to {size} pixels, got {overlap} of a tile")
    height, width = x.shape[-2:]
    padded = reflect_pad_to(x, size, size)
    corners = [
        (top, left)
        for top in tile_starts(padded.shape[-2], size, stride)
        for left in tile_starts(padded.shape[-1], size, stride)
    ]
    window = blend_window(size, device=x.device, dtype=x.dtype)
    blended = torch.zeros_like(padded)
    weight = torch.zeros(padded.shape[-2:], device=x.device, dtype=x.dtype)
    for first in range(0, len(corners), max_batch):
        batch = corners[first : first + max_batch]
        outputs = derain(torch.cat([padded[..., top : top + size, left : left + size] for top, left in batch]))
        for (top, left), output in zip(batch, outputs.split(len(x)), strict=True):
            blended[..., top : top + size, left : left + size] += window * output
            weight[top : top + size, left : left + size] += window
    return (blended / weight)[..., :height, :width]


class TileStatisticsNorm(nn.Module):
    """A trained BatchNorm2d that normalises each sample by its own per-channel mean and (biased) variance, as the
    BatchNorm did in training at batch 1, then applies its affine parameters; its running statistics go unused."""

    def __init__(self, trained: nn.BatchNorm2d):
        super().__init__()
        self.weight, self.bias, self.eps = trained.weight, trained.bias, trained.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


def normalise_by_tile_statistics(net: nn.Module) -> nn.Module:
    """`net` with every BatchNorm2d replaced, in place, by its `TileStatisticsNorm` (sharing its parameters)."""
    for parent in list(net.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, child_name, TileStatisticsNorm(child))
    return net


@dataclass(frozen=True)
class InferenceProtocol:
    """How a network of one fixed input size derains an image of any size."""

    run: Callable[[Derain, torch.Tensor, int], torch.Tensor]
    summary: str  # one line for `ls methods`
    size_policy: str  # the full description stored with the results
    tile_statistics: bool = False  # BatchNorm by each tile's own statistics (`normalise_by_tile_statistics`)


_TILES = (
    f"S x S tiles at native resolution overlapping by {TILE_OVERLAP:g} tile, the last flush with the edge, blended by "
    "a separable sin^2 window normalised by the summed weights; images smaller than a tile reflect-padded at the "
    f"bottom/right and cropped back; at most {TILE_BATCH} tiles per network call; S = the network's image_size"
)
INFERENCE = {
    "paper": InferenceProtocol(
        paper_inference,
        summary="paper protocol: resize to SxS and back",
        size_policy=(
            "paper: resized to S x S ignoring the aspect ratio, derained, resized back to the input size "
            "(bilinear, no antialiasing, as cv2 INTER_LINEAR); S = the network's image_size"
        ),
    ),
    "tiled": InferenceProtocol(
        tiled_inference,
        summary="tiled protocol: blended SxS tiles at native resolution",
        size_policy=f"tiled: {_TILES}",
    ),
    "tiled-tilestats": InferenceProtocol(
        tiled_inference,
        summary="tiled protocol, BatchNorm by each tile's own statistics (as batch-1 training)",
        size_policy=(
            f"tiled-tilestats: {_TILES}; every BatchNorm normalises each tile by its own per-channel mean and biased "
            "variance (as in training at batch 1), running statistics unused"
        ),
        tile_statistics=True,
    ),
}


# ---- checkpoints ---------------------------------------------------------------------------------------------

CHECKPOINT_FORMAT = "derain-bench/msdr/v1"
_CHECKPOINT_KEYS = ("format", "model_config", "state_dict", "training")
_CONFIG_TYPES = {"base_channels": int, "image_size": int, "faithful": bool}
PAPER_CONFIG = {"base_channels": 64, "image_size": 352, "faithful": True}
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"  # checkpoints committed with the code

# msdr/checkpoints/*.pt: how each was trained is in the file ("training") and in docs/msdr-net.md
MSDR_S_SHA256 = "bb969c58dae14be75463dee4167e13bdd1e9ecc1e1a9c32038f6c4288f26f289"
MSDR_M_SHA256 = "eb14d756b6d0236e4b5f05977b0ca3f3f4fc0b4ceae3d232f51e1ccf609c2011"
MSDR_S_TRAINTEST_SHA256 = "9b9e536cd53e9fc28e3e9f206ea200dbd3785d4e69fa0960307d10d9f8c3d114"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint of the export format: `torch.load` gives a dict with exactly `_CHECKPOINT_KEYS`."""

    model_config: dict[str, Any]  # MSDRNet keyword arguments: base_channels, image_size, faithful
    state_dict: dict[str, torch.Tensor]  # float tensors cast to float32 (the export may store fp16)
    training: dict[str, Any]  # how the weights were trained (plain JSON-able data), recorded with the results


def read_checkpoint(path: Path) -> Checkpoint:
    """The export-format checkpoint at `path`; anything else fails with a one-line AssetError."""
    content = load_checkpoint(path)
    if content.get("format") != CHECKPOINT_FORMAT:
        raise AssetError(
            f"{path} is not an MSDR-Net export (format {content.get('format')!r}, expected {CHECKPOINT_FORMAT!r}); "
            "write one with python -m msdr.export"
        )
    if sorted(content) != sorted(_CHECKPOINT_KEYS):
        raise AssetError(f"{path} has keys {sorted(content)}, expected {list(_CHECKPOINT_KEYS)} ({CHECKPOINT_FORMAT})")
    config, state, training = content["model_config"], content["state_dict"], content["training"]
    if not isinstance(config, Mapping) or {k: type(v) for k, v in config.items()} != _CONFIG_TYPES:
        expected = ", ".join(f"{k}: {t.__name__}" for k, t in _CONFIG_TYPES.items())
        raise AssetError(f"{path}: model_config is {config!r}, expected {{{expected}}}")
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AssetError(f"{path}: state_dict is not a mapping of names to tensors")
    if not isinstance(training, Mapping):
        raise AssetError(f"{path}: training is a {type(training).__name__}, expected a dict")
    float32 = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return Checkpoint(dict(config), float32, dict(training))


def verified_committed_checkpoint(name: str, file: str, sha256: str) -> Path:
    """The committed checkpoint `CHECKPOINT_DIR/file`, after checking it against the sha256 declared for it."""
    path = CHECKPOINT_DIR / file
    if not path.is_file():
        raise AssetError(
            f"{name}: checkpoint {path} is missing; train it (python -m bench train --method {name} ...), export it "
            f"there (python -m msdr.export ...) and declare its sha256 in msdr/method.py"
        )
    actual = sha256_file(path)
    if actual != sha256:
        raise ChecksumError(f"{path} has sha256 {actual}, expected {sha256}; restore the committed file")
    return path


# ---- the methods --------------------------------------------------------------------------------------------

_CITATION = (
    "Han, Wang, Pan, Shen, MSDR-Net: Multi-Scale Detail-Recovery Network for Single Image Deraining, "
    "China Automation Congress (CAC) 2022, pp. 4823-4828"
)


@dataclass(frozen=True)
class Variant:
    name: str
    summary: str
    default_inference: str
    why_default: str
    paper_network_only: bool  # accept only checkpoints of PAPER_CONFIG, so a variant never passes as MSDR-Net
    checkpoint: str | None = None  # file under CHECKPOINT_DIR; None: no weights ship with the code
    sha256: str = ""  # of the checkpoint file
    trained_on: str = "your weights: their checkpoint records the training sets (checked at evaluation)"
    training_set: str = "yours"
    trained_on_source: str = "the checkpoint's training record"
    training_overlaps: tuple[tuple[str, str], ...] = ()  # (dataset, why) beyond the checkpoint's own record


_TRAINED_ON_RAINTRAINL = {
    "trained_on": "RainTrainL, the 200 training pairs of Rain100L (dataset raintrainl), as PReNet's Rain100L weights",
    "training_set": "RainTrainL",
}


def _trained_here(name: str, summary: str, sha256: str, section: str, **recorded: Any) -> Variant:
    """A variant trained by this suite: its checkpoint ships as msdr/checkpoints/NAME.pt, docs/msdr-net.md's
    `section` has the command that trained it, and it was trained on RainTrainL unless `recorded` says otherwise."""
    return Variant(
        name=name,
        summary=summary,
        default_inference="tiled",
        why_default="it trains on native-resolution random crops",
        paper_network_only=False,
        checkpoint=f"{name}.pt",
        sha256=sha256,
        trained_on_source=f"docs/msdr-net.md, {section} (the command that trained it)",
        **(_TRAINED_ON_RAINTRAINL | recorded),
    )


_VARIANTS = (
    Variant(
        name="msdr",
        summary="MSDR-Net, the paper's network (S=352), no published weights",
        default_inference="paper",
        why_default="as the official code implies",
        paper_network_only=True,
    ),
    _trained_here(
        "msdr-s",
        "a small MSDR-Net variant trained here on a CPU on RainTrainL, not the paper's network",
        MSDR_S_SHA256,
        "'The committed msdr-s checkpoint'",
    ),
    _trained_here(
        "msdr-m",
        "a wider MSDR-Net variant (half the paper's width) trained here on a CPU on RainTrainL",
        MSDR_M_SHA256,
        "'The committed msdr-m checkpoint'",
    ),
    _trained_here(
        "msdr-s-traintest",
        "the first msdr-s, trained on Rain100H's test images: kept only as the train-on-test example",
        MSDR_S_TRAINTEST_SHA256,
        "'The train-on-test example'",
        trained_on="the 100 mirrored Rain100H *test* pairs' clean images, with light synthetic rain",
        training_set="Rain100H test clean + synthetic rain",
        training_overlaps=(
            ("rain100l", "Rain100L's test images share their backgrounds with Rain100H's, on which it trained"),
            ("rain100l-sample10", "these Rain100L test images share backgrounds with Rain100H's, its training set"),
        ),
    ),
)
VARIANTS = {variant.name: variant for variant in _VARIANTS}


def spec(variant: Variant, inference: str) -> MethodSpec:
    protocol = INFERENCE[inference]
    default = f" (default of `{variant.name}`: {variant.why_default})" if inference == variant.default_inference else ""
    return MethodSpec(
        name=f"{variant.name}@{inference}",
        summary=f"{variant.summary}; {protocol.summary}{default}",
        quantisation=Quantisation.TRUNCATE_SIGNED,
        input_range="BGR float32 in [-1, 1], (u - 127.5) / 127.5 for uint8 u (official script)",
        size_policy=protocol.size_policy,
        inference=inference,
        citation=_CITATION,
        trained_on=variant.trained_on,
        training_set=variant.training_set,
        trained_on_source=variant.trained_on_source,
        training_overlaps=dict(variant.training_overlaps),
    )


class MSDRMethod(DerainMethod):
    """MSDR-Net behind the method contract: conversion to the script's convention and the inference protocol in
    `forward`; weights from an export-format checkpoint, whose model_config builds the network."""

    def __init__(self, spec: MethodSpec, variant: Variant):
        super().__init__(spec, MSDRNet)
        self.variant = variant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self._prepared_net()
        bgr = x.flip(1).mul(255.0).sub(127.5).div(127.5)  # x = u / 255 gives back u exactly in float32
        derained = INFERENCE[self.spec.inference].run(net.derain, bgr, net.image_size)
        return derained.flip(1)

    def weights_location(self, store: Store) -> str:
        return "yours" if self.variant.checkpoint is None else "in repo"

    def parameter_count(self) -> int:
        """The paper's network for `msdr`; the committed checkpoint's configuration for the variants."""
        config = {} if self.variant.checkpoint is None else read_checkpoint(self._declared_weights(None)).model_config
        return _network_parameters(json.dumps(config, sort_keys=True))

    def _declared_weights(self, store: Store | None) -> Path | None:
        if self.variant.checkpoint is None:
            return None
        return verified_committed_checkpoint(self.variant.name, self.variant.checkpoint, self.variant.sha256)

    def _load_network(self, path: Path | None) -> tuple[nn.Module, dict[str, Any]]:
        if path is None:
            raise AssetError(
                "MSDR-Net has no published weights (the official repository ships none): run the shipped "
                "msdr-s instead (--methods msdr-s, trained here on CPU), or train one (python -m bench train "
                "--method msdr), export it (python -m msdr.export ...) and pass --weights msdr=PATH"
            )
        checkpoint = read_checkpoint(path)
        if self.variant.paper_network_only and checkpoint.model_config != PAPER_CONFIG:
            raise AssetError(
                f"{path} holds an MSDR-Net variant {checkpoint.model_config}, not the paper's network {PAPER_CONFIG}; "
                "score variants as msdr-s"
            )
        try:
            net = self._build(**checkpoint.model_config)
        except ValueError as exc:
            raise AssetError(f"{path}: model_config {checkpoint.model_config} is invalid: {exc}") from exc
        load_strict(net, checkpoint.state_dict, path)
        if INFERENCE[self.spec.inference].tile_statistics:
            normalise_by_tile_statistics(net)
        metadata = {
            "format": CHECKPOINT_FORMAT,
            "model_config": checkpoint.model_config,
            "training": checkpoint.training,
        }
        return net, metadata


@functools.cache
def _network_parameters(config_json: str) -> int:
    """Cached: building MSDR-Net takes seconds, its He-normal init runs even on the meta device."""
    return count_parameters(lambda: MSDRNet(**json.loads(config_json)))


def build(name: str) -> MSDRMethod:
    """Registry entry point for `msdr`, its variants and their `@protocol` forms (bare name: the default)."""
    variant_name, _, inference = name.partition("@")
    variant = VARIANTS[variant_name]
    return MSDRMethod(spec(variant, inference or variant.default_inference), variant)
