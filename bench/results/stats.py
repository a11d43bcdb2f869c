"""Uncertainty of per-image scores, for comparing methods scored on the same test images.

Pure functions on float64 arrays of per-image scores (one entry per test image, the same order for every method):
a percentile bootstrap CI of a mean, a paired comparison of two methods (bootstrap CI of the mean difference,
win/tie counts and a Wilcoxon signed-rank p-value), and Holm's adjustment of a family of p-values. Bootstraps
resample images with replacement from `numpy.random.default_rng(seed)`, so a seed fixes the result. Where images
share a background (`backgrounds`: one label per image, equal for one background), they resample backgrounds
instead, a background's images in or out together (a cluster bootstrap): such images are not independent scenes.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from bench.common.errors import BenchError

_EXACT_MAX_N = 50  # scipy's method="auto": the exact null distribution up to 50 differences without ties or zeros
_PERMUTATION_MAX_N = 13  # ... with ties or zeros, all 2**n sign flips up to 13 (2**13 < its 9999 resamples)


@dataclass(frozen=True)
class PairedComparison:
    """Method a against method b on the same n images; differences are a - b."""

    n: int
    mean_difference: float
    ci_low: float
    ci_high: float
    wins_a: int
    wins_b: int
    ties: int
    p_value: float
    test: str

    @property
    def distinguishable(self) -> bool:
        """Whether the CI of the mean difference excludes 0 (False when the CI is n/a)."""
        return bool(self.ci_low > 0 or self.ci_high < 0)


def _scores(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise BenchError(f"{name} must be a 1-D array of per-image scores, got shape {array.shape}")
    return array


def _check_bootstrap(resamples: int, confidence: float) -> None:
    if int(resamples) != resamples or resamples < 1:
        raise BenchError(f"resamples must be a positive integer, got {resamples!r}")
    if not 0 < confidence < 1:
        raise BenchError(f"confidence must be strictly between 0 and 1, got {confidence!r}")


def _labels(backgrounds: Sequence | None, n: int) -> np.ndarray | None:
    if backgrounds is None:
        return None
    labels = list(backgrounds)
    if len(labels) != n:
        raise BenchError(f"backgrounds must give one label per image: {len(labels)} labels for {n} images")
    numbering = {label: i for i, label in enumerate(dict.fromkeys(labels))}  # in order of first appearance
    return np.array([numbering[label] for label in labels])


def _bootstrap(
    values: np.ndarray, seed: int, resamples: int, confidence: float, backgrounds: Sequence | None = None
) -> tuple[float, float]:
    n = len(values)
    if n < 2 or not np.isfinite(values).all():
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    labels = _labels(backgrounds, n)
    if labels is None:
        means = values[rng.integers(0, n, size=(int(resamples), n))].mean(axis=1)
    else:  # draw backgrounds; the mean is over all images of the drawn backgrounds
        sums, sizes = np.bincount(labels, weights=values), np.bincount(labels)
        picks = rng.integers(0, len(sizes), size=(int(resamples), len(sizes)))
        means = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    return (float(low), float(high))


def bootstrap_mean_ci(
    values: ArrayLike,
    *,
    seed: int = 0,
    resamples: int = 10_000,
    confidence: float = 0.95,
    backgrounds: Sequence | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values`; (nan, nan) when n < 2 or any value is non-finite."""
    _check_bootstrap(resamples, confidence)
    return _bootstrap(_scores(values, "values"), seed, resamples, confidence, backgrounds)


def _wilcoxon(d: np.ndarray) -> tuple[float, str]:
    """Two-sided Wilcoxon signed-rank p-value of finite differences d, and the method scipy's "auto" picks."""
    from scipy import stats

    n = len(d)
    if n < 2:
        return float("nan"), "Wilcoxon signed-rank (not computed: fewer than 2 images)"
    nonzero = d[d != 0]
    if len(nonzero) == 0:
        return float("nan"), "Wilcoxon signed-rank (not computed: all differences are zero)"
    ties_or_zeros = len(nonzero) < n or len(np.unique(np.abs(nonzero))) < len(nonzero)
    if n <= _EXACT_MAX_N and not ties_or_zeros:
        method = "exact"
    elif n <= _PERMUTATION_MAX_N:
        method = "exact permutation"
    else:
        method = "normal approximation"
    result = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(result.pvalue), f"Wilcoxon signed-rank ({method})"


def paired_difference(
    a: ArrayLike,
    b: ArrayLike,
    *,
    seed: int = 0,
    resamples: int = 10_000,
    confidence: float = 0.95,
    backgrounds: Sequence | None = None,
) -> PairedComparison:
    """Compare per-image scores a and b of two methods on the same images, in the same order; with `backgrounds`,
    the CI resamples backgrounds (the Wilcoxon p still takes images as independent)."""
    _check_bootstrap(resamples, confidence)
    a, b = _scores(a, "a"), _scores(b, "b")
    if len(a) != len(b):
        raise BenchError(f"paired scores need the same images: a has {len(a)} scores, b has {len(b)}")
    for name, array in (("a", a), ("b", b)):
        bad = np.flatnonzero(~np.isfinite(array))
        if len(bad):
            raise BenchError(f"{name}[{bad[0]}] is {array[bad[0]]}: paired comparison needs finite scores")
    d = a - b
    ci_low, ci_high = _bootstrap(d, seed, resamples, confidence, backgrounds)
    p_value, test = _wilcoxon(d)
    return PairedComparison(
        n=len(d),
        mean_difference=float(d.mean()) if len(d) else float("nan"),
        ci_low=ci_low,
        ci_high=ci_high,
        wins_a=int((d > 0).sum()),
        wins_b=int((d < 0).sum()),
        ties=int((d == 0).sum()),
        p_value=p_value,
        test=test,
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values in input order; nan entries stay nan and do not count in m."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise BenchError(f"p-values must be a flat sequence, got shape {p.shape}")
    present = np.flatnonzero(~np.isnan(p))
    out_of_range = present[(p[present] < 0) | (p[present] > 1)]
    if len(out_of_range):
        raise BenchError(f"p-value {out_of_range[0]} is {p[out_of_range[0]]}, not in [0, 1]")
    order = present[np.argsort(p[present], kind="stable")]
    m = len(order)
    adjusted = np.full(len(p), np.nan)
    adjusted[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return [float(x) for x in adjusted]
