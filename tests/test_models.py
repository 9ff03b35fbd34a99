"""Behaviour encoder properties: causality, padding and bucket invariance, dropout, cosine scoring."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import default
from recall_jax.errors import ConfigError
from recall_jax.models import build_model
from recall_jax.models.dropout import (DROPOUT_IMPLS, ByteDropout, byte_threshold, make_dropout,
                                      random_bytes)

NUM_ITEMS = 50
MAX_LEN = 12


def make(name="sasrec", **overrides):
    config = default.get_config().model
    objective = "cloze" if name == "bert4rec" else "next_item"
    config.update(dict(name=name, objective=objective, max_len=MAX_LEN, embed_dim=16,
                       num_blocks=2, num_heads=2, mlp_ratio=2, dropout_rate=0.1), **overrides)
    model = build_model(config, NUM_ITEMS)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, MAX_LEN), jnp.int32))["params"]
    return model, params


def encode(model, params, ids):
    return np.asarray(model.apply({"params": params}, jnp.asarray(ids, jnp.int32),
                                  method=model.encode_users))


HISTORY = np.array([[0, 0, 3, 9, 4, 17, 22, 5, 8, 41, 30, 2]], np.int32)


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
    changed["encoder"]["position_embedding"]["embedding"] = (
        params["encoder"]["position_embedding"]["embedding"].at[:2].add(noise))
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
    with pytest.raises(ConfigError, match=r"config.model.name='gpt': unknown behaviour encoder; "
                                          r"expected one of \('sasrec', 'bert4rec'"):
        make("gpt")
    with pytest.raises(ConfigError, match="config.model.objective='next_item' needs a causal "
                                          "encoder.*bidirectional.*one of \\['cloze'\\]"):
        make("bert4rec", objective="next_item")
    with pytest.raises(ConfigError, match="needs a bidirectional encoder"):
        make("sasrec", objective="cloze")
    with pytest.raises(ValueError, match="unknown activation"):
        make("sasrec", activation="swishy")
    with pytest.raises(ValueError, match="dropout rate"):
        byte_threshold(1.0)


def randomised(params, seed: int = 7, scale: float = 0.3):
    """Every parameter redrawn, so no zero-initialised bias hides a difference."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return jax.tree.unflatten(tree, [scale * jax.random.normal(key, leaf.shape)
                                     for key, leaf in zip(keys, leaves)])


def random_padded_histories(seed: int = 3, batch: int = 6) -> np.ndarray:
    """[batch, MAX_LEN] random ids, left-padded to random lengths (one row all padding)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, NUM_ITEMS + 1, (batch, MAX_LEN)).astype(np.int32)
    for row, length in enumerate(rng.integers(0, MAX_LEN + 1, batch)):
        ids[row, : MAX_LEN - length] = 0
    ids[0] = 0
    ids[1, 0] = 0  # at least one partly padded row
    return ids


@pytest.mark.parametrize("name", ["sasrec", "bert4rec"])
def test_dot_product_attention_matches_the_einsum_path(name):
    """Same parameters, same padded inputs: jax.nn.dot_product_attention keeps the boolean mask
    (causal or bidirectional, key padding, a query always seeing itself) of the einsum path."""
    einsum, params = make(name, attention_implementation="einsum")
    fused, _ = make(name, attention_implementation="dot_product_attention")
    params = randomised(params)
    ids = random_padded_histories()
    expected = encode(einsum, params, ids)
    got = encode(fused, params, ids)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    assert np.all(np.isfinite(got))


def test_attention_dropout_keeps_the_einsum_path_under_either_setting():
    """dot_product_attention cannot drop weights: with attention dropout both settings draw the
    same masks through the einsum path, so training-mode outputs are identical."""
    outputs = []
    for implementation in ("dot_product_attention", "einsum"):
        model, params = make("sasrec", attention_implementation=implementation,
                             attention_dropout_rate=0.3)
        users, _ = model.apply({"params": params}, jnp.asarray(HISTORY), deterministic=False,
                               rngs={"dropout": jax.random.PRNGKey(2)})
        outputs.append(np.asarray(users))
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize("name", ["sasrec", "bert4rec"])
def test_bfloat16_compute_keeps_float32_parameters_and_outputs(name):
    f32, params = make(name)
    bf16, bf16_params = make(name, compute_dtype="bfloat16")
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(bf16_params))
    params = randomised(params, scale=0.1)
    ids = jnp.asarray(random_padded_histories())
    want_users, want_items = f32.apply({"params": params}, ids)
    users, items = bf16.apply({"params": params}, ids)
    assert users.dtype == jnp.float32 and items.dtype == jnp.float32
    real = np.asarray(ids != 0)
    for got, want in ((np.asarray(users)[real], np.asarray(want_users)[real]),
                      (np.asarray(items), np.asarray(want_items))):
        relative = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert relative < 5e-2, relative
    assert not np.array_equal(np.asarray(users), np.asarray(want_users))  # bf16 was used


def test_bfloat16_train_step_has_a_finite_float32_loss():
    from recall_jax.core import sharding  # noqa: PLC0415
    from recall_jax.train.losses import make_loss  # noqa: PLC0415
    from recall_jax.train.optimizer import make_optimizer  # noqa: PLC0415
    from recall_jax.train.trainer import create_train_state, make_train_step  # noqa: PLC0415
    config = default.get_config()
    config.model.update(max_len=MAX_LEN, embed_dim=16, num_heads=2, compute_dtype="bfloat16")
    model = build_model(config.model, NUM_ITEMS)
    optimizer = make_optimizer(config.optimizer, 10)
    mesh = sharding.make_mesh(1)
    ids = random_padded_histories(batch=4)
    state, shardings = create_train_state(model, optimizer, config, mesh, ids)
    step = make_train_step(model, make_loss(config.loss), optimizer, shardings, mesh)
    targets = np.where(ids > 0, (ids % NUM_ITEMS) + 1, 0).astype(np.int32)
    with jax.set_mesh(mesh):
        state, metrics = step(state, sharding.global_batch({"inputs": ids, "targets": targets},
                                                            mesh))
    assert metrics["loss"].dtype == jnp.float32 and np.isfinite(float(metrics["loss"]))
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(state.params))


def test_bernoulli_dropout_has_the_exact_rate_where_bytes_round_it():
    """rate 0.003: "bytes" rounds it to 1/256 = 0.0039; "bernoulli" keeps 0.003."""
    x = jnp.ones((1000, 1000))
    dropped = {}
    for impl in DROPOUT_IMPLS:
        out = make_dropout(0.003, impl).apply({}, x, deterministic=False,
                                              rngs={"dropout": jax.random.PRNGKey(4)})
        dropped[impl] = float(np.mean(np.asarray(out) == 0))
        assert abs(float(out.mean()) - 1.0) < 0.01
    assert abs(dropped["bernoulli"] - 0.003) < 3e-4, dropped
    assert abs(dropped["bytes"] - 1 / 256) < 3e-4, dropped


def test_bernoulli_dropout_model_trains_and_is_deterministic_at_inference():
    model, params = make("sasrec", dropout_impl="bernoulli")
    train = [np.asarray(model.apply({"params": params}, jnp.asarray(HISTORY),
                                    deterministic=False, rngs={"dropout": jax.random.PRNGKey(k)})
                        [0]) for k in (0, 1)]
    assert np.abs(train[0] - train[1]).max() > 1e-3  # dropout is active
    bytes_model, _ = make("sasrec")
    np.testing.assert_array_equal(encode(model, params, HISTORY),
                                  encode(bytes_model, params, HISTORY))
    with pytest.raises(ValueError, match="unknown dropout implementation"):
        make_dropout(0.1, "bits")


@pytest.mark.parametrize("block_style", ["pre_norm", "sasrec"])
def test_both_block_styles_are_causal_and_blind_to_padding(block_style):
    model, params = make("sasrec", block_style=block_style)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(3), len(leaves))
    params = jax.tree.unflatten(tree, [0.3 * jax.random.normal(key, leaf.shape)
                                       for key, leaf in zip(keys, leaves)])
    before = encode(model, params, HISTORY)
    changed = HISTORY.copy()
    changed[0, 7:] = [11, 12, 13, 14, 15]
    after = encode(model, params, changed)
    np.testing.assert_allclose(after[0, :7], before[0, :7], atol=1e-5)
    assert np.abs(after[0, 7:] - before[0, 7:]).max() > 1e-3
    np.testing.assert_allclose(encode(model, params, HISTORY[:, 2:])[0], before[0, 2:], atol=1e-5)


def _layer_norm(x, scale, bias):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-6) * scale + bias


def test_sasrec_block_matches_the_original_formula():
    """q = LN1(x); y = LN2(q + MHA(q, x, x)); out = y + FFN(y), against numpy (one head, no
    dropout), with random parameters."""
    from recall_jax.models.transformer import TransformerBlock
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    mask = np.tril(np.ones((5, 5), bool))[None, None].repeat(2, axis=0)
    block = TransformerBlock(num_heads=1, mlp_dim=8, dropout_rate=0.0, activation="relu",
                             block_style="sasrec")
    params = block.init(jax.random.PRNGKey(0), x, mask, True)["params"]
    leaves, tree = jax.tree.flatten(params)
    params = jax.tree.unflatten(tree, [rng.normal(size=leaf.shape).astype(np.float32) * 0.5
                                       for leaf in leaves])
    got = np.asarray(block.apply({"params": params}, x, mask, True))
    p = jax.tree.map(np.asarray, params)
    queries = _layer_norm(x, p["attention_norm"]["scale"], p["attention_norm"]["bias"])
    kernel, bias = p["attention"]["qkv"]["kernel"], p["attention"]["qkv"]["bias"]
    q = queries @ kernel[:, :8] + bias[:8]
    k = x @ kernel[:, 8:16] + bias[8:16]
    v = x @ kernel[:, 16:] + bias[16:]
    scores = np.where(mask[:, 0], q @ k.transpose(0, 2, 1) / np.sqrt(8), -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    attended = (weights @ v) @ p["attention"]["out"]["kernel"] + p["attention"]["out"]["bias"]
    y = _layer_norm(queries + attended, p["mlp_norm"]["scale"], p["mlp_norm"]["bias"])
    hidden = np.maximum(y @ p["mlp"]["expand"]["kernel"] + p["mlp"]["expand"]["bias"], 0)
    expected = y + hidden @ p["mlp"]["contract"]["kernel"] + p["mlp"]["contract"]["bias"]
    np.testing.assert_allclose(got, expected, atol=2e-4)
