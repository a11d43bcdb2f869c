"""`python -m bench` end to end: a good run writes complete results; bad input fails in one line and
writes nothing that looks complete."""

import argparse
import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from image_folders import pair_folder, write_png
from PIL import Image

from bench.cli import EXIT_INPUT_ERROR, build_parser, main
from bench.run.runner import RunConfig

RESULT_FILES = ("results.json", "summary.csv", "per_image.csv")


def _fails_in_one_line(capsys, argv: list[str], out: Path, expected: str) -> str:
    assert main([*argv, "--out", str(out), "--no-progress"]) == EXIT_INPUT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert expected in err[0], err[0]
    assert not any((out / name).exists() for name in RESULT_FILES)
    return err[0]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    monkeypatch.delenv("DERAIN_BENCH_MIRROR", raising=False)
    return tmp_path / "cache"


def _y_matlab(rgb: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr(im2double(x)) luma, written independently of bench.metrics."""
    r, g, b = (rgb[..., i].astype(np.float64) / 255 for i in range(3))
    return 16 / 255 + (65.481 * r + 128.553 * g + 24.966 * b) / 255


def test_identity_on_a_folder_writes_complete_consistent_results(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    out = tmp_path / "out"
    assert main(["run", "--methods", "identity", "--dataset-dir", str(folder), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "psnr@matlab-double" in printed and str(out) in printed

    document = json.loads((out / "results.json").read_text())
    assert document["schema"] == "derain-bench/results/v2"
    assert len(document["config_hash"]) == 16
    assert {"git", "packages", "device", "python"} <= set(document["environment"])
    assert set(document["protocols"]) == {"matlab-double"}
    # version 2: the 2009 ssim.m with automatic downsampling, named in the column's definition
    assert document["protocols"]["matlab-double"]["version"] == 2
    ssim_definition = document["metrics"]["ssim@matlab-double"]["definition"]
    assert ssim_definition["protocol_version"] == 2 and "ssim.m (Zhou Wang 2009" in ssim_definition["ssim_file"]
    (run,) = document["runs"]
    assert run["n"] == 2 and len(run["rows"]) == 2
    assert len(run["dataset_info"]["fingerprint"]) == 64

    # per-image PSNR against an independent computation from the files on disk
    for row in run["rows"]:
        rainy = np.asarray(Image.open(folder / "rain" / f"{row['image']}.png"))
        clean = np.asarray(Image.open(folder / "norain" / f"{row['image']}.png"))
        mse = np.mean((_y_matlab(rainy) - _y_matlab(clean)) ** 2)
        assert row["psnr@matlab-double"] == pytest.approx(10 * math.log10(1 / mse), abs=1e-9)
    mean = np.mean([row["psnr@matlab-double"] for row in run["rows"]])
    assert run["means"]["psnr@matlab-double"] == pytest.approx(mean, abs=1e-12)

    with open(out / "summary.csv") as f:
        summary = list(csv.reader(f))
    assert summary[0] == ["method", "dataset", "n", "psnr@matlab-double", "ssim@matlab-double"]
    assert summary[1][:3] == ["identity", run["dataset"], "2"]
    with open(out / "per_image.csv") as f:
        assert len(list(csv.reader(f))) == 3


def test_config_hash_is_stable_and_sensitive(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    hashes = []
    for i, extra in enumerate([[], [], ["--protocols", "matlab-uint8"]]):
        out = tmp_path / f"out{i}"
        argv = ["run", "--methods", "identity", "--dataset-dir", str(folder), "--out", str(out), "--no-progress"]
        assert main(argv + extra) == 0
        hashes.append(json.loads((out / "results.json").read_text())["config_hash"])
    assert hashes[0] == hashes[1] != hashes[2]


def test_limit_marks_the_run_as_partial(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set", names=("a", "b", "c"))
    out = tmp_path / "out"
    argv = ["run", "--methods", "identity", "--dataset-dir", str(folder), "--limit", "2", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    (run,) = json.loads((out / "results.json").read_text())["runs"]
    assert run["n"] == 2 and run["limited_to"] == 2
    assert "first 2 images only" in capsys.readouterr().out


def test_unknown_method(cache, tmp_path, capsys):
    _fails_in_one_line(
        capsys, ["run", "--methods", "prenet.rain100hh"], tmp_path / "o", "Did you mean: prenet.rain100h"
    )


def test_unknown_dataset(cache, tmp_path, capsys):
    _fails_in_one_line(
        capsys, ["run", "--methods", "identity", "--datasets", "rain100"], tmp_path / "o", "Did you mean"
    )


def test_every_unknown_name_is_reported_at_once(cache, tmp_path, capsys):
    argv = ["run", "--methods", "prenet,foo,brn_tipp", "--datasets", "demo,bar"]
    line = _fails_in_one_line(capsys, argv, tmp_path / "o", "error: 2 problems: (1) Unknown methods 'foo', 'brn_tipp'")
    assert "(2) Unknown dataset 'bar'" in line


def test_unusable_methods_and_missing_datasets_are_reported_together(cache, tmp_path, capsys):
    argv = ["run", "--methods", "msdr,prenet", "--datasets", "rain200h", "--out", str(tmp_path / "o")]
    assert main(argv) == EXIT_INPUT_ERROR
    said, line = capsys.readouterr().err.strip().splitlines()
    assert said == "prenet: its default weights, prenet.rain100h"
    assert line.startswith("error: 3 problems: (1) dataset 'rain200h' is not installed")
    assert "(2) msdr@paper: MSDR-Net has no published weights" in line
    assert "run the shipped msdr-s instead (--methods msdr-s" in line and "python -m bench train --method msdr" in line
    assert "(3) prenet.rain100h: cannot download" in line  # the default weights, not in the empty cache either


def test_a_bare_architecture_name_runs_its_default_weights_under_its_full_name(cache, tmp_path, capsys):
    config = RunConfig(methods=("prenet", "identity"), weights=(("prenet", "mine.pth"),))
    assert config.methods == ("prenet.rain100h", "identity")
    assert config.weights == (("prenet.rain100h", "mine.pth"),)


@pytest.mark.parametrize(
    ("option", "names", "expected"),
    [
        ("--datasets", "demo,demo", "demo named more than once in --datasets; name each once"),
        (
            "--methods",
            "prenet,prenet.rain100h",
            "prenet.rain100h named more than once in --methods (prenet, prenet.rain100h stand for "
            "prenet.rain100h, prenet.rain100h)",
        ),
    ],
)
def test_a_name_given_twice_is_refused(cache, tmp_path, capsys, option, names, expected):
    argv = ["run", "--methods", "identity", option, names]
    _fails_in_one_line(capsys, argv, tmp_path / "o", expected)


def test_truncated_png(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    victim = folder / "norain" / "b.png"
    victim.write_bytes(victim.read_bytes()[:-40])
    _fails_in_one_line(capsys, ["run", "--methods", "identity", "--dataset-dir", str(folder)], tmp_path / "o", "b.png")


def test_missing_ground_truth_file(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    (folder / "norain" / "b.png").unlink()
    _fails_in_one_line(capsys, ["run", "--methods", "identity", "--dataset-dir", str(folder)], tmp_path / "o", "b.png")


def test_size_mismatched_pair(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    write_png(folder / "norain" / "b.png", np.zeros((24, 31, 3), dtype=np.uint8))
    _fails_in_one_line(capsys, ["run", "--methods", "identity", "--dataset-dir", str(folder)], tmp_path / "o", "b.png")


def test_folder_without_recognisable_layout(cache, tmp_path, capsys):
    folder = tmp_path / "mess"
    write_png(folder / "photos" / "x.png", np.zeros((8, 8, 3), dtype=np.uint8))
    _fails_in_one_line(capsys, ["run", "--methods", "identity", "--dataset-dir", str(folder)], tmp_path / "o", "layout")


def test_weights_with_wrong_checksum(cache, tmp_path, capsys):
    mirror = tmp_path / "mirror"
    weights = mirror / "weights/prenet/Rain100H/PReNet6/net_latest.pth"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"not the official weights")
    folder = pair_folder(tmp_path / "set")
    argv = ["run", "--methods", "prenet.rain100h", "--dataset-dir", str(folder), "--mirror", str(mirror)]
    _fails_in_one_line(capsys, argv, tmp_path / "o", "127c0098787c5272f1f8583f6c5202e7ef674f750cd145a1691912a6d9e96210")


def test_missing_weights_offline(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    argv = ["run", "--methods", "prenet.rain100h", "--dataset-dir", str(folder)]
    line = _fails_in_one_line(capsys, argv, tmp_path / "o", "raw.githubusercontent.com/csdwren/PReNet")
    assert str(cache / "weights/prenet/Rain100H/PReNet6/net_latest.pth") in line


def test_existing_results_are_not_overwritten(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    out = tmp_path / "out"
    argv = ["run", "--methods", "identity", "--dataset-dir", str(folder), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    before = (out / "results.json").read_bytes()
    assert main(argv) == EXIT_INPUT_ERROR
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "results.json").read_bytes() == before
    assert main([*argv, "--overwrite"]) == 0


def test_module_entry_point_exits_non_zero_with_one_line(cache, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--methods", "nope", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == EXIT_INPUT_ERROR
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("error: Unknown method 'nope'")


def test_ls_lists_methods_datasets_and_metrics(capsys):
    for what, expected in [("methods", "prenet.rain100h"), ("datasets", "rain1400"), ("metrics", "matlab-double")]:
        assert main(["ls", what]) == 0
        assert expected in capsys.readouterr().out


@pytest.mark.reference
def test_user_weights_replace_declared_ones_and_are_recorded(cache, tmp_path, capsys, mirror):
    user_file = mirror / "weights/prenet/Rain100L/PReNet6/net_latest.pth"
    folder = pair_folder(tmp_path / "set", names=("a",))
    out = tmp_path / "out"
    argv = [
        "run",
        "--methods",
        "prenet.rain100h",
        "--dataset-dir",
        str(folder),
        "--weights",
        f"prenet.rain100h={user_file}",
    ]
    assert main([*argv, "--out", str(out), "--no-progress", "--mirror", str(mirror)]) == 0
    (run,) = json.loads((out / "results.json").read_text())["runs"]
    loaded = run["method_spec"]["loaded_weights"]
    assert loaded["source"] == "user" and loaded["path"] == str(user_file)
    assert loaded["sha256"] == "cb9b743bb33cf6e5c56ba45f8ade93add46266dea9fa582e1934dc5eed942333"  # mirror SHA256SUMS
    assert run["published"] == {}  # the published numbers belong to the official weights


def test_weights_for_a_method_not_being_run(cache, tmp_path, capsys):
    argv = ["run", "--methods", "identity", "--weights", "prenet.rain100h=x.pth"]
    _fails_in_one_line(capsys, argv, tmp_path / "o", "not among --methods")


def test_missing_metric_files_stop_the_run_before_any_work(cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    folder = pair_folder(tmp_path / "set")
    argv = ["run", "--methods", "identity", "--dataset-dir", str(folder), "--metrics", "psnr,lpips"]
    line = _fails_in_one_line(capsys, argv, tmp_path / "o", "alexnet-owt-7be5be79.pth")
    assert "DERAIN_BENCH_MIRROR" in line


def test_skip_unavailable_metrics_completes_the_others_and_records_why(cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    folder = pair_folder(tmp_path / "set")
    out = tmp_path / "out"
    argv = ["run", "--methods", "identity", "--dataset-dir", str(folder), "--metrics", "psnr,lpips", "--out", str(out)]
    assert main([*argv, "--skip-unavailable-metrics", "--no-progress"]) == 0
    document = json.loads((out / "results.json").read_text())
    assert list(document["metrics"]) == ["psnr@matlab-double"]
    assert "alexnet-owt-7be5be79.pth" in document["metrics_skipped"]["lpips@alex-v0.1"]
    assert "skipped lpips@alex-v0.1" in capsys.readouterr().out


def test_rainy_only_folder_refuses_full_reference_metrics(cache, tmp_path, capsys):
    folder = tmp_path / "photos"
    write_png(folder / "street.png", np.full((24, 32, 3), 128, dtype=np.uint8))
    argv = ["run", "--methods", "identity", "--dataset-dir", str(folder), "--no-ground-truth"]
    line = _fails_in_one_line(capsys, argv, tmp_path / "o", "no ground truth")
    assert "--metrics niqe" in line


@pytest.mark.reference
def test_rainy_only_folder_scores_no_reference_metrics(cache, tmp_path, capsys, monkeypatch, mirror):
    monkeypatch.setenv("TORCH_HOME", str(mirror / "torch_home"))
    folder = tmp_path / "photos"
    for name in ("norain-1", "norain-2"):
        rainy = np.asarray(Image.open(mirror / f"datasets/Rain100H/test/small/rain/{name}.png"))
        write_png(folder / f"{name}.png", rainy[:128, :160])
    out = tmp_path / "out"
    argv = ["run", "--methods", "identity", "--dataset-dir", str(folder), "--no-ground-truth", "--metrics", "niqe"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    (run,) = json.loads((out / "results.json").read_text())["runs"]
    assert run["dataset"] == "rainy:photos" and run["n"] == 2
    assert all(row["clean_sha256"] is None and row["niqe@derain-bench"] > 0 for row in run["rows"])


def test_profile_adds_complexity_columns(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    out = tmp_path / "out"
    argv = ["run", "--methods", "identity", "--dataset-dir", str(folder), "--profile", "--profile-runs", "2"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    with open(out / "summary.csv") as f:
        header, row = list(csv.reader(f))
    assert header[-5:] == ["params", "gflops@3x256x256", "latency_ms_median", "latency_ms_p90", "peak_mem_mb"]
    assert row[header.index("params")] == "0"  # identity has no parameters
    (run,) = json.loads((out / "results.json").read_text())["runs"]
    assert run["profile"]["latency"]["n"] == 2


def test_results_of_schema_v1_are_refused_as_incomparable(tmp_path):
    from bench.common.errors import BenchError
    from bench.results.schema import load_results

    (tmp_path / "results.json").write_text(json.dumps({"schema": "derain-bench/results/v1", "runs": []}))
    with pytest.raises(BenchError, match=r"before matlab-double version 2 .* incomparable"):
        load_results(tmp_path)


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_every_option_of_every_command_has_help_text():
    undocumented = [
        f"{parser.prog} {action.dest}"
        for parser in _all_parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert undocumented == []


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_ends_with_three_example_commands(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert lines[-4] == "examples:"
    assert [line.split()[:4] for line in lines[-3:]] == [
        ["python", "-m", "bench", "run"],
        ["python", "-m", "bench", "reproduce"],
        ["python", "-m", "bench", "report"],
    ]


def test_version_names_the_package_version_and_commit(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert re.fullmatch(
        r"derain-bench \d+\.\d+\.\d+ \((commit [0-9a-f]{12}(, uncommitted changes)?|not a git checkout)\)\n",
        capsys.readouterr().out,
    )


def test_a_closed_pipe_ends_the_listing_without_a_traceback():
    listing = subprocess.Popen(
        [sys.executable, "-m", "bench", "ls", "methods"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    listing.stdout.close()  # before the listing is written (imports take longer): as `| head` does, only sooner
    stderr = listing.stderr.read().decode()
    assert listing.wait(timeout=120) == 141
    assert stderr == ""


def test_any_two_folders_are_scored_with_rainy_dir_and_clean_dir(cache, tmp_path, capsys):
    folder = pair_folder(tmp_path / "set")
    out = tmp_path / "out"
    argv = ["run", "--methods", "identity", "--rainy-dir", str(folder / "rain"), "--clean-dir", str(folder / "norain")]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    document = json.loads((out / "results.json").read_text())
    (run,) = document["runs"]
    assert (run["dataset"], run["n"]) == ("dirs:rain+norain", 2)
    assert document["config"]["rainy_dir"] == str(folder / "rain")


def test_rainy_dir_needs_clean_dir(cache, tmp_path, capsys):
    argv = ["run", "--methods", "identity", "--rainy-dir", str(tmp_path)]
    _fails_in_one_line(capsys, argv, tmp_path / "o", "--rainy-dir and --clean-dir go together")


def test_what_the_commands_and_the_documentation_write_is_ignored_by_git():
    """A README step must not make the clone dirty (and every later result's provenance with it): each `--out` of
    the documentation's commands, and each command's default, lies where .gitignore ignores it."""
    import shutil

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repository = Path(__file__).resolve().parents[2]
    pages = [repository / "README.md", *sorted((repository / "docs").glob("*.md"))]
    written = {match for page in pages for match in re.findall(r"--out ([\w./-]+)", page.read_text())}
    written = {path for path in written if path not in ("DIR", "OUT") and not path.startswith("/")}
    report_default = build_parser().parse_args(["report", "results/x"]).out
    assert report_default == Path("results/report.html")
    written |= {str(report_default), "results/20261204-120000-0123abcd/results.json", "runs/msdr"}
    assert len(written) >= 8
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *sorted(written)], cwd=repository, capture_output=True, text=True
    ).stdout.split()
    assert sorted(written) == sorted(ignored)
