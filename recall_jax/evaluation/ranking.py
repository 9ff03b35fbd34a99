"""Exact ranking of the whole catalogue: the one scorer and the one top-K / rank routine.

Every exact ranking in recall_jax goes through `rank_all_items` (scores from user and item
vectors) or `rank_scores` (scores already computed, e.g. item-CF): the training report, the
baselines and the comparison's exact top-K.

Scores. By default a score is an fp32 matrix product computed with `precision=HIGHEST` (on GPU
and TPU this rules out TF32 / bf16 passes; on CPU it is plain fp32). Its rounding can depend on
the operand shapes, so two chunkings may disagree on items whose scores differ in the last bit.
`audit=True` accumulates every dot product in a fixed order over the embedding dimension
instead: slower, but every score, rank and top list is bit-identical whatever the user and item
chunk sizes or the device count.

Rank. Item 0 (padding) and a user's excluded items (see `evaluation.protocol`) are never ranked.
A target's rank is the number of rankable items placed before it, 0-based, with equal scores
ordered by increasing item id, exactly as in the top lists, so `rank < k` if and only if the
target is in the user's top-k list. A target that the exclusions removed is not ranked at all:
its rank is NOT_RANKED (-1), a miss at every cut-off. `target_ties` counts the other rankable
items with exactly the target's score (a diagnostic: many ties make every rank arbitrary).

Memory is O(user_chunk * item_chunk): users go user_chunk at a time, items item_chunk at a time
with a running top-K. The target's score is read from the same score block as its competitors'.
With more than one item block that takes two passes over the blocks (top lists and target
scores first, then ranks). On a mesh, users are split over the "data" axis and items over the
"model" axis; each shard keeps its own top-K and rank counts, and a merge gives exactly the
single-device ranks and top lists.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from recall_jax.core import sharding
from recall_jax.core.ids import PADDING_ITEM
from recall_jax.core.shapes import next_power_of_two
from recall_jax.evaluation.protocol import Exclusions

NOT_RANKED = -1
_DIMENSION_BLOCK = 32  # Dimensions added per fused step of the fixed-order dot product.


@dataclasses.dataclass(frozen=True)
class RankingResult:
    """Outcome of ranking all items for each user.

    top_items: int32 [num_users, max_k], best first; slots beyond the number of rankable items
        hold the padding item 0 with score -inf.
    top_scores: float32 [num_users, max_k], scores of top_items.
    target_ranks: int64 [num_users], 0-based rank of each target, NOT_RANKED (-1) when the
        target was excluded; None when no targets were given.
    target_ties: int64 [num_users], other rankable items scoring exactly the target's score.
    """

    top_items: np.ndarray
    top_scores: np.ndarray
    target_ranks: np.ndarray | None = None
    target_ties: np.ndarray | None = None

    @property
    def num_users(self) -> int:
        return len(self.top_items)

    def subset(self, rows: np.ndarray) -> "RankingResult":
        """The result restricted to the users at `rows` (int indices or a bool mask)."""
        return RankingResult(self.top_items[rows], self.top_scores[rows],
                             None if self.target_ranks is None else self.target_ranks[rows],
                             None if self.target_ties is None else self.target_ties[rows])


# ----------------------------------------------------------------------------------------------
# Scoring.
# ----------------------------------------------------------------------------------------------
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


def dot_scores(users: jax.Array, items: jax.Array, audit: bool = False) -> jax.Array:
    """float32 [num_users, num_items]: users [num_users, dim] . items [num_items, dim]."""
    if audit:
        return ordered_dot(users[:, None, :], items[None, :, :])
    return jnp.matmul(users, items.T, precision=jax.lax.Precision.HIGHEST,
                      preferred_element_type=jnp.float32)


# ----------------------------------------------------------------------------------------------
# One block of scores: masking, top-K merge, target score and rank counts.
# ----------------------------------------------------------------------------------------------
def excluded_in_block(exclusions: jax.Array, start, block_size: int) -> jax.Array:
    """bool [chunk, block_size]: which of items start..start+block_size-1 each user excludes.

    exclusions: int32 [chunk, width], item ids, 0-padded."""
    chunk = exclusions.shape[0]
    local = exclusions - start
    # Ids outside this block go to an extra column that is dropped.
    local = jnp.where((local >= 0) & (local < block_size), local, block_size)
    rows = jnp.broadcast_to(jnp.arange(chunk)[:, None], exclusions.shape)
    return jnp.zeros((chunk, block_size + 1), bool).at[rows, local].set(True)[:, :block_size]


def rankable_in_block(exclusions: jax.Array, start, block_size: int,
                      num_items: int) -> tuple[jax.Array, jax.Array]:
    """(item ids int32 [block_size], rankable bool [chunk, block_size]) of one item block."""
    item_ids = start + jnp.arange(block_size, dtype=jnp.int32)
    real = (item_ids >= 1) & (item_ids <= num_items)
    return item_ids, real[None, :] & ~excluded_in_block(exclusions, start, block_size)


def _merge_top_k(best_scores, best_items, scores, item_ids, max_k: int):
    """Running top-max_k: earlier candidates have lower ids and top_k keeps the first of equals."""
    chunk = scores.shape[0]
    candidate_scores = jnp.concatenate([best_scores, scores], axis=1)
    candidate_items = jnp.concatenate(
        [best_items, jnp.broadcast_to(item_ids, (chunk, item_ids.shape[0]))], axis=1)
    best_scores, positions = jax.lax.top_k(candidate_scores, max_k)
    return best_scores, jnp.take_along_axis(candidate_items, positions, axis=1)


def _merge_shard_tops(best_scores, best_items, model_axis: str, max_k: int):
    """Every shard's top list -> the top list over all shards (the same on every shard).

    Shards hold increasing item ranges and each list puts equal scores by increasing id, so
    top_k (first of equals wins) over the lists in shard order keeps the lowest id of equals."""
    all_scores = jax.lax.all_gather(best_scores, model_axis, axis=1, tiled=True)
    all_items = jax.lax.all_gather(best_items, model_axis, axis=1, tiled=True)
    best_scores, positions = jax.lax.top_k(all_scores, max_k)
    return best_scores, jnp.take_along_axis(all_items, positions, axis=1)


def _target_score(scores, start, targets, current):
    """The target's entry of this block's (unmasked) scores where the target lies in it."""
    block_size = scores.shape[1]
    local = targets - start
    inside = (local >= 0) & (local < block_size)
    value = jnp.take_along_axis(scores, jnp.clip(local, 0, block_size - 1)[:, None], axis=1)[:, 0]
    return jnp.where(inside, value, current)


def _rank_counts(scores, rankable, item_ids, targets, target_scores):
    """(items placed before the target, items tying with it) within one block."""
    competitors = rankable & (item_ids[None, :] != targets[:, None])
    higher = scores > target_scores[:, None]
    equal = scores == target_scores[:, None]
    before = higher | (equal & (item_ids[None, :] < targets[:, None]))
    return (jnp.sum(competitors & before, axis=1, dtype=jnp.int32),
            jnp.sum(competitors & equal, axis=1, dtype=jnp.int32))


def _rank_blocks(block_scores, num_blocks: int, block_size: int, targets, exclusions, *,
                 num_items: int, max_k: int, first_item=0, model_axis: str | None = None):
    """Top lists and target ranks of one user chunk; block_scores(b) -> [chunk, block_size].

    Block b holds items first_item + b * block_size onwards. With `model_axis` (inside a
    shard_map), each shard of that axis holds one contiguous range of the catalogue: the
    target's score comes from the shard that holds it, the shards' top lists are merged (in
    shard order, so equal scores still go by increasing item id) and rank counts are summed,
    which gives exactly the single-device top lists and ranks.

    Returns top_items int32 [chunk, max_k], top_scores [chunk, max_k], ranks and ties int32
    [chunk] (targets: int32 [chunk]; every row needs a target, padding rows use item 1)."""
    chunk = exclusions.shape[0]
    initial_top = (jnp.full((chunk, max_k), -jnp.inf, jnp.float32),
                   jnp.zeros((chunk, max_k), jnp.int32))

    if num_blocks == 1:  # One block: score it once for both passes.
        only_block = block_scores(0)
        scores_of = lambda block_index: only_block  # noqa: E731
    else:
        scores_of = block_scores

    def top_and_target(carry, block_index):
        best_scores, best_items, target_scores = carry
        start = first_item + block_index * block_size
        scores = scores_of(block_index)
        item_ids, rankable = rankable_in_block(exclusions, start, block_size, num_items)
        target_scores = _target_score(scores, start, targets, target_scores)
        best_scores, best_items = _merge_top_k(best_scores, best_items,
                                               jnp.where(rankable, scores, -jnp.inf), item_ids,
                                               max_k)
        return (best_scores, best_items, target_scores), None

    def counts(carry, block_index):
        before, ties, target_scores = carry
        start = first_item + block_index * block_size
        item_ids, rankable = rankable_in_block(exclusions, start, block_size, num_items)
        more_before, more_ties = _rank_counts(scores_of(block_index), rankable, item_ids,
                                              targets, target_scores)
        return (before + more_before, ties + more_ties, target_scores), None

    def over_blocks(step, carry):
        if num_blocks == 1:
            return step(carry, 0)[0]
        return jax.lax.scan(step, carry, jnp.arange(num_blocks))[0]

    zeros = jnp.zeros(chunk, jnp.int32)
    best_scores, best_items, target_scores = over_blocks(
        top_and_target, (*initial_top, jnp.zeros(chunk, jnp.float32)))
    if model_axis is not None:
        # Only the shard holding the target has a non-zero entry: the sum is its score.
        target_scores = jax.lax.psum(target_scores, model_axis)
        best_scores, best_items = _merge_shard_tops(best_scores, best_items, model_axis, max_k)
    before, ties, _ = over_blocks(counts, (zeros, zeros, target_scores))
    if model_axis is not None:
        before, ties = jax.lax.psum((before, ties), model_axis)
    excluded = jnp.any(exclusions == targets[:, None], axis=1)
    ranks = jnp.where(excluded, NOT_RANKED, before)
    ties = jnp.where(excluded, 0, ties)
    best_items = jnp.where(best_scores == -jnp.inf, PADDING_ITEM, best_items)
    return best_items, best_scores, ranks, ties


@functools.partial(jax.jit, static_argnames=("num_items", "max_k", "audit"))
def _rank_vector_chunk(users, targets, exclusions, item_blocks, *, num_items: int, max_k: int,
                       audit: bool):
    """users [chunk, dim]; item_blocks [num_blocks, block_size, dim], rows 0.. in order."""
    num_blocks, block_size, _ = item_blocks.shape
    return _rank_blocks(lambda b: dot_scores(users, item_blocks[b], audit), num_blocks,
                        block_size, targets, exclusions, num_items=num_items, max_k=max_k)


@functools.partial(jax.jit, static_argnames=("mesh", "num_items", "max_k", "block_size",
                                             "audit"))
def _rank_vector_chunk_on_mesh(users, targets, exclusions, item_rows, *, mesh, num_items: int,
                               max_k: int, block_size: int, audit: bool):
    """`_rank_vector_chunk` over a mesh: users (and their targets and exclusions) split over the
    data axis, item_rows [rows, dim] over the model axis in contiguous ranges of whole blocks of
    block_size rows. Results come back whole on every device (and so every process)."""
    def local(users, targets, exclusions, items):
        num_blocks = items.shape[0] // block_size
        blocks = items.reshape(num_blocks, block_size, items.shape[1])
        first_item = jax.lax.axis_index(sharding.MODEL_AXIS) * items.shape[0]
        outputs = _rank_blocks(lambda b: dot_scores(users, blocks[b], audit), num_blocks,
                               block_size, targets, exclusions, num_items=num_items, max_k=max_k,
                               first_item=first_item, model_axis=sharding.MODEL_AXIS)
        return tuple(jax.lax.all_gather(output, sharding.DATA_AXIS, axis=0, tiled=True)
                     for output in outputs)

    by_user = PartitionSpec(sharding.DATA_AXIS)
    # The outputs are gathered or summed over both axes, so replicated; check_vma would also
    # ask every loop carry (the scans, the fixed-order dot) to be cast to "varying".
    return jax.shard_map(local, mesh=mesh, out_specs=PartitionSpec(), check_vma=False,
                         in_specs=(by_user, by_user, by_user,
                                   PartitionSpec(sharding.MODEL_AXIS)))(
        users, targets, exclusions, item_rows)


@functools.partial(jax.jit, static_argnames=("rows", "num_items", "mesh"))
def _item_rows_on_mesh(item_vectors, *, rows: int, num_items: int, mesh):
    """([rows, dim] float32: the item vectors, zero rows after them, split over the model axis;
    whether every real item's vector is finite). Nothing is ever whole on one device."""
    by_row = NamedSharding(mesh, PartitionSpec(sharding.MODEL_AXIS, None))
    vectors = item_vectors.astype(jnp.float32)
    padded = jax.lax.with_sharding_constraint(
        jnp.pad(vectors, ((0, rows - vectors.shape[0]), (0, 0))), by_row)
    # Row 0 and the rows after the catalogue (padding) may hold anything.
    real = ((jnp.arange(rows) >= 1) & (jnp.arange(rows) <= num_items))[:, None]
    finite = jnp.all(jnp.isfinite(padded) | ~real)
    return jax.lax.with_sharding_constraint(jnp.nan_to_num(padded), by_row), finite


@functools.partial(jax.jit, static_argnames=("num_items", "max_k"))
def _rank_score_chunk(scores, targets, exclusions, *, num_items: int, max_k: int):
    """scores [chunk, num_columns] for items 0..num_columns-1."""
    return _rank_blocks(lambda b: scores, 1, scores.shape[1], targets, exclusions,
                        num_items=num_items, max_k=max_k)


# ----------------------------------------------------------------------------------------------
# Host side: chunks of users, input checks, results.
# ----------------------------------------------------------------------------------------------

def _chunk_size(num_users: int, user_chunk: int, mesh) -> int:
    """Small queries get small shapes; with a mesh, a multiple of its device count."""
    chunk = max(1, min(user_chunk, next_power_of_two(max(num_users, 1))))
    if mesh is not None:
        size = mesh.devices.size
        chunk = max(size, chunk - chunk % size)
    return chunk


def _check_inputs(num_users: int, num_items: int, targets, exclusions, max_k: int,
                  user_chunk: int, item_chunk: int | None) -> None:
    if num_items < 1:
        raise ValueError("the catalogue must hold the padding row and at least one item")
    if targets is not None:
        if targets.shape != (num_users,):
            raise ValueError(f"targets must have shape ({num_users},), got {targets.shape}")
        if num_users and (targets.min() < 1 or targets.max() > num_items):
            raise ValueError(f"targets must lie in 1..{num_items}")
    if exclusions is not None and exclusions.num_users != num_users:
        raise ValueError(f"exclusions for {exclusions.num_users} users, but {num_users} users")
    if max_k < 1 or user_chunk < 1 or (item_chunk is not None and item_chunk < 1):
        raise ValueError("max_k, user_chunk and item_chunk must be positive")


def on_mesh(host_array: np.ndarray, placement: NamedSharding) -> jax.Array:
    """A host array that every process holds whole -> a global array placed as `placement`
    (each process fills only its own devices' pieces, so this works across processes)."""
    return jax.make_array_from_callback(host_array.shape, placement,
                                        lambda index: host_array[index])


def _run_chunks(rank_chunk, num_users: int, targets, exclusions: Exclusions | None, max_k: int,
                user_chunk: int, mesh) -> RankingResult:
    """Calls rank_chunk(start, stop, chunk, targets [chunk], exclusions [chunk, width]) per chunk
    of users and assembles the RankingResult."""
    with_targets = targets is not None
    targets = (np.asarray(targets).astype(np.int64) if with_targets
               else np.ones(num_users, np.int64))
    chunk = _chunk_size(num_users, user_chunk, mesh)
    width = next_power_of_two(max(1, exclusions.max_length() if exclusions is not None else 1))
    data_sharding = None if mesh is None else sharding.batch_sharding(mesh)
    outputs = []
    for start in range(0, num_users, chunk):
        stop = min(start + chunk, num_users)
        chunk_targets = np.ones(chunk, np.int32)
        chunk_targets[:stop - start] = targets[start:stop]
        chunk_exclusions = (exclusions.padded(start, stop, chunk, width) if exclusions is not None
                            else np.zeros((chunk, width), np.int32))
        arrays = (chunk_targets, chunk_exclusions)
        if data_sharding is not None:
            arrays = tuple(on_mesh(a, data_sharding) for a in arrays)
        outputs.append(rank_chunk(start, stop, chunk, *arrays))
    if not outputs:
        empty = np.zeros(0, np.int64) if with_targets else None
        return RankingResult(np.zeros((0, max_k), np.int32), np.zeros((0, max_k), np.float32),
                             empty, empty)
    top_items, top_scores, ranks, ties = (
        np.concatenate([np.asarray(output[i]) for output in outputs])[:num_users]
        for i in range(4))
    return RankingResult(top_items=top_items.astype(np.int32),
                         top_scores=top_scores.astype(np.float32),
                         target_ranks=ranks.astype(np.int64) if with_targets else None,
                         target_ties=ties.astype(np.int64) if with_targets else None)


def rank_all_items(user_vectors, item_vectors, targets=None, exclusions: Exclusions | None = None,
                   max_k: int = 200, user_chunk: int = 1024, item_chunk: int | None = None,
                   audit: bool = False, mesh: jax.sharding.Mesh | None = None,
                   num_items: int | None = None) -> RankingResult:
    """Rank every real item for every user by dot-product score; see the module docstring.

    user_vectors: [num_users, dim]; item_vectors: [num_items + 1, dim] (row 0 = padding);
    targets: int [num_users] in 1..num_items, or None for top lists only;
    exclusions: items removed from each user's ranking (`protocol.seen_item_exclusions`).
    With a mesh, each chunk of users is split over its "data" axis and the items over its
    "model" axis (item_vectors may then be a jax array already on the mesh: it never visits the
    host); the results equal the single-device ones and every process receives them whole.
    Numpy or jax inputs. `num_items`, when given, marks rows after num_items + 1 as padding
    (never ranked), e.g. item vectors padded to split evenly over the model axis.
    """
    user_vectors = np.asarray(user_vectors, np.float32)
    on_device = isinstance(item_vectors, jax.Array) and mesh is not None
    if not on_device:
        item_vectors = np.asarray(item_vectors, np.float32)
    if user_vectors.ndim != 2 or item_vectors.ndim != 2 or \
            user_vectors.shape[1] != item_vectors.shape[1]:
        raise ValueError(f"need user_vectors [users, dim] and item_vectors [items + 1, dim], got "
                         f"{user_vectors.shape} and {item_vectors.shape}")
    # Item vectors on the mesh are checked where they lie (in _rank_on_mesh).
    items_finite = on_device or np.isfinite(item_vectors[1:]).all()
    if not (np.isfinite(user_vectors).all() and items_finite):
        raise ValueError("user and item vectors must be finite (row 0, padding, is exempt)")
    targets = None if targets is None else np.asarray(targets)
    num_users, dimension = user_vectors.shape
    if num_items is None:
        num_items = len(item_vectors) - 1
    elif not 1 <= num_items < len(item_vectors):
        raise ValueError(f"num_items={num_items} needs 2..{len(item_vectors)} item rows")
    elif not on_device:
        item_vectors = item_vectors[:num_items + 1]
    _check_inputs(num_users, num_items, targets, exclusions, max_k, user_chunk, item_chunk)

    if mesh is not None:
        return _rank_on_mesh(user_vectors, item_vectors, num_items, targets, exclusions, max_k,
                             user_chunk, item_chunk, audit, mesh)
    block_size = min(item_chunk or num_items + 1, num_items + 1)
    num_blocks = -(-(num_items + 1) // block_size)
    item_blocks = np.zeros((num_blocks * block_size, dimension), np.float32)
    item_blocks[:num_items + 1] = np.nan_to_num(item_vectors[:num_items + 1])
    item_blocks = jnp.asarray(item_blocks.reshape(num_blocks, block_size, dimension))

    def rank_chunk(start, stop, chunk, chunk_targets, chunk_exclusions):
        users = np.zeros((chunk, dimension), np.float32)
        users[:stop - start] = user_vectors[start:stop]
        return _rank_vector_chunk(users, chunk_targets, chunk_exclusions, item_blocks,
                                  num_items=num_items, max_k=max_k, audit=audit)

    return _run_chunks(rank_chunk, num_users, targets, exclusions, max_k, user_chunk, mesh)


def _rank_on_mesh(user_vectors: np.ndarray, item_vectors, num_items: int, targets, exclusions,
                  max_k: int, user_chunk: int, item_chunk: int | None, audit: bool,
                  mesh) -> RankingResult:
    """rank_all_items with users over the mesh's data axis and items over its model axis.

    Each model shard holds a contiguous range of ceil((num_items + 1) / model) rows (rounded up
    to whole item_chunk blocks; the zero rows after the catalogue are never ranked)."""
    shards = mesh.shape[sharding.MODEL_AXIS]
    per_shard = -(-(num_items + 1) // shards)
    block_size = min(item_chunk or per_shard, per_shard)
    rows = shards * block_size * -(-per_shard // block_size)
    if isinstance(item_vectors, np.ndarray):  # placed split by rows, never whole per device
        host = np.zeros((rows, item_vectors.shape[1]), np.float32)
        host[:len(item_vectors)] = item_vectors
        item_vectors = on_mesh(host, NamedSharding(mesh, PartitionSpec(sharding.MODEL_AXIS)))
    item_rows, finite = _item_rows_on_mesh(item_vectors, rows=rows, num_items=num_items,
                                           mesh=mesh)
    if not bool(finite):
        raise ValueError("user and item vectors must be finite (row 0, padding, is exempt)")
    dimension = user_vectors.shape[1]
    user_sharding = sharding.batch_sharding(mesh)

    def rank_chunk(start, stop, chunk, chunk_targets, chunk_exclusions):
        users = np.zeros((chunk, dimension), np.float32)
        users[:stop - start] = user_vectors[start:stop]
        return _rank_vector_chunk_on_mesh(on_mesh(users, user_sharding), chunk_targets,
                                          chunk_exclusions, item_rows, mesh=mesh,
                                          num_items=num_items, max_k=max_k,
                                          block_size=block_size, audit=audit)

    return _run_chunks(rank_chunk, len(user_vectors), targets, exclusions, max_k, user_chunk,
                       mesh)


def rank_scores(score_chunks, num_users: int, num_items: int, targets=None,
                exclusions: Exclusions | None = None, max_k: int = 200,
                user_chunk: int = 1024) -> RankingResult:
    """`rank_all_items` for scores computed elsewhere (e.g. item-CF's sparse products).

    score_chunks(start, stop) -> float [stop - start, num_items + 1] scores of those users
    (column 0, padding, is never ranked); each chunk is ranked as soon as it is made.
    """
    targets = None if targets is None else np.asarray(targets)
    _check_inputs(num_users, num_items, targets, exclusions, max_k, user_chunk, None)

    def rank_chunk(start, stop, chunk, chunk_targets, chunk_exclusions):
        scores = np.full((chunk, num_items + 1), -np.inf, np.float32)
        scores[:stop - start] = score_chunks(start, stop)
        if not np.isfinite(scores[:stop - start, 1:]).all():
            raise ValueError(f"scores of users {start}..{stop - 1} are not all finite")
        return _rank_score_chunk(scores, chunk_targets, chunk_exclusions, num_items=num_items,
                                 max_k=max_k)

    return _run_chunks(rank_chunk, num_users, targets, exclusions, max_k, user_chunk, None)
