"""The packages and files of the LPIPS and NIQE backends, found before a backend is built, never downloaded.

Both backends keep their model files in torch's hub cache, `torch.hub.get_dir()`: `$TORCH_HOME/hub`
(default `~/.cache/torch/hub`), read at call time. Left alone they download a missing file on first use.
Here a file is looked up, in order, in that hub cache (the user's own, left where it is), then under
`torch_home/hub/` of the asset store's cache and of its mirror (`DERAIN_BENCH_MIRROR`), so the mirror alone
is enough. A file in none of them raises MetricUnavailableError with one line naming the places looked in,
the URL the backend would download from, and the mirror alternative.
"""

import importlib
import importlib.metadata
from pathlib import Path
from types import ModuleType

import torch

from bench.common.assets import ENV_MIRROR, Store, sha256_file
from bench.common.errors import MetricUnavailableError

STORE_HUB = "torch_home/hub"  # where a store's cache and mirror hold hub files


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


def hub_file(column: str, relative: str, what: str, url: str, store: Store | None) -> Path:
    """The first existing `<hub>/<relative>` of the torch hub cache, the store's cache and its mirror."""
    places = [Path(torch.hub.get_dir()) / relative]
    if store is not None:
        places += [root / STORE_HUB / relative for root in (store.cache, store.mirror) if root is not None]
    for place in places:
        if place.is_file():
            return place
    mirror = "" if store is None or store.mirror is None else f" (now {store.mirror})"
    raise MetricUnavailableError(
        f"{column} unavailable: {what} not found at {' or '.join(map(str, places))}; put it at the first "
        f"(the backend would download it from {url}) or set {ENV_MIRROR}{mirror} to a mirror holding "
        f"{STORE_HUB}/{relative}, such as ../shared/data"
    )


def existing_file(column: str, path: Path, what: str, remedy: str) -> Path:
    if not path.is_file():
        raise MetricUnavailableError(f"{column} unavailable: {what} not found at {path}; {remedy}")
    return path


def file_record(role: str, path: Path) -> dict[str, str]:
    """What a result stores about a file it was computed with (JSON-ready)."""
    return {"role": role, "path": str(path), "sha256": sha256_file(path)}
