"""HSTU's relative time bias: the bucketing, what the encoder may and may not depend on, the
batches and evaluation inputs that carry the events' times, and a run end to end."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import synthetic_tiny
from recall_jax.data.dataset import ItemCatalogue, from_user_lists
from recall_jax.data.pipeline import NextItemBatches, relative_times_matrix
from recall_jax.errors import ConfigError
from recall_jax.models import hstu
from recall_jax.train import trainer
from recall_jax.train.config_validation import validate_config

BATCH, SEQ_LEN, DIM = 3, 10, 16
LENGTHS = (10, 6, 3)


def test_time_gaps_fall_in_log_buckets_of_width_0301():
    times = jnp.asarray([[0, 1, 2, 3, 100, 10**6]])
    buckets = np.asarray(hstu.time_gap_buckets(times, num_buckets=40))[0]
    expected = np.floor(np.log(np.maximum(np.abs(np.subtract.outer(
        np.asarray(times[0], np.float64), np.asarray(times[0], np.float64))), 1)) / 0.301)
    np.testing.assert_array_equal(buckets, np.minimum(expected, 39))
    assert buckets[1, 0] == 0 and buckets[3, 0] == 3 and buckets[5, 0] == 39  # ln(1e6)/0.301=45.9


def encoder(time_buckets: int = 64) -> hstu.HSTU:
    return hstu.HSTU(max_len=32, embed_dim=DIM, num_blocks=2, num_heads=2, dropout_rate=0.0,
                     num_buckets=8, time_buckets=time_buckets)


def inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(BATCH, SEQ_LEN, DIM)).astype(np.float32))
    is_item = np.arange(SEQ_LEN)[None, :] >= SEQ_LEN - np.asarray(LENGTHS)[:, None]
    gaps = rng.integers(1, 10**5, size=(BATCH, SEQ_LEN))
    times = np.where(is_item, np.cumsum(gaps, axis=1) - 10**7, 0)
    return x, jnp.asarray(is_item), jnp.asarray(times, jnp.int32)


def run(module, params, x, is_item, times):
    return np.asarray(module.apply({"params": params}, x, is_item, True, times=times))


def test_time_bias_reads_gaps_only_within_the_causal_window():
    module = encoder()
    x, is_item, times = inputs()
    params = module.init(jax.random.PRNGKey(0), x, is_item, True, times=times)["params"]
    assert params["layer_0"]["time_bias"]["table"].shape == (64, 2)
    # Trained-like bias values, so every bucket matters.
    params = jax.tree.map(lambda a: a, params)
    for layer in ("layer_0", "layer_1"):
        params[layer]["time_bias"]["table"] = jax.random.normal(jax.random.PRNGKey(3), (64, 2))
    before = run(module, params, x, is_item, times)
    # A shift of every time in a row changes no gap: same output.
    shifted = jnp.where(is_item, times + 12345, 0)
    np.testing.assert_allclose(run(module, params, x, is_item, shifted), before, atol=1e-5)
    # The gaps matter: stretching them changes the output of the full row.
    stretched = jnp.where(is_item, times * 7, 0)
    assert np.abs(run(module, params, x, is_item, stretched)[0] - before[0]).max() > 1e-3
    # Causal: times after position t do not reach t's output.
    t = 5
    later = times.at[:, t + 1:].add(jnp.where(is_item[:, t + 1:], 10**6, 0))
    np.testing.assert_allclose(run(module, params, x, is_item, later)[:, :t + 1],
                               before[:, :t + 1], atol=1e-5)
    # Padding: the times written at padded positions are never read.
    noisy = jnp.where(is_item, times, 999_999)
    np.testing.assert_allclose(run(module, params, x, is_item, noisy), before, atol=1e-5)


def test_time_bias_needs_times_and_zero_buckets_means_none():
    x, is_item, times = inputs()
    with pytest.raises(ValueError, match="needs the events' times"):
        encoder().init(jax.random.PRNGKey(0), x, is_item, True)
    plain = encoder(time_buckets=0)
    params = plain.init(jax.random.PRNGKey(0), x, is_item, True)["params"]
    assert "time_bias" not in params["layer_0"]


def dataset_with_times():
    catalogue = ItemCatalogue(raw_ids=np.array([""] + [str(i) for i in range(1, 10)]),
                              text_fields={})
    histories = [[1, 2, 3, 4], [5, 6], [7, 8, 9]]  # each item once: it names its event
    times = [[100, 160, 400, 1000], [7, 9], [5, 6, 50]]
    return from_user_lists("timed", ["a", "b", "c"], histories, catalogue, timestamp_lists=times)


def test_relative_times_keep_every_gap_and_zero_the_padding():
    data = dataset_with_times()
    matrix = relative_times_matrix(data.offsets, data.timestamps, 4)
    np.testing.assert_array_equal(matrix, [[-900, -840, -600, 0], [0, 0, -2, 0],
                                           [0, -45, -44, 0]])


def test_batches_carry_each_inputs_time_aligned_with_its_item():
    data = dataset_with_times()
    batches = NextItemBatches(data, max_len=4, batch_size=4, seed=0, bucket_lengths=(4,),
                              with_times=True)
    (batch,) = list(batches.epoch(0))
    time_of_item = dict(zip(data.items.tolist(), data.timestamps.tolist()))
    rows = 0
    for inputs_row, times_row in zip(batch["inputs"], batch["times"]):
        real = inputs_row != 0
        assert np.all(times_row[~real] == 0)
        if real.any():
            rows += 1
            expected = np.array([time_of_item[int(i)] for i in inputs_row[real]])
            got = times_row[real]
            np.testing.assert_array_equal(got - got[-1], expected - expected[-1])
    assert rows == 3
    assert "times" not in next(iter(NextItemBatches(data, 4, 4, 0, (4,)).epoch(0)))


def test_a_run_trains_and_evaluates_with_the_time_bias(tmp_path):
    config = synthetic_tiny.get_config()
    config.data.synthetic.update(num_users=120, num_items=40)
    config.model.update(name="hstu", time_buckets=16)
    config.train.num_epochs = 2
    report = trainer.train_and_evaluate(config, tmp_path / "run")
    test_row = next(r for r in report["rows"] if r["split"] == "test" and
                    r["model"].startswith("hstu"))
    assert 0.0 <= test_row["NDCG@10"] <= 1.0 and np.isfinite(report["history"][-1]["loss"])
    # The run folder records the field (a count of 0 is another model).
    restored = trainer.load_run_config(tmp_path / "run")
    assert restored.model.time_buckets == 16


def test_config_rejects_a_time_bias_outside_hstu():
    config = synthetic_tiny.get_config()
    config.model.time_buckets = 8
    with pytest.raises(ConfigError, match="model.time_buckets.*only the hstu encoder"):
        validate_config(config)
    config.model.update(name="hstu", time_buckets=-1)
    with pytest.raises(ConfigError, match="model.time_buckets"):
        validate_config(config)


def test_a_time_bias_on_data_without_timestamps_is_a_clear_error():
    data = dataset_with_times()
    orderless = from_user_lists("orderless", ["a"], [[1, 2, 3]], data.catalogue)
    with pytest.raises(ConfigError, match="dataset 'orderless' has only the event order"):
        NextItemBatches(orderless, 4, 4, 0, (4,), with_times=True)
