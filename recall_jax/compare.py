"""Entry point: python -m recall_jax.compare --config experiments/configs/compare_recall_ml1m.py
--workdir <dir>. Loads (or trains) a dot-product model and a cosine model of the same config,
then compares every recall strategy on the test users and writes <workdir>/comparison/."""

from __future__ import annotations

import contextlib
import json
import sys

import jax
import numpy as np
from absl import flags, logging
from etils import epath
from ml_collections import config_flags

from recall_jax import paths
from recall_jax.cli import command_line, flag_config, run_entry_point
from recall_jax.platform import split_cpu_into_core_devices
from recall_jax.data.registry import load_dataset
from recall_jax.errors import RunFolderError
from recall_jax.evaluation.bootstrap import Bootstrap
from recall_jax.evaluation.model_evaluation import (encode_users_and_items,
                                                    evaluation_exclusions)
from recall_jax.evaluation.protocol import describe_policy, targets_in_history
from recall_jax.retrieval.comparison import EvaluatedUsers, ModelVectors, run_comparison
from recall_jax.train import trainer
from recall_jax.train.config_validation import validate_config
from recall_jax.train.checkpoints import config_differences, flat_config
from recall_jax.train.workdir import WorkdirLock, check_workdir

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run folder: comparison/ goes here, and the models too "
                    "unless compare.dot_model_workdir / compare.cosine_model_workdir name them.")
config_flags.DEFINE_config_file("config", None, "experiments/configs/compare_*.py",
                                lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])

# Model kinds of the comparison: model.normalize of each.
MODEL_KINDS = {"dot": False, "cosine": True}


def _comparable(data_config) -> str:
    return json.dumps(json.loads(data_config.to_json_best_effort()), sort_keys=True)


def _model_folder(config, workdir: epath.Path, kind: str) -> epath.Path:
    """The finished run of the model of this kind: the configured one, or one trained here."""
    configured = config.compare[f"{kind}_model_workdir"]
    folder = paths.as_path(configured) if configured else workdir / f"{kind}_model"
    if not any((folder / "checkpoints" / "best").glob("[0-9]*")):
        if configured:
            raise RunFolderError(f"config.compare.{kind}_model_workdir={folder} holds no "
                                 "trained model (checkpoints/best is empty or missing) ; give "
                                 "the --workdir of a finished python -m recall_jax.main run")
        logging.info("no trained %s model in %s: training it first", kind, folder)
        kind_config = config.copy_and_resolve_references()
        with kind_config.unlocked():
            kind_config.model.normalize = MODEL_KINDS[kind]
        trainer.train_and_evaluate(kind_config, folder)
    return folder


def _load_model(config, folder: epath.Path, kind: str, dataset):
    """(model, best parameters, mesh) from a run folder, checked against the comparison."""
    run_config = trainer.load_run_config(folder)
    if _comparable(run_config.data) != _comparable(config.data):
        differing = ", ".join(config_differences(flat_config({"data": run_config.data.to_dict()}),
                                                 flat_config({"data": config.data.to_dict()})))
        raise RunFolderError(f"{folder}/config.json was trained on other data than this "
                             f"comparison uses ({differing}) ; give a run of the same data "
                             "config")
    if bool(run_config.model.normalize) != MODEL_KINDS[kind]:
        raise RunFolderError(f"{folder} holds a model with model.normalize="
                             f"{run_config.model.normalize}, not a {kind} model ; point "
                             f"config.compare.{kind}_model_workdir at a {kind} run")
    return trainer.restore_best_params(run_config, folder, dataset), run_config


def compare(config, workdir: epath.PathLike) -> list[dict]:
    validate_config(config, jax.device_count())
    workdir = check_workdir(workdir)
    dataset = load_dataset(config.data)
    with WorkdirLock(workdir) if jax.process_index() == 0 else contextlib.nullcontext():
        return _compare_in_workdir(config, workdir, dataset)


def _compare_in_workdir(config, workdir: epath.Path, dataset) -> list[dict]:
    compare_config = config.compare
    split, _ = trainer.split_with_cold_start(dataset, config)
    num_tuning = min(compare_config.tuning_users, split.validation.num_users)
    tuning_set = split.validation
    models, described = [], []
    for kind in compare_config.models:
        folder = _model_folder(config, workdir, kind)
        (model, params, mesh), run_config = _load_model(config, folder, kind, dataset)
        users, items = encode_users_and_items(model, params, split.test, config.eval.batch_size,
                                              run_config.train.bucket_lengths, mesh)
        tuning_users, _ = encode_users_and_items(model, params, tuning_set,
                                                 config.eval.batch_size,
                                                 run_config.train.bucket_lengths, mesh)
        models.append(ModelVectors(kind, users, items, tuning_users[:num_tuning],
                                   MODEL_KINDS[kind]))
        described.append(f"{kind} ({folder}, best validation epoch)")
    tuning_exclusions = evaluation_exclusions(tuning_set, config.eval.seen_items)
    histories = split.test.histories
    users = EvaluatedUsers(
        targets=split.test.targets,
        exclusions=evaluation_exclusions(split.test, config.eval.seen_items),
        history_offsets=histories.offsets, history_items=histories.items,
        train_offsets=split.train.offsets, train_items=split.train.items,
        tuning_exclusions=(None if tuning_exclusions is None
                           else tuning_exclusions.rows(slice(0, num_tuning))))
    repeated = targets_in_history(histories.offsets, histories.items, split.test.targets)
    protocol = (f"{dataset.name}: {split.protocol}, test users ({users.num_users:,}), all "
                f"{dataset.num_items:,} items, {describe_policy(config.eval.seen_items)}; "
                f"{np.mean(repeated):.1%} of test targets repeat a history item. Models: "
                f"{'; '.join(described)}. ScaNN and tau tuned on {num_tuning:,} validation "
                "users.")
    bootstrap = Bootstrap.draw(users.num_users, config.eval.bootstrap_resamples,
                               config.eval.bootstrap_seed)
    return run_comparison(models, users, compare_config, bootstrap, workdir / "comparison",
                          f"Recall strategies on {dataset.name}", protocol, config.command,
                          mesh)


def main(argv):
    del argv
    config = flag_config()
    with config.unlocked():
        config.command = command_line("recall_jax.compare", sys.argv[1:])
    compare(config, FLAGS.workdir)
    if jax.process_index() == 0:
        print((paths.as_path(FLAGS.workdir) / "comparison" / "comparison.md").read_text())


def run() -> None:
    """Entry point: the CPU split into devices before JAX creates its backend, then main."""
    split_cpu_into_core_devices()
    run_entry_point(main)


if __name__ == "__main__":
    run()
