"""Methods from outside the project: a factory by import path, and names an installed package declares as entry
points (the worked example in examples/derain-plugin, installed here into a folder of its own)."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from image_folders import pair_folder
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _bench(*args: str, path: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    entries = [str(p) for p in path] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(entries), "DERAIN_BENCH_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=cwd, env=env)


def _run(tmp_path: Path, methods: str, path: list[Path], *extra: str) -> subprocess.CompletedProcess:
    data = pair_folder(tmp_path / "set", names=("a", "b"), size=(16, 24))
    return _bench(
        "run", "--methods", methods, "--rainy-dir", str(data / "rain"), "--clean-dir", str(data / "norain"),
        "--out", str(tmp_path / "out"), "--save-images", "--no-progress", *extra, path=path, cwd=tmp_path,
    )  # fmt: skip


def _runs(tmp_path: Path) -> dict[str, dict]:
    return {run["method"]: run for run in json.loads((tmp_path / "out" / "results.json").read_text())["runs"]}


def _saved(tmp_path: Path, method: str, image: str) -> np.ndarray:
    return np.asarray(Image.open(next((tmp_path / "out" / "images" / method).glob(f"*/{image}.png"))))


def _module(folder: Path, text: str, name: str = "mynet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(text)
    return path


SCALE = """from torch import nn


class Half(nn.Module):
    def forward(self, x):
        return x * 0.5


def build():
    return Half()
"""


def test_a_factory_outside_the_repository_runs_by_import_path_and_its_file_is_recorded(tmp_path):
    module = _module(tmp_path / "elsewhere", SCALE)
    done = _run(tmp_path, "mynet:build,identity", [tmp_path / "elsewhere"])
    assert done.returncode == 0, done.stderr
    spec = _runs(tmp_path)["mynet:build"]["method_spec"]
    assert spec["code"]["sha256"] == hashlib.sha256(module.read_bytes()).hexdigest()
    assert spec["code"]["file"] == str(module.resolve()) and spec["quantisation"] == "round"
    rainy = np.asarray(Image.open(tmp_path / "set" / "rain" / "a.png")).astype(np.int64)
    assert np.array_equal(_saved(tmp_path, "mynet:build", "a"), (rainy + 1) // 2)  # round(x / 2), half up


def test_weights_of_ones_own_replace_a_factorys_initial_ones(tmp_path):
    text = "from torch import nn\n\ndef build():\n    return nn.Conv2d(3, 3, 1, bias=False)\n"
    _module(tmp_path / "elsewhere", text)
    weights = tmp_path / "mine.pt"
    torch.save({"weight": torch.eye(3)[:, :, None, None] * 0.25}, weights)
    done = _run(tmp_path, "mynet:build", [tmp_path / "elsewhere"], "--weights", f"mynet:build={weights}")
    assert done.returncode == 0, done.stderr
    run = _runs(tmp_path)["mynet:build"]
    assert run["method_spec"]["loaded_weights"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    rainy = np.asarray(Image.open(tmp_path / "set" / "rain" / "b.png")).astype(np.float64)
    assert np.array_equal(_saved(tmp_path, "mynet:build", "b"), np.floor(rainy * 0.25 + 0.5))


@pytest.mark.parametrize(
    ("methods", "text", "said"),
    [
        ("mynet:build", "def build():\n    return 'a string'\n", "returned a str; a method factory returns"),
        ("mynet:make", SCALE, "mynet has no function 'make'"),
        ("nowhere:build", SCALE, "cannot import nowhere (No module named 'nowhere'); is it on sys.path"),
        ("prenett", SCALE, "Or name a method of your own by import path: my_module:build."),
    ],
)
def test_a_bad_factory_is_one_line_and_nothing_written(tmp_path, methods, text, said):
    _module(tmp_path / "elsewhere", text)
    done = _run(tmp_path, methods, [tmp_path / "elsewhere"])
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and said in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    """examples/derain-plugin installed into a folder of its own, as pip installs it beside derain-bench."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target",
         str(target), str(REPO / "examples" / "derain-plugin")],
        check=True, capture_output=True,
    )  # fmt: skip
    return target


def test_the_example_package_is_listed_through_its_entry_points(plugin, tmp_path):
    listing = _bench("ls", "methods", path=[plugin], cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "derain-plugin: from the installed package derain-plugin 0.1.0 (entry point)" in listing.stdout
    assert any(line.split()[:1] == ["hmin"] for line in listing.stdout.splitlines())


def test_the_example_package_runs_at_both_levels_of_the_contract(plugin, tmp_path):
    done = _run(tmp_path, "hmin,hmin-full", [plugin])
    assert done.returncode == 0, done.stderr
    runs = _runs(tmp_path)
    assert runs["hmin"]["method_spec"]["code"]["distribution"] == "derain-plugin"
    assert runs["hmin"]["method_spec"]["code"]["version"] == "0.1.0"
    assert runs["hmin-full"]["method_spec"]["summary"].startswith("Horizontal minimum")
    assert runs["hmin-full"]["method_spec"]["quantisation"] == "truncate"
    rainy = np.asarray(Image.open(tmp_path / "set" / "rain" / "a.png"))
    assert np.array_equal(_saved(tmp_path, "hmin", "a"), _opening_along_rows(rainy, 5))  # computed here


def _opening_along_rows(image: np.ndarray, width: int) -> np.ndarray:
    """Grey-scale erosion then dilation over `width` pixels of each row, edges replicated (an independent NumPy
    version of the example's filter)."""

    def sweep(values: np.ndarray, reduce) -> np.ndarray:
        pad = width // 2
        padded = np.pad(values, ((0, 0), (pad, pad), (0, 0)), mode="edge")
        return reduce(np.stack([padded[:, k : k + values.shape[1]] for k in range(width)]), axis=0)

    return sweep(sweep(image, np.min), np.max)


def test_an_entry_point_that_clashes_with_a_registered_name_is_refused(tmp_path):
    site = tmp_path / "site"
    info = site / "clashing-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clashing\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[derain_bench.methods]\nprenet = clashing:build\n")
    done = _run(tmp_path, "identity", [site])
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "the entry point 'prenet' of clashing clashes with the registered method prenet" in done.stderr
