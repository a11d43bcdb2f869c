"""Weights files in the formats deraining releases ship, read without running pickled code.

Every file is opened with `torch.load(weights_only=True)`; a file that needs anything beyond tensors and plain
containers is refused, never loaded more loosely. `read_state_dict` turns each historic layout into the
network's state dict and says what it undid, so the mapping is recorded with the results:

- a plain state dict (PReNet, BRN's ICASSP release);
- a state dict saved from `nn.DataParallel`, every key prefixed `module.` (RecDerain's BRN and SRN);
- a training checkpoint: a dict holding the state dict under `net` beside the step count `clock` and the
  optimiser state `opt` (the RESCAN and SPANet trainers), or under `state_dict` / `model` (common elsewhere).
"""

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.common.errors import AssetError

DATA_PARALLEL_PREFIX = "module."
STATE_DICT_ENTRIES = ("net", "state_dict", "model")  # where training checkpoints keep the network's weights


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


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The network weights in `path`, whatever the historic layout, and what was done to get them:
    `{"entry": "net", "clock": 40000, "stripped_prefix": "module."}` (empty for a plain state dict)."""
    checkpoint = load_checkpoint(path)
    undone: dict[str, Any] = {}
    state = checkpoint
    if not _all_tensors(checkpoint):
        entry = next((key for key in STATE_DICT_ENTRIES if isinstance(checkpoint.get(key), Mapping)), None)
        if entry is None:
            raise AssetError(
                f"{path} is neither a state dict nor a training checkpoint: it has no "
                f"{'/'.join(STATE_DICT_ENTRIES)} entry, and {_few(_non_tensor_keys(checkpoint))} are not tensors"
            )
        state = dict(checkpoint[entry])
        undone["entry"] = entry
        undone |= {key: value for key, value in checkpoint.items() if isinstance(value, int | float | str)}
        _require_tensors(state, path, f"has a '{entry}' entry that is not a state dict")
    if state and all(key.startswith(DATA_PARALLEL_PREFIX) for key in state):
        state = {key.removeprefix(DATA_PARALLEL_PREFIX): value for key, value in state.items()}
        undone["stripped_prefix"] = DATA_PARALLEL_PREFIX
    return state, undone


def _all_tensors(mapping: Mapping) -> bool:
    return not _non_tensor_keys(mapping)


def _non_tensor_keys(mapping: Mapping) -> list[str]:
    return [str(key) for key, value in mapping.items() if not isinstance(value, torch.Tensor)]


def _require_tensors(state: Mapping, path: Path, what: str) -> None:
    if not_tensors := _non_tensor_keys(state):
        raise AssetError(f"{path} {what}: {_few(not_tensors)} not tensors")


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
