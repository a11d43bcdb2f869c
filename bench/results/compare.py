"""The drift gate: compare two results documents cell by cell, a cell being (method, dataset, metric column).

Each cell is `same`, `noise` (on runs made on different hardware: moved, but within the hardware noise of the
metric), `drifted` (its mean or any per-image value moved beyond the tolerance that applies, either way), `new`
(in NEW only), `missing` (in BASE only) or `incomparable`: the two numbers were not produced the same way
(column definition, weights, dataset copy, inference protocol or the images scored differ), so a difference
between them says nothing about drift. `exit_code` fails on anything but `same`, `noise` and `new`.

Which tolerances apply depends on the hardware the two runs record (bench.run.provenance.hardware: processor,
vector extensions in use, threads, numeric libraries, GPU). On the same hardware outputs are bit-equal, so the
tight DEFAULT_TOLERANCES hold and an output PNG whose sha256 changed is drift (an `outputs` cell per run). On
different hardware, or where a run does not record it, the networks' outputs differ by a few one-level flips
and the scores by what HARDWARE_TOLERANCES allow: the largest change measured between emulated CPUs
(tests/bench/hardware_noise.py, reports/reference/hardware_noise.json) times HARDWARE_MARGIN.
"""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common.errors import BenchError
from bench.results.schema import VERDICT_FILE, load_results

# metric kind (the column's part before "@") -> tolerance; absolute unless the kind is in RELATIVE
DEFAULT_TOLERANCES = {"psnr": 0.005, "ssim": 5e-5, "lpips": 1e-3, "niqe": 1e-3}
RELATIVE = frozenset({"lpips", "niqe"})  # |new - base| <= tol * |base|
# Across hardware: HARDWARE_MARGIN x the largest change measured between emulated CPUs, rounded up (a test holds
# them to reports/reference/hardware_noise.json); never below the same-hardware tolerance of the kind.
HARDWARE_MARGIN = 10
HARDWARE_TOLERANCES = {"psnr": 0.005, "ssim": 5e-5, "lpips": 1e-3, "niqe": 0.01}
STATUSES = ("same", "noise", "drifted", "incomparable", "new", "missing")
STATUS_WORDS = {"noise": "within hardware noise"}  # how a status is counted in the report's last line
FAILING = frozenset({"drifted", "incomparable", "missing"})  # a new cell is printed but is not drift
MACHINE_LOCAL = frozenset({"path", "device"})  # keys of a column definition that differ between machines
OUTPUTS = "outputs"  # the column of a run's output-checksum cell
_HARDWARE_KEY = "_hardware"  # where load_comparable puts each run's hardware record (its document's)


@dataclass(frozen=True)
class Cell:
    method: str
    dataset: str
    column: str
    status: str  # one of STATUSES
    line: str  # one line saying what was found
    reason: str = ""  # why the cell is incomparable
    hardware: str = ""  # how the two runs' hardware differs ("" when it is the same)


def describe_tolerances(tolerances: dict[str, float] = DEFAULT_TOLERANCES) -> str:
    """The tolerances as one sentence, e.g. for the command line's help."""
    prefix = "Default tolerances" if tolerances == DEFAULT_TOLERANCES else "Tolerances"
    return (
        f"{prefix} on the same hardware: {_list(tolerances)}; a relative tolerance bounds |NEW - BASE| by "
        "tol x |BASE| and is given as a fraction (lpips=0.002 is 0.2%). " + describe_hardware_tolerances()
    )


def describe_hardware_tolerances() -> str:
    return (
        f"Across hardware (another CPU or vector extension, thread count, numeric library or GPU, or a run that "
        f"does not record its hardware): {_list(HARDWARE_TOLERANCES)} ({HARDWARE_MARGIN}x the largest change "
        "measured between emulated CPUs, never below the same-hardware tolerance; docs/drift-gate.md: Across "
        "hardware); a move within them is 'within hardware noise'."
    )


def _list(tolerances: dict[str, float]) -> str:
    return ", ".join(
        f"{kind} {_tol(kind, tol, unit=True)} {'relative' if kind in RELATIVE else 'absolute'}"
        for kind, tol in tolerances.items()
    )


def parse_tolerances(items: Sequence[str]) -> dict[str, float]:
    """`["psnr=0.01", "lpips=0.002"]` -> {"psnr": 0.01, "lpips": 0.002}, in each metric's own kind of tolerance."""
    parsed = {}
    for item in items:
        kind, sep, text = (part.strip() for part in item.partition("="))
        if not sep:
            raise BenchError(f"--tolerance {item!r}: expected METRIC=VALUE, e.g. psnr=0.01")
        if kind not in DEFAULT_TOLERANCES:
            raise BenchError(f"--tolerance {item!r}: unknown metric {kind!r}; known: {', '.join(DEFAULT_TOLERANCES)}")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise BenchError(f"--tolerance {item!r}: the tolerance must be a positive number")
        parsed[kind] = value
    return parsed


def compare_paths(base: Path, new: Path, tolerances: dict[str, float] | None = None) -> list[Cell]:
    """`compare` of two results.json files, folders holding one, or `bench reproduce` folders."""
    return compare(load_comparable(Path(base)), load_comparable(Path(new)), tolerances)


def load_comparable(path: Path) -> dict:
    """A results document; for a reproduction folder (reproduce.json and one results folder per group) the runs
    of every group in one document (a suite's groups share their column definitions)."""
    if not (path.is_dir() and (path / VERDICT_FILE).is_file()):
        return _with_hardware(load_results(path))
    try:
        groups = json.loads((path / VERDICT_FILE).read_text(encoding="utf-8"))["groups"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BenchError(f"cannot read the reproduction in {path}: {path / VERDICT_FILE} is damaged ({exc})") from exc
    documents = [_with_hardware(load_results(path / group)) for group in groups]
    metrics = {}
    for document in documents:
        for column, definition in document["metrics"].items():
            metrics.setdefault(column, definition)
    return {"metrics": metrics, "runs": [run for document in documents for run in document["runs"]]}


def _with_hardware(document: dict) -> dict:
    """A freshly loaded document whose runs carry its hardware record (None where it has none), so that the
    runs of a reproduction's groups keep theirs once load_comparable gathers them into one document."""
    for run in document.get("runs", []):
        run[_HARDWARE_KEY] = _document_hardware(document)
    return document


def _document_hardware(document: dict) -> dict | None:
    return (document.get("environment") or {}).get("hardware")


def _run_hardware(document: dict, run: dict) -> dict | None:
    return run.get(_HARDWARE_KEY, _document_hardware(document))


def compare(base: dict, new: dict, tolerances: dict[str, float] | None = None) -> list[Cell]:
    """Every cell of BASE and NEW, runs and columns in the order they appear in BASE, then NEW; a run pair
    whose rows carry output checksums gets an `outputs` cell after its columns."""
    limits = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    base_runs, new_runs = _runs(base), _runs(new)
    cells = []
    for key in dict.fromkeys([*base_runs, *new_runs]):
        b, n = base_runs.get(key), new_runs.get(key)
        hardware = hardware_differences(_run_hardware(base, b), _run_hardware(new, n)) if b and n else ""
        for column in dict.fromkeys([*(b or {}).get("means", {}), *(n or {}).get("means", {})]):
            label = f"{column} {key[0]}/{key[1]}"
            if n is None or column not in n["means"]:
                cell = ("missing", f"{label}: missing from NEW (BASE {_value(b['means'][column])})", "")
            elif b is None or column not in b["means"]:
                cell = ("new", f"{label}: new in NEW ({_value(n['means'][column])}), not in BASE", "")
            elif reason := _incomparable(base, new, b, n, column):
                cell = ("incomparable", f"{label}: incomparable: {reason}", reason)
            else:
                kind = _kind(column)
                tight = limits.get(kind, 0.0)
                noise = max(tight, HARDWARE_TOLERANCES.get(kind, 0.0)) if hardware else None
                cell = (*_compare_values(label, column, b, n, tight, noise), "")
            cells.append(Cell(key[0], key[1], column, *cell, hardware=hardware))
        if b and n and (outputs := _compare_outputs(f"{OUTPUTS} {key[0]}/{key[1]}", b, n, hardware)):
            cells.append(Cell(key[0], key[1], OUTPUTS, *outputs, hardware=hardware))
    return cells


def hardware_differences(base: dict | None, new: dict | None) -> str:
    """How two hardware records differ, e.g. "cpu: Intel Xeon -> AMD EPYC 7B13; cpu_threads: 2 -> 1", or ""."""
    if base is None or new is None:
        which = "BASE and NEW" if base is None and new is None else "BASE" if base is None else "NEW"
        return f"{which} {'do' if which == 'BASE and NEW' else 'does'} not record the hardware"
    changes = [
        f"{key}: {_hardware_value(base.get(key))} -> {_hardware_value(new.get(key))}"
        for key in dict.fromkeys([*base, *new])
        if base.get(key) != new.get(key)
    ]
    return "; ".join(changes)


def _hardware_value(value) -> str:
    if isinstance(value, list):
        return "+".join(value) or "none"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "none"
    return "none" if value is None else str(value)


def _compare_outputs(label: str, b: dict, n: dict, hardware: str) -> tuple[str, str] | None:
    """The run's output PNGs by sha256: bit-equal expected on the same hardware; None where either run kept
    no checksums or the two runs scored different images (their cells say so)."""
    base_sums = {row["image"]: row.get("output_png_sha256") for row in b["rows"]}
    new_sums = {row["image"]: row.get("output_png_sha256") for row in n["rows"]}
    if base_sums.keys() != new_sums.keys() or None in (*base_sums.values(), *new_sums.values()):
        return None
    changed = [image for image, digest in base_sums.items() if new_sums[image] != digest]
    if not changed:
        return "same", f"{label}: same ({len(base_sums)} output PNGs bit-equal)"
    count = f"{len(changed)} of {len(base_sums)} output PNGs changed (sha256), first {changed[0]}"
    if hardware:
        return "noise", f"{label}: {count}: within hardware noise (the hardware differs)"
    return "drifted", f"{label}: {count}, on the same hardware, where outputs are bit-equal"


def exit_code(cells: Sequence[Cell]) -> int:
    """0 when nothing drifted, went missing or became incomparable (new cells are reported, not failed), else 1."""
    return int(any(cell.status in FAILING for cell in cells))


def format_report(cells: Sequence[Cell], tolerances: dict[str, float] | None = None) -> str:
    """Which tolerances applied and why (`tolerances`: the overrides `compare` was given), the lines of every
    cell that is not `same` grouped by status, then one line counting each status."""
    compared = [cell for cell in cells if cell.status in ("same", "noise", "drifted")]
    differences = list(dict.fromkeys(cell.hardware for cell in compared if cell.hardware))
    header = [f"hardware differs ({difference})" for difference in differences]
    if differences:
        header.append(describe_hardware_tolerances())
    if any(not cell.hardware for cell in compared):
        header.append(
            f"{'some runs' if differences else 'BASE and NEW'} ran on the same hardware: "
            f"tolerances {_list({**DEFAULT_TOLERANCES, **(tolerances or {})})} and bit-equal output PNGs"
        )
    lines = [cell.line for status in STATUSES[1:] for cell in cells if cell.status == status]
    counts = ", ".join(
        f"{sum(cell.status == status for cell in cells)} {STATUS_WORDS.get(status, status)}" for status in STATUSES
    )
    return "\n".join([*header, *lines, counts])


def _runs(document: dict) -> dict[tuple[str, str], dict]:
    return {(run["method"], run["dataset"]): run for run in document.get("runs", [])}


def _kind(column: str) -> str:
    return column.partition("@")[0]


def _number(value) -> float:
    """A stored score as a float: results.json writes non-finite numbers as "inf", "-inf", "nan"."""
    return math.nan if value is None else float(value)


def _incomparable(base: dict, new: dict, b: dict, n: dict, column: str) -> str:
    """Why the two runs' values of `column` were not produced the same way, or "" when they were."""
    differences = list(
        definition_differences(portable(base["metrics"].get(column)), portable(new["metrics"].get(column)))
    )
    if differences == ["implementation.package"]:
        old, now = (
            base["metrics"][column]["implementation"]["package"],
            new["metrics"][column]["implementation"]["package"],
        )
        name, _, version = now.partition(" ")
        now = version if version and old.partition(" ")[0] == name else now
        return f"metric backend version differs: {old} -> {now}"
    if differences:
        return f"protocol definition of {column} differs (key: {differences[0] or '(the whole definition)'})"
    checks = [
        ("weights sha256", lambda run: (run["method_spec"].get("loaded_weights") or {}).get("sha256")),
        ("outputs fingerprint", lambda run: (run["method_spec"].get("outputs") or {}).get("fingerprint")),
        ("dataset fingerprint", lambda run: run["dataset_info"].get("fingerprint")),
        ("inference protocol", lambda run: run["method_spec"].get("inference")),
    ]
    for what, get in checks:
        if get(b) != get(n):
            return f"{what} differs: {_short(get(b))} -> {_short(get(n))}"
    b_images, n_images = {row["image"] for row in b["rows"]}, {row["image"] for row in n["rows"]}
    if b_images != n_images:
        return (
            f"images scored differ: BASE has {len(b_images)}, NEW has {len(n_images)} "
            f"({len(b_images - n_images)} only in BASE, {len(n_images - b_images)} only in NEW)"
        )
    return ""


def portable(definition):
    """The definition without its machine-local keys (file paths, the device it ran on)."""
    if isinstance(definition, dict):
        return {k: portable(v) for k, v in definition.items() if k not in MACHINE_LOCAL}
    if isinstance(definition, list):
        return [portable(v) for v in definition]
    return definition


def definition_differences(a, b, path: str = ""):
    """The key paths (`definition.ssim`, `implementation.files[1].sha256`) at which a and b differ, in order."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in dict.fromkeys([*a, *b]):
            yield from definition_differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from definition_differences(x, y, f"{path}[{index}]")
    elif a != b:
        yield path


def _compare_values(label: str, column: str, b: dict, n: dict, tol: float, noise: float | None) -> tuple[str, str]:
    """On the same hardware (`noise` None): same within `tol`, else drifted. On different hardware: same when
    every value is equal, noise within `noise`, else drifted."""
    kind = _kind(column)
    base_mean, new_mean = _number(b["means"][column]), _number(n["means"][column])
    new_rows = {row["image"]: _number(row.get(column)) for row in n["rows"]}
    pairs = [(row["image"], _number(row.get(column)), new_rows[row["image"]]) for row in b["rows"]]
    if _all_within(kind, base_mean, new_mean, pairs, tol if noise is None else 0.0):
        return "same", f"{label}: same ({_value(new_mean)})"
    if noise is not None and _all_within(kind, base_mean, new_mean, pairs, noise):
        _, image, image_change = max(
            (_size(kind, old, now), image, _change(kind, old, now)) for image, old, now in pairs
        )
        return "noise", (
            f"{label}: {_value(base_mean)} -> {_value(new_mean)} ({_change(kind, base_mean, new_mean)}; most "
            f"{image} {image_change}), within hardware noise (tol {_tol(kind, noise)})"
        )
    tol = tol if noise is None else noise
    moved = [
        (_size(kind, old, now), image, _change(kind, old, now))
        for image, old, now in pairs
        if not _within(kind, old, now, tol)
    ]
    mean_ok = _within(kind, base_mean, new_mean, tol)
    change = _change(kind, base_mean, new_mean)
    within = "within " if mean_ok else ""
    what = "tol" if noise is None else "hardware-noise tol"
    line = f"{label}: {_value(base_mean)} -> {_value(new_mean)} ({change}, {within}{what} {_tol(kind, tol)})"
    if moved:
        _, image, image_change = max(moved, key=lambda m: m[0])
        line += f"; {len(moved)} of {len(b['rows'])} images moved, most {image} ({image_change})"
    else:
        line += "; no image moved beyond tolerance"
    return "drifted", line


def _all_within(kind: str, base_mean: float, new_mean: float, pairs: list, tol: float) -> bool:
    return _within(kind, base_mean, new_mean, tol) and all(_within(kind, old, now, tol) for _, old, now in pairs)


def _within(kind: str, old: float, now: float, tol: float) -> bool:
    """Equal within tolerance; inf == inf and nan == nan, a finite value against a non-finite one is a move."""
    if not (math.isfinite(old) and math.isfinite(now)):
        return (math.isnan(old) and math.isnan(now)) or old == now
    return abs(now - old) <= tol * (abs(old) if kind in RELATIVE else 1.0)


def _size(kind: str, old: float, now: float) -> float:
    """How far a value moved, in the terms of its tolerance (non-finite moves count as infinitely far)."""
    if not (math.isfinite(old) and math.isfinite(now)) or (kind in RELATIVE and not old):
        return math.inf
    return abs(now - old) / (abs(old) if kind in RELATIVE else 1.0)


def _change(kind: str, old: float, now: float) -> str:
    if not (math.isfinite(old) and math.isfinite(now)):
        return "unchanged" if _within(kind, old, now, 0.0) else "non-finite"
    if kind in RELATIVE:
        return f"{(now - old) / abs(old) * 100:+.2f}%" if old else f"{now - old:+.4g} from 0"
    return f"{now - old:+.4g}{' dB' if kind == 'psnr' else ''}"


def _tol(kind: str, tol: float, unit: bool = False) -> str:
    return f"{tol * 100:g}%" if kind in RELATIVE else f"{tol:g}{' dB' if unit and kind == 'psnr' else ''}"


def _value(value) -> str:
    return f"{_number(value):.4f}"


def _short(value) -> str:
    """A sha256 by its first 12 digits, a missing value as "none", anything else as compact JSON."""
    if value is None or isinstance(value, str):
        text = "none" if value is None else value[:12] if len(value) == 64 else value
    else:
        text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."
