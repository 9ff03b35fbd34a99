"""HSTU behaviour encoder (Zhai et al., 2024, "Actions Speak Louder than Words: Trillion-Parameter
Sequential Transducers for Generative Recommendations"), causal.

Each layer (pre-norm residual), with d = embed_dim and h heads of width d / h:

    U, V, Q, K = split(SiLU(LayerNorm(x) W_uvqk))             # W_uvqk: [d, 4d], no bias
    A[h, i, j] = SiLU(Q_i . K_j + rab_h(bucket(i - j))) / max_len   if j <= i and j is an item
               = 0                                             otherwise (no softmax)
    Y = Dense_d(LayerNorm(A V) * U);   x = x + Dropout(Y)

Input stage: item rows times sqrt(d), dropout, zero at padding; after the layers a float32
LayerNorm; the output is exactly 0 at padding. Parameters are float32, `dtype` sets the
matmuls; attention scores and the SiLU are float32.

Relative attention bias: one learned scalar per head and bucket of the distance i - j. Buckets
are T5's (Raffel et al., 2020): distances below num_buckets / 2 get one bucket each, longer
ones log-spaced buckets up to `max_len`, beyond it the last bucket. With num_buckets >= max_len
every distance has its own bucket, as in the reference code's per-position table.

Padding: with left padding, the rows of real positions do not depend on the number of leading
pads: distances are relative, pad keys are zeroed and A is divided by the fixed `max_len` (the
reference divides by its padded length, which is also fixed there).

Relative time bias (time_buckets > 0): one learned scalar per head and bucket of the time gap
t_i - t_j between the query's event and the key's, bucketed as the reference does,
floor(ln(max(|gap|, 1)) / 0.301), clipped to the last bucket; rab is then the sum of the
positional and the time term. The batches then carry each input event's time ("times").

Known differences from the paper and the generative-recommenders reference code:
- the time gap is measured from the query position's own event (the reference uses the time
  of the next event, which is not known when a recommendation is made); time_buckets=0 (the
  default) leaves the time term out;
- no absolute position embedding at the input (the reference adds one): order comes from rab;
- the positional bias has one table per head and log buckets (reference: one table shared by
  the heads, one entry per distance);
- LayerNorms have learned scale and offset (reference: none) and the encoder ends with a
  LayerNorm (reference: L2 normalisation in its output post-processor);
- dropout acts on the layer's output Y (reference: on the input of the output projection);
- attention_dropout_rate > 0 drops entries of A (unused in the reference's HSTU attention).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from recall_jax.models.dropout import make_dropout


def relative_position_buckets(seq_len: int, num_buckets: int, max_distance: int) -> np.ndarray:
    """[seq_len, seq_len] int32 bucket of the distance max(i - j, 0), query i, key j (T5-style,
    causal: only non-negative distances get distinct buckets; future keys are masked anyway)."""
    if num_buckets < 2:
        raise ValueError(f"num_buckets must be at least 2, got {num_buckets}")
    positions = np.arange(seq_len)
    distance = np.maximum(positions[:, None] - positions[None, :], 0)
    if max_distance <= num_buckets:
        return np.minimum(distance, num_buckets - 1).astype(np.int32)
    exact = num_buckets // 2
    log_ratio = np.log(np.maximum(distance, 1) / exact) / math.log(max_distance / exact)
    far = exact + (log_ratio * (num_buckets - exact)).astype(np.int64)
    buckets = np.where(distance < exact, distance, np.minimum(far, num_buckets - 1))
    return buckets.astype(np.int32)


class RelativePositionBias(nn.Module):
    """Learned per-head bias of the bucketed relative distance: -> [heads, seq_len, seq_len]."""

    num_heads: int
    num_buckets: int
    max_distance: int

    @nn.compact
    def __call__(self, seq_len: int) -> jax.Array:
        table = self.param("table", nn.initializers.normal(stddev=0.02),
                           (self.num_buckets, self.num_heads))
        buckets = relative_position_buckets(seq_len, self.num_buckets, self.max_distance)
        return jnp.moveaxis(table[buckets], -1, 0)


TIME_BUCKET_WIDTH = 0.301  # natural-log width of one time bucket (the reference's constant)


def time_gap_buckets(times: jax.Array, num_buckets: int) -> jax.Array:
    """[batch, seq_len] event times -> [batch, seq_len, seq_len] int32 bucket of t_i - t_j."""
    gap = jnp.abs(times[:, :, None] - times[:, None, :]).astype(jnp.float32)
    buckets = jnp.floor(jnp.log(jnp.maximum(gap, 1.0)) / TIME_BUCKET_WIDTH)
    return jnp.clip(buckets, 0, num_buckets - 1).astype(jnp.int32)


class RelativeTimeBias(nn.Module):
    """Learned per-head bias of the bucketed time gap: -> [batch, heads, seq_len, seq_len]."""

    num_heads: int
    num_buckets: int

    @nn.compact
    def __call__(self, times: jax.Array) -> jax.Array:
        table = self.param("table", nn.initializers.normal(stddev=0.02),
                           (self.num_buckets, self.num_heads))
        return jnp.moveaxis(table[time_gap_buckets(times, self.num_buckets)], -1, 1)


class HSTULayer(nn.Module):
    """One sequential transduction unit: x + Dropout(Dense(LN(A V) * U))."""

    num_heads: int
    max_len: int
    num_buckets: int
    dropout_rate: float
    attention_dropout_rate: float = 0.0
    dropout_impl: str = "bytes"
    dtype: Any = jnp.float32
    time_buckets: int = 0

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, deterministic: bool,
                 times: jax.Array | None = None) -> jax.Array:
        """x: [batch, seq_len, dim]; mask: [batch, 1, seq_len, seq_len] (True = may attend);
        times: [batch, seq_len] event times, used when time_buckets > 0."""
        batch, seq_len, dim = x.shape
        head_dim = dim // self.num_heads
        y = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="input_norm")(x)
        uvqk = nn.Dense(4 * dim, use_bias=False, dtype=self.dtype,
                        kernel_init=nn.initializers.normal(stddev=0.02), name="uvqk")(y)
        u, v, q, k = jnp.split(nn.silu(uvqk), 4, axis=-1)
        v, q, k = (t.reshape(batch, seq_len, self.num_heads, head_dim) for t in (v, q, k))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32)
        scores = scores + RelativePositionBias(self.num_heads, self.num_buckets, self.max_len,
                                               name="relative_bias")(seq_len)[None]
        if self.time_buckets:
            scores = scores + RelativeTimeBias(self.num_heads, self.time_buckets,
                                               name="time_bias")(times)
        weights = jnp.where(mask, nn.silu(scores) / self.max_len, 0.0)
        if self.attention_dropout_rate > 0.0:
            weights = make_dropout(self.attention_dropout_rate, self.dropout_impl)(
                weights, deterministic=deterministic)
        context = jnp.einsum("bhqk,bkhd->bqhd", weights.astype(v.dtype), v)
        context = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="attention_norm")(
            context.reshape(batch, seq_len, dim))
        y = nn.Dense(dim, dtype=self.dtype, kernel_init=nn.initializers.xavier_uniform(),
                     name="out")(context * u)
        return x + make_dropout(self.dropout_rate, self.dropout_impl)(
            y, deterministic=deterministic)


def causal_mask(is_item: jax.Array) -> jax.Array:
    """[batch, 1, seq_len, seq_len] bool: query i may attend key j (j <= i, key j an item)."""
    seq_len = is_item.shape[1]
    lower = jnp.tril(jnp.ones((seq_len, seq_len), dtype=bool))
    return lower[None, None] & is_item[:, None, None, :]


class HSTU(nn.Module):
    """Causal HSTU encoder: [batch, seq_len, dim] item rows -> [batch, seq_len, dim] float32."""

    max_len: int = 200
    embed_dim: int = 64
    num_blocks: int = 2
    num_heads: int = 1
    dropout_rate: float = 0.2
    attention_dropout_rate: float = 0.0
    num_buckets: int = 32  # relative-distance buckets (>= max_len: one per distance)
    time_buckets: int = 0  # time-gap buckets (0: no time bias)
    dropout_impl: str = "bytes"
    dtype: Any = jnp.float32  # compute dtype; parameters stay float32
    causal: bool = True  # position t sees only positions <= t

    @nn.compact
    def __call__(self, x: jax.Array, is_item: jax.Array, deterministic: bool,
                 times: jax.Array | None = None) -> jax.Array:
        """x: [batch, seq_len, embed_dim] left-padded item rows; is_item: [batch, seq_len] bool;
        times: [batch, seq_len] event times (needed when time_buckets > 0).

        Returns float32 [batch, seq_len, embed_dim] user vectors, exactly 0 at padding."""
        if self.time_buckets and times is None:
            raise ValueError("HSTU with time_buckets > 0 needs the events' times")
        if not self.causal:
            raise ValueError("HSTU here is causal only")
        if x.shape[-1] != self.embed_dim:
            raise ValueError(f"inputs have width {x.shape[-1]}, expected {self.embed_dim}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads "
                             f"{self.num_heads}")
        is_item = is_item.astype(bool)
        keep = is_item[..., None]
        x = x.astype(self.dtype) * jnp.sqrt(self.embed_dim).astype(self.dtype)
        x = make_dropout(self.dropout_rate, self.dropout_impl)(x, deterministic=deterministic)
        x = jnp.where(keep, x, jnp.zeros_like(x))
        mask = causal_mask(is_item)
        for layer in range(self.num_blocks):
            x = HSTULayer(self.num_heads, self.max_len, self.num_buckets, self.dropout_rate,
                          self.attention_dropout_rate, self.dropout_impl, self.dtype,
                          self.time_buckets, name=f"layer_{layer}")(x, mask, deterministic, times)
            x = jnp.where(keep, x, jnp.zeros_like(x))
        x = nn.LayerNorm(epsilon=1e-6, dtype=jnp.float32, name="final_norm")(x)
        return jnp.where(keep, x, 0.0)


def build(model_config, dtype: Any) -> HSTU:
    """HSTU from a model config (max_len, embed_dim, num_blocks, num_heads, dropout_rate,
    attention_dropout_rate, dropout_impl, time_buckets); HSTU has no MLP, so mlp_ratio and
    activation do not apply. num_buckets keeps its default."""
    return HSTU(max_len=model_config.max_len, embed_dim=model_config.embed_dim,
                num_blocks=model_config.num_blocks, num_heads=model_config.num_heads,
                dropout_rate=model_config.dropout_rate,
                attention_dropout_rate=model_config.attention_dropout_rate,
                time_buckets=model_config.time_buckets,
                dropout_impl=model_config.dropout_impl, dtype=dtype)
