"""The core install holds no pyiqa (non-commercial licence): derain-bench's requirements name it only under an
extra, and the README's quick start runs, every metric included, in a process where `import pyiqa` fails."""

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.reference

QUICK_START = ["run", "--methods", "prenet.rain100l,ugsm,identity", "--metrics", "psnr,ssim,lpips,niqe"]
# what `pip install -e .` gives, as far as one process can tell: pyiqa unimportable
WITHOUT_PYIQA = "import runpy, sys; sys.modules['pyiqa'] = None; runpy.run_module('bench', run_name='__main__')"


def test_pyiqa_is_required_only_by_an_extra():
    naming_pyiqa = [Requirement(line) for line in metadata.requires("derain-bench") or []]
    naming_pyiqa = [r for r in naming_pyiqa if r.name == "pyiqa"]
    assert naming_pyiqa, "the pyiqa extra is gone"
    assert all(r.marker is not None and not r.marker.evaluate({"extra": ""}) for r in naming_pyiqa)
    assert all(r.marker.evaluate({"extra": "pyiqa"}) for r in naming_pyiqa)


def test_the_quick_start_runs_without_pyiqa(mirror: Path, tmp_path: Path):
    environment = {**os.environ, "DERAIN_BENCH_MIRROR": str(mirror), "DERAIN_BENCH_CACHE": str(tmp_path / "cache")}
    environment.pop("TORCH_HOME", None)  # the README's offline quick start sets only the mirror
    out = tmp_path / "demo"
    argv = [sys.executable, "-c", WITHOUT_PYIQA, *QUICK_START, "--out", str(out), "--no-progress"]
    done = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    means = {run["method"]: run["means"] for run in results["runs"]}
    assert set(means) == {"prenet.rain100l", "ugsm", "identity"}
    for columns in means.values():
        assert {"psnr@matlab-double", "ssim@matlab-double", "lpips@alex-v0.1", "niqe@derain-bench"} <= set(columns)
    # PReNet removes rain: it beats the rainy input (NIQE: lower is better)
    assert means["prenet.rain100l"]["psnr@matlab-double"] > means["identity"]["psnr@matlab-double"] + 3
    assert means["prenet.rain100l"]["niqe@derain-bench"] < means["identity"]["niqe@derain-bench"]
    assert results["metrics"]["niqe@derain-bench"]["implementation"]["package"].startswith("derain-bench")
