"""Training checkpoints: written atomically, read back with `torch.load(..., weights_only=True)`.

A checkpoint is a plain dict (see `msdr.train` for its keys): tensors, and dicts / lists / str / int / float /
bool / None, so loading it never unpickles code. RNG states are stored as the uint8 tensors torch returns.
"""

import os
import tempfile
from pathlib import Path

import torch

from bench.common.errors import BenchError
from bench.methods.checkpoints import load_checkpoint

CHECKPOINT_FORMAT = "derain-bench/msdr/checkpoint/v1"


def save_atomically(payload: dict, path: Path) -> None:
    """Write `payload` to a temporary file beside `path`, then rename it over `path`: a crash leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def load_payload(path: Path, expected_format: str) -> dict:
    """Load a file written by `save_atomically` (`bench.methods.checkpoints.load_checkpoint`), check its "format"."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path} does not exist")
    payload = load_checkpoint(path)
    found = payload.get("format")
    if found != expected_format:
        raise BenchError(f"{path} is not a {expected_format} file (format: {found!r})")
    return payload


def capture_rng(device: torch.device) -> dict:
    """The torch generators in use: the CPU one, and the current CUDA device's when training on CUDA."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {"torch_cpu": torch.get_rng_state(), "torch_cuda": cuda}


def restore_rng(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch_cpu"])
    if device.type == "cuda" and state["torch_cuda"] is not None:
        torch.cuda.set_rng_state(state["torch_cuda"], device)
