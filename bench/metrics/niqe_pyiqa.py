"""NIQE computed by pyiqa itself (`pyiqa.create_metric("niqe")`, its defaults), for users who want pyiqa's numbers.

Column `niqe@pyiqa`. Needs the `pyiqa` extra (non-commercial licence), so `--metrics niqe-pyiqa` is opt-in; the
default NIQE column, `niqe@derain-bench`, follows the same definition in float64 without pyiqa
(bench.metrics.niqe_metric). pyiqa computes the luma and the half-scale image in float32 through kernels the CPU
chooses, so this column moves with the CPU by up to 0.17% (docs/drift-gate.md), where the default does not.
The pristine model is the same file, found where the default column finds it, and handed to pyiqa by path so
that it never downloads anything.
"""

import numpy as np
import torch

from bench.common.assets import Store
from bench.metrics.backend_files import file_record, hub_file, version_of
from bench.metrics.niqe_metric import PATCH, PRISTINE_FILE, PRISTINE_URL
from bench.metrics.pyiqa_default import import_pyiqa

COLUMN = "niqe@pyiqa"


class PyiqaNiqeMetric:
    """`metric(image)` -> pyiqa's NIQE of one uint8 H x W x 3 RGB image."""

    column = COLUMN
    needs_reference = False
    non_finite_rule = "omit"  # as the default NIQE column: a flat image has no NIQE

    def __init__(self, device: torch.device, store: Store | None = None) -> None:
        pyiqa = import_pyiqa(COLUMN)
        pristine = hub_file(COLUMN, PRISTINE_FILE, "the NIQE pristine parameters", PRISTINE_URL, store)
        self.device = device
        self.metric = pyiqa.create_metric("niqe", device=device, as_loss=False, pretrained_model_path=str(pristine))
        self.files = [file_record("pristine model (mu_prisparam, cov_prisparam)", pristine)]

    def __call__(self, image: np.ndarray) -> float:
        height, width = image.shape[:2]
        if min(height, width) < PATCH:
            raise ValueError(f"NIQE needs images of at least {PATCH}x{PATCH} pixels (one patch); got {height}x{width}")
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255)
        with torch.inference_mode():
            return float(self.metric(tensor.to(self.device)).item())

    def describe(self) -> dict:
        return {
            "metric": "niqe",
            "variant": "pyiqa",
            "definition": "NIQE (Mittal et al. 2013) as pyiqa 0.1.16 computes it (niqe, its defaults: "
            "test_y_channel=True, color_space='yiq', crop_border=0)",
            "implementation": {
                "package": version_of("pyiqa"),
                "call": "pyiqa.create_metric('niqe', pretrained_model_path=<the pristine file>)(rgb / 255, float32)",
                "licence": "PolyForm-Noncommercial-1.0.0 (the pyiqa extra)",
                "torch": version_of("torch"),
                "files": self.files,
            },
            "input": "uint8 RGB as float32 in [0, 1], N x 3 x H x W; at least 96x96",
            "higher_is_better": False,
            "needs_reference": False,
            "device": str(self.device),
        }
