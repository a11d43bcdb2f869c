"""The code that is running: the installed version and the git checkout it comes from. Imports no torch."""

import subprocess
from pathlib import Path

import bench

REPO = Path(bench.__file__).resolve().parents[1]


def git_state(repo: Path = REPO) -> dict:
    """Commit and dirty flag of the checkout the code runs from (None outside a git checkout).

    Dirty means any change git would show: modified or staged files, and new files it does not ignore (a
    run that imports an uncommitted module is not the commit's code).
    """

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=normal") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def version_line() -> str:
    """`derain-bench 0.1.0 (commit 1a2b3c4d5e6f, uncommitted changes)`, or `(not a git checkout)`."""
    state = git_state()
    if state["commit"] is None:
        where = "not a git checkout"
    else:
        where = f"commit {state['commit'][:12]}" + (", uncommitted changes" if state["dirty"] else "")
    return f"derain-bench {bench.__version__} ({where})"
