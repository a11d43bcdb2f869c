"""What makes a result reproducible: seeds, deterministic kernels, and a record of the environment."""

import os
import platform
import random
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

import bench
from bench.checkout import git_state
from bench.errors import BenchError

_RECORDED_PACKAGES = ("torch", "torchvision", "numpy", "pillow", "scikit-image", "scipy")


def seed_everything(seed: int) -> None:
    """Seed every generator in use and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # cuBLAS needs this to be deterministic; it must be set before the first CUDA call
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # torch.use_deterministic_algorithms(True, warn_only=True) without its import of torch._inductor (1.4 s on a
    # 2-core CPU, a third of a 100-image identity run) only to set inductor's flag; nothing here compiles
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def resolve_device(requested: str) -> torch.device:
    """`auto` picks CUDA when available; an explicit `cuda` without a GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    return device


def device_name(device: torch.device) -> str | None:
    """The GPU's name, or the CPU model for a CPU device."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment(device: torch.device) -> dict:
    """Versions, device and threading: everything besides the config that can move a number."""
    cuda = torch.cuda.is_available()
    return {
        "derain_bench": bench.__version__,
        "git": git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in _RECORDED_PACKAGES},
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "device": {
            "type": device.type,
            "name": device_name(device),
            "cpu_threads": torch.get_num_threads(),
        },
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
