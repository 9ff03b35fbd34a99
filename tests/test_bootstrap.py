"""Bootstrap intervals: seeded, vectorised, paired, and right on cases with known answers."""

import numpy as np
import pytest

from recall_jax.evaluation.bootstrap import Bootstrap


def test_counts_are_resamples_of_every_user_and_seeded():
    bootstrap = Bootstrap.draw(50, num_resamples=200, seed=3)
    assert bootstrap.counts.shape == (200, 50)
    np.testing.assert_array_equal(bootstrap.counts.sum(axis=1), 50)
    np.testing.assert_array_equal(bootstrap.counts, Bootstrap.draw(50, 200, seed=3).counts)
    assert not np.array_equal(bootstrap.counts, Bootstrap.draw(50, 200, seed=4).counts)


def test_resampled_means_match_a_loop_over_index_draws():
    rng = np.random.default_rng(0)
    values = rng.random(30)
    bootstrap = Bootstrap.draw(30, num_resamples=25, seed=1)
    means = bootstrap.resampled_means(values)
    for row, counts in enumerate(bootstrap.counts):
        drawn = np.repeat(np.arange(30), counts.astype(int))
        assert means[row] == pytest.approx(values[drawn].mean())


def test_interval_of_a_proportion_matches_the_normal_approximation():
    # 6,040 users, hit rate 0.3: standard error sqrt(0.3 * 0.7 / 6040) = 0.0059.
    hits = np.zeros(6040)
    hits[:1812] = 1.0
    low, high = Bootstrap.draw(6040, 2000, seed=0).interval(hits)
    assert low < 0.3 < high
    assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(0.3 * 0.7 / 6040), rel=0.1)


def test_paired_difference_is_tighter_than_unpaired_for_correlated_rows():
    rng = np.random.default_rng(1)
    base = rng.random(2000)
    better = base + 0.01 + 0.005 * rng.standard_normal(2000)
    bootstrap = Bootstrap.draw(2000, 1000, seed=0)
    difference, low, high = bootstrap.paired_difference(better, base)
    assert difference == pytest.approx(0.01, abs=0.001)
    assert 0.0 < low < difference < high
    # Each row's own interval is far wider than the paired difference's.
    base_low, base_high = bootstrap.interval(base)
    assert high - low < (base_high - base_low) / 10
    same, same_low, same_high = bootstrap.paired_difference(base, base)
    assert same == same_low == same_high == 0.0


def test_coverage_and_gini_intervals_hold_the_full_sample_value():
    rng = np.random.default_rng(2)
    top_items = rng.zipf(1.5, (500, 10)) % 300 + 1
    bootstrap = Bootstrap.draw(500, 300, seed=0)
    coverage = len(np.unique(top_items)) / 300
    low, high = bootstrap.coverage_interval(top_items, 10, 300)
    assert low < coverage < high and high - low < 0.2
    low, high = bootstrap.gini_interval(top_items, 10, 300)
    assert 0.0 < low < high < 1.0


def test_quantile_interval_brackets_the_median():
    values = np.arange(1000, dtype=float)
    low, high = Bootstrap.draw(1000, 500, seed=0).quantile_interval(values, 0.5)
    assert low < 500 < high and high - low < 100


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_users >= 1"):
        Bootstrap.draw(0)
    with pytest.raises(ValueError, match="3 per-user values for a bootstrap over 4 users"):
        Bootstrap.draw(4, 10).interval(np.ones(3))
