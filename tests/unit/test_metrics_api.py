"""bench.metrics inside a training loop: float tensors and uint8 arrays, one image or a batch, give the numbers
`bench run` writes."""

import json

import numpy as np
import pytest
import torch
from image_folders import pair_folder
from PIL import Image

from bench.cli import main
from bench.metrics import PROTOCOLS, make_scorer


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return pair_folder(tmp_path_factory.mktemp("set"), names=("a", "b", "c"), size=(40, 48))


def _arrays(folder, role: str) -> np.ndarray:
    return np.stack([np.asarray(Image.open(folder / role / f"{n}.png")) for n in ("a", "b", "c")])


def test_the_api_on_float_tensors_equals_the_command_line(folder, tmp_path):
    out = tmp_path / "out"
    code = main(
        ["run", "--methods", "identity", "--rainy-dir", str(folder / "rain"), "--clean-dir", str(folder / "norain"),
         "--protocols", "all", "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    rows = json.loads((out / "results.json").read_text())["runs"][0]["rows"]
    scorer = make_scorer(("psnr", "ssim"), tuple(PROTOCOLS))
    rainy = torch.from_numpy(_arrays(folder, "rain")).permute(0, 3, 1, 2).float() / 255  # what a network sees
    scored = scorer.score(rainy, torch.from_numpy(_arrays(folder, "norain")).permute(0, 3, 1, 2))
    for row, api in zip(rows, scored, strict=True):
        assert api == {column: row[column] for column in api}
    assert len(scored[0]) == 14


def test_batched_single_arrays_and_tensors_agree(folder):
    scorer = make_scorer(("psnr", "ssim"), ("matlab-double", "rgb"))
    rainy, clean = _arrays(folder, "rain"), _arrays(folder, "norain")
    batched = scorer.score(rainy, clean)
    assert batched == [scorer.score(r, c)[0] for r, c in zip(rainy, clean, strict=True)]
    assert batched[1] == scorer(rainy[1], clean[1])
    as_tensor = torch.from_numpy(rainy[1]).permute(2, 0, 1)
    assert scorer.score(as_tensor, clean[1]) == [batched[1]]


def test_floats_are_quantised_as_the_test_scripts_do(folder):
    """0.999/255 above a grey level: round keeps the level above, truncate (PReNet's uint8(255 * y)) the one below."""
    clean = np.maximum(_arrays(folder, "norain")[0], 1)  # every level has one below it
    level = torch.from_numpy(clean).permute(2, 0, 1).double()
    almost = (level - 1 + 0.999) / 255
    scorer = make_scorer(("psnr",), ("rgb",))
    assert scorer.score(almost, clean, quantise="round")[0]["psnr@rgb"] == float("inf")
    one_level_below = 10 * np.log10(255.0**2)  # every value off by exactly one level: MSE (1/255)^2
    assert scorer.score(almost, clean, quantise="truncate")[0]["psnr@rgb"] == pytest.approx(one_level_below)


@pytest.mark.parametrize(
    ("pred", "said"),
    [
        (np.zeros((8, 8, 3), np.float32), "arrays must be uint8"),
        (torch.zeros(1, 8, 8), "tensors must be 3 x H x W or N x 3 x H x W"),
        (torch.zeros(3, 8, 8, dtype=torch.int32), "float in [0, 1] or uint8"),
        ([1, 2], "expected a numpy.ndarray or a torch.Tensor"),
    ],
)
def test_what_it_cannot_score_is_said(pred, said):
    with pytest.raises(ValueError, match=said.replace("[", r"\[").replace("]", r"\]")):
        make_scorer(("psnr",), ("rgb",)).score(pred, np.zeros((8, 8, 3), np.uint8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_score_as_cpu_ones(folder):
    rainy = torch.from_numpy(_arrays(folder, "rain")).permute(0, 3, 1, 2).float() / 255
    clean = torch.from_numpy(_arrays(folder, "norain")).permute(0, 3, 1, 2)
    on_cpu = make_scorer(("psnr", "ssim"), ("matlab-double",)).score(rainy, clean)
    on_gpu = make_scorer(("psnr", "ssim"), ("matlab-double",), device="cuda").score(rainy.cuda(), clean.cuda())
    for cpu, gpu in zip(on_cpu, on_gpu, strict=True):
        assert gpu == pytest.approx(cpu, abs=1e-10)
