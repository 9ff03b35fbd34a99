"""Item tower modes (id, text, id+text) and cold-start evaluation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments.configs import synthetic_tiny
from recall_jax.models import build_model
from recall_jax.train import trainer
from recall_jax.train.optimizer import make_optimizer

NUM_ITEMS = 12
TEXT = np.random.default_rng(0).normal(size=(NUM_ITEMS + 1, 6)).astype(np.float32)


def model_config(tower: str) -> ml_collections.ConfigDict:
    config = synthetic_tiny.get_config().model
    config.item_tower = tower
    config.max_len = 8
    return config


@pytest.mark.parametrize("tower", ["text", "id+text"])
def test_text_table_is_frozen_and_never_decayed(tower):
    model = build_model(model_config(tower), NUM_ITEMS, TEXT)
    ids = jnp.array([[0, 0, 3, 4, 5, 6, 7, 1]])
    params = model.init(jax.random.PRNGKey(0), ids)["params"]
    np.testing.assert_array_equal(params["text_table"][1:NUM_ITEMS + 1], TEXT[1:])

    def loss(p):
        users, items = model.apply({"params": p}, ids)
        return jnp.sum(users[:, -1] @ items.T)
    grads = jax.grad(loss)(params)
    assert not np.any(np.asarray(grads["text_table"]))
    assert np.any(np.asarray(grads["text_projection"]["kernel"]))
    config = ml_collections.ConfigDict(dict(
        learning_rate=1e-2, warmup_steps=0, end_learning_rate_factor=1.0, weight_decay=0.5,
        beta1=0.9, beta2=0.98, gradient_clip_norm=1.0))
    optimizer = make_optimizer(config, total_steps=10)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    assert not np.any(np.asarray(updates["text_table"]))  # no gradient, no weight decay


def test_text_towers_need_text_and_known_modes():
    with pytest.raises(ValueError, match="needs text vectors"):
        build_model(model_config("text"), NUM_ITEMS, None)
    with pytest.raises(ValueError, match=r"config.model.item_tower='pixels': unknown item tower; "
                                         r"expected one of \('id', 'text', 'id\+text'\)"):
        build_model(model_config("pixels"), NUM_ITEMS, TEXT)


def test_cold_items_are_only_reachable_through_text(tmp_path):
    config = synthetic_tiny.get_config()
    config.data.cold_start_share = 0.2
    config.model.item_tower = "text"
    report = trainer.train_and_evaluate(config, tmp_path)
    rows = {(r["model"], r["split"]): r for r in report["rows"]}
    cold = rows[("sasrec (text)", "test (cold targets)")]
    warm = rows[("sasrec (text)", "test (warm targets)")]
    popularity_cold = rows[("popularity", "test (cold targets)")]
    assert popularity_cold["NDCG@10"] == 0.0  # never trained on, so never popular
    assert cold["NDCG@10"] > 0.1, cold
    assert warm["NDCG@10"] > rows[("popularity", "test (warm targets)")]["NDCG@10"]
    assert cold["num_users"] + warm["num_users"] == rows[("sasrec (text)", "test")]["num_users"]
    # The training-free text baseline is reported beside popularity and also reaches cold items.
    text_baseline = rows[("text similarity (last 20, untrained)", "test (cold targets)")]
    assert text_baseline["num_users"] == cold["num_users"]
    assert text_baseline["NDCG@10"] > popularity_cold["NDCG@10"], text_baseline


def test_item_id_dropout_falls_back_to_text_for_a_share_of_items_in_training_only():
    config = model_config("id+text")
    config.item_id_dropout = 0.5
    model = build_model(config, NUM_ITEMS, TEXT)
    ids = jnp.array([[0, 0, 3, 4, 5, 6, 7, 1]])
    params = model.init(jax.random.key(0), ids)["params"]
    _, full = model.apply({"params": params}, ids)  # deterministic: every id kept
    id_rows = params["item_embedding"]["embedding"][: NUM_ITEMS + 1]
    _, trained = model.apply({"params": params}, ids, deterministic=False,
                             rngs={"dropout": jax.random.key(3)})
    kept = np.all(np.isclose(trained, full, atol=1e-6), axis=1)
    dropped = np.all(np.isclose(trained, full - id_rows, atol=1e-6), axis=1)
    assert np.all(kept[1:] ^ dropped[1:])  # every real item: exactly one of the two
    assert 0 < dropped[1:].sum() < NUM_ITEMS
    for tower, rate in (("text", 0.5), ("id+text", 1.0)):
        bad = model_config(tower)
        bad.item_id_dropout = rate
        with pytest.raises(ValueError, match="item_id_dropout"):
            build_model(bad, NUM_ITEMS, TEXT).init(jax.random.key(0), ids)
