"""Small image folders written by tests: random RGB pairs in the `rain/` + `norain/` layout."""

from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def pair_folder(root: Path, names=("a", "b"), size=(24, 32), seed: int = 0) -> Path:
    """`root/rain/<name>.png` and `root/norain/<name>.png` for each name, independent random noise images."""
    rng = np.random.default_rng(seed)
    for name in names:
        write_png(root / "rain" / f"{name}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        write_png(root / "norain" / f"{name}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return root
