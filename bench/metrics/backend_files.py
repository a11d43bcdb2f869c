"""The packages and files of the LPIPS and NIQE backends, found before a backend is built, never downloaded.

Both backends keep their model files in torch's hub cache, `torch.hub.get_dir()`: `$TORCH_HOME/hub`
(default `~/.cache/torch/hub`), read at call time. Left alone they download a missing file on first use;
here a missing file raises MetricUnavailableError with one line naming the file, where to put it, the URL
it would come from, and the alternative of a prepared TORCH_HOME.
"""

import importlib
import importlib.metadata
import os
from pathlib import Path
from types import ModuleType

import torch

from bench.assets import sha256_file
from bench.errors import MetricUnavailableError

PREPARED_TORCH_HOME = "../shared/data/torch_home"


def import_backend(column: str, module: str, distribution: str) -> ModuleType:
    """Import a backend package, or say how to install the pinned version this project was checked with."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MetricUnavailableError(
            f"{column} unavailable: cannot import {module} ({exc}); install it with `pip install {distribution}`"
        ) from exc


def version_of(distribution: str) -> str:
    return f"{distribution} {importlib.metadata.version(distribution)}"


def hub_file(column: str, relative: str, what: str, url: str) -> Path:
    """`<torch hub dir>/<relative>`, which must exist: the backend would otherwise download it from `url`."""
    torch_home = os.environ.get("TORCH_HOME")
    remedy = (
        f"put it there (the backend would download it from {url}) or set TORCH_HOME to a prepared cache "
        f"holding hub/{relative}, such as {PREPARED_TORCH_HOME} (TORCH_HOME is {torch_home or 'unset'})"
    )
    return existing_file(column, Path(torch.hub.get_dir()) / relative, what, remedy)


def existing_file(column: str, path: Path, what: str, remedy: str) -> Path:
    if not path.is_file():
        raise MetricUnavailableError(f"{column} unavailable: {what} not found at {path}; {remedy}")
    return path


def file_record(role: str, path: Path) -> dict[str, str]:
    """What a result stores about a file it was computed with (JSON-ready)."""
    return {"role": role, "path": str(path), "sha256": sha256_file(path)}
