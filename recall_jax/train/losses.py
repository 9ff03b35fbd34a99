"""Two-tower training objectives over next-item targets.

Every loss takes user vectors `users` [batch, seq_len, dim], item vectors `items`
[num_items + 1, dim] (row 0 = padding, never a candidate) and `targets` [batch, seq_len] (0 = no
loss at that position), and returns the mean loss over positions with a target.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np

from recall_jax.core.ids import PADDING_ITEM
from recall_jax.core.registry import Registry

NEGATIVE_SAMPLERS = ("uniform", "popularity")

NEGATIVE_INFINITY = -1e30


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def full_softmax_loss(users: jax.Array, items: jax.Array, targets: jax.Array,
                      rng: jax.Array | None = None, chunk_size: int = 1024) -> jax.Array:
    """Cross-entropy over the whole catalogue (the padding item is excluded from the softmax).

    Computed over chunks of about `chunk_size` positions (whole sequence slices, so a batch split
    over devices stays split) with a hand-written gradient: the [positions, num_items] logits are
    never held at once and are touched about half as often as by automatic differentiation of
    the plain expression (same value and gradient).
    """
    del rng
    batch, seq_len, _ = users.shape
    weights = (targets != PADDING_ITEM).astype(users.dtype)
    slice_len = max(1, min(seq_len, chunk_size // batch))
    padding = -seq_len % slice_len
    if padding:
        users = jnp.pad(users, ((0, 0), (0, padding), (0, 0)))
        targets = jnp.pad(targets, ((0, 0), (0, padding)))
        weights = jnp.pad(weights, ((0, 0), (0, padding)))
    # Candidates are items 1..num_items: row i of items[1:] is item i + 1.
    total = _chunked_cross_entropy_sum(users, items[1:], jnp.maximum(targets - 1, 0), weights,
                                       slice_len)
    return total / jnp.maximum(jnp.sum(weights), 1.0)


def _sequence_slices(x: jax.Array, slice_len: int) -> jax.Array:
    """[batch, seq_len, ...] -> [seq_len / slice_len, batch, slice_len, ...]."""
    batch, seq_len = x.shape[:2]
    return jnp.moveaxis(x.reshape(batch, seq_len // slice_len, slice_len, *x.shape[2:]), 1, 0)


def _from_sequence_slices(x: jax.Array) -> jax.Array:
    """Inverse of _sequence_slices."""
    x = jnp.moveaxis(x, 0, 1)
    return x.reshape(x.shape[0], x.shape[1] * x.shape[2], *x.shape[3:])


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _chunked_cross_entropy_sum(users, candidates, target_rows, weights, slice_len):
    """sum_(b,t) weights * (logsumexp_j <u_bt, c_j> - <u_bt, c_target_bt>)."""
    return _chunked_cross_entropy_forward(users, candidates, target_rows, weights, slice_len)[0]


def _chunked_cross_entropy_forward(users, candidates, target_rows, weights, slice_len):
    log_normaliser = _from_sequence_slices(jax.lax.map(
        lambda chunk: jax.nn.logsumexp(chunk @ candidates.T, axis=-1),
        _sequence_slices(users, slice_len)))
    target_logits = jnp.sum(users * candidates[target_rows], axis=-1)
    total = jnp.sum(weights * (log_normaliser - target_logits))
    return total, (users, candidates, target_rows, weights, log_normaliser)


def _chunked_cross_entropy_backward(slice_len, residuals, cotangent):
    users, candidates, target_rows, weights, log_normaliser = residuals
    scale = cotangent * weights  # d total / d loss_(b,t)

    def chunk_gradients(candidate_gradient, chunk):
        chunk_users, chunk_normaliser, chunk_scale = chunk
        probabilities = jnp.exp(chunk_users @ candidates.T - chunk_normaliser[..., None])
        probabilities = probabilities * chunk_scale[..., None]
        candidate_gradient = candidate_gradient + jnp.einsum("bln,bld->nd", probabilities,
                                                             chunk_users)
        return candidate_gradient, probabilities @ candidates

    candidate_gradient, user_gradient = jax.lax.scan(
        chunk_gradients, jnp.zeros_like(candidates),
        (_sequence_slices(users, slice_len), _sequence_slices(log_normaliser, slice_len),
         _sequence_slices(scale, slice_len)))
    # Minus the one-hot target term, without materialising the one-hot matrix.
    user_gradient = (_from_sequence_slices(user_gradient)
                     - scale[..., None] * candidates[target_rows])
    candidate_gradient = candidate_gradient - jax.ops.segment_sum(
        (scale[..., None] * users).reshape(-1, users.shape[-1]), target_rows.reshape(-1),
        num_segments=candidates.shape[0])
    return user_gradient, candidate_gradient, None, None


_chunked_cross_entropy_sum.defvjp(_chunked_cross_entropy_forward, _chunked_cross_entropy_backward)


def binary_cross_entropy_loss(users: jax.Array, items: jax.Array, targets: jax.Array,
                              rng: jax.Array) -> jax.Array:
    """Original SASRec loss: each target against one uniformly drawn other item."""
    return binary_cross_entropy_with_negatives(users, items, targets,
                                               uniform_negatives(rng, targets, items.shape[0] - 1))


def uniform_negatives(rng: jax.Array, targets: jax.Array, num_items: int) -> jax.Array:
    """One item per position, uniform over 1..num_items excluding that position's target."""
    negatives = jax.random.randint(rng, targets.shape, 1, num_items)  # 1..num_items-1
    return jnp.where(negatives >= targets, negatives + 1, negatives)


def binary_cross_entropy_with_negatives(users: jax.Array, items: jax.Array, targets: jax.Array,
                                        negatives: jax.Array) -> jax.Array:
    """-log sigmoid(target score) - log sigmoid(-negative score), averaged over target positions."""
    positive_logits = jnp.sum(users * items[targets], axis=-1)
    negative_logits = jnp.sum(users * items[negatives], axis=-1)
    losses = -jax.nn.log_sigmoid(positive_logits) - jax.nn.log_sigmoid(-negative_logits)
    return _masked_mean(losses, (targets != PADDING_ITEM).astype(users.dtype))


def logq_corrected_logits(logits: jax.Array, log_sampling_probability: jax.Array) -> jax.Array:
    """Sampled-softmax correction: score - log Q(item), Q = the item's chance of being a candidate."""
    return logits - log_sampling_probability


def uniform_shared_negatives(rng: jax.Array, num_items: int, count: int) -> jax.Array:
    """`count` item ids drawn uniformly from 1..num_items (never padding): O(count)."""
    return jax.random.randint(rng, (count,), 1, num_items + 1, dtype=jnp.int32)


def item_cdf(log_item_probability) -> np.ndarray:
    """float32 [num_items]: cumulative probability of items 1..num_items (summed in float64),
    for inverse-CDF draws; padding (row 0) is never drawn."""
    probability = np.exp(np.asarray(log_item_probability, np.float64)[1:])
    cdf = np.cumsum(probability)
    return (cdf / cdf[-1]).astype(np.float32)


def popularity_negatives(rng: jax.Array, cdf: jax.Array, count: int) -> jax.Array:
    """`count` item ids drawn with probability proportional to popularity, by inverse CDF
    (a binary search per draw, O(count log num_items), instead of a Gumbel draw per item)."""
    uniform = jax.random.uniform(rng, (count,), dtype=cdf.dtype)
    index = jnp.searchsorted(cdf, uniform, side="right")
    return (jnp.minimum(index, cdf.shape[0] - 1) + 1).astype(jnp.int32)


def in_batch_negatives(rng: jax.Array, targets: jax.Array, count: int) -> jax.Array:
    """Targets of `count` positions drawn uniformly among the batch's non-padding positions
    (so an item's chance follows its frequency in the batch)."""
    flat_targets = targets.reshape(-1)
    valid_before = jnp.cumsum(flat_targets != PADDING_ITEM)  # [positions]
    draws = jax.random.randint(rng, (count,), 0, jnp.maximum(valid_before[-1], 1))
    positions = jnp.searchsorted(valid_before, draws, side="right")
    return flat_targets[jnp.minimum(positions, flat_targets.shape[0] - 1)]


def sampled_softmax_loss(users: jax.Array, items: jax.Array, targets: jax.Array, rng: jax.Array,
                         *, log_item_probability: jax.Array, num_sampled: int,
                         num_in_batch: int, sampler: str = "uniform",
                         logq_correction: bool = True, cdf: jax.Array | None = None
                         ) -> jax.Array:
    """Softmax over the target plus shared negatives, with logQ correction.

    Negatives: `num_sampled` items drawn with replacement from `sampler` ("uniform" by randint,
    or "popularity" by inverse CDF of `log_item_probability` [num_items + 1], the training
    frequency; `cdf` = item_cdf(log_item_probability), computed here when not given) plus
    `num_in_batch` targets of other positions in the batch (positions drawn uniformly, so an
    item's chance follows its frequency). Q(item) = expected number of times the item is a
    candidate; it corrects target and negative logits alike. A candidate equal to the
    position's own target is an accidental hit and is removed, never counted as a negative.
    """
    num_items = items.shape[0] - 1
    if sampler == "uniform":
        sampler_probability = jnp.full((num_items + 1,), 1.0 / num_items).at[PADDING_ITEM].set(0.0)
    elif sampler == "popularity":
        if cdf is None:
            cdf = jnp.asarray(item_cdf(log_item_probability))
        sampler_probability = jnp.diff(cdf, prepend=0.0).astype(jnp.float32)
        sampler_probability = jnp.concatenate([jnp.zeros((1,), jnp.float32),
                                               sampler_probability])
    else:
        raise ValueError(f"unknown negative sampler {sampler!r}: use 'uniform' or 'popularity'")
    if not (num_sampled or num_in_batch):
        raise ValueError("sampled softmax needs num_sampled > 0 or num_in_batch > 0")
    expected_count = (num_sampled * sampler_probability
                      + num_in_batch * jnp.exp(log_item_probability))
    log_q = jnp.log(jnp.maximum(expected_count, 1e-30))  # [num_items + 1]

    sampled_rng, in_batch_rng = jax.random.split(rng)
    candidates = []
    if num_sampled:
        candidates.append(uniform_shared_negatives(sampled_rng, num_items, num_sampled)
                          if sampler == "uniform"
                          else popularity_negatives(sampled_rng, cdf, num_sampled))
    if num_in_batch:
        candidates.append(in_batch_negatives(in_batch_rng, targets, num_in_batch))
    candidates = jnp.concatenate(candidates)  # [num_candidates]

    return sampled_softmax_with_candidates(users, items, targets, candidates,
                                           log_q if logq_correction else None)


def sampled_softmax_with_candidates(users: jax.Array, items: jax.Array, targets: jax.Array,
                                    candidates: jax.Array, log_q: jax.Array | None) -> jax.Array:
    """Softmax of each target against shared `candidates` [num_candidates].

    log_q [num_items + 1]: log expected candidate count per item, subtracted from every logit
    (None: no correction). Candidates equal to the position's own target are masked out.
    """
    target_logits = jnp.sum(users * items[targets], axis=-1)  # [batch, seq_len]
    negative_logits = jnp.einsum("bld,md->blm", users, items[candidates])
    if log_q is not None:
        target_logits = logq_corrected_logits(target_logits, log_q[targets])
        negative_logits = logq_corrected_logits(negative_logits, log_q[candidates])
    accidental_hit = candidates[None, None, :] == targets[..., None]
    negative_logits = jnp.where(accidental_hit, NEGATIVE_INFINITY, negative_logits)
    logits = jnp.concatenate([target_logits[..., None], negative_logits], axis=-1)
    losses = jax.nn.logsumexp(logits, axis=-1) - logits[..., 0]
    return _masked_mean(losses, (targets != PADDING_ITEM).astype(users.dtype))


LossFunction = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]


class LossFactory(Protocol):
    def __call__(self, loss_config, log_item_probability: jax.Array) -> LossFunction:
        """The loss with its settings from `loss_config`; log_item_probability
        [num_items + 1] is each item's log share of training events (samplers, logQ)."""
        ...


def _sampled_softmax(loss_config, log_item_probability: jax.Array | None) -> LossFunction:
    if log_item_probability is None:
        raise ValueError("sampled_softmax needs item log-probabilities (training popularity)")
    cdf = jnp.asarray(item_cdf(log_item_probability))  # once, in float64

    def loss(users, items, targets, rng):
        return sampled_softmax_loss(
            users, items, targets, rng, log_item_probability=log_item_probability,
            num_sampled=loss_config.num_sampled, num_in_batch=loss_config.num_in_batch,
            sampler=loss_config.sampler, logq_correction=loss_config.logq_correction, cdf=cdf)
    return loss


# The named extension point `loss.name`: a factory per loss. Adding one is a function of
# (users, items, targets, rng) plus one LOSSES.register line.
LOSSES: Registry[LossFactory] = Registry("loss", "loss.name")
LOSSES.register("full_softmax", lambda loss_config, log_item_probability: full_softmax_loss)
LOSSES.register("binary_cross_entropy",
                lambda loss_config, log_item_probability: binary_cross_entropy_loss)
LOSSES.register("sampled_softmax", _sampled_softmax)


def make_loss(loss_config, log_item_probability: jax.Array | None = None) -> LossFunction:
    """The loss named by `loss_config.name` (see LOSSES); log_item_probability is needed by
    losses that sample negatives or correct for sampling."""
    return LOSSES.get(loss_config.name)(loss_config, log_item_probability)
