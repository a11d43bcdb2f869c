"""LPIPS and NIQE in the scorer: lazy imports, offline errors, skipping, no-reference scoring, describe().

Offline and without the data mirror: the backends (lpips, pyiqa) run for real, on a synthetic torch hub
cache written here (a seeded random AlexNet trunk, an arbitrary NIQE model). The numbers are meaningless;
what is checked is the wiring: which files are looked for and loaded, and what each call returns.
Calibrated values are in tests/reference/test_metrics_calibration.py.
"""

import hashlib
import math
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torchvision

from bench.common.assets import Store
from bench.common.errors import AssetError, UnknownNameError
from bench.metrics import ALL_METRICS, METRICS, PERCEPTUAL_METRICS, MetricUnavailableError, make_scorer

LPIPS, NIQE = "lpips@alex-v0.1", "niqe@derain-bench"
ALEXNET = Path("checkpoints") / "alexnet-owt-7be5be79.pth"
NIQE_PARAMS = Path("pyiqa") / "niqe_modelparameters.mat"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def textured(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def use_torch_home(monkeypatch: pytest.MonkeyPatch, torch_home: Path) -> None:
    """TORCH_HOME is read by torch.hub.get_dir() at call time, unless torch.hub.set_dir() was called."""
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    assert Path(torch.hub.get_dir()) == torch_home / "hub"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Fail the test if anything tries to download or open a connection."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:2])
        raise AssertionError(f"network access attempted: {args[1:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    yield
    assert attempts == []


@pytest.fixture(scope="module")
def synthetic_torch_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torch hub cache holding both backends' files, made up: the trunk is a seeded random AlexNet."""
    home = tmp_path_factory.mktemp("torch_home")
    hub = home / "hub"
    (hub / ALEXNET).parent.mkdir(parents=True)
    torch.manual_seed(0)
    features = {k: v for k, v in torchvision.models.alexnet().state_dict().items() if k.startswith("features.")}
    torch.save(features, hub / ALEXNET)
    (hub / NIQE_PARAMS).parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    scipy.io.savemat(hub / NIQE_PARAMS, {"mu_prisparam": rng.normal(size=(1, 36)), "cov_prisparam": np.eye(36)})
    return home


@pytest.fixture(scope="module")
def scorer(synthetic_torch_home: Path):
    with pytest.MonkeyPatch.context() as mp:
        use_torch_home(mp, synthetic_torch_home)
        return make_scorer(("psnr", "lpips", "niqe"), ("matlab-double",))


# ---------------------------------------------------------------- names and imports


def test_perceptual_metrics_are_registered():
    assert METRICS == ("psnr", "ssim")
    assert set(PERCEPTUAL_METRICS) == {"lpips", "niqe", "niqe-pyiqa"}
    assert ALL_METRICS == ("psnr", "ssim", "lpips", "niqe", "niqe-pyiqa")


@pytest.mark.parametrize(("typo", "meant"), [("lpip", "lpips"), ("niq", "niqe"), ("lpisp", "lpips")])
def test_unknown_metric_suggests_close_names(typo, meant):
    with pytest.raises(UnknownNameError, match=rf"Unknown metric '{typo}'\. Did you mean: {meant}") as caught:
        make_scorer((typo,))
    assert "Available: lpips, niqe, niqe-pyiqa, psnr, ssim" in str(caught.value)


def test_import_and_psnr_scorer_load_no_backend():
    backends = ("torch", "torchvision", "lpips", "pyiqa", "skimage", "cv2")
    code = (
        "import sys, bench.metrics; bench.metrics.make_scorer(('psnr', 'ssim'), ('matlab-double', 'rgb')); "
        f"print(sorted(m for m in {backends!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- missing files, missing packages


@pytest.mark.parametrize(
    ("metric", "column", "missing", "url"),
    [
        ("lpips", LPIPS, ALEXNET, "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
        ("niqe", NIQE, NIQE_PARAMS, "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"),
    ],
)
def test_missing_file_is_one_line_naming_the_places_looked_in_and_the_url(
    metric, column, missing, url, tmp_path, monkeypatch, no_network
):
    use_torch_home(monkeypatch, tmp_path / "home")
    store = Store(cache=tmp_path / "cache", offline=True)
    with pytest.raises(MetricUnavailableError) as caught:
        make_scorer((metric,), store=store)
    message = str(caught.value)
    assert isinstance(caught.value, AssetError)  # a BenchError: the command line prints it as one line
    assert "\n" not in message
    assert message.startswith(f"{column} unavailable:")
    assert (
        f"not found at {tmp_path / 'home/hub' / missing} or {tmp_path / 'cache/torch_home/hub' / missing};" in message
    )
    assert url in message
    assert f"set DERAIN_BENCH_MIRROR to a mirror holding torch_home/hub/{missing.as_posix()}" in message
    assert list(tmp_path.iterdir()) == []  # nothing created, nothing downloaded


@pytest.mark.reference
def test_files_are_found_in_the_mirror_without_torch_home(mirror, tmp_path, monkeypatch, no_network):
    use_torch_home(monkeypatch, tmp_path / "empty_home")
    scorer = make_scorer(("lpips", "niqe"), store=Store(cache=tmp_path / "cache", mirror=mirror, offline=True))
    paths = [f["path"] for m in scorer.perceptual for f in m.describe()["implementation"]["files"]]
    assert str(mirror / "torch_home/hub" / ALEXNET) in paths
    assert str(mirror / "torch_home/hub" / NIQE_PARAMS) in paths


def test_the_users_hub_cache_comes_first_then_the_store_cache(synthetic_torch_home, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    (cache / "torch_home").mkdir(parents=True)
    (cache / "torch_home/hub").symlink_to(synthetic_torch_home / "hub")
    use_torch_home(monkeypatch, tmp_path / "empty_home")
    lpips_from_cache = make_scorer(("lpips",), store=Store(cache=cache, offline=True)).perceptual[0]
    assert lpips_from_cache.describe()["implementation"]["files"][0]["path"] == str(cache / "torch_home/hub" / ALEXNET)
    use_torch_home(monkeypatch, synthetic_torch_home)
    lpips_from_hub = make_scorer(("lpips",), store=Store(cache=cache, offline=True)).perceptual[0]
    assert lpips_from_hub.describe()["implementation"]["files"][0]["path"] == str(
        synthetic_torch_home / "hub" / ALEXNET
    )


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # makes `import lpips` fail
    with pytest.raises(MetricUnavailableError, match=r"cannot import .* `pip install lpips==0\.1\.4`"):
        make_scorer(("lpips",))


def test_pyiqas_own_niqe_without_the_extra_names_the_extra_and_its_licence(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyiqa", None)
    with pytest.raises(MetricUnavailableError) as caught:
        make_scorer(("niqe-pyiqa",))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("niqe@pyiqa unavailable: cannot import pyiqa")
    assert 'pip install "derain-bench[pyiqa]"' in message and "PolyForm-Noncommercial-1.0.0" in message


def test_niqe_needs_no_backend_package(synthetic_torch_home, monkeypatch, no_network):
    """NIQE is computed here (pyiqa's definition in float64), so it works without pyiqa installed."""
    use_torch_home(monkeypatch, synthetic_torch_home)
    monkeypatch.setitem(sys.modules, "pyiqa", None)
    assert math.isfinite(make_scorer(("niqe",))(textured((100, 120), 2), None)[NIQE])


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"not a checkpoint", "not usable torchvision AlexNet weights"), (None, r"\('features\.0\.weight'\)")],
)
def test_unusable_trunk_file_is_one_line(content, reason, tmp_path, monkeypatch):
    use_torch_home(monkeypatch, tmp_path)
    (tmp_path / "hub" / ALEXNET).parent.mkdir(parents=True)
    if content is None:
        torch.save({"classifier.1.weight": torch.zeros(1)}, tmp_path / "hub" / ALEXNET)
    else:
        (tmp_path / "hub" / ALEXNET).write_bytes(content)
    with pytest.raises(MetricUnavailableError, match=reason) as caught:
        make_scorer(("lpips",))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("content", "reason"), [(b"not a mat file", r"truncated"), (None, r"\('mu_prisparam'\)")])
def test_unusable_niqe_parameters_are_one_line(content, reason, tmp_path, monkeypatch):
    use_torch_home(monkeypatch, tmp_path)
    (tmp_path / "hub" / NIQE_PARAMS).parent.mkdir(parents=True)
    if content is None:
        scipy.io.savemat(tmp_path / "hub" / NIQE_PARAMS, {"other": np.zeros(3)})
    else:
        (tmp_path / "hub" / NIQE_PARAMS).write_bytes(content)
    with pytest.raises(MetricUnavailableError, match=rf"cannot read mu_prisparam .*{reason}") as caught:
        make_scorer(("niqe",))
    assert "\n" not in str(caught.value)


def test_skip_unavailable_drops_the_columns_and_says_why(tmp_path, monkeypatch, no_network):
    use_torch_home(monkeypatch, tmp_path)
    scorer = make_scorer(("psnr", "lpips", "niqe"), skip_unavailable=True)
    assert scorer.columns == ["psnr@matlab-double"]
    assert list(scorer.skipped) == [LPIPS, NIQE]
    assert "alexnet-owt-7be5be79.pth" in scorer.skipped[LPIPS]
    assert "niqe_modelparameters.mat" in scorer.skipped[NIQE]
    image = textured((40, 50), 1)
    assert list(scorer(image, image)) == ["psnr@matlab-double"]


# ---------------------------------------------------------------- scoring with the backends


def test_backends_that_find_their_files_stay_offline(synthetic_torch_home, monkeypatch, no_network):
    use_torch_home(monkeypatch, synthetic_torch_home)
    scorer = make_scorer(("lpips", "niqe"))
    image = textured((100, 120), 2)
    assert set(scorer(image, image)) == {LPIPS, NIQE}


def test_building_leaves_the_global_torch_rng_alone(synthetic_torch_home, monkeypatch):
    use_torch_home(monkeypatch, synthetic_torch_home)
    before = torch.random.get_rng_state()
    make_scorer(("lpips", "niqe"))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_columns_and_reference_needs(scorer):
    assert scorer.columns == ["psnr@matlab-double", LPIPS, NIQE]
    assert scorer.reference_columns == ["psnr@matlab-double", LPIPS]
    assert scorer.no_reference_columns == [NIQE]
    assert scorer.skipped == {}


def test_scores_with_and_without_a_reference(scorer):
    pred, target = textured((120, 200), 3), textured((120, 200), 4)
    scores = scorer(pred, target)
    assert list(scores) == scorer.columns
    assert all(type(v) is float for v in scores.values())
    assert scores[LPIPS] > 0
    assert scorer(pred, None) == {NIQE: scores[NIQE]}  # NIQE looks at the prediction only
    assert scorer(pred, pred)[LPIPS] == 0.0


def test_full_reference_only_scorer_refuses_a_missing_target():
    scorer = make_scorer(("psnr", "ssim"))
    assert scorer.no_reference_columns == []
    columns = r"\(columns: psnr@matlab-double, ssim@matlab-double\)"
    with pytest.raises(ValueError, match=rf"no column can be computed without a reference {columns}"):
        scorer(textured((20, 20), 5), None)


def test_perceptual_metrics_ignore_protocols(synthetic_torch_home, monkeypatch):
    use_torch_home(monkeypatch, synthetic_torch_home)
    scorer = make_scorer(("niqe",), ("matlab-double", "rgb"))
    assert scorer.columns == [NIQE]
    assert scorer.protocols == ()


@pytest.mark.parametrize(
    ("shape", "message"),
    [((30, 200), r"LPIPS \(AlexNet\) needs .* at least 31x31 pixels; got 30x200"), ((200, 95), r"NIQE needs .*95")],
)
def test_too_small_images_raise_value_error(scorer, shape, message):
    image = textured(shape, 6)
    with pytest.raises(ValueError, match=message):
        scorer(image, image)


def test_niqe_of_a_flat_image_is_nan(scorer):
    assert np.isnan(scorer(np.full((100, 100, 3), 128, np.uint8), None)[NIQE])


def test_bad_input_is_checked_before_the_backends(scorer):
    with pytest.raises(ValueError, match=r"pred must be uint8 .* float32"):
        scorer(np.zeros((100, 100, 3), np.float32), None)


# ---------------------------------------------------------------- describe()


def test_describe_names_packages_files_and_input_conversion(scorer, synthetic_torch_home):
    description = scorer.describe()
    assert list(description) == scorer.columns
    lpips_entry, niqe_entry = description[LPIPS], description[NIQE]
    for entry, metric, needs_reference in ((lpips_entry, "lpips", True), (niqe_entry, "niqe", False)):
        assert entry["metric"] == metric
        assert entry["higher_is_better"] is False
        assert entry["needs_reference"] is needs_reference
        assert entry["device"] == "cpu"
        assert {"package", "torch", "files"} <= set(entry["implementation"])
    assert description["psnr@matlab-double"]["needs_reference"] is True
    assert lpips_entry["implementation"]["package"] == "lpips 0.1.4"
    assert niqe_entry["implementation"]["package"] == "derain-bench (bench.metrics.niqe_metric)"
    assert "as pyiqa 0.1.16 computes it" in niqe_entry["definition"]
    assert "[-1, 1]" in lpips_entry["input"]
    assert "0.299 R + 0.587 G + 0.114 B" in niqe_entry["input"]

    hub = synthetic_torch_home / "hub"
    lpips_files = {f["path"]: f["sha256"] for f in lpips_entry["implementation"]["files"]}
    assert lpips_files[str(hub / ALEXNET)] == sha256(hub / ALEXNET)  # the file actually loaded
    heads = next(Path(p) for p in lpips_files if p.endswith("weights/v0.1/alex.pth"))
    assert lpips_files[str(heads)] == sha256(heads)
    assert niqe_entry["implementation"]["files"][0]["sha256"] == sha256(hub / NIQE_PARAMS)


def test_lpips_trunk_holds_the_weights_of_the_hub_file(scorer, synthetic_torch_home):
    saved = torch.load(synthetic_torch_home / "hub" / ALEXNET, weights_only=True)
    lpips_metric = next(m for m in scorer.perceptual if m.column == LPIPS)
    loaded = {
        f"features.{name.split('.', 1)[1]}": tensor for name, tensor in lpips_metric.model.net.state_dict().items()
    }
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)


# ---------------------------------------------------------------- device


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_scores_match_cpu(scorer, synthetic_torch_home, monkeypatch):
    use_torch_home(monkeypatch, synthetic_torch_home)
    cuda_scorer = make_scorer(("lpips", "niqe"), device=torch.device("cuda"))
    assert all(entry["device"].startswith("cuda") for entry in cuda_scorer.describe().values())
    pred, target = textured((200, 300), 7), textured((200, 300), 8)
    on_cpu, on_cuda = scorer(pred, target), cuda_scorer(pred, target)
    # float32 convolutions in another order (TF32 off); NIQE runs in float64 after a float32 luma
    assert on_cuda[LPIPS] == pytest.approx(on_cpu[LPIPS], rel=1e-4)
    assert on_cuda[NIQE] == pytest.approx(on_cpu[NIQE], rel=1e-3)
