"""Visual comparison: rainy input | each method | ground truth, on images chosen by a fixed rule.

The images are those where the two leading methods (by the leaderboard's first column) differ most in each
direction, and the median one. Each tile shows the zoomed region where those two outputs differ most, and an
error map |output - ground truth| on one colour scale shared by every tile of that image. Every file shown is
checked against the sha256 its run recorded; a run that kept no images is named, never silently left out.
"""

import base64
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common.errors import BenchError
from bench.data.images import read_image
from bench.report.collect import Collection, StoredRun
from bench.report.tables import ColumnInfo, ranked
from bench.results.schema import IMAGES_FOLDER
from bench.run.saved_images import GROUND_TRUTH, RAINY, encode_png, image_path

TILE_WIDTH = 256  # pixels of a tile, shown 1:1; wider images are downscaled, never the inset
ERROR_WIDTH = TILE_WIDTH // 2  # an error map says where: half the tile's resolution, displayed at its width
ERROR_LEVELS = 32  # an error map's colours: quantised so that it costs a fraction of the image it explains
ERROR_PERCENTILE = 99.5  # the error scale's top: this percentile of the leading method's error
_INSET_COLOUR = np.array([255, 221, 0], dtype=np.uint8)


@dataclass
class Tile:
    label: str
    image: str  # data URI of the (downscaled) image with the inset's frame drawn on it
    inset: str  # data URI of the inset region at full resolution
    inset_zoom: int  # the inset is shown this many times its size, nearest neighbour: every pixel a square
    inset_width: int  # its width on the page, in CSS pixels
    error: str | None  # data URI of the error map, None for the ground truth or without one
    score: str  # the leaderboard column's value on this image


def visual_section(collection: Collection, dataset: str, column: ColumnInfo) -> dict:
    """{"images": [...], "omitted": [...], "a", "b"} or {"reason": why there is no visual comparison}."""
    runs = ranked(collection, dataset, column)
    kept = [r for r in runs if _kept_images(r) and _images_folder_present(r)]
    omitted = [_why_omitted(r) for r in runs if r not in kept]
    if len(kept) < 2:
        return {
            "reason": "fewer than two methods on this set kept their images: run them with --save-images",
            "omitted": omitted,
        }
    a, b = kept[0], kept[1]
    choices = _chosen_images(a, b, column)
    images = [_image_block(collection, dataset, name, why, kept, column, a, b) for name, why in choices]
    return {"images": images, "omitted": omitted, "a": a.method, "b": b.method, "reason": ""}


def _kept_images(run: StoredRun) -> bool:
    if _outputs_folder(run) is not None:  # a scored folder of outputs: the user's own files are shown
        return True
    return "images" in run.document and all("output_png_sha256" in row for row in run.run["rows"])


def _images_folder_present(run: StoredRun) -> bool:
    """False for results copied without their images/ folder (as the drift reference is), or a scored folder of
    outputs that is no longer where it was; a folder that is there but lacks a file is refused when it is needed."""
    outputs = _outputs_folder(run)
    return outputs.is_dir() if outputs is not None else (run.folder / IMAGES_FOLDER).is_dir()


def _outputs_folder(run: StoredRun) -> Path | None:
    spec = run.run["method_spec"]
    return Path(spec["outputs"]["folder"]) if spec.get("kind") == "outputs" else None


def _why_omitted(run: StoredRun) -> str:
    if (outputs := _outputs_folder(run)) is not None:
        return f"{run.method}: its outputs folder {outputs} is not there any more"
    if _kept_images(run):
        return f"{run.method}: its images/ folder is not beside {run.source}'s results (copied without it?)"
    return f"{run.method} kept no images (run it with --save-images)"


def _chosen_images(a: StoredRun, b: StoredRun, column: ColumnInfo) -> list[tuple[str, str]]:
    """The images where a leads b most, the median difference, and where b leads a most (distinct, stable)."""
    b_values = dict(zip((r["image"] for r in b.run["rows"]), b.values(column.name), strict=True))
    sign = 1 if column.higher_is_better else -1
    differences = [
        (sign * (va - b_values[row["image"]]), row["image"])
        for row, va in zip(a.run["rows"], a.values(column.name), strict=True)
        if row["image"] in b_values and math.isfinite(va) and math.isfinite(b_values[row["image"]])
    ]
    if not differences:
        return []
    ordered = sorted(differences)  # ties broken by image name: deterministic
    picks = [
        (ordered[-1][1], _lead(ordered[-1][0], a.method, b.method, "largest", "smallest")),
        (ordered[len(ordered) // 2][1], "median difference"),
        (ordered[0][1], _lead(ordered[0][0], a.method, b.method, "smallest", "largest")),
    ]
    return list({name: (name, why) for name, why in picks}.values())


def _lead(difference: float, a: str, b: str, when_a: str, when_b: str) -> str:
    """Who leads on this image, e.g. "largest lead of A" or, when A leads everywhere, "smallest lead of A"."""
    if difference > 0:
        return f"{when_a} lead of {a}"
    if difference < 0:
        return f"{when_b} lead of {b}"
    return "the two score the same"


def _image_block(
    collection: Collection,
    dataset: str,
    name: str,
    why: str,
    runs: list[StoredRun],
    column: ColumnInfo,
    a: StoredRun,
    b: StoredRun,
) -> dict:
    rainy, clean = _inputs(collection, dataset, name)
    runs = [run for run in runs if any(row["image"] == name for row in run.run["rows"])]  # --limit runs may lack it
    outputs = {run.method: _output(run, name) for run in runs}
    top, left, size = difference_region(outputs[a.method], outputs[b.method])
    errors = {label: _error(image, clean) for label, image in (("rainy input", rainy), *outputs.items())}
    # one scale for every tile of the image, set by the leading method's error (larger errors saturate)
    scale = max(1.0, float(np.percentile(errors[a.method], ERROR_PERCENTILE))) if clean is not None else 1.0
    values = {run.method: run.values(column.name)[[r["image"] for r in run.run["rows"]].index(name)] for run in runs}
    tiles = [_tile("rainy input", rainy, errors["rainy input"], scale, (top, left, size), "")]
    for method, image in outputs.items():
        score = f"{values[method]:.2f}{column.unit}" if column.metric == "psnr" else f"{values[method]:.4f}"
        tiles.append(_tile(method, image, errors[method], scale, (top, left, size), score))
    if clean is not None:
        tiles.append(_tile("ground truth", clean, None, scale, (top, left, size), ""))
    return {
        "name": name,
        "why": why,
        "tiles": tiles,
        "region": {"top": top, "left": left, "size": size},
        "error_scale": scale,
        # the two leading outputs at full resolution, one over the other, for the swipe
        "swipe": (_png_uri(outputs[a.method]), _png_uri(outputs[b.method])),
    }


def _inputs(collection: Collection, dataset: str, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    for source, document in collection.documents:
        recorded = (document.get("images") or {}).get("inputs", {}).get(dataset, {}).get(name)
        if recorded:
            folder = Path(source) if Path(source).is_dir() else Path(source).parent
            rainy = _read(image_path(folder, RAINY, dataset, name), recorded["rainy_png_sha256"])
            clean = None
            if recorded["clean_png_sha256"]:
                clean = _read(image_path(folder, GROUND_TRUTH, dataset, name), recorded["clean_png_sha256"])
            return rainy, clean
    raise BenchError(f"no results folder kept the rainy input {name} of {dataset}")


def _output(run: StoredRun, name: str) -> np.ndarray:
    (row,) = [r for r in run.run["rows"] if r["image"] == name]
    if (outputs := _outputs_folder(run)) is not None:  # the user's file, decoded as it was when scored
        return _read(outputs / row["output_file"], row["output_sha256"])
    return _read(image_path(run.folder, run.method, run.dataset, name), row["output_png_sha256"])


def _read(path: Path, sha256: str) -> np.ndarray:
    """The image at `path`, decoded as the runner decodes inputs, after checking it is the file recorded."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BenchError(f"a kept image is missing: {path} ({exc.strerror}); the results folder is incomplete") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BenchError(f"{path} is not the image its run recorded (sha256 differs): the file was altered since")
    return read_image(path)


def difference_region(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """(top, left, size) of the square window, a quarter of the shorter side, where |a - b| sums highest."""
    height, width = a.shape[:2]
    size = max(16, min(height, width) // 4)
    size = min(size, height, width)
    difference = np.abs(a.astype(np.int32) - b.astype(np.int32)).sum(axis=2).astype(np.int64)
    integral = np.pad(difference.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)  # the first maximum: deterministic
    return int(top), int(left), size


def _error(image: np.ndarray, clean: np.ndarray | None) -> np.ndarray | None:
    if clean is None:
        return None
    return np.abs(image.astype(np.float64) - clean.astype(np.float64)).mean(axis=2)


def _tile(label: str, image: np.ndarray, error, scale: float, region: tuple[int, int, int], score: str) -> Tile:
    top, left, size = region
    inset = image[top : top + size, left : left + size]
    framed = image.copy()
    line = max(2, round(2 * image.shape[1] / TILE_WIDTH))  # about 2 pixels wide once downscaled
    framed[top : top + size, left : left + line] = framed[top : top + size, left + size - line : left + size] = (
        _INSET_COLOUR
    )
    framed[top : top + line, left : left + size] = framed[top + size - line : top + size, left : left + size] = (
        _INSET_COLOUR
    )
    error_uri = _png_uri(colour_map(_downscaled(error, ERROR_WIDTH), scale)) if error is not None else None
    zoom = inset_zoom(size)
    return Tile(label, _png_uri(_downscaled(framed)), _png_uri(inset), zoom, zoom * size, error_uri, score)


def inset_zoom(size: int) -> int:
    """The largest whole factor that keeps an inset of `size` pixels within a tile (at least 1): a whole factor
    shows each pixel as an equal square, where a fractional one would make some pixels wider than others."""
    return max(1, TILE_WIDTH // size)


def colour_map(error: np.ndarray, scale: float) -> np.ndarray:
    """Error in grey levels -> RGB through matplotlib's 'magma', 0 .. `scale` (values above it saturate)."""
    from matplotlib import colormaps

    lookup = (colormaps["magma"](np.linspace(0, 1, ERROR_LEVELS))[:, :3] * 255).round().astype(np.uint8)
    index = np.clip(np.floor(error / scale * ERROR_LEVELS), 0, ERROR_LEVELS - 1).astype(np.intp)
    return lookup[index]


def colour_bar_uri() -> str:
    ramp = np.repeat(np.arange(256, dtype=np.float64)[None, :], 10, axis=0)
    return _png_uri(colour_map(ramp, 255.0))


def _downscaled(image: np.ndarray, most: int = TILE_WIDTH) -> np.ndarray:
    """At most `most` pixels wide (box filter: each pixel the mean of those it covers), uint8 RGB or float map."""
    height, width = image.shape[:2]
    if width <= most:
        return image
    size = (most, max(1, round(height * most / width)))
    if image.ndim == 2:
        return np.asarray(Image.fromarray(image.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def _png_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(np.ascontiguousarray(image))).decode()
