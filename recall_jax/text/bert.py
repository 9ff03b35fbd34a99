"""A BERT-family text encoder in Flax (post-LayerNorm, as in BERT), with mean or CLS pooling.

Parameter names follow our own layout (see `recall_jax.text.checkpoint` for the mapping from
Hugging Face safetensors), so the encoder shards and fine-tunes like any other module here.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp

POOLINGS = ("mean", "cls")


@dataclasses.dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1

    @classmethod
    def from_json_file(cls, path: str | pathlib.Path) -> "BertConfig":
        """Reads a Hugging Face config.json; fields we do not use are ignored."""
        path = pathlib.Path(path)
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a readable JSON model config ({error})") from error
        if raw.get("model_type") not in (None, "bert"):
            raise ValueError(f"{path}: model_type {raw.get('model_type')!r} is not a BERT model")
        fields = {f.name for f in dataclasses.fields(cls)}
        parsed = cls(**{k: v for k, v in raw.items() if k in fields})
        if parsed.hidden_act not in ("gelu", "gelu_new", "relu"):
            raise ValueError(f"{path}: hidden_act {parsed.hidden_act!r} is not supported")
        return parsed


def _activation(name: str):
    if name == "gelu":
        return lambda x: nn.gelu(x, approximate=False)  # BERT's exact (erf) GELU
    if name == "gelu_new":
        return lambda x: nn.gelu(x, approximate=True)
    return nn.relu


class BertLayer(nn.Module):
    config: BertConfig

    @nn.compact
    def __call__(self, hidden, attention_bias, deterministic: bool):
        bert = self.config
        heads = bert.num_attention_heads
        head_dim = bert.hidden_size // heads
        dense = lambda features, name: nn.Dense(features, name=name)  # noqa: E731
        shape = hidden.shape[:2] + (heads, head_dim)
        query = dense(bert.hidden_size, "query")(hidden).reshape(shape)
        key = dense(bert.hidden_size, "key")(hidden).reshape(shape)
        value = dense(bert.hidden_size, "value")(hidden).reshape(shape)
        logits = jnp.einsum("bqhd,bkhd->bhqk", query, key) / jnp.sqrt(head_dim).astype(
            hidden.dtype)
        weights = jax.nn.softmax(logits + attention_bias, axis=-1)
        context = jnp.einsum("bhqk,bkhd->bqhd", weights, value).reshape(hidden.shape)
        dropout = nn.Dropout(bert.hidden_dropout_prob)
        attended = dropout(dense(bert.hidden_size, "attention_output")(context),
                           deterministic=deterministic)
        hidden = nn.LayerNorm(epsilon=bert.layer_norm_eps, name="attention_norm")(
            hidden + attended)
        inner = _activation(bert.hidden_act)(dense(bert.intermediate_size,
                                                     "intermediate")(hidden))
        out = dropout(dense(bert.hidden_size, "output")(inner), deterministic=deterministic)
        return nn.LayerNorm(epsilon=bert.layer_norm_eps, name="output_norm")(hidden + out)


class BertEncoder(nn.Module):
    """token ids [batch, len] + attention mask -> (token states [batch, len, hidden], pooled)."""

    config: BertConfig
    pooling: str = "mean"  # "mean" (masked mean over tokens) | "cls"
    normalize: bool = True  # L2-normalise the pooled vector (sentence-transformers style)

    @nn.compact
    def __call__(self, input_ids, attention_mask, token_type_ids=None,
                 deterministic: bool = True):
        bert = self.config
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        positions = jnp.arange(input_ids.shape[1])[None]
        embed = lambda count, name: nn.Embed(count, bert.hidden_size, name=name)  # noqa: E731
        hidden = (embed(bert.vocab_size, "word_embeddings")(input_ids)
                  + embed(bert.max_position_embeddings, "position_embeddings")(positions)
                  + embed(bert.type_vocab_size, "token_type_embeddings")(token_type_ids))
        hidden = nn.LayerNorm(epsilon=bert.layer_norm_eps, name="embeddings_norm")(hidden)
        hidden = nn.Dropout(bert.hidden_dropout_prob)(hidden, deterministic=deterministic)
        mask = attention_mask.astype(bool)
        bias = jnp.where(mask, 0.0, jnp.finfo(hidden.dtype).min)[:, None, None, :]
        for index in range(bert.num_hidden_layers):
            hidden = BertLayer(bert, name=f"layer_{index}")(hidden, bias, deterministic)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "mean":
            weights = mask[..., None].astype(hidden.dtype)
            pooled = jnp.sum(hidden * weights, axis=1) / jnp.maximum(weights.sum(axis=1), 1e-9)
        else:
            raise ValueError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        if self.normalize:
            pooled = pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
        return hidden, pooled
