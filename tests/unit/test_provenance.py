"""The record of a run: git state (a checkout with any change git would show is dirty, new files included), and
the deterministic kernels a run asks for."""

import json
import subprocess
import sys
from pathlib import Path

from bench.common.checkout import git_state


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text("results/\n")
    (repo / "module.py").write_text("x = 1\n")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    return repo


def test_clean_checkout(tmp_path):
    state = git_state(_repo(tmp_path))
    assert len(state["commit"]) == 40 and state["dirty"] is False


def test_a_new_untracked_module_makes_it_dirty(tmp_path):
    repo = _repo(tmp_path)
    (repo / "new_module.py").write_text("y = 2\n")
    assert git_state(repo)["dirty"] is True


def test_ignored_files_do_not(tmp_path):
    repo = _repo(tmp_path)
    (repo / "results").mkdir()
    (repo / "results" / "results.json").write_text("{}")
    assert git_state(repo)["dirty"] is False


def test_a_modified_file_makes_it_dirty(tmp_path):
    repo = _repo(tmp_path)
    (repo / "module.py").write_text("x = 2\n")
    assert git_state(repo)["dirty"] is True


def test_outside_a_checkout(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}


def test_seeding_turns_on_deterministic_kernels_without_importing_the_compiler():
    code = (
        "import sys, torch; from bench.run.provenance import seed_everything; seed_everything(0); "
        "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), "
        "'torch._inductor' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "False"]


def test_the_hardware_record_names_the_vector_extensions_caps_and_threads_in_force():
    """What bench.results.compare takes as 'the same hardware': caps on the instruction sets and the thread count."""
    import os

    import torch

    from bench.run.provenance import ISA_CAPS

    code = (
        "import json, torch; from bench.run.provenance import hardware; "
        "print(json.dumps(hardware(torch.device('cpu'))))"
    )
    environment = {key: value for key, value in os.environ.items() if key not in ISA_CAPS}
    environment |= {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    record = json.loads(done.stdout)
    assert record["isa_caps"] == {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "default"}
    assert record["aten_capability"] == "DEFAULT" and record["cpu_threads"] == 1 and record["device"] == "cpu"
    assert record["torch"] == torch.__version__ and record["onednn"]
    assert set(record["cpu_simd"]) <= set(Path("/proc/cpuinfo").read_text().split())
