"""Each training loss against a plain numpy reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recall_jax.train import losses

NUM_ITEMS = 9
RNG = np.random.default_rng(0)
USERS = RNG.normal(size=(2, 4, 5)).astype(np.float32)
ITEMS = RNG.normal(size=(NUM_ITEMS + 1, 5)).astype(np.float32)
TARGETS = np.array([[0, 3, 7, 1], [0, 0, 9, 2]], np.int32)  # 0 = no target at that position
VALID = TARGETS != 0


def log_softmax_np(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def log_sigmoid_np(x):
    return -np.log1p(np.exp(-x))


def test_full_softmax_matches_numpy():
    logits = USERS @ ITEMS[1:].T  # padding row excluded from the softmax
    log_probabilities = log_softmax_np(logits)
    expected = np.mean([-log_probabilities[b, t, TARGETS[b, t] - 1]
                        for b, t in zip(*np.nonzero(VALID))])
    got = losses.full_softmax_loss(jnp.asarray(USERS), jnp.asarray(ITEMS), jnp.asarray(TARGETS))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_binary_cross_entropy_matches_numpy():
    negatives = np.array([[1, 5, 2, 8], [4, 6, 1, 3]], np.int32)
    terms = []
    for b, t in zip(*np.nonzero(VALID)):
        positive = USERS[b, t] @ ITEMS[TARGETS[b, t]]
        negative = USERS[b, t] @ ITEMS[negatives[b, t]]
        terms.append(-log_sigmoid_np(positive) - log_sigmoid_np(-negative))
    got = losses.binary_cross_entropy_with_negatives(
        jnp.asarray(USERS), jnp.asarray(ITEMS), jnp.asarray(TARGETS), jnp.asarray(negatives))
    np.testing.assert_allclose(float(got), np.mean(terms), rtol=1e-5)


def test_uniform_negatives_never_hit_target_or_padding_and_cover_the_rest():
    targets = jnp.full((200, 50), 4, jnp.int32)
    negatives = np.asarray(losses.uniform_negatives(jax.random.PRNGKey(1), targets, NUM_ITEMS))
    assert negatives.min() >= 1 and negatives.max() <= NUM_ITEMS
    assert not np.any(negatives == 4)
    counts = np.bincount(negatives.ravel(), minlength=NUM_ITEMS + 1)[1:]
    expected = negatives.size / (NUM_ITEMS - 1)
    assert np.all(np.abs(counts[np.arange(NUM_ITEMS) != 3] - expected) < 0.1 * expected)


@pytest.mark.parametrize("with_logq", [True, False])
def test_sampled_softmax_with_candidates_matches_numpy(with_logq):
    candidates = np.array([2, 3, 5, 3, 9], np.int32)  # 3 twice; 3 and 9 are also targets
    log_q = np.log(RNG.uniform(0.1, 2.0, size=NUM_ITEMS + 1)).astype(np.float32)
    terms = []
    for b, t in zip(*np.nonzero(VALID)):
        target = TARGETS[b, t]
        logits = [USERS[b, t] @ ITEMS[target] - (log_q[target] if with_logq else 0.0)]
        for candidate in candidates:
            if candidate != target:  # accidental hits are removed
                logits.append(USERS[b, t] @ ITEMS[candidate]
                              - (log_q[candidate] if with_logq else 0.0))
        logits = np.array(logits)
        terms.append(-log_softmax_np(logits)[0])
    got = losses.sampled_softmax_with_candidates(
        jnp.asarray(USERS), jnp.asarray(ITEMS), jnp.asarray(TARGETS), jnp.asarray(candidates),
        jnp.asarray(log_q) if with_logq else None)
    np.testing.assert_allclose(float(got), np.mean(terms), rtol=1e-5)


def sampled(rng, **kwargs):
    log_probability = jnp.log(jnp.asarray(
        np.r_[1e-12, np.arange(1, NUM_ITEMS + 1) / np.arange(1, NUM_ITEMS + 1).sum()],
        jnp.float32))
    return float(losses.sampled_softmax_loss(
        jnp.asarray(USERS), jnp.asarray(ITEMS), jnp.asarray(TARGETS), rng,
        log_item_probability=log_probability, **kwargs))


def test_logq_correction_is_a_no_op_for_a_uniform_sampler():
    rng = jax.random.PRNGKey(3)
    corrected = sampled(rng, num_sampled=6, num_in_batch=0, sampler="uniform")
    plain = sampled(rng, num_sampled=6, num_in_batch=0, sampler="uniform", logq_correction=False)
    np.testing.assert_allclose(corrected, plain, rtol=1e-6)


def test_logq_correction_changes_a_popularity_sampler():
    rng = jax.random.PRNGKey(3)
    corrected = sampled(rng, num_sampled=6, num_in_batch=4, sampler="popularity")
    plain = sampled(rng, num_sampled=6, num_in_batch=4, sampler="popularity",
                    logq_correction=False)
    assert abs(corrected - plain) > 1e-3


def test_sampled_softmax_with_all_items_as_candidates_equals_full_softmax():
    candidates = jnp.arange(1, NUM_ITEMS + 1)
    got = losses.sampled_softmax_with_candidates(
        jnp.asarray(USERS), jnp.asarray(ITEMS), jnp.asarray(TARGETS), candidates, None)
    full = losses.full_softmax_loss(jnp.asarray(USERS), jnp.asarray(ITEMS), jnp.asarray(TARGETS))
    np.testing.assert_allclose(float(got), float(full), rtol=1e-5)


def test_unknown_loss_and_sampler_are_rejected():
    import ml_collections
    with pytest.raises(ValueError, match="unknown loss"):
        losses.make_loss(ml_collections.ConfigDict({"name": "hinge"}))
    with pytest.raises(ValueError, match="unknown negative sampler"):
        sampled(jax.random.PRNGKey(0), num_sampled=2, num_in_batch=0, sampler="zipf")


def reference_full_softmax(users, items, targets):
    """The plain expression, differentiated automatically."""
    logits = jnp.einsum("bld,nd->bln", users, items).at[..., 0].set(-1e30)
    losses_ = jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(logits, targets[..., None], -1)[..., 0]
    mask = (targets != 0).astype(users.dtype)
    return jnp.sum(losses_ * mask) / jnp.sum(mask)


@pytest.mark.parametrize("chunk_size", [3, 8, 1024])
def test_chunked_full_softmax_gradient_matches_automatic_differentiation(chunk_size):
    args = (jnp.asarray(USERS), jnp.asarray(ITEMS), jnp.asarray(TARGETS))
    expected_value, expected = jax.value_and_grad(reference_full_softmax, argnums=(0, 1))(*args)
    value, got = jax.value_and_grad(
        lambda u, i, t: losses.full_softmax_loss(u, i, t, chunk_size=chunk_size),
        argnums=(0, 1))(*args)
    np.testing.assert_allclose(float(value), float(expected_value), rtol=1e-5)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), atol=1e-6)
    assert np.all(np.asarray(got[1])[0] == 0)  # the padding row gets no gradient


# ----------------------------------------------------------------------------------------------
# Negative samplers: exact distributions at O(draws) cost.
def test_uniform_shared_negatives_cover_every_item_and_never_padding():
    draws = np.asarray(losses.uniform_shared_negatives(jax.random.PRNGKey(0), 7, 70_000))
    assert draws.min() == 1 and draws.max() == 7
    counts = np.bincount(draws, minlength=8)[1:]
    np.testing.assert_allclose(counts / len(draws), 1 / 7, atol=0.01)


def test_popularity_negatives_follow_the_training_frequencies():
    frequency = np.array([0.0, 0.5, 0.3, 0.15, 0.05, 0.0])  # item 5 never trained on
    log_probability = np.log(np.maximum(frequency, 1e-12))
    cdf = jnp.asarray(losses.item_cdf(log_probability))
    draws = np.asarray(losses.popularity_negatives(jax.random.PRNGKey(1), cdf, 200_000))
    shares = np.bincount(draws, minlength=6) / len(draws)
    assert shares[0] == 0.0 and shares[5] < 1e-4
    np.testing.assert_allclose(shares[1:5], frequency[1:5], atol=0.005)


def test_in_batch_negatives_are_uniform_over_real_positions():
    targets = jnp.array([[0, 0, 3, 4], [0, 5, 5, 6]])  # 5 real positions, item 5 twice
    draws = np.asarray(losses.in_batch_negatives(jax.random.PRNGKey(2), targets, 100_000))
    assert (draws != 0).all()
    shares = np.bincount(draws, minlength=7) / len(draws)
    np.testing.assert_allclose(shares[[3, 4, 5, 6]], [0.2, 0.2, 0.4, 0.2], atol=0.01)


def test_sampled_softmax_logq_matches_what_the_popularity_sampler_draws():
    """The correction uses the sampler's own probabilities: Q = num_sampled * p(item)."""
    frequency = np.array([0.0, 0.4, 0.4, 0.2])
    log_probability = jnp.log(jnp.maximum(jnp.asarray(frequency), 1e-12))
    cdf = losses.item_cdf(np.asarray(log_probability))
    np.testing.assert_allclose(np.diff(cdf, prepend=0.0), frequency[1:], rtol=1e-6)
