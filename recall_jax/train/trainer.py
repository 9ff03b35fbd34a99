"""Training loop: data -> mesh -> model & optimizer -> sharded state -> step -> checkpoints -> evals."""

from __future__ import annotations

import json
import math
import pathlib
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import logging
from tqdm import tqdm

from recall_jax.data.pipeline import NextItemBatches
from recall_jax.data.registry import load_dataset, split_dataset
from recall_jax.evaluation.model_evaluation import evaluate_model, evaluate_vectors
from recall_jax.evaluation.report import write_report
from recall_jax.models import build_model
from recall_jax.retrieval.baselines import content_similarity_ranking, popularity_ranking
from recall_jax.evaluation.metrics import ranking_metrics
from recall_jax.train import sharding
from recall_jax.data.cold_start import cold_start_split
from recall_jax.evaluation.full_ranking import RankingResult
from recall_jax.text.item_text_vectors import item_text_vectors_for
from recall_jax.train.checkpoints import Checkpoints
from recall_jax.train.cloze import cloze_batch, mask_token
from recall_jax.train.losses import make_loss
from recall_jax.train.metric_writer import MetricWriter
from recall_jax.train.optimizer import make_optimizer


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss; the last saved checkpoint is left untouched."""


# ----------------------------------------------------------------------------------------------
# Model, optimizer and sharded state.
# ----------------------------------------------------------------------------------------------
def _state_initializer(model, optimizer, config, mesh, example_inputs: np.ndarray):
    """(init(rng) -> TrainState, the state's shapes, a NamedSharding per leaf)."""
    def init(rng):
        params_rng, state_rng = jax.random.split(rng)
        params = model.init(params_rng, jnp.asarray(example_inputs))["params"]
        return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                          opt_state=optimizer.init(params), rng=state_rng)

    abstract = jax.eval_shape(init, jax.random.PRNGKey(config.seed))
    return init, abstract, sharding.tree_shardings(abstract, mesh, config.mesh.parameter_rules)


def create_train_state(model, optimizer, config, mesh, example_inputs: np.ndarray):
    """Parameters created already sharded: shapes from eval_shape, then jit(init, out_shardings)."""
    init, _, shardings = _state_initializer(model, optimizer, config, mesh, example_inputs)
    with jax.set_mesh(mesh):
        state = jax.jit(init, out_shardings=shardings)(jax.random.PRNGKey(config.seed))
    return state, shardings


def sharded_abstract_state(state_like: Any, shardings: Any) -> Any:
    """ShapeDtypeStructs carrying their shardings: the target orbax restores into."""
    return jax.tree.map(
        lambda leaf, s: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=s),
        state_like, shardings)


def make_train_step(model, loss_fn, optimizer, state_shardings, mesh, mask_rate: float = 0.2,
                    excluded_items: np.ndarray | None = None):
    """jit-ted update: dropout, negatives and cloze masks drawn from fold_in(state.rng, step)
    (so a resumed run draws the same ones). excluded_items (bool [num_items + 1]) are kept out
    of every training softmax (cold-start items that do not exist yet at training time)."""
    exclusion_bias = None
    if excluded_items is not None:
        exclusion_bias = jnp.where(jnp.asarray(excluded_items), -1e4, 0.0)[:, None]
    def train_step(state: TrainState, batch: dict[str, jax.Array]):
        step_rng = jax.random.fold_in(state.rng, state.step)
        dropout_rng, loss_rng = jax.random.split(step_rng)

        inputs, targets = batch["inputs"], batch["targets"]
        if not model.causal:  # bidirectional: masked-item objective instead of next item
            loss_rng, mask_rng = jax.random.split(loss_rng)
            inputs, targets = cloze_batch(inputs, targets, mask_rng,
                                          mask_token(model.num_items), mask_rate)

        def objective(params):
            users, items = model.apply({"params": params}, inputs, deterministic=False,
                                       rngs={"dropout": dropout_rng})
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
    return jax.jit(train_step, donate_argnums=0,
                   in_shardings=(state_shardings, {"inputs": batch_sharding,
                                                   "targets": batch_sharding}),
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


# ----------------------------------------------------------------------------------------------
# The whole run.
# ----------------------------------------------------------------------------------------------
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
    """Trains, keeps the best epoch by validation NDCG@10, reports test there. Returns the report."""
    started = time.perf_counter()
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    is_chief = jax.process_index() == 0
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
    logging.info("devices: %s", jax.devices())

    # Input.
    dataset = load_dataset(config.data)
    split, cold_items = split_with_cold_start(dataset, config)
    batches = NextItemBatches(split.train, config.model.max_len, config.train.batch_size,
                              config.seed, config.train.bucket_lengths,
                              jax.process_index(), jax.process_count())
    steps_per_epoch = batches.num_batches()
    total_steps = steps_per_epoch * config.train.num_epochs
    logging.info("%s: %d users, %d items, %d events; %d training sequences, %d steps/epoch",
                 dataset.name, dataset.num_users, dataset.num_items, dataset.num_events,
                 batches.num_sequences, steps_per_epoch)

    # Mesh, model, optimizer, sharded state.
    mesh = sharding.make_mesh(config.mesh.model_parallelism)
    text_vectors = item_text_vectors_for(config, dataset, workdir)
    model = build_model(config.model, dataset.num_items, text_vectors)
    optimizer = make_optimizer(config.optimizer, total_steps)
    loss_fn = make_loss(config.loss, jnp.asarray(
        item_log_probability(split.train.items, dataset.num_items)))
    example = np.zeros((config.train.batch_size, config.model.max_len), np.int32)
    state, state_shardings = create_train_state(model, optimizer, config, mesh, example)
    train_step = make_train_step(model, loss_fn, optimizer, state_shardings, mesh,
                                 config.model.get("mask_rate", 0.2), cold_items)
    abstract_state = sharded_abstract_state(state, state_shardings)

    # Checkpoints: resume when the workdir has one.
    checkpoints = Checkpoints(workdir, keep=config.train.checkpoints_to_keep)
    progress = {"next_epoch": 0, "best_epoch": -1, "best_metric": -math.inf, "history": [],
                "train_seconds": 0.0, "wall_seconds": 0.0}
    restored = checkpoints.restore_latest(abstract_state)
    if restored is not None:
        state, progress = restored
        logging.info("resumed from epoch %d", progress["next_epoch"] - 1)

    writer = MetricWriter(workdir, enabled=is_chief)
    selection_metric = config.train.selection_metric
    epochs_without_gain = evaluations_since_best(progress)

    # Loop.
    for epoch in range(progress["next_epoch"], config.train.num_epochs):
        if epochs_without_gain >= config.train.early_stopping_patience:
            logging.info("early stop: no validation gain for %d evaluations", epochs_without_gain)
            break
        budget_minutes = config.train.get("max_train_minutes", 0)
        # The budget counts wall time of training, validation and checkpointing together.
        if budget_minutes and progress.get("wall_seconds", 0.0) >= 60 * budget_minutes:
            logging.info("stop: time budget of %.0f min spent", budget_minutes)
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
                if (index + 1) % config.train.log_every_steps == 0 or index + 1 == steps_per_epoch:
                    recent = float(np.mean(jax.device_get(losses[-config.train.log_every_steps:])))
                    if not math.isfinite(recent):
                        raise NonFiniteLossError(
                            f"loss became {recent} at epoch {epoch}, step {int(state.step)}; the "
                            f"last good checkpoint in {checkpoints.root} is untouched. Lower "
                            "optimizer.learning_rate or check the data.")
                    rate = sequences / (time.perf_counter() - epoch_start)
                    bar.set_postfix(loss=f"{recent:.4f}", seq_per_s=f"{rate:.0f}")
                    writer.write(int(state.step), {"train/loss": recent,
                                                   "train/sequences_per_second": rate})
        epoch_seconds = time.perf_counter() - epoch_start
        progress["train_seconds"] += epoch_seconds
        record = {"epoch": epoch, "loss": float(np.mean(jax.device_get(losses))),
                  "seconds": epoch_seconds}

        is_last = epoch + 1 == config.train.num_epochs
        is_best = False
        if (epoch + 1) % config.train.eval_every_epochs == 0 or is_last:
            metrics, _ = evaluate_model(model, state.params, split.validation, config.eval,
                                        config.train.bucket_lengths, mesh)
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
            logging.info("epoch %d: loss %.4f, validation %s %.4f (best %.4f at epoch %d), %.1fs",
                         epoch, record["loss"], selection_metric, metrics[selection_metric],
                         progress["best_metric"], progress["best_epoch"], epoch_seconds)
        progress["history"].append(record)
        progress["next_epoch"] = epoch + 1
        progress["wall_seconds"] = progress.get("wall_seconds", 0.0) + (
            time.perf_counter() - epoch_start)
        checkpoints.save(epoch, state, progress, is_best)

    # Final report at the best validation epoch.
    restored_best = checkpoints.restore_best(abstract_state)
    best_state = restored_best[0] if restored_best is not None else state
    report = final_report(config, model, best_state.params, split, dataset, progress, workdir,
                          mesh, started, cold_items, text_vectors)
    writer.close()
    checkpoints.close()
    return report


def split_with_cold_start(dataset, config):
    """(split, items excluded from training or None): leave-one-out / temporal as configured,
    with config.data.cold_start_share of the items held out when it is > 0."""
    split = split_dataset(dataset, config.data)
    share = config.data.get("cold_start_share", 0.0)
    if not share:
        return split, None
    cold = cold_start_split(split, share, config.data.get("cold_start_seed", config.seed))
    return cold.split, cold.cold_items


def _subset(result: RankingResult, rows: np.ndarray) -> RankingResult:
    return RankingResult(result.target_ranks[rows], result.top_items[rows],
                         result.top_scores[rows],
                         None if result.target_ties is None else result.target_ties[rows])


def final_report(config, model, params, split, dataset, progress, workdir, mesh=None,
                 started: float | None = None, cold_items: np.ndarray | None = None,
                 text_vectors: np.ndarray | None = None) -> dict:
    """Validation and test rows for the model at its best epoch, with the popularity baseline
    (and, given the item text vectors, the training-free text-similarity baseline); with
    cold-start items, test rows for warm and cold targets as well."""
    rows = []
    recent = config.eval.get("content_history", 20)
    item_tower = config.model.get("item_tower", "id")
    model_name = config.model.name + ("" if item_tower == "id" else f" ({item_tower})")
    for split_name, evaluation_set in (("validation", split.validation), ("test", split.test)):
        metrics, result = evaluate_model(model, params, evaluation_set, config.eval,
                                         config.train.bucket_lengths, mesh)
        popularity = popularity_ranking(
            split.train, evaluation_set.histories.offsets, evaluation_set.histories.items,
            evaluation_set.targets, exclude_history=config.eval.exclude_history,
            max_k=max(config.eval.ks))
        baselines = [("popularity", popularity)]
        if text_vectors is not None:
            baselines.append((f"text similarity (last {recent}, untrained)",
                              content_similarity_ranking(
                                  text_vectors, evaluation_set.histories.offsets,
                                  evaluation_set.histories.items, evaluation_set.targets,
                                  exclude_history=config.eval.exclude_history, recent=recent,
                                  max_k=max(config.eval.ks))))
        groups = [(split_name, None)]
        if cold_items is not None and split_name == "test":
            is_cold = cold_items[evaluation_set.targets]
            groups += [("test (warm targets)", ~is_cold), ("test (cold targets)", is_cold)]
        for group_name, members in groups:
            for name, ranking in ((model_name, result), *baselines):
                if members is not None:
                    if not members.any():
                        continue
                    ranking = _subset(ranking, np.flatnonzero(members))
                rows.append({"model": name, "split": group_name,
                             **ranking_metrics(ranking, ks=tuple(config.eval.ks),
                                               num_items=dataset.num_items)})
    history_rule = ("the user's own history excluded from the ranking"
                    if config.eval.exclude_history else "the user's own history kept in the ranking")
    protocol = (f"{dataset.name}: {split.protocol}, full ranking over all {dataset.num_items:,} "
                f"items, {history_rule}. Model at its best validation epoch "
                f"({progress['best_epoch']}) by {config.train.selection_metric}; training "
                f"{progress.get('wall_seconds', 0.0) / 60:.1f} min wall time over "
                f"{len(progress['history'])} epochs (of which "
                f"{progress['train_seconds'] / 60:.1f} min in training steps).")
    report = {"rows": rows, "protocol": protocol, "best_epoch": progress["best_epoch"],
              "train_seconds": progress["train_seconds"],
              "wall_seconds": progress.get("wall_seconds", 0.0),
              "epochs_run": len(progress["history"]),
              "history": progress["history"]}
    if jax.process_index() == 0:
        write_report(rows, workdir, title=f"{config.model.name} on {dataset.name}",
                     protocol_note=protocol, command=config.get("command", ""))
        (workdir / "history.json").write_text(json.dumps(progress["history"], indent=1))
        summary = {key: report[key] for key in ("best_epoch", "train_seconds", "wall_seconds",
                                                "epochs_run")}
        summary.update(
            invocation_seconds=(time.perf_counter() - started) if started is not None else None,
            devices=[str(device) for device in jax.devices()], jax_version=jax.__version__,
            command=config.get("command", ""))
        (workdir / "run_summary.json").write_text(json.dumps(summary, indent=1))
    return report


def restore_best_params(config: ml_collections.ConfigDict, workdir: str | pathlib.Path,
                        dataset):
    """(model, parameters at the best validation epoch, mesh) of a finished run in `workdir`."""
    mesh = sharding.make_mesh(config.mesh.model_parallelism)
    model = build_model(config.model, dataset.num_items,
                        item_text_vectors_for(config, dataset, workdir))
    # Optimizer state shapes do not depend on the schedule length.
    optimizer = make_optimizer(config.optimizer, total_steps=1)
    example = np.zeros((config.train.batch_size, config.model.max_len), np.int32)
    # Shapes only: the parameters come from the checkpoint, nothing is initialised.
    _, abstract, shardings = _state_initializer(model, optimizer, config, mesh, example)
    abstract_state = sharded_abstract_state(abstract, shardings)
    checkpoints = Checkpoints(workdir, keep=config.train.checkpoints_to_keep)
    try:
        restored = checkpoints.restore_best(abstract_state)
    finally:
        checkpoints.close()
    if restored is None:
        raise FileNotFoundError(f"{pathlib.Path(workdir) / 'checkpoints' / 'best'} holds no "
                                "checkpoint: train first (python -m recall_jax.main ...)")
    return model, restored[0].params, mesh
