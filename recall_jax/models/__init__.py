"""Models by name: the config's `model.name` picks the behaviour encoder."""

from __future__ import annotations

from recall_jax.models.sequential_recommender import SequentialRecommender

ENCODER_IS_CAUSAL = {"sasrec": True, "bert4rec": False}


def build_model(model_config, num_items: int) -> SequentialRecommender:
    """The two-tower model named by `model_config.name` ("sasrec" causal, "bert4rec" bidirectional)."""
    if model_config.name not in ENCODER_IS_CAUSAL:
        raise ValueError(f"unknown model {model_config.name!r}; known: {sorted(ENCODER_IS_CAUSAL)}")
    return SequentialRecommender(
        num_items=num_items, max_len=model_config.max_len, embed_dim=model_config.embed_dim,
        num_blocks=model_config.num_blocks, num_heads=model_config.num_heads,
        mlp_ratio=model_config.mlp_ratio, dropout_rate=model_config.dropout_rate,
        attention_dropout_rate=model_config.get("attention_dropout_rate", 0.0),
        activation=model_config.get("activation", "gelu"),
        causal=ENCODER_IS_CAUSAL[model_config.name],
        tie_item_embeddings=model_config.tie_item_embeddings,
        normalize=model_config.normalize, temperature=model_config.temperature)
