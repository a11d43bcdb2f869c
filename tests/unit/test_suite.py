"""`bench reproduce`: suites parse strictly, checks compare published numbers from the weights tables."""

import copy
import json
import re
from pathlib import Path

import pytest

from bench import suite as suites
from bench.cli import main
from bench.common.errors import BenchError, UnknownNameError
from bench.methods.registry import build_method
from bench.report.collect import collect
from bench.report.tables import leaderboard

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reports" / "reference"
REPRODUCTION_DOC = ROOT / "docs" / "reproduction.md"


def _rain100h() -> dict:
    return json.loads((REFERENCE / "rain100h.json").read_text())


def _write_suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["full", "quick"])
def test_shipped_suites_parse_and_name_only_registered_things(name):
    suite = suites.load_suite(name)
    for group in suite.groups:
        for method in group.methods:
            build_method(method)


def test_every_full_suite_check_is_a_number_its_method_publishes():
    for check in suites.load_suite("full").checks:
        published = build_method(check.method).spec.published[check.dataset]
        assert set(check.columns or published) <= set(published), check


def test_the_committed_full_rain100h_run_passes_its_checks():
    suite = suites.load_suite("full")
    verdicts = suites.evaluate(suite, {"rain100h": _rain100h()})
    rain100h = [v for v in verdicts if v["dataset"] == "rain100h"]
    assert len(rain100h) == 8 and all(v["passed"] for v in rain100h)
    prenet = next(v for v in rain100h if v["method"] == "prenet.rain100h" and v["column"] == "psnr@matlab-double")
    assert prenet["published"] == 29.46  # csdwren/PReNet README
    assert prenet["difference"] == pytest.approx(29.4647 - 29.46, abs=1e-4)
    # the Rain12 group was not given: its checks fail as "not run", never pass silently
    assert all(not v["passed"] and v["reason"] == "not run" for v in verdicts if v["dataset"] == "rain12")


def test_the_report_without_a_suite_and_reproduce_agree_on_every_checked_number():
    """The tolerance of a (weights, dataset copy) pair lives in the dataset card, so a report rendered without --suite
    gives every checked number the verdict `bench reproduce` gives it (Rain12's cropped copy: 0.03 dB, not 0.01)."""
    files = [REFERENCE / "rain100h.json", REFERENCE / "rain12.json"]
    documents = {path.stem: json.loads(path.read_text()) for path in files}
    verdicts = [v for v in suites.evaluate(suites.load_suite("full"), documents) if v["reason"] != "not run"]
    collection = collect(files)
    in_report = {}
    for dataset in ("rain100h", "rain12"):
        board = leaderboard(collection, dataset)
        for row in board["rows"]:
            for column, cell in zip(board["columns"], row["cells"], strict=True):
                in_report[row["run"].method, dataset, column.name] = cell["published"]
    assert len(verdicts) == 15
    for verdict in verdicts:
        shown = in_report[verdict["method"], verdict["dataset"], verdict["column"]]
        assert (shown["met"], shown["tolerance"]) == (verdict["passed"], verdict["tolerance"]), verdict
    prenet = in_report["prenet.rain100l", "rain12", "psnr@matlab-double"]
    assert prenet["difference"] == pytest.approx(36.6467 - 36.66, abs=1e-4) and prenet["met"]  # the row
    assert in_report["prenet.rain100h", "rain100h", "psnr@matlab-double"]["tolerance"] == 0.01


def test_the_one_stated_duration_of_the_full_reproduction_is_the_sum_of_its_recorded_wall_times():
    text = " ".join(REPRODUCTION_DOC.read_text().split())  # line breaks fall anywhere in the sentence
    stated = re.search(r"groups took ([\d,]+) s of wall time in all \((\d+) h (\d+) min\) on 2-core CPUs", text)
    shares = re.findall(r"([\d,]+) s on an? (Intel|AMD) (?:Xeon|EPYC) \(", text)  # each CPU kind's part of it
    runs = [json.loads(path.read_text()) for path in sorted((REFERENCE / "full").glob("*/results.json"))]
    total = sum(run["timing"]["wall_s"] for run in runs)
    assert int(stated[1].replace(",", "")) == round(total)
    assert (int(stated[2]), int(stated[3])) == divmod(round(total / 60), 60)
    by_vendor = {vendor: 0.0 for _, vendor in shares}
    for run in runs:  # every run recorded a CPU of a kind the sentence names
        by_vendor[run["environment"]["device"]["name"].split()[0].removesuffix("(R)")] += run["timing"]["wall_s"]
    assert {vendor: int(seconds.replace(",", "")) for seconds, vendor in shares} == {
        vendor: round(seconds) for vendor, seconds in by_vendor.items()
    }
    for elsewhere in (ROOT / "noxfile.py", ROOT / "reports" / "suites" / "full.toml"):
        assert "docs/reproduction.md" in elsewhere.read_text() and "hour" not in elsewhere.read_text(), elsewhere


def test_a_mean_outside_the_tolerance_fails_its_check():
    document = _rain100h()
    run = next(r for r in document["runs"] if r["method"] == "prn.rain100h")
    run["means"]["psnr@matlab-double"] = 28.07 + 0.011
    verdicts = suites.evaluate(suites.load_suite("full"), {"rain100h": document})
    failed = [(v["method"], v["column"]) for v in verdicts if v["dataset"] == "rain100h" and not v["passed"]]
    assert failed == [("prn.rain100h", "psnr@matlab-double")]


def test_a_partial_run_cannot_pass_a_published_check():
    document = _rain100h()
    for run in document["runs"]:
        run["published_withheld"] = "--limit 3: the means are over the first 3 of 100 images"
    verdicts = suites.evaluate(suites.load_suite("full"), {"rain100h": copy.deepcopy(document)})
    assert all(not v["passed"] and "--limit 3" in v["reason"] for v in verdicts if v["dataset"] == "rain100h")


def test_a_reason_for_withholding_published_numbers_is_printed_once_naming_its_runs():
    from bench.cli import _format_summary

    document = _rain100h()
    for run in document["runs"]:
        run["published_withheld"] = "--limit 3: the means are over the first 3 of 100 images"
    lines = [line for line in _format_summary(document).splitlines() if "not shown" in line]
    assert lines == [
        "published numbers not shown (" + ", ".join(f"{run['method']} on rain100h" for run in document["runs"]) + "): "
        "--limit 3: the means are over the first 3 of 100 images"
    ]


def test_unknown_keys_are_errors(tmp_path):
    path = _write_suite(tmp_path, '[[group]]\nname = "g"\nmethods = ["identity"]\ndatasets = ["demo"]\nlimt = 2\n')
    with pytest.raises(BenchError, match=r"unknown key\(s\) limt in group g"):
        suites.load_suite(str(path))


def test_a_check_on_no_group_is_an_error(tmp_path):
    text = '[[group]]\nname = "g"\nmethods = ["identity"]\ndatasets = ["demo"]\n\n'
    path = _write_suite(tmp_path, text + '[[check]]\nmethod = "prenet.rain100h"\ndataset = "rain100h"\n')
    with pytest.raises(BenchError, match="matches no"):
        suites.load_suite(str(path))


def test_an_unknown_suite_name_lists_the_suites():
    with pytest.raises(UnknownNameError, match="Did you mean: quick"):
        suites.load_suite("quik")


def test_reproduce_runs_checks_reports_and_exits_1_on_a_failed_check(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DERAIN_BENCH_OFFLINE", "1")
    text = '[[group]]\nname = "demo"\nmethods = ["identity"]\ndatasets = ["demo"]\nlimit = 2\n\n'
    text += '[[check]]\nmethod = "identity"\ndataset = "demo"\ncolumns = ["psnr@matlab-double"]\n'
    path = _write_suite(tmp_path, text)
    out = tmp_path / "out"
    assert main(["reproduce", "--suite", str(path), "--out", str(out), "--no-progress"]) == 1
    printed = capsys.readouterr().out
    # each group's leaderboard, as `run` prints it
    assert f"group demo ({out / 'demo'}):\nmethod    dataset  n  psnr@matlab-double" in printed
    assert "✗ identity publishes no psnr@matlab-double on demo" in printed
    assert "0 of 1 checks passed" in printed
    verdict = json.loads((out / "reproduce.json").read_text())
    assert verdict["passed"] is False and verdict["groups"] == ["demo"]
    assert (out / "report.html").is_file() and (out / "demo" / "results.json").is_file()
    assert list((out / "demo" / "images" / "identity" / "demo").glob("*.png")), "a reproduction keeps its images"
    # a finished reproduction is not replaced by accident; its report can be rendered again without running
    assert main(["reproduce", "--suite", str(path), "--out", str(out)]) == 2
    (out / "report.html").unlink()
    assert main(["reproduce", "--suite", str(path), "--out", str(out), "--report-only"]) == 1
    assert (out / "report.html").is_file()


def test_reproduce_checks_every_name_before_running_anything(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DERAIN_BENCH_CACHE", str(tmp_path / "cache"))
    text = '[[group]]\nname = "a"\nmethods = ["identity"]\ndatasets = ["demo"]\n\n'
    text += '[[group]]\nname = "b"\nmethods = ["prenett.rain100h"]\ndatasets = ["demo"]\n'
    out = tmp_path / "out"
    assert main(["reproduce", "--suite", str(_write_suite(tmp_path, text)), "--out", str(out)]) == 2
    assert "Unknown method 'prenett.rain100h'" in capsys.readouterr().err
    assert not (out / "a").exists()
