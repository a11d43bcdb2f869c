"""Prove, per image, that the suite's numbers are what the official MATLAB scripts print.

The methods run as in `bench run`; every output is written exactly as scored (lossless RGB PNG of the uint8
array), with the ground truth as decoded, and the official scripts score the same files in GNU Octave. For
each script and metric the largest |ours - official| and its image are reported against a tolerance.

Ground truth is written as decoded rather than copied, so that the check is about scoring, not about two
image decoders (for PNG sets the two are the same pixels; for JPEG sets Octave's libjpeg might differ).
Octave's rgb2ycbcr on uint8 rounds the few colours whose exact luma ends in .5 differently from MATLAB's:
`evaluate` scripts are therefore checked on MATLAB's luma (the official functions on the luma MATLAB's
rgb2ycbcr computes), and the Octave-only residual is measured and reported beside, never hidden.
"""

import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.common.assets import Store
from bench.common.errors import BenchError
from bench.common.names import unknown_name
from bench.conformance import octave
from bench.conformance.official import OFFICIAL_SCRIPTS, OfficialScript
from bench.data.images import inspect_image
from bench.results.schema import RESULTS_FILE, write_json, write_results
from bench.run import runner
from bench.run.cell import ScoredImage
from bench.run.saved_images import write_png

SCHEMA = "derain-bench/conformance/v1"
REPORT_FILE = "conformance.json"
METRICS = ("psnr", "ssim")
# float64 evaluations of one formula in different orders agree to ~1e-12; these bound any real difference
TOLERANCE = {"psnr": 1e-6, "ssim": 1e-7}
UNITS = {"psnr": " dB", "ssim": ""}


def scripts_for(protocols: tuple[str, ...], names: tuple[str, ...]) -> list[OfficialScript]:
    """The scripts to run: by name, `all` of the protocols' scripts, or (no names) the first of each protocol."""
    covered = {script.protocol for script in OFFICIAL_SCRIPTS}
    if stray := [p for p in protocols if p not in covered]:
        raise BenchError(
            f"no official MATLAB script scores protocol {', '.join(stray)}; conformance covers "
            f"{', '.join(sorted(covered))}"
        )
    of_protocols = [s for s in OFFICIAL_SCRIPTS if s.protocol in protocols]
    if names == ("all",):
        return of_protocols
    if not names:
        return [next(s for s in of_protocols if s.protocol == p) for p in protocols]
    by_name = {s.name: s for s in OFFICIAL_SCRIPTS}
    chosen = []
    for name in names:
        if name not in by_name:
            raise unknown_name("official script", name, by_name)
        if by_name[name].protocol not in protocols:
            raise BenchError(f"script {name} scores {by_name[name].protocol}, which is not among --protocols")
        chosen.append(by_name[name])
    return chosen


@dataclass
class _SavedImages:
    """Writes outputs and ground truths as they are scored, and remembers what each image's files are."""

    root: Path
    pairs: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (output, target)
    _targets: dict[tuple[str, str], str] = field(default_factory=dict)

    def __call__(self, scored: ScoredImage) -> None:
        image = scored.sample.name
        output = Path("outputs", scored.method, scored.dataset, f"{image}.png")
        write_png(self.root / output, scored.derained)
        if (scored.dataset, image) not in self._targets:  # check() requires ground truth, so clean is an image
            target = Path("ground_truth", scored.dataset, f"{image}.png")
            write_png(self.root / target, scored.clean)
            self._targets[scored.dataset, image] = target.as_posix()
        self.pairs[image_key(scored.method, scored.dataset, image)] = (
            output.as_posix(),
            self._targets[scored.dataset, image],
        )

    def adopt(self, method: str, dataset: str, image: str, row: dict) -> bool:
        return False  # a conformance check runs without a journal: it never resumes


def image_key(method: str, dataset: str, image: str) -> str:
    return f"{method}/{dataset}/{image}"


def check(
    config: runner.RunConfig,
    store: Store,
    out: Path,
    *,
    scripts: tuple[str, ...] = (),
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Run `config`'s methods, score their outputs with the official scripts in Octave, write everything to
    `out` (renamed into place complete, `conformance.json` inside) and return the report.

    `out` must not exist, be an empty folder, or (with `overwrite`) hold an earlier conformance report.
    """
    _check_out(out, overwrite)
    if not config.ground_truth:
        raise BenchError("conformance compares full-reference scores: it needs ground truth (drop --no-ground-truth)")
    chosen = scripts_for(config.protocols, scripts)
    executable = octave.find_octave()
    octave_version = octave.version(executable)
    staging = Path(tempfile.mkdtemp(dir=_parent(out), prefix=f".{out.name}.staging-"))
    try:
        for script in chosen:  # every file verified before any model runs
            folder = staging / "octave" / script.name
            script.install(store, folder)
            octave.install_drivers(folder)
        saved = _SavedImages(staging)
        document = runner.run(config, store, progress=progress, log=log, on_output=saved)
        originals = _user_files(saved, document)
        ours = {
            image_key(run["method"], run["dataset"], row["image"]): row
            for run in document["runs"]
            for row in run["rows"]
        }
        checks = []
        for script in chosen:
            log(f"scoring {len(saved.pairs)} images with {script.repository}'s {script.protocol} script in Octave")
            official = _run_official(executable, staging, script, saved.pairs)
            checks.append(_compare(script, ours, official))
        report = {
            "schema": SCHEMA,
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "octave": {"executable": executable, "version": octave_version},
            "tolerance": TOLERANCE,
            "images": len(saved.pairs),
            # `--outputs`: how many of them the scripts read as the user's own files (RGB PNGs), not decoded copies
            "user_files": originals if config.outputs is not None else None,
            "results": RESULTS_FILE,
            "passed": all(c["passed"] for c in checks),
            "checks": checks,
        }
        write_results(staging, document)
        write_json(staging / REPORT_FILE, report)
        _replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _user_files(saved: _SavedImages, document: dict) -> int:
    """Point the official scripts at a scored folder's own files where they are 8-bit RGB PNGs, which Octave's
    imread reads as the very pixels scored (a greyscale, palette or JPEG file keeps its decoded RGB copy)."""
    count = 0
    for run in document["runs"]:
        outputs = run["method_spec"].get("outputs")
        for row in run["rows"] if outputs else ():
            path = Path(outputs["folder"]) / row["output_file"]
            header = inspect_image(path)
            if (header.format, header.mode) == ("PNG", "RGB"):
                key = image_key(run["method"], run["dataset"], row["image"])
                saved.pairs[key] = (str(path), saved.pairs[key][1])
                count += 1
    return count


def _check_out(out: Path, overwrite: bool) -> None:
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if not (out / REPORT_FILE).is_file():
        raise BenchError(f"--out {out} exists and holds no conformance report; choose a new or empty folder")
    if not overwrite:
        raise BenchError(f"{out} already holds a conformance report; choose another --out or pass --overwrite")


def _parent(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent


def _replace_folder(staging: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)  # _check_out allowed it: empty, or an earlier report with --overwrite
    os.replace(staging, out)


def _run_official(executable: str, root: Path, script: OfficialScript, pairs: dict) -> dict[str, list[float]]:
    folder = root / "octave" / script.name
    # relative to the script's folder, root/octave/<script>/; an absolute path (a user's own file) stays as it is
    lines = [f"{key}\t{Path('../..', output).as_posix()}\t../../{target}\n" for key, (output, target) in pairs.items()]
    (folder / "pairs.tsv").write_text("".join(lines), encoding="utf-8")
    rows = octave.run_driver(executable, folder, script.driver, script.name, len(pairs))
    official = {row[0]: [float(v) for v in row[1:]] for row in rows}
    if missing := sorted(pairs.keys() - official.keys()):
        raise octave.OctaveError(f"the official {script.name} script returned no score for {missing[0]}")
    return official


def _compare(script: OfficialScript, ours: dict[str, dict], official: dict[str, list[float]]) -> dict:
    """Per metric the largest |ours - official| over the images and its image; per method x dataset the means
    both sides print."""
    # statistic drivers: psnr, ssim; evaluate drivers: psnr, ssim (Octave's luma), psnr, ssim (MATLAB's), pixels
    checked = dict(zip(METRICS, (2, 3) if script.driver == "evaluate" else (0, 1), strict=True))
    columns = {metric: f"{metric}@{script.protocol}" for metric in METRICS}
    metrics = {m: _agreement(ours, official, columns[m], checked[m], TOLERANCE[m]) for m in METRICS}
    result = {
        "script": script.describe(),
        "protocol": script.protocol,
        "n": len(official),
        "metrics": metrics,
        "passed": all(m["passed"] for m in metrics.values()),
        "means": _cell_means(ours, official, columns, checked),
        "per_image": {
            key: {"ours": [ours[key][columns[m]] for m in METRICS], "official": values}
            for key, values in official.items()
        },
    }
    if script.driver == "evaluate":
        pixels = {key: int(values[4]) for key, values in official.items()}
        as_octave_runs_it = dict(zip(METRICS, (0, 1), strict=True))
        result["octave_luma_residual"] = {
            "what": "the official script as Octave runs it, whose rgb2ycbcr rounds some exact .5 lumas unlike MATLAB",
            "pixels_differing": sum(pixels.values()),
            "images_affected": sum(1 for n in pixels.values() if n),
            **{m: _agreement(ours, official, columns[m], as_octave_runs_it[m], math.inf) for m in METRICS},
        }
    return result


def _agreement(ours: dict, official: dict, column: str, index: int, tolerance: float) -> dict:
    differences = {key: _difference(ours[key][column], values[index]) for key, values in official.items()}
    worst = max(differences, key=differences.get)
    return {
        "max_abs_difference": differences[worst],
        "worst_image": worst,
        "tolerance": tolerance,
        "passed": differences[worst] <= tolerance,
    }


def _cell_means(ours: dict, official: dict, columns: dict[str, str], checked: dict[str, int]) -> dict:
    """For each method/dataset: n and the mean of each metric, official and ours (what the scripts print)."""
    cells: dict[str, list[str]] = {}
    for key in official:
        cells.setdefault(key.rsplit("/", 1)[0], []).append(key)
    return {
        cell: {
            "n": len(keys),
            "official": {m: math.fsum(official[k][checked[m]] for k in keys) / len(keys) for m in METRICS},
            "ours": {m: math.fsum(ours[k][columns[m]] for k in keys) / len(keys) for m in METRICS},
        }
        for cell, keys in cells.items()
    }


def _difference(a: float, b: float) -> float:
    if a == b:  # also inf == inf: MATLAB's psnr of identical images
        return 0.0
    return abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.inf


def format_report(report: dict) -> str:
    """The console tables: the largest difference per script and metric, the means as the scripts print them
    (their `%6.4f`), and the Octave-only residuals."""
    header = f"{'protocol':14s}  {'script':10s}  {'metric':6s}  {'max |ours - official|':>22s}  {'tolerance':>9s}"
    lines = [header + "  worst image"]
    for c in report["checks"]:
        for metric, m in c["metrics"].items():
            lines.append(
                f"{c['protocol']:14s}  {c['script']['name']:10s}  {metric:6s}  "
                f"{m['max_abs_difference']:>19.2e}{UNITS[metric]:3s}  {m['tolerance']:>9.0e}  {m['worst_image']}  "
                + ("ok" if m["passed"] else "FAIL")
            )
    lines.append("means, as the scripts print them:")
    for c in report["checks"]:
        for cell, means in c["means"].items():
            official, ours = means["official"], means["ours"]
            lines.append(
                f"  {c['script']['name']:10s}  {cell} ({means['n']}): psnr={official['psnr']:6.4f}, "
                f"ssim={official['ssim']:6.4f}   ours: psnr={ours['psnr']:6.4f}, ssim={ours['ssim']:6.4f}"
            )
    for c in report["checks"]:
        if residual := c.get("octave_luma_residual"):
            lines.append(
                f"{c['script']['name']} as Octave runs it (its rgb2ycbcr rounds exact .5 lumas unlike MATLAB): "
                f"{residual['pixels_differing']} pixels in {residual['images_affected']} of {c['n']} images; "
                f"psnr {residual['psnr']['max_abs_difference']:.2e} dB, "
                f"ssim {residual['ssim']['max_abs_difference']:.2e} (worst psnr: {residual['psnr']['worst_image']})"
            )
    if report.get("user_files") is not None and report["user_files"] < report["images"]:
        lines.append(
            f"{report['images'] - report['user_files']} of your outputs are not 8-bit RGB PNGs: the scripts read "
            "their decoded RGB copies (outputs/), the rest your own files"
        )
    verdict = "all within tolerance" if report["passed"] else "OUT OF TOLERANCE"
    lines.append(f"{report['images']} images, Octave {report['octave']['version']}: {verdict}")
    return "\n".join(lines)
