"""How much do outputs and scores move between CPUs? Measured on one machine by emulating others.

    python tests/bench/hardware_noise.py --out runs/hardware-noise [--suite quick] [--only NAME,...]

Each configuration runs the suite (`bench reproduce`, images kept) in a fresh process under a cap on the
instruction sets: oneDNN's (`ONEDNN_MAX_CPU_ISA`: the convolutions), ATen's (`ATEN_CPU_CAPABILITY`: its own
vectorised kernels) and, for the AMD-like cases, MKL's (`MKL_ENABLE_INSTRUCTIONS`: matmul, exp), at 1 and 2
threads. Every configuration is then compared with the first (the machine as it is, 2 threads):
- per method: how many output pixels (uint8 channel values) differ, and by how many levels at most;
- per metric column: the largest change of a per-image value and of a mean (absolute for PSNR/SSIM, relative
  for LPIPS/NIQE, as the drift gate measures them);
- NIQE on identical images (the rainy and clean images of the suite's sets) with derain-bench's float64 NIQE
  and with pyiqa's own `create_metric("niqe")`: how far either moves with the CPU alone.
It writes OUT/hardware_noise.json (what the drift gate's hardware-noise tolerances are checked against; the
committed copy is reports/reference/hardware_noise.json) and prints the tables of docs/drift-gate.md. A
measurement, not a test: about 40 minutes on a 2-core CPU.

    python tests/bench/hardware_noise.py --out runs/determinism-cost --cost [--limit 20]

times what pinning every library to AVX2 (the one setting that could make an AVX-512 CPU compute as an AVX2-only
one does) costs a PReNet Rain100H run: `bench run` as it is and pinned, alternately, three times each.
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

CONFIGURATIONS = {  # name -> environment; the first is the baseline every other is compared with
    "native-2t": {},
    "native-1t": {"OMP_NUM_THREADS": "1"},
    "onednn-avx512core-2t": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "onednn-avx512core-1t": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "OMP_NUM_THREADS": "1"},
    "onednn-avx2-2t": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "onednn-avx2-1t": {"ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"},
    "aten-avx2-2t": {"ATEN_CPU_CAPABILITY": "avx2"},
    "aten-avx2-1t": {"ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "1"},
    "aten-default-2t": {"ATEN_CPU_CAPABILITY": "default"},
    "aten-default-1t": {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"},
    "onednn-avx2-aten-default-2t": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "default"},
    "onednn-avx512core-aten-avx2-2t": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "ATEN_CPU_CAPABILITY": "avx2"},
    # what an AVX2-only x86 (an AMD EPYC before Zen 4) runs: every library capped at AVX2
    "avx2-everywhere-2t": {
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
    "avx2-everywhere-1t": {
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "OMP_NUM_THREADS": "1",
    },
}
RELATIVE = ("lpips", "niqe")  # as bench.results.compare measures them
NIQE_PROBE_IMAGES = 3  # per set and kind (rainy, clean): the suite's own images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the runs and hardware_noise.json")
    parser.add_argument("--suite", default="quick", help="suite to run per configuration (default quick)")
    parser.add_argument("--only", help="comma-separated configuration names (default all)")
    parser.add_argument("--cost", action="store_true", help="time PReNet on Rain100H as it is and pinned to AVX2")
    parser.add_argument("--limit", type=int, default=20, help="images of the --cost runs (default 20)")
    parser.add_argument("--niqe-probe", type=Path, help=argparse.SUPPRESS)  # internal: one configuration's NIQE
    args = parser.parse_args()
    if args.niqe_probe:
        return niqe_probe(args.niqe_probe)
    if args.cost:
        print(json.dumps(pinning_cost(args.out, args.limit), indent=1))
        return 0
    names = args.only.split(",") if args.only else list(CONFIGURATIONS)
    for name in names:
        run_configuration(name, args.out / name, args.suite)
    summary = summarise(args.out, names)
    (args.out / "hardware_noise.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(markdown(summary))
    return 0


def run_configuration(name: str, out: Path, suite: str) -> None:
    env = {**os.environ, **CONFIGURATIONS[name]}
    if not (out / "reproduce.json").is_file():
        command = [sys.executable, "-m", "bench", "reproduce", "--suite", suite, "--out", str(out), "--no-progress"]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    if not (out / "niqe_probe.json").is_file():
        command = [sys.executable, __file__, "--out", str(out), "--niqe-probe", str(out / "niqe_probe.json")]
        subprocess.run(command, env=env, check=True)
    print(f"{name}: done", file=sys.stderr)


def pinning_cost(out: Path, limit: int, repeats: int = 3) -> dict:
    """Wall and forward seconds of `bench run --methods prenet.rain100h --datasets rain100h --limit N`, as it is
    and with every library capped at AVX2 (the threads left as they are), medians of `repeats` alternating runs."""
    pinned = {k: v for k, v in CONFIGURATIONS["avx2-everywhere-2t"].items() if k != "OMP_NUM_THREADS"}
    timings = {"as-is": [], "pinned-avx2": []}
    for attempt in range(repeats):
        for name, environment in (("as-is", {}), ("pinned-avx2", pinned)):
            folder = out / f"{name}-{attempt}"
            command = [sys.executable, "-m", "bench", "run", "--methods", "prenet.rain100h", "--datasets", "rain100h"]
            command += ["--limit", str(limit), "--out", str(folder), "--overwrite", "--no-progress"]
            subprocess.run(command, env={**os.environ, **environment}, check=True, stdout=subprocess.DEVNULL)
            timing = json.loads((folder / "results.json").read_text(encoding="utf-8"))["runs"][0]["timing"]
            timings[name].append((timing["wall_s"], timing["forward_s"]))
    medians = {name: [float(np.median(column)) for column in zip(*runs, strict=True)] for name, runs in timings.items()}
    (wall, forward), (pinned_wall, pinned_forward) = medians["as-is"], medians["pinned-avx2"]
    return {
        "cpu": _cpu_model(),
        "images": limit,
        "as_is_s": {"wall": wall, "forward": forward},
        "pinned_avx2_s": {"wall": pinned_wall, "forward": pinned_forward},
        "slowdown_of_the_run": pinned_wall / wall - 1,
        "slowdown_of_forward": pinned_forward / forward - 1,
    }


def niqe_probe(path: Path) -> int:
    """NIQE of the mirror's first Rain100H and Rain12 images, ours and pyiqa's, in this process's environment."""
    import pyiqa
    import torch

    from bench.common.assets import Store
    from bench.data import load_pair, open_dataset
    from bench.metrics.niqe_metric import NiqeMetric

    store = Store.from_env()
    ours = NiqeMetric(torch.device("cpu"), store)
    pristine = ours.files[0]["path"]
    theirs = pyiqa.create_metric("niqe", device="cpu", pretrained_model_path=pristine)
    values = {}
    for dataset in ("rain100h", "rain12"):
        for sample in open_dataset(dataset, store).samples[:NIQE_PROBE_IMAGES]:
            for kind, image in zip(("rainy", "clean"), load_pair(sample), strict=True):
                tensor = torch.tensor(image).permute(2, 0, 1)[None].float() / 255
                values[f"{dataset}/{sample.name}/{kind}"] = {"ours": ours(image), "pyiqa": theirs(tensor).item()}
    path.write_text(json.dumps(values, indent=1), encoding="utf-8")
    return 0


def summarise(out: Path, names: list[str]) -> dict:
    from bench.data.images import read_image
    from bench.results.compare import load_comparable
    from bench.run.saved_images import image_path

    baseline_name, others = names[0], names[1:]
    baseline = load_comparable(out / baseline_name)
    outputs, columns, niqe = {}, {}, {"ours": {}, "pyiqa": {}}
    base_probe = json.loads((out / baseline_name / "niqe_probe.json").read_text(encoding="utf-8"))
    for name in others:
        document = load_comparable(out / name)
        for key, run in _runs(document).items():
            base_run = _runs(baseline)[key]
            group = _group_of(out / name, key)
            flipped = levels = 0
            for row in run["rows"]:
                a = read_image(image_path(out / baseline_name / group, key[0], key[1], row["image"]))
                b = read_image(image_path(out / name / group, key[0], key[1], row["image"]))
                difference = np.abs(a.astype(np.int16) - b.astype(np.int16))
                flipped += int(np.count_nonzero(difference))
                levels = max(levels, int(difference.max()))
            pixels = sum(row["height"] * row["width"] * 3 for row in run["rows"])
            entry = outputs.setdefault(f"{key[0]}/{key[1]}", {"values": pixels, "flipped": 0, "levels": 0, "by": []})
            if flipped > entry["flipped"]:
                entry.update(flipped=flipped, worst=name)
            entry["levels"] = max(entry["levels"], levels)
            if flipped:
                entry["by"].append(name)
            for column, mean in run["means"].items():
                worst_image = max(
                    (_change(column, b, n), b_row["image"])
                    for b_row, b, n in _pairs(base_run["rows"], run["rows"], column)
                )
                mean_change = _change(column, base_run["means"][column], mean)
                entry = columns.setdefault(column, {"image": [0.0, ""], "mean": [0.0, ""]})
                if worst_image[0] > entry["image"][0]:
                    entry["image"] = [worst_image[0], f"{name} {key[0]}/{key[1]} {worst_image[1]}"]
                if mean_change > entry["mean"][0]:
                    entry["mean"] = [mean_change, f"{name} {key[0]}/{key[1]}"]
        probe = json.loads((out / name / "niqe_probe.json").read_text(encoding="utf-8"))
        for image, values in probe.items():
            for implementation in niqe:
                change = _change("niqe", base_probe[image][implementation], values[implementation])
                if change > niqe[implementation].get("change", -1.0):
                    niqe[implementation] = {"change": change, "where": f"{name} {image}"}
    return {
        "machine": {"cpu": _cpu_model(), "platform": platform.platform()},
        "baseline": baseline_name,
        "configurations": {name: CONFIGURATIONS[name] for name in names},
        "measure": "PSNR and SSIM absolute, LPIPS and NIQE relative (|new - base| / |base|)",
        "outputs": outputs,
        "columns": columns,
        "niqe_identical_images": niqe,
    }


def _runs(document: dict) -> dict:
    return {(run["method"], run["dataset"]): run for run in document["runs"]}


def _group_of(reproduction: Path, key: tuple[str, str]) -> str:
    for group in json.loads((reproduction / "reproduce.json").read_text(encoding="utf-8"))["groups"]:
        document = json.loads((reproduction / group / "results.json").read_text(encoding="utf-8"))
        if any((run["method"], run["dataset"]) == key for run in document["runs"]):
            return group
    raise KeyError(key)


def _pairs(base_rows, new_rows, column):
    new = {row["image"]: row for row in new_rows}
    for row in base_rows:
        yield row, row[column], new[row["image"]][column]


def _change(column: str, base, new) -> float:
    base, new = float(base), float(new)
    if not (math.isfinite(base) and math.isfinite(new)):
        return 0.0 if base == new or (math.isnan(base) and math.isnan(new)) else math.inf
    change = abs(new - base)
    return change / abs(base) if column.partition("@")[0] in RELATIVE else change


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def markdown(summary: dict) -> str:
    """The tables of docs/drift-gate.md: output flips per method, changes per column, NIQE on identical images."""
    others = len(summary["configurations"]) - 1
    lines = [
        "| method / set | output values that differ, most (of all) | largest difference | configurations moving it |",
        "|---|---|---|---|",
    ]
    for key, entry in summary["outputs"].items():
        levels = f"{entry['levels']} level{'s' if entry['levels'] != 1 else ''}"
        lines.append(
            f"| `{key}` | {entry['flipped']:,} of {entry['values']:,} | {levels} | {len(entry['by'])} of {others} |"
        )
    lines += ["", "| column | largest per-image change | largest change of a mean |", "|---|---|---|"]
    for column, entry in summary["columns"].items():
        kind = column.partition("@")[0]
        lines.append(f"| `{column}` | {_format(kind, entry['image'][0])} | {_format(kind, entry['mean'][0])} |")
    probe = summary["niqe_identical_images"]
    lines += [
        "",
        "| NIQE of identical images | largest change |",
        "|---|---|",
        f"| pyiqa 0.1.16 itself (float32 luma and resize) | {_format('niqe', probe['pyiqa']['change'])} |",
        f"| `niqe@derain-bench` (float64) | {_format('niqe', probe['ours']['change'])} |",
    ]
    return "\n".join(lines)


def _format(kind: str, value: float) -> str:
    if value == 0:
        return "0"
    return f"{value * 100:.2g}%" if kind in RELATIVE else f"{value:.2g}{' dB' if kind == 'psnr' else ''}"


if __name__ == "__main__":
    sys.exit(main())
