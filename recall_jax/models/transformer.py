"""Transformer blocks shared by the behaviour encoders.

Two block styles (`block_style`):
- "pre_norm" (default): x = x + Dropout(MHA(LN(x))); x = x + Dropout(FFN(LN(x)));
- "sasrec": the block of the original SASRec code (Kang & McAuley's TensorFlow code, and the
  PyTorch ports that Klenitskiy & Vasilev and generative-recommenders build on): the
  normalised queries attend over the raw inputs, and the residual is added to them,
      q = LN1(x);  y = LN2(q + MHA(query=q, key=x, value=x));  x = y + Dropout(FFN(y)),
  with attention weights dropped at `attention_dropout_rate` and no dropout on the attention
  output.

Parameters are always float32; `dtype` (the compute dtype) sets the activations and matmuls.
LayerNorm statistics and the attention softmax are computed in float32 whatever `dtype` is.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from recall_jax.models.dropout import make_dropout

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: nn.gelu(x, approximate=True),
    "relu": nn.relu,
}
# "dot_product_attention": jax.nn.dot_product_attention (XLA picks a fused kernel where it can),
# used whenever attention weights are not dropped; "einsum": explicit scores and softmax.
ATTENTION_IMPLEMENTATIONS = ("dot_product_attention", "einsum")
BLOCK_STYLES = ("pre_norm", "sasrec")
COMPUTE_DTYPES: dict[str, Any] = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def activation_by_name(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def compute_dtype_by_name(name: str) -> Any:
    if name not in COMPUTE_DTYPES:
        raise ValueError(f"unknown compute dtype {name!r}; expected one of "
                         f"{list(COMPUTE_DTYPES)}")
    return COMPUTE_DTYPES[name]


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused query/key/value projection.

    `attention_dropout_rate` drops attention weights (0 skips the [batch, heads, L, L] mask draw,
    which on CPU costs about as much as the attention itself). Dropped weights need the
    explicit einsum path; otherwise `implementation` chooses it or jax.nn.dot_product_attention.
    """

    num_heads: int
    attention_dropout_rate: float = 0.0
    implementation: str = "dot_product_attention"
    dropout_impl: str = "bytes"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool,
                 keys: jax.Array | None = None) -> jax.Array:
        """x: [batch, seq_len, dim] queries (and keys and values unless `keys` is given: then
        keys and values come from it, through the same projection); mask: [batch, 1, seq_len,
        seq_len] (True = may attend)."""
        if self.implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"unknown attention implementation {self.implementation!r}; "
                             f"expected one of {list(ATTENTION_IMPLEMENTATIONS)}")
        batch, seq_len, dim = x.shape
        if dim % self.num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {self.num_heads}")
        head_dim = dim // self.num_heads
        projection = nn.Dense(3 * dim, dtype=self.dtype, name="qkv")
        qkv = projection(x)
        if keys is not None:  # queries from x, keys and values from `keys`
            qkv = jnp.concatenate([qkv[..., :dim], projection(keys)[..., dim:]], axis=-1)
        qkv = qkv.reshape(batch, seq_len, 3, self.num_heads, head_dim)
        if self.attention_dropout_rate == 0.0 and self.implementation == "dot_product_attention":
            query, key, value = jnp.moveaxis(qkv, 2, 0)  # [batch, seq_len, heads, head_dim] each
            context = jax.nn.dot_product_attention(query, key, value, mask=mask)
        else:
            # [batch, heads, seq_len, head_dim] each; heads lead so the einsums are batched matmuls.
            query, key, value = jnp.moveaxis(qkv, (2, 3), (0, 2))
            scores = jnp.einsum("bhqd,bhkd->bhqk", query, key,
                                preferred_element_type=jnp.float32)
            scores = scores / jnp.sqrt(head_dim).astype(scores.dtype)
            scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
            weights = jax.nn.softmax(scores, axis=-1)
            if self.attention_dropout_rate > 0.0:
                weights = make_dropout(self.attention_dropout_rate, self.dropout_impl)(
                    weights, deterministic=deterministic)
            context = jnp.einsum("bhqk,bhkd->bqhd", weights.astype(value.dtype), value)
        return nn.Dense(dim, dtype=self.dtype, name="out")(context.reshape(batch, seq_len, dim))


class FeedForward(nn.Module):
    """Position-wise MLP: [batch, seq_len, dim] -> [batch, seq_len, dim]."""

    hidden_dim: int
    dropout_rate: float
    activation: str = "gelu"
    dropout_impl: str = "bytes"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        dim = x.shape[-1]
        x = nn.Dense(self.hidden_dim, dtype=self.dtype, name="expand")(x)
        x = activation_by_name(self.activation)(x)
        x = make_dropout(self.dropout_rate, self.dropout_impl)(x, deterministic=deterministic)
        return nn.Dense(dim, dtype=self.dtype, name="contract")(x)


class TransformerBlock(nn.Module):
    """One block of `block_style` (see the module docstring), with dropout on the feed-forward
    branch (and, for "pre_norm", on the attention branch)."""

    num_heads: int
    mlp_dim: int
    dropout_rate: float
    attention_dropout_rate: float = 0.0
    activation: str = "gelu"
    attention_implementation: str = "dot_product_attention"
    dropout_impl: str = "bytes"
    dtype: Any = jnp.float32
    block_style: str = "pre_norm"

    @nn.compact
    def __call__(self, x: jax.Array, attention_mask: jax.Array, deterministic: bool) -> jax.Array:
        """x: [batch, seq_len, dim]; attention_mask: [batch, 1, seq_len, seq_len] (True = may attend)."""
        if self.block_style not in BLOCK_STYLES:
            raise ValueError(f"unknown block style {self.block_style!r}; expected one of "
                             f"{list(BLOCK_STYLES)}")
        attention = SelfAttention(self.num_heads, self.attention_dropout_rate,
                                  self.attention_implementation, self.dropout_impl, self.dtype,
                                  name="attention")
        feed_forward = FeedForward(self.mlp_dim, self.dropout_rate, self.activation,
                                   self.dropout_impl, self.dtype, name="mlp")
        first_norm = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="attention_norm")
        second_norm = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="mlp_norm")
        if self.block_style == "sasrec":
            queries = first_norm(x)
            y = second_norm(queries + attention(queries, attention_mask, deterministic, keys=x))
            return y + make_dropout(self.dropout_rate, self.dropout_impl)(
                feed_forward(y, deterministic), deterministic=deterministic)
        y = attention(first_norm(x), attention_mask, deterministic)
        x = x + make_dropout(self.dropout_rate, self.dropout_impl)(
            y, deterministic=deterministic)
        y = feed_forward(second_norm(x), deterministic)
        return x + make_dropout(self.dropout_rate, self.dropout_impl)(
            y, deterministic=deterministic)
