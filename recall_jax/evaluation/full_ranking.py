"""Full ranking of the whole catalogue for each user, in bounded memory.

Protocol: every real item 1..num_items is scored for every user (no sampled negatives). The
padding item 0 is never ranked. Optionally each user's own history is removed from the ranking
("seen items removed"), except the user's target, which always stays rankable even when it also
occurs in the history (a repeat consumption is a legitimate target).

Rank and ties: the rank of a target is the number of rankable items, other than the target itself,
whose score is strictly higher than the target's (0 = best). Ties are thus resolved in the
target's favour; `target_ties` counts them, so `target_ranks + target_ties` is the pessimistic rank.
A model that scores every item alike gets rank 0 here and a tie count of num_items - 1: watch the
tie counts. Top lists order items by score, best first, equal scores by increasing item id.

Scores are dot products accumulated in a fixed order over the embedding dimension (not through a
matrix-multiply kernel, whose summation order depends on the operand shapes), so every score,
rank and top list is bit-identical whatever the user and item chunk sizes.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

PADDING_ITEM = 0
_DIMENSION_BLOCK = 32  # Dimensions added per fused step of the ordered dot product.


@dataclasses.dataclass(frozen=True)
class RankingResult:
    """Outcome of ranking all items for each user.

    target_ranks: int64 [num_users], 0-based rank of the target among all rankable items.
    top_items: int32 [num_users, max_k], best first; slots beyond the number of rankable items hold
        the padding item 0 with score -inf.
    top_scores: float32 [num_users, max_k], scores of top_items.
    target_ties: int64 [num_users] or None, number of other rankable items scoring exactly the
        target's score (the rank counts them as below the target).
    """

    target_ranks: np.ndarray
    top_items: np.ndarray
    top_scores: np.ndarray
    target_ties: np.ndarray | None = None

    @property
    def num_users(self) -> int:
        return len(self.target_ranks)


def ordered_dot(left: jax.Array, right: jax.Array) -> jax.Array:
    """sum_d left[..., d] * right[..., d], added in order d = 0, 1, ...; leading axes broadcast.

    The order of additions depends only on the embedding dimension, so each result is the same
    whatever else is computed alongside it.
    """
    dimension = left.shape[-1]
    block = min(dimension, _DIMENSION_BLOCK)
    padding = -dimension % block
    if padding:  # Adding 0 * 0 leaves an accumulated sum unchanged.
        left = jnp.pad(left, [(0, 0)] * (left.ndim - 1) + [(0, padding)])
        right = jnp.pad(right, [(0, 0)] * (right.ndim - 1) + [(0, padding)])
    shape = jnp.broadcast_shapes(left.shape[:-1], right.shape[:-1])

    def add_block(block_index, total):
        start = block_index * block
        left_block = jax.lax.dynamic_slice_in_dim(left, start, block, axis=-1)
        right_block = jax.lax.dynamic_slice_in_dim(right, start, block, axis=-1)
        for offset in range(block):
            total = total + left_block[..., offset] * right_block[..., offset]
        return total

    total = jax.lax.fori_loop(0, (dimension + padding) // block, add_block,
                              jnp.zeros(shape, jnp.float32))
    # -0.0 equals 0.0 but top_k orders it lower; the compiler may drop the initial 0.0 + x.
    return jnp.where(total == 0.0, 0.0, total)


@functools.partial(jax.jit, static_argnames=("num_items", "max_k"))
def _rank_user_chunk(user_vectors: jax.Array, targets: jax.Array, exclusions: jax.Array,
                     item_blocks: jax.Array, *, num_items: int, max_k: int):
    """Rank all items for one chunk of users.

    user_vectors: float32 [chunk, dim]; targets: int32 [chunk];
    exclusions: int32 [chunk, width], item ids to remove per user, 0-padded;
    item_blocks: float32 [num_blocks, block_size, dim], item rows 0.. in order, zero-padded.
    Returns target_ranks, target_ties int32 [chunk], top_items int32 [chunk, max_k],
    top_scores float32 [chunk, max_k].
    """
    chunk = user_vectors.shape[0]
    num_blocks, block_size, dimension = item_blocks.shape
    target_vectors = item_blocks.reshape(num_blocks * block_size, dimension)[targets]
    target_scores = ordered_dot(user_vectors, target_vectors)
    # The target stays rankable even when it occurs in the history: 0 is excluded anyway.
    exclusions = jnp.where(exclusions == targets[:, None], PADDING_ITEM, exclusions)
    rows = jnp.broadcast_to(jnp.arange(chunk)[:, None], exclusions.shape)

    def scan_block(carry, block):
        ranks, ties, best_scores, best_items = carry
        item_vectors, start = block
        item_ids = start + jnp.arange(block_size, dtype=jnp.int32)
        # Exclusions outside this block go to an extra column that is dropped.
        local = exclusions - start
        local = jnp.where((local >= 0) & (local < block_size), local, block_size)
        excluded = jnp.zeros((chunk, block_size + 1), bool).at[rows, local].set(True)
        rankable = ((item_ids >= 1) & (item_ids <= num_items))[None, :] & ~excluded[:, :block_size]
        scores = ordered_dot(user_vectors[:, None, :], item_vectors[None, :, :])
        scores = jnp.where(rankable, scores, -jnp.inf)
        competitors = rankable & (item_ids[None, :] != targets[:, None])
        ranks = ranks + jnp.sum(competitors & (scores > target_scores[:, None]), axis=1)
        ties = ties + jnp.sum(competitors & (scores == target_scores[:, None]), axis=1)
        # Earlier candidates have lower ids and come first: top_k keeps the first of equals.
        candidate_scores = jnp.concatenate([best_scores, scores], axis=1)
        candidate_items = jnp.concatenate(
            [best_items, jnp.broadcast_to(item_ids, (chunk, block_size))], axis=1)
        best_scores, positions = jax.lax.top_k(candidate_scores, max_k)
        best_items = jnp.take_along_axis(candidate_items, positions, axis=1)
        return (ranks, ties, best_scores, best_items), None

    initial = (jnp.zeros(chunk, jnp.int32), jnp.zeros(chunk, jnp.int32),
               jnp.full((chunk, max_k), -jnp.inf, jnp.float32),
               jnp.zeros((chunk, max_k), jnp.int32))
    starts = jnp.arange(num_blocks, dtype=jnp.int32) * block_size
    (ranks, ties, best_scores, best_items), _ = jax.lax.scan(
        scan_block, initial, (item_blocks, starts))
    best_items = jnp.where(best_scores == -jnp.inf, PADDING_ITEM, best_items)
    return ranks, ties, best_items, best_scores


def next_power_of_two(value: int) -> int:
    return 1 << max(0, int(value) - 1).bit_length()


def padded_histories(offsets: np.ndarray, items: np.ndarray, start: int, stop: int,
                      rows: int, width: int) -> np.ndarray:
    """int32 [rows, width]: row i holds the items of user start + i, then 0s (rows past stop: 0s)."""
    lengths = offsets[start + 1:stop + 1] - offsets[start:stop]
    row_of_event = np.repeat(np.arange(stop - start), lengths)
    column_of_event = (np.arange(offsets[stop] - offsets[start])
                       - np.repeat(offsets[start:stop] - offsets[start], lengths))
    padded = np.zeros((rows, width), np.int32)
    padded[row_of_event, column_of_event] = items[offsets[start]:offsets[stop]]
    return padded


def _validate(user_vectors, item_vectors, targets, exclude_offsets, exclude_items, max_k,
              user_chunk, item_chunk) -> None:
    num_users, num_items = len(user_vectors), len(item_vectors) - 1
    if user_vectors.ndim != 2 or item_vectors.ndim != 2 or \
            user_vectors.shape[1] != item_vectors.shape[1]:
        raise ValueError(f"need user_vectors [users, dim] and item_vectors [items + 1, dim], got "
                         f"{user_vectors.shape} and {item_vectors.shape}")
    if num_items < 1:
        raise ValueError("item_vectors must hold the padding row and at least one item")
    if targets.shape != (num_users,):
        raise ValueError(f"targets must have shape ({num_users},), got {targets.shape}")
    if num_users and (targets.min() < 1 or targets.max() > num_items):
        raise ValueError(f"targets must lie in 1..{num_items}")
    if not (np.isfinite(user_vectors).all() and np.isfinite(item_vectors[1:]).all()):
        raise ValueError("user and item vectors must be finite (row 0, padding, is exempt)")
    if (exclude_offsets is None) != (exclude_items is None):
        raise ValueError("give both exclude_offsets and exclude_items, or neither")
    if exclude_offsets is not None:
        if exclude_offsets.shape != (num_users + 1,) or exclude_offsets[0] != 0 or \
                exclude_offsets[-1] != len(exclude_items) or np.any(np.diff(exclude_offsets) < 0):
            raise ValueError("exclude_offsets must be non-decreasing [num_users + 1], from 0 to "
                             "len(exclude_items)")
    if max_k < 1 or user_chunk < 1 or (item_chunk is not None and item_chunk < 1):
        raise ValueError("max_k, user_chunk and item_chunk must be positive")


def rank_all_items(user_vectors, item_vectors, targets, exclude_offsets=None, exclude_items=None,
                   max_k: int = 200, user_chunk: int = 1024,
                   item_chunk: int | None = None) -> RankingResult:
    """Rank every real item for every user by dot-product score; see the module docstring.

    user_vectors: [num_users, dim]; item_vectors: [num_items + 1, dim] (row 0 = padding);
    targets: int [num_users] in 1..num_items;
    exclude_offsets: int64 [num_users + 1] and exclude_items: int32 [num_events], optional CSR
        histories whose items are removed from each user's ranking (the target excepted).
    Users are processed user_chunk at a time (the last chunk padded so it compiles once) and, when
    item_chunk is set, items item_chunk at a time with a running top-max_k and rank count, so
    memory is O(user_chunk * (item_chunk or num_items)). Numpy or jax inputs.
    """
    user_vectors = np.asarray(user_vectors, np.float32)
    item_vectors = np.asarray(item_vectors, np.float32)
    targets = np.asarray(targets).astype(np.int64)
    if exclude_offsets is not None:
        exclude_offsets = np.asarray(exclude_offsets, np.int64)
    if exclude_items is not None:
        exclude_items = np.asarray(exclude_items, np.int32)
    _validate(user_vectors, item_vectors, targets, exclude_offsets, exclude_items, max_k,
              user_chunk, item_chunk)
    num_users, dimension = user_vectors.shape
    num_items = len(item_vectors) - 1
    if exclude_offsets is None:
        exclude_offsets = np.zeros(num_users + 1, np.int64)
        exclude_items = np.zeros(0, np.int32)

    block_size = min(item_chunk or num_items + 1, num_items + 1)
    num_blocks = -(-(num_items + 1) // block_size)
    item_blocks = np.zeros((num_blocks * block_size, dimension), np.float32)
    item_blocks[:num_items + 1] = item_vectors
    item_blocks = jnp.asarray(item_blocks.reshape(num_blocks, block_size, dimension))

    chunk = max(1, min(user_chunk, num_users))
    width = next_power_of_two(max(1, int(np.diff(exclude_offsets).max(initial=0))))
    outputs = []
    for start in range(0, num_users, chunk):
        stop = min(start + chunk, num_users)
        chunk_vectors = np.zeros((chunk, dimension), np.float32)
        chunk_vectors[:stop - start] = user_vectors[start:stop]
        chunk_targets = np.ones(chunk, np.int32)
        chunk_targets[:stop - start] = targets[start:stop]
        exclusions = padded_histories(exclude_offsets, exclude_items, start, stop, chunk, width)
        outputs.append(_rank_user_chunk(chunk_vectors, chunk_targets, exclusions, item_blocks,
                                        num_items=num_items, max_k=max_k))

    if not outputs:
        return RankingResult(np.zeros(0, np.int64), np.zeros((0, max_k), np.int32),
                             np.zeros((0, max_k), np.float32), np.zeros(0, np.int64))
    ranks, ties, top_items, top_scores = (
        np.concatenate([np.asarray(output[i]) for output in outputs])[:num_users]
        for i in range(4))
    return RankingResult(target_ranks=ranks.astype(np.int64), top_items=top_items.astype(np.int32),
                         top_scores=top_scores.astype(np.float32),
                         target_ties=ties.astype(np.int64))
