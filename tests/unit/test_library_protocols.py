"""`basicsr` and `pyiqa-default` against the libraries themselves.

BasicSR's metric functions are loaded from the installed `basicsr` 1.4.2 files (`.ci/run` installs it with
`--no-deps`), without `import basicsr`: its package __init__ imports every model and a torchvision module that
no longer exists, which is exactly the breakage users meet. pyiqa scores the image files it reads itself.
"""

import importlib.util
import sys
import types
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from anchors import import_pyiqa, missing_anchor
from PIL import Image

from bench.metrics import make_scorer
from bench.metrics.ycbcr import basicsr_y

SHAPES = [(64, 80), (321, 481), (481, 321)]


def _pair(shape, seed):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    noise = rng.integers(-40, 41, (*shape, 3))
    return np.clip(target.astype(int) + noise, 0, 255).astype(np.uint8), target


def _load_file(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def basicsr_metrics():
    """basicsr.metrics.psnr_ssim from the installed files, with only the modules it needs importable."""
    try:
        version = metadata.version("basicsr")
    except metadata.PackageNotFoundError:
        missing_anchor("basicsr not installed (pip install --no-deps --no-build-isolation basicsr==1.4.2)")
    if version != "1.4.2":
        missing_anchor(f"the basicsr protocol follows BasicSR 1.4.2; {version} is installed")
    root = Path(metadata.distribution("basicsr").locate_file("basicsr"))
    saved = {k: v for k, v in sys.modules.items() if k == "basicsr" or k.startswith("basicsr.")}
    try:
        for package in ("basicsr", "basicsr.utils", "basicsr.metrics"):
            module = types.ModuleType(package)
            module.__path__ = []  # a package whose submodules are loaded by hand below
            sys.modules[package] = module
        color_util = _load_file("basicsr.utils.color_util", root / "utils" / "color_util.py")
        sys.modules["basicsr.utils"].bgr2ycbcr = color_util.bgr2ycbcr
        _load_file("basicsr.utils.registry", root / "utils" / "registry.py")
        _load_file("basicsr.metrics.metric_util", root / "metrics" / "metric_util.py")
        yield _load_file("basicsr.metrics.psnr_ssim", root / "metrics" / "psnr_ssim.py")
    finally:
        for key in [k for k in sys.modules if k == "basicsr" or k.startswith("basicsr.")]:
            del sys.modules[key]
        sys.modules.update(saved)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_basicsr_protocol_equals_basicsr(basicsr_metrics, shape):
    pred, target = _pair(shape, seed=shape[0])
    bgr_pred, bgr_target = (np.ascontiguousarray(x[..., ::-1]) for x in (pred, target))  # cv2.imread order
    want_psnr = basicsr_metrics.calculate_psnr(bgr_pred, bgr_target, crop_border=0, test_y_channel=True)
    want_ssim = basicsr_metrics.calculate_ssim(bgr_pred, bgr_target, crop_border=0, test_y_channel=True)
    scores = make_scorer(protocols=("basicsr",))(pred, target)
    assert scores["psnr@basicsr"] == pytest.approx(want_psnr, abs=1e-10)
    assert scores["ssim@basicsr"] == pytest.approx(want_ssim, abs=1e-10)


def test_basicsr_luma_is_bit_identical(basicsr_metrics):
    rgb = np.random.default_rng(3).integers(0, 256, (97, 131, 3), dtype=np.uint8)
    want = basicsr_metrics.to_y_channel(np.ascontiguousarray(rgb[..., ::-1]))[..., 0].astype(np.float64)
    np.testing.assert_array_equal(basicsr_y(rgb), want)


@pytest.mark.parametrize("shape", SHAPES[:2], ids=lambda s: f"{s[0]}x{s[1]}")
def test_pyiqa_default_equals_pyiqa_on_the_image_files(tmp_path, shape):
    """What a pyiqa user gets by passing the two PNG files to the default metrics."""
    pyiqa = import_pyiqa()

    pred, target = _pair(shape, seed=7)
    pred_file, target_file = tmp_path / "pred.png", tmp_path / "target.png"
    Image.fromarray(pred).save(pred_file)
    Image.fromarray(target).save(target_file)
    scores = make_scorer(protocols=("pyiqa-default",))(pred, target)
    for metric in ("psnr", "ssim"):
        want = float(pyiqa.create_metric(metric, device="cpu")(str(pred_file), str(target_file)))
        assert scores[f"{metric}@pyiqa-default"] == want


def test_pyiqa_default_is_not_the_matlab_number():
    """Its SSIM is on YIQ luma, its PSNR on RGB: both off the matlab-double values, as documented."""
    pred, target = _pair((64, 80), seed=9)
    scores = make_scorer(protocols=("pyiqa-default", "matlab-double", "rgb"))(pred, target)
    assert scores["psnr@pyiqa-default"] == pytest.approx(scores["psnr@rgb"], abs=1e-4)  # float32 vs float64
    assert abs(scores["psnr@pyiqa-default"] - scores["psnr@matlab-double"]) > 0.5
