"""Models by name: the config's `model.name` picks the behaviour encoder, `model.item_tower`
the item tower and `model.objective` the training objective (each a registry; see
encoders.ENCODERS, item_towers.ITEM_TOWERS, objectives.OBJECTIVES)."""

from __future__ import annotations

import numpy as np

from recall_jax.errors import ConfigError
from recall_jax.models.encoders import ENCODERS
from recall_jax.models.item_towers import ITEM_TOWERS
from recall_jax.models.objectives import OBJECTIVES, objective_for
from recall_jax.models.sequential_recommender import SequentialRecommender, padded_rows
from recall_jax.models.transformer import compute_dtype_by_name

__all__ = ["ENCODERS", "ITEM_TOWERS", "OBJECTIVES", "build_model", "check_objective",
           "text_table_initializer"]


def text_table_initializer(text_vectors: np.ndarray, rows: int | None = None):
    """An initializer returning [rows, dim] (default num_items + 2): zero padding row, the
    items' text vectors (rows 1..num_items, given as text_vectors[1:]), a zero row for [MASK],
    and zero rows up to `rows` (tables padded to split evenly over the mesh)."""
    table = np.concatenate([np.zeros((1, text_vectors.shape[1]), np.float32),
                            np.asarray(text_vectors[1:], np.float32),
                            np.zeros((1, text_vectors.shape[1]), np.float32)])
    if rows is not None:
        table = np.concatenate([table, np.zeros((rows - len(table), table.shape[1]),
                                                np.float32)])

    def init(rng, shape):
        del rng
        if tuple(shape) != table.shape:
            raise ValueError(f"text table {table.shape} does not fit the model's {shape}")
        return table
    return init


def check_objective(model_config) -> None:
    """ConfigError unless model.objective can train the encoder model.name (next-item targets
    need a causal encoder, the cloze objective a bidirectional one)."""
    objective = objective_for(model_config)
    encoder = ENCODERS.get(model_config.name)(model_config, np.float32)
    if objective.needs_causal_encoder != encoder.causal:
        wanted = "a causal" if objective.needs_causal_encoder else "a bidirectional"
        fits = [name for name in OBJECTIVES.names()
                if OBJECTIVES.get(name)(model_config).needs_causal_encoder == encoder.causal]
        raise ConfigError(f"config.model.objective={model_config.objective!r} needs {wanted} "
                          f"encoder, and config.model.name={model_config.name!r} is "
                          f"{'causal' if encoder.causal else 'bidirectional'} ; set "
                          f"config.model.objective to one of {fits}")


def build_model(model_config, num_items: int, text_vectors: np.ndarray | None = None,
                table_rows_multiple: int = 1) -> SequentialRecommender:
    """The two-tower model `model_config` describes.

    text_vectors: [num_items + 1, text_dim] (row 0 ignored), needed by item towers that use
    text. table_rows_multiple: per-item tables get extra rows up to a multiple of this (the
    model-axis size), so they always split evenly; those rows are never scored, sampled or
    looked up. model_config.compute_dtype sets the activations' dtype (parameters and the
    returned vectors stay float32).
    """
    check_objective(model_config)
    tower = ITEM_TOWERS.get(model_config.item_tower)
    if tower.uses_text and (text_vectors is None or len(text_vectors) != num_items + 1):
        raise ValueError(f"model.item_tower={model_config.item_tower!r} needs text vectors "
                         f"for all {num_items} items")
    text_kwargs = {}
    if tower.uses_text:
        text_kwargs = dict(text_dim=int(text_vectors.shape[1]),
                           text_table_init=text_table_initializer(
                               text_vectors, padded_rows(num_items + 2, table_rows_multiple)))
    dtype = compute_dtype_by_name(model_config.compute_dtype)
    return SequentialRecommender(
        num_items=num_items, max_len=model_config.max_len,
        encoder=ENCODERS.get(model_config.name)(model_config, dtype),
        embed_dim=model_config.embed_dim, objective=objective_for(model_config),
        tie_item_embeddings=model_config.tie_item_embeddings,
        normalize=model_config.normalize, temperature=model_config.temperature,
        item_tower=model_config.item_tower, item_id_dropout=model_config.item_id_dropout,
        table_rows_multiple=table_rows_multiple, dtype=dtype, **text_kwargs)
