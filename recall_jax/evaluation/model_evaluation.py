"""Full-ranking evaluation of a trained two-tower model on an EvaluationSet."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from recall_jax.data.pipeline import (bucket_for_lengths, derived_bucket_lengths,
                                     relative_times_matrix, require_timestamps)
from recall_jax.data.splits import EvaluationSet
from recall_jax.evaluation.metrics import ranking_metrics
from recall_jax.evaluation.protocol import Exclusions, seen_item_exclusions
from recall_jax.evaluation.ranking import RankingResult, on_mesh, rank_all_items
from recall_jax.evaluation.sampled import rank_among_sampled, sampled_negatives
from recall_jax.core import sharding


@functools.partial(jax.jit, static_argnums=0)
def _last_position_vectors(model, params, item_ids: jax.Array,
                           times: jax.Array | None = None) -> jax.Array:
    """[batch, seq_len] ids (and event times, for models that use them) -> [batch, dim] user
    vector at the last position."""
    return model.apply({"params": params}, item_ids, times=times,
                       method=model.encode_users)[:, -1]


def _last_position_vectors_on_mesh(mesh, model, params, item_ids: jax.Array,
                                   times: jax.Array | None = None) -> jax.Array:
    with jax.set_mesh(mesh):
        return _replicated_last_position_vectors(mesh, model, params, item_ids, times)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _replicated_last_position_vectors(mesh, model, params, item_ids, times=None):
    vectors = _last_position_vectors(model, params, item_ids, times)
    # Gathered on every device, so every host can read the whole batch.
    return jax.lax.with_sharding_constraint(vectors, sharding.replicated(mesh))


@functools.partial(jax.jit, static_argnums=0)
def _item_vectors(model, params) -> jax.Array:
    return model.apply({"params": params}, method=model.item_vectors)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _item_vectors_by_row(mesh, model, params) -> jax.Array:
    """[num_items + 1 + zero rows, dim]: the item vectors padded to a multiple of the model
    axis, so that they split evenly over it (an uneven split would be replicated instead)."""
    vectors = model.apply({"params": params}, method=model.item_vectors)
    shards = mesh.shape[sharding.MODEL_AXIS]
    vectors = jnp.pad(vectors, ((0, -len(vectors) % shards), (0, 0)))
    return jax.lax.with_sharding_constraint(
        vectors, NamedSharding(mesh, PartitionSpec(sharding.MODEL_AXIS, None)))


def spread_over_mesh(batch: np.ndarray, mesh: jax.sharding.Mesh | None) -> jax.Array | np.ndarray:
    """A host-complete batch as a global array split over the mesh's data axis (when it divides)."""
    if mesh is None:
        return batch
    batch_sharding = sharding.batch_sharding(mesh)
    if batch.shape[0] % mesh.shape[sharding.DATA_AXIS]:
        return batch
    return on_mesh(batch, batch_sharding)


def encode_histories(encode_last: Callable[..., jax.Array], inputs: np.ndarray,
                     batch_size: int, bucket_lengths: Sequence[int],
                     mesh: jax.sharding.Mesh | None = None,
                     times: np.ndarray | None = None) -> np.ndarray:
    """User vectors [num_users, dim] from left-padded inputs [num_users, max_len] (and their
    event times, same shape, passed as encode_last's second argument when given).

    Users are grouped by history length so short histories run on narrow tensors; every batch is
    padded to `batch_size` rows so each bucket width compiles once.
    """
    max_len = inputs.shape[1]
    lengths = np.sum(inputs != 0, axis=1)
    widths = tuple(sorted(set(bucket_lengths or derived_bucket_lengths(lengths, max_len))
                          | {max_len}))
    bucket = bucket_for_lengths(lengths, widths)
    arrays = [inputs] if times is None else [inputs, times]
    vectors = None
    for index, width in enumerate(widths):
        users = np.flatnonzero(bucket == index)
        for start in range(0, len(users), batch_size):
            rows = users[start:start + batch_size]
            batches = []
            for array in arrays:
                batch = np.zeros((batch_size, width), np.int32)
                batch[:len(rows)] = array[rows, max_len - width:]
                batches.append(spread_over_mesh(batch, mesh))
            out = np.asarray(encode_last(*batches))[:len(rows)]
            if vectors is None:
                vectors = np.zeros((len(inputs), out.shape[-1]), np.float32)
            vectors[rows] = out
    return vectors


def evaluation_exclusions(evaluation_set: EvaluationSet, seen_items: str) -> Exclusions | None:
    """The items each evaluated user's ranking loses under the seen-item policy."""
    histories = evaluation_set.histories
    return seen_item_exclusions(histories.offsets, histories.items, evaluation_set.targets,
                                seen_items)


def rank_evaluation_set(user_vectors: np.ndarray, item_vectors: np.ndarray,
                        evaluation_set: EvaluationSet, eval_config,
                        mesh: jax.sharding.Mesh | None = None) -> RankingResult:
    """Rank the whole catalogue for every evaluated user under eval_config's protocol
    (seen_items, ks, user_chunk, item_chunk, audit_scores)."""
    return rank_all_items(user_vectors, item_vectors, evaluation_set.targets,
                          evaluation_exclusions(evaluation_set, eval_config.seen_items),
                          max_k=max(eval_config.ks), user_chunk=eval_config.user_chunk,
                          item_chunk=eval_config.item_chunk or None,
                          audit=eval_config.audit_scores, mesh=mesh,
                          num_items=evaluation_set.histories.num_items)


def encode_users_and_items(model, params, evaluation_set: EvaluationSet, batch_size: int,
                           bucket_lengths: Sequence[int], mesh: jax.sharding.Mesh | None = None,
                           items_on_host: bool = True) -> tuple[np.ndarray, np.ndarray | jax.Array]:
    """(user vectors [num_eval_users, dim] at each history's last position, item vectors
    [num_items + 1, dim]) of a trained model; with items_on_host=False the item vectors stay a
    jax array where the model's parameters lie (split over the mesh's model axis)."""
    # The objective says where the user vector is read (cloze: after one appended [MASK]).
    inputs = model.objective.user_inputs(evaluation_set.histories, model.max_len,
                                         model.num_items)
    times = None
    if model.uses_times:  # next-item models only: the inputs are the history's last events
        histories = evaluation_set.histories
        times = relative_times_matrix(histories.offsets,
                                      require_timestamps(histories, "model.time_buckets > 0"),
                                      model.max_len)
    encode = _last_position_vectors
    if mesh is not None:
        encode = functools.partial(_last_position_vectors_on_mesh, mesh)
    user_vectors = encode_histories(lambda *arrays: encode(model, params, *arrays),
                                    inputs, batch_size, bucket_lengths, mesh, times)
    if mesh is None:
        item_vectors = _item_vectors(model, params)
    else:  # split by rows over the model axis, as the item table is: never whole on one device
        item_vectors = _item_vectors_by_row(mesh, model, params)
    return user_vectors, np.asarray(item_vectors) if items_on_host else item_vectors


def sampled_evaluation_ranking(user_vectors: np.ndarray, item_vectors: np.ndarray,
                               evaluation_set: EvaluationSet, eval_config) -> RankingResult:
    """The sampled protocol (eval.protocol="sampled"): each target among
    eval.sampled_negatives random items outside the user's history; any scorer given as user
    and item vectors (the model; popularity as [1] x [count]) meets the same negatives."""
    num_items = len(item_vectors) - 1
    negatives = sampled_negatives(evaluation_set, num_items, eval_config.sampled_negatives,
                                  eval_config.sampled_seed)
    return rank_among_sampled(user_vectors, item_vectors, evaluation_set.targets, negatives,
                              max(eval_config.ks))


def evaluate_model(model, params, evaluation_set: EvaluationSet, eval_config,
                   bucket_lengths: Sequence[int], mesh: jax.sharding.Mesh | None = None
                   ) -> tuple[dict[str, float], RankingResult]:
    """Encode each history's last position (split over `mesh`), then rank the whole catalogue
    (users over the mesh's data axis, items over its model axis, the item vectors never on the
    host) or, under eval.protocol="sampled", the target among sampled negatives; (mean
    metrics, the ranking)."""
    sampled = eval_config.protocol == "sampled"
    user_vectors, item_vectors = encode_users_and_items(model, params, evaluation_set,
                                                        eval_config.batch_size, bucket_lengths,
                                                        mesh, items_on_host=mesh is None or sampled)
    if sampled:
        result = sampled_evaluation_ranking(user_vectors, item_vectors, evaluation_set,
                                            eval_config)
    else:
        result = rank_evaluation_set(user_vectors, item_vectors, evaluation_set, eval_config,
                                     mesh)
    metrics = ranking_metrics(result.target_ranks, result.top_items, eval_config.ks,
                              num_items=evaluation_set.histories.num_items,
                              target_ties=result.target_ties)
    return metrics, result
