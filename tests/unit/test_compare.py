"""The drift gate on the committed Rain12 reference document and edited copies of it."""

import copy
import json
import math
from pathlib import Path

import pytest

from bench.common.errors import BenchError
from bench.results.compare import (
    DEFAULT_TOLERANCES,
    HARDWARE_MARGIN,
    HARDWARE_TOLERANCES,
    compare,
    compare_paths,
    describe_tolerances,
    exit_code,
    format_report,
    parse_tolerances,
)
from bench.results.schema import write_json

REFERENCE = Path(__file__).resolve().parents[2] / "reports" / "reference" / "rain12.json"
# tests/bench/hardware_noise.py's measurement, behind HARDWARE_TOLERANCES
HARDWARE_NOISE = REFERENCE.parent / "hardware_noise.json"
PSNR = "psnr@matlab-double"
# what bench.run.provenance.hardware records; the committed document predates it, so the fixtures add it
XEON = {
    "cpu": "Intel(R) Xeon(R) Processor",
    "cpu_vendor": "GenuineIntel",
    "cpu_family_model": "6/167",
    "cpu_simd": ["avx2", "fma", "avx512f"],
    "aten_capability": "AVX512",
    "isa_caps": {},
    "cpu_threads": 2,
    "torch": "2.14.1+cu130",
    "onednn": "3.12.0",
    "mkl": "2024.2",
    "device": "cpu",
}
EPYC = XEON | {
    "cpu": "AMD EPYC 7B13",
    "cpu_vendor": "AuthenticAMD",
    "cpu_family_model": "25/1",
    "cpu_simd": ["avx2", "fma"],
    "aten_capability": "AVX2",
}
SAME_HARDWARE = (
    "BASE and NEW ran on the same hardware: tolerances psnr 0.005 dB absolute, ssim 5e-05 absolute, "
    "lpips 0.1% relative, niqe 0.1% relative and bit-equal output PNGs"
)


@pytest.fixture(scope="module")
def reference() -> dict:
    document = json.loads(REFERENCE.read_text(encoding="utf-8"))
    document["environment"]["hardware"] = XEON
    return document


@pytest.fixture
def base(reference) -> dict:
    return copy.deepcopy(reference)


@pytest.fixture
def new(reference) -> dict:
    return copy.deepcopy(reference)


def _run(document: dict, method: str) -> dict:
    return next(run for run in document["runs"] if run["method"] == method)


def _move(document: dict, method: str, column: str, image_index: int, delta: float) -> None:
    """Move one image's score by `delta`, and the mean with it."""
    run = _run(document, method)
    run["rows"][image_index][column] += delta
    run["means"][column] += delta / len(run["rows"])


def _by_status(cells) -> dict[str, list]:
    found = {}
    for cell in cells:
        found.setdefault(cell.status, []).append(cell)
    return found


def _cells_of(document: dict) -> int:
    return sum(len(run["means"]) for run in document["runs"])


def test_identical_documents_are_all_same(base, new):
    cells = compare(base, new)
    assert len(cells) == _cells_of(base) and {cell.status for cell in cells} == {"same"}
    assert exit_code(cells) == 0
    assert format_report(cells) == (
        f"{SAME_HARDWARE}\n{len(cells)} same, 0 within hardware noise, 0 drifted, 0 incomparable, 0 new, 0 missing"
    )


def test_cells_follow_the_documents_order(base, new):
    cells = compare(base, new)
    expected = [(run["method"], run["dataset"], column) for run in base["runs"] for column in run["means"]]
    assert [(cell.method, cell.dataset, cell.column) for cell in cells] == expected


def test_one_image_down_by_0_3_db_drifts_that_cell_only(base, new):
    image = _run(base, "prenet.rain100h")["rows"][2]["image"]
    _move(new, "prenet.rain100h", PSNR, 2, -0.3)
    cells = compare(base, new)
    drifted = _by_status(cells)["drifted"]
    assert [(c.method, c.dataset, c.column) for c in drifted] == [("prenet.rain100h", "rain12", PSNR)]
    old, now = _run(base, "prenet.rain100h")["means"][PSNR], _run(new, "prenet.rain100h")["means"][PSNR]
    assert drifted[0].line == (
        f"{PSNR} prenet.rain100h/rain12: {old:.4f} -> {now:.4f} (-0.025 dB, tol 0.005); "
        f"1 of 12 images moved, most {image} (-0.3 dB)"
    )
    assert exit_code(cells) == 1
    report = format_report(cells)
    assert report.splitlines()[:2] == [SAME_HARDWARE, drifted[0].line]
    assert report.splitlines()[-1] == (
        f"{len(cells) - 1} same, 0 within hardware noise, 1 drifted, 0 incomparable, 0 new, 0 missing"
    )


def test_a_rise_is_drift_too(base, new):
    _move(new, "prn.rain100l", PSNR, 0, +0.3)
    [drifted] = _by_status(compare(base, new))["drifted"]
    assert drifted.method == "prn.rain100l" and "(+0.025 dB, tol 0.005)" in drifted.line
    assert "(+0.3 dB)" in drifted.line


def test_a_move_within_tolerance_is_same(base, new):
    _move(new, "prenet.rain100h", PSNR, 2, -0.004)
    _move(new, "prenet.rain100h", "lpips@alex-v0.1", 3, 1e-5)  # ~0.05% of an LPIPS of ~0.02-0.1
    cells = compare(base, new)
    assert {cell.status for cell in cells} == {"same"} and exit_code(cells) == 0


def test_an_image_beyond_tolerance_drifts_the_cell_even_when_the_mean_is_within(base, new):
    run = _run(new, "identity")
    run["rows"][5][PSNR] += 0.03  # the mean moves 0.0025 dB: within 0.005
    run["means"][PSNR] += 0.03 / 12
    [drifted] = _by_status(compare(base, new))["drifted"]
    assert "(+0.0025 dB, within tol 0.005)" in drifted.line
    assert f"1 of 12 images moved, most {run['rows'][5]['image']} (+0.03 dB)" in drifted.line


def test_relative_tolerances_show_percentages(base, new):
    column = "lpips@alex-v0.1"
    run = _run(new, "prenet.rain100l")
    run["means"][column] *= 1.0021
    run["rows"][0][column] *= 1.01
    [drifted] = _by_status(compare(base, new))["drifted"]
    assert drifted.column == column and "(+0.21%, tol 0.1%)" in drifted.line and "(+1.00%)" in drifted.line


def test_a_changed_protocol_definition_makes_its_cells_incomparable(base, new):
    column = "ssim@matlab-double"
    new["metrics"][column]["definition"]["ssim"] += " (changed)"
    _move(new, "prenet.rain100h", column, 0, -0.01)  # the numbers moved too, but they are not drift
    cells = compare(base, new)
    found = _by_status(cells)
    assert "drifted" not in found
    assert {c.column for c in found["incomparable"]} == {column}
    assert len(found["incomparable"]) == len(base["runs"])
    reason = f"protocol definition of {column} differs (key: definition.ssim)"
    assert all(c.reason == reason and c.line.endswith(f"incomparable: {reason}") for c in found["incomparable"])
    assert exit_code(cells) == 1


def test_a_new_metric_backend_version_is_named(base, new):
    new["metrics"]["lpips@alex-v0.1"]["implementation"]["package"] = "lpips 0.1.5"
    found = _by_status(compare(base, new))
    assert {c.reason for c in found["incomparable"]} == {"metric backend version differs: lpips 0.1.4 -> 0.1.5"}


def test_other_weights_make_that_methods_cells_incomparable(base, new):
    _run(new, "prn.rain100l")["method_spec"]["loaded_weights"]["sha256"] = "0" * 64
    found = _by_status(compare(base, new))
    assert {c.method for c in found["incomparable"]} == {"prn.rain100l"}
    assert len(found["incomparable"]) == len(_run(base, "prn.rain100l")["means"])
    assert found["incomparable"][0].reason.startswith("weights sha256 differs: ")
    assert all(c.method != "prn.rain100l" for c in found["same"])


def test_weights_appearing_where_there_were_none(base, new):
    _run(new, "identity")["method_spec"]["loaded_weights"] = {"sha256": "a" * 64}
    found = _by_status(compare(base, new))
    assert {c.reason for c in found["incomparable"]} == {"weights sha256 differs: none -> aaaaaaaaaaaa"}


def test_another_copy_of_the_dataset_is_incomparable(base, new):
    _run(new, "prenet.rain100l")["dataset_info"]["fingerprint"] = "f" * 64
    found = _by_status(compare(base, new))
    assert {c.method for c in found["incomparable"]} == {"prenet.rain100l"}
    assert found["incomparable"][0].reason.startswith("dataset fingerprint differs: e8e890cd8986 -> ")


def test_another_inference_protocol_is_incomparable(base, new):
    _run(new, "msdr-s-traintest@tiled")["method_spec"]["inference"] = "whole"
    found = _by_status(compare(base, new))
    assert {c.reason for c in found["incomparable"]} == {"inference protocol differs: tiled -> whole"}


def test_a_limited_run_against_a_full_one_is_incomparable(base, new):
    run = _run(new, "prenet.rain100l")
    del run["rows"][10:]
    found = _by_status(compare(base, new))
    assert {c.method for c in found["incomparable"]} == {"prenet.rain100l"}
    assert (
        found["incomparable"][0].reason
        == "images scored differ: BASE has 12, NEW has 10 (2 only in BASE, 0 only in NEW)"
    )


def test_machine_local_paths_and_devices_do_not_matter(base, new):
    files = new["metrics"]["lpips@alex-v0.1"]["implementation"]["files"]
    files[0]["path"] = "/elsewhere/alexnet.pth"
    new["metrics"]["niqe@derain-bench"]["device"] = "cuda"
    _run(new, "prenet.rain100l")["method_spec"]["loaded_weights"]["path"] = "/elsewhere/net.pth"
    _run(new, "prenet.rain100l")["dataset_info"]["root"] = "/elsewhere/Rain12"
    assert {cell.status for cell in compare(base, new)} == {"same"}


def test_a_run_removed_from_new_is_missing_and_fails(base, new):
    new["runs"] = [run for run in new["runs"] if run["method"] != "prn_r.rain100l"]
    cells = compare(base, new)
    found = _by_status(cells)
    assert {c.method for c in found["missing"]} == {"prn_r.rain100l"}
    assert len(found["missing"]) == len(_run(base, "prn_r.rain100l")["means"])
    assert exit_code(cells) == 1
    assert format_report(cells).splitlines()[-1].endswith(f"0 new, {len(found['missing'])} missing")


def test_a_run_only_in_new_is_reported_but_passes(base, new):
    extra = copy.deepcopy(_run(new, "identity"))
    extra["method"] = "identity.copy"
    new["runs"].append(extra)
    cells = compare(base, new)
    found = _by_status(cells)
    assert {c.method for c in found["new"]} == {"identity.copy"} and len(found) == 2
    assert cells[-1].method == "identity.copy"  # runs only in NEW come after BASE's
    assert exit_code(cells) == 0
    assert found["new"][0].line in format_report(cells)


def test_non_finite_values_as_written_compare_equal(base, new):
    for document in (base, new):
        run = _run(document, "identity")
        run["rows"][0][PSNR], run["means"][PSNR] = "inf", "inf"
        run["rows"][0]["niqe@derain-bench"] = "nan"
    assert {cell.status for cell in compare(base, new)} == {"same"}
    _run(new, "identity")["rows"][0][PSNR] = 99.0  # finite against inf: a move, the mean still inf
    [drifted] = _by_status(compare(base, new))["drifted"]
    assert (
        ": inf -> inf (unchanged, within tol 0.005); 1 of 12 images moved, most rain-001 (non-finite)" in drifted.line
    )
    _run(new, "identity")["means"][PSNR] = 30.0
    [drifted] = _by_status(compare(base, new))["drifted"]
    assert ": inf -> 30.0000 (non-finite, tol 0.005)" in drifted.line


def test_a_tolerance_override_lets_a_drift_pass(base, new):
    _move(new, "prenet.rain100h", PSNR, 2, -0.3)
    cells = compare(base, new, parse_tolerances(["psnr=0.5"]))
    assert {cell.status for cell in cells} == {"same"} and exit_code(cells) == 0


# ---- hardware: tight tolerances and bit-equal outputs on the same hardware, hardware noise across it


def _on(document: dict, hardware: dict | None) -> dict:
    document["environment"]["hardware"] = hardware
    return document


def _with_outputs(document: dict) -> dict:
    """Rows carrying output checksums, as a run with --save-images (or bench reproduce) records them."""
    for run in document["runs"]:
        for row in run["rows"]:
            row["output_png_sha256"] = f"{run['method']}/{row['image']}".ljust(64, "0")
    return document


def test_a_move_within_hardware_noise_on_another_cpu_is_noise_not_same_and_passes(base, new):
    _on(new, EPYC)
    _move(new, "prenet.rain100h", PSNR, 2, 0.001)
    niqe = _run(base, "prenet.rain100h")["rows"][1]["niqe@derain-bench"]
    _move(new, "prenet.rain100h", "niqe@derain-bench", 1, niqe * 0.002)
    cells = compare(base, new)
    noise = [cell for cell in cells if cell.status != "same"]
    assert [(cell.column, cell.status) for cell in noise] == [(PSNR, "noise"), ("niqe@derain-bench", "noise")]
    image = _run(base, "prenet.rain100h")["rows"][2]["image"]
    assert noise[0].line.endswith(
        f"(+8.333e-05 dB; most {image} +0.001 dB), within hardware noise (tol {HARDWARE_TOLERANCES['psnr']:g})"
    )
    assert exit_code(cells) == 0
    report = format_report(cells).splitlines()
    assert report[0] == (
        "hardware differs (cpu: Intel(R) Xeon(R) Processor -> AMD EPYC 7B13; cpu_vendor: GenuineIntel -> "
        "AuthenticAMD; cpu_family_model: 6/167 -> 25/1; cpu_simd: avx2+fma+avx512f -> avx2+fma; "
        "aten_capability: AVX512 -> AVX2)"
    )
    assert report[1].startswith("Across hardware (") and report[2:4] == [cell.line for cell in noise]
    assert report[-1] == f"{len(cells) - 2} same, 2 within hardware noise, 0 drifted, 0 incomparable, 0 new, 0 missing"


def test_a_move_beyond_hardware_noise_drifts_across_cpus(base, new):
    _on(new, EPYC)
    _move(new, "prenet.rain100h", PSNR, 2, 0.01)  # one image's PSNR up by 0.01 dB
    cells = compare(base, new)
    [drifted] = _by_status(cells)["drifted"]
    assert drifted.column == PSNR and drifted.hardware.startswith("cpu: Intel(R) Xeon(R) Processor -> AMD EPYC")
    assert f"hardware-noise tol {HARDWARE_TOLERANCES['psnr']:g}" in drifted.line
    assert f"most {_run(base, 'prenet.rain100h')['rows'][2]['image']} (+0.01 dB)" in drifted.line
    assert exit_code(cells) == 1


def test_an_override_wider_than_the_hardware_noise_applies_across_hardware_too(base, new):
    _on(new, EPYC)
    _move(new, "prenet.rain100h", PSNR, 2, -0.3)
    cells = compare(base, new, parse_tolerances(["psnr=0.5"]))
    [moved] = [cell for cell in cells if cell.status != "same"]
    assert moved.status == "noise" and moved.line.endswith("within hardware noise (tol 0.5)")
    assert exit_code(cells) == 0


def test_another_thread_count_or_isa_cap_is_other_hardware(base, new):
    for change in ({"cpu_threads": 1}, {"isa_caps": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}, {"device": "cuda"}):
        cells = compare(base, _on(copy.deepcopy(new), XEON | change))
        assert all(cell.hardware for cell in cells), change
    assert compare(base, _on(new, dict(XEON)))[0].hardware == ""


def test_results_that_record_no_hardware_are_compared_as_other_hardware(base, new):
    _on(base, None)
    cells = compare(base, new)
    assert {cell.hardware for cell in cells} == {"BASE does not record the hardware"}
    assert format_report(cells).startswith("hardware differs (BASE does not record the hardware)\nAcross hardware")


def test_changed_output_pngs_on_the_same_hardware_are_drift_even_within_tolerance(base, new):
    _with_outputs(base), _with_outputs(new)
    run = _run(new, "prenet.rain100h")
    first = run["rows"][0]
    first["output_png_sha256"] = "f" * 64
    cells = compare(base, new)
    [drifted] = _by_status(cells)["drifted"]
    assert (drifted.method, drifted.column) == ("prenet.rain100h", "outputs")
    assert drifted.line == (
        f"outputs prenet.rain100h/rain12: 1 of 12 output PNGs changed (sha256), first {first['image']}, "
        "on the same hardware, where outputs are bit-equal"
    )
    assert exit_code(cells) == 1
    _on(new, EPYC)
    cells = compare(base, new)
    [noise] = [cell for cell in cells if cell.column == "outputs" and cell.status != "same"]
    assert noise.status == "noise" and noise.line.endswith(": within hardware noise (the hardware differs)")
    assert exit_code(cells) == 0


def test_each_run_gets_an_outputs_cell_where_both_sides_kept_checksums(base, new):
    cells = compare(_with_outputs(base), _with_outputs(new))
    outputs = [cell for cell in cells if cell.column == "outputs"]
    assert len(outputs) == len(base["runs"]) and {cell.status for cell in outputs} == {"same"}
    assert outputs[0].line == f"outputs {outputs[0].method}/rain12: same (12 output PNGs bit-equal)"
    del _run(new, "identity")["rows"][0]["output_png_sha256"]
    assert len([cell for cell in compare(base, new) if cell.column == "outputs"]) == len(base["runs"]) - 1


def _one_digit_up(value: float) -> float:
    """The smallest number with one significant digit that is >= value (0.00068 -> 0.0007)."""
    exponent = math.floor(math.log10(value))
    return math.ceil(round(value / 10**exponent, 9)) * 10**exponent


def test_hardware_tolerances_are_the_measured_noise_times_the_margin():
    """Per metric kind: the largest per-image or mean change between emulated CPUs, times the margin, rounded up
    to one digit, and never below the same-hardware tolerance; so every measured change is within it."""
    measured = json.loads(HARDWARE_NOISE.read_text(encoding="utf-8"))["columns"]
    for kind, tolerance in HARDWARE_TOLERANCES.items():
        changes = [
            max(entry["image"][0], entry["mean"][0])
            for column, entry in measured.items()
            if column.startswith(f"{kind}@")
        ]
        assert changes, kind
        expected = max(DEFAULT_TOLERANCES[kind], _one_digit_up(HARDWARE_MARGIN * max(changes)))
        assert tolerance == pytest.approx(expected, rel=1e-12), kind
        assert all(change * HARDWARE_MARGIN <= tolerance for change in changes), kind


def test_parse_tolerances():
    assert parse_tolerances(["psnr=0.01", " lpips = 2e-3 "]) == {"psnr": 0.01, "lpips": 0.002}
    assert parse_tolerances([]) == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("psnr", "expected METRIC=VALUE"),
        ("fid=0.1", "unknown metric 'fid'"),
        ("psnr=", "positive number"),
        ("psnr=abc", "positive number"),
        ("ssim=0", "positive number"),
        ("niqe=-0.1", "positive number"),
        ("psnr=nan", "positive number"),
        ("psnr=inf", "positive number"),
    ],
)
def test_bad_tolerances_are_bench_errors(item, message):
    with pytest.raises(BenchError, match=message) as caught:
        parse_tolerances([item])
    assert "\n" not in str(caught.value)


def test_the_default_tolerances_read_as_one_sentence():
    text = describe_tolerances()
    assert text.startswith("Default tolerances on the same hardware: ") and text.endswith(".") and "\n" not in text
    assert all(f"{kind} " in text for kind in DEFAULT_TOLERANCES)
    assert "psnr 0.005 dB absolute" in text and "ssim 5e-05 absolute" in text
    assert "lpips 0.1% relative" in text and "niqe 0.1% relative" in text


def test_compare_paths_reads_files_and_folders(base, new, tmp_path):
    _move(new, "prenet.rain100h", PSNR, 2, -0.3)
    (tmp_path / "new").mkdir()
    write_json(tmp_path / "base.json", base)
    write_json(tmp_path / "new" / "results.json", new)
    cells = compare_paths(tmp_path / "base.json", tmp_path / "new")
    assert [c.column for c in cells if c.status == "drifted"] == [PSNR] and exit_code(cells) == 1


def test_compare_paths_on_unreadable_results_is_a_bench_error(base, tmp_path):
    write_json(tmp_path / "base.json", base)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(REFERENCE.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    for bad in (truncated, tmp_path / "absent.json", tmp_path):
        with pytest.raises(BenchError, match="cannot read results"):
            compare_paths(tmp_path / "base.json", bad)
    other = copy.deepcopy(base)
    other["schema"] = "something/else"
    write_json(tmp_path / "other.json", other)
    with pytest.raises(BenchError, match="schema"):
        compare_paths(tmp_path / "other.json", tmp_path / "base.json")


# ---- the command line: exit codes 0 / 1 / 2 and the reproduction folders of `bench reproduce`


def _reproduction(folder: Path, document: dict) -> Path:
    """A `bench reproduce` folder holding `document` as its only group."""
    (folder / "rain12").mkdir(parents=True)
    write_json(folder / "rain12" / "results.json", document)
    write_json(folder / "reproduce.json", {"groups": ["rain12"]})
    return folder


def test_cli_exit_codes(base, new, tmp_path, capsys):
    from bench.cli import main

    write_json(tmp_path / "base.json", base)
    write_json(tmp_path / "same.json", new)
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "same.json")]) == 0
    assert capsys.readouterr().out.strip().endswith("0 drifted, 0 incomparable, 0 new, 0 missing")
    _move(new, "prn.rain100l", PSNR, 3, -0.41)
    write_json(tmp_path / "moved.json", new)
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "moved.json")]) == 1
    assert "most rain-004 (-0.41 dB)" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "moved.json"), "--tolerance", "psnr=0.5"]) == 0
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "nowhere")]) == 2
    assert main(["compare", str(tmp_path / "base.json"), str(tmp_path / "same.json"), "--tolerance", "psnr"]) == 2


def test_reproduction_folders_compare_group_by_group(base, new, tmp_path):
    before = _reproduction(tmp_path / "before", base)
    _move(new, "prn.rain100l", PSNR, 3, 0.3)
    after = _reproduction(tmp_path / "after", new)
    cells = compare_paths(before, after)
    assert [(c.method, c.column) for c in cells if c.status == "drifted"] == [("prn.rain100l", PSNR)]


def test_a_damaged_reproduction_folder_is_bad_input(base, tmp_path):
    folder = _reproduction(tmp_path / "r", base)
    (folder / "reproduce.json").write_text("{not json")
    with pytest.raises(BenchError, match=r"reproduce\.json is damaged"):
        compare_paths(folder, folder)
