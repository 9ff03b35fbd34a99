"""Adding a behaviour encoder is one module plus one registry line (README: Extending)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from experiments.configs import synthetic_tiny
from recall_jax.errors import ConfigError
from recall_jax.models.encoders import ENCODERS
from recall_jax.train import trainer


class MeanOfHistory(nn.Module):
    """A toy causal encoder: the user vector at t is a projection of the mean of rows <= t."""

    embed_dim: int
    causal: bool = True

    @nn.compact
    def __call__(self, x, is_item, deterministic):
        keep = is_item[..., None].astype(jnp.float32)
        totals = jnp.cumsum(x.astype(jnp.float32) * keep, axis=1)
        counts = jnp.maximum(jnp.cumsum(keep, axis=1), 1.0)
        return nn.Dense(self.embed_dim, name="projection")(totals / counts) * keep


@pytest.fixture
def toy_encoder():
    ENCODERS.register("mean_of_history",
                      lambda model_config, dtype: MeanOfHistory(model_config.embed_dim))
    yield "mean_of_history"
    ENCODERS.unregister("mean_of_history")


def test_a_registered_encoder_trains_and_is_evaluated_from_the_config(toy_encoder, tmp_path):
    config = synthetic_tiny.get_config()
    config.model.name = toy_encoder
    config.train.num_epochs = 3
    report = trainer.train_and_evaluate(config, tmp_path)
    rows = {(row["model"], row["split"]): row for row in report["rows"]}
    toy, popularity = rows[(toy_encoder, "test")], rows[("popularity", "test")]
    # The toy model's parameters are what was trained and evaluated.
    restored, params, _ = trainer.restore_best_params(config, tmp_path,
                                                      trainer.load_dataset(config.data))
    assert set(params["encoder"]) == {"projection"}
    assert isinstance(restored.encoder, MeanOfHistory)
    # A history-mean model of synthetic topic sequences beats popularity.
    assert toy["NDCG@10"] > popularity["NDCG@10"]


def test_the_objective_must_fit_the_registered_encoder(toy_encoder):
    config = synthetic_tiny.get_config()
    config.model.name = toy_encoder
    config.model.objective = "cloze"
    with pytest.raises(ConfigError, match="config.model.objective='cloze' needs a "
                                          "bidirectional encoder.*'mean_of_history' is causal"):
        trainer.validate_config(config, jax.device_count())


def test_an_unregistered_name_lists_the_registered_ones():
    config = synthetic_tiny.get_config()
    config.model.name = "mean_of_history"
    with pytest.raises(ConfigError, match="config.model.name='mean_of_history': expected one "
                                          "of .*'sasrec'.*'hstu'"):
        trainer.validate_config(config, jax.device_count())
