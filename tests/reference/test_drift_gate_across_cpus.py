"""The drift gate across CPUs: a small suite run on this machine as it is and again as an AVX2-only x86 (every
numeric library capped at AVX2 and one thread, as tests/bench/hardware_noise.py emulates other CPUs) passes, and
each real change planted in the second run still fails it with the line that names it:
- PReNet's outputs rounded instead of truncated (as a port that missed the official script's `uint8` would);
- one image's PSNR moved by 0.01 dB;
- a changed protocol definition (incomparable).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.results.compare import HARDWARE_TOLERANCES, compare_paths, exit_code, format_report

pytestmark = pytest.mark.reference

SUITE = """
description = "one Rain100H image through PReNet and the identity floor, every protocol and metric"
[[group]]
name = "rain100h"
methods = ["prenet.rain100h", "identity"]
datasets = ["rain100h"]
protocols = ["all"]
metrics = ["psnr", "ssim", "lpips", "niqe"]
limit = 1
"""
AVX2_ONLY = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "OMP_NUM_THREADS": "1",
}
# `bench reproduce` with PReNet's outputs rounded (255 y + 0.5) while its spec still says it truncates
ROUNDING_PRENET = """
import sys
import bench.methods.contract
from bench.cli import main

truncating = bench.methods.contract.DerainMethod.to_output

def rounding(self, y):
    if not self.spec.name.startswith("prenet."):
        return truncating(self, y)
    rounded = y.detach().squeeze(0).clamp(0, 1).mul(255).add(0.5)
    return rounded.to(bench.methods.contract.torch.uint8).permute(1, 2, 0).numpy()

bench.methods.contract.DerainMethod.to_output = rounding
sys.exit(main(sys.argv[1:]))
"""
PSNR, NIQE = "psnr@matlab-double", "niqe@derain-bench"


def _reproduce(suite: Path, out: Path, environment: dict, code: str | None = None) -> Path:
    command = ["-c", code] if code else ["-m", "bench"]
    arguments = ["reproduce", "--suite", str(suite), "--out", str(out), "--no-progress"]
    subprocess.run([sys.executable, *command, *arguments], env={**os.environ, **environment}, check=True)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, mirror: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gate")
    environment = {"DERAIN_BENCH_MIRROR": str(mirror), "DERAIN_BENCH_CACHE": str(root / "cache")}
    environment["DERAIN_BENCH_OFFLINE"] = "1"
    suite = root / "small.toml"
    suite.write_text(SUITE, encoding="utf-8")
    return {
        "native": _reproduce(suite, root / "native", environment),
        "avx2": _reproduce(suite, root / "avx2", environment | AVX2_ONLY),
        "rounding": _reproduce(suite, root / "rounding", environment | AVX2_ONLY, ROUNDING_PRENET),
    }


def _results(folder: Path) -> dict:
    return json.loads((folder / "rain100h" / "results.json").read_text(encoding="utf-8"))


def _edited(source: Path, destination: Path, edit) -> Path:
    """A copy of the reproduction `source` whose results document `edit` changed."""
    (destination / "rain100h").mkdir(parents=True)
    (destination / "reproduce.json").write_bytes((source / "reproduce.json").read_bytes())
    document = _results(source)
    edit(document)
    (destination / "rain100h" / "results.json").write_text(json.dumps(document), encoding="utf-8")
    return destination


def test_the_emulated_cpus_are_recorded_as_other_hardware(runs):
    native, avx2 = (_results(runs[name])["environment"]["hardware"] for name in ("native", "avx2"))
    assert avx2["isa_caps"] == {k: v for k, v in AVX2_ONLY.items() if k != "OMP_NUM_THREADS"}
    assert avx2["aten_capability"] == "AVX2" and avx2["cpu_threads"] == 1 and native["cpu_threads"] != 1


def test_the_gate_passes_across_emulated_cpus(runs):
    cells = compare_paths(runs["native"], runs["avx2"])
    report = format_report(cells)
    assert exit_code(cells) == 0, report
    assert all(cell.hardware for cell in cells), report
    assert report.startswith("hardware differs (") and "isa_caps: none -> ONEDNN_MAX_CPU_ISA=AVX2" in report
    assert {cell.status for cell in cells} <= {"same", "noise"}


def test_niqe_of_identical_images_agrees_across_cpus(runs):
    """identity's outputs are the rainy images' bytes on both CPUs: its NIQE may move by float64 rounding only
    (pyiqa's own float32 NIQE moved by up to 0.05% here, and by 0.17% between an Intel and an AMD machine)."""
    native, avx2 = ({run["method"]: run for run in _results(runs[name])["runs"]} for name in ("native", "avx2"))
    for a, b in zip(native["identity"]["rows"], avx2["identity"]["rows"], strict=True):
        assert a["output_png_sha256"] == b["output_png_sha256"]
        assert b[NIQE] == pytest.approx(a[NIQE], rel=1e-12, abs=0)


def test_rounding_instead_of_truncation_fails_across_cpus(runs):
    cells = compare_paths(runs["native"], runs["rounding"])
    drifted = {(cell.method, cell.column): cell.line for cell in cells if cell.status == "drifted"}
    assert exit_code(cells) == 1
    assert (("prenet.rain100h", PSNR)) in drifted, format_report(cells)
    assert "hardware-noise tol" in drifted["prenet.rain100h", PSNR]
    assert not [key for key in drifted if key[0] == "identity"]


def test_one_image_moved_by_a_hundredth_of_a_db_fails_across_cpus(runs, tmp_path):
    def move(document):
        run = next(run for run in document["runs"] if run["method"] == "prenet.rain100h")
        run["rows"][0][PSNR] += 0.01
        run["means"][PSNR] += 0.01 / len(run["rows"])

    cells = compare_paths(runs["native"], _edited(runs["avx2"], tmp_path / "moved", move))
    [drifted] = [cell for cell in cells if cell.status == "drifted"]
    assert (drifted.method, drifted.column) == ("prenet.rain100h", PSNR)
    assert f"hardware-noise tol {HARDWARE_TOLERANCES['psnr']:g}" in drifted.line
    assert "1 of 1 images moved, most norain-1 (+0.01" in drifted.line
    assert exit_code(cells) == 1


def test_a_changed_protocol_definition_is_incomparable_across_cpus(runs, tmp_path):
    def redefine(document):
        document["metrics"][PSNR]["definition"]["psnr"] += " (changed)"

    cells = compare_paths(runs["native"], _edited(runs["avx2"], tmp_path / "redefined", redefine))
    incomparable = [cell for cell in cells if cell.status == "incomparable"]
    assert {cell.column for cell in incomparable} == {PSNR} and len(incomparable) == 2
    assert incomparable[0].line.endswith(f"incomparable: protocol definition of {PSNR} differs (key: definition.psnr)")
    assert exit_code(cells) == 1
