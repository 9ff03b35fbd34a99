"""The masked-item (cloze) objective of BERT-style behaviour encoders (BERT4Rec).

A bidirectional encoder sees the whole window, so it cannot be trained on next-item targets
(each position would see its own target). Instead a random share of the real items is replaced
by the [MASK] token and the model predicts the originals there; padding is never masked. At
evaluation the history is followed by one [MASK], whose output is the user vector.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from recall_jax.core.ids import PADDING_ITEM



def cloze_batch(inputs: jax.Array, targets: jax.Array, rng: jax.Array, mask_id: int,
                mask_rate: float) -> tuple[jax.Array, jax.Array]:
    """Next-item (inputs, targets) windows -> (masked inputs, targets at masked positions only).

    inputs[t] = seq[t] and targets[t] = seq[t + 1], left-padded; the whole window is therefore
    inputs[:, 1:] followed by targets[:, -1:], the last `width` items of the sequence.
    """
    window = jnp.concatenate([inputs[:, 1:], targets[:, -1:]], axis=1)
    real = window != PADDING_ITEM
    masked = real & (jax.random.uniform(rng, window.shape) < mask_rate)
    return jnp.where(masked, mask_id, window), jnp.where(masked, window, PADDING_ITEM)
