"""Entry point: python -m recall_jax.compare --config experiments/configs/compare_recall_ml1m.py
--workdir <dir>. Trains the model there (or loads `config.compare.model_workdir`), then compares
every recall strategy on the test users and writes <workdir>/comparison/."""

from __future__ import annotations

import pathlib
import sys

from recall_jax.platform import split_cpu_into_core_devices

split_cpu_into_core_devices()

import jax  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from recall_jax.data.registry import load_dataset  # noqa: E402
from recall_jax.evaluation.model_evaluation import encode_users_and_items  # noqa: E402
from recall_jax.retrieval.compare import Inputs, exclusions_without_targets, run_comparison  # noqa: E402
from recall_jax.train import trainer  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run folder: the model (unless compare.model_workdir) and "
                    "comparison/ go here.")
config_flags.DEFINE_config_file("config", None, "experiments/configs/compare_*.py",
                                lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def compare(config, workdir: str | pathlib.Path) -> list[dict]:
    workdir = pathlib.Path(workdir)
    model_workdir = pathlib.Path(config.compare.model_workdir or workdir)
    if not any((model_workdir / "checkpoints" / "best").glob("[0-9]*")):
        if config.compare.model_workdir:
            raise FileNotFoundError(f"compare.model_workdir={model_workdir} holds no trained "
                                    "model (checkpoints/best is empty)")
        logging.info("no trained model in %s: training it first", model_workdir)
        trainer.train_and_evaluate(config, model_workdir)
    dataset = load_dataset(config.data)
    split, _ = trainer.split_with_cold_start(dataset, config)
    model, params, mesh = trainer.restore_best_params(config, model_workdir, dataset)
    users, items = encode_users_and_items(model, params, split.test, config.eval.batch_size,
                                          config.train.bucket_lengths, mesh)
    tuning_users, _ = encode_users_and_items(model, params, split.validation,
                                             config.eval.batch_size,
                                             config.train.bucket_lengths, mesh)
    histories = split.test.histories
    exclude_offsets = exclude_items = tuning_offsets = tuning_items = None
    num_tuning = min(config.compare.tuning_users, len(tuning_users))
    if config.eval.exclude_history:
        exclude_offsets, exclude_items = exclusions_without_targets(
            histories.offsets, histories.items, split.test.targets)
        validation = split.validation
        tuning_offsets, tuning_items = exclusions_without_targets(
            validation.histories.offsets[:num_tuning + 1],
            validation.histories.items[:validation.histories.offsets[num_tuning]],
            validation.targets[:num_tuning])
    inputs = Inputs(users, items, split.test.targets, exclude_offsets, exclude_items,
                    histories.offsets, histories.items, split.train.offsets, split.train.items,
                    tuning_users[:num_tuning], tuning_offsets, tuning_items)
    history_rule = ("the user's own history excluded" if config.eval.exclude_history
                    else "the user's own history kept")
    protocol = (f"{dataset.name}: {split.protocol}, test users ({len(users):,}), all "
                f"{dataset.num_items:,} items, {history_rule}; model from {model_workdir} "
                f"(best validation epoch); ScaNN and tau tuned on "
                f"{len(inputs.tuning_user_vectors):,} validation users.")
    return run_comparison(inputs, config.compare, workdir / "comparison",
                          f"Recall strategies on {dataset.name}", protocol, config.command, mesh)


def main(argv):
    del argv
    config = FLAGS.config
    with config.unlocked():
        config.command = " ".join(["python -m recall_jax.compare"] + sys.argv[1:])
    compare(config, FLAGS.workdir)
    if jax.process_index() == 0:
        print((pathlib.Path(FLAGS.workdir) / "comparison" / "comparison.md").read_text())


if __name__ == "__main__":
    app.run(main)
