"""Dropout whose keep mask comes from random bytes: four mask entries per 32-bit PRNG word.

On CPU the counter-based PRNG dominates dropout's cost (a float32 Bernoulli draw needs one
threefry word per element); drawing one byte per element cuts that cost about four-fold. The
rate is rounded to a multiple of 1/256 (0.2 becomes 51/256 = 0.1992) and the kept activations
are rescaled by the exact keep probability, so the layer stays unbiased.

`make_dropout` picks this ("bytes") or flax's exact-rate Bernoulli dropout ("bernoulli").
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def byte_threshold(rate: float) -> int:
    """Bytes below this value are dropped: round(rate * 256)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    return int(round(rate * 256))


def random_bytes(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """uint8 array of `shape`, uniformly random, from ceil(size / 4) 32-bit PRNG words."""
    size = math.prod(shape)
    words = jax.random.bits(key, (-(-size // 4),), jnp.uint32)
    return jax.lax.bitcast_convert_type(words, jnp.uint8).reshape(-1)[:size].reshape(shape)


class ByteDropout(nn.Module):
    """Inverted dropout with an 8-bit keep mask (rate quantised to 1/256)."""

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        threshold = byte_threshold(self.rate)
        if deterministic or threshold == 0:
            return x
        keep = random_bytes(self.make_rng("dropout"), x.shape) >= threshold
        return jnp.where(keep, x * (256.0 / (256 - threshold)), jnp.zeros_like(x))


DROPOUT_IMPLS = ("bytes", "bernoulli")


def make_dropout(rate: float, impl: str = "bytes") -> nn.Module:
    """A dropout layer called as `layer(x, deterministic=...)`: ByteDropout ("bytes", rate
    quantised to 1/256) or nn.Dropout ("bernoulli", one float draw per element, exact rate)."""
    if impl == "bytes":
        return ByteDropout(rate)
    if impl == "bernoulli":
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        return nn.Dropout(rate)
    raise ValueError(f"unknown dropout implementation {impl!r}; expected one of "
                     f"{list(DROPOUT_IMPLS)}")
