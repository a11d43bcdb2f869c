"""`bench audit`: which way of scoring reproduces a claimed number, and how far the others are from it.

"My Python PSNR is 1.2 dB below the paper" is the field's most frequent complaint. The audit scores the same
outputs under every named protocol and under the variants that move numbers in practice, then says which of them
give the claim within the claim's own rounding (half a unit of its last digit):

- every protocol of bench.metrics.PROTOCOLS (RGB or Y; which luma; rounded or float; ssim.m 2009 or SSIM_index);
- PSNR from the MSE pooled over the whole set, not averaged per image (torchmetrics' default);
- a border crop of 4 pixels, as super-resolution code scores (BasicSR's crop_border);
- SSIM without ssim.m's downsampling (the same below a short side of 384 pixels);
- scikit-image's structural_similarity with its 7x7 uniform window, on RGB and on the luma.

From a folder of outputs everything is computed; from a finished run's folder the protocols and the pooled MSE
come from its stored per-image scores, and the rest from its kept images (`--save-images`), when it kept them.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from bench.common.errors import BenchError
from bench.data.images import read_image
from bench.metrics import PROTOCOLS
from bench.metrics.psnr import psnr
from bench.metrics.ssim import wang_ssim, wang_ssim_downsampled
from bench.metrics.ycbcr import matlab_y_double

BORDER = 4  # pixels cropped from each side, as BasicSR's crop_border for 4x super-resolution


@dataclass(frozen=True)
class Variant:
    name: str
    metric: str
    who: str  # who scores this way
    compute: Callable[[np.ndarray, np.ndarray], float] | None = None  # from pixels; None: from stored scores


def _luma(rgb: np.ndarray) -> np.ndarray:
    return matlab_y_double(rgb) * 255


def _cropped(image: np.ndarray) -> np.ndarray:
    return image[BORDER:-BORDER, BORDER:-BORDER]


def _skimage_ssim(a: np.ndarray, b: np.ndarray, **options) -> float:
    from skimage.metrics import structural_similarity  # only when pixels are audited

    return float(structural_similarity(a, b, data_range=255, **options))


PIXEL_VARIANTS = (
    Variant(
        f"matlab-double, {BORDER}-pixel border cropped",
        "psnr",
        "super-resolution code (BasicSR's crop_border)",
        lambda a, b: psnr(_cropped(_luma(a)), _cropped(_luma(b)), 255.0),
    ),
    Variant(
        f"rgb, {BORDER}-pixel border cropped",
        "psnr",
        "super-resolution code on RGB",
        lambda a, b: psnr(_cropped(a).astype(np.float64), _cropped(b).astype(np.float64), 255.0),
    ),
    Variant(
        f"matlab-double, {BORDER}-pixel border cropped",
        "ssim",
        "super-resolution code (BasicSR's crop_border)",
        lambda a, b: wang_ssim_downsampled(_cropped(_luma(a)), _cropped(_luma(b))),
    ),
    Variant(
        "matlab-double luma, SSIM without ssim.m's downsampling",
        "ssim",
        "SSIM_index 2003 on MATLAB's luma (equal to ssim.m below a short side of 384 px)",
        lambda a, b: wang_ssim(_luma(a), _luma(b)),
    ),
    Variant(
        "skimage 7x7 uniform window, RGB",
        "ssim",
        "skimage.metrics.structural_similarity(channel_axis=-1, data_range=255) with its defaults",
        lambda a, b: _skimage_ssim(a, b, channel_axis=-1),
    ),
    Variant(
        "skimage 7x7 uniform window, matlab-double luma",
        "ssim",
        "skimage.metrics.structural_similarity on MATLAB's luma, with its defaults",
        lambda a, b: _skimage_ssim(_luma(a), _luma(b)),
    ),
)


def parse_claim(text: str) -> dict[str, str]:
    """`psnr=31.46,ssim=0.904` -> {"psnr": "31.46", "ssim": "0.904"} (as written: its digits set the rounding)."""
    claimed = {}
    for part in text.split(","):
        metric, sep, value = part.partition("=")
        metric = metric.strip().lower()
        if not sep or metric not in ("psnr", "ssim"):
            raise BenchError(f"--claimed {text!r}: expected psnr=VALUE and/or ssim=VALUE, e.g. psnr=31.46,ssim=0.904")
        try:
            float(value)
        except ValueError as exc:
            raise BenchError(f"--claimed: {metric}={value!r} is not a number") from exc
        claimed[metric] = value.strip()
    return claimed


def pixel_rows(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, float]]:
    """Per image, every pixel variant's value, keyed "metric@variant"."""
    return [{f"{v.metric}@{v.name}": v.compute(pred, target) for v in PIXEL_VARIANTS} for pred, target in pairs]


def read_pairs(files: Iterable[tuple]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(output, ground truth) arrays from pairs of paths, decoded as the runner decodes inputs."""
    for output, target in files:
        yield read_image(output), read_image(target)


def audit(run: dict, pixels: list[dict[str, float]] | str, claimed: dict[str, str]) -> dict:
    """For each claimed metric, every candidate's value and whether it gives the claim as rounded; `pixels` holds
    each image's pixel variants, or says why they were not computed."""
    findings = {}
    for metric, written in claimed.items():
        claim = float(written)
        half_unit = 0.5 * 10.0 ** Decimal(written).as_tuple().exponent
        candidates = _stored_candidates(run, metric)
        if not isinstance(pixels, str):
            candidates += [
                (v.name, v.who, _mean([row[f"{metric}@{v.name}"] for row in pixels]))
                for v in PIXEL_VARIANTS
                if v.metric == metric
            ]
        rows = [
            {"variant": name, "who": who, "value": value, "difference": value - claim,
             "reproduces": math.isfinite(value) and abs(value - claim) <= half_unit + 1e-12}
            for name, who, value in candidates
        ]  # fmt: skip
        rows.sort(key=lambda row: abs(row["difference"]) if math.isfinite(row["difference"]) else math.inf)
        findings[metric] = {"claimed": written, "half_unit": half_unit, "rows": rows}
    return {
        "method": run["method"],
        "dataset": run["dataset"],
        "n": run["n"],
        "pixels": pixels if isinstance(pixels, str) else f"computed on {len(pixels)} images",
        "findings": findings,
    }


def _stored_candidates(run: dict, metric: str) -> list[tuple[str, str, float]]:
    """The protocols the run scored, per-image mean as stored, and for PSNR the same with the MSE pooled."""
    found = []
    for column, mean in run["means"].items():
        name, _, protocol = column.partition("@")
        if name != metric or protocol not in PROTOCOLS:
            continue
        found.append((protocol, PROTOCOLS[protocol].used_by, float(mean)))
        if metric == "psnr":  # 10 log10(peak^2 / mean MSE): the peak cancels out of the per-image PSNRs
            values = np.array([float(row[column]) for row in run["rows"]])
            pooled = -10 * math.log10(float(np.mean(10.0 ** (-values / 10))))
            found.append((f"{protocol}, MSE pooled over the set", "torchmetrics' PeakSignalNoiseRatio default", pooled))
    return found


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def format_audit(report: dict) -> str:
    lines = [f"{report['method']} on {report['dataset']} ({report['n']} images); pixel variants: {report['pixels']}"]
    for metric, finding in report["findings"].items():
        claimed, half = finding["claimed"], finding["half_unit"]
        lines.append(f"claimed {metric} {claimed} (as rounded: within ±{half:g})")
        width = max(len(row["variant"]) for row in finding["rows"])
        for row in finding["rows"]:
            mark = "✓ reproduces" if row["reproduces"] else f"{row['difference']:+.4f}"
            lines.append(f"  {row['variant']:{width}s}  {row['value']:9.4f}  {mark:13s}  {row['who']}")
        reproducing = [row["variant"] for row in finding["rows"] if row["reproduces"]]
        if reproducing:
            names = " and ".join(
                [", ".join(reproducing[:-1]), reproducing[-1]] if len(reproducing) > 1 else reproducing
            )
            verb = "give" if len(reproducing) > 1 else "gives"
            lines.append(f"  => {metric} {claimed} is what {names} {verb}")
        else:
            closest = finding["rows"][0]
            lines.append(
                f"  => no known protocol reproduces {metric} {claimed}; closest: {closest['variant']} "
                f"({closest['difference']:+.4f})"
            )
    return "\n".join(lines)


def reproduced(report: dict) -> bool:
    """Whether every claimed number is given by at least one way of scoring."""
    return all(any(row["reproduces"] for row in f["rows"]) for f in report["findings"].values())


class PixelSink:
    """The runner's output sink while a folder of outputs is audited: each image's pixel variants, as it is scored."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def __call__(self, scored) -> None:
        self.rows += pixel_rows([(scored.derained, scored.clean)])

    def adopt(self, method: str, dataset: str, image: str, row: dict) -> bool:
        return False  # an audit keeps no journal: it never resumes
