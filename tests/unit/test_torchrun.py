"""`torchrun -m bench run`: images sharded across ranks by index, merged by rank 0 into one results folder equal to
a single process's; a rank that dies fails the job and leaves journals the same command resumes from. The same
across two torchrun agents as two nodes (c10d rendezvous on 127.0.0.1), and for srun's tasks without torchrun
(Slurm's variables set by hand)."""

import json
import os
import signal
import socket
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
    assert "under torchrun or srun every rank writes into one results folder: pass --out DIR" in capsys.readouterr().err


# ---------------------------------------------------------------- two nodes on loopback


# gloo on the loopback interface, one thread per process (as torchrun sets for several processes per node; two
# processes with a thread per core each would fight over the cores)
ONE_THREAD_ON_LOOPBACK = {"GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _two_nodes(out: Path, env: dict, port: int) -> list[subprocess.Popen]:
    """Two torchrun agents, one process each, meeting as the two nodes of one job on 127.0.0.1."""
    agent = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1"]
    rendezvous = ["--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", f"test-{port}"]
    return [
        subprocess.Popen(
            [*agent, *rendezvous, "-m", "bench", *RUN, "--out", str(out)],
            cwd=REPO,
            env={**env, **ONE_THREAD_ON_LOOPBACK},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]


def test_two_nodes_on_loopback_give_the_numbers_of_one_process(env, single, tmp_path):
    nodes = _two_nodes(tmp_path / "out", env, _free_port())
    for node in nodes:
        _, err = node.communicate(timeout=300)
        assert node.returncode == 0, err[-3000:]
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert _numbers(document) == _numbers(single)  # every score and every output PNG's sha256
    assert document["processes"]["world_size"] == 2


def test_a_node_killed_mid_run_fails_the_job_and_two_nodes_resume_it(env, single, tmp_path):
    out = tmp_path / "out"
    nodes = _two_nodes(out, env, _free_port())
    deadline = time.monotonic() + 120
    journals = [out / "journal.rank0.jsonl", out / "journal.rank1.jsonl"]
    while time.monotonic() < deadline and all(node.poll() is None for node in nodes):
        if all(j.exists() and sum(len(r) for r in read_journal(j)[1].values()) >= 1 for j in journals):
            break
        time.sleep(0.05)
    pid = _rank_pid(1, out)
    assert pid is not None
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert parent in {node.pid for node in nodes}
    for process in (parent, pid):  # the whole node: its agent and its worker
        os.kill(process, signal.SIGKILL)
    for node in nodes:
        node.communicate(timeout=300)
    assert any(node.returncode != 0 for node in nodes)
    assert not (out / "results.json").exists() and (out / "journal.rank1.jsonl").exists()

    again = _two_nodes(out, env, _free_port())
    errors = [node.communicate(timeout=300)[1] for node in again]
    assert all(node.returncode == 0 for node in again), errors
    assert any("already done" in err for err in errors)  # the ranks took their journaled images back
    assert _numbers(json.loads((out / "results.json").read_text())) == _numbers(single)
    assert not list(out.glob("journal*.jsonl"))


# ---------------------------------------------------------------- srun's tasks without torchrun


def test_srun_tasks_without_torchrun_share_one_job(env, single, tmp_path):
    """Two tasks started as srun starts them (Slurm's variables, none of torchrun's) join one process group."""
    slurm = {
        "SLURM_NTASKS": "2",
        "SLURM_JOB_NODELIST": "localhost",
        "SLURM_JOB_ID": "4242",
        "MASTER_PORT": str(_free_port()),
    }
    tasks = [
        subprocess.Popen(
            [sys.executable, "-m", "bench", *RUN, "--out", str(tmp_path / "out")],
            cwd=REPO,
            env={**env, **slurm, "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank), **ONE_THREAD_ON_LOOPBACK},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for rank in range(2)
    ]
    errors = [task.communicate(timeout=300)[1] for task in tasks]
    assert all(task.returncode == 0 for task in tasks), errors
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert _numbers(document) == _numbers(single) and document["processes"]["world_size"] == 2
    assert f"[rank 0] merging the ranks' journals: {IMAGES} of {IMAGES} images of ugsm/demo" in errors[0]
