"""Models by name: the config's `model.name` picks the behaviour encoder."""

from __future__ import annotations

import numpy as np

from recall_jax.models.sequential_recommender import (ITEM_TOWERS, SequentialRecommender,
                                                      padded_rows)
from recall_jax.models.transformer import compute_dtype_by_name

ENCODER_IS_CAUSAL = {"sasrec": True, "bert4rec": False}


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


def build_model(model_config, num_items: int, text_vectors: np.ndarray | None = None,
                table_rows_multiple: int = 1) -> SequentialRecommender:
    """The two-tower model named by `model_config.name` ("sasrec" causal, "bert4rec" bidirectional).

    text_vectors: [num_items + 1, text_dim] (row 0 ignored), needed when
    model_config.item_tower is "text" or "id+text". table_rows_multiple: per-item tables get
    extra rows up to a multiple of this (the model-axis size), so they always split evenly;
    those rows are never scored, sampled or looked up. model_config.compute_dtype sets the
    activations' dtype (parameters and the returned vectors stay float32).
    """
    if model_config.name not in ENCODER_IS_CAUSAL:
        raise ValueError(f"unknown model {model_config.name!r}; known: {sorted(ENCODER_IS_CAUSAL)}")
    item_tower = model_config.item_tower
    if item_tower not in ITEM_TOWERS:
        raise ValueError(f"model.item_tower must be one of {ITEM_TOWERS}, got {item_tower!r}")
    if item_tower != "id" and (text_vectors is None or len(text_vectors) != num_items + 1):
        raise ValueError(f"model.item_tower={item_tower!r} needs text vectors for all "
                         f"{num_items} items")
    text_kwargs = {}
    if item_tower != "id":
        text_kwargs = dict(text_dim=int(text_vectors.shape[1]),
                           text_table_init=text_table_initializer(
                               text_vectors, padded_rows(num_items + 2, table_rows_multiple)))
    return SequentialRecommender(
        num_items=num_items, max_len=model_config.max_len, embed_dim=model_config.embed_dim,
        num_blocks=model_config.num_blocks, num_heads=model_config.num_heads,
        mlp_ratio=model_config.mlp_ratio, dropout_rate=model_config.dropout_rate,
        attention_dropout_rate=model_config.attention_dropout_rate,
        activation=model_config.activation,
        causal=ENCODER_IS_CAUSAL[model_config.name],
        tie_item_embeddings=model_config.tie_item_embeddings,
        normalize=model_config.normalize, temperature=model_config.temperature,
        item_tower=item_tower, item_id_dropout=model_config.item_id_dropout,
        table_rows_multiple=table_rows_multiple,
        attention_implementation=model_config.attention_implementation,
        dropout_impl=model_config.dropout_impl,
        dtype=compute_dtype_by_name(model_config.compute_dtype), **text_kwargs)
