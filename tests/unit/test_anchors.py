"""A test whose anchor (here the data mirror) is missing skips on a user's clone and fails in CI."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MIRROR_TEST = "tests/reference/test_protocols_on_mirror.py"


def _pytest_without_mirror(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "DERAIN_BENCH_REQUIRE_ANCHORS"}
    environment |= {"DERAIN_BENCH_MIRROR": str(tmp_path / "no-mirror"), **env}
    command = [sys.executable, "-m", "pytest", MIRROR_TEST, "-q", "-p", "no:cacheprovider", "-rsf"]
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)


def test_missing_mirror_skips_with_the_reason(tmp_path):
    done = _pytest_without_mirror(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "skipped" in done.stdout and "data mirror not found" in done.stdout


def test_missing_mirror_fails_when_anchors_are_required(tmp_path):
    done = _pytest_without_mirror(tmp_path, DERAIN_BENCH_REQUIRE_ANCHORS="1")
    assert done.returncode == 1, done.stdout
    assert "data mirror not found" in done.stdout and "must run, not skip" in done.stdout
    assert "skipped" not in done.stdout.splitlines()[-1]
