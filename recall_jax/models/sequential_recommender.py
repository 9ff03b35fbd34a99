"""Two-tower sequential recommender: a Transformer behaviour encoder and an item tower.

The behaviour encoder reads item ids in time order (left-padded with 0) and emits a user vector at
every position; the item tower turns every catalogue id into a vector in the same space.
Scores are dot products, or cosines divided by a temperature when `normalize` is set.

Item tower modes: "id" (an id embedding), "text" (frozen text vectors of the item's content
through a trainable projection, so items never seen in training still get a vector) and
"id+text" (their sum). The text table is a parameter wrapped in stop_gradient (and excluded
from weight decay), so it stays exactly the pretrained encoder's output.

With "id+text", `item_id_dropout` > 0 drops the id embedding of that share of the catalogue in
each training step (the same items on the input and output side), as in DropoutNet (Volkovs et
al., 2017): the model then also learns to score items from their text alone, which is all that
an item unseen in training has.

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

from recall_jax.core.ids import PADDING_ITEM
from recall_jax.models.dropout import make_dropout
from recall_jax.models.transformer import TransformerBlock

ITEM_TOWERS = ("id", "text", "id+text")


def padded_rows(rows: int, multiple: int) -> int:
    """`rows` rounded up to a multiple of `multiple`."""
    return -(-rows // multiple) * multiple


def padded_initializer(init: Callable, rows: int) -> Callable:
    """`init` for the first `rows` rows (the same values whatever the padding), zeros after."""
    def padded(rng, shape, dtype=jnp.float32):
        real = init(rng, (rows,) + tuple(shape[1:]), dtype)
        return jnp.concatenate([real, jnp.zeros((shape[0] - rows,) + tuple(shape[1:]), dtype)])
    return padded


def attention_mask(item_ids: jax.Array, causal: bool) -> jax.Array:
    """[batch, 1, seq_len, seq_len] boolean: query i may attend key j (key not padding, j <= i if causal)."""
    key_is_item = (item_ids != PADDING_ITEM)[:, None, None, :]
    if not causal:
        return key_is_item
    seq_len = item_ids.shape[1]
    lower = jnp.tril(jnp.ones((seq_len, seq_len), dtype=bool))[None, None]
    # A query may always see itself, so padded queries never get an all-masked row.
    diagonal = jnp.eye(seq_len, dtype=bool)[None, None]
    return (lower & key_is_item) | diagonal


class SequentialRecommender(nn.Module):
    """SASRec-style (causal) or BERT-style (bidirectional) encoder with a tied or separate item tower."""

    num_items: int
    max_len: int
    embed_dim: int = 64
    num_blocks: int = 2
    num_heads: int = 1
    mlp_ratio: int = 4
    dropout_rate: float = 0.2
    attention_dropout_rate: float = 0.0
    activation: str = "gelu"
    causal: bool = True
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
    attention_implementation: str = "dot_product_attention"
    dropout_impl: str = "bytes"  # "bytes" (ByteDropout) | "bernoulli" (nn.Dropout)
    dtype: Any = jnp.float32  # compute dtype; parameters stay float32

    def setup(self):
        if self.item_tower not in ITEM_TOWERS:
            raise ValueError(f"item_tower must be one of {ITEM_TOWERS}, got {self.item_tower!r}")
        if not 0.0 <= self.item_id_dropout < 1.0:
            raise ValueError(f"item_id_dropout must lie in [0, 1), got {self.item_id_dropout}")
        if self.item_id_dropout > 0 and self.item_tower != "id+text":
            raise ValueError("item_id_dropout needs item_tower='id+text' (it drops the id part "
                             f"of fused item vectors), got item_tower={self.item_tower!r}")
        uses_text = self.item_tower != "id"
        if uses_text and (self.text_table_init is None or self.text_dim <= 0):
            raise ValueError(f"item_tower={self.item_tower!r} needs text vectors "
                             "(text_table_init and text_dim)")
        if uses_text and not self.tie_item_embeddings:
            raise ValueError("text item towers are always tied: set tie_item_embeddings=True")
        if uses_text:
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
        self.position_embedding = nn.Embed(self.max_len, self.embed_dim, embedding_init=init,
                                           dtype=self.dtype)
        if not self.tie_item_embeddings:
            self.output_item_embedding = nn.Embed(
                padded_rows(self.num_items + 1, self.table_rows_multiple), self.embed_dim,
                embedding_init=padded_initializer(init, self.num_items + 1))
        self.input_dropout = make_dropout(self.dropout_rate, self.dropout_impl)
        self.blocks = [TransformerBlock(self.num_heads, self.mlp_ratio * self.embed_dim,
                                        self.dropout_rate, self.attention_dropout_rate,
                                        self.activation, self.attention_implementation,
                                        self.dropout_impl, self.dtype, name=f"block_{i}")
                       for i in range(self.num_blocks)]
        # float32 output whatever the compute dtype: the user vectors that get scored.
        self.final_norm = nn.LayerNorm(epsilon=1e-6, dtype=jnp.float32)

    def encode_users(self, item_ids: jax.Array, deterministic: bool = True,
                     id_kept: jax.Array | None = None) -> jax.Array:
        """item_ids: [batch, seq_len] -> user vectors [batch, seq_len, embed_dim] (one per position).

        id_kept: optional bool [num_items + 2], False where an item's id embedding is dropped."""
        seq_len = item_ids.shape[1]
        x = self._item_rows(item_ids, id_kept)
        x = x * jnp.sqrt(self.embed_dim).astype(x.dtype)
        x = x + self.position_embedding(jnp.arange(self.max_len - seq_len, self.max_len))[None]
        x = self.input_dropout(x, deterministic=deterministic)
        is_item = (item_ids != PADDING_ITEM)[..., None]
        x = x * is_item
        mask = attention_mask(item_ids, self.causal)
        for block in self.blocks:
            x = block(x, mask, deterministic) * is_item
        x = self.final_norm(x)
        return self._project(x)

    def item_vectors(self, id_kept: jax.Array | None = None) -> jax.Array:
        """[num_items + 1, embed_dim] vectors of every catalogue id (row 0 = padding, never ranked)."""
        if self.item_tower != "id":
            table = self._item_rows(jnp.arange(self.num_items + 1), id_kept)
        elif self.tie_item_embeddings:
            table = self.item_embedding.embedding[: self.num_items + 1]
        else:
            table = self.output_item_embedding.embedding[: self.num_items + 1]
        return self._project(table.astype(jnp.float32))

    def _item_rows(self, item_ids: jax.Array, id_kept: jax.Array | None = None) -> jax.Array:
        """The item tower's input-side vector for each id (padding and [MASK] included)."""
        by_id = self.item_embedding(item_ids)
        if self.item_tower == "id":
            return by_id
        text = self.text_projection(jax.lax.stop_gradient(self.text_table)[item_ids])
        if self.item_tower == "id+text":
            if id_kept is not None:
                by_id = by_id * id_kept[item_ids][..., None].astype(by_id.dtype)
            return by_id + text
        # Text only: the [MASK] token (bidirectional encoder) has no text; it keeps its id row.
        return jnp.where((item_ids == self.num_items + 1)[..., None], by_id, text)

    def _project(self, vectors: jax.Array) -> jax.Array:
        if not self.normalize:
            return vectors
        # rsqrt of the clipped squared norm: unlike jnp.linalg.norm, its gradient is finite at
        # a zero vector (padded positions are zero; a NaN there would poison every gradient).
        squared = jnp.sum(vectors * vectors, axis=-1, keepdims=True)
        vectors = vectors * jax.lax.rsqrt(jnp.maximum(squared, 1e-12))
        # Dividing both towers by sqrt(temperature) makes dot products cosine / temperature.
        return vectors / jnp.sqrt(self.temperature)

    def __call__(self, item_ids: jax.Array, deterministic: bool = True):
        """Returns (user vectors [batch, seq_len, dim], item vectors [num_items + 1, dim])."""
        id_kept = None
        if self.item_id_dropout > 0 and not deterministic:
            id_kept = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.item_id_dropout,
                                           (self.num_items + 2,))
            id_kept = id_kept.at[self.num_items + 1].set(True)  # [MASK] has no text to fall back on
        return self.encode_users(item_ids, deterministic, id_kept), self.item_vectors(id_kept)
