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

from bench.errors import writing
from bench.results import IMAGES_FOLDER

if TYPE_CHECKING:  # the report reads saved images without importing the runner (and torch)
    from bench.runner import ScoredImage

RAINY, GROUND_TRUTH = "@rainy", "@ground-truth"


# zlib level of kept images: on a Rain100H image level 1 takes 60 ms and 245 kB, the default 6 takes 160 ms and
# 227 kB (2-core CPU); a run keeps hundreds, a report embeds a few dozen at the default
FAST = 1


def encode_png(image: np.ndarray, level: int = 6) -> bytes:
    """The lossless PNG of a uint8 RGB array (Pillow's encoder writes no timestamp: same array, same bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def write_png(path: Path, image: np.ndarray) -> str:
    """Write `image` as PNG at `path` (folders created) and return the file's sha256."""
    encoded = encode_png(image, FAST)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encoded)
    return hashlib.sha256(encoded).hexdigest()


def image_path(root: Path, folder: str, dataset: str, image: str) -> Path:
    """Where `image` of `dataset` lies under a results folder `root`; `folder` is a method, RAINY or GROUND_TRUTH."""
    return root / IMAGES_FOLDER / folder / dataset / f"{image}.png"


class ImageKeeper:
    """The runner's output sink for `--save-images`: writes into a staging folder inside `out`, made on the
    first image, so that a run refused before its first image leaves nothing behind."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._made_out = not out.exists()
        self._staging: Path | None = None
        self.inputs: dict[str, dict[str, dict[str, str | None]]] = {}  # dataset -> image -> {rainy, clean}

    @property
    def staging(self) -> Path:
        if self._staging is None:
            self.out.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(dir=self.out, prefix=".images-staging-"))
        return self._staging

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
        (self.staging / IMAGES_FOLDER).mkdir(exist_ok=True)  # a run of zero images keeps an empty folder
        return self.staging / IMAGES_FOLDER

    def describe(self) -> dict:
        return {"folder": IMAGES_FOLDER, "format": "PNG, lossless, uint8 RGB as scored", "inputs": self.inputs}

    def discard(self) -> None:
        """Remove what is still staged (all of it when the run failed), and `out` itself if this run made it
        and nothing else is in it."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
        if self._made_out and self.out.is_dir() and not any(self.out.iterdir()):
            self.out.rmdir()
