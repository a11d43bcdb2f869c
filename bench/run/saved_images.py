"""`run --save-images`: every derained image exactly as scored, as lossless PNG, inside the results folder.

    images/<method>/<dataset>/<image>.png        the output: the uint8 RGB array that was scored
    images/@rainy/<dataset>/<image>.png          the rainy input as decoded (once per image)
    images/@ground-truth/<dataset>/<image>.png   the ground truth as decoded, when the set has one

`@` separates a method from its inference protocol, so no method is named `@rainy`. Each output's sha256 is
recorded in its per-image row (`output_png_sha256`), each input's in the document's `images` section, so a
report can check every file it shows. Files are written into a staging folder, `OUT/.images-partial/`, that
`bench.results.schema` moves into place before `results.json`: a folder holding results.json holds all its images. An
interrupted run leaves the staging folder with its journal; resumed, it keeps the images whose files are intact.
"""

import hashlib
import io
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from bench.common.errors import writing
from bench.results.schema import IMAGES_FOLDER

if TYPE_CHECKING:  # the report reads saved images without importing the runner (and torch)
    from bench.run.cell import ScoredImage

RAINY, GROUND_TRUTH = "@rainy", "@ground-truth"
PARTIAL = ".images-partial"  # the staging folder inside a results folder


# zlib level of kept images: on a Rain100H image level 1 takes 60 ms and 245 kB, the default 6 takes 160 ms and
# 227 kB (2-core CPU); a run keeps hundreds, a report embeds a few dozen at the default
FAST = 1


def encode_png(image: np.ndarray, level: int = 6) -> bytes:
    """The lossless PNG of a uint8 RGB array (Pillow's encoder writes no timestamp: same array, same bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def _file_sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


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
    """The runner's output sink for `--save-images`: writes into OUT/.images-partial/, made on the first image, so
    that a run refused before its first image leaves nothing behind."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._made_out = not out.exists()
        self.inputs: dict[str, dict[str, dict[str, str | None]]] = {}  # dataset -> image -> {rainy, clean}

    @property
    def staging(self) -> Path:
        return self.out / PARTIAL

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

    def adopt(self, method: str, dataset: str, image: str, row: dict) -> bool:
        """Keep the files an interrupted attempt wrote for `row`, if its output is there with the recorded sha256
        and its inputs are there (their sha256s are taken from the files)."""
        output = _file_sha256(image_path(self.staging, method, dataset, image))
        rainy = _file_sha256(image_path(self.staging, RAINY, dataset, image))
        clean = _file_sha256(image_path(self.staging, GROUND_TRUTH, dataset, image))
        if output is None or output != row.get("output_png_sha256") or rainy is None:
            return False
        if row.get("clean_sha256") is not None and clean is None:
            return False
        self.inputs.setdefault(dataset, {})[image] = {"rainy_png_sha256": rainy, "clean_png_sha256": clean}
        return True

    @property
    def folder(self) -> Path:
        """The staged `images/` folder, for `bench.results.schema.write_results` to move into place."""
        with writing(self.staging):
            (self.staging / IMAGES_FOLDER).mkdir(parents=True, exist_ok=True)  # zero images: an empty folder
        return self.staging / IMAGES_FOLDER

    def describe(self) -> dict:
        return {"folder": IMAGES_FOLDER, "format": "PNG, lossless, uint8 RGB as scored", "inputs": self.inputs}

    def finish(self) -> None:
        """After the results are written: remove the emptied staging folder."""
        shutil.rmtree(self.staging, ignore_errors=True)

    def abandon(self) -> None:
        """After a failure: keep what is staged, for a resumed run; remove `out` if this run made it, still empty."""
        if self._made_out and self.out.is_dir() and not any(self.out.iterdir()):
            self.out.rmdir()


def discard_partial(out: Path) -> None:
    """`--overwrite`: the images an interrupted run staged in `out` are not this run's."""
    shutil.rmtree(out / PARTIAL, ignore_errors=True)
