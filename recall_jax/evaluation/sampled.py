"""The sampled evaluation protocol (`eval.protocol="sampled"`), for reproducing papers only.

Each held-out target is ranked against `eval.sampled_negatives` items drawn uniformly, without
replacement, from the items that are neither in the user's history nor the target (the original
SASRec paper: 100 negatives). A target beating 100 random items is far easier than one beating
the whole catalogue, so these figures are much higher than full-ranking ones and never
comparable with them (Krichene & Rendle, "On Sampled Metrics for Item Recommendation", 2020);
every output of a sampled run says so. Ties are ordered by item id, as in full ranking.
"""

from __future__ import annotations

import numpy as np

from recall_jax.core.ids import PADDING_ITEM
from recall_jax.data.splits import EvaluationSet
from recall_jax.evaluation.ranking import RankingResult

PROTOCOLS = ("full", "sampled")


def sampled_negatives(evaluation_set: EvaluationSet, num_items: int, count: int,
                      seed: int) -> np.ndarray:
    """int32 [num_users, count]: for each user, `count` distinct items outside its history and
    its target, uniformly at random (one generator seeded with `seed`, users in order).

    Each user draws items uniformly with replacement and keeps the first `count` that are new
    and allowed: a uniform draw without replacement from the allowed items, at a cost that
    grows with `count`, not with the catalogue. A user whose history leaves few items (so the
    draws come up short) draws among its allowed items directly.
    """
    rng = np.random.default_rng(seed)
    histories = evaluation_set.histories
    negatives = np.zeros((evaluation_set.num_users, count), np.int32)
    seen = np.zeros(num_items + 1, bool)
    for user in range(evaluation_set.num_users):
        history = histories.items[histories.offsets[user]:histories.offsets[user + 1]]
        target = evaluation_set.targets[user]
        excluded = np.unique(np.concatenate([history, [target, PADDING_ITEM]]))
        allowed = num_items + 1 - len(excluded)
        if allowed < count:
            raise ValueError(f"user row {user}: only {allowed} items outside its history, "
                             f"fewer than eval.sampled_negatives={count}")
        seen[excluded] = True
        negatives[user] = _draw_allowed(rng, seen, count, allowed)
        seen[excluded] = False
    return negatives


def _draw_allowed(rng: np.random.Generator, seen: np.ndarray, count: int, allowed: int
                  ) -> np.ndarray:
    """`count` distinct items i >= 1 with seen[i] False, uniformly at random."""
    num_items = len(seen) - 1
    draws = rng.integers(1, num_items + 1, size=int(1.5 * count * num_items / allowed) + 32)
    fresh = draws[~seen[draws]]
    _, first = np.unique(fresh, return_index=True)
    if len(first) >= count:
        return fresh[np.sort(first)[:count]]
    return rng.choice(np.flatnonzero(~seen), size=count, replace=False)


def rank_among_sampled(user_vectors: np.ndarray, item_vectors: np.ndarray, targets: np.ndarray,
                       negatives: np.ndarray, max_k: int, user_chunk: int = 1024
                       ) -> RankingResult:
    """Rank each target among itself and its negatives by dot product.

    user_vectors [num_users, dim], item_vectors [num_items + 1, dim]; target_ranks count the
    negatives ranked above the target (higher score, or equal score and smaller id);
    top_items/top_scores list the candidates best first, padded with item 0 and -inf beyond
    1 + num_negatives."""
    num_users, num_negatives = negatives.shape
    width = max(max_k, 1 + num_negatives)
    top_items = np.zeros((num_users, width), np.int32)
    top_scores = np.full((num_users, width), -np.inf, np.float32)
    ranks = np.zeros(num_users, np.int64)
    ties = np.zeros(num_users, np.int64)
    for start in range(0, num_users, user_chunk):
        rows = slice(start, start + user_chunk)
        candidates = np.concatenate([targets[rows, None], negatives[rows]], axis=1)
        scores = np.einsum("ud,ucd->uc", np.asarray(user_vectors[rows], np.float32),
                           np.asarray(item_vectors, np.float32)[candidates])
        target = scores[:, :1]
        equal = scores[:, 1:] == target
        ranks[rows] = np.sum((scores[:, 1:] > target)
                             | (equal & (negatives[rows] < targets[rows, None])), axis=1)
        ties[rows] = np.sum(equal, axis=1)
        by_id = np.argsort(candidates, axis=1, kind="stable")
        candidates = np.take_along_axis(candidates, by_id, axis=1)
        scores = np.take_along_axis(scores, by_id, axis=1)
        order = np.argsort(-scores, axis=1, kind="stable")
        top_items[rows, :1 + num_negatives] = np.take_along_axis(candidates, order, axis=1)
        top_scores[rows, :1 + num_negatives] = np.take_along_axis(scores, order, axis=1)
    return RankingResult(top_items[:, :max_k], top_scores[:, :max_k], ranks, ties)


def describe_sampled(eval_config) -> str:
    """The protocol-line wording of a sampled evaluation."""
    return (f"SAMPLED ranking (not full ranking): each target among "
            f"{eval_config.sampled_negatives} items drawn uniformly from those outside the "
            f"user's history (seed {eval_config.sampled_seed}); not comparable with "
            "full-ranking figures")
