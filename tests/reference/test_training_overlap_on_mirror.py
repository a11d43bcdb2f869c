"""msdr-s-traintest was trained on the mirrored Rain100H test pairs: scoring it there says so, in the console and
the results; PReNet's Rain100H weights (trained on RainTrainH without the overlapping backgrounds) and it on the
disjoint Rain12 do not. msdr-s, trained on RainTrainL, says so on Rain12 (8 of whose 12 backgrounds are in it)."""

import json

import pytest

from bench.cli import main

pytestmark = pytest.mark.reference


def _run(tmp_path, capsys, methods, dataset):
    out = tmp_path / dataset
    argv = ["run", "--methods", methods, "--datasets", dataset, "--limit", "1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    runs = {r["method"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    return captured.out + captured.err, runs


def test_msdr_s_on_rain100h_is_flagged(mirrored_env, tmp_path, capsys):
    printed, runs = _run(tmp_path, capsys, "msdr-s-traintest,prenet.rain100h", "rain100h")
    assert "these very images" in runs["msdr-s-traintest@tiled"]["training_overlap"]
    assert "warning: msdr-s-traintest@tiled on rain100h scores training images" in printed
    assert runs["prenet.rain100h"]["training_overlap"] is None


def test_msdr_s_on_rain12_is_not(mirrored_env, tmp_path, capsys):
    printed, runs = _run(tmp_path, capsys, "msdr-s-traintest", "rain12")
    assert runs["msdr-s-traintest@tiled"]["training_overlap"] is None and "training images" not in printed


def test_msdr_s_trained_on_raintrainl_is_flagged_on_rain12_from_its_checkpoints_record(mirrored_env, tmp_path, capsys):
    _, runs = _run(tmp_path, capsys, "msdr-s", "rain12")
    assert runs["msdr-s@tiled"]["training_overlap"].startswith("its checkpoint records training on raintrainl: 8 of")


def test_msdr_s_on_rain100l_sample_is_flagged_for_shared_backgrounds(mirrored_env, tmp_path, capsys):
    _, runs = _run(tmp_path, capsys, "msdr-s-traintest", "rain100l-sample10")
    assert "share backgrounds" in runs["msdr-s-traintest@tiled"]["training_overlap"]
