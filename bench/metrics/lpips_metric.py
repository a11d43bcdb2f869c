"""LPIPS (Zhang et al., CVPR 2018) computed by the `lpips` package (0.1.4): AlexNet trunk, v0.1 linear heads.

Column `lpips@alex-v0.1`: full reference, lower is better, 0 for identical images.

Files, both checked before the network is built and recorded with their sha256 by `describe()`:
- trunk: torchvision's ImageNet AlexNet weights at `<hub>/checkpoints/alexnet-owt-7be5be79.pth` (`<hub>` as in
  bench.metrics.backend_files: the torch hub cache, else the store's cache or mirror), the
  file (name and URL taken from torchvision's `AlexNet_Weights.IMAGENET1K_V1`) that `lpips.LPIPS(net='alex')`
  would have torchvision download and unpickle. Here the package builds its trunk without weights
  (`pnet_rand=True`) and only `features.*` is copied in from that file, read with `weights_only=True`.
- linear heads: `lpips/weights/v0.1/alex.pth`, shipped inside the lpips wheel and loaded by the package.

Input: uint8 RGB -> float32 `x / 127.5 - 1` in [-1, 1], the package's convention for `normalize=False`.
"""

import pickle
import warnings
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import numpy as np
import torch
from torchvision.models import AlexNet_Weights

from bench.common.assets import Store
from bench.common.errors import MetricUnavailableError
from bench.metrics.backend_files import existing_file, file_record, hub_file, import_backend, version_of

COLUMN = "lpips@alex-v0.1"
# AlexNet's second 3x3 max-pool needs a 3x3 input: conv1 (11x11, stride 4, pad 2) and pool1 (3x3, stride 2)
# shrink a side of 31 to 3, one of 30 to 2
MIN_SIDE = 31


class LpipsMetric:
    """`metric(pred, target)` -> LPIPS of two uint8 H x W x 3 RGB images of one shape."""

    column = COLUMN
    needs_reference = True
    non_finite_rule = "propagate"  # LPIPS is finite for every pair of images: a NaN is a fault, kept visible

    def __init__(self, device: torch.device, store: Store | None = None) -> None:
        lpips = import_backend(COLUMN, "lpips", "lpips==0.1.4")
        url = AlexNet_Weights.IMAGENET1K_V1.url
        trunk_path = hub_file(
            COLUMN, f"checkpoints/{PurePosixPath(urlparse(url).path).name}", "torchvision AlexNet weights", url, store
        )
        heads_path = existing_file(
            COLUMN,
            Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth",
            "the LPIPS v0.1 AlexNet linear heads",
            "reinstall the package: `pip install --force-reinstall lpips==0.1.4`",
        )
        # the random initialisation, overwritten below, must not move the caller's global torch RNG
        with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
            # pnet_rand=True makes the package call torchvision's alexnet(pretrained=False), a deprecated spelling
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.models\._utils")
            model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, model_path=str(heads_path), verbose=False)
        _load_alexnet_features(model.net, trunk_path)
        self.model = model.eval().to(device)
        self.device = device
        self.files = [
            file_record("AlexNet trunk (features.* used)", trunk_path),
            file_record("v0.1 linear heads", heads_path),
        ]

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        height, width = pred.shape[:2]
        if min(height, width) < MIN_SIDE:
            raise ValueError(
                f"LPIPS (AlexNet) needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels; got {height}x{width}"
            )
        with torch.inference_mode(), _exact_cuda_kernels():
            return self.model(self._tensor(pred), self._tensor(target), normalize=False).item()

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        return torch.tensor(image, device=self.device).permute(2, 0, 1)[None].float() / 127.5 - 1

    def describe(self) -> dict:
        return {
            "metric": "lpips",
            "variant": "alex-v0.1",
            "definition": "LPIPS v0.1 (Zhang et al. 2018): AlexNet relu1..relu5 features, each unit-normalised "
            "over channels; squared differences weighted by the learned linear heads, averaged over space, "
            "summed over the five layers",
            "implementation": {
                "package": version_of("lpips"),
                "call": "lpips.LPIPS(net='alex', version='0.1')(pred, target, normalize=False)",
                "backbone": "AlexNet (torchvision layout), features only",
                "torch": version_of("torch"),
                "torchvision": version_of("torchvision"),
                "files": self.files,
            },
            "input": "uint8 RGB -> float32 x/127.5 - 1 in [-1, 1]; no colour conversion, no resizing; "
            f"at least {MIN_SIDE}x{MIN_SIDE}",
            "higher_is_better": False,
            "needs_reference": True,
            "device": str(self.device),
        }


def _load_alexnet_features(trunk: torch.nn.Module, path: Path) -> None:
    """Copy torchvision's `features.<i>.*` into the package's slices, whose layers keep `<i>` as their name."""
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
        trunk.load_state_dict(
            {
                f"{slice_name}.{index}.{param}": weights[f"features.{index}.{param}"]
                for slice_name, block in trunk.named_children()
                for index, layer in block.named_children()
                for param in layer.state_dict()
            }
        )
    except (OSError, EOFError, RuntimeError, KeyError, pickle.UnpicklingError) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise MetricUnavailableError(
            f"{COLUMN} unavailable: {path} is not usable torchvision AlexNet weights ({first_line}); "
            "replace it with the file from torchvision's download URL"
        ) from exc


def _exact_cuda_kernels() -> AbstractContextManager:
    """Deterministic cuDNN convolutions in full float32 (no TF32, no autotuning); no effect on CPU."""
    return torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False)
