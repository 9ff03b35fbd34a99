"""GRU4Rec and HSTU behaviour encoders: causality, left-padding invariance, gradients, dropout,
compute dtype, construction from the default config, and the GRU recurrence against numpy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import default
from recall_jax.models import gru4rec, hstu

BATCH, SEQ_LEN, DIM = 3, 12, 16
LENGTHS = (12, 7, 3)  # real items per row; the rest of each row is left padding


def make_encoder(name: str, **overrides):
    if name == "gru4rec":
        fields = dict(embed_dim=DIM, num_blocks=2, dropout_rate=0.2)
        return gru4rec.GRU4Rec(**{**fields, **overrides})
    # 8 buckets for distances up to 11 < max_len: exercises the log-spaced buckets too.
    fields = dict(max_len=32, embed_dim=DIM, num_blocks=2, num_heads=2, dropout_rate=0.2,
                  num_buckets=8)
    return hstu.HSTU(**{**fields, **overrides})


ENCODERS = ("gru4rec", "hstu")


def batch(seed: int = 0, seq_len: int = SEQ_LEN) -> tuple[jax.Array, jax.Array]:
    """Random item rows (random values at padding too, which must not matter) and is_item."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, seq_len, DIM)).astype(np.float32)
    is_item = np.arange(seq_len)[None, :] >= seq_len - np.asarray(LENGTHS)[:, None]
    return jnp.asarray(x), jnp.asarray(is_item)


def init(encoder, x, is_item):
    return encoder.init(jax.random.PRNGKey(0), x, is_item, deterministic=True)["params"]


def apply(encoder, params, x, is_item, deterministic=True, rng=None):
    rngs = {"dropout": rng} if rng is not None else {}
    return np.asarray(encoder.apply({"params": params}, x, is_item, deterministic=deterministic,
                                    rngs=rngs))


@pytest.mark.parametrize("name", ENCODERS)
def test_output_at_t_ignores_later_items_and_follows_earlier_ones(name):
    encoder = make_encoder(name)
    x, is_item = batch()
    params = init(encoder, x, is_item)
    before = apply(encoder, params, x, is_item)
    t = 6
    changed = x.at[:, t + 1:].set(jax.random.normal(jax.random.PRNGKey(1), x[:, t + 1:].shape))
    after = apply(encoder, params, changed, is_item)
    assert encoder.causal
    np.testing.assert_allclose(after[:, :t + 1], before[:, :t + 1], atol=1e-6)
    later_change = np.abs(after[:, t + 1:] - before[:, t + 1:]).max(axis=(1, 2))
    assert (later_change > 1e-3).all(), later_change


@pytest.mark.parametrize("name", ENCODERS)
def test_leading_pads_change_nothing_and_padding_rows_are_zero(name):
    encoder = make_encoder(name)
    x, is_item = batch()
    extra = 8
    pads, _ = batch(seed=1, seq_len=extra)  # garbage rows in front, marked as padding
    x_long = jnp.concatenate([pads, x], axis=1)
    is_item_long = jnp.concatenate([jnp.zeros((BATCH, extra), bool), is_item], axis=1)
    params = init(encoder, x, is_item)
    short = apply(encoder, params, x, is_item)
    long = apply(encoder, params, x_long, is_item_long)
    mask = np.asarray(is_item)
    np.testing.assert_allclose(long[:, extra:][mask], short[mask], atol=1e-5)
    assert (short[~mask] == 0).all() and (long[~np.asarray(is_item_long)] == 0).all()
    assert np.abs(short[mask]).min(axis=-1).max() > 0


@pytest.mark.parametrize("name", ENCODERS)
def test_gradients_are_finite_and_reach_every_parameter(name):
    encoder = make_encoder(name)
    x, is_item = batch()
    params = init(encoder, x, is_item)
    target = jax.random.normal(jax.random.PRNGKey(2), (BATCH, SEQ_LEN, DIM))

    def loss(params):
        out = encoder.apply({"params": params}, x, is_item, deterministic=False,
                            rngs={"dropout": jax.random.PRNGKey(3)})
        return jnp.mean((out - target) ** 2)

    grads = jax.grad(loss)(params)
    for path, grad in jax.tree_util.tree_leaves_with_path(grads):
        grad = np.asarray(grad)
        assert np.isfinite(grad).all(), path
        assert np.abs(grad).max() > 0, path


@pytest.mark.parametrize("impl", ("bytes", "bernoulli"))
@pytest.mark.parametrize("name", ENCODERS)
def test_dropout_varies_with_the_rng_and_deterministic_is_reproducible(name, impl):
    encoder = make_encoder(name, dropout_impl=impl)
    x, is_item = batch()
    params = init(encoder, x, is_item)
    first = apply(encoder, params, x, is_item, False, jax.random.PRNGKey(4))
    second = apply(encoder, params, x, is_item, False, jax.random.PRNGKey(5))
    assert np.abs(first - second).max() > 1e-3
    assert (first[~np.asarray(is_item)] == 0).all()
    np.testing.assert_array_equal(apply(encoder, params, x, is_item),
                                  apply(encoder, params, x, is_item, True, jax.random.PRNGKey(4)))


@pytest.mark.parametrize("name", ENCODERS)
def test_bfloat16_compute_returns_float32_close_to_float32_compute(name):
    x, is_item = batch()
    encoder = make_encoder(name, dtype=jnp.bfloat16)
    params = init(encoder, x.astype(jnp.bfloat16), is_item)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(params))
    out = apply(encoder, params, x.astype(jnp.bfloat16), is_item)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert (out[~np.asarray(is_item)] == 0).all()
    reference = apply(make_encoder(name), params, x, is_item)
    assert np.abs(out - reference).max() < 0.1


def gru4rec_parameter_count(d: int, layers: int) -> int:
    gru_layer = 3 * d * d + 3 * d + 3 * d * d + d  # input kernels + biases, recurrent + b_hn
    return layers * gru_layer + d * d + d


def hstu_parameter_count(d: int, layers: int, heads: int, buckets: int) -> int:
    layer = 2 * d + 4 * d * d + heads * buckets + 2 * d + d * d + d
    return layers * layer + 2 * d


@pytest.mark.parametrize("module", (gru4rec, hstu))
def test_build_from_the_default_config(module):
    config = default.get_config().model
    encoder = module.build(config, jnp.float32)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 10, config.embed_dim))
    is_item = jnp.arange(10)[None, :] >= jnp.array([[0], [4]])
    params = init(encoder, x, is_item)
    out = apply(encoder, params, x, is_item)
    assert out.shape == (2, 10, config.embed_dim) and out.dtype == np.float32
    count = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))
    if module is gru4rec:
        assert count == gru4rec_parameter_count(config.embed_dim, config.num_blocks)
    else:
        assert encoder.max_len == config.max_len
        assert count == hstu_parameter_count(config.embed_dim, config.num_blocks,
                                             config.num_heads, encoder.num_buckets)


def numpy_gru(x: np.ndarray, is_item: np.ndarray, cell: dict) -> np.ndarray:
    """The GRU equations, step by step; the state is kept where is_item is False."""
    def dense(name, inputs):
        layer = cell[name]
        out = inputs @ np.asarray(layer["kernel"], np.float64)
        return out + np.asarray(layer["bias"], np.float64) if "bias" in layer else out

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    h = np.zeros((x.shape[0], np.asarray(cell["hr"]["kernel"]).shape[1]))
    outputs = []
    for t in range(x.shape[1]):
        r = sigmoid(dense("ir", x[:, t]) + dense("hr", h))
        z = sigmoid(dense("iz", x[:, t]) + dense("hz", h))
        n = np.tanh(dense("in", x[:, t]) + r * dense("hn", h))
        h = np.where(is_item[:, t, None], (1 - z) * n + z * h, h)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def test_gru4rec_matches_the_gru_equations_in_numpy():
    encoder = make_encoder("gru4rec", dropout_rate=0.0)
    x, is_item = batch()
    params = init(encoder, x, is_item)
    h = np.asarray(x, np.float64)
    mask = np.asarray(is_item)
    for layer in range(encoder.num_blocks):
        h = numpy_gru(h, mask, params[f"gru_{layer}"]["cell"])
    projection = params["output_projection"]
    expected = (h @ np.asarray(projection["kernel"]) + np.asarray(projection["bias"])) * mask[..., None]
    np.testing.assert_allclose(apply(encoder, params, x, is_item), expected, atol=1e-5)


def test_relative_position_buckets():
    exact = hstu.relative_position_buckets(6, num_buckets=8, max_distance=8)
    np.testing.assert_array_equal(exact[5], [5, 4, 3, 2, 1, 0])
    assert (exact[np.triu_indices(6, 1)] == 0).all()  # future keys (masked anyway)
    buckets = hstu.relative_position_buckets(200, num_buckets=32, max_distance=200)[:, 0]
    np.testing.assert_array_equal(buckets[:16], np.arange(16))
    assert (np.diff(buckets) >= 0).all() and buckets[-1] == 31 and len(set(buckets)) == 32
    clipped = hstu.relative_position_buckets(300, num_buckets=32, max_distance=200)[:, 0]
    assert (clipped[200:] == 31).all()
