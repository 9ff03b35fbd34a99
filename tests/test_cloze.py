"""The cloze (masked-item) objective for the bidirectional encoder."""

from __future__ import annotations

import jax
import numpy as np

from experiments.configs import synthetic_tiny
from recall_jax.train import trainer
from recall_jax.core.ids import mask_token
from recall_jax.models.cloze import cloze_batch


def test_cloze_window_is_the_sequence_and_padding_is_never_masked():
    # Sequences [1..3] and [4..9] as next-item windows of width 5, left-padded.
    inputs = np.array([[0, 0, 0, 1, 2], [4, 5, 6, 7, 8]])
    targets = np.array([[0, 0, 0, 2, 3], [5, 6, 7, 8, 9]])
    mask_id = mask_token(20)
    for seed in range(50):
        masked, cloze_targets = map(np.asarray, cloze_batch(
            inputs, targets, jax.random.PRNGKey(seed), mask_id, mask_rate=0.5))
        window = np.array([[0, 0, 1, 2, 3], [5, 6, 7, 8, 9]])
        is_masked = masked == mask_id
        assert not np.any(is_masked & (window == 0))  # padding never masked
        np.testing.assert_array_equal(masked[~is_masked], window[~is_masked])
        np.testing.assert_array_equal(cloze_targets[is_masked], window[is_masked])
        assert np.all(cloze_targets[~is_masked] == 0)  # loss only where masked
    real = window != 0
    rates = [np.mean(np.asarray(cloze_batch(inputs, targets, jax.random.PRNGKey(seed), mask_id,
                                            0.5)[0])[real] == mask_id) for seed in range(50)]
    assert 0.4 < np.mean(rates) < 0.6  # the configured share of real items


def test_bidirectional_encoder_learns_with_the_cloze_objective(tmp_path):
    config = synthetic_tiny.get_config()
    config.model.name = "bert4rec"
    config.model.objective = "cloze"
    config.train.num_epochs = 10
    report = trainer.train_and_evaluate(config, tmp_path)
    rows = {(r["model"], r["split"]): r for r in report["rows"]}
    model, popularity = rows[("bert4rec", "test")], rows[("popularity", "test")]
    assert model["NDCG@10"] > popularity["NDCG@10"] + 0.05, (model, popularity)
