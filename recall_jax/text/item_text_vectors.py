"""Encode every item's text once with the BERT tower, and cache the vectors in the workdir.

The cache key covers everything the vectors depend on: the checkpoint's config and weights
(content hashes), the exact texts, pooling and maximum token length; a change to any of them
writes a new cache file instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import time
from collections.abc import Sequence

import jax
import numpy as np
from absl import logging
from etils import epath
from tqdm import tqdm

from recall_jax import paths
from recall_jax.core.shapes import next_power_of_two
from recall_jax.errors import ConfigError
from recall_jax.models.item_towers import ITEM_TOWERS
from recall_jax.text.checkpoint import load_bert, load_tokenizer


def _file_digest(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(folder: pathlib.Path, texts: Sequence[str], pooling: str, max_length: int) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        digest.update(_file_digest(folder / name).encode())
    digest.update(json.dumps([pooling, max_length]).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:20]


def encode_texts(texts: Sequence[str], folder: str | pathlib.Path, pooling: str = "mean",
                 max_length: int = 64, batch_size: int = 256,
                 progress: str | None = None) -> tuple[np.ndarray, float]:
    """(unit vectors [len(texts), hidden], items per second). Texts are sorted by token count
    so each batch pads little; batch shapes are rounded up to powers of two to bound compiles.
    progress: a progress bar's description (items done, items/s, time left); None: no bar."""
    folder = pathlib.Path(folder)
    model, params, _ = load_bert(folder, pooling=pooling)
    tokenizer = load_tokenizer(folder)
    started = time.perf_counter()
    tokens = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    lengths = np.array([len(ids) for ids in tokens["input_ids"]])
    order = np.argsort(lengths, kind="stable")

    @jax.jit
    def pooled(input_ids, attention_mask):
        return model.apply({"params": params}, input_ids, attention_mask)[1]

    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    bar = tqdm(total=len(texts), unit="item", desc=progress, disable=progress is None,
               leave=False)
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        width = next_power_of_two(max(int(lengths[rows].max()), 1))
        ids = np.zeros((batch_size, width), np.int32)
        mask = np.zeros((batch_size, width), np.int32)
        for row, index in enumerate(rows):
            sequence = tokens["input_ids"][index]
            ids[row, :len(sequence)] = sequence
            mask[row, :len(sequence)] = 1
        mask[len(rows):, 0] = 1  # filler rows: one visible token, output dropped
        out[rows] = np.asarray(pooled(ids, mask))[:len(rows)]
        bar.update(len(rows))
    bar.close()
    rate = len(texts) / (time.perf_counter() - started)
    return out, rate


def cached_item_text_vectors(texts: Sequence[str], folder: str | pathlib.Path,
                             cache_dir: epath.PathLike, pooling: str = "mean",
                             max_length: int = 64) -> np.ndarray:
    """Vectors for `texts`, read from cache_dir (local or remote) when the same inputs were
    encoded before."""
    folder = pathlib.Path(folder)
    cache_dir = paths.as_path(cache_dir)
    key = cache_key(folder, texts, pooling, max_length)
    path = cache_dir / f"text_vectors_{key}.npy"
    if path.is_file():
        with path.open("rb") as handle:
            vectors = np.load(handle)
        if vectors.shape[0] == len(texts):
            logging.info("item text vectors from cache %s", path)
            return vectors
    logging.info("encoding %d item texts with %s; cache: %s", len(texts), folder, path)
    vectors, rate = encode_texts(
        texts, folder, pooling, max_length,
        progress=f"item text -> {path.name}" if jax.process_index() == 0 else None)
    logging.info("encoded %d item texts at %.0f items/s", len(texts), rate)
    print(f"text tower: encoded {len(texts):,} item texts at {rate:,.0f} items/s; cached in "
          f"{path}")
    if jax.process_index() != 0:  # every process encodes; the first one writes the cache
        return vectors
    cache_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, vectors)
    paths.write_bytes_atomically(path, buffer.getvalue())
    # How the cached vectors were made, for reports: size, speed and the checkpoint used.
    paths.write_text_atomically(path.with_suffix(".json"), json.dumps(
        {"items": len(texts), "items_per_second": rate, "seconds": len(texts) / rate,
         "checkpoint": str(folder), "pooling": pooling, "max_length": max_length}, indent=1))
    return vectors


def item_text_vectors_for(config, dataset, workdir: epath.PathLike) -> np.ndarray | None:
    """[num_items + 1, text_dim] text vectors of the catalogue (row 0 zero) when the config's
    item tower uses text, else None. Encoded once, then read from <workdir>/text_cache."""
    model_config = config.model
    if not ITEM_TOWERS.get(model_config.item_tower).uses_text:
        return None
    from recall_jax.text.checkpoint import check_folder, resolve_checkpoint  # noqa: PLC0415
    folder = resolve_checkpoint(model_config.text_checkpoint)
    check_folder(folder)  # before hashing its files for the cache key
    fields = tuple(model_config.text_fields) or None
    texts = dataset.catalogue.item_text(fields)
    if not any(texts[1:]):
        raise ConfigError(f"{dataset.name}: the catalogue has no item text, so "
                          f"config.model.item_tower={model_config.item_tower!r} cannot be used "
                          "; use item_tower='id' or a dataset with an items table")
    vectors = cached_item_text_vectors(texts[1:], folder, paths.as_path(workdir) / "text_cache",
                                       model_config.text_pooling,
                                       model_config.text_max_length)
    return np.concatenate([np.zeros((1, vectors.shape[1]), np.float32), vectors])
