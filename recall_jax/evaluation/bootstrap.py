"""Confidence intervals by bootstrap over users, vectorised, seeded and paired.

One `Bootstrap` draws `num_resamples` resamples of the evaluated users (with replacement) and
keeps them as a count matrix [num_resamples, num_users]; every metric of every row evaluated on
the same users is then resampled with the same draws, so the difference between two rows is a
paired bootstrap. Intervals are percentile intervals (2.5% and 97.5% for 95%), except for
catalogue coverage and the exposure Gini: a resample holds only about 63% distinct users, so
their resampled values sit systematically below (coverage) or above (Gini) the full sample's,
and their interval is the value +- z * the bootstrap standard error instead.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sparse
import scipy.stats

from recall_jax.evaluation.metrics import gini_of_counts


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """counts[b, u]: how often user u is drawn in resample b (each row sums to num_users)."""

    counts: np.ndarray
    level: float = 0.95

    @classmethod
    def draw(cls, num_users: int, num_resamples: int = 1000, seed: int = 0,
             level: float = 0.95) -> "Bootstrap":
        if num_users < 1 or num_resamples < 1 or not 0.0 < level < 1.0:
            raise ValueError(f"need num_users >= 1, num_resamples >= 1 and 0 < level < 1, got "
                             f"{num_users}, {num_resamples}, {level}")
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, num_users, (num_resamples, num_users))
        rows = np.repeat(np.arange(num_resamples), num_users)
        counts = np.bincount(rows * num_users + draws.ravel(),
                             minlength=num_resamples * num_users)
        return cls(counts.reshape(num_resamples, num_users).astype(np.float64), level)

    @property
    def num_users(self) -> int:
        return self.counts.shape[1]

    @property
    def num_resamples(self) -> int:
        return self.counts.shape[0]

    def _check(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, np.float64)
        if values.shape[0] != self.num_users:
            raise ValueError(f"{values.shape[0]} per-user values for a bootstrap over "
                             f"{self.num_users} users")
        return values

    def resampled_means(self, values: np.ndarray) -> np.ndarray:
        """[num_resamples, ...]: the mean of per-user values [num_users, ...] in each resample."""
        values = self._check(values)
        flat = values.reshape(self.num_users, -1)
        means = self.counts @ flat / self.num_users
        return means.reshape((self.num_resamples,) + values.shape[1:])

    def percentiles(self, resampled: np.ndarray) -> tuple[float, float]:
        tail = 100 * (1 - self.level) / 2
        low, high = np.percentile(resampled, [tail, 100 - tail], axis=0)
        return float(low), float(high)

    def normal_interval(self, value: float, resampled: np.ndarray) -> tuple[float, float]:
        """value +- z * the standard deviation of the resampled values (z = 1.96 for 95%)."""
        spread = scipy.stats.norm.ppf(0.5 + self.level / 2) * float(np.std(resampled, ddof=1))
        return value - spread, value + spread

    def interval(self, values: np.ndarray) -> tuple[float, float]:
        """The interval of the mean of per-user values [num_users]."""
        return self.percentiles(self.resampled_means(values))

    def paired_difference(self, values: np.ndarray, reference: np.ndarray
                          ) -> tuple[float, float, float]:
        """(mean difference, low, high) of values - reference, both per user on the same users."""
        difference = self._check(values) - self._check(reference)
        return (float(difference.mean()), *self.interval(difference))

    def _resampled_exposure(self, top_items: np.ndarray, k: int, num_items: int,
                            max_cells: int = 50_000_000):
        """Yields [resamples, num_items] item exposure counts, a few resamples at a time."""
        top = np.asarray(top_items)[:, :k]
        shown = top != 0
        users = np.repeat(np.arange(self.num_users), k).reshape(top.shape)[shown]
        indicator = sparse.csr_matrix((np.ones(len(users)), (users, top[shown] - 1)),
                                      shape=(self.num_users, num_items))
        step = max(1, max_cells // max(num_items, 1))
        for start in range(0, self.num_resamples, step):
            yield np.asarray((indicator.T @ self.counts[start:start + step].T).T)

    def coverage_interval(self, top_items: np.ndarray, k: int, num_items: int
                          ) -> tuple[float, float]:
        """Interval of catalogue coverage@k (share of items in some user's first k), from the
        bootstrap standard error (see the module docstring)."""
        top_items = np.asarray(top_items)
        value = np.count_nonzero(np.bincount(top_items[:, :k].ravel(),
                                             minlength=num_items + 1)[1:]) / num_items
        coverage = np.concatenate([np.count_nonzero(exposure, axis=1) / num_items
                                   for exposure in self._resampled_exposure(top_items, k,
                                                                             num_items)])
        return self.normal_interval(value, coverage)

    def gini_interval(self, top_items: np.ndarray, k: int, num_items: int) -> tuple[float, float]:
        """Interval of the exposure Gini of the users' first-k lists, from the bootstrap
        standard error (see the module docstring)."""
        top_items = np.asarray(top_items)
        value = float(gini_of_counts(np.bincount(top_items[:, :k].ravel(),
                                                 minlength=num_items + 1)[1:]))
        gini = np.concatenate([gini_of_counts(exposure) for exposure in
                               self._resampled_exposure(top_items, k, num_items)])
        return self.normal_interval(value, gini)

    def quantile_interval(self, values: np.ndarray, quantile: float) -> tuple[float, float]:
        """Interval of a quantile (e.g. 0.95) of per-user values (the lower quantile, as
        numpy's method='inverted_cdf')."""
        values = self._check(values)
        order = np.argsort(values, kind="stable")
        cumulative = np.cumsum(self.counts[:, order], axis=1)
        positions = np.argmax(cumulative >= quantile * self.num_users, axis=1)
        return self.percentiles(values[order][positions])
