"""Developer sessions: tests, lint, demo, reproduce, drift, update_reference, hardware_noise, perf (`nox -s NAME`).

Sessions inherit the caller's environment, so DERAIN_BENCH_MIRROR / DERAIN_BENCH_CACHE apply to them.
"""

import shutil
from pathlib import Path

import nox

DRIFT_REFERENCE = Path("reports/reference/quick")  # the committed `quick` reproduction the drift gate compares with
HARDWARE_NOISE = Path("reports/reference/hardware_noise.json")  # the measurement behind its tolerances across CPUs

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and the quick reference checks (the CI test command)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def demo(session: nox.Session) -> None:
    """The README quick start: PReNet, UGSM and the identity floor on the built-in synthetic demo set, every metric."""
    session.install("-e", ".")
    session.run(
        "python",
        "-m",
        "bench",
        "run",
        "--methods",
        "prenet.rain100l,ugsm,identity",
        "--metrics",
        "psnr,ssim,lpips,niqe",
    )


@nox.session
def reproduce(session: nox.Session) -> None:
    """The published numbers, checked: `python -m bench reproduce` on the full suite (reports/suites/full.toml;
    its measured duration is in docs/reproduction.md). Writes results, report.html and reproduce.json; fails when
    a check fails. The suites score every protocol, `pyiqa-default` included, hence the pyiqa extra."""
    session.install("-e", ".[pyiqa]")
    session.run("python", "-m", "bench", "reproduce", "--suite", "full", *session.posargs)


@nox.session
def drift(session: nox.Session) -> None:
    """The CI drift gate: the `quick` suite, every number compared with the committed reference."""
    session.install("-e", ".[pyiqa]")
    out = Path(session.create_tmp()) / "quick"
    session.run("python", "-m", "bench", "reproduce", "--suite", "quick", "--out", str(out), "--overwrite")
    session.run("python", "-m", "bench", "compare", str(DRIFT_REFERENCE), str(out), *session.posargs)


@nox.session
def update_reference(session: nox.Session) -> None:
    """Make the drift gate's reference anew, on purpose (after a change that is meant to move numbers):
    runs the `quick` suite and copies its results (not its images) into reports/reference/quick/. Commit it."""
    session.install("-e", ".[pyiqa]")
    out = Path(session.create_tmp()) / "quick"
    session.run("python", "-m", "bench", "reproduce", "--suite", "quick", "--out", str(out), "--overwrite")
    shutil.rmtree(DRIFT_REFERENCE, ignore_errors=True)
    for name in ("reproduce.json", *(f"{group.name}/results.json" for group in out.iterdir() if group.is_dir())):
        (DRIFT_REFERENCE / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / name, DRIFT_REFERENCE / name)
    session.log(f"drift reference updated in {DRIFT_REFERENCE}/; review `git diff --stat` and commit it")


@nox.session
def hardware_noise(session: nox.Session) -> None:
    """Measure how much outputs and scores move between CPUs, emulated on this one (tests/bench/hardware_noise.py,
    about 40 minutes on 2 cores) and replace reports/reference/hardware_noise.json, the measurement behind the drift
    gate's tolerances across hardware. Then update HARDWARE_TOLERANCES (bench/results/compare.py) and the tables of
    docs/drift-gate.md as the failing tests say, and commit."""
    session.install("-e", ".[pyiqa]")
    out = Path(session.create_tmp()) / "hardware-noise"
    session.run("python", "tests/bench/hardware_noise.py", "--out", str(out), *session.posargs)
    shutil.copyfile(out / "hardware_noise.json", HARDWARE_NOISE)
    session.log(f"{HARDWARE_NOISE} updated; review `git diff` and commit it")


@nox.session
def perf(session: nox.Session) -> None:
    """Timings of the metric kernels and of one forward pass per method (pytest-benchmark, a few CPU minutes).

    Each run is saved under .benchmarks/ (git-ignored); compare with the previous run on the same machine:
    `nox -s perf -- --benchmark-compare` (or `--benchmark-compare-fail=median:10%`).
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-m", "perf", "tests/bench", "--benchmark-autosave", *session.posargs)
