"""Exact top-K by brute force (the ground truth), and `jax.lax.approx_max_k` (TPU-native ANN).

Both score every item with one matrix multiply per chunk of users, remove each user's excluded
items (e.g. its history) and keep the k best. With a mesh, each chunk of users is split over the
"data" axis so every device scores its share against the (replicated) item table.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from recall_jax.evaluation.full_ranking import next_power_of_two, padded_histories
from recall_jax.retrieval.candidates import Candidates

PADDING_ITEM = 0


def padded_exclusions(offsets: np.ndarray | None, items: np.ndarray | None, start: int,
                      stop: int) -> np.ndarray:
    """int32 [stop - start, width]: users start..stop-1's excluded ids, 0-padded; width a power of 2."""
    if offsets is None:
        return np.zeros((stop - start, 1), np.int32)
    width = next_power_of_two(max(1, int(np.diff(offsets[start:stop + 1]).max(initial=1))))
    return padded_histories(offsets, items, start, stop, stop - start, width)


def _masked_scores(users, items, exclusions):
    scores = jnp.einsum("ud,nd->un", users, items, preferred_element_type=jnp.float32)
    return _mask(scores, exclusions)


def _mask(scores, exclusions):
    rows = jnp.arange(scores.shape[0])[:, None]
    # Exclusion rows are 0-padded; id 0 (padding) is never a candidate either way.
    return scores.at[rows, exclusions].set(-jnp.inf).at[:, PADDING_ITEM].set(-jnp.inf)


@functools.partial(jax.jit, static_argnames=("k",))
def _top_k_of_scores(scores, exclusions, *, k):
    return jax.lax.top_k(_mask(scores, exclusions), k)


def top_k_of_scores(scores: np.ndarray, k: int, exclude_offsets=None, exclude_items=None
                    ) -> Candidates:
    """The k best columns 1..N of precomputed scores [num_users, N + 1] (column 0 = padding)."""
    exclusions = padded_exclusions(exclude_offsets, exclude_items, 0, len(scores))
    values, ids = _top_k_of_scores(jnp.asarray(scores, jnp.float32), jnp.asarray(exclusions), k=k)
    values, ids = np.asarray(values), np.asarray(ids).astype(np.int32)
    ids[~np.isfinite(values)] = PADDING_ITEM
    return Candidates.from_dense(ids, values)


@functools.partial(jax.jit, static_argnames=("k",))
def _exact_chunk(users, items, exclusions, *, k):
    return jax.lax.top_k(_masked_scores(users, items, exclusions), k)


@functools.partial(jax.jit, static_argnames=("k", "recall_target"))
def _approx_chunk(users, items, exclusions, *, k, recall_target):
    return jax.lax.approx_max_k(_masked_scores(users, items, exclusions), k,
                                recall_target=recall_target)


def _search(chunk_fn, user_vectors, item_vectors, k, exclude_offsets, exclude_items, user_chunk,
            mesh, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    user_vectors = np.asarray(user_vectors, np.float32)
    num_users = len(user_vectors)
    num_rankable = len(item_vectors) - 1
    if not 1 <= k <= num_rankable:
        raise ValueError(f"k must lie in 1..{num_rankable} (the catalogue size), got {k}")
    items = jnp.asarray(item_vectors, jnp.float32)
    user_chunk = min(user_chunk, next_power_of_two(num_users))  # small queries, small shapes
    if mesh is not None:
        items = jax.device_put(items, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
        size = mesh.devices.size
        user_chunk = max(size, user_chunk - user_chunk % size)
    top_items = np.zeros((num_users, k), np.int32)
    top_scores = np.full((num_users, k), -np.inf, np.float32)
    for start in range(0, num_users, user_chunk):
        stop = min(start + user_chunk, num_users)
        users = np.zeros((user_chunk, user_vectors.shape[1]), np.float32)
        users[:stop - start] = user_vectors[start:stop]
        exclusions = padded_exclusions(exclude_offsets, exclude_items, start, stop)
        exclusions = np.pad(exclusions, ((0, user_chunk - (stop - start)), (0, 0)))
        if mesh is not None:
            data = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
            users, exclusions = jax.device_put(users, data), jax.device_put(exclusions, data)
        scores, ids = chunk_fn(users, items, exclusions, k=k, **kwargs)
        top_scores[start:stop] = np.asarray(scores)[:stop - start]
        top_items[start:stop] = np.asarray(ids)[:stop - start]
    top_items[~np.isfinite(top_scores)] = PADDING_ITEM
    return top_items, top_scores


def exact_top_k(user_vectors, item_vectors, k: int, exclude_offsets=None, exclude_items=None,
                user_chunk: int = 1024, mesh=None) -> Candidates:
    """The k highest dot products per user over items 1..N (item_vectors row 0 is padding)."""
    return Candidates.from_dense(*_search(_exact_chunk, user_vectors, item_vectors, k,
                                          exclude_offsets, exclude_items, user_chunk, mesh))


def approx_top_k(user_vectors, item_vectors, k: int, recall_target: float = 0.95,
                 exclude_offsets=None, exclude_items=None, user_chunk: int = 1024,
                 mesh=None) -> Candidates:
    """`jax.lax.approx_max_k` with `recall_target`: a TPU-native partial reduction; on other
    backends XLA may fall back to exact top-k, so measure its ANN recall rather than assume it."""
    return Candidates.from_dense(*_search(_approx_chunk, user_vectors, item_vectors, k,
                                          exclude_offsets, exclude_items, user_chunk, mesh,
                                          recall_target=recall_target))
