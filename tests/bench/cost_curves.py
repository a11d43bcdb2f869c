"""How the cost of `run`, `report` and `compare` grows with images and methods (`python tests/bench/cost_curves.py`).

Synthetic pairs of Rain100H's size (481x321 PNG). `run`: copies of the identity method (what a network costs is
not the harness's) on 100, 1,000 and 5,000 images and 1, 10 and 30 methods, where a 2-core CPU finishes them in
minutes. `report` and `compare`: results folders of every size up to 5,000 images x 30 methods, made from a real
run of one method on 20 images whose rows are repeated under new image names with seeded noise on every score,
and whose kept PNGs are hard links of the real ones (the report opens only the images it shows). Each measurement
is a fresh process: wall time and its peak resident memory (ru_maxrss). Writes OUT/cost_curves.json, a markdown
table on stdout, and with --plot PATH the curves as a PNG.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = (321, 481)  # rows, columns: Rain100H's landscape pairs
RUN_POINTS = [(100, 1), (1000, 1), (5000, 1), (100, 10), (100, 30), (1000, 10)]
DOCUMENT_POINTS = [(n, m) for n in (100, 1000, 5000) for m in (1, 10, 30)]
BASE_IMAGES = 20


def build(name: str):
    """`copy-K`: the identity method under another name (registered by the child processes of this script)."""
    from torch import nn

    from bench.methods.contract import DerainMethod, MethodSpec, Quantisation

    return DerainMethod(MethodSpec(name=name, summary="identity", quantisation=Quantisation.ROUND), nn.Identity)


def make_pairs(folder: Path, count: int, seed: int = 0) -> Path:
    """`count` distinct rainy/clean pairs of smooth images with streaks: rain/ and norain/, same names."""
    if (folder / "done").exists():
        return folder
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0 : SIZE[0], 0 : SIZE[1]]
    for index in range(count):
        phase = rng.uniform(0, 6.3, size=3)
        clean = np.stack([127 + 100 * np.sin(rows / 40 + columns / 57 + p) for p in phase], axis=-1)
        rainy = clean.copy()
        streaks = rng.integers(0, SIZE[1], size=60)
        rainy[:, streaks] += 60
        for kind, image in (("norain", clean), ("rain", rainy)):
            path = folder / kind / f"{index:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path, compress_level=1)
    (folder / "done").touch()
    return folder


def subset(pairs: Path, count: int, folder: Path) -> Path:
    """The first `count` pairs of `pairs`, as hard links."""
    for kind in ("rain", "norain"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            target = folder / kind / f"{index:05d}.png"
            if not target.exists():
                os.link(pairs / kind / f"{index:05d}.png", target)
    return folder


def measure(argv: list[str]) -> dict:
    """Wall time and peak memory of `python -m bench ARGV` in a fresh process (this script as a wrapper)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", *argv], capture_output=True, text=True, env={**os.environ}, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):  # compare exits 1 on drift, which these folders are made to have
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr[-3000:]}")
    peak = json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"]
    return {"wall_s": round(wall, 2), "peak_mb": peak}


def child(argv: list[str]) -> None:
    """Run `python -m bench ARGV` here with the copies registered, then print the peak memory as the last line."""
    sys.path.insert(0, str(HERE))
    from bench.cli import main
    from bench.methods import registry

    for k in range(30):
        registry.METHODS[f"copy-{k}"] = "cost_curves:build"
    code = main(argv)
    print(json.dumps({"code": code, "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


def synthesise(base: Path, out: Path, images: int, methods: int, seed: int) -> None:
    """A results folder of `images` x `methods` made from the one-method run in `base` (see the module doc)."""
    from bench.results.schema import write_results

    document = json.loads((base / "results.json").read_text())
    template = document["runs"][0]
    rng = np.random.default_rng(seed)
    scored = [key for key, value in template["rows"][0].items() if "@" in key and isinstance(value, float)]
    kept = base / "images"
    staging = out / ".staging-images"
    runs = []
    for m in range(methods):
        name = f"copy-{m}"
        rows = []
        for i in range(images):
            row = dict(template["rows"][i % BASE_IMAGES])
            row["image"] = f"{i:05d}"
            for key in scored:
                row[key] = row[key] * (1 + 0.01 * rng.standard_normal()) + 0.05 * m
            rows.append(row)
            source = kept / template["method"] / template["dataset"] / f"{i % BASE_IMAGES:05d}.png"
            _link(source, staging / name / template["dataset"] / f"{i:05d}.png")
            if m == 0:
                for folder in ("@rainy", "@ground-truth"):
                    _link(
                        kept / folder / template["dataset"] / f"{i % BASE_IMAGES:05d}.png",
                        staging / folder / template["dataset"] / f"{i:05d}.png",
                    )
        run = dict(template, method=name, n=images, rows=rows)
        run["means"] = {key: float(np.mean([r[key] for r in rows])) for key in template["means"]}
        run["method_spec"] = dict(template["method_spec"], name=name)
        runs.append(run)
    inputs = document["images"]["inputs"][template["dataset"]]
    document["images"]["inputs"] = {
        template["dataset"]: {f"{i:05d}": inputs[f"{i % BASE_IMAGES:05d}"] for i in range(images)}
    }
    document["runs"] = runs
    document["config"] = dict(document["config"], methods=[run["method"] for run in runs])
    write_results(out, document, images=staging)


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.link(source, target)


def journal_bytes(results: Path) -> int:
    """What the journal of that run held before it finished: a header line, then one line per image row."""
    document = json.loads(results.read_text())
    lines = [
        json.dumps({"method": run["method"], "dataset": run["dataset"], "row": row}, separators=(",", ":")) + "\n"
        for run in document["runs"]
        for row in run["rows"]
    ]
    return sum(len(line.encode()) for line in lines) + 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/cost-curves"))
    parser.add_argument("--plot", type=Path, help="write the curves as a PNG here")
    parser.add_argument("--skip-run", action="store_true", help="measure report and compare only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = make_pairs(args.out / "pairs", max(n for n, _ in RUN_POINTS))
    results: dict = {"cpu": _cpu(), "run": [], "report": [], "compare": []}
    if not args.skip_run:
        for images, methods in RUN_POINTS:
            folder = subset(pairs, images, args.out / f"pairs-{images}")
            out = args.out / f"run-{images}x{methods}"
            names = ",".join(f"copy-{k}" for k in range(methods))
            argv = ["run", "--methods", names, "--dataset-dir", str(folder), "--out", str(out), "--overwrite"]
            cost = measure([*argv, "--no-progress"])
            sizes = {"results_mb": _mb(out / "results.json"), "journal_mb": journal_bytes(out / "results.json") / 1e6}
            results["run"].append({"images": images, "methods": methods, **cost, **sizes})
            print(results["run"][-1], flush=True)
    base = args.out / "base"
    if not (base / "results.json").exists():
        folder = subset(pairs, BASE_IMAGES, args.out / f"pairs-{BASE_IMAGES}")
        measure(["run", "--methods", "copy-0", "--dataset-dir", str(folder), "--out", str(base), "--save-images"])
    for images, methods in DOCUMENT_POINTS:
        first, second = (args.out / f"doc-{images}x{methods}-{k}" for k in "ab")
        for seed, folder in enumerate((first, second)):
            if not (folder / "results.json").exists():
                synthesise(base, folder, images, methods, seed)
        html = args.out / f"report-{images}x{methods}.html"
        report = measure(["report", str(first), "--out", str(html)])
        sizes = {"html_mb": _mb(html), "results_mb": _mb(first / "results.json")}
        results["report"].append({"images": images, "methods": methods, **report, **sizes})
        compare = measure(["compare", str(first), str(second)])
        results["compare"].append({"images": images, "methods": methods, **compare})
        print(results["report"][-1], results["compare"][-1], flush=True)
    (args.out / "cost_curves.json").write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    if args.plot:
        plot(results, args.plot)
    return 0


def _mb(path: Path) -> float:
    return round(path.stat().st_size / 1e6, 2)


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return f"{os.cpu_count()} cores"


def table(results: dict) -> str:
    lines = ["| command | images | methods | wall s | peak MB | sizes |", "|---|---|---|---|---|---|"]
    for command in ("run", "report", "compare"):
        for point in results[command]:
            sizes = ", ".join(f"{k[:-3]} {v:.2f} MB" for k, v in point.items() if k.endswith("_mb") and k != "peak_mb")
            lines.append(
                f"| {command} | {point['images']:,} | {point['methods']} | {point['wall_s']:.1f} | "
                f"{point['peak_mb']:.0f} | {sizes} |"
            )
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for axis, command in zip(axes, ("run", "report", "compare"), strict=True):
        for methods in (1, 10, 30):
            points = [p for p in results[command] if p["methods"] == methods]
            if points:
                images, walls = [p["images"] for p in points], [p["wall_s"] for p in points]
                axis.plot(images, walls, "o-", label=f"{methods} method{'s' if methods > 1 else ''}")
        axis.set(xscale="log", yscale="log", xlabel="images", ylabel="wall s", title=f"bench {command}")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.suptitle(f"cost of derain-bench's commands ({results['cpu']})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        sys.exit(main())
