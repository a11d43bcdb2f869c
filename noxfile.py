"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s demo`, `nox -s reproduce`, `nox -s perf`.

Sessions inherit the caller's environment, so DERAIN_BENCH_MIRROR / DERAIN_BENCH_CACHE apply to them.
"""

import nox

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
    """The README quick start: PReNet and the identity floor on the built-in synthetic demo set."""
    session.install("-e", ".")
    session.run("python", "-m", "bench", "run", "--methods", "prenet.rain100l,identity")


@nox.session
def reproduce(session: nox.Session) -> None:
    """Published numbers on the full mirrored test sets (about half an hour on a 2-core CPU)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-m", "slow", "tests/reference", *session.posargs)


@nox.session
def perf(session: nox.Session) -> None:
    """Timings of the metric kernels and of one forward pass per method (pytest-benchmark, a few CPU minutes).

    Each run is saved under .benchmarks/ (git-ignored); compare with the previous run on the same machine:
    `nox -s perf -- --benchmark-compare` (or `--benchmark-compare-fail=median:10%`).
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-m", "perf", "tests/bench", "--benchmark-autosave", *session.posargs)
