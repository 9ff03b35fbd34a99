"""Training loop: data -> mesh -> model & optimizer -> sharded state -> step -> checkpoints -> evals."""

from __future__ import annotations

import contextlib
import json
import math
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from etils import epath
from tqdm import tqdm

from recall_jax import distributed, paths
from recall_jax.train.config_validation import validate_config
from recall_jax.data.cold_start import cold_start_split
from recall_jax.data.pipeline import NextItemBatches
from recall_jax.data.registry import load_dataset, split_dataset
from recall_jax.errors import RecallJaxError, RunFolderError
from recall_jax.evaluation.model_evaluation import evaluate_model
from recall_jax.models import build_model
from recall_jax.models.objectives import implied_objective
from recall_jax.text.item_text_vectors import item_text_vectors_for
from recall_jax.core import sharding
from recall_jax.train.checkpoints import Checkpoints
from recall_jax.train.losses import make_loss
from recall_jax.train.metric_writer import MetricWriter
from recall_jax.train.optimizer import make_optimizer
from recall_jax.train.run_report import final_report
from recall_jax.train.workdir import WorkdirLock, check_workdir


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array  # raw uint32 key data of config.train.prng_impl (plain arrays checkpoint)


class NonFiniteLossError(RecallJaxError, FloatingPointError):
    """Training produced a NaN/inf loss; the last saved checkpoint is left untouched."""


# ----------------------------------------------------------------------------------------------
# Model, optimizer and sharded state.
# ----------------------------------------------------------------------------------------------
def run_key_data(config: ml_collections.ConfigDict) -> jax.Array:
    """The run's root key from config.seed, as raw uint32 data of config.train.prng_impl."""
    return jax.random.PRNGKey(config.seed, impl=config.train.prng_impl)


def _state_initializer(model, optimizer, config, mesh, example_inputs: np.ndarray):
    """(init(run_key_data) -> TrainState, the state's shapes, a NamedSharding per leaf)."""
    prng_impl = config.train.prng_impl

    def init(key_data):
        rng = jax.random.wrap_key_data(key_data, impl=prng_impl)
        params_rng, state_rng = jax.random.split(rng)
        times = jnp.zeros(example_inputs.shape, jnp.int32) if model.uses_times else None
        params = model.init(params_rng, jnp.asarray(example_inputs), times=times)["params"]
        return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                          opt_state=optimizer.init(params), rng=jax.random.key_data(state_rng))

    abstract = jax.eval_shape(init, run_key_data(config))
    return init, abstract, sharding.tree_shardings(abstract, mesh, config.mesh.parameter_rules,
                                                  config.mesh.replicate_unsplittable)


def create_train_state(model, optimizer, config, mesh, example_inputs: np.ndarray):
    """Parameters created already sharded: shapes from eval_shape, then jit(init, out_shardings)."""
    init, _, shardings = _state_initializer(model, optimizer, config, mesh, example_inputs)
    with jax.set_mesh(mesh):
        state = jax.jit(init, out_shardings=shardings)(run_key_data(config))
    return state, shardings


def sharded_abstract_state(state_like: Any, shardings: Any) -> Any:
    """ShapeDtypeStructs carrying their shardings: the target orbax restores into."""
    return jax.tree.map(
        lambda leaf, s: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=s),
        state_like, shardings)


def make_train_step(model, loss_fn, optimizer, state_shardings, mesh,
                    excluded_items: np.ndarray | None = None, prng_impl: str = "threefry2x32"):
    """jit-ted update: dropout, negatives and cloze masks drawn from fold_in(state.rng, step)
    (so a resumed run draws the same ones). excluded_items (bool [num_items + 1]) are kept out
    of every training softmax (cold-start items that do not exist yet at training time).
    prng_impl: the PRNG of state.rng's key data (config.train.prng_impl)."""
    exclusion_bias = None
    if excluded_items is not None:
        exclusion_bias = jnp.where(jnp.asarray(excluded_items), -1e4, 0.0)[:, None]
    def train_step(state: TrainState, batch: dict[str, jax.Array]):
        rng = jax.random.wrap_key_data(state.rng, impl=prng_impl)
        step_rng = jax.random.fold_in(rng, state.step)
        dropout_rng, loss_rng = jax.random.split(step_rng)

        inputs, targets = batch["inputs"], batch["targets"]
        objective_rng = None
        if model.objective.draws_randomness:  # e.g. the cloze objective's masks
            loss_rng, objective_rng = jax.random.split(loss_rng)
        inputs, targets = model.objective.training_batch(inputs, targets, objective_rng,
                                                         model.num_items)

        def objective(params):
            users, items = model.apply({"params": params}, inputs, deterministic=False,
                                       times=batch.get("times"), rngs={"dropout": dropout_rng})
            if exclusion_bias is not None:
                # An extra dimension: users carry 1, excluded items -1e4, so their logits vanish.
                users = jnp.concatenate([users, jnp.ones(users.shape[:-1] + (1,))], axis=-1)
                items = jnp.concatenate([items, exclusion_bias.astype(items.dtype)], axis=-1)
            return loss_fn(users, items, targets, loss_rng)

        loss, grads = jax.value_and_grad(objective)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return new_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

    batch_sharding = sharding.batch_sharding(mesh)
    batch_keys = ("inputs", "targets") + (("times",) if model.uses_times else ())
    return jax.jit(train_step, donate_argnums=0,
                   in_shardings=(state_shardings, {key: batch_sharding for key in batch_keys}),
                   out_shardings=(state_shardings, sharding.replicated(mesh)))


def item_log_probability(train_items: np.ndarray, num_items: int) -> np.ndarray:
    """log of each item's share of training events [num_items + 1] (padding and unseen: tiny)."""
    counts = np.bincount(train_items, minlength=num_items + 1).astype(np.float64)
    counts[0] = 0.0
    probability = counts / max(counts.sum(), 1.0)
    return np.log(np.maximum(probability, 1e-12)).astype(np.float32)


def evaluations_since_best(progress: dict) -> int:
    """How many validation evaluations came after the best one (for early stopping)."""
    evaluated = [r["epoch"] for r in progress["history"]
                 if any(key.startswith("validation/") for key in r)]
    return sum(1 for epoch in evaluated if epoch > progress["best_epoch"])


def wall_clock_limit_reached(progress: dict, max_train_minutes: float) -> bool:
    """Whether the optional safety limit (training, validation and checkpointing together) is
    spent; 0 means no limit."""
    return max_train_minutes > 0 and progress["wall_seconds"] >= 60 * max_train_minutes


def load_run_config(workdir: epath.PathLike) -> ml_collections.ConfigDict:
    """The config a finished run in `workdir` was trained with (its config.json)."""
    path = paths.as_path(workdir) / "config.json"
    if not path.is_file():
        raise RunFolderError(f"{path} not found: {workdir} is not a recall_jax run folder ; "
                             "give the --workdir of a run of python -m recall_jax.main")
    try:
        saved = json.loads(path.read_text())
    except ValueError as error:
        raise RunFolderError(f"{path}: not valid JSON ({error}) ; the run folder is damaged"
                             ) from None
    # Fields added since the run was made take the value that reproduces the old behaviour:
    # their default, or the one in BEFORE_FIELD_EXISTED where the default has changed since.
    from experiments.configs import default  # noqa: PLC0415
    config = default.get_config()
    with config.unlocked():
        for (section, name), value in BEFORE_FIELD_EXISTED.items():
            config[section][name] = value
    _merge(config, saved)
    if "objective" not in saved.get("model", {}):
        with config.unlocked():
            config.model.objective = implied_objective(config.model.name)
    return config


# (section, field) -> the behaviour of runs saved before the field was added.
BEFORE_FIELD_EXISTED = {("model", "attention_implementation"): "einsum"}


def _merge(config: ml_collections.ConfigDict, saved: dict) -> None:
    with config.unlocked():
        for name, value in saved.items():
            declared = config[name] if name in config else None
            if isinstance(value, dict) and isinstance(declared, ml_collections.ConfigDict):
                _merge(declared, value)
            else:
                config[name] = _as_tuples(value)


def _as_tuples(value):
    """JSON lists back to the tuples the config declares."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


def write_run_config(config: ml_collections.ConfigDict, workdir: epath.PathLike) -> None:
    """<workdir>/config.json, replaced atomically."""
    paths.write_text_atomically(paths.as_path(workdir) / "config.json",
                                config.to_json_best_effort(indent=2))


# ----------------------------------------------------------------------------------------------
# The whole run.
# ----------------------------------------------------------------------------------------------
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: epath.PathLike) -> dict:
    """Trains, keeps the best epoch by validation NDCG@10, reports test there. Returns the report."""
    started = time.perf_counter()
    # Everything that can be checked before a file is written: config, workdir, data.
    validate_config(config, jax.device_count())
    distributed.check_mesh_layout(config.mesh.model_parallelism)
    workdir = check_workdir(workdir)
    is_chief = jax.process_index() == 0
    logging.info("devices: %s", jax.devices())
    dataset = load_dataset(config.data)
    split, cold_items = split_with_cold_start(dataset, config)
    with WorkdirLock(workdir) if is_chief else contextlib.nullcontext():
        return _train_in_workdir(config, workdir, dataset, split, cold_items, started)


def _train_in_workdir(config: ml_collections.ConfigDict, workdir: epath.Path, dataset, split,
                      cold_items: np.ndarray | None, started: float) -> dict:
    """train_and_evaluate once the config is valid, the data read and the workdir held."""
    is_chief = jax.process_index() == 0
    batches = NextItemBatches(split.train, config.model.max_len, config.train.batch_size,
                              config.seed, config.train.bucket_lengths,
                              jax.process_index(), jax.process_count(),
                              with_times=config.model.time_buckets > 0)
    steps_per_epoch = batches.num_batches()
    total_steps = steps_per_epoch * config.train.num_epochs
    logging.info("%s: %d users, %d items, %d events; %d training sequences, %d steps/epoch; "
                 "batch widths %s (%.1f%% of tokens are padding)", dataset.name,
                 dataset.num_users, dataset.num_items, dataset.num_events, batches.num_sequences,
                 steps_per_epoch, batches.bucket_lengths, 100 * batches.padding_share)

    # Mesh, model, optimizer, sharded state.
    mesh = sharding.make_mesh(config.mesh.model_parallelism)
    text_vectors = item_text_vectors_for(config, dataset, workdir)
    model = build_model(config.model, dataset.num_items, text_vectors,
                        table_rows_multiple=config.mesh.model_parallelism)
    optimizer = make_optimizer(config.optimizer, total_steps)
    loss_fn = make_loss(config.loss, jnp.asarray(
        item_log_probability(split.train.items, dataset.num_items)))
    example = np.zeros((config.train.batch_size, config.model.max_len), np.int32)
    state, state_shardings = create_train_state(model, optimizer, config, mesh, example)
    train_step = make_train_step(model, loss_fn, optimizer, state_shardings, mesh,
                                 cold_items, config.train.prng_impl)
    abstract_state = sharded_abstract_state(state, state_shardings)

    # Checkpoints: resume when the workdir has one.
    checkpoints = Checkpoints(workdir, keep=config.train.checkpoints_to_keep, config=config)
    with contextlib.closing(checkpoints):  # also on errors: orbax's threads end cleanly
        progress = {"next_epoch": 0, "best_epoch": -1, "best_metric": -math.inf, "history": [],
                    "train_seconds": 0.0, "wall_seconds": 0.0, "truncated": False}
        restored = checkpoints.restore_latest(abstract_state)
        if restored is not None:
            state, saved_progress = restored
            progress.update(saved_progress)
            progress["truncated"] = False  # decided anew by this invocation's limit
            if checkpoints.fallback_notes:  # newer invalid checkpoints were skipped (and logged)
                progress["checkpoint_fallbacks"] = (
                    list(progress.get("checkpoint_fallbacks", [])) + checkpoints.fallback_notes)
            logging.info("resumed from epoch %d", progress["next_epoch"] - 1)
        # Written only once the workdir's checkpoints (if any) fit this config.
        if is_chief:
            write_run_config(config, workdir)

        writer = MetricWriter(workdir, enabled=is_chief)
        selection_metric = config.train.selection_metric
        epochs_without_gain = evaluations_since_best(progress)

        # Loop.
        for epoch in range(progress["next_epoch"], config.train.num_epochs):
            if epochs_without_gain >= config.train.early_stopping_patience:
                logging.info("early stop: no validation gain for %d evaluations",
                             epochs_without_gain)
                break
            if wall_clock_limit_reached(progress, config.train.max_train_minutes):
                # A safety stop only: the model now depends on the machine's speed, and every
                # output of the run says so.
                logging.warning("stop: wall-clock safety limit of %.0f min reached; the run is "
                                "marked truncated", config.train.max_train_minutes)
                progress["truncated"] = True
                break
            epoch_start = time.perf_counter()
            losses = []
            bar = tqdm(batches.epoch(epoch), total=steps_per_epoch, desc=f"epoch {epoch}",
                       disable=not (is_chief and config.train.progress_bar), leave=False)
            sequences = 0
            with jax.set_mesh(mesh):
                for index, batch in enumerate(bar):
                    state, step_metrics = train_step(state, sharding.global_batch(batch, mesh))
                    losses.append(step_metrics["loss"])
                    sequences += config.train.batch_size
                    every = config.train.log_every_steps
                    if (index + 1) % every == 0 or index + 1 == steps_per_epoch:
                        recent = float(np.mean(jax.device_get(losses[-every:])))
                        if not math.isfinite(recent):
                            raise NonFiniteLossError(
                                f"loss became {recent} at epoch {epoch}, step "
                                f"{int(state.step)}; the last good checkpoint in "
                                f"{checkpoints.root} is untouched. Lower "
                                "optimizer.learning_rate or check the data.")
                        rate = sequences / (time.perf_counter() - epoch_start)
                        bar.set_postfix(loss=f"{recent:.4f}", seq_per_s=f"{rate:.0f}")
                        writer.write(int(state.step), {"train/loss": recent,
                                                       "train/sequences_per_second": rate})
            epoch_seconds = time.perf_counter() - epoch_start
            progress["train_seconds"] += epoch_seconds
            record = {"epoch": epoch, "loss": float(np.mean(jax.device_get(losses))),
                      "seconds": epoch_seconds, "train_step_seconds": epoch_seconds}

            is_last = epoch + 1 == config.train.num_epochs
            is_best = False
            if (epoch + 1) % config.train.eval_every_epochs == 0 or is_last:
                validation_start = time.perf_counter()
                metrics, _ = evaluate_model(model, state.params, split.validation, config.eval,
                                            config.train.bucket_lengths, mesh)
                record["validation_seconds"] = time.perf_counter() - validation_start
                record.update({f"validation/{k}": v for k, v in metrics.items()})
                is_best = metrics[selection_metric] > progress["best_metric"]
                if is_best:
                    progress["best_metric"] = metrics[selection_metric]
                    progress["best_epoch"] = epoch
                    epochs_without_gain = 0
                else:
                    epochs_without_gain += 1
                writer.write(int(state.step), {f"validation/{k}": v for k, v in metrics.items()
                                               if k != "num_users"})
                logging.info("epoch %d: loss %.4f, validation %s %.4f (best %.4f at epoch %d), "
                             "%.1fs training steps + %.1fs validation",
                             epoch, record["loss"], selection_metric, metrics[selection_metric],
                             progress["best_metric"], progress["best_epoch"], epoch_seconds,
                             record["validation_seconds"])
            progress["history"].append(record)
            progress["next_epoch"] = epoch + 1
            checkpoint_start = time.perf_counter()
            # wall_seconds includes this epoch's checkpoint: saved with the progress below,
            # its own duration is added to the record (and the total) once it is written.
            progress["wall_seconds"] += checkpoint_start - epoch_start
            checkpoints.save(epoch, state, progress, is_best)
            record["checkpoint_seconds"] = time.perf_counter() - checkpoint_start
            progress["wall_seconds"] += record["checkpoint_seconds"]

        # Final report at the best validation epoch.
        restored_best = checkpoints.restore_best(abstract_state)
        best_state = restored_best[0] if restored_best is not None else state
        report = final_report(config, model, best_state.params, split, dataset, progress,
                              workdir, mesh, started, cold_items, text_vectors)
        writer.close()
        return report


def split_with_cold_start(dataset, config):
    """(split, items excluded from training or None): leave-one-out / temporal as configured,
    with config.data.cold_start_share of the items held out when it is > 0."""
    split = split_dataset(dataset, config.data)
    share = config.data.cold_start_share
    if not share:
        return split, None
    cold = cold_start_split(split, share, config.data.cold_start_seed)
    return cold.split, cold.cold_items


def restore_best_params(config: ml_collections.ConfigDict, workdir: epath.PathLike,
                        dataset):
    """(model, parameters at the best validation epoch, mesh) of a finished run in `workdir`."""
    mesh = sharding.make_mesh(config.mesh.model_parallelism)
    model = build_model(config.model, dataset.num_items,
                        item_text_vectors_for(config, dataset, workdir),
                        table_rows_multiple=config.mesh.model_parallelism)
    # Optimizer state shapes do not depend on the schedule length.
    optimizer = make_optimizer(config.optimizer, total_steps=1)
    example = np.zeros((config.train.batch_size, config.model.max_len), np.int32)
    # Shapes only: the parameters come from the checkpoint, nothing is initialised.
    _, abstract, shardings = _state_initializer(model, optimizer, config, mesh, example)
    abstract_state = sharded_abstract_state(abstract, shardings)
    checkpoints = Checkpoints(workdir, keep=config.train.checkpoints_to_keep, config=config)
    try:
        restored = checkpoints.restore_best(abstract_state)
    finally:
        checkpoints.close()
    if restored is None:
        raise RunFolderError(f"{paths.as_path(workdir) / 'checkpoints' / 'best'} holds no "
                             "checkpoint ; train first (python -m recall_jax.main ...)")
    return model, restored[0].params, mesh
