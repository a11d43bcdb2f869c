"""`bench report`: one self-contained, byte-stable HTML file from stored results, or a one-line refusal."""

import csv
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from report_runs import NAMES, TOY, toy_run

from bench.cli import main
from bench.common.errors import BenchError
from bench.data.cards import background_labels
from bench.report import render_report

REFERENCE = Path(__file__).resolve().parents[2] / "reports" / "reference"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    return toy_run(tmp_path_factory.mktemp("report") / "run")


@pytest.fixture(scope="module")
def report(run_folder) -> str:
    return render_report([run_folder])


def _copy(folder: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def _edit(folder: Path, change) -> Path:
    document = json.loads((folder / "results.json").read_text())
    change(document)
    (folder / "results.json").write_text(json.dumps(document))
    return folder


def _report_fails(tmp_path: Path, *runs: Path, capsys) -> str:
    out = tmp_path / "report.html"
    capsys.readouterr()  # what earlier runs printed
    assert main(["report", *map(str, runs), "--out", str(out)]) == 2
    assert not out.exists(), "no report is written when one is refused"
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith("error: ")
    return error


def test_the_same_results_give_the_same_bytes(run_folder, report, tmp_path):
    assert render_report([run_folder]) == report
    # and in another process (ids made from object addresses or a random salt would differ there)
    out = tmp_path / "again.html"
    subprocess.run([sys.executable, "-m", "bench", "report", str(run_folder), "--out", str(out)], check=True)
    assert out.read_text(encoding="utf-8") == report


def test_the_report_needs_nothing_outside_the_file(report):
    references = re.findall(r'(?:src|href)="([^"]*)"', report)
    assert references, "the report embeds its images"
    assert all(r.startswith(("data:", "#")) for r in references)
    assert "<link" not in report and "<script src" not in report and "@import" not in report
    assert "default-src 'none'" in report  # the Content-Security-Policy forbids any fetch


def test_all_seven_sections_are_there(report):
    for heading in (
        "1. What was run",
        "2. Leaderboard",
        "3. Paired comparison",
        "4. Protocol spread",
        "5. Plots",
        "6. Visual comparison",
        "7. Provenance",
    ):
        assert heading in report


def test_leaderboard_means_are_the_per_image_means(run_folder, report):
    with open(run_folder / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for method in (TOY, "identity"):
        psnr = [float(r["psnr@matlab-double"]) for r in rows if r["method"] == method]
        expected = sum(psnr) / len(psnr)
        row = re.search(
            rf"<tr><td><code>{re.escape(method)}</code>(?:<br><span class=\"muted\">trained: [^<]*</span>)?</td>"
            r'<td class="num" data-value="8">8</td>\s*'
            r'<td class="num" data-value="([^"]+)">',
            report,
        )
        assert float(row.group(1)) == pytest.approx(expected, abs=1e-12)


def test_paired_comparison_counts_images_won(run_folder, report):
    with open(run_folder / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    toy = {r["image"]: float(r["psnr@matlab-double"]) for r in rows if r["method"] == TOY}
    identity = {r["image"]: float(r["psnr@matlab-double"]) for r in rows if r["method"] == "identity"}
    wins = sum(toy[n] > identity[n] for n in NAMES), sum(toy[n] < identity[n] for n in NAMES)
    section = report[report.index("3. Paired comparison") : report.index("4. Protocol spread")]
    counts = re.findall(r'data-value="(\d+)">\d+</td>', section)[:2]
    leader_first = tuple(map(int, counts))
    assert leader_first in (wins, wins[::-1])
    assert sum(leader_first) == len(NAMES)


def test_visual_comparison_shows_every_tile_and_the_swipe(report):
    section = html.unescape(report[report.index("6. Visual comparison") : report.index("7. Provenance")])
    assert section.count('class="tile"') == 3 * 4  # three images x (rainy, two methods, ground truth)
    # every part of every tile says whose it is: the caption on top, the inset and the error map under them
    for label in ("rainy input", TOY, "identity", "ground truth"):
        assert section.count(f"<figcaption><code>{label}</code>") == 3
        assert section.count(f"<code>{label}</code>: framed square \u00d716, nearest neighbour") == 3
    for label in ("rainy input", TOY, "identity"):
        assert section.count(f"<code>{label}</code>: error map") == 3
    # 48x64 images: a 16-pixel square (a quarter of the shorter side, at least 16) shown 256 // 16 = 16 times over
    assert section.count('class="inset" style="width:256px"') == 3 * 4
    assert section.count('class="swipe"') == 3
    assert section.count("full resolution") >= 3


def test_a_cause_many_runs_share_is_one_warning_naming_them(tmp_path):
    report = html.unescape(render_report([toy_run(tmp_path / "run", save_images=False, extra=("--limit", "3"))]))
    lines = re.findall(r"<li>(partial run[^<]*)</li>", report)
    assert lines == [f"partial run (--limit 3: the first 3 images): {TOY} on dir:run-pairs, identity on dir:run-pairs"]


def test_insets_are_enlarged_by_a_whole_factor_that_fits_a_tile():
    from bench.report.visual import TILE_WIDTH, inset_zoom

    assert [inset_zoom(size) for size in (16, 80, 100, 129, 300)] == [16, 3, 2, 1, 1]
    assert all(inset_zoom(size) * size <= TILE_WIDTH for size in range(16, TILE_WIDTH + 1))


def test_runs_that_kept_no_images_are_named_in_the_visual_section(tmp_path):
    report = render_report([toy_run(tmp_path / "run", save_images=False)])
    section = html.unescape(report[report.index("6. Visual comparison") : report.index("7. Provenance")])
    assert f"{TOY} kept no images (run it with --save-images)" in section
    assert 'class="tile"' not in section


def test_published_numbers_stand_beside_ours_with_a_verdict():
    """The committed full Rain100H run: PReNet's published 29.46 / 0.899 within 0.01 dB / 0.001."""
    report = html.unescape(render_report([REFERENCE / "rain100h.json"]))
    assert "published 29.46, +0.0047 ✓" in report
    assert "published 0.899, +0.0000 ✓" in report
    # Rain100H ships two byte-identical ground truths; the report says so before any table
    assert "rain100h: the ground truths of norain-3, norain-4 are byte-identical files" in report


def test_a_changed_image_is_refused(run_folder, tmp_path, capsys):
    copy = _copy(run_folder, tmp_path)
    (image,) = list((copy / "images" / TOY).glob(f"*/{NAMES[0]}.png"))
    pixels = np.zeros((48, 64, 3), dtype=np.uint8)
    from bench.run.saved_images import write_png

    write_png(image, pixels)
    assert "was altered" in _report_fails(tmp_path, copy, capsys=capsys)


def test_a_deleted_image_is_refused(run_folder, tmp_path, capsys):
    copy = _copy(run_folder, tmp_path)
    shutil.rmtree(copy / "images" / "@ground-truth")
    assert "results folder is incomplete" in _report_fails(tmp_path, copy, capsys=capsys)


def test_a_folder_without_results_is_refused(tmp_path, capsys):
    (tmp_path / "unfinished").mkdir()
    assert "not a finished run" in _report_fails(tmp_path, tmp_path / "unfinished", capsys=capsys)


def test_a_truncated_results_file_is_refused(run_folder, tmp_path, capsys):
    copy = _copy(run_folder, tmp_path)
    text = (copy / "results.json").read_text()
    (copy / "results.json").write_text(text[: len(text) // 2])
    assert "cannot read results" in _report_fails(tmp_path, copy, capsys=capsys)


def test_a_newer_schema_is_refused(run_folder, tmp_path, capsys):
    copy = _edit(_copy(run_folder, tmp_path), lambda d: d.update(schema="derain-bench/results/v9"))
    assert "v9" in _report_fails(tmp_path, copy, capsys=capsys)


def test_runs_scored_under_different_definitions_do_not_merge(run_folder, tmp_path, capsys):
    other = toy_run(tmp_path / "other", seed=1, save_images=False)

    def redefine(document):
        document["metrics"]["psnr@matlab-double"]["definition"]["psnr"] = "something else"

    _edit(other, redefine)
    error = _report_fails(tmp_path, run_folder, other, capsys=capsys)
    assert "psnr@matlab-double is defined differently" in error


def test_two_copies_of_one_dataset_do_not_merge(run_folder, tmp_path, capsys):
    other = toy_run(tmp_path / "run", seed=1, save_images=False)  # same dataset name, other images

    def keep_identity_only(document):
        document["runs"] = [r for r in document["runs"] if r["method"] == "identity"]
        for run in document["runs"]:
            run["method"] = run["method_spec"]["name"] = "identity-again"

    _edit(other, keep_identity_only)
    assert "different copy" in _report_fails(tmp_path, run_folder, other, capsys=capsys)


def test_the_same_run_twice_is_refused(run_folder, tmp_path, capsys):
    copy = _copy(run_folder, tmp_path)
    assert "is in both" in _report_fails(tmp_path, run_folder, copy, capsys=capsys)


def test_no_results_at_all_is_an_error():
    with pytest.raises(BenchError, match="no results given"):
        render_report([])


@pytest.mark.reference
def test_a_run_without_ground_truth_says_what_does_not_apply(tmp_path, mirror, mirrored_env, monkeypatch):
    from image_folders import write_png

    monkeypatch.setenv("TORCH_HOME", str(mirror / "torch_home"))  # NIQE's pristine model
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        write_png(tmp_path / "real" / f"{name}.png", rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
    out = tmp_path / "run"
    args = ["run", "--methods", "identity", "--dataset-dir", str(tmp_path / "real"), "--no-ground-truth"]
    assert main([*args, "--metrics", "niqe", "--out", str(out), "--no-progress", "--save-images"]) == 0
    report = html.unescape(render_report([out]))
    assert (
        "this set has no ground truth (real rain), so PSNR, SSIM, LPIPS, the protocol spread and error maps" in report
    )
    assert "No visual comparison: fewer than two methods" in report


def test_out_naming_a_folder_is_refused(run_folder, tmp_path, capsys):
    assert main(["report", str(run_folder), "--out", str(tmp_path)]) == 2
    assert "is a folder; give the report's file name" in capsys.readouterr().err


def test_a_suite_note_stands_under_its_leaderboard():
    notes = {("prenet.rain100h", "rain100h"): "a note from the suite"}
    assert "Note on <code>prenet.rain100h</code>: a note from the suite." in render_report(
        [REFERENCE / "rain100h.json"], notes=notes
    )


def test_profiled_runs_get_quality_against_cost_with_the_pareto_front(tmp_path):
    out = toy_run(
        tmp_path / "run", save_images=False, extra=("--profile", "--profile-runs", "2", "--profile-warmup", "0")
    )
    report = html.unescape(render_report([out]))
    assert "psnr@matlab-double against GMACs at 3x256x256, Pareto front in red" in report
    assert "psnr@matlab-double against median latency (ms), Pareto front in red" in report
    board = report[report.index("2. Leaderboard") : report.index("3. Paired comparison")]
    assert "GMACs @256²" in board and "latency (ms)" in board


def test_pareto_front_keeps_only_the_points_nothing_beats():
    from bench.report.plots import pareto_front

    points = [("a", 1.0, 20.0), ("b", 2.0, 25.0), ("c", 3.0, 24.0), ("d", 4.0, 30.0), ("e", 2.0, 19.0)]
    assert [p[0] for p in pareto_front(points, higher_is_better=True)] == ["a", "b", "d"]
    assert [p[0] for p in pareto_front(points, higher_is_better=False)] == ["a", "e"]


def test_the_inset_is_the_square_where_the_two_outputs_differ_most():
    """Against a direct search over every window of the same size."""
    from bench.report.visual import difference_region

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    b = a.copy()
    b[40:55, 60:75] = 255 - b[40:55, 60:75]  # a block that differs a lot
    b ^= rng.integers(0, 4, b.shape, dtype=np.uint8)  # and noise everywhere
    top, left, size = difference_region(a, b)
    difference = np.abs(a.astype(int) - b.astype(int)).sum(axis=2)
    sums = {(y, x): difference[y : y + size, x : x + size].sum() for y in range(71 - size) for x in range(91 - size)}
    assert size == 70 // 4
    assert sums[top, left] == max(sums.values())
    assert 40 - size < top <= 55 and 60 - size < left <= 75


def test_each_leaderboard_row_says_what_its_weights_were_trained_on(report):
    """Cross-set rows (weights trained for another set) must be recognisable where they are ranked."""
    board = report.split("<h3>2. Leaderboard</h3>")[1].split("</table>")[0]
    assert '<code>identity</code><br><span class="muted">trained: none</span>' in board


@pytest.mark.parametrize("plot", ["distribution", "sorted_difference"])
def test_the_per_image_plots_do_not_grow_an_svg_element_per_image(plot):
    """Thousands of images (Test2800, SPA-Data) must not make thousands of SVG elements: the dots are one bitmap,
    the sorted differences two filled areas."""
    import base64

    import pandas as pd

    from bench.report import plots

    def svg(n: int) -> str:
        values = np.random.default_rng(n).standard_normal((n, 3))
        if plot == "distribution":
            uri = plots.distribution(pd.DataFrame(values, columns=["a", "b", "c"]), "psnr@rgb")
        else:
            uri = plots.sorted_difference(pd.Series(values[:, 0]), "a", "b", "psnr@rgb")
        return base64.b64decode(uri.partition(",")[2]).decode()

    small, large = svg(50), svg(5000)
    elements = re.compile(r"<(?:path|use|rect|image)\b")
    assert abs(len(elements.findall(large)) - len(elements.findall(small))) < 20  # tick labels may differ
    assert len(large) < 1.5 * len(small) + 100_000


def test_the_paired_statistics_say_when_a_sets_pairs_are_fewer_scenes():
    from bench.report.tables import _scenes

    def scenes(dataset: str, images: list[str]) -> str:
        return _scenes(dataset, background_labels(dataset, images))

    rain100l = [f"rain-{i:03d}" for i in range(1, 101)]
    assert scenes("rain100l", rain100l).startswith("These 100 pairs hold 91 distinct backgrounds (its card's ")
    assert "not 100 independent scenes" in scenes("rain100h", [f"norain-{i}" for i in range(1, 101)])
    assert scenes("rain100l", ["rain-001", "rain-005", "rain-014"]).startswith(
        "These 3 of the set's 100 pairs hold 2 distinct backgrounds"
    )
    assert scenes("rain100l", ["rain-001", "rain-005"]) == ""  # no background twice among them
    assert scenes("rain12", ["rain-001", "rain-002"]) == "" and scenes("dir:mine", ["a", "b"]) == ""


def test_paired_statistics_resample_backgrounds_and_say_so():
    """Rain100H's card groups its nine repeated backgrounds: the bootstrap resamples backgrounds, and says so."""
    report = html.unescape(render_report([REFERENCE / "full" / "rain100h" / "results.json"]))
    section = report[report.index("3. Paired comparison") : report.index("4. Protocol spread")]
    assert "These 100 pairs hold 91 distinct backgrounds" in section
    assert "backgrounds resampled, a background's images in or out together" in section
    assert "images resampled together" not in section


@pytest.mark.parametrize(("threads", "said"), [(1, "1 thread<"), (2, "2 threads<")])
def test_the_device_column_counts_cpu_threads_in_words(run_folder, tmp_path, threads, said):
    def on_cpu(document):
        document["environment"]["device"] = {"type": "cpu", "name": "AMD EPYC", "cpu_threads": threads}

    report = render_report([_edit(_copy(run_folder, tmp_path), on_cpu)])
    assert f"cpu: AMD EPYC, {said}" in report
