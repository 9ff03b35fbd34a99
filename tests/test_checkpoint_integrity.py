"""Checkpoint integrity: manifests, falling back past corrupt or unfinished saves, and clear
errors for a corrupt best checkpoint or a checkpoint of another model size."""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import synthetic_tiny
from recall_jax.train import trainer
from recall_jax.train.checkpoints import (MANIFEST_NAME, CheckpointError, Checkpoints,
                                          verify_manifest)


def tiny_state(seed: int, embed_dim: int = 4) -> dict:
    keys = jax.random.split(jax.random.key(seed), 2)
    return {"params": {"embedding": jax.random.normal(keys[0], (6, embed_dim)),
                       "dense": {"kernel": jax.random.normal(keys[1], (embed_dim, 3)),
                                 "bias": jnp.arange(3, dtype=jnp.float32)}},
            "step": jnp.asarray(seed, jnp.int32)}


def abstract(state: dict):
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)


def tiny_config(embed_dim: int = 4) -> dict:
    return {"model": {"embed_dim": embed_dim, "num_blocks": 2}, "train": {"num_epochs": 3}}


def save_epochs(workdir: pathlib.Path, epochs=(0, 1), best=(), embed_dim: int = 4,
                config: dict | None = None) -> None:
    checkpoints = Checkpoints(workdir, keep=3,
                              config=tiny_config(embed_dim) if config is None else config)
    for epoch in epochs:
        checkpoints.save(epoch, tiny_state(epoch, embed_dim), {"next_epoch": epoch + 1},
                         epoch in best)
    checkpoints.close()


def restore_latest(workdir: pathlib.Path, embed_dim: int = 4):
    checkpoints = Checkpoints(workdir, keep=3, config=tiny_config(embed_dim))
    try:
        return checkpoints.restore_latest(abstract(tiny_state(0, embed_dim))), checkpoints
    finally:
        checkpoints.close()


def step_folder(workdir: pathlib.Path, step: int, kind: str = "latest") -> pathlib.Path:
    return workdir / "checkpoints" / kind / str(step)


def largest_file(folder: pathlib.Path) -> pathlib.Path:
    return max((p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME),
               key=lambda p: (p.stat().st_size, str(p)))


def flip_bytes(path: pathlib.Path, count: int = 64) -> None:
    data = bytearray(path.read_bytes())
    start = max(len(data) // 2 - count // 2, 0)
    for index in range(start, min(start + count, len(data))):
        data[index] ^= 0xFF
    path.write_bytes(bytes(data))


def assert_bit_identical(got, want) -> None:
    got_leaves, want_leaves = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for a, b in zip(got_leaves, want_leaves):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


def test_clean_restore_round_trips_bit_identically_and_every_step_has_a_manifest(tmp_path):
    save_epochs(tmp_path, epochs=(0, 1), best=(1,))
    for folder in (step_folder(tmp_path, 0), step_folder(tmp_path, 1),
                   step_folder(tmp_path, 1, "best")):
        manifest = verify_manifest(folder)
        listed = set(manifest["files"])
        on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.name != MANIFEST_NAME}
        assert listed == on_disk and listed
        assert manifest["config"]["model.embed_dim"] == 4
    (state, progress), checkpoints = restore_latest(tmp_path)
    assert_bit_identical(state, tiny_state(1))
    assert progress == {"next_epoch": 2}
    assert checkpoints.fallback_notes == []
    best = Checkpoints(tmp_path, config=tiny_config())
    try:
        best_state, _ = best.restore_best(abstract(tiny_state(0)))
    finally:
        best.close()
    assert_bit_identical(best_state, tiny_state(1))


def test_flipped_bytes_in_the_newest_checkpoint_fall_back_to_the_older_one(tmp_path, caplog):
    save_epochs(tmp_path, epochs=(0, 1))
    newest = step_folder(tmp_path, 1)
    corrupted = largest_file(newest)
    flip_bytes(corrupted)
    with caplog.at_level("WARNING"):
        (state, progress), checkpoints = restore_latest(tmp_path)
    assert_bit_identical(state, tiny_state(0))
    assert progress == {"next_epoch": 1}
    relative = corrupted.relative_to(newest).as_posix()
    [note] = checkpoints.fallback_notes
    assert f"checkpoint {newest} is corrupt: {relative} sha256 mismatch" in note
    assert f"falling back to {step_folder(tmp_path, 0)}" in note
    assert note in caplog.text
    # The invalid folder is set aside, so the resumed run can save that epoch again.
    assert not newest.exists()
    assert (tmp_path / "checkpoints" / "invalid" / "latest-1" / relative).is_file()
    checkpoints = Checkpoints(tmp_path, keep=3, config=tiny_config())
    checkpoints.save(1, tiny_state(1), {"next_epoch": 2}, False)
    assert checkpoints.restore_latest(abstract(tiny_state(0)))[1] == {"next_epoch": 2}
    checkpoints.close()


def test_saving_an_epoch_that_exists_replaces_it(tmp_path):
    # After a fallback, a best checkpoint beyond the resumed epoch is saved again.
    save_epochs(tmp_path, epochs=(0, 1), best=(1,))
    checkpoints = Checkpoints(tmp_path, keep=3, config=tiny_config())
    try:
        checkpoints.save(1, tiny_state(7), {"next_epoch": 2, "again": True}, True)
        state, progress = checkpoints.restore_best(abstract(tiny_state(0)))
    finally:
        checkpoints.close()
    assert_bit_identical(state, tiny_state(7))
    assert progress["again"]
    verify_manifest(step_folder(tmp_path, 1, "best"))


def test_a_truncated_file_falls_back_to_the_older_checkpoint(tmp_path):
    save_epochs(tmp_path, epochs=(0, 1, 2))
    newest = step_folder(tmp_path, 2)
    truncated = largest_file(newest)
    truncated.write_bytes(truncated.read_bytes()[:10])
    (state, _), checkpoints = restore_latest(tmp_path)
    assert_bit_identical(state, tiny_state(1))
    [note] = checkpoints.fallback_notes
    relative = truncated.relative_to(newest).as_posix()
    assert f"{newest} is corrupt: {relative} size mismatch (10 bytes," in note
    assert f"falling back to {step_folder(tmp_path, 1)}" in note


def test_a_step_without_a_manifest_is_an_unfinished_save_and_is_skipped(tmp_path):
    save_epochs(tmp_path, epochs=(0, 1, 2))
    (step_folder(tmp_path, 2) / MANIFEST_NAME).unlink()
    largest = largest_file(step_folder(tmp_path, 1))
    largest.unlink()  # and a missing file in the next one
    (state, _), checkpoints = restore_latest(tmp_path)
    assert_bit_identical(state, tiny_state(0))
    first, second = checkpoints.fallback_notes
    assert f"{step_folder(tmp_path, 2)} is incomplete: it has no {MANIFEST_NAME}" in first
    relative = largest.relative_to(step_folder(tmp_path, 1)).as_posix()
    assert f"{step_folder(tmp_path, 1)} is corrupt: {relative} is missing" in second
    assert all(f"falling back to {step_folder(tmp_path, 0)}" in n for n in (first, second))


def test_checkpoints_saved_before_manifests_still_restore_with_a_warning(tmp_path, caplog):
    save_epochs(tmp_path, epochs=(0, 1))
    for epoch in (0, 1):
        (step_folder(tmp_path, epoch) / MANIFEST_NAME).unlink()
    with caplog.at_level("WARNING"):
        (state, _), checkpoints = restore_latest(tmp_path)
    assert_bit_identical(state, tiny_state(1))
    assert checkpoints.fallback_notes == []
    assert "predates integrity manifests" in caplog.text


def test_no_valid_checkpoint_left_raises_naming_every_folder(tmp_path):
    save_epochs(tmp_path, epochs=(0, 1))
    flip_bytes(largest_file(step_folder(tmp_path, 1)))
    (step_folder(tmp_path, 0) / MANIFEST_NAME).unlink()
    with pytest.raises(CheckpointError) as raised:
        restore_latest(tmp_path)
    message = str(raised.value)
    assert f"{step_folder(tmp_path, 1)} is corrupt:" in message and "sha256 mismatch" in message
    assert f"{step_folder(tmp_path, 0)} is incomplete:" in message
    assert "new --workdir" in message and "falling back" not in message
    assert step_folder(tmp_path, 1).is_dir()  # nothing is moved when nothing can be resumed


def test_a_corrupt_best_checkpoint_raises_naming_folder_and_file(tmp_path):
    save_epochs(tmp_path, epochs=(0, 1), best=(0, 1))
    best = step_folder(tmp_path, 1, "best")
    corrupted = largest_file(best)
    flip_bytes(corrupted)
    checkpoints = Checkpoints(tmp_path, config=tiny_config())
    try:
        with pytest.raises(CheckpointError) as raised:
            checkpoints.restore_best(abstract(tiny_state(0)))
    finally:
        checkpoints.close()
    relative = corrupted.relative_to(best).as_posix()
    assert f"best checkpoint {best} is corrupt: {relative} sha256 mismatch" in str(raised.value)


def test_a_checkpoint_of_another_model_size_names_the_config_field(tmp_path):
    save_epochs(tmp_path, epochs=(0, 1), best=(1,), embed_dim=4)
    with pytest.raises(CheckpointError) as raised:
        restore_latest(tmp_path, embed_dim=8)
    message = str(raised.value)
    assert "model.embed_dim: saved 4, now 8" in message
    assert "params.embedding: saved (6, 4), now (6, 8)" in message
    assert "new --workdir" in message and "fall back" not in message
    # Not treated as corruption: nothing was skipped or moved.
    assert step_folder(tmp_path, 1).is_dir() and not (tmp_path / "checkpoints" / "invalid").exists()
    checkpoints = Checkpoints(tmp_path, config=tiny_config(8))
    try:
        with pytest.raises(CheckpointError, match="model.embed_dim: saved 4, now 8"):
            checkpoints.restore_best(abstract(tiny_state(0, embed_dim=8)))
    finally:
        checkpoints.close()


def test_another_model_size_is_named_from_config_json_when_the_checkpoint_has_no_config(tmp_path):
    save_epochs(tmp_path, epochs=(0,), config={})
    (tmp_path / "config.json").write_text(json.dumps(tiny_config(4)))
    with pytest.raises(CheckpointError, match=r"config\.json: model\.embed_dim: saved 4, now 8"):
        restore_latest(tmp_path, embed_dim=8)


# ----------------------------------------------------------------------------------------------
# End to end: a crashed run whose newest checkpoint is corrupt resumes from the older one and
# ends exactly like an uninterrupted run.
# ----------------------------------------------------------------------------------------------
def small_config(num_epochs: int):
    """The tiny synthetic config cut to what compiles fastest: one block, one bucket."""
    config = synthetic_tiny.get_config()
    config.data.synthetic.num_users = 200
    config.data.synthetic.num_items = 60
    config.model.num_blocks = 1
    config.model.embed_dim = 16
    config.train.bucket_lengths = (32,)
    config.train.num_epochs = num_epochs
    config.train.log_every_steps = 1
    config.eval.bootstrap_resamples = 100
    return config


def test_a_run_resumes_past_a_corrupt_newest_checkpoint_and_matches_an_uninterrupted_run(
        tmp_path, monkeypatch, caplog):
    uninterrupted = trainer.train_and_evaluate(small_config(4), tmp_path / "straight")

    original_save = Checkpoints.save

    def save_then_crash(self, epoch, state, progress, is_best):
        original_save(self, epoch, state, progress, is_best)
        if epoch == 2:
            raise KeyboardInterrupt("simulated crash after epoch 2")

    workdir = tmp_path / "crashed"
    monkeypatch.setattr(Checkpoints, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(small_config(4), workdir)  # 3 of 4 epochs
    monkeypatch.setattr(Checkpoints, "save", original_save)
    newest = step_folder(workdir, 2)
    flip_bytes(largest_file(newest))

    with caplog.at_level("WARNING"):
        resumed = trainer.train_and_evaluate(small_config(4), workdir)

    assert f"checkpoint {newest} is corrupt" in caplog.text
    assert f"falling back to {step_folder(workdir, 1)}" in caplog.text
    last = json.loads((step_folder(workdir, 3) / "progress" / "metadata").read_text())
    [note] = last["checkpoint_fallbacks"]
    assert f"checkpoint {newest} is corrupt" in note
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in uninterrupted["history"]]
    assert resumed["best_epoch"] == uninterrupted["best_epoch"]
    assert resumed["rows"] == uninterrupted["rows"]
    summary = json.loads((workdir / "run_summary.json").read_text())
    assert summary["checkpoint_fallbacks"] == last["checkpoint_fallbacks"]
    assert "Resumed past 1 invalid checkpoint(s)" in (workdir / "results.md").read_text()
