"""GNU Octave, found and driven: runs one official script's driver on a list of image pairs.

Octave's image package ships a `psnr` of its own; the official `psnr.m` must come first on the path, as
MATLAB's current folder would put it. The driver runs in a folder holding the official files, which is both
the current folder and prepended to the path after `pkg load image`, and `which psnr` is checked to be the
official file before any image is scored.
"""

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from bench.common.errors import BenchError
from bench.conformance.official import EVALUATE_FUNCTIONS_FILE

ENV_OCTAVE = "DERAIN_BENCH_OCTAVE"
INSTALL_HINT = "install it with `apt-get install octave octave-image` (Debian/Ubuntu)"
DRIVERS = ("derain_bench_read_pairs.m", "derain_bench_statistic.m", "derain_bench_evaluate.m")
_FAILED = 3  # the exit status the wrapper below gives a failing driver


class OctaveError(BenchError):
    """Octave is missing, lacks the image package, or a script failed."""


def find_octave() -> str:
    """The Octave executable: $DERAIN_BENCH_OCTAVE, else octave-cli or octave on the PATH."""
    if explicit := os.environ.get(ENV_OCTAVE):
        if shutil.which(explicit) is None:
            raise OctaveError(f"{ENV_OCTAVE}={explicit} is not an executable; fix it, or unset it and {INSTALL_HINT}")
        return explicit
    for name in ("octave-cli", "octave"):
        if found := shutil.which(name):
            return found
    raise OctaveError(f"GNU Octave is not installed, and the official MATLAB scripts run in it: {INSTALL_HINT}")


def version(octave: str) -> str:
    """Octave's version and its image package's, checking that the package loads."""
    code = "pkg load image; v = pkg('list', 'image'); printf('%s image-%s\\n', OCTAVE_VERSION, v{1}.version);"
    done = _octave(octave, code, cwd=None, timeout_s=120)
    if done.returncode != 0:
        raise OctaveError(
            f"Octave's image package does not load ({_last_line(done.stderr)}): apt-get install octave-image"
        )
    return done.stdout.strip().splitlines()[-1]


def install_drivers(folder: Path) -> None:
    for name in DRIVERS:
        (folder / name).write_bytes(resources.files("bench.conformance").joinpath("drivers", name).read_bytes())


def run_driver(octave: str, folder: Path, driver: str, script: str, n_images: int) -> list[list[str]]:
    """Run `derain_bench_<driver>` in `folder` on its `pairs.tsv`; the rows of the result file it writes."""
    result = folder / "result.tsv"
    setup = "pkg load image; addpath(pwd);"
    if driver == "evaluate":
        setup += f" source('{EVALUATE_FUNCTIONS_FILE}');"
    else:  # the official psnr.m, not the image package's
        setup += (
            " if ~strcmp(which('psnr'), fullfile(pwd, 'psnr.m')),"
            " error('derain_bench:path', 'psnr resolves to %s, not the official psnr.m', which('psnr')); end;"
        )
    code = (
        f"try, {setup} derain_bench_{driver}('pairs.tsv', 'result.tsv');"
        f" catch err, fprintf(stderr, 'derain-bench: %s\\n', err.message); exit({_FAILED}); end"
    )
    done = _octave(octave, code, cwd=folder, timeout_s=120 + 5 * n_images)
    if done.returncode != 0 or not result.is_file():
        raise OctaveError(f"the official {script} script failed in Octave: {_last_line(done.stderr)}")
    return [line.split("\t") for line in result.read_text(encoding="utf-8").splitlines() if line]


def _octave(octave: str, code: str, cwd: Path | None, timeout_s: float) -> subprocess.CompletedProcess:
    command = [octave, "--no-gui", "--norc", "--quiet", "--no-history", "--eval", code]
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise OctaveError(f"Octave did not finish within {timeout_s:.0f} s") from exc
    except OSError as exc:
        raise OctaveError(f"cannot run {octave}: {exc}; {INSTALL_HINT}") from exc


def _last_line(text: str) -> str:
    """The error line that says most: derain-bench's own, else Octave's last `error:` line, else the last."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for prefix in ("derain-bench: ", "error: "):
        if tagged := [line for line in lines if line.startswith(prefix)]:
            return tagged[-1].removeprefix(prefix)
    return lines[-1] if lines else "no message"
