"""The built-in synthetic demo set: six colour photos bundled in scikit-image's wheel, with seeded rain.

It needs no download, so the whole pipeline can be tried (and tested) anywhere. The photos are the
`skimage.data` images that load from the wheel itself (others need `pooch` downloads): astronaut, rocket
and hubble_deep_field (NASA/SpaceX, public domain), chelsea and coffee (CC0), retina (CC0). Each is
centre-cropped to 4:3 and resized to 320x240, which keeps a CPU run of a small network to seconds.

Rain model, per image, with parameters drawn from one seeded `numpy.random.Generator`:
1. seeds: each pixel starts a streak with probability `density`, at an intensity uniform in [0.5, 1];
2. streaks: the seed map is convolved (wrapping at the borders) with a motion-blur kernel, a line of
   `length` px at `angle` degrees from vertical, softened by a Gaussian of `width` px (thickness, defocus);
3. compositing: screen blending, rainy = 1 - (1 - clean) * (1 - brightness * streaks), which only
   lightens, as rain does, and leaves bright areas bright rather than clipping them flat.
The same seed gives byte-identical PNGs with the same numpy, SciPy and Pillow.
"""

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import data as skdata

DEMO_FOLDER = "demo-v1"  # a new name whenever the generator's output changes
DEMO_SEED = 20170721
DEMO_SIZE = (320, 240)  # width, height
SOURCES = {
    "astronaut": skdata.astronaut,
    "chelsea": skdata.chelsea,
    "coffee": skdata.coffee,
    "hubble": skdata.hubble_deep_field,
    "retina": skdata.retina,
    "rocket": skdata.rocket,
}


@dataclass(frozen=True)
class Streaks:
    angle: float  # degrees from vertical
    length: int  # px
    density: float  # probability that a pixel starts a streak
    width: float  # Gaussian sigma across the streak, px
    brightness: float  # opacity of a single streak at its centre

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "Streaks":
        return cls(
            angle=float(rng.uniform(-25.0, 25.0)),
            length=int(rng.integers(8, 28)),
            density=float(rng.uniform(0.002, 0.008)),
            width=float(rng.uniform(0.4, 1.2)),
            brightness=float(rng.uniform(0.5, 0.9)),
        )


def ensure_demo(datasets_dir: Path) -> Path:
    """The demo folder under `datasets_dir`, generated on first use (atomically: complete or absent)."""
    target = datasets_dir / DEMO_FOLDER
    if target.is_dir():
        return target
    datasets_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=datasets_dir, prefix=f".{DEMO_FOLDER}.", suffix=".part"))
    try:
        write_demo(staging)
        try:
            os.replace(staging, target)
        except OSError:
            if not target.is_dir():  # not merely another process finishing first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_demo(folder: Path, seed: int = DEMO_SEED) -> None:
    """Write `rain/<name>.png` and `norain/<name>.png` for every source image into `folder`."""
    rng = np.random.default_rng(seed)
    (folder / "rain").mkdir(parents=True)
    (folder / "norain").mkdir()
    for name, load in SOURCES.items():
        clean = fit(load(), DEMO_SIZE)
        rainy = add_rain(clean, Streaks.draw(rng), rng)
        Image.fromarray(clean).save(folder / "norain" / f"{name}.png")
        Image.fromarray(rainy).save(folder / "rain" / f"{name}.png")


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crop `image` to the aspect ratio of `size` (width, height), then resize it to `size`."""
    height, width = image.shape[:2]
    crop_w = min(width, round(height * size[0] / size[1]))
    crop_h = min(height, round(width * size[1] / size[0]))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    cropped = Image.fromarray(image[top : top + crop_h, left : left + crop_w])
    return np.asarray(cropped.resize(size, Image.Resampling.LANCZOS))


def add_rain(clean: np.ndarray, streaks: Streaks, rng: np.random.Generator) -> np.ndarray:
    """Composite one layer of rain streaks over an 8-bit RGB image."""
    shape = clean.shape[:2]
    seeds = np.where(rng.random(shape) < streaks.density, rng.uniform(0.5, 1.0, shape), 0.0)
    rain = ndimage.convolve(seeds, streak_kernel(streaks), mode="wrap")
    rain = np.clip(rain * streaks.brightness, 0.0, 1.0)[..., None]
    rainy = 1.0 - (1.0 - clean / 255.0) * (1.0 - rain)
    return np.round(rainy * 255.0).astype(np.uint8)


def streak_kernel(streaks: Streaks) -> np.ndarray:
    """A line of `length` px at `angle`, blurred across by `width`, scaled to a peak of 1."""
    margin = math.ceil(3 * streaks.width)
    size = streaks.length + 2 * margin + 1 - streaks.length % 2  # odd, so the line is centred
    centre = size // 2
    along = np.linspace(-(streaks.length - 1) / 2, (streaks.length - 1) / 2, 4 * streaks.length)
    angle = math.radians(streaks.angle)
    rows = np.round(centre + along * math.cos(angle)).astype(int)
    cols = np.round(centre + along * math.sin(angle)).astype(int)
    kernel = np.zeros((size, size))
    kernel[rows, cols] = 1.0
    kernel = ndimage.gaussian_filter(kernel, streaks.width)
    return kernel / kernel.max()
