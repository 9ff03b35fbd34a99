"""GRU4Rec behaviour encoder (Hidasi et al., 2016, "Session-based Recommendations with Recurrent
Neural Networks"), in the form used by sequential-recommendation benchmarks: item rows, input
dropout, `num_blocks` stacked GRU layers of width embed_dim with dropout between layers, and a
Dense output projection to embed_dim. The two-tower model scores its outputs against every item
with a full softmax (cross-entropy), which replaces the paper's session-parallel mini-batches and
BPR / TOP1 ranking losses.

Sequences are left-padded: at a padding position the hidden state keeps its previous value
(zeros before the first item), so the outputs at real positions do not depend on how many pads
precede them. Outputs at padding positions are exactly 0.

Parameters are float32; `dtype` (the compute dtype) sets the matmuls. The recurrent state is
carried in float32 and the user vectors are returned as float32.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from recall_jax.models.dropout import make_dropout


class MaskedGRUCell(nn.Module):
    """One GRU step that keeps the previous state where the position is padding."""

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, carry: jax.Array, inputs: tuple[jax.Array, jax.Array]
                 ) -> tuple[jax.Array, jax.Array]:
        """carry: [batch, features] float32; inputs: x_t [batch, dim], is_item_t [batch]."""
        x, is_item = inputs
        new_carry, _ = nn.GRUCell(self.features, dtype=self.dtype, name="cell")(carry, x)
        carry = jnp.where(is_item[:, None], new_carry.astype(carry.dtype), carry)
        return carry, carry


# Scans the cell over the time axis (axis 1) with one set of parameters for all steps.
ScannedGRU = nn.scan(MaskedGRUCell, variable_broadcast="params", split_rngs={"params": False},
                     in_axes=1, out_axes=1)


class GRU4Rec(nn.Module):
    """Stacked-GRU behaviour encoder: [batch, seq_len, dim] item rows -> [batch, seq_len, dim]."""

    embed_dim: int = 64
    num_blocks: int = 1
    dropout_rate: float = 0.2
    dropout_impl: str = "bytes"
    dtype: Any = jnp.float32  # compute dtype; parameters stay float32
    causal: bool = True  # position t sees only positions <= t (a GRU can be nothing else)

    @nn.compact
    def __call__(self, x: jax.Array, is_item: jax.Array, deterministic: bool) -> jax.Array:
        """x: [batch, seq_len, embed_dim] left-padded item rows; is_item: [batch, seq_len] bool.

        Returns float32 [batch, seq_len, embed_dim] user vectors, exactly 0 at padding."""
        if not self.causal:
            raise ValueError("GRU4Rec is causal only")
        if x.shape[-1] != self.embed_dim:
            raise ValueError(f"inputs have width {x.shape[-1]}, expected {self.embed_dim}")
        is_item = is_item.astype(bool)
        h = make_dropout(self.dropout_rate, self.dropout_impl)(
            x.astype(self.dtype), deterministic=deterministic)
        for layer in range(self.num_blocks):
            if layer > 0:
                h = make_dropout(self.dropout_rate, self.dropout_impl)(
                    h, deterministic=deterministic)
            carry = jnp.zeros((x.shape[0], self.embed_dim), jnp.float32)
            _, h = ScannedGRU(self.embed_dim, self.dtype, name=f"gru_{layer}")(carry, (h, is_item))
            h = h.astype(self.dtype)
        out = nn.Dense(self.embed_dim, dtype=self.dtype, name="output_projection")(h)
        return jnp.where(is_item[..., None], out.astype(jnp.float32), 0.0)


def build(model_config, dtype: Any) -> GRU4Rec:
    """GRU4Rec from a model config (embed_dim, num_blocks, dropout_rate, dropout_impl); the
    attention, MLP and length fields do not apply to it."""
    return GRU4Rec(embed_dim=model_config.embed_dim, num_blocks=model_config.num_blocks,
                   dropout_rate=model_config.dropout_rate,
                   dropout_impl=model_config.dropout_impl, dtype=dtype)
