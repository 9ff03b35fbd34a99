"""Behaviour encoder properties: causality, padding and bucket invariance, dropout, cosine scoring."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import default
from recall_jax.models import build_model
from recall_jax.models.dropout import ByteDropout, byte_threshold, random_bytes

NUM_ITEMS = 50
MAX_LEN = 12


def make(name="sasrec", **overrides):
    config = default.get_config().model
    config.update(dict(name=name, max_len=MAX_LEN, embed_dim=16, num_blocks=2, num_heads=2,
                       mlp_ratio=2, dropout_rate=0.1), **overrides)
    model = build_model(config, NUM_ITEMS)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, MAX_LEN), jnp.int32))["params"]
    return model, params


def encode(model, params, ids):
    return np.asarray(model.apply({"params": params}, jnp.asarray(ids, jnp.int32),
                                  method=model.encode_users))


HISTORY = np.array([[0, 0, 3, 9, 4, 17, 22, 5, 8, 41, 30, 2]], np.int32)


def test_causal_output_at_t_ignores_later_inputs():
    model, params = make("sasrec")
    before = encode(model, params, HISTORY)
    changed = HISTORY.copy()
    changed[0, 7:] = [11, 12, 13, 14, 15]
    after = encode(model, params, changed)
    np.testing.assert_allclose(after[0, :7], before[0, :7], atol=1e-6)
    assert np.abs(after[0, 7:] - before[0, 7:]).max() > 1e-3


def test_bidirectional_output_sees_later_inputs():
    model, params = make("bert4rec")
    changed = HISTORY.copy()
    changed[0, -1] = 11
    assert np.abs(encode(model, params, changed)[0, 4] - encode(model, params, HISTORY)[0, 4]).max() > 1e-4


@pytest.mark.parametrize("name", ["sasrec", "bert4rec"])
def test_last_position_is_the_same_for_every_bucket_width(name):
    """Positions count from the right, so trimming left padding (bucketing) changes nothing."""
    model, params = make(name)
    full = encode(model, params, HISTORY)[0, -1]
    trimmed = encode(model, params, HISTORY[:, 2:])[0, -1]  # the 10 real items only
    np.testing.assert_allclose(trimmed, full, atol=1e-5)


@pytest.mark.parametrize("name", ["sasrec", "bert4rec"])
def test_what_lies_in_the_padded_region_never_reaches_real_positions(name):
    """HISTORY is padded at positions 0 and 1. Whatever the padding item's embedding row and the
    position embeddings of the padded positions hold, and whether the padding is there at all,
    every real position's output stays the same: padding is neither mixed in nor attended to.
    Every parameter is randomised first, so no zero-initialised bias hides a leak."""
    model, params = make(name)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(7), len(leaves))
    params = jax.tree.unflatten(tree, [0.3 * jax.random.normal(key, leaf.shape)
                                       for key, leaf in zip(keys, leaves)])
    before = encode(model, params, HISTORY)
    changed = jax.tree.map(lambda x: x, params)
    noise = jax.random.normal(jax.random.PRNGKey(5), (16,)) * 10.0
    changed["item_embedding"]["embedding"] = params["item_embedding"]["embedding"].at[0].set(noise)
    changed["position_embedding"]["embedding"] = (
        params["position_embedding"]["embedding"].at[:2].add(noise))
    after = encode(model, changed, HISTORY)
    np.testing.assert_allclose(after[0, 2:], before[0, 2:], atol=1e-5)
    without_padding = encode(model, params, HISTORY[:, 2:])
    np.testing.assert_allclose(without_padding[0], before[0, 2:], atol=1e-5)
    assert np.all(np.isfinite(after))


def test_cosine_model_gradients_stay_finite_with_padded_positions():
    """Padded positions are zero vectors; normalising them must not give NaN gradients."""
    model, params = make("sasrec", normalize=True, temperature=0.05)

    def loss(p):
        users, items = model.apply({"params": p}, jnp.asarray(HISTORY))
        return jnp.sum(users @ items.T)
    gradients = jax.grad(loss)(params)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(gradients))


def test_untied_item_tower_has_its_own_table():
    model, params = make("sasrec", tie_item_embeddings=False)
    assert "output_item_embedding" in params
    _, items = model.apply({"params": params}, jnp.asarray(HISTORY))
    assert items.shape == (NUM_ITEMS + 1, 16)


def test_byte_dropout_rate_and_mean():
    x = jnp.ones((400, 500))
    module = ByteDropout(0.2)
    out = np.asarray(module.apply({}, x, deterministic=False, rngs={"dropout": jax.random.PRNGKey(1)}))
    dropped = np.mean(out == 0)
    assert abs(dropped - byte_threshold(0.2) / 256) < 0.005
    assert abs(out.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation
    np.testing.assert_array_equal(np.asarray(module.apply({}, x, deterministic=True)), np.asarray(x))


def test_random_bytes_are_uniform():
    values = np.asarray(random_bytes(jax.random.PRNGKey(0), (1000, 257)))
    counts = np.bincount(values.ravel(), minlength=256)
    assert counts.min() > 0.8 * values.size / 256 and counts.max() < 1.2 * values.size / 256


def test_bad_model_settings_are_rejected():
    with pytest.raises(ValueError, match="unknown model"):
        make("gru4rec")
    with pytest.raises(ValueError, match="unknown activation"):
        make("sasrec", activation="swishy")
    with pytest.raises(ValueError, match="dropout rate"):
        byte_threshold(1.0)
