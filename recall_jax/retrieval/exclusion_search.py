"""Top-k with each user's excluded items (seen items) removed, from any batched ANN search.

An ANN index answers "the f best items" for a batch of users, with one f for all of them; it
cannot skip a different set of items per user. `search_excluding` therefore over-fetches:

1. one batched search for every user with f = k + a high quantile (default the 90th percentile)
   of the exclusion counts, rounded up to a power of two and capped at the catalogue size;
2. a vectorised filter of the excluded (user, item) pairs (`ExcludedPairs`: a bitmap per few
   users), keeping each user's first k survivors (lists are best first);
3. another batched search, with f doubled, only for the users left with fewer than k
   survivors (long histories whose items rank high), repeated until every user has k or f
   reaches the catalogue size (or the index returned fewer than f: it has nothing more to give
   at these settings).

The result is each user's top-k among the non-excluded items as the index ranks them at the
fetch size that sufficed; for an exact search (whose f-best lists are prefixes of each other)
it is exactly the top-k over the non-excluded items. A few large batched calls replace one
call per group of users. ScaNN and FAISS indexes share it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recall_jax.core.candidates import Candidates
from recall_jax.core.csr import offsets_from_counts, owner_of_entries
from recall_jax.core.shapes import next_power_of_two
from recall_jax.evaluation.protocol import Exclusions

# (user vectors [n, dim], fetch) -> each user's `fetch` best items, best first.
BatchedSearch = Callable[[np.ndarray, int], Candidates]


class ExcludedPairs:
    """Look-ups of (user, item) in `exclusions`, vectorised: a few users at a time, their
    excluded items are set in a reusable boolean [users, num_items + 1] bitmap, the candidates
    gathered from it, and the bits cleared again (no sorting, no per-user Python loop)."""

    def __init__(self, exclusions: Exclusions, num_items: int, bitmap_bytes: int = 1 << 25):
        self.exclusions = exclusions
        self.width = int(max(num_items, exclusions.items.max(initial=0))) + 1
        self.chunk = max(1, min(bitmap_bytes // self.width, exclusions.num_users))
        self._bitmap: np.ndarray | None = None

    def contains(self, offsets: np.ndarray, items: np.ndarray,
                 rows: np.ndarray | None = None) -> np.ndarray:
        """bool [len(items)]: whether each entry of the CSR lists (offsets, items) is excluded
        for its user; rows: each list's exclusion row (None: list u is row u)."""
        if self._bitmap is None:
            self._bitmap = np.zeros((self.chunk, self.width), bool)
        bitmap, excluded = self._bitmap, np.zeros(len(items), bool)
        num_lists = len(offsets) - 1
        rows = np.arange(num_lists) if rows is None else np.asarray(rows)
        for start in range(0, num_lists, self.chunk):
            stop = min(start + self.chunk, num_lists)
            users, items_of_users = self._excluded_of(rows[start:stop])
            bitmap[users, items_of_users] = True
            first, last = offsets[start], offsets[stop]
            owner = owner_of_entries(offsets[start:stop + 1] - first)
            excluded[first:last] = bitmap[owner, items[first:last]]
            bitmap[users, items_of_users] = False
        return excluded

    def _excluded_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(local user 0..len(rows)-1, item) of every excluded pair of those exclusion rows."""
        offsets = self.exclusions.offsets
        lengths = offsets[rows + 1] - offsets[rows]
        local = np.repeat(np.arange(len(rows)), lengths)
        positions = np.repeat(offsets[rows] - (np.cumsum(lengths) - lengths), lengths)
        return local, self.exclusions.items[positions + np.arange(len(local))]


def drop_excluded(found: Candidates, excluded: ExcludedPairs, rows: np.ndarray | None = None,
                  k: int | None = None) -> Candidates:
    """`found` without its excluded entries, each list cut to its first k (None: all).

    rows: the exclusion row (global user) of each of found's users (None: 0..num_users-1)."""
    keep = ~excluded.contains(found.offsets, found.items, rows)
    kept_before = np.concatenate([[0], np.cumsum(keep)])  # kept entries before each entry
    if k is not None:  # the first k survivors per user (lists are best first)
        owner = owner_of_entries(found.offsets)
        keep &= kept_before[1:] - kept_before[found.offsets[:-1]][owner] <= k
        kept_before = np.concatenate([[0], np.cumsum(keep)])
    return Candidates(offsets_from_counts(np.diff(kept_before[found.offsets])),
                      found.items[keep], found.scores[keep])


def first_fetch(k: int, exclusion_counts: np.ndarray, num_items: int,
                quantile: float = 0.9) -> int:
    """k + the quantile of the exclusion counts rounded up to a power of two, <= num_items."""
    counts = np.asarray(exclusion_counts)
    # The smallest count that at least `quantile` of the users stay within.
    extra = int(np.quantile(counts, quantile, method="inverted_cdf")) if counts.size else 0
    return min(num_items, k + (next_power_of_two(extra) if extra > 0 else 0))


def search_excluding(search: BatchedSearch, user_vectors: np.ndarray, k: int,
                     exclusions: Exclusions, num_items: int, quantile: float = 0.9,
                     excluded: ExcludedPairs | None = None) -> Candidates:
    """Each user's top-k non-excluded items by `search`, in few batched calls (module doc).

    exclusions: one row per user of user_vectors; excluded: its `ExcludedPairs`, when the
    caller has it already."""
    users = np.asarray(user_vectors)
    if exclusions.num_users != len(users):
        raise ValueError(f"{exclusions.num_users} exclusion rows for {len(users)} users")
    if not 1 <= k <= num_items:
        raise ValueError(f"k must lie in 1..{num_items} (the catalogue size), got {k}")
    excluded = ExcludedPairs(exclusions, num_items) if excluded is None else excluded
    fetch = first_fetch(k, np.diff(exclusions.offsets), num_items, quantile)
    pending = np.arange(len(users))
    parts: list[tuple[np.ndarray, Candidates]] = []
    while pending.size:
        found = search(users[pending], fetch)
        kept = drop_excluded(found, excluded, pending, k)
        done = (kept.sizes() >= k) | (found.sizes() < fetch) | (fetch >= num_items)
        parts.append((pending[done], take_users(kept, np.nonzero(done)[0])))
        pending = pending[~done]
        fetch = min(num_items, 2 * fetch)
    return merge_users(parts, len(users))


def take_users(candidates: Candidates, users: np.ndarray) -> Candidates:
    """The candidate lists of `users` (indices, increasing or not), in that order."""
    sizes = candidates.sizes()[users]
    offsets = offsets_from_counts(sizes)
    positions = (np.repeat(candidates.offsets[users], sizes)
                 + np.arange(offsets[-1]) - np.repeat(offsets[:-1], sizes))
    return Candidates(offsets, candidates.items[positions], candidates.scores[positions])


def merge_users(parts: list[tuple[np.ndarray, Candidates]], num_users: int) -> Candidates:
    """One Candidates of num_users from parts (rows: which users, their lists), rows disjoint."""
    sizes = np.zeros(num_users, np.int64)
    for rows, part in parts:
        sizes[rows] = part.sizes()
    offsets = offsets_from_counts(sizes)
    items = np.zeros(offsets[-1], np.int32)
    scores = np.zeros(offsets[-1], np.float32)
    for rows, part in parts:
        destination = np.repeat(offsets[rows], part.sizes()) + (
            np.arange(part.offsets[-1]) - np.repeat(part.offsets[:-1], part.sizes()))
        items[destination], scores[destination] = part.items, part.scores
    return Candidates(offsets, items, scores)
