"""`bench report`: one self-contained HTML file from stored results (it never runs a model).

Inline CSS, SVG plots and PNG images as data URIs, a few lines of JavaScript (sorting, the swipe) that the page
does not need to be read; no network. Byte-stable: the same results give the same bytes.
"""

import json
import math
import os
import tempfile
from importlib import resources
from pathlib import Path

from bench.common.errors import BenchError
from bench.data.cards import PUBLISHED_TOLERANCE
from bench.report import plots
from bench.report.collect import Collection, collect, warnings
from bench.report.tables import cost, leaderboard, paired, ranked, scores
from bench.report.tables import spread as protocol_spread
from bench.report.visual import colour_bar_uri, visual_section
from bench.results.compare import portable

TEMPLATE = "report.html.j2"


def write_report(paths: list[Path], out: Path, *, tolerances: dict | None = None, notes: dict | None = None) -> int:
    """Render the report of `paths` into `out` atomically (a reader never sees half a file); return its size."""
    if out.is_dir():
        raise BenchError(f"--out {out} is a folder; give the report's file name, e.g. {out / 'report.html'}")
    html = render_report(paths, tolerances=tolerances, notes=notes)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise BenchError(f"cannot write the report into {out.parent}: {exc.strerror}") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(html)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 would hide the report from everyone else
        os.replace(temporary, out)
    except OSError as exc:
        raise BenchError(f"cannot write the report {out}: {exc.strerror}; nothing was written") from exc
    finally:
        Path(temporary).unlink(missing_ok=True)
    return len(html.encode())


def render_report(paths: list[Path], *, tolerances: dict | None = None, notes: dict | None = None) -> str:
    """The HTML of the report on the results in `paths`; `tolerances`: (method, dataset, metric) -> the tolerance
    each published number is held to (a suite's), the dataset card's otherwise; `notes`: (method,
    dataset) -> what a suite says about that check, shown under the leaderboard."""
    collection = collect(paths)
    context = {
        "documents": [_document_row(source, d) for source, d in collection.documents],
        "runs": collection.runs,
        "warnings": warnings(collection),
        "methods": _methods(collection),
        "datasets": _datasets(collection),
        "sections": [_section(collection, name, tolerances, notes or {}) for name in collection.datasets()],
        "definitions": {c: json.dumps(portable(d), indent=1, sort_keys=True) for c, d in collection.columns.items()},
        "colour_bar": colour_bar_uri(),
        "default_tolerance": " / ".join(
            f"{v:g}{' dB' if k == 'psnr' else ''} ({k})" for k, v in PUBLISHED_TOLERANCE.items()
        ),
    }
    return _environment().get_template(TEMPLATE).render(**context)


def _environment():
    import jinja2

    template = resources.files("bench.report").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    environment = jinja2.Environment(
        loader=jinja2.DictLoader({TEMPLATE: template}),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(fmt=_fmt, sortkey=_sort_key, pvalue=_p_value, millions=_millions)
    return environment


def _section(collection: Collection, dataset: str, tolerances: dict | None, notes: dict) -> dict:
    board = leaderboard(collection, dataset, tolerances)
    columns = board["columns"]
    if not columns:
        raise BenchError(f"{dataset}: its runs scored no metric, so there is nothing to report")
    first = columns[0]
    no_ground_truth = not any(c.metric in ("psnr", "ssim", "lpips") for c in columns)
    plots_made, plots_omitted = _plots(collection, dataset, first)
    return {
        "dataset": dataset,
        "leaderboard": board,
        "notes": [
            (run.method, notes[run.method, dataset])
            for run in collection.runs_on(dataset)
            if (run.method, dataset) in notes
        ],
        "digits": [2 if c.metric == "psnr" else 4 for c in columns],
        "paired": paired(collection, dataset, first),
        "spread": protocol_spread(collection, dataset),
        "plots": plots_made,
        "plots_omitted": plots_omitted,
        "visual": visual_section(collection, dataset, first),
        "not_applicable": (
            "this set has no ground truth (real rain), so PSNR, SSIM, LPIPS, the protocol spread and error maps do "
            f"not apply; methods are compared on {first.name}, a no-reference score"
            if no_ground_truth
            else ""
        ),
    }


def _plots(collection: Collection, dataset: str, column) -> tuple[list[dict], list[str]]:
    runs = ranked(collection, dataset, column)
    frame = scores(runs, column.name)
    made = [
        {"title": f"Per-image {column.name} on {dataset}, per method", "uri": plots.distribution(frame, column.name)}
    ]
    omitted = []
    if len(runs) >= 2:
        a, b = runs[0].method, runs[1].method
        difference = (frame[a] - frame[b]).dropna()
        difference = difference[difference.abs() < math.inf]
        made.append(
            {
                "title": f"Per-image {column.name} difference, {a} − {b}, sorted",
                "uri": plots.sorted_difference(difference, a, b, column.name),
            }
        )
    for key, label in (("gmacs", "GMACs at 3x256x256"), ("latency_ms", "median latency (ms)")):
        points = [(r.method, cost(r)[key], r.mean(column.name)) for r in runs]
        points = [p for p in points if p[1] is not None and math.isfinite(p[2])]
        if len(points) >= 2:
            uri = plots.quality_vs_cost(points, column.name, label, column.higher_is_better)
            made.append({"title": f"{column.name} against {label}, Pareto front in red", "uri": uri})
        else:
            omitted.append(f"{column.name} against {label}: fewer than two methods were profiled (run with --profile)")
    return made, omitted


def _document_row(source: str, document: dict) -> dict:
    environment = document["environment"]
    git = environment.get("git") or {}
    device = environment.get("device") or {}
    count = device.get("cpu_threads")
    threads = f", {count} thread{'' if count == 1 else 's'}" if device.get("type") == "cpu" else ""
    return {
        "source": source,
        "created": document.get("created_utc", ""),
        "config_hash": document["config_hash"],
        "commit": (git.get("commit") or "unknown")[:10],
        "dirty": bool(git.get("dirty")),
        "device": f"{device.get('type', '?')}: {device.get('name', '?')}{threads}",
        "torch": environment.get("packages", {}).get("torch", "?"),
        "version": environment.get("derain_bench", "?"),
        "packages": ", ".join(f"{k} {v}" for k, v in environment.get("packages", {}).items())
        + f"; python {environment.get('python', '?')}",
    }


def _methods(collection: Collection) -> list[dict]:
    found = {}
    for run in collection.runs:
        spec = run.run["method_spec"]
        loaded = spec.get("loaded_weights") or {}
        found.setdefault(
            run.method,
            {
                "name": run.method,
                "summary": spec.get("summary", ""),
                "sha256": loaded.get("sha256"),
                "weights_source": _weights_source(spec, loaded),
                "url": (spec.get("weights") or {}).get("url", ""),
                "trained_on": spec.get("trained_on", ""),
                "citation": spec.get("citation", ""),
                "published_source": spec.get("published_source", ""),
            },
        )
    return list(found.values())


def _weights_source(spec: dict, loaded: dict) -> str:
    if spec.get("kind") == "outputs":
        outputs = spec.get("outputs") or {}
        files, fingerprint = len(outputs.get("files", {})), outputs.get("fingerprint", "")[:12]
        return f"outputs in {outputs.get('folder')} ({files} files, fingerprint {fingerprint})"
    return "(your file)" if loaded.get("source") == "user" else ""


def _datasets(collection: Collection) -> list[dict]:
    found = {}
    for run in collection.runs:
        info = run.run["dataset_info"]
        found.setdefault(
            run.dataset,
            {
                "name": run.dataset,
                "n": info.get("n"),
                "fingerprint": info.get("fingerprint") or "",
                "title": info.get("title", ""),
                "citation": info.get("citation", ""),
                "licence": info.get("licence", ""),
            },
        )
    return list(found.values())


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}f}"


def _sort_key(value) -> str:
    """A number JavaScript's parseFloat reads, with missing and non-finite values sorting to the ends."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-1e300"
    value = float(value)
    return repr(max(-1e300, min(1e300, value)))


def _p_value(value: float) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _millions(value) -> str:
    return "–" if value is None else f"{value / 1e6:.3f}"
