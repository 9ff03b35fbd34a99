"""The training loop end to end on synthetic data: learning, resuming, bad states, sharding."""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments.configs import synthetic_tiny
from recall_jax.train import trainer
from recall_jax.train.checkpoints import CheckpointError, Checkpoints

REPO = pathlib.Path(__file__).resolve().parents[1]


def small_config(num_epochs: int = 3):
    """The tiny synthetic config, cut further so a run takes seconds."""
    config = synthetic_tiny.get_config()
    config.data.synthetic.num_users = 200
    config.data.synthetic.num_items = 60
    config.train.num_epochs = num_epochs
    config.train.log_every_steps = 1
    return config


def row(report: dict, model: str, split: str) -> dict:
    return next(r for r in report["rows"] if r["model"] == model and r["split"] == split)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    report = trainer.train_and_evaluate(synthetic_tiny.get_config(), workdir)
    return report, workdir


def test_tiny_run_beats_popularity_on_planted_tastes(tiny_run):
    report, _ = tiny_run
    model, popularity = row(report, "sasrec", "test"), row(report, "popularity", "test")
    assert model["NDCG@10"] > popularity["NDCG@10"] + 0.05, (model, popularity)
    assert model["HR@10"] > popularity["HR@10"], (model, popularity)
    losses = [record["loss"] for record in report["history"]]
    assert losses[-1] < losses[0] - 0.3  # it learned, not just drifted


def test_tiny_run_writes_table_json_history_and_metrics(tiny_run):
    report, workdir = tiny_run
    results = json.loads((workdir / "results.json").read_text())
    assert {(r["model"], r["split"]) for r in results["rows"]} == {
        (m, s) for m in ("sasrec", "popularity") for s in ("validation", "test")}
    for result_row in results["rows"]:  # every metric has an interval around its value
        for metric, (low, high) in result_row["ci95"].items():
            assert low <= result_row[metric] <= high, (metric, result_row)
    assert [(d["model"], d["split"], d["reference"]) for d in results["differences"]] == [
        ("sasrec", "validation", "popularity"), ("sasrec", "test", "popularity")]
    table = (workdir / "results.md").read_text()
    assert "NDCG@10" in table and "seen items excluded" in table
    assert "of test targets" in table and "repeat a history item" in table
    ranks = np.load(workdir / "per_user_ranks.npz")
    test_row = row(report, "sasrec", "test")
    assert np.mean((ranks["test|sasrec"] >= 0) & (ranks["test|sasrec"] < 10)) == \
        pytest.approx(test_row["HR@10"])
    assert len(ranks["test|users"]) == test_row["num_users"]
    history = json.loads((workdir / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(len(report["history"])))
    assert report["best_epoch"] == max(range(len(history)),
                                       key=lambda e: history[e]["validation/NDCG@10"])
    assert (workdir / "metrics.jsonl").stat().st_size > 0
    assert any((workdir / "tensorboard").iterdir())
    # The time of each epoch, split into training steps, validation and checkpointing.
    assert all(h["train_step_seconds"] > 0 and h["validation_seconds"] > 0
               and h["checkpoint_seconds"] > 0 for h in history)
    breakdown = json.loads((workdir / "run_summary.json").read_text())["epoch_time_breakdown"]
    assert breakdown["validation_seconds"] == pytest.approx(
        float(np.median([h["validation_seconds"] for h in history])))
    assert 0 < breakdown["validation_share"] < 1
    assert (f"Time per epoch (median, this machine): training steps "
            f"{breakdown['train_step_seconds']:.1f} s, validation") in table


def test_wall_clock_safety_stop_marks_the_run_truncated(tmp_path):
    config = small_config(num_epochs=3)
    config.train.max_train_minutes = 1e-6  # spent by the first epoch
    report = trainer.train_and_evaluate(config, tmp_path)
    assert report["truncated"] and report["epochs_run"] == 1
    assert "TRUNCATED" in (tmp_path / "results.md").read_text()
    assert json.loads((tmp_path / "run_summary.json").read_text())["truncated"] is True
    finished = trainer.train_and_evaluate(small_config(num_epochs=3), tmp_path)  # no limit
    assert not finished["truncated"] and finished["epochs_run"] == 3
    assert "TRUNCATED" not in (tmp_path / "results.md").read_text()


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    uninterrupted = trainer.train_and_evaluate(small_config(), tmp_path / "straight")

    original_save = Checkpoints.save

    def save_then_crash(self, epoch, state, progress, is_best):
        original_save(self, epoch, state, progress, is_best)
        if epoch == 1:
            raise KeyboardInterrupt("simulated crash after epoch 1")

    monkeypatch.setattr(Checkpoints, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(small_config(), tmp_path / "crashed")
    monkeypatch.setattr(Checkpoints, "save", original_save)
    resumed = trainer.train_and_evaluate(small_config(), tmp_path / "crashed")

    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in uninterrupted["history"]]
    for model in ("sasrec", "popularity"):
        for split in ("validation", "test"):
            got, want = row(resumed, model, split), row(uninterrupted, model, split)
            assert got == want, (model, split)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path):
    trainer.train_and_evaluate(small_config(num_epochs=1), tmp_path)
    config = small_config(num_epochs=3)
    config.optimizer.learning_rate = 1e36  # diverges within a few steps
    config.optimizer.warmup_steps = 0
    with pytest.raises(trainer.NonFiniteLossError, match=r"loss became (nan|inf) at epoch 1"):
        trainer.train_and_evaluate(config, tmp_path)
    latest = sorted(p.name for p in (tmp_path / "checkpoints" / "latest").iterdir()
                    if p.name.isdigit())
    assert latest == ["0"]  # the good epoch-0 checkpoint is still the newest


def test_corrupt_checkpoint_raises_checkpoint_error_naming_the_folder(tmp_path):
    trainer.train_and_evaluate(small_config(num_epochs=1), tmp_path)
    state_folder = tmp_path / "checkpoints" / "latest" / "0" / "state"
    files = [p for p in state_folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        path.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"checkpoints/latest/0"):
        trainer.train_and_evaluate(small_config(num_epochs=2), tmp_path)


SHARDED_RUN = """
import json, sys
import jax
from experiments.configs import synthetic_tiny
from recall_jax.train import trainer
config = synthetic_tiny.get_config()
config.data.synthetic.num_users, config.data.synthetic.num_items = 200, 60
config.train.num_epochs = 2
config.mesh.model_parallelism = int(sys.argv[1])
report = trainer.train_and_evaluate(config, sys.argv[2])
print(json.dumps({"devices": jax.device_count(),
                  "losses": [h["loss"] for h in report["history"]],
                  "ndcg": [r["NDCG@10"] for r in report["rows"] if r["model"] == "sasrec"]}))
"""


def run_with_devices(count: int, model_parallelism: int, workdir: pathlib.Path) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}",
               JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", SHARDED_RUN, str(model_parallelism), str(workdir)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_eight_device_mesh_trains_like_one_device(tmp_path):
    one = run_with_devices(1, 1, tmp_path / "one")
    eight = run_with_devices(8, 2, tmp_path / "eight")  # 4-way data x 2-way model (item table)
    assert (one["devices"], eight["devices"]) == (1, 8)
    # Same data, same random draws: only the order of floating-point reductions differs.
    np.testing.assert_allclose(eight["losses"], one["losses"], rtol=2e-3)
    np.testing.assert_allclose(eight["ndcg"], one["ndcg"], atol=0.02)
    assert all(math.isfinite(x) for x in eight["losses"])


ITEM_TABLE_PLACEMENT = """
import json
import jax, numpy as np
from experiments.configs import synthetic_tiny
from recall_jax.models import build_model
from recall_jax.core import sharding
from recall_jax.train import trainer
from recall_jax.train.optimizer import make_optimizer
config = synthetic_tiny.get_config()
config.data.synthetic.num_items = 60  # item table: 62 rows, split 2 ways over "model"
config.mesh.model_parallelism = 2
mesh = sharding.make_mesh(config.mesh.model_parallelism)
model = build_model(config.model, 60)
example = np.zeros((8, config.model.max_len), np.int32)
state, _ = trainer.create_train_state(model, make_optimizer(config.optimizer, 10), config, mesh,
                                      example)
table = state.params["item_embedding"]["embedding"]
dense = state.params["encoder"]["block_0"]["mlp"]["expand"]["kernel"]
print(json.dumps({"mesh": dict(mesh.shape), "table": list(table.shape),
                  "table_spec": str(table.sharding.spec),
                  "table_shards": sorted({tuple(s.data.shape) for s in table.addressable_shards}),
                  "dense_spec": str(dense.sharding.spec)}))
"""


def test_item_table_rows_are_split_over_the_model_axis_of_an_eight_device_mesh():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", ITEM_TABLE_PLACEMENT], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    placed = json.loads(done.stdout.strip().splitlines()[-1])
    assert placed["mesh"] == {"data": 4, "model": 2}
    assert placed["table_spec"] == str(jax.sharding.PartitionSpec("model", None))
    rows, dimension = placed["table"]
    assert placed["table_shards"] == [[rows // 2, dimension]]  # each device holds half the rows
    assert placed["dense_spec"] == str(jax.sharding.PartitionSpec())


def test_rbg_prng_runs_are_deterministic_resumable_and_differ_from_threefry(tmp_path,
                                                                             monkeypatch):
    """train.prng_impl="rbg": two runs give identical losses, a run resumed from its orbax
    checkpoint (rbg key data in TrainState.rng) continues exactly, and the draws are not
    threefry's."""
    def config(num_epochs: int, prng_impl: str = "rbg"):
        config = small_config(num_epochs)
        config.train.prng_impl = prng_impl
        return config

    def losses(report: dict) -> list[float]:
        return [h["loss"] for h in report["history"]]

    first = losses(trainer.train_and_evaluate(config(2), tmp_path / "first"))
    second = losses(trainer.train_and_evaluate(config(2), tmp_path / "second"))
    assert first == second and all(math.isfinite(x) for x in first)
    original_save = Checkpoints.save

    def save_then_crash(self, epoch, state, progress, is_best):
        original_save(self, epoch, state, progress, is_best)
        raise KeyboardInterrupt("simulated crash after the first checkpoint")

    monkeypatch.setattr(Checkpoints, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(config(2), tmp_path / "resumed")
    monkeypatch.setattr(Checkpoints, "save", original_save)
    assert losses(trainer.train_and_evaluate(config(2), tmp_path / "resumed")) == first
    threefry = losses(trainer.train_and_evaluate(config(2, "threefry2x32"), tmp_path / "fry"))
    assert threefry != first
