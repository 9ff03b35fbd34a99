"""Pre-LayerNorm Transformer blocks shared by the behaviour encoders."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class FeedForward(nn.Module):
    """Position-wise MLP: [batch, seq_len, dim] -> [batch, seq_len, dim]."""

    hidden_dim: int
    dropout_rate: float

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        dim = x.shape[-1]
        x = nn.Dense(self.hidden_dim, name="expand")(x)
        x = nn.gelu(x, approximate=False)
        x = nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
        return nn.Dense(dim, name="contract")(x)


class TransformerBlock(nn.Module):
    """x + Attention(LN(x)); x + FeedForward(LN(x)), with dropout on each residual branch."""

    num_heads: int
    mlp_dim: int
    dropout_rate: float

    @nn.compact
    def __call__(self, x: jax.Array, attention_mask: jax.Array, deterministic: bool) -> jax.Array:
        """x: [batch, seq_len, dim]; attention_mask: [batch, 1, seq_len, seq_len] (True = may attend)."""
        y = nn.LayerNorm(epsilon=1e-6, name="attention_norm")(x)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads, dropout_rate=self.dropout_rate,
            deterministic=deterministic, name="attention")(y, y, mask=attention_mask)
        x = x + nn.Dropout(self.dropout_rate)(y, deterministic=deterministic)
        y = nn.LayerNorm(epsilon=1e-6, name="mlp_norm")(x)
        y = FeedForward(self.mlp_dim, self.dropout_rate, name="mlp")(y, deterministic)
        return x + nn.Dropout(self.dropout_rate)(y, deterministic=deterministic)
