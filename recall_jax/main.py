"""Entry point: python -m recall_jax.main --config experiments/configs/<name>.py --workdir <dir>."""

from __future__ import annotations

import logging as python_logging
import sys

import jax
from absl import flags, logging
from ml_collections import config_flags

from recall_jax import distributed, paths
from recall_jax.cli import command_line, flag_config, run_entry_point
from recall_jax.platform import split_cpu_into_core_devices
from recall_jax.train import seeds, trainer

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and the results table go.")
flags.DEFINE_string("seeds", None, "Comma-separated seeds, e.g. 0,1,2: train the config once per "
                    "seed in <workdir>/seed_<seed> and write the mean and standard deviation "
                    "across seeds to <workdir>/seeds.md.")
config_flags.DEFINE_config_file("config", None, "An experiments/configs/*.py file.",
                                lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    distributed.initialize()  # a no-op for one process
    # orbax logs every save and restore at INFO; keep the run's own log readable.
    python_logging.getLogger("absl").addFilter(
        lambda record: not record.pathname.split("/")[-3:-2] == ["orbax"]
        and "orbax" not in record.pathname)
    config = flag_config()
    logging.info("JAX %s on %s (%d processes)", jax.__version__, jax.default_backend(),
                 jax.process_count())
    with config.unlocked():
        config.command = command_line("recall_jax.main", sys.argv[1:])
    workdir = paths.as_path(FLAGS.workdir)
    if FLAGS.seeds is None:
        trainer.train_and_evaluate(config, workdir)
        table = workdir / "results.md"
    else:
        seeds.train_seeds(config, workdir, seeds.parse_seeds(FLAGS.seeds))
        table = workdir / "seeds.md"
    if jax.process_index() == 0:
        print(table.read_text())


def run() -> None:
    """Console-script entry point (`recall-jax --config ... --workdir ...`)."""
    # Before JAX creates its CPU backend (importing jax does not); never at import time, so
    # importing this module leaves the process's device count alone.
    split_cpu_into_core_devices()
    run_entry_point(main)


if __name__ == "__main__":
    run()
