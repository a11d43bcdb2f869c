"""pytest-benchmark timings (`nox -s perf`): the PSNR/SSIM kernels per protocol and one forward pass per method.

Marked `perf` and deselected by the default run. `--benchmark-autosave` stores each run under .benchmarks/
(git-ignored, one folder per machine and Python); `--benchmark-compare` compares with the last run saved there.
Timings only compare on the same machine: never gate CI on them.
"""

import numpy as np
import pytest
import torch
from torch import nn

from baselines.prenet import PReNet
from bench.metrics import PROTOCOLS, make_scorer
from msdr import MSDRNet

pytestmark = pytest.mark.perf

PAIR_SHAPE = (321, 481, 3)  # a Rain100H image: 481 wide, 321 high
FORWARD_SIZE = (128, 128)  # (height, width): small enough for a CPU, the side MSDR-Net's small variant takes


def _msdr_small() -> nn.Module:
    return MSDRNet(base_channels=16, image_size=FORWARD_SIZE[0])


NETWORKS = {  # untrained: timing needs no weights
    "identity": nn.Identity,
    "prenet": PReNet,
    "prenet_r": lambda: PReNet(recursive=True),
    "prn": lambda: PReNet(lstm=False),
    "prn_r": lambda: PReNet(lstm=False, recursive=True),
    "msdr_c16": _msdr_small,
}


@pytest.fixture(scope="module")
def image_pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, PAIR_SHAPE, dtype=np.uint8)
    noise = rng.normal(0, 10, PAIR_SHAPE)
    return np.clip(target + noise, 0, 255).astype(np.uint8), target


@pytest.mark.benchmark(group="psnr+ssim of one 481x321 pair")
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_metric_kernels(benchmark, image_pair, protocol):
    scorer = make_scorer(("psnr", "ssim"), (protocol,))
    scores = benchmark(scorer, *image_pair)
    assert set(scores) == {f"psnr@{protocol}", f"ssim@{protocol}"}


@pytest.mark.benchmark(group="lpips / niqe of one 481x321 image")
@pytest.mark.parametrize("metric", ["lpips", "niqe"])
def test_perceptual_metrics(benchmark, image_pair, metric, mirror, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(mirror / "torch_home"))  # the backends' model files, offline
    scorer = make_scorer((metric,))
    pred, target = image_pair
    benchmark.extra_info.update(threads=torch.get_num_threads())
    scores = benchmark(scorer, pred, target)
    assert list(scores) == scorer.columns


@pytest.mark.benchmark(group=f"forward 1x3x{FORWARD_SIZE[0]}x{FORWARD_SIZE[1]}", warmup=True, warmup_iterations=1)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_forward(benchmark, name):
    torch.manual_seed(0)
    net = NETWORKS[name]().eval()
    x = torch.rand(1, 3, *FORWARD_SIZE)
    benchmark.extra_info.update(input_shape=list(x.shape), threads=torch.get_num_threads(), torch=torch.__version__)
    with torch.inference_mode():
        output = benchmark(net, x)
        expected = net(x)  # one more pass outside the timer: the timed passes computed the real output
    outputs = output if isinstance(output, tuple | list) else (output,)
    expected = expected if isinstance(expected, tuple | list) else (expected,)
    assert outputs[0].shape[-2:] == x.shape[-2:]
    assert all(torch.equal(a, b) for a, b in zip(outputs, expected, strict=True))
