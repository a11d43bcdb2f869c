"""Scoring a method's saved outputs gives exactly what `bench run` gave when it made them: every protocol, every
image, whatever naming the outputs carry (real PReNet outputs on the mirrored Rain12)."""

import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bench.cli import main

pytestmark = pytest.mark.reference

NAMINGS = {
    "rainy-name": lambda name, n: f"{name}.png",
    "clean-name": lambda name, n: f"norain-{n:03d}.png",
    "other-extension": lambda name, n: f"{name}.tif",  # lossless, so the pixels are the saved ones
    "number": lambda name, n: f"{n}.png",
}


@pytest.fixture(scope="module")
def prenet_run(tmp_path_factory, mirror) -> Path:
    out = tmp_path_factory.mktemp("run") / "prenet"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DERAIN_BENCH_MIRROR", str(mirror))
        env.setenv("DERAIN_BENCH_OFFLINE", "1")
        env.setenv("DERAIN_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        code = main(
            ["run", "--methods", "prenet.rain100l", "--datasets", "rain12", "--limit", "3", "--protocols", "all",
             "--save-images", "--out", str(out), "--no-progress"]
        )  # fmt: skip
    assert code == 0
    return out


@pytest.mark.parametrize("naming", NAMINGS)
def test_score_of_saved_outputs_equals_the_run_that_made_them(prenet_run, tmp_path, mirrored_env, naming):
    saved = prenet_run / "images" / "prenet.rain100l" / "rain12"
    folder = tmp_path / naming
    folder.mkdir()
    for png in saved.glob("*.png"):
        target = folder / NAMINGS[naming](png.stem, int(re.search(r"\d+", png.stem).group()))
        if target.suffix == ".png":
            shutil.copy(png, target)
        else:
            Image.open(png).save(target)
    out = tmp_path / "score"
    code = main(
        ["score", str(folder), "--dataset", "rain12", "--name", "prenet-outputs", "--limit", "3", "--protocols",
         "all", "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    ran = json.loads((prenet_run / "results.json").read_text())["runs"][0]
    scored = json.loads((out / "results.json").read_text())["runs"][0]
    columns = [column for column in ran["means"] if "@" in column]
    assert len(columns) == 14  # PSNR and SSIM under the seven protocols
    for ran_row, scored_row in zip(ran["rows"], scored["rows"], strict=True):
        assert ran_row["image"] == scored_row["image"]
        assert {c: ran_row[c] for c in columns} == {c: scored_row[c] for c in columns}
        assert scored_row["output_file"] == NAMINGS[naming](ran_row["image"], int(ran_row["image"][-3:]))
    assert scored["dataset_info"]["fingerprint"] == ran["dataset_info"]["fingerprint"]
