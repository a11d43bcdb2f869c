"""NIQE (Mittal, Soundararajan and Bovik, IEEE SPL 2013) computed by pyiqa (0.1.16): `pyiqa.create_metric("niqe")`.

Column `niqe@pyiqa`: no reference, lower is better.

File: the original LIVE pristine model (`mu_prisparam` 1x36, `cov_prisparam` 36x36) at
`<torch hub dir>/pyiqa/niqe_modelparameters.mat`, the name, URL and cache folder pyiqa itself uses. pyiqa
fixes its cache folder when it is first imported; the path is passed to it explicitly here, so the hub dir
(TORCH_HOME) in force when the scorer is built decides, and pyiqa never looks for a download.

What pyiqa computes (pyiqa/archs/niqe_arch.py with the `niqe` defaults test_y_channel=True, color_space='yiq',
crop_border=0), from a float32 RGB tensor in [0, 1] (uint8 / 255):
- Y = round(255 (0.299 R + 0.587 G + 0.114 B)), the YIQ luma (MATLAB's rgb2gray, used by the original
  release, has the same weights to 3 decimals), not the BT.601 luma with offset 16 of the PSNR protocols;
- the top-left multiple of 96 rows and columns (481x321 -> 480x288); no border crop;
- MSCN coefficients: 7x7 Gaussian window, sigma 7/6 (its weights stored in float32), replicate padding;
- 18 AGGD features per 96x96 patch, and again per 48x48 patch after a MATLAB-style antialiased bicubic
  imresize by 1/2 (computed in float32); the MVG of the 36-feature patches (NaN-free patches only);
- NIQE = sqrt((mu_p - mu) pinv((S_p + S) / 2) (mu_p - mu)') against the pristine model.
pyiqa documents differences of up to ~5% from the MATLAB release (IQA-PyTorch's docs/ResultsCalibra.md).
"""

import math
import warnings
from pathlib import PurePosixPath
from urllib.parse import urlparse

import numpy as np
import scipy.io
import torch

from bench.assets import Store
from bench.errors import MetricUnavailableError
from bench.metrics.backend_files import file_record, hub_file, import_backend, version_of

COLUMN = "niqe@pyiqa"
PATCH = 96


class NiqeMetric:
    """`metric(image)` -> NIQE of one uint8 H x W x 3 RGB image; NaN where no patch can be fitted (a flat image)."""

    column = COLUMN
    needs_reference = False
    non_finite_rule = "omit"  # NIQE is undefined (NaN) on a flat image: left out of the mean, counted and named

    def __init__(self, device: torch.device, store: Store | None = None) -> None:
        pyiqa = import_backend(COLUMN, "pyiqa", "pyiqa==0.1.16")
        from pyiqa.archs.niqe_arch import default_model_urls

        url = default_model_urls["niqe"]
        params_path = hub_file(
            COLUMN, f"pyiqa/{PurePosixPath(urlparse(url).path).name}", "the NIQE pristine parameters", url, store
        )
        try:
            self.model = pyiqa.create_metric("niqe", device=device, pretrained_model_path=str(params_path))
        except (OSError, ValueError, KeyError, scipy.io.matlab.MatReadError) as exc:
            raise MetricUnavailableError(
                f"{COLUMN} unavailable: cannot read mu_prisparam and cov_prisparam from {params_path} ({exc}); "
                f"replace it with the file from {url}"
            ) from exc
        self.device = device
        self.files = [file_record("pristine model (mu_prisparam, cov_prisparam)", params_path)]

    def __call__(self, image: np.ndarray) -> float:
        height, width = image.shape[:2]
        if min(height, width) < PATCH:
            raise ValueError(f"NIQE needs images of at least {PATCH}x{PATCH} pixels (one patch); got {height}x{width}")
        x = torch.tensor(image, device=self.device).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode(), warnings.catch_warnings():
            # raised only when no patch has a fit: torch.cov of zero rows, just before the LinAlgError below
            warnings.filterwarnings("ignore", r"cov\(\): degrees of freedom is <= 0", UserWarning)
            try:
                return self.model(x).item()
            except torch.linalg.LinAlgError:  # every patch flat: no AGGD fit, NaN features, NaN covariance
                return math.nan

    def describe(self) -> dict:
        return {
            "metric": "niqe",
            "variant": "pyiqa",
            "definition": "NIQE (Mittal et al. 2013): distance between the MVG of 36 natural-scene-statistics "
            "features of the image's 96x96 patches (two scales) and the MVG of the LIVE pristine images",
            "implementation": {
                "package": version_of("pyiqa"),
                "call": "pyiqa.create_metric('niqe', pretrained_model_path=...)(rgb) "
                "(test_y_channel=True, color_space='yiq', crop_border=0)",
                "parameters": "original LIVE pristine model (mu_prisparam 1x36, cov_prisparam 36x36)",
                "torch": version_of("torch"),
                "files": self.files,
            },
            "input": "uint8 RGB -> float32 x/255; Y = round(255 (0.299 R + 0.587 G + 0.114 B)) (YIQ luma); "
            f"top-left multiple of {PATCH} rows and columns, no border crop; at least {PATCH}x{PATCH}; "
            "NaN if every patch is flat",
            "higher_is_better": False,
            "needs_reference": False,
            "device": str(self.device),
        }
