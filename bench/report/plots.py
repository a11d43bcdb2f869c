"""The report's plots, as SVG data URIs: byte-stable (fixed hash salt, no date), no fonts or files fetched.

Each plot is an `<img>` of its own SVG document, so the ids inside two plots can never collide in the page.
"""

import base64
import io
import math

import numpy as np
import pandas as pd

_STYLE = {
    "svg.hashsalt": "derain-bench",  # ids in the SVG are hashes: salted with a constant, they are stable
    "svg.fonttype": "none",  # text stays text (small, selectable); the browser's sans-serif draws it
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg_uri(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", dpi=150, metadata={"Date": None, "Creator": "derain-bench"})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue().encode()).decode()


def _styled(draw):
    """Run `draw` under the report's matplotlib settings, whatever the user's matplotlibrc says."""
    import matplotlib

    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_STYLE):
            return draw(*args, **kwargs)

    return wrapper


@_styled
def distribution(frame: pd.DataFrame, label: str) -> str:
    """Per-image scores per method: a box per method and every image as a dot (methods top to bottom)."""
    methods = list(frame.columns)
    figure = _figure(7.0, 0.45 * len(methods) + 0.9)
    axes = figure.add_subplot()
    finite = [frame[m][np.isfinite(frame[m])].to_numpy() for m in methods]
    positions = np.arange(len(methods))[::-1]
    axes.boxplot(finite, positions=positions, orientation="horizontal", widths=0.5, showfliers=False)
    for values, y in zip(finite, positions, strict=True):
        offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(len(values))
        # one bitmap for the dots, not an SVG element per image: the size stays put at thousands of images
        axes.scatter(values, y + offsets, s=6, alpha=0.6, color="#1f77b4", linewidths=0, rasterized=True)
    axes.set_yticks(positions, methods)
    axes.set_xlabel(label)
    return _svg_uri(figure)


@_styled
def quality_vs_cost(points: list[tuple[str, float, float]], quality: str, cost: str, higher_is_better: bool) -> str:
    """(method, cost, quality) points with the Pareto front (no other method is both cheaper and better)."""
    figure = _figure(4.2, 3.2)
    axes = figure.add_subplot()
    for name, x, y in points:
        axes.scatter([x], [y], s=18, color="#1f77b4")
        axes.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    front = pareto_front(points, higher_is_better)
    axes.plot([p[1] for p in front], [p[2] for p in front], color="#d62728", linewidth=1, label="Pareto front")
    axes.set_xlabel(cost)
    axes.set_ylabel(quality)
    if all(x > 0 for _, x, _ in points) and max(x for _, x, _ in points) > 20 * min(x for _, x, _ in points):
        axes.set_xscale("log")
    axes.legend(loc="best", fontsize=7, frameon=False)
    return _svg_uri(figure)


def pareto_front(points: list[tuple[str, float, float]], higher_is_better: bool) -> list[tuple[str, float, float]]:
    """The points no other point beats on both cost (lower) and quality, by increasing cost."""
    sign = 1 if higher_is_better else -1
    front, best = [], -math.inf
    for point in sorted(points, key=lambda p: (p[1], -sign * p[2])):
        if sign * point[2] > best:
            front.append(point)
            best = sign * point[2]
    return front


_MOST_STEPS = 1000  # the sorted-difference plot is about 1000 px wide at the report's resolution


@_styled
def sorted_difference(differences: pd.Series, a: str, b: str, label: str) -> str:
    """Per-image `a - b`, sorted: how many images each method wins, and by how much."""
    ordered = differences.sort_values()
    figure = _figure(7.0, 2.6)
    axes = figure.add_subplot()
    values = ordered.to_numpy()
    edges = np.arange(len(values) + 1)  # image i covers [i, i + 1): two filled step areas, not a bar per image
    if len(values) > _MOST_STEPS:  # more steps than the plot has pixels: the middle image of each of that many runs
        edges = np.linspace(0, len(values), _MOST_STEPS + 1)
        values = values[((edges[:-1] + edges[1:]) / 2).astype(int)]
    for wins, colour in ((values > 0, "#2ca02c"), (values < 0, "#d62728")):
        axes.stairs(np.where(wins, values, 0), edges, fill=True, color=colour, linewidth=0)
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_xlabel(f"images, sorted ({len(ordered)})")
    axes.set_ylabel(f"{label.partition('@')[0].upper()} difference")
    axes.set_xticks([])
    return _svg_uri(figure)
