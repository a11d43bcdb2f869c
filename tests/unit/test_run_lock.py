"""One writer per results folder: a second run into a folder that a live process is writing is refused in one
line naming the holder (exit 2), and leaves the first run's numbers intact; the lock dies with its holder."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.run.journal import read_journal
from bench.run.lock import LOCK_FILE

REPO = Path(__file__).resolve().parents[2]
RUN = [sys.executable, "-m", "bench", "run", "--methods", "ugsm,identity", "--datasets", "demo", "--no-progress"]
HOLD = (  # a process that holds a folder's lock until it is killed
    "import pathlib, sys, time; from bench.run.lock import RunFolderLock; "
    "RunFolderLock(pathlib.Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(600)"
)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if k != "DERAIN_BENCH_MIRROR"},
        "DERAIN_BENCH_CACHE": str(tmp_path_factory.mktemp("cache")),
        "DERAIN_BENCH_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def _run(out: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([*RUN, "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _rows(out: Path) -> list:
    document = json.loads((out / "results.json").read_text())
    return [
        (run["method"], [{k: v for k, v in r.items() if k != "forward_ms"} for r in run["rows"]])
        for run in document["runs"]
    ]


def test_a_second_run_while_the_first_runs_is_refused_and_the_first_finishes_intact(env, tmp_path):
    alone = _run(tmp_path / "alone", env)
    assert alone.returncode == 0, alone.stderr
    out = tmp_path / "shared"
    first = subprocess.Popen(
        [*RUN, "--out", str(out), "--workers", "0"],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not ((out / "journal.jsonl").exists() and read_journal(out / "journal.jsonl")[1]):
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() else "slow"
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)  # mid-run, holding the folder
    try:
        second = _run(out, env)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {out} is being written by pid {first.pid} on {socket.gethostname()}, ")
    assert (
        f"(python -m bench run --methods ugsm,identity --datasets demo --no-progress --out {out} --workers 0)"
        in lines[0]
    )
    assert lines[0].endswith("wait for it to finish, or choose another --out")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert _rows(out) == _rows(tmp_path / "alone")  # every image once, the numbers of a run alone
    assert not (out / LOCK_FILE).exists() and not list(out.glob("journal*"))


def test_the_lock_dies_with_its_holder(env, tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], cwd=REPO, env=env, text=True, stdout=subprocess.PIPE
    )
    assert holder.stdout.readline() == "held\n"
    refused = _run(out, env)
    assert refused.returncode == 2 and f"is being written by pid {holder.pid} on " in refused.stderr
    assert not (out / "results.json").exists() and not list(out.glob("journal*"))
    holder.kill()  # kill -9: no chance to let go politely
    holder.wait()
    assert (out / LOCK_FILE).exists()  # left behind, but no longer locked
    done = _run(out, env)
    assert done.returncode == 0, done.stderr
    assert (out / "results.json").exists() and not (out / LOCK_FILE).exists()
