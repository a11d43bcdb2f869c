"""`bench conformance`: the official MATLAB scripts, run in GNU Octave, print the suite's numbers.

Real data from the mirror (PReNet outputs on Rain100H, identity on Rain12, and large images tiled from
Rain100H for ssim.m's downsampling path), real official files (sha256-checked), real Octave. Skips with a
reason where Octave or the mirror is missing; `.ci/run` installs Octave.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from anchors import missing_anchor
from matlab_reference import ref_ssim_index, ref_y_double
from PIL import Image

from bench.cli import EXIT_INPUT_ERROR, main
from bench.conformance import check as conformance
from bench.conformance import octave
from bench.conformance.official import OFFICIAL_SCRIPTS
from bench.run.runner import RunConfig

pytestmark = pytest.mark.reference

# (height, width): short sides either side of 384 and 640, portrait and landscape, one past 896 (f = 4)
LARGE_SIZES = [(383, 560), (384, 500), (500, 384), (639, 800), (640, 960), (960, 640), (900, 1300)]


@pytest.fixture(scope="module")
def octave_cli() -> str:
    try:
        return octave.find_octave()
    except octave.OctaveError as exc:
        missing_anchor(str(exc))


def _config(**settings) -> RunConfig:
    return RunConfig(metrics=("psnr", "ssim"), protocols=("matlab-double", "matlab-uint8"), **settings)


def _assert_within_tolerance(report: dict) -> None:
    for check in report["checks"]:
        for metric, agreement in check["metrics"].items():
            assert agreement["max_abs_difference"] <= conformance.TOLERANCE[metric], (check["script"], agreement)
    assert report["passed"]


@pytest.fixture(scope="module")
def real_report(octave_cli, mirror_store, tmp_path_factory) -> dict:
    """PReNet on the first 10 Rain100H images and identity on Rain12, every official script."""
    out = tmp_path_factory.mktemp("conformance") / "real"
    report = conformance.check(
        _config(methods=("prenet.rain100h",), datasets=("rain100h",), limit=10),
        mirror_store,
        out,
        scripts=("all",),
        progress=False,
    )
    identity = conformance.check(
        _config(methods=("identity",), datasets=("rain12",)),
        mirror_store,
        out.with_name("identity"),
        scripts=("all",),
        progress=False,
    )
    return {"prenet": report, "identity": identity, "out": out}


def test_prenet_and_identity_equal_every_official_script(real_report):
    for report in (real_report["prenet"], real_report["identity"]):
        assert {c["script"]["name"] for c in report["checks"]} == {s.name for s in OFFICIAL_SCRIPTS}
        _assert_within_tolerance(report)
    assert real_report["prenet"]["images"] == 10 and real_report["identity"]["images"] == 12


def test_the_folder_holds_what_was_scored(real_report):
    out = real_report["out"]
    saved = json.loads((out / "conformance.json").read_text())
    assert saved["passed"] is True
    results = json.loads((out / "results.json").read_text())
    row = results["runs"][0]["rows"][0]
    output = np.asarray(Image.open(out / "outputs" / "prenet.rain100h" / "rain100h" / f"{row['image']}.png"))
    assert output.dtype == np.uint8 and output.shape == (row["height"], row["width"], 3)
    assert not list(out.parent.glob(".*staging*"))


def test_octave_luma_residual_is_measured_not_hidden(real_report):
    """Octave's rgb2ycbcr(uint8) rounds some exact .5 lumas unlike MATLAB: the residual is reported, small."""
    for report in (real_report["prenet"], real_report["identity"]):
        for check in report["checks"]:
            if check["protocol"] != "matlab-uint8":
                continue
            residual = check["octave_luma_residual"]
            assert residual["psnr"]["max_abs_difference"] < 1e-3 and residual["ssim"]["max_abs_difference"] < 1e-4
            if residual["pixels_differing"] == 0:
                assert residual["psnr"]["max_abs_difference"] < conformance.TOLERANCE["psnr"]


def _large_set(mirror: Path, root: Path) -> Path:
    """Rain100H pairs mirrored out to large sizes (the same padding for rainy and clean)."""
    source = mirror / "datasets" / "Rain100H" / "test" / "small"
    for k, (height, width) in enumerate(LARGE_SIZES, start=1):
        for kind in ("rain", "norain"):
            image = np.asarray(Image.open(source / kind / f"norain-{k}.png").convert("RGB"))
            pad = ((0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0))
            if min(p[1] for p in pad[:2]) < 0:
                image = image[:height, :width]
                pad = ((0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0))
            (root / kind).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.pad(image, pad, mode="symmetric")).save(root / kind / f"large-{k}.png")
    return root


def test_large_images_take_the_downsampling_path(octave_cli, mirror, mirror_store, tmp_path):
    folder = _large_set(mirror, tmp_path / "large")
    report = conformance.check(
        _config(methods=("identity",), dataset_dir=str(folder)),
        mirror_store,
        tmp_path / "out",
        scripts=("all",),
        progress=False,
    )
    _assert_within_tolerance(report)
    prenet_check = next(c for c in report["checks"] if c["script"]["name"] == "prenet")
    for k, (height, width) in enumerate(LARGE_SIZES, start=1):
        official_ssim = prenet_check["per_image"][f"identity/dir:large/large-{k}"]["official"][1]
        rainy, clean = (np.asarray(Image.open(folder / kind / f"large-{k}.png")) for kind in ("rain", "norain"))
        without_downsampling = ref_ssim_index(ref_y_double(rainy) * 255, ref_y_double(clean) * 255)
        if min(height, width) < 384:
            assert official_ssim == pytest.approx(without_downsampling, abs=1e-10)
        else:  # ssim.m downsampled in Octave, and the suite agreed with it (above)
            assert abs(official_ssim - without_downsampling) > 1e-3


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing claimed


def _conformance(capsys, tmp_path, *extra, datasets="rain12"):
    out = tmp_path / "out"
    code = main(
        [
            "conformance",
            "--methods",
            "identity",
            "--datasets",
            datasets,
            "--limit",
            "2",
            "--out",
            str(out),
            "--no-progress",
            *extra,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    return code, err, out


def _fails_in_one_line(code, err, out, expected):
    """Exit 2 and one error line, the last on stderr (progress lines before it say what was under way)."""
    assert code == EXIT_INPUT_ERROR
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1 and err[-1] == errors[0] and expected in errors[0], err
    assert not (out / "conformance.json").exists() and not list(out.parent.glob(".*staging*"))


def test_octave_missing(mirrored_env, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(octave.ENV_OCTAVE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    _fails_in_one_line(*_conformance(capsys, tmp_path), "apt-get install octave octave-image")


def test_octave_path_that_is_not_octave(mirrored_env, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(octave.ENV_OCTAVE, str(tmp_path / "no-octave-here"))
    _fails_in_one_line(*_conformance(capsys, tmp_path), octave.ENV_OCTAVE)


def test_official_file_with_the_wrong_checksum(octave_cli, mirror, capsys, tmp_path, monkeypatch):
    fake = tmp_path / "mirror"
    shutil.copytree(mirror / "official_eval", fake / "official_eval")
    shutil.copytree(mirror / "datasets" / "Rain12", fake / "datasets" / "Rain12")
    psnr_m = fake / "official_eval" / "PReNet" / "statistic" / "psnr.m"
    psnr_m.write_bytes(psnr_m.read_bytes().replace(b"k = 8", b"k = 7"))
    monkeypatch.setenv("DERAIN_BENCH_MIRROR", str(fake))
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    _fails_in_one_line(*_conformance(capsys, tmp_path), "psnr.m has sha256")


def test_an_image_the_script_cannot_read(octave_cli, mirrored_env, capsys, tmp_path, monkeypatch):
    """An output file that is no PNG: Octave's imread fails, and the error names the image."""
    real_write = conformance.write_png

    def corrupt_outputs(path, image):
        real_write(path, image)
        if "outputs" in path.parts:
            path.write_bytes(b"not a png")

    monkeypatch.setattr(conformance, "write_png", corrupt_outputs)
    _fails_in_one_line(*_conformance(capsys, tmp_path), "identity/rain12/rain-001")


def test_a_script_that_errors(octave_cli, mirror_store, tmp_path):
    """A driver error inside Octave (here: a pairs file naming a missing image) is an OctaveError, in words."""
    folder = tmp_path / "prenet"
    OFFICIAL_SCRIPTS[0].install(mirror_store, folder)
    octave.install_drivers(folder)
    (folder / "pairs.tsv").write_text("x/y/z\tmissing.png\talso-missing.png\n")
    with pytest.raises(octave.OctaveError, match=r"prenet script failed in Octave: x/y/z: .*missing\.png"):
        octave.run_driver(octave_cli, folder, "statistic", "prenet", 1)


def test_protocol_without_an_official_script(mirrored_env, capsys, tmp_path):
    _fails_in_one_line(*_conformance(capsys, tmp_path, "--protocols", "opencv-fullrange"), "no official MATLAB script")


def test_out_folder_with_other_files_is_refused(mirrored_env, capsys, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    _fails_in_one_line(*_conformance(capsys, tmp_path), "holds no conformance report")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_a_folder_of_outputs_is_checked_on_the_users_own_files(octave_cli, mirror, mirrored_env, capsys, tmp_path):
    """`conformance --outputs`: the official scripts read the user's files themselves (RGB PNGs named by number,
    as Restormer's script writes them) and print what `score` computed; a greyscale file is read as its RGB copy."""
    rainy = sorted((mirror / "datasets" / "Rain12" / "rain").glob("*.png"))[:3]
    outputs = tmp_path / "mine"
    outputs.mkdir()
    for number, path in enumerate(rainy, start=1):
        image = np.asarray(Image.open(path).convert("RGB"))
        blurred = ((image[:-2, :-2].astype(np.uint16) + image[2:, 2:]) // 2).astype(np.uint8)  # any method
        output = np.pad(blurred, ((1, 1), (1, 1), (0, 0)), mode="edge")
        Image.fromarray(output).convert("L" if number == 3 else "RGB").save(outputs / f"{number}.png")
    out = tmp_path / "out"
    code = main(
        ["conformance", "--outputs", str(outputs), "--dataset", "rain12", "--name", "mine", "--limit", "3",
         "--scripts", "all", "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "conformance.json").read_text())
    _assert_within_tolerance(report)
    assert (report["images"], report["user_files"]) == (3, 2)
    pairs = (out / "octave" / "prenet" / "pairs.tsv").read_text().splitlines()
    assert pairs[0].split("\t")[1] == str(outputs / "1.png") and "outputs/mine" in pairs[2].split("\t")[1]
