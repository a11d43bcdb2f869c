"""What makes a result reproducible: seeds, deterministic kernels, and a record of the environment."""

import os
import platform
import random
import re
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

import bench
from bench.common.checkout import git_state
from bench.common.errors import BenchError

_RECORDED_PACKAGES = ("torch", "torchvision", "numpy", "pillow", "scikit-image", "scipy")
# environment variables that cap the instruction sets the numeric libraries use (and so their rounding)
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR")
# the /proc/cpuinfo flags of the vector extensions that decide which kernels oneDNN, MKL and ATen run
_SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16",
)  # fmt: skip


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
    return _cpuinfo().get("model name") or platform.processor() or None


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def _library_versions() -> dict[str, str | None]:
    """oneDNN's and MKL's versions as torch's build reports them."""
    shown = torch.__config__.show()
    found = {"onednn": r"MKL-DNN v(\S+)", "mkl": r"Math Kernel Library Version ([\d.]+)"}
    return {name: (match.group(1) if (match := re.search(pattern, shown)) else None) for name, pattern in found.items()}


def hardware(device: torch.device) -> dict:
    """What decides the rounding of a forward pass or a metric besides the code: the processor and the vector
    extensions in use, the thread count, the numeric libraries, and the GPU. Two runs with equal records are
    expected to give bit-equal outputs (bench.results.compare holds them to tight tolerances and output checksums)."""
    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    record = {
        "cpu": cpu.get("model name") or platform.processor() or None,
        "cpu_vendor": cpu.get("vendor_id"),
        "cpu_family_model": f"{cpu.get('cpu family', '?')}/{cpu.get('model', '?')}" if cpu else None,
        "cpu_simd": [flag for flag in _SIMD_FLAGS if flag in flags],
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "isa_caps": {name: os.environ[name] for name in ISA_CAPS if name in os.environ},
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        **_library_versions(),
        "device": device.type,
    }
    if device.type == "cuda":
        record |= {
            "gpu": torch.cuda.get_device_name(device),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
        }
    return record


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
        "hardware": hardware(device),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
