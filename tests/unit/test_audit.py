"""`bench audit`: which way of scoring reproduces a claimed number. The published PReNet numbers and the committed
full-suite results (reports/reference/full/rain100h) for the stored variants; synthetic outputs, with the claims
computed here from their pixels, for the rest."""

import math
import re

import numpy as np
import pytest
from image_folders import pair_folder
from PIL import Image
from skimage.metrics import structural_similarity

from bench.cli import main

REFERENCE = "reports/reference/full/rain100h"


def _audit(capsys, *args: str) -> tuple[int, dict[str, set[str]], str]:
    code = main(["audit", *args])
    out = capsys.readouterr().out
    reproducing, metric = {}, None
    for line in out.splitlines():
        if match := re.match(r"claimed (\w+) ", line):
            metric = match.group(1)
            reproducing[metric] = set()
        elif "✓ reproduces" in line:
            reproducing[metric].add(line.split("  ")[1].strip())
    return code, reproducing, out


@pytest.fixture
def repository(monkeypatch):
    monkeypatch.chdir(__import__("pathlib").Path(__file__).resolve().parents[2])


def test_prenets_published_numbers_point_to_its_matlab_scripts(repository, capsys):
    code, found, out = _audit(capsys, REFERENCE, "--method", "prenet.rain100h", "--claimed", "psnr=29.46,ssim=0.899")
    assert code == 0
    assert found == {"psnr": {"matlab-double", "basicsr"}, "ssim": {"matlab-double", "basicsr"}}
    assert re.search(r"opencv-fullrange +28\.1409  -1\.3191", out) and re.search(r"\n  rgb +28\.0568  -1\.4032", out)


def test_the_number_msdr_nets_script_prints_points_to_it(repository, capsys):
    code, found, _ = _audit(capsys, REFERENCE, "--method", "prenet.rain100h", "--claimed", "psnr=32.19")
    assert (code, found) == (0, {"psnr": {"msdr-official"}})


def test_a_number_no_protocol_gives_is_said_and_fails(repository, capsys):
    code, found, out = _audit(capsys, REFERENCE, "--method", "prenet.rain100h", "--claimed", "psnr=30.00")
    assert (code, found) == (1, {"psnr": set()})
    assert re.search(r"=> no known protocol reproduces psnr 30\.00; closest: (matlab-double|basicsr) \(-0\.5353\)", out)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """MATLAB's rgb2ycbcr(im2double(x)) Y, times 255, written out here."""
    r, g, b = (rgb[..., k].astype(np.float64) / 255 for k in range(3))
    return (65.481 * r + 128.553 * g + 24.966 * b + 16) / 255 * 255


@pytest.fixture
def outputs(tmp_path):
    """Noisy copies of the ground truths of a small set, as a method's outputs."""
    data = pair_folder(tmp_path / "set", names=("1", "2", "3"), size=(48, 64))
    rng = np.random.default_rng(3)
    folder = tmp_path / "mine"
    folder.mkdir()
    pairs = []
    for name in ("1", "2", "3"):
        clean = np.asarray(Image.open(data / "norain" / f"{name}.png"))
        noise = rng.integers(-8 * int(name), 8 * int(name) + 1, clean.shape)
        output = np.clip(clean.astype(np.int64) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(output).save(folder / f"{name}.png")
        pairs.append((output, clean))
    return folder, data, pairs


def _folder_args(outputs) -> list[str]:
    folder, data, _ = outputs
    return [str(folder), "--rainy-dir", str(data / "rain"), "--clean-dir", str(data / "norain"), "--no-progress"]


def test_a_number_made_under_pooled_mse_points_to_that_variant(outputs, capsys):
    pairs = outputs[2]
    mse = np.mean([np.mean((_luma(a) - _luma(b)) ** 2) for a, b in pairs])  # over the set, not per image
    claim = f"{10 * math.log10(255**2 / mse):.2f}"
    code, found, _ = _audit(capsys, *_folder_args(outputs), "--claimed", f"psnr={claim}")
    assert code == 0 and "matlab-double, MSE pooled over the set" in found["psnr"]
    assert "matlab-double" not in found["psnr"]


def test_skimages_window_and_a_border_crop_are_recognised(outputs, capsys):
    pairs = outputs[2]
    skimage = np.mean([structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in pairs])
    cropped = np.mean([10 * math.log10(255**2 / np.mean((_luma(a) - _luma(b))[4:-4, 4:-4] ** 2)) for a, b in pairs])
    code, found, _ = _audit(capsys, *_folder_args(outputs), "--claimed", f"psnr={cropped:.3f},ssim={skimage:.4f}")
    assert code == 0
    assert "matlab-double, 4-pixel border cropped" in found["psnr"]
    assert "skimage 7x7 uniform window, RGB" in found["ssim"]


@pytest.mark.parametrize(
    ("claim", "said"),
    [("psnr", "expected psnr=VALUE"), ("lpips=0.1", "expected psnr=VALUE"), ("psnr=x", "not a number")],
)
def test_a_bad_claim_is_one_line(repository, capsys, claim, said):
    assert main(["audit", REFERENCE, "--method", "prenet.rain100h", "--claimed", claim]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0]


def test_the_readmes_worked_example_is_the_commands_output(repository, capsys):
    readme = __import__("pathlib").Path("README.md").read_text()
    block = readme[readme.index("$ python -m bench audit") :].split("```")[0].splitlines()
    command = block[0].removeprefix("$ python -m bench ").split()
    assert main(command) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in block[1:] if line.strip() != "..."] == [line for line in out if line in block[1:]]
