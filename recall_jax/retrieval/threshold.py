"""Cosine thresholding: keep every item whose cosine to the user exceeds tau, best first.

Variants:
* global tau, fixed by hand or chosen so the mean candidate count on a sample of users hits a
  target (`tau_for_mean_size`);
* per-user calibrated tau: tau_u = mean_u + z * std_u of the user's own cosine distribution, with
  one z for everyone (`z_for_mean_size` picks z for a target mean count); set sizes then differ
  per user, unlike top-K;
* hybrid: take an ANN top-K_max and keep those of its candidates that clear tau
  (`filter_by_cosine`).
Excluded items (e.g. the user's history) are never candidates.
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from recall_jax.core.csr import offsets_from_owners, owner_of_entries
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.core.shapes import next_power_of_two
from recall_jax.evaluation.ranking import dot_scores, rankable_in_block
from recall_jax.core.candidates import Candidates


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


@jax.jit
def _cosine_chunk(users, items, exclusions):
    """[chunk, N + 1] cosines with excluded ids (and padding id 0) set to NaN."""
    scores = dot_scores(users, items)
    _, rankable = rankable_in_block(exclusions, 0, items.shape[0], items.shape[0] - 1)
    return jnp.where(rankable, scores, jnp.nan)


def cosine_chunks(user_vectors, item_vectors, exclusions: Exclusions | None = None,
                  user_chunk: int = 512):
    """Yields (start, stop, cosines [stop - start, N + 1]) with excluded entries NaN."""
    users = unit_rows(user_vectors)
    items = jnp.asarray(unit_rows(item_vectors))
    user_chunk = min(user_chunk, next_power_of_two(len(users)))
    width = next_power_of_two(max(1, exclusions.max_length() if exclusions is not None else 1))
    for start in range(0, len(users), user_chunk):
        stop = min(start + user_chunk, len(users))
        block = np.zeros((user_chunk, users.shape[1]), np.float32)
        block[:stop - start] = users[start:stop]
        padded = (exclusions.padded(start, stop, user_chunk, width) if exclusions is not None
                  else np.zeros((user_chunk, width), np.int32))
        yield start, stop, np.asarray(_cosine_chunk(block, items, padded))[:stop - start]


def cosine_threshold(user_vectors, item_vectors, tau: float | np.ndarray,
                     exclusions: Exclusions | None = None, user_chunk: int = 512) -> Candidates:
    """Items with cosine > tau (a scalar, or one tau per user), sorted by cosine, best first."""
    tau = np.broadcast_to(np.asarray(tau, np.float32), (len(user_vectors),))
    parts = []
    for start, stop, cosines in cosine_chunks(user_vectors, item_vectors, exclusions,
                                              user_chunk):
        with np.errstate(invalid="ignore"):
            mask = cosines > tau[start:stop, None]  # NaN (excluded) compares False
        parts.append(Candidates.from_mask(mask, cosines))
    return Candidates.concatenate(parts)


def per_user_taus(user_vectors, item_vectors, z: float, exclusions: Exclusions | None = None,
                  user_chunk: int = 512) -> np.ndarray:
    """tau_u = mean + z * std of user u's cosines over its rankable items."""
    taus = np.empty(len(user_vectors), np.float32)
    for start, stop, cosines in cosine_chunks(user_vectors, item_vectors, exclusions,
                                              user_chunk):
        taus[start:stop] = np.nanmean(cosines, axis=1) + z * np.nanstd(cosines, axis=1)
    return taus


def tau_for_mean_size(sample_cosines: np.ndarray, target_mean_size: float) -> float:
    """The global tau whose mean candidate count over the sampled users is target_mean_size.

    sample_cosines: [num_users, N + 1] with excluded entries NaN (from `cosine_chunks`).
    """
    values = sample_cosines[np.isfinite(sample_cosines)]
    num_users = len(sample_cosines)
    keep = int(round(target_mean_size * num_users))
    if not 0 < keep < len(values):
        raise ValueError(f"target mean size {target_mean_size} outside (0, "
                         f"{len(values) / num_users:.0f})")
    # The keep-th largest value is kept by "> tau" when tau is the next value below it.
    ordered = np.sort(values)[::-1]
    return float(ordered[keep])


def z_for_mean_size(sample_cosines: np.ndarray, target_mean_size: float) -> float:
    """The z of per-user tau = mean + z * std giving target_mean_size candidates on average."""
    mean = np.nanmean(sample_cosines, axis=1, keepdims=True)
    std = np.maximum(np.nanstd(sample_cosines, axis=1, keepdims=True), 1e-12)
    return tau_for_mean_size((sample_cosines - mean) / std, target_mean_size)


def filter_by_cosine(candidates: Candidates, user_vectors, item_vectors,
                     tau: float | np.ndarray) -> Candidates:
    """Hybrid: keep the candidates whose cosine to their user exceeds tau, re-sorted by cosine."""
    users, items = unit_rows(user_vectors), unit_rows(item_vectors)
    owner = owner_of_entries(candidates.offsets)
    cosines = np.einsum("nd,nd->n", users[owner], items[candidates.items])
    tau = np.broadcast_to(np.asarray(tau, np.float32), (candidates.num_users,))
    keep = cosines > tau[owner]
    order = np.lexsort((candidates.items[keep], -cosines[keep], owner[keep]))
    return Candidates(offsets_from_owners(owner[keep], candidates.num_users),
                      candidates.items[keep][order].astype(np.int32),
                      cosines[keep][order].astype(np.float32))
