"""scripts/torch_sasrec.py is the same SASRec as recall_jax's: from the JAX model's parameters,
the same user and item vectors, BCE and full-softmax losses, gradients and optimizer steps; and
scripts/benchmark_train_throughput.py end to end at a tiny size."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from experiments.configs import default, ml1m_chrono_sasrec, sasrec_original  # noqa: E402
from recall_jax.core import sharding  # noqa: E402
from recall_jax.models import build_model  # noqa: E402
from recall_jax.train import losses as jax_losses  # noqa: E402
from recall_jax.train.optimizer import make_optimizer  # noqa: E402
from recall_jax.train.trainer import create_train_state, make_train_step  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import torch_sasrec  # noqa: E402

NUM_ITEMS = 40
MAX_LEN = 12
ATOL = 1e-5


def tiny_config(activation="gelu", dropout_rate=0.2, loss="full_softmax"):
    config = default.get_config()
    config.model.update(embed_dim=16, num_blocks=2, num_heads=2, max_len=MAX_LEN, mlp_ratio=2,
                        activation=activation, dropout_rate=dropout_rate)
    config.loss.name = loss
    config.train.batch_size = 8
    config.optimizer.update(learning_rate=1e-2, warmup_steps=2, weight_decay=0.01)
    return config


def left_padded_batch(batch: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) [batch, width] as NextItemBatches makes them, lengths 0..width."""
    rng = np.random.default_rng(seed)
    window = np.zeros((batch, width + 1), np.int32)
    for row, length in enumerate(rng.integers(0, width + 2, batch)):
        if length:
            window[row, -length:] = rng.integers(1, NUM_ITEMS + 1, length)
    inputs = window[:, :-1]
    targets = np.where(inputs != 0, window[:, 1:], 0)
    return inputs, targets


def jax_and_torch(config, seed: int = 0):
    model = build_model(config.model, NUM_ITEMS)
    params = model.init(jax.random.PRNGKey(seed), np.zeros((2, MAX_LEN), np.int32))["params"]
    reference = torch_sasrec.TorchSASRec(config.model, NUM_ITEMS)
    torch_sasrec.load_jax_parameters(reference, params)
    return model, params, reference


@pytest.mark.parametrize("get_config", [tiny_config, sasrec_original.get_config,
                                        ml1m_chrono_sasrec.get_config])
def test_parameter_counts_equal(get_config):
    config = get_config()
    model = build_model(config.model, 3706)
    params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0),
                                               jnp.zeros((1, config.model.max_len), jnp.int32)))
    jax_count = sum(leaf.size for leaf in jax.tree.leaves(params))
    assert torch_sasrec.parameter_count(torch_sasrec.TorchSASRec(config.model, 3706)) == jax_count


@pytest.mark.parametrize("activation", ["gelu", "relu"])
@pytest.mark.parametrize("width", [MAX_LEN, 7])  # a narrower bucket: positions from the end
def test_user_and_item_vectors_agree(activation, width):
    model, params, reference = jax_and_torch(tiny_config(activation))
    inputs, _ = left_padded_batch(8, width)
    users, items = model.apply({"params": params}, jnp.asarray(inputs))
    reference.eval()
    with torch.no_grad():
        torch_users, torch_items = reference(torch.from_numpy(inputs).long())
    np.testing.assert_allclose(torch_users.numpy(), np.asarray(users), atol=ATOL, rtol=0)
    np.testing.assert_array_equal(torch_items.detach().numpy(), np.asarray(items))
    assert np.all(torch_users.numpy()[inputs == 0] == 0)  # zero at padding
    assert np.abs(np.asarray(users)).max() > 0.1  # not trivially zero


def test_narrow_batch_equals_left_padded_full_width():
    """Positions count from the window's end in the reference too."""
    _, _, reference = jax_and_torch(tiny_config())
    inputs, _ = left_padded_batch(8, 6)
    padded = np.concatenate([np.zeros((8, MAX_LEN - 6), np.int32), inputs], axis=1)
    reference.eval()
    with torch.no_grad():
        narrow = reference.encode_users(torch.from_numpy(inputs).long()).numpy()
        wide = reference.encode_users(torch.from_numpy(padded).long()).numpy()[:, -6:]
    np.testing.assert_allclose(narrow, wide, atol=ATOL, rtol=0)


def _jax_loss(model, params, inputs, targets, name, negatives):
    users, items = model.apply({"params": params}, jnp.asarray(inputs))
    if name == "binary_cross_entropy":
        return jax_losses.binary_cross_entropy_with_negatives(users, items, targets, negatives)
    return jax_losses.full_softmax_loss(users, items, targets)


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "full_softmax"])
def test_losses_and_gradients_agree(loss):
    model, params, reference = jax_and_torch(tiny_config(loss=loss))
    inputs, targets = left_padded_batch(8, MAX_LEN, seed=1)
    negatives = np.asarray(jax_losses.uniform_negatives(jax.random.PRNGKey(3),
                                                        jnp.asarray(targets), NUM_ITEMS))
    value, grads = jax.value_and_grad(_jax_loss, argnums=1)(
        model, params, jnp.asarray(inputs), jnp.asarray(targets), loss, jnp.asarray(negatives))

    reference.eval()
    users, items = reference(torch.from_numpy(inputs).long())
    torch_targets = torch.from_numpy(targets).long()
    if loss == "binary_cross_entropy":
        torch_value = torch_sasrec.binary_cross_entropy_with_negatives(
            users, items, torch_targets, torch.from_numpy(np.array(negatives)).long())
    else:
        torch_value = torch_sasrec.full_softmax_loss(users, items, torch_targets)
    torch_value.backward()
    assert abs(float(torch_value.detach()) - float(value)) < ATOL, (float(torch_value), float(value))
    assert float(value) > 0.1

    named = dict(reference.named_parameters())
    for path, gradient in torch_sasrec.flat_jax_parameters(jax.device_get(grads)).items():
        expected = gradient.T if path.endswith("kernel") else gradient
        np.testing.assert_allclose(named[torch_sasrec.torch_name(path)].grad.numpy(), expected,
                                   atol=ATOL, rtol=0, err_msg=path)


def test_uniform_negatives_as_recall_jax_draws_them():
    targets = torch.from_numpy(np.random.default_rng(0).integers(0, 6, (2000, 50))).long()
    negatives = torch_sasrec.uniform_negatives(targets, 5, torch.Generator().manual_seed(0))
    assert negatives.min() >= 1 and negatives.max() <= 5
    assert not torch.any((negatives == targets) & (targets != 0))
    # Given target t, each of the 4 other items has chance 1/4.
    chosen = negatives[targets == 3]
    shares = np.bincount(chosen.numpy(), minlength=6)[1:] / len(chosen)
    np.testing.assert_allclose(shares, [0.25, 0.25, 0, 0.25, 0.25], atol=0.02)


def test_dropout_probability_is_recall_jax_s():
    assert torch_sasrec.dropout_probability(0.2, "bytes") == 51 / 256
    assert torch_sasrec.dropout_probability(0.2, "bernoulli") == 0.2


def test_training_steps_agree():
    """Without dropout (the only randomness of a full-softmax step), a few AdamW steps with
    recall_jax's schedule, clipping and weight decay give the same parameters."""
    config = tiny_config(dropout_rate=0.0)
    config.optimizer.gradient_clip_norm = 0.5  # active: the gradients' norm is above it
    mesh = sharding.make_mesh(1, jax.devices()[:1])
    model = build_model(config.model, NUM_ITEMS)
    steps = 5
    optimizer = make_optimizer(config.optimizer, steps)
    state, shardings = create_train_state(model, optimizer, config, mesh,
                                          np.zeros((8, MAX_LEN), np.int32))
    step = make_train_step(model, jax_losses.full_softmax_loss, optimizer, shardings, mesh)
    reference = torch_sasrec.TorchSASRec(config.model, NUM_ITEMS)
    torch_sasrec.load_jax_parameters(reference, jax.device_get(state.params))
    trainer = torch_sasrec.TorchTrainer(reference, config.optimizer, "full_softmax", steps,
                                        threads=1)
    rates = torch_sasrec.learning_rates(config.optimizer, steps)
    assert rates[0] == 0.0 and rates[2] == pytest.approx(1e-2)
    with jax.set_mesh(mesh):
        for index in range(steps):
            inputs, targets = left_padded_batch(8, MAX_LEN, seed=10 + index)
            state, metrics = step(state, {"inputs": inputs, "targets": targets})
            torch_loss = trainer.train_step(inputs, targets)
            assert abs(float(torch_loss) - float(metrics["loss"])) < ATOL
            assert float(metrics["grad_norm"]) > config.optimizer.gradient_clip_norm
    named = dict(reference.named_parameters())
    moved = 0.0
    for path, value in torch_sasrec.flat_jax_parameters(jax.device_get(state.params)).items():
        expected = value.T if path.endswith("kernel") else value
        actual = named[torch_sasrec.torch_name(path)].detach().numpy()
        if path.endswith("qkv/bias"):
            # The key bias adds the same q.b to every score of a query: softmax ignores it, so
            # its true gradient is 0 and both sides hold rounding noise (~1e-9) that Adam's
            # normalisation turns into steps of +-learning_rate. It is compared loosely.
            dim = 16
            np.testing.assert_allclose(actual[dim:2 * dim], expected[dim:2 * dim], atol=0.05)
            actual, expected = np.delete(actual, np.s_[dim:2 * dim]), np.delete(
                expected, np.s_[dim:2 * dim])
        np.testing.assert_allclose(actual, expected, atol=1e-6, rtol=0, err_msg=path)
    for path, value in torch_sasrec.flat_jax_parameters(
            jax.device_get(create_train_state(model, optimizer, config, mesh,
                                              np.zeros((8, MAX_LEN), np.int32))[0].params)
    ).items():
        expected = value.T if path.endswith("kernel") else value
        moved = max(moved, float(np.abs(named[torch_sasrec.torch_name(path)].detach().numpy()
                                        - expected).max()))
    assert moved > 1e-3  # the steps did change the parameters


def test_reference_vectors_for_recall_jax_evaluation(sasrec_ml1m):
    """user_and_item_vectors: the last position's vector per validation user, as recall_jax's."""
    from recall_jax.data.splits import leave_one_out_split, take_prefixes
    from recall_jax.evaluation.model_evaluation import encode_users_and_items

    rows = np.arange(60)
    dataset = take_prefixes(sasrec_ml1m, rows, sasrec_ml1m.lengths[rows])
    validation = leave_one_out_split(dataset).validation
    config = sasrec_original.get_config()
    model = build_model(config.model, dataset.num_items)
    params = model.init(jax.random.PRNGKey(0), np.zeros((2, 200), np.int32))["params"]
    reference = torch_sasrec.TorchSASRec(config.model, dataset.num_items)
    torch_sasrec.load_jax_parameters(reference, params)
    users, items = encode_users_and_items(model, params, validation, 32, ())
    torch_users, torch_items = torch_sasrec.user_and_item_vectors(reference, validation, 32)
    assert torch_users.shape == (60, 50) and torch_items.shape == (dataset.num_items + 1, 50)
    np.testing.assert_allclose(torch_users, users, atol=ATOL, rtol=0)
    np.testing.assert_array_equal(torch_items, items)


# ----------------------------------------------------------------------------------------------
# The benchmark, end to end at a tiny size.
# ----------------------------------------------------------------------------------------------
def run_benchmark(tmp_path, data_root, *arguments: str) -> tuple[str, dict]:
    report = tmp_path / "throughput.json"
    command = [sys.executable, "scripts/benchmark_train_throughput.py", "--users", "200",
               "--epochs", "1", "--threads", "2", "--peak-size", "256", "--json", str(report),
               *arguments]
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECALL_JAX_DATA": str(data_root)}
    env.pop("XLA_FLAGS", None)
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished.stdout, json.loads(report.read_text())


def test_benchmark_prints_both_rates_and_their_ratio(tmp_path, data_root):
    stdout, report = run_benchmark(tmp_path, data_root, "--cases", "a", "--warmup-epochs", "0")
    assert "GFLOP/s" in stdout and "JAX/PyTorch" in stdout
    assert report["jax_devices"] == 2 and report["threads"] == 2
    assert set(report["peak_gflops_per_second"]) == {"numpy", "jax", "torch", "max"}
    (case,) = report["cases"]
    assert case["case"] == "original_fixed" and case["bucket_lengths"] == [200]
    assert case["sequences_per_epoch"] == 200 and case["batches_per_epoch"] == 2
    blocks = 2 * (4 * 50 + 50 * 150 + 150 + 3 * (50 * 50 + 50))
    assert case["parameters"] == (case["num_items"] + 2) * 50 + 200 * 50 + blocks + 2 * 50
    # 2 batches [128, 200], d = h = 50, 2 blocks, BCE: 3 F of the docstring.
    tokens = 2 * 128 * 200
    forward = 2 * (2 * tokens * 50 * (3 * 50 + 50 + 100) + 4 * tokens * 200 * 50) + 4 * tokens * 50
    assert case["flops_per_epoch"] == pytest.approx(3 * forward)
    for implementation in ("jax", "torch"):
        rates = case[implementation]["sequences_per_second"]
        assert 0 < rates["min"] <= rates["median"] <= rates["max"]
        assert case[implementation]["gflops_per_second"]["median"] > 0
        assert np.isfinite(case[implementation]["losses"]).all()
        assert f"{rates['median']:.1f}" in stdout
    ratio = case["ratio_jax_over_torch"]["of_medians"]
    assert ratio == pytest.approx(case["jax"]["sequences_per_second"]["median"]
                                  / case["torch"]["sequences_per_second"]["median"])
    assert f"JAX/PyTorch {ratio:.2f}" in stdout
    # The results page's table is computed from the same JSON.
    spec = importlib.util.spec_from_file_location("make_results_readme",
                                                  REPO / "scripts" / "make_results_readme.py")
    pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pages)
    section = pages.throughput_section(tmp_path / "throughput.json")
    row = next(line for line in section.splitlines() if line.startswith("| (a)"))
    jax_rate = case["jax"]["sequences_per_second"]
    assert f"| {jax_rate['median']:.1f} ({jax_rate['min']:.1f}-{jax_rate['max']:.1f}) |" in row
    assert f"| {ratio:.2f} (" in row and f"[200]; {100 * case['padding_share']:.0f}% |" in row
    assert report["command"].startswith("python scripts/benchmark_train_throughput.py --users 200")
    assert report["command"] in section


def test_default_batching_ratio_is_jax_buckets_over_torch_fixed():
    import benchmark_train_throughput as benchmark

    def case(name, jax_rate, torch_rate):
        return {"case": name, "jax": {"sequences_per_second": {"median": jax_rate}},
                "torch": {"sequences_per_second": {"median": torch_rate}}}

    fixed, buckets = case("original_fixed", 400.0, 480.0), case("original_buckets", 960.0, 800.0)
    assert benchmark.batching_ratio([fixed, buckets]) == pytest.approx(2.0)
    assert benchmark.batching_ratio([buckets]) is None


def test_benchmark_full_softmax_case_on_synthetic_data(tmp_path, data_root):
    stdout, report = run_benchmark(tmp_path, data_root, "--data", "synthetic", "--cases", "c",
                                   "--warmup-epochs", "0")
    (softmax,) = report["cases"]
    assert softmax["case"] == "chrono_softmax" and softmax["loss"] == "full_softmax"
    assert softmax["dataset"] == "synthetic" and softmax["num_items"] == 200
    assert softmax["bucket_lengths"] == [16, 32, 48, 64, 96, 128, 160, 200]
    assert softmax["model"]["embed_dim"] == 64 and softmax["model"]["mlp_ratio"] == 4
    for implementation in ("jax", "torch"):
        assert softmax[implementation]["sequences_per_second"]["median"] > 0
    assert "JAX/PyTorch" in stdout and "same_model" not in report


def test_benchmark_same_model_check_on_synthetic_data(tmp_path, data_root):
    stdout, report = run_benchmark(tmp_path, data_root, "--data", "synthetic", "--cases",
                                   "--same-model-epochs", "1", "--same-model-case", "c")
    assert report["cases"] == []
    same = report["same_model"]
    assert same["case"] == "chrono_softmax" and same["validation_users"] == 200
    assert len(same["losses"]["jax"]) == len(same["losses"]["torch"]) == 1
    for metric in ("NDCG@10", "HR@10"):
        entry = same["metrics"][metric]
        for implementation in ("jax", "torch"):
            low, high = entry[implementation]["ci95"]
            assert low <= entry[implementation]["value"] <= high
        difference, low, high = entry["difference_torch_minus_jax"]
        assert difference == pytest.approx(entry["torch"]["value"] - entry["jax"]["value"])
        assert low <= difference <= high
    assert "NDCG@10" in stdout and "PyTorch-JAX" in stdout


def test_benchmark_cases_batch_as_recall_jax_main(sasrec_ml1m, chrono_ml1m):
    """(a) fixed [128, 200]; (b) the config's buckets, derived from the lengths when empty, as
    recall_jax.main; (c) ml1m_chrono_sasrec's own buckets."""
    import benchmark_train_throughput as benchmark
    from recall_jax.data.pipeline import NextItemBatches

    args = benchmark.parse_args(["--users", "300"])
    datasets = {"ml-1m-sasrec": sasrec_ml1m, "ml-1m-chrono-all": chrono_ml1m}
    widths = {}
    for name, case in benchmark.CASES.items():
        config, dataset, split, batches = benchmark.case_data(case, args, datasets)
        assert dataset.num_users == 300 and dataset.num_items == datasets[config.data.name].num_items
        widths[name] = batches.bucket_lengths
        if name == "original_buckets":
            assert config.train.bucket_lengths == ()
            main_batches = NextItemBatches(split.train, 200, 128, config.seed,
                                           config.train.bucket_lengths)
            assert widths[name] == main_batches.bucket_lengths
    assert widths["original_fixed"] == (200,)
    assert len(widths["original_buckets"]) > 1
    assert widths["chrono_softmax"] == (16, 32, 48, 64, 96, 128, 160, 200)
    assert benchmark.case_name("a") == "original_fixed" and benchmark.case_name("c") == \
        "chrono_softmax"


def test_flop_count():
    """3 x the forward matrix products of the benchmark's docstring."""
    import benchmark_train_throughput as benchmark

    config = ml1m_chrono_sasrec.get_config()  # d = 64, h = 256, 2 blocks, full softmax
    b, length, d, h, n = 4, 10, 64, 256, 100
    per_block = (2 * b * length * d * 3 * d + 2 * b * length * d * d + 2 * 2 * b * length * d * h
                 + 2 * 2 * b * length * length * d)
    expected = 2 * per_block + 2 * b * length * d * n
    assert benchmark.forward_flops(b, length, config.model, n, "full_softmax") == expected
    bce = 2 * per_block + 4 * b * length * d
    assert benchmark.forward_flops(b, length, config.model, n, "binary_cross_entropy") == bce
    assert benchmark.train_flops([(b, length), (b, length)], config.model, n,
                                 "full_softmax") == 6 * expected
