"""Behaviour encoders: the named extension point `model.name`.

A behaviour encoder reads the item-tower rows of a time-ordered, left-padded history and emits a
user vector at every position. It is a Flax module following `SequenceEncoder`; the registry
holds a factory `build(model_config, dtype) -> SequenceEncoder` per name. Adding one is a file
with the module and its `build`, plus one `ENCODERS.register(...)` line below.
"""

from __future__ import annotations

from typing import Any, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp

from recall_jax.core.registry import Registry
from recall_jax.models import gru4rec, hstu
from recall_jax.models.dropout import make_dropout
from recall_jax.models.transformer import TransformerBlock


class SequenceEncoder(Protocol):
    """What the two-tower model needs of a behaviour encoder."""

    # True: position t sees positions <= t only (next-item objective); False: the whole window
    # (cloze objective).
    causal: bool

    def __call__(self, x: jax.Array, is_item: jax.Array, deterministic: bool) -> jax.Array:
        """x: [batch, seq_len, dim] item rows of the left-padded history (compute dtype);
        is_item: [batch, seq_len] bool (False at padding). Returns float32 [batch, seq_len, dim]
        user vectors, zero at padding."""
        ...


class EncoderFactory(Protocol):
    def __call__(self, model_config: Any, dtype: Any) -> SequenceEncoder: ...


def attention_mask(is_item: jax.Array, causal: bool) -> jax.Array:
    """[batch, 1, seq_len, seq_len] boolean: query i may attend key j (key not padding, j <= i if
    causal). A query always sees itself, so padded queries never get an all-masked row."""
    key_is_item = is_item[:, None, None, :]
    if not causal:
        return key_is_item
    seq_len = is_item.shape[1]
    lower = jnp.tril(jnp.ones((seq_len, seq_len), dtype=bool))[None, None]
    diagonal = jnp.eye(seq_len, dtype=bool)[None, None]
    return (lower & key_is_item) | diagonal


class TransformerEncoder(nn.Module):
    """SASRec (causal) / BERT4Rec (bidirectional): rows scaled by sqrt(dim) plus learned
    absolute positions (counted from the window's end, so left padding shifts nothing), input
    dropout, Transformer blocks of `block_style` (pre-LayerNorm by default, or the original
    SASRec block), a final float32 LayerNorm."""

    max_len: int
    num_blocks: int = 2
    num_heads: int = 1
    mlp_ratio: int = 4
    dropout_rate: float = 0.2
    attention_dropout_rate: float = 0.0
    activation: str = "gelu"
    causal: bool = True
    attention_implementation: str = "dot_product_attention"
    dropout_impl: str = "bytes"
    dtype: Any = jnp.float32
    block_style: str = "pre_norm"

    @nn.compact
    def __call__(self, x: jax.Array, is_item: jax.Array, deterministic: bool) -> jax.Array:
        seq_len, dim = x.shape[1], x.shape[2]
        positions = nn.Embed(self.max_len, dim, embedding_init=nn.initializers.normal(0.02),
                             dtype=self.dtype, name="position_embedding")
        x = x * jnp.sqrt(dim).astype(x.dtype)
        x = x + positions(jnp.arange(self.max_len - seq_len, self.max_len))[None]
        x = make_dropout(self.dropout_rate, self.dropout_impl)(x, deterministic=deterministic)
        keep = is_item[..., None]
        x = x * keep
        mask = attention_mask(is_item, self.causal)
        for index in range(self.num_blocks):
            x = TransformerBlock(self.num_heads, self.mlp_ratio * dim, self.dropout_rate,
                                 self.attention_dropout_rate, self.activation,
                                 self.attention_implementation, self.dropout_impl, self.dtype,
                                 self.block_style, name=f"block_{index}")(x, mask, deterministic
                                                                          ) * keep
        return nn.LayerNorm(epsilon=1e-6, dtype=jnp.float32, name="final_norm")(x) * keep


def transformer_factory(causal: bool) -> EncoderFactory:
    def build(model_config, dtype) -> TransformerEncoder:
        return TransformerEncoder(
            max_len=model_config.max_len, num_blocks=model_config.num_blocks,
            num_heads=model_config.num_heads, mlp_ratio=model_config.mlp_ratio,
            dropout_rate=model_config.dropout_rate,
            attention_dropout_rate=model_config.attention_dropout_rate,
            activation=model_config.activation, causal=causal,
            attention_implementation=model_config.attention_implementation,
            dropout_impl=model_config.dropout_impl, dtype=dtype,
            block_style=model_config.block_style)
    return build


ENCODERS: Registry[EncoderFactory] = Registry("behaviour encoder", "model.name")
ENCODERS.register("sasrec", transformer_factory(causal=True))
ENCODERS.register("bert4rec", transformer_factory(causal=False))
ENCODERS.register("gru4rec", gru4rec.build)
ENCODERS.register("hstu", hstu.build)
