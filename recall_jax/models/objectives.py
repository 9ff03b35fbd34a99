"""Training objectives: the named extension point `model.objective`.

An objective says how a next-item training window becomes the model's inputs and targets, and
how a history becomes the input whose last position is the user's vector at evaluation. It
also says which encoders it can train: next-item targets need a causal encoder (a
bidirectional one would see each target), the cloze objective a bidirectional one.

Adding one is a class following `TrainingObjective` plus one `OBJECTIVES.register(...)` line.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import jax
import numpy as np

from recall_jax.core.ids import mask_token
from recall_jax.core.registry import Registry
from recall_jax.data.dataset import SequenceDataset
from recall_jax.data.pipeline import evaluation_inputs
from recall_jax.models.cloze import cloze_batch


class TrainingObjective(Protocol):
    # True: needs a causal encoder; False: a bidirectional one.
    needs_causal_encoder: bool
    # Whether training_batch uses its rng (only then is one split off the step's key, so the
    # loss's own draws stay those of a run without the objective's).
    draws_randomness: bool

    def training_batch(self, inputs: jax.Array, targets: jax.Array, rng: jax.Array,
                       num_items: int) -> tuple[jax.Array, jax.Array]:
        """Next-item windows (inputs[t] = seq[t], targets[t] = seq[t + 1], left-padded) ->
        the (inputs, targets) the loss sees (target 0 = no loss at that position)."""
        ...

    def user_inputs(self, histories: SequenceDataset, max_len: int,
                    num_items: int) -> np.ndarray:
        """[num_users, max_len] int32 inputs whose last position's output is the user vector."""
        ...


@dataclasses.dataclass(frozen=True)
class NextItem:
    """Predict item t + 1 at every position t (SASRec, GRU4Rec, HSTU)."""

    needs_causal_encoder: bool = True
    draws_randomness: bool = False

    def training_batch(self, inputs, targets, rng, num_items):
        del rng, num_items
        return inputs, targets

    def user_inputs(self, histories, max_len, num_items):
        del num_items
        return evaluation_inputs(histories, max_len)


@dataclasses.dataclass(frozen=True)
class Cloze:
    """Masked-item prediction (BERT4Rec): a share `mask_rate` of the window's items is replaced
    by [MASK] and predicted; at evaluation the history is followed by one [MASK]."""

    mask_rate: float = 0.2
    needs_causal_encoder: bool = False
    draws_randomness: bool = True

    def training_batch(self, inputs, targets, rng, num_items):
        return cloze_batch(inputs, targets, rng, mask_token(num_items), self.mask_rate)

    def user_inputs(self, histories, max_len, num_items):
        inputs = evaluation_inputs(histories, max_len - 1)
        return np.concatenate([inputs, np.full((len(inputs), 1), mask_token(num_items),
                                               inputs.dtype)], axis=1)


OBJECTIVES: Registry = Registry("training objective", "model.objective")
OBJECTIVES.register("next_item", lambda model_config: NextItem())
OBJECTIVES.register("cloze", lambda model_config: Cloze(model_config.mask_rate))


def implied_objective(encoder_name: str) -> str:
    """The objective a run saved before model.objective existed was trained with: its encoder
    implied it (bert4rec: cloze; every other encoder: next item)."""
    return "cloze" if encoder_name == "bert4rec" else "next_item"


def objective_for(model_config) -> TrainingObjective:
    """The objective `model_config.objective` names, with its settings from the config."""
    return OBJECTIVES.get(model_config.objective)(model_config)
