"""`run --save-images`: every derained image exactly as scored, as lossless PNG, inside the results folder.

    images/<method>/<dataset>/<image>.png        the output: the uint8 RGB array that was scored
    images/@rainy/<dataset>/<image>.png          the rainy input as decoded (once per image)
    images/@ground-truth/<dataset>/<image>.png   the ground truth as decoded, when the set has one

`@` separates a method from its inference protocol, so no method is named `@rainy`. Each output's sha256 is
recorded in its per-image row (`output_png_sha256`), each input's in the document's `images` section, so a
report can check every file it shows. Files are written into a staging folder that `bench.results` moves into
place before `results.json`: a folder holding results.json holds all its images.
"""

import hashlib
import io
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from bench.results import IMAGES_FOLDER

if TYPE_CHECKING:  # the report reads saved images without importing the runner (and torch)
    from bench.runner import ScoredImage

RAINY, GROUND_TRUTH = "@rainy", "@ground-truth"


def encode_png(image: np.ndarray) -> bytes:
    """The lossless PNG of a uint8 RGB array (Pillow's encoder writes no timestamp: same array, same bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: Path, image: np.ndarray) -> str:
    """Write `image` as PNG at `path` (folders created) and return the file's sha256."""
    encoded = encode_png(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoded)
    return hashlib.sha256(encoded).hexdigest()


def image_path(root: Path, folder: str, dataset: str, image: str) -> Path:
    """Where `image` of `dataset` lies under a results folder `root`; `folder` is a method, RAINY or GROUND_TRUTH."""
    return root / IMAGES_FOLDER / folder / dataset / f"{image}.png"


class ImageKeeper:
    """The runner's output sink for `--save-images`: writes into a staging folder beside the results."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(dir=out, prefix=".images-staging-"))
        self.inputs: dict[str, dict[str, dict[str, str | None]]] = {}  # dataset -> image -> {rainy, clean}

    def __call__(self, scored: "ScoredImage") -> dict:
        image = scored.sample.name
        seen = self.inputs.setdefault(scored.dataset, {})
        if image not in seen:
            rainy = write_png(image_path(self.staging, RAINY, scored.dataset, image), scored.rainy)
            clean = None
            if scored.clean is not None:
                clean = write_png(image_path(self.staging, GROUND_TRUTH, scored.dataset, image), scored.clean)
            seen[image] = {"rainy_png_sha256": rainy, "clean_png_sha256": clean}
        output = write_png(image_path(self.staging, scored.method, scored.dataset, image), scored.derained)
        return {"output_png_sha256": output}

    @property
    def folder(self) -> Path:
        """The staged `images/` folder, for `bench.results.write_results` to move into place."""
        return self.staging / IMAGES_FOLDER

    def describe(self) -> dict:
        return {"folder": IMAGES_FOLDER, "format": "PNG, lossless, uint8 RGB as scored", "inputs": self.inputs}

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
