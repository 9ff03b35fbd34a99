"""Two-tower sequential recommender: a behaviour encoder and an item tower.

The behaviour encoder (`model.name`, see `encoders.ENCODERS`) reads item ids in time order
(left-padded with 0) and emits a user vector at every position; the item tower
(`model.item_tower`, see `item_towers.ITEM_TOWERS`) turns every catalogue id into a vector in
the same space. Scores are dot products, or cosines divided by a temperature when `normalize`
is set. The training objective (`model.objective`, see `objectives.OBJECTIVES`) says how
batches are formed and where a user's vector is read.

Item towers: "id" (an id embedding), "text" (frozen text vectors of the item's content through
a trainable projection, so items never seen in training still get a vector) and "id+text"
(their sum). The text table is a parameter wrapped in stop_gradient (and excluded from weight
decay), so it stays exactly the pretrained encoder's output.

With a tower using both ids and text, `item_id_dropout` > 0 drops the id embedding of that share
of the catalogue in each training step (the same items on the input and output side), as in
DropoutNet (Volkovs et al., 2017): the model then also learns to score items from their text
alone, which is all that an item unseen in training has.

Parameters are float32; `dtype` (the compute dtype, e.g. bfloat16) sets the encoder's activations
and matmuls, while LayerNorm statistics, the attention softmax and the returned user and item
vectors stay float32 (so scores and losses are float32).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from recall_jax.core.ids import PADDING_ITEM, mask_token
from recall_jax.models.item_towers import ITEM_TOWERS
from recall_jax.models.objectives import NextItem


def padded_rows(rows: int, multiple: int) -> int:
    """`rows` rounded up to a multiple of `multiple`."""
    return -(-rows // multiple) * multiple


def padded_initializer(init: Callable, rows: int) -> Callable:
    """`init` for the first `rows` rows (the same values whatever the padding), zeros after."""
    def padded(rng, shape, dtype=jnp.float32):
        real = init(rng, (rows,) + tuple(shape[1:]), dtype)
        return jnp.concatenate([real, jnp.zeros((shape[0] - rows,) + tuple(shape[1:]), dtype)])
    return padded


class SequentialRecommender(nn.Module):
    """A behaviour encoder (any `SequenceEncoder`) with a tied or separate item tower."""

    num_items: int
    max_len: int
    encoder: nn.Module  # a SequenceEncoder, e.g. encoders.ENCODERS.get("sasrec")(config, dtype)
    embed_dim: int = 64
    # How batches are formed and where the user vector is read (objectives.TrainingObjective).
    objective: Any = NextItem()
    tie_item_embeddings: bool = True
    normalize: bool = False
    temperature: float = 0.05
    item_tower: str = "id"
    item_id_dropout: float = 0.0
    text_dim: int = 0
    # (rng, shape) -> [table rows, text_dim] text vectors (rows 0 and num_items + 1 zero).
    text_table_init: Callable | None = None
    # Per-item tables get rows up to a multiple of this (the mesh's model axis), never used.
    table_rows_multiple: int = 1
    dtype: Any = jnp.float32  # compute dtype; parameters stay float32

    @property
    def causal(self) -> bool:
        """Whether position t of the encoder sees only positions <= t."""
        return self.encoder.causal

    @property
    def uses_times(self) -> bool:
        """Whether the encoder reads the events' times (HSTU with time_buckets > 0)."""
        return getattr(self.encoder, "time_buckets", 0) > 0

    def setup(self):
        tower = ITEM_TOWERS.get(self.item_tower)
        if not 0.0 <= self.item_id_dropout < 1.0:
            raise ValueError(f"item_id_dropout must lie in [0, 1), got {self.item_id_dropout}")
        if self.item_id_dropout > 0 and not (tower.uses_id and tower.uses_text):
            raise ValueError("item_id_dropout needs an item tower of ids and text, e.g. "
                             f"'id+text' (it drops the id part of fused item vectors), got "
                             f"item_tower={self.item_tower!r}")
        if tower.uses_text and (self.text_table_init is None or self.text_dim <= 0):
            raise ValueError(f"item_tower={self.item_tower!r} needs text vectors "
                             "(text_table_init and text_dim)")
        if tower.uses_text and not self.tie_item_embeddings:
            raise ValueError("text item towers are always tied: set tie_item_embeddings=True")
        self.tower = tower
        if tower.uses_text:
            self.text_table = self.param(
                "text_table", self.text_table_init,
                (padded_rows(self.num_items + 2, self.table_rows_multiple), self.text_dim))
            self.text_projection = nn.Dense(self.embed_dim, dtype=self.dtype,
                                            name="text_projection")
        init = nn.initializers.normal(stddev=0.02)
        # Row 0 is padding (and, for the cloze objective, num_items + 1 is the [MASK] token).
        self.item_embedding = nn.Embed(
            padded_rows(self.num_items + 2, self.table_rows_multiple), self.embed_dim,
            embedding_init=padded_initializer(init, self.num_items + 2), dtype=self.dtype)
        if not self.tie_item_embeddings:
            self.output_item_embedding = nn.Embed(
                padded_rows(self.num_items + 1, self.table_rows_multiple), self.embed_dim,
                embedding_init=padded_initializer(init, self.num_items + 1))

    def encode_users(self, item_ids: jax.Array, deterministic: bool = True,
                     id_kept: jax.Array | None = None, times: jax.Array | None = None
                     ) -> jax.Array:
        """item_ids: [batch, seq_len] -> user vectors [batch, seq_len, embed_dim] (one per position).

        id_kept: optional bool [num_items + 2], False where an item's id embedding is dropped;
        times: [batch, seq_len] event times, for encoders that use them (uses_times)."""
        x = self._item_rows(item_ids, id_kept)
        if self.uses_times:
            if times is None:
                raise ValueError("this encoder uses the events' times: pass times=[batch, "
                                 "seq_len] beside the item ids")
            return self._project(self.encoder(x, item_ids != PADDING_ITEM, deterministic,
                                              times=times))
        return self._project(self.encoder(x, item_ids != PADDING_ITEM, deterministic))

    def item_vectors(self, id_kept: jax.Array | None = None) -> jax.Array:
        """[num_items + 1, embed_dim] vectors of every catalogue id (row 0 = padding, never ranked)."""
        if self.tower.uses_text:
            table = self._item_rows(jnp.arange(self.num_items + 1), id_kept)
        elif self.tie_item_embeddings:
            table = self.item_embedding.embedding[: self.num_items + 1]
        else:
            table = self.output_item_embedding.embedding[: self.num_items + 1]
        return self._project(table.astype(jnp.float32))

    def _item_rows(self, item_ids: jax.Array, id_kept: jax.Array | None = None) -> jax.Array:
        """The item tower's input-side vector for each id (padding and [MASK] included)."""
        by_id = self.item_embedding(item_ids)
        if id_kept is not None:
            by_id = by_id * id_kept[item_ids][..., None].astype(by_id.dtype)
        text = None
        if self.tower.uses_text:
            text = self.text_projection(jax.lax.stop_gradient(self.text_table)[item_ids])
        return self.tower.combine(item_ids, by_id, text, mask_token(self.num_items))

    def _project(self, vectors: jax.Array) -> jax.Array:
        if not self.normalize:
            return vectors
        # rsqrt of the clipped squared norm: unlike jnp.linalg.norm, its gradient is finite at
        # a zero vector (padded positions are zero; a NaN there would poison every gradient).
        squared = jnp.sum(vectors * vectors, axis=-1, keepdims=True)
        vectors = vectors * jax.lax.rsqrt(jnp.maximum(squared, 1e-12))
        # Dividing both towers by sqrt(temperature) makes dot products cosine / temperature.
        return vectors / jnp.sqrt(self.temperature)

    def __call__(self, item_ids: jax.Array, deterministic: bool = True,
                 times: jax.Array | None = None):
        """Returns (user vectors [batch, seq_len, dim], item vectors [num_items + 1, dim])."""
        id_kept = None
        if self.item_id_dropout > 0 and not deterministic:
            id_kept = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.item_id_dropout,
                                           (self.num_items + 2,))
            # [MASK] has no text to fall back on.
            id_kept = id_kept.at[mask_token(self.num_items)].set(True)
        return (self.encode_users(item_ids, deterministic, id_kept, times),
                self.item_vectors(id_kept))
