"""bench.results.stats against independent references: scipy's bootstrap, a sign-flip enumeration of the Wilcoxon
signed-rank null distribution written here, and Holm's adjustment worked by hand.

Bootstrap CIs from different random streams agree only up to Monte-Carlo error. Those comparisons use 100,000
resamples on 40 skewed (lognormal) scores, so that the percentile CI is asymmetric and a wrong method shows:
measured over 60 seeds, one CI end moves by at most 0.010 standard errors of the mean (SE) between seeds, so the
difference of two independent estimates has an SD of about 0.014 SE, and the tolerance is 0.07 SE (5 SDs). The
wrong answers a test should catch are ten times further off (checked below): the basic bootstrap CI (the
percentile CI reflected about the mean) by about 0.3 SE, a 90% CI by 0.25-0.37 SE, the normal-theory CI by more.
"""

import math

import numpy as np
import pytest
import scipy.stats

from bench.common.errors import BenchError
from bench.results.stats import PairedComparison, bootstrap_mean_ci, holm, paired_difference

MC_RESAMPLES = 100_000
MC_TOLERANCE_SE = 0.07


def _skewed(n=40, seed=7):
    return np.random.default_rng(seed).lognormal(0.0, 1.0, n)


def _se(x):
    return x.std(ddof=1) / math.sqrt(len(x))


def _scipy_percentile_ci(data, seed, **kwargs):
    ci = scipy.stats.bootstrap(
        data, n_resamples=MC_RESAMPLES, method="percentile", confidence_level=0.95, rng=seed, **kwargs
    ).confidence_interval
    return np.array([ci.low, ci.high])


# --- bootstrap_mean_ci ---------------------------------------------------------------------------------------


def test_bootstrap_ci_agrees_with_scipys_percentile_bootstrap_within_monte_carlo_error():
    x = _skewed()
    ours = np.array(bootstrap_mean_ci(x, seed=0, resamples=MC_RESAMPLES))
    reference = _scipy_percentile_ci((x,), seed=12345, statistic=np.mean)
    assert np.abs(ours - reference).max() / _se(x) < MC_TOLERANCE_SE


def test_the_monte_carlo_tolerance_rejects_plausible_wrong_intervals():
    x = _skewed()
    reference = _scipy_percentile_ci((x,), seed=12345, statistic=np.mean)
    basic = 2 * x.mean() - reference[::-1]  # basic bootstrap: off-centre for skewed data
    ninety = np.array(bootstrap_mean_ci(x, seed=0, resamples=MC_RESAMPLES, confidence=0.90))  # wrong width
    normal = x.mean() + np.array([-1.959964, 1.959964]) * _se(x)  # symmetric normal-theory interval
    for wrong in (basic, ninety, normal):
        assert np.abs(wrong - reference).max() / _se(x) > 2 * MC_TOLERANCE_SE


def test_bootstrap_ci_is_deterministic_for_a_seed_and_moves_with_it():
    x = np.random.default_rng(3).normal(30.0, 2.0, 12)
    assert bootstrap_mean_ci(x, seed=5) == bootstrap_mean_ci(x, seed=5)
    assert bootstrap_mean_ci(x, seed=5) != bootstrap_mean_ci(x, seed=6)


def test_bootstrap_ci_contains_the_mean_and_narrows_with_confidence():
    x = np.random.default_rng(4).normal(30.0, 2.0, 100)
    low, high = bootstrap_mean_ci(x)
    assert low < x.mean() < high
    low80, high80 = bootstrap_mean_ci(x, confidence=0.8)
    assert low < low80 < high80 < high
    assert all(isinstance(end, float) for end in (low, high))


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_bootstrap_ci_of_non_finite_scores_is_not_available(bad):
    assert all(math.isnan(end) for end in bootstrap_mean_ci([30.0, bad, 31.0]))


@pytest.mark.parametrize("values", [[], [30.0]])
def test_bootstrap_ci_needs_two_images(values):
    assert all(math.isnan(end) for end in bootstrap_mean_ci(values))


def test_bootstrap_ci_of_constant_scores_is_a_point():
    assert bootstrap_mean_ci([2.5] * 12) == (2.5, 2.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"resamples": 0}, "resamples"), ({"confidence": 1.0}, "confidence"), ({"confidence": 0.0}, "confidence")],
)
def test_bootstrap_ci_rejects_bad_settings(kwargs, message):
    with pytest.raises(BenchError, match=message):
        bootstrap_mean_ci([1.0, 2.0], **kwargs)


def test_bootstrap_ci_rejects_a_table_of_scores():
    with pytest.raises(BenchError, match="1-D"):
        bootstrap_mean_ci(np.ones((3, 4)))


# --- paired_difference: bootstrap ----------------------------------------------------------------------------


def _pair(n=40, seed=11):
    """Two methods on the same images: a shared per-image difficulty, so a and b are strongly correlated."""
    rng = np.random.default_rng(seed)
    difficulty = rng.lognormal(3.0, 0.3, n)
    return difficulty + rng.exponential(1.0, n), difficulty + rng.exponential(0.8, n)


def test_paired_ci_is_the_bootstrap_of_the_per_image_differences():
    a, b = _pair()
    result = paired_difference(a, b, seed=9, resamples=2000)
    assert (result.ci_low, result.ci_high) == bootstrap_mean_ci(a - b, seed=9, resamples=2000)


def test_paired_ci_agrees_with_scipys_paired_bootstrap_within_monte_carlo_error():
    a, b = _pair()

    def mean_difference(x, y, axis=-1):
        return np.mean(x - y, axis=axis)

    reference = _scipy_percentile_ci((a, b), seed=2024, statistic=mean_difference, paired=True)
    result = paired_difference(a, b, seed=0, resamples=MC_RESAMPLES)
    assert np.abs(np.array([result.ci_low, result.ci_high]) - reference).max() / _se(a - b) < MC_TOLERANCE_SE
    # an unpaired bootstrap (images resampled independently for a and b) would be far wider here
    unpaired = _scipy_percentile_ci((a, b), seed=2024, statistic=mean_difference, paired=False)
    assert (unpaired[1] - unpaired[0]) > 3 * (reference[1] - reference[0])


def test_paired_counts_mean_and_distinguishability():
    a = np.array([30.0, 31.0, 29.0, 33.0, 30.5, 28.0])
    b = np.array([29.0, 31.0, 28.0, 30.0, 31.5, 27.0])
    result = paired_difference(a, b)
    assert isinstance(result, PairedComparison)
    assert (result.n, result.wins_a, result.wins_b, result.ties) == (6, 4, 1, 1)
    assert result.mean_difference == pytest.approx(np.mean([1.0, 0.0, 1.0, 3.0, -1.0, 1.0]), abs=1e-15)
    assert result.distinguishable == (result.ci_low > 0 or result.ci_high < 0)
    swapped = paired_difference(b, a)
    assert (swapped.wins_a, swapped.wins_b, swapped.mean_difference) == (1, 4, -result.mean_difference)
    assert swapped.p_value == result.p_value


def test_clearly_better_method_is_distinguishable_and_equal_methods_are_not():
    a, _ = _pair(n=100)
    assert paired_difference(a + 0.5, a).distinguishable
    noise = np.random.default_rng(1).normal(0.0, 1.0, 100)
    assert not paired_difference(a + noise, a + noise[::-1]).distinguishable  # same scores, shuffled


def test_paired_comparison_is_frozen():
    result = paired_difference([1.0, 2.0, 3.0], [1.5, 1.0, 2.0])
    with pytest.raises(AttributeError):
        result.n = 4


# --- paired_difference: Wilcoxon signed-rank -----------------------------------------------------------------


def _midranks(magnitudes):
    """Ranks 1..n of magnitudes, tied values sharing the mean of their ranks."""
    below = (magnitudes[None, :] < magnitudes[:, None]).sum(axis=1)
    at_or_below = (magnitudes[None, :] <= magnitudes[:, None]).sum(axis=1)
    return (below + 1 + at_or_below) / 2


def _sign_flip_p_value(d):
    """Two-sided p of the signed-rank statistic W+ over all 2**k equally likely signs of the k non-zero d.

    scipy's exact two-sided p is 2 * min(P(W+ >= w), P(W+ <= w)), capped at 1 (equal, by the symmetry of the null
    distribution, to 2 * P(min(W+, W-) <= min(w+, w-)))."""
    d = d[d != 0]
    ranks = _midranks(np.abs(d))
    observed = ranks[d > 0].sum()
    signs = (np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1  # every subset of ranks taken as positive
    null = signs @ ranks
    return min(1.0, 2 * min(np.mean(null >= observed), np.mean(null <= observed)))


@pytest.mark.parametrize("shift", [0.0, 0.4, 0.9])
def test_wilcoxon_p_value_is_the_exact_sign_flip_p_value(shift):
    rng = np.random.default_rng(int(10 * shift))
    b = rng.normal(30.0, 2.0, 12)
    a = b + shift + rng.normal(0.0, 1.0, 12)
    d = a - b
    assert len(np.unique(np.abs(d))) == 12 and np.all(d != 0)
    result = paired_difference(a, b)
    assert result.p_value == pytest.approx(_sign_flip_p_value(d), abs=1e-12)
    assert result.test == "Wilcoxon signed-rank (exact)"


def test_wilcoxon_with_ties_and_zeros_in_a_small_sample_enumerates_sign_flips():
    d = np.array([0.0, 0.5, -0.5, 1.0, 1.5, 1.5, 2.0, -2.5, 3.0, 3.0, 0.0, 4.0])
    result = paired_difference(30.0 + d, np.full(len(d), 30.0))
    assert result.p_value == pytest.approx(_sign_flip_p_value(d), abs=1e-12)
    assert result.test == "Wilcoxon signed-rank (exact permutation)"
    assert result.ties == 2


@pytest.mark.parametrize(
    ("d", "label", "method"),
    [
        (np.arange(1.0, 51.0) * (-1.0) ** np.arange(50) + 0.3, "exact", "exact"),  # 50 distinct: still exact
        (np.r_[np.arange(1.0, 14.0), 13.0], "normal approximation", "asymptotic"),  # 14 with a tie
        (np.r_[np.arange(1.0, 14.0), 0.0], "normal approximation", "asymptotic"),  # 14 with a zero
        (np.arange(1.0, 52.0) * (-1.0) ** np.arange(51), "normal approximation", "asymptotic"),  # 51 distinct
    ],
)
def test_wilcoxon_names_the_method_scipys_auto_rule_used(d, label, method):
    result = paired_difference(d, np.zeros(len(d)))
    assert result.test == f"Wilcoxon signed-rank ({label})"
    assert result.p_value == scipy.stats.wilcoxon(d, method=method).pvalue


@pytest.mark.parametrize(("a", "b"), [([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), ([1.0], [0.0]), ([], [])])
def test_wilcoxon_is_not_available_without_two_images_or_with_no_differences(a, b):
    result = paired_difference(a, b)
    assert math.isnan(result.p_value)
    assert "not computed" in result.test
    assert not result.distinguishable


# --- paired_difference: errors -------------------------------------------------------------------------------


def test_paired_scores_of_different_lengths_are_refused():
    with pytest.raises(BenchError, match="a has 3 scores, b has 2"):
        paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("a", "b", "where"),
    [
        ([1.0, math.inf, 2.0], [1.0, 2.0, 3.0], r"a\[1\] is inf"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, math.nan], r"b\[2\] is nan"),
    ],
)
def test_non_finite_paired_scores_are_refused_naming_the_image(a, b, where):
    with pytest.raises(BenchError, match=where):
        paired_difference(a, b)


# --- holm ----------------------------------------------------------------------------------------------------


def test_holm_matches_a_hand_worked_example():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> raised to 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)


def test_holm_leaves_nan_out_of_the_family():
    adjusted = holm([0.01, math.nan, 0.04, 0.03, 0.005])
    assert math.isnan(adjusted[1])
    assert adjusted[:1] + adjusted[2:] == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)


def test_holm_caps_at_one_and_handles_ties_and_empty_input():
    assert holm([0.5, 0.2, 0.5]) == pytest.approx([1.0, 0.6, 1.0])
    assert holm([0.02, 0.02]) == pytest.approx([0.04, 0.04])
    assert holm([]) == []
    assert holm([math.nan]) == [pytest.approx(math.nan, nan_ok=True)]


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.inf])
def test_holm_rejects_values_that_are_not_p_values(bad):
    with pytest.raises(BenchError, match="not in \\[0, 1\\]"):
        holm([0.1, bad])


# --- images that share a background: the cluster bootstrap --------------------------------------------------------


def test_a_background_twice_resamples_as_one_not_as_two_independent_images():
    """Every background scored twice with the same value: drawing backgrounds is drawing the distinct values, so
    the CI equals the image bootstrap of the distinct values, and is wider than treating the copies as independent."""
    distinct = _skewed(n=30)
    doubled, backgrounds = np.repeat(distinct, 2), np.repeat(np.arange(30), 2)
    clustered = bootstrap_mean_ci(doubled, backgrounds=backgrounds)
    assert clustered == pytest.approx(bootstrap_mean_ci(distinct), abs=1e-12)
    naive = bootstrap_mean_ci(doubled)
    assert clustered[1] - clustered[0] > 1.3 * (naive[1] - naive[0])  # sqrt(2) wider, up to Monte Carlo error


def test_one_image_per_background_is_the_image_bootstrap():
    x = _skewed(n=40)
    assert bootstrap_mean_ci(x, backgrounds=np.arange(40)) == pytest.approx(bootstrap_mean_ci(x), abs=1e-12)
    a, b = _pair()
    alone, grouped = paired_difference(a, b), paired_difference(a, b, backgrounds=[f"image {i}" for i in range(len(a))])
    assert (grouped.ci_low, grouped.ci_high) == pytest.approx((alone.ci_low, alone.ci_high), abs=1e-12)


def test_backgrounds_need_one_label_per_image():
    with pytest.raises(BenchError, match="one label per image: 3 labels for 4 images"):
        bootstrap_mean_ci([1.0, 2.0, 3.0, 4.0], backgrounds=[0, 1, 1])
