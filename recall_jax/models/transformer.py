"""Pre-LayerNorm Transformer blocks shared by the behaviour encoders."""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from recall_jax.models.dropout import ByteDropout

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: nn.gelu(x, approximate=True),
    "relu": nn.relu,
}


def activation_by_name(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused query/key/value projection.

    `attention_dropout_rate` drops attention weights (0 skips the [batch, heads, L, L] mask draw,
    which on CPU costs about as much as the attention itself).
    """

    num_heads: int
    attention_dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool) -> jax.Array:
        """x: [batch, seq_len, dim]; mask: [batch, 1, seq_len, seq_len] (True = may attend)."""
        batch, seq_len, dim = x.shape
        if dim % self.num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {self.num_heads}")
        head_dim = dim // self.num_heads
        qkv = nn.Dense(3 * dim, name="qkv")(x).reshape(batch, seq_len, 3, self.num_heads, head_dim)
        # [batch, heads, seq_len, head_dim] each; heads lead so the einsums are plain batched matmuls.
        query, key, value = jnp.moveaxis(qkv, (2, 3), (0, 2))
        scores = jnp.einsum("bhqd,bhkd->bhqk", query, key) / jnp.sqrt(head_dim).astype(x.dtype)
        scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
        weights = jax.nn.softmax(scores, axis=-1)
        if self.attention_dropout_rate > 0.0:
            weights = ByteDropout(self.attention_dropout_rate)(weights, deterministic=deterministic)
        context = jnp.einsum("bhqk,bhkd->bqhd", weights, value).reshape(batch, seq_len, dim)
        return nn.Dense(dim, name="out")(context)


class FeedForward(nn.Module):
    """Position-wise MLP: [batch, seq_len, dim] -> [batch, seq_len, dim]."""

    hidden_dim: int
    dropout_rate: float
    activation: str = "gelu"

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        dim = x.shape[-1]
        x = nn.Dense(self.hidden_dim, name="expand")(x)
        x = activation_by_name(self.activation)(x)
        x = ByteDropout(self.dropout_rate)(x, deterministic=deterministic)
        return nn.Dense(dim, name="contract")(x)


class TransformerBlock(nn.Module):
    """x + Attention(LN(x)); x + FeedForward(LN(x)), with dropout on each residual branch."""

    num_heads: int
    mlp_dim: int
    dropout_rate: float
    attention_dropout_rate: float = 0.0
    activation: str = "gelu"

    @nn.compact
    def __call__(self, x: jax.Array, attention_mask: jax.Array, deterministic: bool) -> jax.Array:
        """x: [batch, seq_len, dim]; attention_mask: [batch, 1, seq_len, seq_len] (True = may attend)."""
        y = nn.LayerNorm(epsilon=1e-6, name="attention_norm")(x)
        y = SelfAttention(self.num_heads, self.attention_dropout_rate, name="attention")(
            y, attention_mask, deterministic)
        x = x + ByteDropout(self.dropout_rate)(y, deterministic=deterministic)
        y = nn.LayerNorm(epsilon=1e-6, name="mlp_norm")(x)
        y = FeedForward(self.mlp_dim, self.dropout_rate, self.activation, name="mlp")(
            y, deterministic)
        return x + ByteDropout(self.dropout_rate)(y, deterministic=deterministic)
