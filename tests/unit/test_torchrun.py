"""`torchrun -m bench run`: images sharded across ranks by index, merged by rank 0 into one results folder equal to
a single process's; a rank that dies fails the job and leaves journals the same command resumes from."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import EXIT_INPUT_ERROR, main
from bench.run.journal import read_journal

REPO = Path(__file__).resolve().parents[2]
RUN = ["run", "--methods", "ugsm,identity", "--datasets", "demo", "--no-progress", "--save-images"]
IMAGES = 6


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    return {
        **{k: v for k, v in os.environ.items() if k != "DERAIN_BENCH_MIRROR"},
        "DERAIN_BENCH_CACHE": str(cache),
        "DERAIN_BENCH_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def _torchrun(out: Path, env: dict, processes: int = 2) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    return subprocess.Popen(
        [*command, "-m", "bench", *RUN, "--out", str(out)],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _numbers(document: dict) -> list:
    return [
        (run["method"], run["means"], [{k: v for k, v in r.items() if k != "forward_ms"} for r in run["rows"]])
        for run in document["runs"]
    ]


@pytest.fixture(scope="module")
def single(env, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("single")
    done = subprocess.run(
        [sys.executable, "-m", "bench", *RUN, "--out", str(out), "--overwrite"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "results.json").read_text())


def test_two_cpu_processes_give_the_numbers_of_one(env, single, tmp_path):
    child = _torchrun(tmp_path / "out", env)
    _, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-3000:]
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert _numbers(document) == _numbers(single)  # every score and every output PNG's sha256
    assert document["processes"]["world_size"] == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "images",
        "per_image.csv",
        "results.json",
        "summary.csv",
    ]
    assert f"[rank 0] merging the ranks' journals: {IMAGES} of {IMAGES} images of ugsm/demo" in err


def _rank_pid(rank: int, out: Path) -> int | None:
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if (
            str(out).encode() in cmdline
            and b"torch.distributed.run" not in cmdline[:3]
            and f"RANK={rank}".encode() in environ
        ):
            return int(proc.name)
    return None


def test_a_rank_that_dies_fails_the_job_and_the_same_command_resumes(env, single, tmp_path):
    out = tmp_path / "out"
    child = _torchrun(out, env)
    deadline = time.monotonic() + 120
    rank_journal = out / "journal.rank1.jsonl"
    while time.monotonic() < deadline and child.poll() is None:
        if rank_journal.exists() and sum(len(r) for r in read_journal(rank_journal)[1].values()) >= 1:
            break
        time.sleep(0.05)
    pid = _rank_pid(1, out)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _, err = child.communicate(timeout=120)
    assert child.returncode != 0  # torchrun reports the dead rank and stops the others
    assert not (out / "results.json").exists()
    assert (out / "journal.rank1.jsonl").exists()

    again = _torchrun(out, env)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    assert "already done" in err  # each rank took its journaled images back
    assert _numbers(json.loads((out / "results.json").read_text())) == _numbers(single)
    assert not list(out.glob("journal*.jsonl"))


def test_under_torchrun_the_results_folder_must_be_named(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["run", "--methods", "identity"]) == EXIT_INPUT_ERROR
    assert "under torchrun every rank writes into one results folder: pass --out DIR" in capsys.readouterr().err
